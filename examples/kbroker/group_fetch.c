/*
 * group_fetch.c — OffsetFetch v0-v9: the committed offsets of a group, as
 * group_offsets.c keeps them in memory.
 *
 * v0-v7 name one group at the top level; v8+ (KIP-709) carry an array of
 * groups, each answered with its own error code; v9 adds the member id and
 * member epoch of a consumer-protocol member (KIP-848), checked by
 * kb_cg_fetch_check (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH). A null topic
 * list (v2+) asks for every committed offset of the group.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

/* unstable: a transaction holds an offset of the partition not yet
 * committed and the client asked for stable offsets only (KIP-447): it gets
 * UNSTABLE_OFFSET_COMMIT and asks again. */
static void put_fetched(kb_wbuf_t *w, int16_t v, int flex, int32_t partition,
                        const struct kb_offset *o, int unstable)
{
    if (unstable)
        o = NULL;
    kb_put_i32(w, partition);
    kb_put_i64(w, o ? o->offset : -1);
    if (v >= 5)
        kb_put_i32(w, o ? o->leader_epoch : -1);
    kb_put_nstring(w, flex, o ? o->metadata : "", o ? strlen(o->metadata) : 0);
    kb_put_i16(w, unstable ? KB_ERR_UNSTABLE_OFFSET_COMMIT : KB_ERR_NONE);
    kb_put_tags(w, flex);
}

static int by_topic(const void *a, const void *b)
{
    const struct kb_offset *x = *(struct kb_offset *const *)a, *y = *(struct kb_offset *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Skip one topics array of the request (validating it); returns its count. */
static int32_t skip_topics(kb_rd_t *r, int flex)
{
    int32_t ntopics = kb_rd_array(r, flex, flex ? 2 : 6);
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        const char *t;
        int16_t tl;
        kb_rd_string(r, flex, &t, &tl);
        int32_t n = kb_rd_array(r, flex, 4);
        for (int32_t j = 0; j < n && !r->err; j++)
            (void)kb_rd_i32(r);
        kb_rd_tags_if(r, flex);
    }
    return ntopics;
}

/* The topics array of the response for group g (NULL: none), from the
 * request's topics at *tr (ntopics < 0: every committed offset). 0 or -1
 * (out of memory). */
static int put_topics(struct kb_broker *b, kb_wbuf_t *w, int16_t v, int flex, struct kb_group *g,
                      const char *gid, int16_t glen, kb_rd_t *tr, int32_t ntopics, int stable)
{
    if (ntopics >= 0) {
        (void)kb_rd_array(tr, flex, flex ? 2 : 6);
        kb_put_array(w, flex, ntopics);
        for (int32_t i = 0; i < ntopics; i++) {
            const char *t;
            int16_t tl;
            kb_rd_string(tr, flex, &t, &tl);
            int32_t n = kb_rd_array(tr, flex, 4);
            kb_put_string(w, flex, t ? t : "", tl > 0 ? (size_t)tl : 0);
            kb_put_array(w, flex, n);
            for (int32_t j = 0; j < n; j++) {
                int32_t p = kb_rd_i32(tr);
                const struct kb_offset *o = g && tl > 0 ? kb_offset_find(g, t, (size_t)tl, p) : NULL;
                put_fetched(w, v, flex, p, o,
                            stable && glen > 0 && tl > 0 &&
                                kb_txn_pending_offset(b, gid, (size_t)glen, t, (size_t)tl, p));
            }
            kb_rd_tags_if(tr, flex);
            kb_put_tags(w, flex);
        }
        return 0;
    }
    /* every committed offset of the group, grouped by topic */
    size_t n = g ? g->noffs : 0;
    struct kb_offset **list = calloc(n + 1, sizeof *list);
    if (!list)
        return -1;
    for (size_t i = 0; i < n; i++)
        list[i] = &g->offs[i];
    qsort(list, n, sizeof *list, by_topic);
    int32_t nt = 0;
    for (size_t i = 0; i < n; i++)
        nt += i == 0 || strcmp(list[i]->topic, list[i - 1]->topic) != 0;
    kb_put_array(w, flex, nt);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(list[j]->topic, list[i]->topic) == 0)
            j++;
        kb_put_string(w, flex, list[i]->topic, strlen(list[i]->topic));
        kb_put_array(w, flex, (int32_t)(j - i));
        for (size_t k = i; k < j; k++)
            put_fetched(w, v, flex, list[k]->partition, list[k],
                        stable && kb_txn_pending_offset(b, gid, (size_t)glen, list[k]->topic,
                                                        strlen(list[k]->topic),
                                                        list[k]->partition));
        kb_put_tags(w, flex);
        i = j;
    }
    free(list);
    return 0;
}

/* v8+: an array of groups. */
static int fetch_groups(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    int32_t ngroups = kb_rd_array(r, 1, 3);
    kb_rd_t groups_at = *r;
    for (int32_t i = 0; i < ngroups && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_string(r, 1, &s, &sl);
        if (v >= 9) {
            kb_rd_string(r, 1, &s, &sl);
            (void)kb_rd_i32(r);
        }
        (void)skip_topics(r, 1);
        kb_rd_tags_if(r, 1);
    }
    int stable = kb_rd_i8(r) != 0;
    kb_rd_tags_if(r, 1);
    if (r->err || ngroups < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_array(w, 1, ngroups);
    for (int32_t i = 0; i < ngroups; i++) {
        const char *gid, *mid = NULL;
        int16_t glen, mlen = -1;
        int32_t epoch = -1;
        kb_rd_string(&groups_at, 1, &gid, &glen);
        if (v >= 9) {
            kb_rd_string(&groups_at, 1, &mid, &mlen);
            epoch = kb_rd_i32(&groups_at);
        }
        kb_rd_t topics_at = groups_at;
        int32_t ntopics = skip_topics(&groups_at, 1);
        kb_rd_tags_if(&groups_at, 1);
        struct kb_group *g = glen > 0 ? kb_group_find(b, gid, (size_t)glen, 0) : NULL;
        int16_t err = glen <= 0 ? KB_ERR_INVALID_GROUP_ID : kb_cg_fetch_check(g, mid, mlen, epoch);
        kb_put_string(w, 1, gid ? gid : "", glen > 0 ? (size_t)glen : 0);
        if (err)
            kb_put_array(w, 1, 0);
        else if (put_topics(b, w, v, 1, g, gid, glen, &topics_at, ntopics, stable))
            return -1;
        kb_put_i16(w, err);
        kb_put_tags(w, 1);
    }
    kb_put_tags(w, 1);
    return 0;
}

int kb_offset_fetch(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    if (v >= 8)
        return fetch_groups(b, q, r);
    const char *gid;
    int16_t glen;
    kb_rd_string(r, flex, &gid, &glen);
    kb_rd_t topics_at = *r;
    int32_t ntopics = skip_topics(r, flex);
    int stable = v >= 7 ? kb_rd_i8(r) != 0 : 0; /* require_stable */
    kb_rd_tags_if(r, flex);
    if (r->err || (ntopics < 0 && v < 2))
        return -1;
    struct kb_group *g = glen > 0 ? kb_group_find(b, gid, (size_t)glen, 0) : NULL;
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 3)
        kb_put_i32(w, 0);
    if (put_topics(b, w, v, flex, g, gid, glen, &topics_at, ntopics, stable))
        return -1;
    if (v >= 2)
        kb_put_i16(w, glen <= 0 ? KB_ERR_INVALID_GROUP_ID : KB_ERR_NONE);
    kb_put_tags(w, flex);
    return 0;
}
