/*
 * group.c — the classic group protocol: JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup and the rebalance state machine of one coordinator.
 *
 * States (Kafka's): Empty -> PreparingRebalance -> CompletingRebalance ->
 * Stable, and back to PreparingRebalance when a member joins with new
 * metadata, leaves, or misses its session timeout.
 *   PreparingRebalance: JoinGroup responses are parked until every known
 *     member has rejoined or the rebalance timeout (the largest of the
 *     members') passes; members that did not rejoin are dropped. A group
 *     rebalancing from Empty also waits --group-initial-delay for more
 *     members (Kafka's group.initial.rebalance.delay.ms). Then the
 *     generation is bumped, a protocol every member supports is chosen (by
 *     the members' votes, as Kafka does), and each member gets its
 *     response; the leader's carries every member's metadata.
 *   CompletingRebalance: SyncGroup responses are parked until the leader's
 *     SyncGroup brings the assignments; then everyone gets theirs: Stable.
 * Fencing: a request with an unknown member id gets UNKNOWN_MEMBER_ID, a
 * stale generation ILLEGAL_GENERATION, a static member id replaced by a
 * newer join of the same group.instance.id FENCED_INSTANCE_ID.
 * Static members (JoinGroup v5+ with group.instance.id) that rejoin with an
 * empty member id while the group is Stable get a new id and their old
 * assignment without a rebalance, unless they led the group.
 * JoinGroup v4+ from a new dynamic member gets MEMBER_ID_REQUIRED with its
 * id first (KIP-394); that id must come back within the session timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "group.h"

struct kb_member *kb_member_find(struct kb_group *g, const char *id, size_t n)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (strlen(g->members[i]->id) == n && memcmp(g->members[i]->id, id, n) == 0)
            return g->members[i];
    return NULL;
}

struct kb_member *kb_member_by_instance(struct kb_group *g, const char *id, size_t n)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        const char *in = g->members[i]->instance_id;
        if (in && strlen(in) == n && memcmp(in, id, n) == 0)
            return g->members[i];
    }
    return NULL;
}

static void protos_free(struct kb_member *m)
{
    for (int32_t i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = NULL;
    m->nprotos = 0;
}

void kb_member_free(struct kb_member *m)
{
    if (!m)
        return;
    protos_free(m);
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignment);
    free(m);
}

void kb_group_wait_detach(struct kb_wait *w)
{
    w->resp = NULL;
    w->conn = NULL;
}

/* Hand a parked response over to its connection: the body is in place. */
static void wait_finish(struct kb_broker *b, struct kb_wait *w)
{
    struct kb_resp *resp = w->resp;
    struct kb_conn *c = w->conn;
    if (!resp)
        return;
    resp->wait = NULL;
    w->resp = NULL;
    w->conn = NULL;
    resp->ready = 1;
    if (kb_resp_finish(resp)) {
        kb_resp_clear(resp);
        resp->kill = 1;
    }
    kb_net_resp_ready(b, c);
}

void kb_wait_park(struct kb_wait *w, struct kb_req *q)
{
    w->resp = q->resp;
    w->conn = q->conn;
    w->version = q->api_version;
    w->flex = q->flex;
    q->resp->ready = 0;
    q->resp->wait = w;
}

static const struct kb_proto *proto_of(const struct kb_member *m, const char *name)
{
    for (int32_t i = 0; name && i < m->nprotos; i++)
        if (strcmp(m->protos[i].name, name) == 0)
            return &m->protos[i];
    return NULL;
}

/* ------------------------------------------------------------ responses */

static void put_join(struct kb_group *g, struct kb_member *m, kb_wbuf_t *w, int16_t v, int flex,
                     int16_t err, const char *member_id, int with_members)
{
    if (v >= 2)
        kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_i16(w, err);
    kb_put_i32(w, err ? -1 : g->generation);
    const char *proto = err ? "" : (g->protocol ? g->protocol : "");
    kb_put_string(w, flex, proto, strlen(proto));
    const char *leader = err ? "" : (g->leader ? g->leader : "");
    kb_put_string(w, flex, leader, strlen(leader));
    kb_put_string(w, flex, member_id, strlen(member_id));
    /* The leader's list: the generation's members, not those only handed
     * an id (MEMBER_ID_REQUIRED) that have not joined with metadata yet. */
    int32_t n = 0;
    for (size_t i = 0; with_members && !err && i < g->nmembers; i++)
        n += !g->members[i]->pending;
    kb_put_array(w, flex, n);
    for (size_t i = 0; n > 0 && i < g->nmembers; i++) {
        struct kb_member *o = g->members[i];
        if (o->pending)
            continue;
        const struct kb_proto *p = proto_of(o, g->protocol);
        kb_put_string(w, flex, o->id, strlen(o->id));
        if (v >= 5)
            kb_put_nstring(w, flex, o->instance_id, o->instance_id ? strlen(o->instance_id) : 0);
        kb_put_bytes_f(w, flex, p ? p->meta : (const uint8_t *)"", p ? (size_t)p->len : 0);
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    (void)m;
}

void kb_join_reply(struct kb_broker *b, struct kb_group *g, struct kb_member *m, int16_t err)
{
    if (!m->join.resp)
        return;
    put_join(g, m, &m->join.resp->buf, m->join.version, m->join.flex, err, m->id,
             g->leader && strcmp(g->leader, m->id) == 0);
    wait_finish(b, &m->join);
}

void kb_put_sync(struct kb_group *g, kb_wbuf_t *w, int16_t v, int flex, int16_t err,
                     const uint8_t *a, int32_t alen)
{
    (void)g;
    if (v >= 1)
        kb_put_i32(w, 0);
    kb_put_i16(w, err);
    kb_put_bytes_f(w, flex, err || !a ? (const uint8_t *)"" : a, err || !a ? 0 : (size_t)alen);
    kb_put_tags(w, flex);
}

void kb_sync_reply(struct kb_broker *b, struct kb_group *g, struct kb_member *m, int16_t err)
{
    if (!m->sync.resp)
        return;
    kb_put_sync(g, &m->sync.resp->buf, m->sync.version, m->sync.flex, err, m->assignment,
             m->assignment_len);
    wait_finish(b, &m->sync);
}

/* ------------------------------------------------------------ state machine */

void kb_group_prepare_rebalance(struct kb_broker *b, struct kb_group *g)
{
    int64_t now = kb_now_ms();
    for (size_t i = 0; i < g->nmembers; i++)
        kb_sync_reply(b, g, g->members[i], KB_ERR_REBALANCE_IN_PROGRESS);
    int32_t longest = 0;
    for (size_t i = 0; i < g->nmembers; i++)
        if (g->members[i]->rebalance_ms > longest)
            longest = g->members[i]->rebalance_ms;
    if (g->state == KB_G_EMPTY)
        g->initial_until = now + b->cfg.group_initial_delay_ms;
    g->rebalance_deadline = now + longest;
    g->state = KB_G_PREPARING;
}

/* Does every joined member (pending ones are not in the generation) list
 * the protocol? */
static int all_support(struct kb_group *g, const char *name)
{
    for (size_t j = 0; j < g->nmembers; j++)
        if (!g->members[j]->pending && !proto_of(g->members[j], name))
            return 0;
    return 1;
}

/* Choose the protocol as Kafka does: among those every member lists, each
 * member votes for the first in its own order of preference, and the most
 * votes win (a tie goes to the leader's order). So a group whose members
 * all prefer "cooperative-sticky" uses it even when the leader lists
 * "range" first, and a group mixing eager and cooperative members settles
 * on the one protocol they share. */
static const char *choose_protocol(struct kb_group *g, struct kb_member *leader)
{
    size_t *votes = calloc((size_t)leader->nprotos + 1, sizeof *votes);
    if (!votes)
        return NULL;
    for (size_t j = 0; j < g->nmembers; j++) {
        const struct kb_member *m = g->members[j];
        for (int32_t k = 0; !m->pending && k < m->nprotos; k++) {
            if (!all_support(g, m->protos[k].name))
                continue;
            for (int32_t i = 0; i < leader->nprotos; i++)
                if (strcmp(leader->protos[i].name, m->protos[k].name) == 0) {
                    votes[i]++;
                    break;
                }
            break;
        }
    }
    const char *best = NULL;
    size_t most = 0;
    for (int32_t i = 0; i < leader->nprotos; i++)
        if (votes[i] > most) {
            most = votes[i];
            best = leader->protos[i].name;
        }
    free(votes);
    return best;
}

/* Complete the join phase when everyone is in, or force it at the deadline. */
void kb_group_try_complete(struct kb_broker *b, struct kb_group *g, int64_t now)
{
    if (g->state != KB_G_PREPARING)
        return;
    int all = 1;
    for (size_t i = 0; i < g->nmembers; i++)
        if (!g->members[i]->pending && !g->members[i]->join.resp)
            all = 0;
    if (!(all && now >= g->initial_until) && now < g->rebalance_deadline)
        return;
    /* Drop members that did not rejoin (pending ones stay: they may yet). */
    for (size_t i = g->nmembers; i-- > 0;) {
        struct kb_member *m = g->members[i];
        if (!m->pending && !m->join.resp) {
            kb_log(b, "group %s: member %s did not rejoin in time", g->id, m->id);
            kb_member_remove(b, g, m);
            if (g->state != KB_G_PREPARING)
                return; /* removal emptied the group */
        }
    }
    size_t joined = 0;
    struct kb_member *leader = NULL;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i]->pending)
            continue;
        joined++;
        if (!leader || (g->leader && strcmp(g->leader, g->members[i]->id) == 0))
            leader = g->members[i];
    }
    g->generation++;
    free(g->leader);
    g->leader = NULL;
    free(g->protocol);
    g->protocol = NULL;
    if (!joined) {
        g->state = KB_G_EMPTY;
        free(g->protocol_type);
        g->protocol_type = NULL;
        return;
    }
    g->leader = kb_strndup(leader->id, strlen(leader->id));
    const char *chosen = choose_protocol(g, leader);
    g->protocol = chosen ? kb_strndup(chosen, strlen(chosen)) : NULL;
    g->state = KB_G_COMPLETING;
    kb_log(b, "group %s: generation %d, %zu members, leader %s, protocol %s", g->id,
           g->generation, joined, leader->id, g->protocol ? g->protocol : "(none)");
    for (size_t i = 0; i < g->nmembers; i++) {
        struct kb_member *m = g->members[i];
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        kb_join_reply(b, g, m, g->protocol ? KB_ERR_NONE : KB_ERR_INCONSISTENT_GROUP_PROTOCOL);
    }
}

void kb_member_remove(struct kb_broker *b, struct kb_group *g, struct kb_member *m)
{
    size_t i = 0;
    while (i < g->nmembers && g->members[i] != m)
        i++;
    if (i == g->nmembers)
        return;
    kb_join_reply(b, g, m, KB_ERR_UNKNOWN_MEMBER_ID);
    kb_sync_reply(b, g, m, KB_ERR_UNKNOWN_MEMBER_ID);
    memmove(g->members + i, g->members + i + 1, (g->nmembers - i - 1) * sizeof *g->members);
    g->nmembers--;
    int was_pending = m->pending;
    if (g->leader && strcmp(g->leader, m->id) == 0 && g->state != KB_G_PREPARING) {
        free(g->leader);
        g->leader = NULL;
    }
    kb_member_free(m);
    if (was_pending)
        return;
    size_t live = 0;
    for (size_t j = 0; j < g->nmembers; j++)
        live += !g->members[j]->pending;
    if (live == 0 && g->state != KB_G_PREPARING) {
        g->state = KB_G_EMPTY;
        g->generation++;
        free(g->leader);
        g->leader = NULL;
        free(g->protocol);
        g->protocol = NULL;
        free(g->protocol_type);
        g->protocol_type = NULL;
    } else if (g->state == KB_G_STABLE || g->state == KB_G_COMPLETING) {
        kb_group_prepare_rebalance(b, g);
    } else if (g->state == KB_G_PREPARING) {
        kb_group_try_complete(b, g, kb_now_ms());
    }
}

/* ------------------------------------------------------------ JoinGroup */

char *kb_peer_host(struct kb_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN + 1] = "/";
    if (c->fd >= 0 && getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
        const void *a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                 : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        inet_ntop(ss.ss_family, a, host + 1, sizeof host - 1);
    }
    return kb_strndup(host, strlen(host));
}

static struct kb_member *member_new(struct kb_broker *b, struct kb_group *g, struct kb_req *q,
                                    const char *inst, int16_t inst_len)
{
    if (g->nmembers >= KB_MAX_MEMBERS)
        return NULL;
    if (g->nmembers == g->members_cap) {
        size_t cap = g->members_cap ? g->members_cap * 2 : 4;
        struct kb_member **t = realloc(g->members, cap * sizeof *t);
        if (!t)
            return NULL;
        g->members = t;
        g->members_cap = cap;
    }
    struct kb_member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    const char *cid = q->client_id ? q->client_id : "";
    size_t clen = q->client_id_len > 0 ? (size_t)q->client_id_len : 0;
    char id[320];
    snprintf(id, sizeof id, "%.*s-%llu", (int)(clen > 200 ? 200 : clen), cid,
             (unsigned long long)++b->groups->next_member);
    m->id = kb_strndup(id, strlen(id));
    m->client_id = kb_strndup(cid, clen);
    m->client_host = kb_peer_host(q->conn);
    m->instance_id = inst ? kb_strndup(inst, (size_t)inst_len) : NULL;
    m->group = g;
    if (!m->id || !m->client_id || !m->client_host || (inst && !m->instance_id)) {
        kb_member_free(m);
        return NULL;
    }
    g->members[g->nmembers++] = m;
    return m;
}

/* Same protocols and metadata as the member has? */
static int protos_equal(const struct kb_member *m, kb_rd_t r, int flex, int32_t n)
{
    if (n != m->nprotos)
        return 0;
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        const uint8_t *md;
        int32_t ml;
        kb_rd_string(&r, flex, &s, &sl);
        kb_rd_bytes_f(&r, flex, &md, &ml);
        kb_rd_tags_if(&r, flex);
        if (r.err || sl < 0 || strlen(m->protos[i].name) != (size_t)sl ||
            memcmp(m->protos[i].name, s, (size_t)sl) || ml != m->protos[i].len ||
            (ml > 0 && memcmp(m->protos[i].meta, md, (size_t)ml)))
            return 0;
    }
    return 1;
}

static int protos_set(struct kb_member *m, kb_rd_t r, int flex, int32_t n)
{
    protos_free(m);
    m->protos = calloc((size_t)n + 1, sizeof *m->protos);
    if (!m->protos)
        return -1;
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        const uint8_t *md;
        int32_t ml;
        kb_rd_string(&r, flex, &s, &sl);
        kb_rd_bytes_f(&r, flex, &md, &ml);
        kb_rd_tags_if(&r, flex);
        if (r.err || sl < 0)
            return -1;
        m->protos[i].name = kb_strndup(s, (size_t)sl);
        m->protos[i].meta = malloc(ml > 0 ? (size_t)ml : 1);
        m->nprotos = i + 1;
        if (!m->protos[i].name || !m->protos[i].meta)
            return -1;
        if (ml > 0)
            memcpy(m->protos[i].meta, md, (size_t)ml);
        m->protos[i].len = ml > 0 ? ml : 0;
    }
    return 0;
}

int kb_join_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *gid, *mid, *inst = NULL, *ptype;
    int16_t glen, mlen, ilen = -1, plen;
    kb_rd_string(r, flex, &gid, &glen);
    int32_t session_ms = kb_rd_i32(r);
    int32_t rebalance_ms = v >= 1 ? kb_rd_i32(r) : session_ms;
    kb_rd_string(r, flex, &mid, &mlen);
    if (v >= 5)
        kb_rd_string(r, flex, &inst, &ilen);
    kb_rd_string(r, flex, &ptype, &plen);
    int32_t nprotos = kb_rd_array(r, flex, 4);
    kb_rd_t protos_at = *r;
    for (int32_t i = 0; i < nprotos && !r->err; i++) {
        const char *s;
        int16_t sl;
        const uint8_t *md;
        int32_t ml;
        kb_rd_string(r, flex, &s, &sl);
        kb_rd_bytes_f(r, flex, &md, &ml);
        kb_rd_tags_if(r, flex);
        if (sl < 0)
            r->err = 1;
    }
    kb_rd_tags_if(r, flex);
    if (r->err || nprotos < 0 || plen < 0 || mlen < 0)
        return -1;
    if (ilen < 0)
        inst = NULL;
    kb_wbuf_t *w = &q->resp->buf;
    const char *echo = "";
    int16_t err = KB_ERR_NONE;
    struct kb_group *g = NULL;
    if (glen <= 0)
        err = KB_ERR_INVALID_GROUP_ID;
    else if (session_ms < 1000 || session_ms > 3600000 || rebalance_ms < 0)
        err = KB_ERR_INVALID_SESSION_TIMEOUT;
    else if (!(g = kb_group_find(b, gid, (size_t)glen, 1)))
        err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    else if (nprotos == 0 || kb_cg_busy(g) ||
             (g->protocol_type && (strlen(g->protocol_type) != (size_t)plen ||
                                   memcmp(g->protocol_type, ptype, (size_t)plen))))
        err = KB_ERR_INCONSISTENT_GROUP_PROTOCOL; /* a consumer-protocol group: Kafka's answer */
    if (err) {
        put_join(g, NULL, w, v, flex, err, echo, 0);
        return 0;
    }
    int64_t now = kb_now_ms();
    struct kb_member *m = NULL;
    int static_rejoin = 0;
    if (mlen == 0) {
        struct kb_member *old = inst ? kb_member_by_instance(g, inst, (size_t)ilen) : NULL;
        if (!old && v >= 4 && !inst) {
            m = member_new(b, g, q, NULL, -1);
            if (!m) {
                put_join(g, NULL, w, v, flex, KB_ERR_GROUP_MAX_SIZE_REACHED, "", 0);
                return 0;
            }
            m->pending = 1;
            m->session_ms = session_ms;
            m->seen_ms = now;
            put_join(g, m, w, v, flex, KB_ERR_MEMBER_ID_REQUIRED, m->id, 0);
            return 0;
        }
        m = member_new(b, g, q, inst, ilen);
        if (!m) {
            put_join(g, NULL, w, v, flex, KB_ERR_GROUP_MAX_SIZE_REACHED, "", 0);
            return 0;
        }
        if (old) {
            /* A static member came back: its new id fences the old one. */
            kb_log(b, "group %s: static member %s replaces %s", g->id, m->id, old->id);
            kb_join_reply(b, g, old, KB_ERR_FENCED_INSTANCE_ID);
            kb_sync_reply(b, g, old, KB_ERR_FENCED_INSTANCE_ID);
            int was_leader = g->leader && strcmp(g->leader, old->id) == 0;
            static_rejoin = g->state == KB_G_STABLE && !was_leader &&
                            protos_equal(old, protos_at, flex, nprotos);
            m->assignment = old->assignment;
            m->assignment_len = old->assignment_len;
            old->assignment = NULL;
            for (size_t i = 0; i < g->nmembers; i++)
                if (g->members[i] == old)
                    memmove(g->members + i, g->members + i + 1,
                            (g->nmembers - i - 1) * sizeof *g->members);
            g->nmembers--;
            if (was_leader) {
                free(g->leader);
                g->leader = kb_strndup(m->id, strlen(m->id));
            }
            kb_member_free(old);
        }
    } else {
        m = kb_member_find(g, mid, (size_t)mlen);
        if (!m || (inst && (!m->instance_id || strlen(m->instance_id) != (size_t)ilen ||
                            memcmp(m->instance_id, inst, (size_t)ilen)))) {
            struct kb_member *holder = inst ? kb_member_by_instance(g, inst, (size_t)ilen) : NULL;
            put_join(g, NULL, w, v, flex,
                     holder ? KB_ERR_FENCED_INSTANCE_ID : KB_ERR_UNKNOWN_MEMBER_ID, "", 0);
            return 0;
        }
    }
    int same = !m->pending && m->nprotos && protos_equal(m, protos_at, flex, nprotos);
    m->pending = 0;
    m->session_ms = session_ms;
    m->rebalance_ms = rebalance_ms;
    m->seen_ms = now;
    if (!same && protos_set(m, protos_at, flex, nprotos)) {
        kb_member_remove(b, g, m);
        put_join(g, NULL, w, v, flex, KB_ERR_COORDINATOR_NOT_AVAILABLE, "", 0);
        return 0;
    }
    if (!g->protocol_type && !(g->protocol_type = kb_strndup(ptype, (size_t)plen))) {
        kb_member_remove(b, g, m);
        put_join(g, NULL, w, v, flex, KB_ERR_COORDINATOR_NOT_AVAILABLE, "", 0);
        return 0;
    }
    if (m->join.resp) /* a second JoinGroup while the first waits: answer the first */
        kb_join_reply(b, g, m, KB_ERR_REBALANCE_IN_PROGRESS);
    int is_leader = g->leader && strcmp(g->leader, m->id) == 0;
    if (static_rejoin || (same && !is_leader && g->state == KB_G_STABLE) ||
        (same && g->state == KB_G_COMPLETING)) {
        /* Nothing changed: the current generation stands. */
        put_join(g, m, w, v, flex, KB_ERR_NONE, m->id, is_leader);
        return 0;
    }
    kb_wait_park(&m->join, q);
    if (g->state != KB_G_PREPARING)
        kb_group_prepare_rebalance(b, g);
    kb_group_try_complete(b, g, now);
    return 0;
}

