/*
 * group_member.c — the requests of a group's members once they have
 * joined: SyncGroup, Heartbeat, LeaveGroup; session timeouts; dispatch of
 * every group request. The state machine itself is in group.c.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

/* ------------------------------------------------------------ Sync, Heartbeat, Leave */

/* Look the member up and check generation and instance id. */
static int16_t member_check(struct kb_broker *b, const char *gid, int16_t glen, const char *mid,
                            int16_t mlen, const char *inst, int16_t ilen, int32_t gen,
                            struct kb_group **gp, struct kb_member **mp)
{
    struct kb_group *g = glen > 0 ? kb_group_find(b, gid, (size_t)glen, 0) : NULL;
    if (glen <= 0)
        return KB_ERR_INVALID_GROUP_ID;
    struct kb_member *m = g && mlen > 0 ? kb_member_find(g, mid, (size_t)mlen) : NULL;
    if (g && inst && ilen >= 0) {
        struct kb_member *holder = kb_member_by_instance(g, inst, (size_t)ilen);
        if (holder && holder != m)
            return KB_ERR_FENCED_INSTANCE_ID;
    }
    if (!m || m->pending)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    m->seen_ms = kb_now_ms();
    *gp = g;
    *mp = m;
    if (gen != g->generation)
        return KB_ERR_ILLEGAL_GENERATION;
    return KB_ERR_NONE;
}

static int sync_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *gid, *mid, *inst = NULL;
    int16_t glen, mlen, ilen = -1;
    kb_rd_string(r, flex, &gid, &glen);
    int32_t gen = kb_rd_i32(r);
    kb_rd_string(r, flex, &mid, &mlen);
    if (v >= 3)
        kb_rd_string(r, flex, &inst, &ilen);
    int32_t n = kb_rd_array(r, flex, 4);
    kb_rd_t assign_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        const uint8_t *a;
        int32_t al;
        kb_rd_string(r, flex, &s, &sl);
        kb_rd_bytes_f(r, flex, &a, &al);
        kb_rd_tags_if(r, flex);
    }
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    struct kb_group *g = NULL;
    struct kb_member *m = NULL;
    int16_t err = member_check(b, gid, glen, mid, mlen, inst, ilen, gen, &g, &m);
    if (!err && g->state == KB_G_PREPARING)
        err = KB_ERR_REBALANCE_IN_PROGRESS;
    if (err || g->state == KB_G_STABLE) {
        kb_put_sync(g, &q->resp->buf, v, flex, err, m ? m->assignment : NULL,
                 m ? m->assignment_len : 0);
        return 0;
    }
    /* CompletingRebalance */
    if (m->sync.resp)
        kb_sync_reply(b, g, m, KB_ERR_REBALANCE_IN_PROGRESS);
    kb_wait_park(&m->sync, q);
    if (!g->leader || strcmp(g->leader, m->id) != 0)
        return 0;
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        const uint8_t *a;
        int32_t al;
        kb_rd_string(&assign_at, flex, &s, &sl);
        kb_rd_bytes_f(&assign_at, flex, &a, &al);
        kb_rd_tags_if(&assign_at, flex);
        struct kb_member *o = sl > 0 ? kb_member_find(g, s, (size_t)sl) : NULL;
        if (!o || al < 0)
            continue;
        uint8_t *copy = malloc(al > 0 ? (size_t)al : 1);
        if (!copy)
            continue;
        if (al > 0)
            memcpy(copy, a, (size_t)al);
        free(o->assignment);
        o->assignment = copy;
        o->assignment_len = al;
    }
    g->state = KB_G_STABLE;
    for (size_t i = 0; i < g->nmembers; i++)
        kb_sync_reply(b, g, g->members[i], KB_ERR_NONE);
    return 0;
}

static int heartbeat(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *gid, *mid, *inst = NULL;
    int16_t glen, mlen, ilen = -1;
    kb_rd_string(r, flex, &gid, &glen);
    int32_t gen = kb_rd_i32(r);
    kb_rd_string(r, flex, &mid, &mlen);
    if (v >= 3)
        kb_rd_string(r, flex, &inst, &ilen);
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    struct kb_group *g = NULL;
    struct kb_member *m = NULL;
    int16_t err = member_check(b, gid, glen, mid, mlen, inst, ilen, gen, &g, &m);
    if (!err && g->state == KB_G_PREPARING)
        err = KB_ERR_REBALANCE_IN_PROGRESS;
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 1)
        kb_put_i32(w, 0);
    kb_put_i16(w, err);
    kb_put_tags(w, flex);
    return 0;
}

static int leave_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *gid;
    int16_t glen;
    kb_rd_string(r, flex, &gid, &glen);
    struct kb_group *g = glen > 0 ? kb_group_find(b, gid, (size_t)glen, 0) : NULL;
    kb_wbuf_t *w = &q->resp->buf;
    if (v < 3) {
        const char *mid;
        int16_t mlen;
        kb_rd_string(r, flex, &mid, &mlen);
        kb_rd_tags_if(r, flex);
        if (r->err)
            return -1;
        struct kb_member *m = g && mlen > 0 ? kb_member_find(g, mid, (size_t)mlen) : NULL;
        if (m)
            kb_member_remove(b, g, m);
        if (v >= 1)
            kb_put_i32(w, 0);
        kb_put_i16(w, glen <= 0 ? KB_ERR_INVALID_GROUP_ID : m ? KB_ERR_NONE : KB_ERR_UNKNOWN_MEMBER_ID);
        return 0;
    }
    int32_t n = kb_rd_array(r, flex, 4);
    kb_rd_t members_at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(r, flex, &s, &sl);
        kb_rd_string(r, flex, &s, &sl);
        kb_rd_tags_if(r, flex);
    }
    kb_rd_tags_if(r, flex);
    if (r->err || n < 0)
        return -1;
    kb_put_i32(w, 0);
    kb_put_i16(w, glen <= 0 ? KB_ERR_INVALID_GROUP_ID : KB_ERR_NONE);
    kb_put_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        const char *mid, *inst;
        int16_t mlen, ilen;
        kb_rd_string(&members_at, flex, &mid, &mlen);
        kb_rd_string(&members_at, flex, &inst, &ilen);
        kb_rd_tags_if(&members_at, flex);
        struct kb_member *m = NULL;
        int16_t err = KB_ERR_UNKNOWN_MEMBER_ID;
        if (g && ilen >= 0) {
            m = kb_member_by_instance(g, inst, (size_t)ilen);
            if (m && mlen > 0 && (strlen(m->id) != (size_t)mlen || memcmp(m->id, mid, (size_t)mlen))) {
                m = NULL;
                err = KB_ERR_FENCED_INSTANCE_ID;
            }
        } else if (g && mlen > 0) {
            m = kb_member_find(g, mid, (size_t)mlen);
        }
        kb_put_nstring(w, flex, mid, mlen > 0 ? (size_t)mlen : 0);
        kb_put_nstring(w, flex, ilen >= 0 ? inst : NULL, ilen > 0 ? (size_t)ilen : 0);
        kb_put_i16(w, m ? KB_ERR_NONE : err);
        kb_put_tags(w, flex);
        if (m)
            kb_member_remove(b, g, m);
    }
    kb_put_tags(w, flex);
    return 0;
}

/* ------------------------------------------------------------ timers */

void kb_groups_tick(struct kb_broker *b, int64_t now)
{
    struct kb_groups *gs = b->groups;
    for (struct kb_group *g = gs ? gs->head : NULL; g; g = g->next) {
        for (size_t i = g->nmembers; i-- > 0;) {
            struct kb_member *m = g->members[i];
            if (i >= g->nmembers || m->join.resp || m->sync.resp)
                continue; /* waiting on us, not missing */
            if (now - m->seen_ms > m->session_ms) {
                kb_log(b, "group %s: member %s session timed out", g->id, m->id);
                kb_member_remove(b, g, m);
            }
        }
        kb_group_try_complete(b, g, now);
        kb_cg_tick(b, g, now);
    }
}

int kb_groups_next_timeout(struct kb_broker *b, int64_t now)
{
    struct kb_groups *gs = b->groups;
    int64_t best = 0;
    int any = 0;
    for (struct kb_group *g = gs ? gs->head : NULL; g; g = g->next) {
        for (size_t i = 0; i < g->nmembers; i++) {
            const struct kb_member *m = g->members[i];
            if (m->join.resp || m->sync.resp)
                continue; /* not timed while it waits on us */
            int64_t d = m->seen_ms + m->session_ms + 1 - now;
            if (!any || d < best)
                best = d;
            any = 1;
        }
        int cg_any;
        int64_t cg_at = kb_cg_next_deadline(b, g, &cg_any);
        if (cg_any && (!any || cg_at - now < best))
            best = cg_at - now;
        any |= cg_any;
        if (g->state == KB_G_PREPARING) {
            int64_t d = g->rebalance_deadline - now;
            int64_t e = g->initial_until - now;
            if (e > 0 && e < d)
                d = e;
            if (!any || d < best)
                best = d;
            any = 1;
        }
    }
    if (!any)
        return -1;
    return best < 0 ? 0 : best > 1000000 ? 1000000 : (int)best;
}

/* ------------------------------------------------------------ dispatch */


int kb_handle_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    if (!kb_groups(b))
        return -1;
    switch (q->api_key) {
    case KB_API_JOIN_GROUP: return kb_join_group(b, q, r);
    case KB_API_SYNC_GROUP: return sync_group(b, q, r);
    case KB_API_HEARTBEAT: return heartbeat(b, q, r);
    case KB_API_LEAVE_GROUP: return leave_group(b, q, r);
    case KB_API_OFFSET_COMMIT:
    case KB_API_OFFSET_FETCH:
    case KB_API_OFFSET_DELETE: return kb_group_offsets_handle(b, q, r);
    case KB_API_CONSUMER_GROUP_HEARTBEAT:
    case KB_API_CONSUMER_GROUP_DESCRIBE: return kb_cg_handle(b, q, r);
    default: return kb_group_api_handle(b, q, r);
    }
}
