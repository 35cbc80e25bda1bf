/*
 * group_api.c — the coordinator's lookup side: FindCoordinator (v0-v4, the
 * batched v4 form included: this node for every key), ListGroups (v0-v5,
 * with the states and types filters),
 * DescribeGroups, DeleteGroups, OffsetDelete, and the group table itself.
 *
 * Groups live in a singly linked list, looked up linearly: this broker is
 * meant for a handful of groups. At most KB_MAX_GROUPS exist; a JoinGroup
 * or OffsetCommit for one more gets COORDINATOR_NOT_AVAILABLE.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgroup.h"

char *kb_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

const char *kb_group_state_name(enum kb_group_state s)
{
    switch (s) {
    case KB_G_EMPTY: return "Empty";
    case KB_G_PREPARING: return "PreparingRebalance";
    case KB_G_COMPLETING: return "CompletingRebalance";
    default: return "Stable";
    }
}

struct kb_groups *kb_groups(struct kb_broker *b)
{
    if (!b->groups)
        b->groups = calloc(1, sizeof *b->groups);
    return b->groups;
}

struct kb_group *kb_group_find(struct kb_broker *b, const char *id, size_t len, int create)
{
    struct kb_groups *gs = kb_groups(b);
    if (!gs)
        return NULL;
    for (struct kb_group *g = gs->head; g; g = g->next)
        if (strlen(g->id) == len && memcmp(g->id, id, len) == 0)
            return g;
    if (!create || gs->ngroups >= KB_MAX_GROUPS || memchr(id, '\0', len))
        return NULL;
    struct kb_group *g = calloc(1, sizeof *g);
    if (!g || !(g->id = kb_strndup(id, len))) {
        free(g);
        return NULL;
    }
    g->next = gs->head;
    gs->head = g;
    gs->ngroups++;
    return g;
}

void kb_group_free(struct kb_broker *b, struct kb_group *g)
{
    struct kb_groups *gs = b->groups;
    for (struct kb_group **pp = &gs->head; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            gs->ngroups--;
            break;
        }
    for (size_t i = 0; i < g->nmembers; i++) {
        struct kb_member *m = g->members[i];
        if (m->join.resp)
            m->join.resp->wait = NULL;
        if (m->sync.resp)
            m->sync.resp->wait = NULL;
        kb_member_free(m);
    }
    free(g->members);
    kb_cg_free(g->cg);
    for (size_t i = 0; i < g->noffs; i++) {
        free(g->offs[i].topic);
        free(g->offs[i].metadata);
    }
    free(g->offs);
    free(g->id);
    free(g->protocol_type);
    free(g->protocol);
    free(g->leader);
    free(g);
}

void kb_groups_free_all(struct kb_broker *b)
{
    if (!b->groups)
        return;
    while (b->groups->head)
        kb_group_free(b, b->groups->head);
    free(b->groups);
    b->groups = NULL;
}

/* ------------------------------------------------------------ FindCoordinator */

static void put_node(struct kb_broker *b, kb_wbuf_t *w, int flex)
{
    kb_put_i32(w, 1); /* node id: this broker */
    kb_put_string(w, flex, kb_adv_host(&b->cfg), strlen(kb_adv_host(&b->cfg)));
    kb_put_i32(w, kb_adv_port(&b->cfg));
}

static int find_coordinator(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    static const char no_txn[] = "unknown coordinator key type";
    kb_wbuf_t *w = &q->resp->buf;
    if (v < 4) {
        const char *key;
        int16_t len;
        kb_rd_string(r, flex, &key, &len);
        int8_t type = v >= 1 ? kb_rd_i8(r) : 0;
        kb_rd_tags_if(r, flex);
        if (r->err)
            return -1;
        int16_t err = type == 0 || type == 1 ? KB_ERR_NONE : KB_ERR_INVALID_REQUEST;
        if (v >= 1)
            kb_put_i32(w, 0);
        kb_put_i16(w, err);
        if (v >= 1)
            kb_put_nstring(w, flex, err ? no_txn : NULL, err ? strlen(no_txn) : 0);
        put_node(b, w, flex);
        kb_put_tags(w, flex);
        return 0;
    }
    int8_t type = kb_rd_i8(r);
    int32_t n = kb_rd_array(r, flex, 1);
    kb_rd_t keys_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *key;
        int16_t len;
        kb_rd_string(r, flex, &key, &len);
    }
    kb_rd_tags_if(r, flex);
    if (r->err || n < 0)
        return -1;
    int16_t err = type == 0 || type == 1 ? KB_ERR_NONE : KB_ERR_INVALID_REQUEST;
    kb_put_i32(w, 0);
    kb_put_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const char *key;
        int16_t len;
        kb_rd_string(&keys_at, flex, &key, &len);
        kb_put_string(w, flex, key ? key : "", len > 0 ? (size_t)len : 0);
        put_node(b, w, flex);
        kb_put_i16(w, err);
        kb_put_nstring(w, flex, err ? no_txn : NULL, err ? strlen(no_txn) : 0);
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    return 0;
}

/* ------------------------------------------------------------ List, Describe, Delete */

/* Is name (n bytes) in the filter list at *fr (count nf; empty: any)?
 * Case-insensitive, as Kafka compares states and types. */
static int in_filter(kb_rd_t fr, int32_t nf, const char *name)
{
    if (nf <= 0)
        return 1;
    for (int32_t i = 0; i < nf; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(&fr, 1, &s, &sl);
        if (sl >= 0 && strlen(name) == (size_t)sl && strncasecmp(s, name, (size_t)sl) == 0)
            return 1;
    }
    return 0;
}

static int32_t skip_strings(kb_rd_t *r, int flex)
{
    int32_t n = kb_rd_array(r, flex, 1);
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(r, flex, &s, &sl);
    }
    return n;
}

/* v4 adds a states filter and each group's state, v5 a types filter and
 * each group's type: "consumer" for a consumer-protocol (KIP-848) group,
 * "classic" otherwise. */
static int list_groups(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    kb_rd_t states_at = *r, types_at;
    int32_t nstates = v >= 4 ? skip_strings(r, flex) : 0;
    types_at = *r;
    int32_t ntypes = v >= 5 ? skip_strings(r, flex) : 0;
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    (void)kb_rd_array(&states_at, flex, 1);
    (void)kb_rd_array(&types_at, flex, 1);
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 1)
        kb_put_i32(w, 0);
    kb_put_i16(w, KB_ERR_NONE);
    int32_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            kb_put_array(w, flex, n);
        for (struct kb_group *g = b->groups->head; g; g = g->next) {
            int consumer = g->cg && !g->nmembers;
            const char *state = consumer ? kb_cg_state_name(g->cg) : kb_group_state_name(g->state);
            const char *type = consumer ? "consumer" : "classic";
            if (!in_filter(states_at, nstates, state) || !in_filter(types_at, ntypes, type))
                continue;
            if (!pass) {
                n++;
                continue;
            }
            kb_put_string(w, flex, g->id, strlen(g->id));
            const char *pt = g->protocol_type ? g->protocol_type : "consumer";
            kb_put_string(w, flex, pt, strlen(pt));
            if (v >= 4)
                kb_put_string(w, flex, state, strlen(state));
            if (v >= 5)
                kb_put_string(w, flex, type, strlen(type));
            kb_put_tags(w, flex);
        }
    }
    kb_put_tags(w, flex);
    return 0;
}

static int describe_groups(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    int32_t n = kb_rd_count(r, 2);
    kb_rd_t names_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
    }
    if (v >= 3)
        (void)kb_rd_i8(r); /* include_authorized_operations */
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 1)
        kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(&names_at, &s, &sl);
        struct kb_group *g = sl > 0 ? kb_group_find(b, s, (size_t)sl, 0) : NULL;
        kb_put_i16(w, sl > 0 ? KB_ERR_NONE : KB_ERR_INVALID_GROUP_ID);
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        const char *state = g ? kb_group_state_name(g->state) : "Dead";
        kb_put_str(w, state, strlen(state));
        const char *pt = g && g->protocol_type ? g->protocol_type : "";
        kb_put_str(w, pt, strlen(pt));
        const char *pr = g && g->protocol && g->state == KB_G_STABLE ? g->protocol : "";
        kb_put_str(w, pr, strlen(pr));
        int32_t nm = 0;
        for (size_t j = 0; g && j < g->nmembers; j++)
            nm += !g->members[j]->pending;
        kb_put_i32(w, nm);
        for (size_t j = 0; g && j < g->nmembers; j++) {
            struct kb_member *m = g->members[j];
            if (m->pending)
                continue;
            kb_put_str(w, m->id, strlen(m->id));
            if (v >= 4) {
                if (m->instance_id)
                    kb_put_str(w, m->instance_id, strlen(m->instance_id));
                else
                    kb_put_i16(w, -1);
            }
            kb_put_str(w, m->client_id, strlen(m->client_id));
            kb_put_str(w, m->client_host, strlen(m->client_host));
            const struct kb_proto *p = NULL;
            for (int32_t k = 0; g->protocol && k < m->nprotos; k++)
                if (strcmp(m->protos[k].name, g->protocol) == 0)
                    p = &m->protos[k];
            kb_put_bytes_f(w, 0, p ? p->meta : (const uint8_t *)"", p ? (size_t)p->len : 0);
            kb_put_bytes_f(w, 0, m->assignment ? m->assignment : (const uint8_t *)"",
                           m->assignment ? (size_t)m->assignment_len : 0);
        }
        if (v >= 3)
            kb_put_i32(w, INT32_MIN); /* authorized operations: not given */
    }
    return 0;
}

static int delete_groups(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int32_t n = kb_rd_count(r, 2);
    kb_rd_t names_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
    }
    if (r->err || n < 0)
        return -1;
    kb_commit_settle(b); /* commits in flight land before the tombstones */
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(&names_at, &s, &sl);
        struct kb_group *g = sl > 0 ? kb_group_find(b, s, (size_t)sl, 0) : NULL;
        int16_t err = KB_ERR_NONE;
        if (sl <= 0)
            err = KB_ERR_INVALID_GROUP_ID;
        else if (!g)
            err = KB_ERR_GROUP_ID_NOT_FOUND;
        else if (g->nmembers || kb_cg_busy(g))
            err = KB_ERR_NON_EMPTY_GROUP;
        else if (kb_offsets_delete_all(b, g))
            err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        kb_put_i16(w, err);
        if (!err)
            kb_group_free(b, g);
    }
    return 0;
}

/* ------------------------------------------------------------ OffsetDelete */

/* Is the topic in a live member's consumer-protocol subscription? */
static int subscribed(const struct kb_group *g, const char *t, int16_t tl)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct kb_member *m = g->members[i];
        for (int32_t p = 0; p < m->nprotos; p++) {
            if (g->protocol && strcmp(m->protos[p].name, g->protocol) != 0)
                continue;
            kb_rd_t r;
            kb_rd_init(&r, m->protos[p].meta, (size_t)m->protos[p].len);
            (void)kb_rd_i16(&r); /* ConsumerProtocolSubscription version */
            int32_t n = kb_rd_count(&r, 2);
            for (int32_t k = 0; k < n && !r.err; k++) {
                const char *s;
                int16_t sl;
                kb_rd_str(&r, &s, &sl);
                if (!r.err && sl == tl && memcmp(s, t, (size_t)tl) == 0)
                    return 1;
            }
        }
    }
    return 0;
}

int kb_offset_delete(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const char *gid;
    int16_t glen;
    kb_rd_str(r, &gid, &glen);
    int32_t ntopics = kb_rd_count(r, 6);
    kb_rd_t topics_at = *r;
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        const char *t;
        int16_t tl;
        kb_rd_str(r, &t, &tl);
        int32_t n = kb_rd_count(r, 4);
        for (int32_t j = 0; j < n && !r->err; j++)
            (void)kb_rd_i32(r);
    }
    if (r->err || ntopics < 0)
        return -1;
    kb_commit_settle(b); /* commits in flight land before the tombstones */
    struct kb_group *g = glen > 0 ? kb_group_find(b, gid, (size_t)glen, 0) : NULL;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i16(w, glen <= 0 ? KB_ERR_INVALID_GROUP_ID : g ? KB_ERR_NONE : KB_ERR_GROUP_ID_NOT_FOUND);
    kb_put_i32(w, 0);
    kb_put_i32(w, g ? ntopics : 0);
    for (int32_t i = 0; g && i < ntopics; i++) {
        const char *t;
        int16_t tl;
        kb_rd_str(&topics_at, &t, &tl);
        int32_t n = kb_rd_count(&topics_at, 4);
        int busy = tl > 0 && subscribed(g, t, tl);
        kb_put_str(w, t ? t : "", tl > 0 ? (size_t)tl : 0);
        kb_put_i32(w, n);
        for (int32_t j = 0; j < n; j++) {
            int32_t p = kb_rd_i32(&topics_at);
            struct kb_offset *o = tl > 0 ? kb_offset_find(g, t, (size_t)tl, p) : NULL;
            int16_t err = busy ? KB_ERR_GROUP_SUBSCRIBED_TO_TOPIC : KB_ERR_NONE;
            if (!err && o) {
                if (kb_offsets_tombstones(b, g, &o, 1))
                    err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
                else
                    kb_offset_drop(g, o);
            }
            kb_put_i32(w, p);
            kb_put_i16(w, err);
        }
    }
    return 0;
}

int kb_group_api_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    switch (q->api_key) {
    case KB_API_FIND_COORDINATOR: return find_coordinator(b, q, r);
    case KB_API_LIST_GROUPS: return list_groups(b, q, r);
    case KB_API_DESCRIBE_GROUPS: return describe_groups(b, q, r);
    case KB_API_DELETE_GROUPS: return delete_groups(b, q, r);
    default: return -1;
    }
}
