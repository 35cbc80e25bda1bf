/*
 * cgroup_api.c — the wire side of consumer-protocol groups (KIP-848):
 *   ConsumerGroupHeartbeat v0-v1 (v1: the client makes its member id,
 *     KIP-1082, and may subscribe by regex),
 *   ConsumerGroupDescribe v0,
 *   the member checks of OffsetCommit v9 and OffsetFetch v9.
 * Assignments travel by topic id (topic_ids.c). The state machine is
 * cgroup.c's.
 *
 * A group id held by a classic group with members is refused with
 * GROUP_ID_NOT_FOUND (Kafka 4.x with group.consumer.migration.policy
 * disabled: no online upgrade); an empty classic group (offsets only)
 * becomes a consumer group, as in Kafka. JoinGroup on a consumer group
 * with members gets INCONSISTENT_GROUP_PROTOCOL (group.c).
 * A topic regex is matched in full (POSIX extended syntax, which agrees
 * with Kafka's RE2J on simple patterns) against the existing topics, the
 * internal ones (leading '_') excepted; one that does not compile gets
 * INVALID_REGULAR_EXPRESSION.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

static char *dup_nstr(const char *s, int16_t n)
{
    return n < 0 ? NULL : kb_strndup(s ? s : "", (size_t)n);
}

static void chb_free(struct kb_chb *h)
{
    free(h->member_id);
    free(h->instance_id);
    free(h->rack_id);
    free(h->regex);
    free(h->assignor);
    for (size_t i = 0; i < h->nsubs; i++)
        free(h->subs[i]);
    free(h->subs);
    free(h->owned);
    for (size_t i = 0; h->owned_names && i < h->nowned; i++)
        free(h->owned_names[i]);
    free(h->owned_names);
    free(h->client_host);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse a heartbeat into h. Returns 0, -1 (malformed: close) or -2 (out of
 * memory). Owned partitions are interned into g's topic names. */
static int parse_heartbeat(struct kb_broker *b, kb_rd_t *r, int16_t v, struct kb_chb *h,
                           const char **gid, int16_t *glen)
{
    const char *s;
    int16_t n;
    int oom = 0;
    kb_rd_string(r, 1, gid, glen);
    kb_rd_string(r, 1, &s, &n);
    oom |= !(h->member_id = dup_nstr(s, n < 0 ? 0 : n));
    h->epoch = kb_rd_i32(r);
    kb_rd_string(r, 1, &s, &n);
    oom |= n >= 0 && !(h->instance_id = dup_nstr(s, n));
    kb_rd_string(r, 1, &s, &n);
    oom |= n >= 0 && !(h->rack_id = dup_nstr(s, n));
    h->rebalance_ms = kb_rd_i32(r);
    int32_t ns = kb_rd_array(r, 1, 1);
    if (ns >= 0 && !r->err) {
        h->subs_given = 1;
        h->subs = calloc((size_t)ns + 1, sizeof *h->subs);
        oom |= !h->subs;
        for (int32_t i = 0; i < ns && !r->err && h->subs; i++) {
            kb_rd_string(r, 1, &s, &n);
            if (n < 0)
                r->err = 1;
            else if (!(h->subs[h->nsubs++] = dup_nstr(s, n)))
                oom = 1;
        }
        if (h->subs && !r->err)
            qsort(h->subs, h->nsubs, sizeof *h->subs, cmp_str);
    }
    if (v >= 1) {
        kb_rd_string(r, 1, &s, &n);
        oom |= n >= 0 && !(h->regex = dup_nstr(s, n));
    }
    kb_rd_string(r, 1, &s, &n);
    oom |= n >= 0 && !(h->assignor = dup_nstr(s, n));
    int32_t nt = kb_rd_array(r, 1, 18);
    if (nt >= 0 && !r->err) {
        h->owned_given = 1;
        size_t cap = (r->len - r->pos) / 4 + 1;
        h->owned = calloc(cap, sizeof *h->owned);
        h->owned_names = calloc(cap, sizeof *h->owned_names);
        oom |= !h->owned || !h->owned_names;
        for (int32_t i = 0; i < nt && !r->err && !oom; i++) {
            uint8_t id[16];
            for (int k = 0; k < 16; k++)
                id[k] = (uint8_t)kb_rd_i8(r);
            char name[256];
            int known = !r->err && kb_topic_by_id(b, id, name) == 0;
            int32_t np = kb_rd_array(r, 1, 4);
            for (int32_t j = 0; j < np && !r->err; j++) {
                int32_t p = kb_rd_i32(r);
                if (known && h->nowned < cap) { /* t: resolve_owned */
                    h->owned[h->nowned].p = p;
                    h->owned[h->nowned].t = -1;
                    h->owned_names[h->nowned] = kb_strndup(name, strlen(name));
                    oom |= !h->owned_names[h->nowned];
                    h->nowned++;
                }
            }
            kb_rd_tags(r);
        }
    }
    kb_rd_tags(r);
    if (r->err)
        return -1;
    return oom ? -2 : 0;
}

/* Intern the owned topics' names in cg (the owned list then uses t). */
static int resolve_owned(struct kb_cgroup *cg, struct kb_chb *h)
{
    int rc = 0;
    for (size_t i = 0; i < h->nowned; i++) {
        int32_t t = h->owned_names[i] ? kb_cg_name(cg, h->owned_names[i]) : -1;
        if (t < 0)
            rc = -1;
        h->owned[i].t = t;
        free(h->owned_names[i]);
    }
    free(h->owned_names);
    h->owned_names = NULL;
    return rc;
}

/* Kafka's request validation (throwIfConsumerGroupHeartbeatRequestIsInvalid). */
static int16_t cg_validate(const struct kb_chb *h, int16_t v, int16_t glen)
{
    if (glen <= 0)
        return KB_ERR_INVALID_REQUEST;
    if ((v >= 1 || h->epoch > 0) && !h->member_id[0])
        return KB_ERR_INVALID_REQUEST;
    if ((h->instance_id && !h->instance_id[0]) || (h->rack_id && !h->rack_id[0]))
        return KB_ERR_INVALID_REQUEST;
    if (h->epoch < -2)
        return KB_ERR_INVALID_REQUEST;
    if (h->epoch == 0) {
        if (h->rebalance_ms < 0 || (h->owned_given && h->nowned))
            return KB_ERR_INVALID_REQUEST;
        if (!h->subs_given && !h->regex)
            return KB_ERR_INVALID_REQUEST;
    }
    if (h->regex && h->regex[0]) {
        regex_t rx;
        if (regcomp(&rx, h->regex, REG_EXTENDED | REG_NOSUB))
            return KB_ERR_INVALID_REGULAR_EXPRESSION;
        regfree(&rx);
    }
    return KB_ERR_NONE;
}

/* TopicPartitions of s by topic id; topics without an id are left out. */
static void put_tps(struct kb_broker *b, kb_wbuf_t *w, const struct kb_cgroup *cg,
                    const struct kb_tpset *s, int with_name)
{
    uint8_t id[16];
    int32_t ntopics = 0;
    for (size_t i = 0; i < s->n; i++)
        if ((i == 0 || s->v[i].t != s->v[i - 1].t) && kb_topic_id(b, cg->names[s->v[i].t], id) == 0)
            ntopics++;
    kb_put_array(w, 1, ntopics);
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && s->v[j].t == s->v[i].t)
            j++;
        const char *name = cg->names[s->v[i].t];
        if (kb_topic_id(b, name, id) == 0) {
            for (int k = 0; k < 16; k++)
                kb_put_i8(w, (int8_t)id[k]);
            if (with_name)
                kb_put_string(w, 1, name, strlen(name));
            kb_put_array(w, 1, (int32_t)(j - i));
            for (size_t k = i; k < j; k++)
                kb_put_i32(w, s->v[k].p);
            kb_put_tags(w, 1);
        }
        i = j;
    }
}

static int cg_heartbeat_req(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    struct kb_chb h = {0};
    const char *gid;
    int16_t glen;
    int rc = parse_heartbeat(b, r, v, &h, &gid, &glen);
    if (rc == -1) {
        chb_free(&h);
        return -1;
    }
    h.client_id = q->client_id;
    h.client_id_len = q->client_id_len > 0 ? (size_t)q->client_id_len : 0;
    int16_t err = rc ? KB_ERR_COORDINATOR_NOT_AVAILABLE : cg_validate(&h, v, glen);
    struct kb_group *g = NULL;
    char genid[48];
    if (!err && !h.member_id[0]) { /* v0 join: the coordinator names the member */
        snprintf(genid, sizeof genid, "kbroker-member-%llu",
                 (unsigned long long)++kb_groups(b)->next_member);
        free(h.member_id);
        if (!(h.member_id = kb_strndup(genid, strlen(genid))))
            err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (!err && !(g = kb_group_find(b, gid, (size_t)glen, h.epoch == 0)))
        err = h.epoch == 0 ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_UNKNOWN_MEMBER_ID;
    if (!err && g->nmembers)
        err = KB_ERR_GROUP_ID_NOT_FOUND; /* a classic group with members */
    if (!err && (!kb_cg_get(g) || !(h.client_host = kb_peer_host(q->conn)) ||
                 resolve_owned(g->cg, &h)))
        err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    struct kb_cmember *m = NULL;
    int changed = 0;
    if (!err)
        err = kb_cg_heartbeat(b, g, &h, &m, &changed);
    if (err)
        kb_log(b, "ConsumerGroupHeartbeat v%d (epoch %d): error %d", v, h.epoch, err);
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i16(w, err);
    kb_put_nstring(w, 1, NULL, 0);
    if (err) {
        kb_put_nstring(w, 1, NULL, 0);
        kb_put_i32(w, 0);
        kb_put_i32(w, 0);
        kb_put_i8(w, -1); /* no assignment */
    } else {
        kb_put_nstring(w, 1, h.member_id, strlen(h.member_id));
        kb_put_i32(w, m ? m->epoch : h.epoch);
        kb_put_i32(w, b->cfg.cg_heartbeat_ms);
        if (m && (h.owned_given || h.epoch == 0 || changed)) {
            kb_put_i8(w, 1);
            put_tps(b, w, g->cg, &m->assigned, 0);
            kb_put_tags(w, 1);
        } else {
            kb_put_i8(w, -1);
        }
    }
    kb_put_tags(w, 1);
    chb_free(&h);
    return 0;
}

/* ------------------------------------------------------------ describe */

static void put_member(struct kb_broker *b, kb_wbuf_t *w, const struct kb_cgroup *cg,
                       const struct kb_cmember *m)
{
    kb_put_string(w, 1, m->id, strlen(m->id));
    kb_put_nstring(w, 1, m->instance_id, m->instance_id ? strlen(m->instance_id) : 0);
    kb_put_nstring(w, 1, m->rack_id, m->rack_id ? strlen(m->rack_id) : 0);
    kb_put_i32(w, m->epoch);
    const char *cid = m->client_id ? m->client_id : "";
    const char *host = m->client_host ? m->client_host : "";
    kb_put_string(w, 1, cid, strlen(cid));
    kb_put_string(w, 1, host, strlen(host));
    kb_put_array(w, 1, (int32_t)m->nsubs);
    for (size_t i = 0; i < m->nsubs; i++)
        kb_put_string(w, 1, m->subs[i], strlen(m->subs[i]));
    kb_put_nstring(w, 1, m->regex, m->regex ? strlen(m->regex) : 0);
    put_tps(b, w, cg, &m->assigned, 1);
    kb_put_tags(w, 1);
    put_tps(b, w, cg, &m->target, 1);
    kb_put_tags(w, 1);
    kb_put_tags(w, 1);
}

static int cg_describe(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int32_t n = kb_rd_array(r, 1, 1);
    kb_rd_t names_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(r, 1, &s, &sl);
    }
    (void)kb_rd_i8(r); /* include_authorized_operations */
    kb_rd_tags(r);
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_array(w, 1, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(&names_at, 1, &s, &sl);
        struct kb_group *g = sl > 0 ? kb_group_find(b, s, (size_t)sl, 0) : NULL;
        int16_t err = sl <= 0                  ? KB_ERR_INVALID_GROUP_ID
                      : !g || !g->cg || g->nmembers ? KB_ERR_GROUP_ID_NOT_FOUND
                                               : KB_ERR_NONE;
        const struct kb_cgroup *cg = err ? NULL : g->cg;
        kb_put_i16(w, err);
        static const char nf[] = "not a consumer group";
        kb_put_nstring(w, 1, err ? nf : NULL, err ? strlen(nf) : 0);
        kb_put_string(w, 1, s ? s : "", sl > 0 ? (size_t)sl : 0);
        const char *st = cg ? kb_cg_state_name(cg) : "Dead";
        kb_put_string(w, 1, st, strlen(st));
        kb_put_i32(w, cg ? cg->epoch : 0);
        kb_put_i32(w, cg ? cg->assign_epoch : 0);
        const char *an = cg && cg->assignor[0] ? cg->assignor : "uniform";
        kb_put_string(w, 1, an, strlen(an));
        kb_put_array(w, 1, cg ? (int32_t)cg->n : 0);
        for (size_t j = 0; cg && j < cg->n; j++)
            put_member(b, w, cg, cg->m[j]);
        kb_put_i32(w, INT32_MIN); /* authorized operations: not given */
        kb_put_tags(w, 1);
    }
    kb_put_tags(w, 1);
    return 0;
}

/* ------------------------------------------------------------ offsets */

int16_t kb_cg_commit_check(struct kb_group *g, int16_t v, int32_t epoch, const char *mid,
                           int16_t mlen)
{
    if (epoch < 0 && mlen <= 0 && !kb_cg_busy(g))
        return KB_ERR_NONE; /* offsets only, as for an empty classic group */
    struct kb_cmember *m = mlen > 0 ? kb_cg_member(g->cg, mid, (size_t)mlen) : NULL;
    if (!m)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    if (v < 9)
        return KB_ERR_UNSUPPORTED_VERSION;
    return epoch == m->epoch ? KB_ERR_NONE : KB_ERR_STALE_MEMBER_EPOCH;
}

int16_t kb_cg_fetch_check(struct kb_group *g, const char *mid, int16_t mlen, int32_t epoch)
{
    if (!g || !g->cg || g->nmembers || (mlen < 0 && epoch < 0))
        return KB_ERR_NONE;
    struct kb_cmember *m = mlen > 0 ? kb_cg_member(g->cg, mid, (size_t)mlen) : NULL;
    if (!m)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    return epoch == m->epoch ? KB_ERR_NONE : KB_ERR_STALE_MEMBER_EPOCH;
}

int kb_cg_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    if (q->api_key == KB_API_CONSUMER_GROUP_HEARTBEAT)
        return cg_heartbeat_req(b, q, r);
    return cg_describe(b, q, r);
}
