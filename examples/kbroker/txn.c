/*
 * txn.c — the transaction coordinator's requests: InitProducerId with a
 * transactional id, AddPartitionsToTxn (v0-3), AddOffsetsToTxn (v0-3),
 * TxnOffsetCommit (v0-3), EndTxn (v0-3), and the Produce-side check of
 * transactional batches.
 *
 * Kafka's rules, as its TransactionCoordinator applies them: a request
 * names the transactional id, the producer id and epoch it was given; an
 * unknown id or another producer id is INVALID_PRODUCER_ID_MAPPING, another
 * epoch is fenced (PRODUCER_FENCED from the versions that know it, KIP-588,
 * else INVALID_PRODUCER_EPOCH). InitProducerId on an id that exists bumps
 * its epoch, which fences the previous holder, and aborts the transaction
 * it had open (with the bumped epoch). The first partition added starts a
 * transaction (Ongoing) and its timeout; EndTxn runs the two-phase end to
 * completion before it answers (txn_state.c), so CONCURRENT_TRANSACTIONS
 * is answered only when an earlier end failed half-way and is retried.
 * Every state change is stored in __transaction_state before the answer.
 *
 * A transactional batch is stored only for a partition added to an open
 * transaction of its producer (INVALID_TXN_STATE otherwise), the check
 * KIP-890 added to Kafka's brokers against hanging transactions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "txn.h"

static int16_t fenced_code(int16_t api, int16_t v)
{
    int since = api == KB_API_INIT_PRODUCER_ID ? 4 : api == KB_API_TXN_OFFSET_COMMIT ? 3 : 2;
    return v >= since ? KB_ERR_PRODUCER_FENCED : KB_ERR_INVALID_PRODUCER_EPOCH;
}

/* The transaction tid names for producer pid/epoch, or NULL with *err. */
static struct kb_txn *txn_for(struct kb_broker *b, struct kb_req *q, const char *tid,
                              int16_t tlen, int64_t pid, int16_t epoch, int16_t *err)
{
    struct kb_txn *t = tlen > 0 ? kb_txn_find(b, tid, (size_t)tlen) : NULL;
    *err = KB_ERR_NONE;
    if (!t || t->pid != pid)
        *err = KB_ERR_INVALID_PRODUCER_ID_MAPPING;
    else if (t->epoch != epoch)
        *err = fenced_code(q->api_key, q->api_version);
    else if (t->status == KB_TX_PREPARE_COMMIT || t->status == KB_TX_PREPARE_ABORT)
        *err = KB_ERR_CONCURRENT_TRANSACTIONS;
    return *err ? NULL : t;
}

/* Start a transaction on t unless one is open. */
static void txn_begin(struct kb_txn *t)
{
    if (t->status == KB_TX_ONGOING)
        return;
    t->status = KB_TX_ONGOING; /* (the last end dropped its partitions) */
    t->start_ms = kb_wall_ms();
    t->deadline = kb_now_ms() + t->timeout_ms;
}

/* ------------------------------------------------------------ InitProducerId */

int kb_txn_init_producer(struct kb_broker *b, const char *tid, int16_t tlen, int32_t timeout_ms,
                         int64_t pid, int16_t epoch, int16_t version, int64_t *out_pid,
                         int16_t *out_epoch)
{
    if (tlen == 0)
        return KB_ERR_INVALID_REQUEST;
    if (timeout_ms <= 0 || timeout_ms > KB_TXN_MAX_TIMEOUT_MS)
        return KB_ERR_INVALID_TRANSACTION_TIMEOUT;
    struct kb_txn *t = kb_txn_find(b, tid, (size_t)tlen);
    int bump = 1;
    if (!t) {
        t = kb_txn_new(b, tid, (size_t)tlen);
        if (!t)
            return KB_ERR_COORDINATOR_NOT_AVAILABLE;
        t->status = KB_TX_EMPTY;
        t->start_ms = -1;
        bump = 0;
    } else {
        /* KIP-360: a producer naming its id and epoch must hold them. */
        if (pid >= 0 && (pid != t->pid || epoch != t->epoch))
            return version >= 4 ? KB_ERR_PRODUCER_FENCED : KB_ERR_INVALID_PRODUCER_EPOCH;
        if (t->status == KB_TX_PREPARE_COMMIT || t->status == KB_TX_PREPARE_ABORT) {
            if (kb_txn_end(b, t, t->status == KB_TX_PREPARE_COMMIT))
                return KB_ERR_CONCURRENT_TRANSACTIONS;
        } else if (t->status == KB_TX_ONGOING) {
            int16_t was = t->epoch;
            if (kb_txn_fence_abort(b, t))
                return KB_ERR_COORDINATOR_NOT_AVAILABLE;
            bump = t->epoch == was; /* fence_abort bumped it already */
        }
    }
    if (t->pid < 0 || (bump && t->epoch >= INT16_MAX - 1)) {
        /* a new id (also when the epochs of the old one are used up) */
        int64_t id;
        if (kb_pid_alloc(b, &id))
            return KB_ERR_COORDINATOR_NOT_AVAILABLE;
        t->pid = id;
        t->epoch = 0;
    } else if (bump) {
        t->epoch++;
    }
    t->timeout_ms = timeout_ms;
    t->update_ms = kb_wall_ms();
    if (kb_txn_store(b, t))
        return KB_ERR_COORDINATOR_NOT_AVAILABLE;
    *out_pid = t->pid;
    *out_epoch = t->epoch;
    return KB_ERR_NONE;
}

/* ------------------------------------------------------------ AddPartitionsToTxn */

static int16_t partition_exists(struct kb_broker *b, const char *s, int16_t n, int32_t part)
{
    char name[256];
    klog_partition_t *p;
    if (kb_topic_name(s, n, name) || strcmp(name, KB_TXN_TOPIC) == 0)
        return KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    return klog_partition(b->log, name, part, &p) ? KB_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                                   : KB_ERR_NONE;
}

static int add_partitions(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int flex = q->flex;
    const char *tid;
    int16_t tlen;
    kb_rd_string(r, flex, &tid, &tlen);
    int64_t pid = kb_rd_i64(r);
    int16_t epoch = kb_rd_i16(r);
    int32_t ntopics = kb_rd_array(r, flex, flex ? 2 : 6);
    kb_rd_t at = *r;
    int16_t perr = KB_ERR_NONE; /* the first partition that cannot be added */
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        const char *s;
        int16_t n;
        kb_rd_string(r, flex, &s, &n);
        int32_t np = kb_rd_array(r, flex, 4);
        for (int32_t j = 0; j < np && !r->err; j++) {
            int32_t part = kb_rd_i32(r);
            if (!perr && !r->err)
                perr = partition_exists(b, s, n, part);
        }
        kb_rd_tags_if(r, flex);
    }
    kb_rd_tags_if(r, flex);
    if (r->err || ntopics < 0)
        return -1;
    int16_t err;
    struct kb_txn *t = txn_for(b, q, tid, tlen, pid, epoch, &err);
    if (t && !perr) {
        int was = t->status;
        txn_begin(t);
        kb_rd_t tr = at;
        for (int32_t i = 0; i < ntopics && !err; i++) {
            const char *s;
            int16_t n;
            kb_rd_string(&tr, flex, &s, &n);
            int32_t np = kb_rd_array(&tr, flex, 4);
            for (int32_t j = 0; j < np && !err; j++)
                if (kb_txn_add_part(t, s, (size_t)n, kb_rd_i32(&tr)))
                    err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
            kb_rd_tags_if(&tr, flex);
        }
        t->update_ms = kb_wall_ms();
        if (!err && kb_txn_store(b, t))
            err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
        if (err && was != KB_TX_ONGOING)
            t->status = was; /* nothing of it reached a partition */
    }
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        const char *s;
        int16_t n;
        kb_rd_string(&at, flex, &s, &n);
        int32_t np = kb_rd_array(&at, flex, 4);
        kb_put_string(w, flex, s ? s : "", n > 0 ? (size_t)n : 0);
        kb_put_array(w, flex, np);
        for (int32_t j = 0; j < np; j++) {
            int32_t part = kb_rd_i32(&at);
            int16_t e = err;
            if (!e && perr)
                e = partition_exists(b, s, n, part) ? KB_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                                    : 55; /* OPERATION_NOT_ATTEMPTED */
            kb_put_i32(w, part);
            kb_put_i16(w, e);
            kb_put_tags(w, flex);
        }
        kb_rd_tags_if(&at, flex);
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    return 0;
}

/* ------------------------------------------------------------ AddOffsetsToTxn */

static int add_offsets(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int flex = q->flex;
    const char *tid, *gid;
    int16_t tlen, glen;
    kb_rd_string(r, flex, &tid, &tlen);
    int64_t pid = kb_rd_i64(r);
    int16_t epoch = kb_rd_i16(r);
    kb_rd_string(r, flex, &gid, &glen);
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    int16_t err;
    struct kb_txn *t = txn_for(b, q, tid, tlen, pid, epoch, &err);
    if (t && glen <= 0)
        err = KB_ERR_INVALID_GROUP_ID;
    if (t && !err && kb_offsets_open(b, 1))
        err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    if (t && !err) {
        int was = t->status;
        txn_begin(t);
        t->update_ms = kb_wall_ms();
        if (kb_txn_add_part(t, KB_OFFSETS_TOPIC, strlen(KB_OFFSETS_TOPIC), 0) ||
            kb_txn_store(b, t)) {
            err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
            if (was != KB_TX_ONGOING)
                t->status = was;
        }
    }
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i16(w, err);
    kb_put_tags(w, flex);
    return 0;
}

/* ------------------------------------------------------------ TxnOffsetCommit */

/* Remember one pending offset (replacing an earlier one of the partition). */
static int pend(struct kb_txn *t, const char *gid, size_t glen, const char *topic, size_t tlen,
                int32_t part, int64_t off, int32_t le, const char *meta, size_t mlen)
{
    struct kb_txn_offset *o = NULL;
    for (size_t i = 0; i < t->noffs && !o; i++)
        if (t->offs[i].partition == part && strlen(t->offs[i].group) == glen &&
            !memcmp(t->offs[i].group, gid, glen) && strlen(t->offs[i].topic) == tlen &&
            !memcmp(t->offs[i].topic, topic, tlen))
            o = &t->offs[i];
    char *m = kb_strndup(meta ? meta : "", meta ? mlen : 0);
    if (!m)
        return -1;
    if (!o) {
        if (t->noffs == t->offs_cap) {
            size_t cap = t->offs_cap ? t->offs_cap * 2 : 8;
            struct kb_txn_offset *n = realloc(t->offs, cap * sizeof *n);
            if (!n) {
                free(m);
                return -1;
            }
            t->offs = n;
            t->offs_cap = cap;
        }
        o = &t->offs[t->noffs];
        *o = (struct kb_txn_offset){.group = kb_strndup(gid, glen),
                                    .topic = kb_strndup(topic, tlen)};
        if (!o->group || !o->topic) {
            free(o->group);
            free(o->topic);
            free(m);
            return -1;
        }
        o->partition = part;
        t->noffs++;
    }
    free(o->metadata);
    o->metadata = m;
    o->offset = off;
    o->leader_epoch = le;
    return 0;
}

int kb_txn_pend_replayed(struct kb_broker *b, int64_t pid, int16_t epoch, const char *group,
                         size_t glen, const char *topic, size_t tlen, int32_t partition,
                         int64_t offset, int32_t leader_epoch, const char *meta, size_t mlen)
{
    struct kb_txn *t = kb_txn_by_pid(b, pid);
    if (!t || t->epoch != epoch || t->status != KB_TX_ONGOING)
        return 0; /* not the open transaction of its producer: nothing pending */
    return pend(t, group, glen, topic, tlen, partition, offset, leader_epoch, meta, mlen);
}

/* Append the request's offsets as one transactional batch to
 * __consumer_offsets (*appended: it was; its fsync is group_commit.c's),
 * then remember them as pending in t. */
static int16_t commit_pending(struct kb_broker *b, struct kb_req *q, struct kb_txn *t,
                              const char *gid, int16_t glen, kb_rd_t r, int32_t ntopics,
                              int *appended)
{
    const int flex = q->flex, v = q->api_version;
    kb_wbuf_t data = {0};
    klog_builder_t *bl = NULL;
    int16_t err = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    int64_t now = kb_wall_ms();
    if (klog_builder_new(KLOG_COMPRESSION_NONE, &bl))
        return err;
    for (int pass = 0; pass < 2; pass++) {
        kb_rd_t tr = r;
        for (int32_t i = 0; i < ntopics; i++) {
            const char *s, *meta;
            int16_t n, mlen;
            kb_rd_string(&tr, flex, &s, &n);
            int32_t np = kb_rd_array(&tr, flex, 12);
            for (int32_t j = 0; j < np; j++) {
                int32_t part = kb_rd_i32(&tr);
                int64_t off = kb_rd_i64(&tr);
                int32_t le = v >= 2 ? kb_rd_i32(&tr) : -1;
                kb_rd_string(&tr, flex, &meta, &mlen);
                kb_rd_tags_if(&tr, flex);
                size_t ml = mlen > 0 ? (size_t)mlen : 0;
                if (pass == 0) {
                    size_t val_at, key_at = kb_offsets_put_record(
                        &data, gid, (size_t)glen, s, (size_t)n, part, off, le, meta, ml, now, &val_at);
                    if (data.oom)
                        goto out;
                    klog_record_t rec = {.timestamp = now, .key = data.p + key_at,
                                         .key_len = (int32_t)(val_at - key_at),
                                         .value = data.p + val_at,
                                         .value_len = (int32_t)(data.len - val_at)};
                    if (klog_builder_add(bl, &rec))
                        goto out;
                } else if (pend(t, gid, (size_t)glen, s, (size_t)n, part, off, le, meta, ml)) {
                    goto out;
                }
            }
            kb_rd_tags_if(&tr, flex);
        }
        if (pass == 0) {
            const void *bytes;
            size_t len;
            int32_t seq = kb_txn_offsets_seq(b, t->pid, t->epoch);
            int32_t count = (int32_t)klog_builder_count(bl);
            if (count == 0)
                break; /* nothing to commit */
            int rc = klog_builder_set_producer(bl, t->pid, t->epoch, seq, KLOG_ATTR_TRANSACTIONAL);
            if (!rc)
                rc = klog_builder_finish(bl, &bytes, &len);
            if (!rc)
                rc = klog_append_batch(b->groups->offsets, bytes, len, NULL);
            if (rc) {
                kb_log(b, "TxnOffsetCommit %s: %s", t->id, klog_strerror(rc));
                err = kb_commit_error(rc);
                goto out;
            }
            *appended = 1;
            kb_txn_offsets_seen(b, t->pid, t->epoch, (int64_t)seq + count);
        }
    }
    err = KB_ERR_NONE;
out:
    klog_builder_free(bl);
    kb_wbuf_free(&data);
    return err;
}

static int txn_offset_commit(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int flex = q->flex, v = q->api_version;
    const char *tid, *gid, *s;
    int16_t tlen, glen, n;
    kb_rd_string(r, flex, &tid, &tlen);
    kb_rd_string(r, flex, &gid, &glen);
    int64_t pid = kb_rd_i64(r);
    int16_t epoch = kb_rd_i16(r);
    int32_t gen = -1;
    const char *mid = NULL, *inst = NULL;
    int16_t midlen = 0, ilen = -1;
    if (v >= 3) {
        gen = kb_rd_i32(r);
        kb_rd_string(r, flex, &mid, &midlen);
        kb_rd_string(r, flex, &inst, &ilen); /* nullable */
    }
    int32_t ntopics = kb_rd_array(r, flex, flex ? 2 : 6);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        kb_rd_string(r, flex, &s, &n);
        int32_t np = kb_rd_array(r, flex, 12);
        for (int32_t j = 0; j < np && !r->err; j++) {
            const char *meta;
            int16_t mlen;
            (void)kb_rd_i32(r);
            (void)kb_rd_i64(r);
            if (v >= 2)
                (void)kb_rd_i32(r);
            kb_rd_string(r, flex, &meta, &mlen);
            kb_rd_tags_if(r, flex);
            if (!r->err && (n <= 0 || mlen > KB_MAX_OFFSET_METADATA))
                r->err = 1; /* no topic name, or metadata over Kafka's limit */
        }
        kb_rd_tags_if(r, flex);
    }
    kb_rd_tags_if(r, flex);
    if (r->err || ntopics < 0)
        return -1;
    int16_t err;
    struct kb_txn *t = txn_for(b, q, tid, tlen, pid, epoch, &err);
    if (t && glen <= 0)
        err = KB_ERR_INVALID_GROUP_ID;
    else if (t && (t->status != KB_TX_ONGOING ||
                   !kb_txn_has_part(t, KB_OFFSETS_TOPIC, strlen(KB_OFFSETS_TOPIC), 0)))
        err = KB_ERR_INVALID_TXN_STATE; /* AddOffsetsToTxn first */
    if (t && !err)
        err = kb_group_txn_check(b, gid, (size_t)glen, gen, mid, midlen, inst, ilen);
    int appended = 0;
    if (t && !err)
        err = commit_pending(b, q, t, gid, glen, at, ntopics, &appended);
    /* The answer waits for the batch's fsync (group_commit.c). */
    struct kb_commit *commit = appended ? kb_commit_new(NULL, 0) : NULL;
    if (appended && !commit)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        kb_rd_string(&at, flex, &s, &n);
        int32_t np = kb_rd_array(&at, flex, 12);
        kb_put_string(w, flex, s, (size_t)n);
        kb_put_array(w, flex, np);
        for (int32_t j = 0; j < np; j++) {
            const char *meta;
            int16_t mlen;
            kb_put_i32(w, kb_rd_i32(&at));
            (void)kb_rd_i64(&at);
            if (v >= 2)
                (void)kb_rd_i32(&at);
            kb_rd_string(&at, flex, &meta, &mlen);
            kb_rd_tags_if(&at, flex);
            if (commit && kb_commit_add(commit, NULL, 0, 0, 0, -1, NULL, 0, w->len))
                w->oom = 1;
            kb_put_i16(w, err);
            kb_put_tags(w, flex);
        }
        kb_rd_tags_if(&at, flex);
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    if (commit && w->oom) {
        kb_commit_free(commit);
        return -1;
    }
    return commit ? kb_commit_submit(b, q, commit) : 0;
}

/* ------------------------------------------------------------ EndTxn */

static int end_txn(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int flex = q->flex;
    const char *tid;
    int16_t tlen;
    kb_rd_string(r, flex, &tid, &tlen);
    int64_t pid = kb_rd_i64(r);
    int16_t epoch = kb_rd_i16(r);
    int commit = kb_rd_i8(r) != 0;
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    int16_t err;
    struct kb_txn *t = txn_for(b, q, tid, tlen, pid, epoch, &err);
    if (err == KB_ERR_CONCURRENT_TRANSACTIONS) {
        t = kb_txn_find(b, tid, (size_t)tlen);
        if ((t->status == KB_TX_PREPARE_COMMIT) == commit) /* a retry of the end that failed */
            err = kb_txn_end(b, t, commit) ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_NONE;
        else
            err = KB_ERR_INVALID_TXN_STATE;
    } else if (t) {
        if (t->status == KB_TX_ONGOING)
            err = kb_txn_end(b, t, commit) ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_NONE;
        else if (t->status != (commit ? KB_TX_COMPLETE_COMMIT : KB_TX_COMPLETE_ABORT))
            err = KB_ERR_INVALID_TXN_STATE; /* (the same end again is a retry: fine) */
    }
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i16(w, err);
    kb_put_tags(w, flex);
    return 0;
}

int kb_handle_txn(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    if (!kb_txns(b) || !kb_groups(b))
        return -1;
    switch (q->api_key) {
    case KB_API_ADD_PARTITIONS_TO_TXN: return add_partitions(b, q, r);
    case KB_API_ADD_OFFSETS_TO_TXN: return add_offsets(b, q, r);
    case KB_API_TXN_OFFSET_COMMIT: return txn_offset_commit(b, q, r);
    default: return end_txn(b, q, r);
    }
}

/* ------------------------------------------------------------ Produce */

int16_t kb_txn_check_produce(struct kb_broker *b, const klog_batch_info_t *bi, const char *topic,
                             int32_t partition)
{
    if (!(bi->attributes & KLOG_ATTR_TRANSACTIONAL))
        return KB_ERR_NONE; /* the partition refuses one inside an open transaction */
    struct kb_txn *t = kb_txn_by_pid(b, bi->producer_id);
    if (t && bi->producer_epoch < t->epoch)
        return KB_ERR_INVALID_PRODUCER_EPOCH;
    if (!t || bi->producer_epoch != t->epoch || t->status != KB_TX_ONGOING ||
        !kb_txn_has_part(t, topic, strlen(topic), partition))
        return KB_ERR_INVALID_TXN_STATE;
    return KB_ERR_NONE;
}
