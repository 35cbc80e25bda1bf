/*
 * group_commit.c — the writes of __consumer_offsets besides their records'
 * layout (group_offsets.c): OffsetCommit's and TxnOffsetCommit's fsync on
 * the flush thread (flush.c), not on the event loop; the tombstones of
 * DeleteGroups and OffsetDelete (fsynced on the loop: rare admin
 * requests); and the replay past the last stable offset at start.
 *
 * The handler appends its records on the loop as before, builds its whole
 * response with error code 0 for every partition it stored, and hands a
 * kb_commit (the offsets, and where each partition's error code sits in
 * the response) to kb_commit_submit: the response is parked until the
 * flush thread has fsynced __consumer_offsets, and the connection is held
 * (kb_net_hold): its next requests are read only once the commit is
 * answered, so an OffsetFetch sent behind an OffsetCommit sees it, as on
 * Kafka, which handles one request of a connection at a time. Every other
 * connection is served meanwhile.
 *
 * When the fsync is over, on the loop, commit_done either applies the
 * offsets to their groups in memory (OffsetCommit; from then on OffsetFetch
 * returns them) or, when the fsync failed, patches NOT_COORDINATOR into
 * each partition's error code (Kafka's group coordinator answers a
 * KAFKA_STORAGE_ERROR append so) and applies nothing: no offset is reported
 * committed before it is durable. A TxnOffsetCommit's offsets are pending
 * in their transaction from the append on (not visible before its commit
 * marker either way); only its answer waits. The offsets are applied even
 * when the connection closed meanwhile: they are durable.
 *
 * Commits complete in the order they were appended (the flush thread keeps
 * its queue's order), so the last of two commits of a partition wins, as in
 * the replay. Requests that write tombstones (DeleteGroups, OffsetDelete)
 * first settle every commit in flight (kb_commit_settle), so a tombstone is
 * never followed in memory by an older commit that completes after it.
 *
 * At start, the read-committed replay (group_offsets.c) stops at the last
 * stable offset, the first batch of a transaction still open (kept open
 * across the restart by kb_txn_load). kb_offsets_replay_unstable reads on
 * to the high watermark: plain commits there are committed, a
 * transactional batch of its producer's open transaction is pending again
 * in that transaction (applied by its commit marker, dropped by its
 * abort), one of an ended transaction is applied unless that transaction
 * aborted. libklog answers both questions (klog_partition_txn_open,
 * klog_partition_aborted), since readers never return markers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"

struct kb_commit_off {
    char *topic;  /* NULL: nothing to apply (TxnOffsetCommit) */
    char *meta;
    int32_t partition, epoch;
    int64_t offset;
    size_t err_at; /* response offset of its error code */
};

struct kb_commit {
    char *group; /* NULL: TxnOffsetCommit */
    struct kb_commit_off *offs;
    size_t n, cap;
    int held;
};

struct kb_commit *kb_commit_new(const char *group, size_t glen)
{
    struct kb_commit *c = calloc(1, sizeof *c);
    if (c && group && !(c->group = kb_strndup(group, glen))) {
        free(c);
        return NULL;
    }
    return c;
}

void kb_commit_free(struct kb_commit *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->offs[i].topic);
        free(c->offs[i].meta);
    }
    free(c->offs);
    free(c->group);
    free(c);
}

int kb_commit_add(struct kb_commit *c, const char *topic, size_t tlen, int32_t partition,
                  int64_t offset, int32_t epoch, const char *meta, size_t mlen, size_t err_at)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct kb_commit_off *t = realloc(c->offs, cap * sizeof *t);
        if (!t)
            return -1;
        c->offs = t;
        c->cap = cap;
    }
    struct kb_commit_off *o = &c->offs[c->n];
    *o = (struct kb_commit_off){.partition = partition, .epoch = epoch, .offset = offset,
                                .err_at = err_at};
    if (topic && c->group) {
        o->topic = kb_strndup(topic, tlen);
        o->meta = kb_strndup(meta ? meta : "", meta ? mlen : 0);
        if (!o->topic || !o->meta) {
            free(o->topic);
            free(o->meta);
            return -1;
        }
    }
    c->n++;
    return 0;
}

/* ------------------------------------------------------------ tombstones */

/* Tombstones for `n` offsets of g (taken from offs, or all of g's). */
int kb_offsets_tombstones(struct kb_broker *b, struct kb_group *g, struct kb_offset **offs,
                            size_t n)
{
    kb_wbuf_t keys = {0};
    size_t *at = calloc(n + 1, sizeof *at);
    klog_record_t *recs = calloc(n + 1, sizeof *recs);
    int rc = -ENOMEM;
    if (!at || !recs)
        goto out;
    for (size_t i = 0; i < n; i++)
        at[i] = kb_offsets_put_key(&keys, g->id, strlen(g->id), offs[i]->topic, strlen(offs[i]->topic),
                        offs[i]->partition);
    if (keys.oom)
        goto out;
    int64_t now = kb_wall_ms();
    for (size_t i = 0; i < n; i++) {
        size_t end = i + 1 < n ? at[i + 1] : keys.len;
        recs[i] = (klog_record_t){.timestamp = now, .key = keys.p + at[i],
                                  .key_len = (int32_t)(end - at[i]), .value_len = KLOG_NULL_LEN};
    }
    rc = kb_offsets_store(b, recs, n, 1);
out:
    free(at);
    free(recs);
    kb_wbuf_free(&keys);
    return rc;
}

int kb_offsets_delete_all(struct kb_broker *b, struct kb_group *g)
{
    struct kb_offset **list = calloc(g->noffs + 1, sizeof *list);
    if (!list)
        return -ENOMEM;
    for (size_t i = 0; i < g->noffs; i++)
        list[i] = &g->offs[i];
    int rc = kb_offsets_tombstones(b, g, list, g->noffs);
    free(list);
    return rc;
}

/* ------------------------------------------------------------ commits */

int16_t kb_commit_error(int rc)
{
    return kb_append_error(rc) == KB_ERR_KAFKA_STORAGE_ERROR ? KB_ERR_NOT_COORDINATOR
                                                             : KB_ERR_COORDINATOR_NOT_AVAILABLE;
}

static void patch_i16(kb_wbuf_t *w, size_t at, int16_t v)
{
    if (at + 2 <= w->len) {
        w->p[at] = (uint8_t)((uint16_t)v >> 8);
        w->p[at + 1] = (uint8_t)v;
    }
}

static void commit_done(struct kb_broker *b, struct kb_conn *conn, struct kb_resp *r, int rc,
                        void *ctx)
{
    struct kb_commit *c = ctx;
    int16_t ferr = rc ? kb_commit_error(rc) : KB_ERR_NONE;
    if (rc)
        kb_log(b, "%s fsync (%s %s): %s", KB_OFFSETS_TOPIC, c->group ? "group" : "transactional",
               c->group ? c->group : "commit", klog_strerror(rc));
    for (size_t i = 0; i < c->n; i++) {
        struct kb_commit_off *o = &c->offs[i];
        int16_t err = ferr;
        if (!err && o->topic &&
            kb_offsets_apply(b, c->group, o->topic, o->partition, o->offset, o->epoch, o->meta))
            err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
        if (err && r)
            patch_i16(&r->buf, o->err_at, err);
    }
    if (conn && c->held)
        kb_net_release(b, conn);
    kb_commit_free(c);
}

int kb_commit_submit(struct kb_broker *b, struct kb_req *q, struct kb_commit *c)
{
    struct kb_flush_job *j = NULL;
    if (b->flusher) {
        if (kb_flush_add(&j, b->groups->offsets, 0) || kb_resp_finish(q->resp)) {
            kb_flush_job_free(j);
            kb_commit_free(c);
            return -1;
        }
        kb_flush_on_done(j, commit_done, c);
        c->held = 1;
        (void)kb_flush_submit(b, q->conn, q->resp, j); /* cannot fail: there is a thread */
        kb_net_hold(q->conn);
        return 0;
    }
    /* No flush thread: fsync here; the loop finishes the response. */
    commit_done(b, NULL, q->resp, klog_flush(b->groups->offsets), c);
    return 0;
}

void kb_commit_settle(struct kb_broker *b)
{
    kb_flush_quiesce(b);
    kb_flush_reap(b);
}

int16_t kb_group_txn_check(struct kb_broker *b, const char *gid, size_t glen, int32_t gen,
                           const char *mid, int16_t mlen, const char *inst, int16_t ilen)
{
    struct kb_group *g = kb_group_find(b, gid, glen, 0);
    int empty = !g || g->state == KB_G_EMPTY;
    if (gen < 0 && empty)
        return KB_ERR_NONE; /* a producer that only stores offsets here */
    if (gen < 0 && mlen <= 0 && ilen < 0)
        return KB_ERR_NONE; /* no group named: older clients, as Kafka */
    if (!g)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    struct kb_member *m = mlen > 0 ? kb_member_find(g, mid, (size_t)mlen) : NULL;
    if (ilen >= 0) {
        struct kb_member *s = kb_member_by_instance(g, inst, (size_t)ilen);
        if (!s)
            return KB_ERR_UNKNOWN_MEMBER_ID;
        if (s != m)
            return KB_ERR_FENCED_INSTANCE_ID;
    }
    if (!m || m->pending)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    return gen != g->generation ? KB_ERR_ILLEGAL_GENERATION : KB_ERR_NONE;
}

/* The replay past the last stable offset, where the read-committed pass
 * stopped: a record of a non-transactional batch is committed; one of a
 * transactional batch is pending when its producer's transaction that is
 * still open began at or before it (klog_partition_txn_open), skipped when
 * it lies in an aborted transaction (klog_partition_aborted), else its
 * transaction committed. */
int kb_offsets_replay_unstable(struct kb_broker *b, klog_partition_t *p, int64_t hw, int64_t *n)
{
    int64_t lso;
    int rc = klog_partition_lso(p, &lso);
    if (rc || lso >= hw)
        return rc;
    klog_aborted_txn_t *ab = NULL;
    size_t nab = 0;
    klog_reader_t *rd = NULL;
    rc = klog_partition_aborted(p, lso, hw, &ab, &nab);
    if (!rc)
        rc = klog_reader_open(p, lso, &rd);
    klog_record_t rec;
    while (!rc && (rc = klog_reader_next(rd, &rec)) == 1 && rec.offset < hw) {
        const klog_batch_info_t *bi = klog_reader_batch_info(rd);
        int64_t pid = -1, first = -1;
        if (bi && (bi->attributes & KLOG_ATTR_TRANSACTIONAL) && bi->producer_id >= 0) {
            rc = klog_partition_txn_open(p, bi->producer_id, &first);
            if (rc)
                break;
            int aborted = 0;
            for (size_t i = 0; i < nab && !aborted; i++)
                aborted = ab[i].producer_id == bi->producer_id &&
                          ab[i].first_offset <= bi->base_offset &&
                          bi->base_offset <= ab[i].last_offset;
            if (first >= 0 && bi->base_offset >= first)
                pid = bi->producer_id;
            else if (aborted)
                continue;
        }
        kb_offsets_replay_one(b, &rec, pid, bi ? bi->producer_epoch : -1);
        (*n)++;
    }
    klog_reader_close(rd);
    free(ab);
    return rc < 0 ? rc : 0;
}
