/*
 * txn_state.c — the transaction coordinator's state and its log.
 *
 * Storage is Kafka's own: the topic __transaction_state (one partition,
 * retention unlimited), one record per state change of a transactional id,
 * appended with klog_append and fsynced with klog_flush before the request
 * that caused it is answered, in Kafka's schemas so Kafka's tools read it:
 *   key   v0: version i16 = 0 | transactional_id STR
 *   value v0: version i16 = 0 | producer_id i64 | producer_epoch i16
 *             | transaction_timeout_ms i32 | transaction_status i8
 *             | transaction_partitions ARRAY(topic STR | partition_ids
 *               ARRAY(i32)) | last_update_timestamp_ms i64
 *             | start_timestamp_ms i64
 * (status numbers as Kafka's TransactionState: Empty 0, Ongoing 1,
 * PrepareCommit 2, PrepareAbort 3, CompleteCommit 4, CompleteAbort 5).
 * The last record of each key wins at replay.
 *
 * Ending a transaction is Kafka's two-phase sequence, run to the end before
 * EndTxn is answered: PrepareCommit/PrepareAbort stored, then a COMMIT or
 * ABORT marker (klog_append_marker, fsynced) on every partition of the
 * transaction, __consumer_offsets included when it committed offsets, then
 * CompleteCommit/CompleteAbort stored. Recovery at start (kb_txn_load):
 * a transactional id left in Prepare* gets its markers again (a second
 * marker for a transaction already ended changes nothing) and its Complete
 * record; one left Ongoing stays open with its partitions, as in Kafka:
 * its producer goes on (AddPartitionsToTxn, Produce, EndTxn) as if nothing
 * had happened, and it is aborted only when its timeout, counted from its
 * start timestamp, expires. This runs before the group coordinator replays
 * __consumer_offsets, which puts the offsets of such a transaction back as
 * pending in it (group_commit.c).
 *
 * A transactional id with no transaction open (Empty, CompleteCommit,
 * CompleteAbort) whose state was last updated more than
 * --transactional-id-expiration ago (Kafka's transactional.id.expiration.ms,
 * 7 days) is forgotten, as Kafka's coordinator does: a tombstone (null
 * value) of its key is stored, which the replay honours and compaction
 * eventually keeps alone; a later InitProducerId with that id starts over
 * with a new producer id. Idle ids are looked for every
 * min(expiration, 1 hour), Kafka's cleanup interval.
 *
 * Offsets committed in a transaction (TxnOffsetCommit) are stored as
 * Kafka's group coordinator stores them: a transactional batch of the
 * producer's id and epoch in __consumer_offsets, which the marker commits or
 * aborts; the replay reads that topic read_committed. The sequences of
 * those batches are tracked per producer id (seqs[]), rebuilt at replay.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

struct kb_txns *kb_txns(struct kb_broker *b)
{
    if (!b->txns)
        b->txns = calloc(1, sizeof *b->txns);
    return b->txns;
}

struct kb_txn *kb_txn_find(struct kb_broker *b, const char *id, size_t len)
{
    for (struct kb_txn *t = b->txns ? b->txns->head : NULL; t; t = t->next)
        if (strlen(t->id) == len && memcmp(t->id, id, len) == 0)
            return t;
    return NULL;
}

struct kb_txn *kb_txn_by_pid(struct kb_broker *b, int64_t pid)
{
    for (struct kb_txn *t = b->txns ? b->txns->head : NULL; t; t = t->next)
        if (t->pid == pid)
            return t;
    return NULL;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

struct kb_txn *kb_txn_new(struct kb_broker *b, const char *id, size_t len)
{
    struct kb_txns *ts = kb_txns(b);
    if (!ts || ts->n >= KB_TXN_MAX)
        return NULL;
    struct kb_txn *t = calloc(1, sizeof *t);
    if (!t || !(t->id = dupn(id, len))) {
        free(t);
        return NULL;
    }
    t->pid = -1;
    t->epoch = -1;
    t->next = ts->head;
    ts->head = t;
    ts->n++;
    return t;
}

static void clear_txn(struct kb_txn *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        free(t->parts[i].topic);
    for (size_t i = 0; i < t->noffs; i++) {
        free(t->offs[i].group);
        free(t->offs[i].topic);
        free(t->offs[i].metadata);
    }
    t->nparts = t->noffs = 0;
}

int kb_txn_has_part(const struct kb_txn *t, const char *topic, size_t tlen, int32_t partition)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].partition == partition && strlen(t->parts[i].topic) == tlen &&
            memcmp(t->parts[i].topic, topic, tlen) == 0)
            return 1;
    return 0;
}

int kb_txn_add_part(struct kb_txn *t, const char *topic, size_t tlen, int32_t partition)
{
    if (kb_txn_has_part(t, topic, tlen, partition))
        return 0;
    if (t->nparts >= KB_TXN_MAX_PARTS)
        return -ENOSPC;
    if (t->nparts == t->parts_cap) {
        size_t cap = t->parts_cap ? t->parts_cap * 2 : 8;
        struct kb_txn_part *p = realloc(t->parts, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        t->parts = p;
        t->parts_cap = cap;
    }
    char *name = dupn(topic, tlen);
    if (!name)
        return -ENOMEM;
    t->parts[t->nparts++] = (struct kb_txn_part){.topic = name, .partition = partition};
    return 0;
}

/* ------------------------------------------------------------ the log */

static int txn_open_log(struct kb_broker *b, int create)
{
    struct kb_txns *ts = kb_txns(b);
    if (!ts)
        return -ENOMEM;
    if (ts->log)
        return 0;
    int rc = klog_partition(b->log, KB_TXN_TOPIC, 0, &ts->log);
    if (rc == KLOG_ENOTOPIC && create) {
        rc = klog_topic_create(b->log, KB_TXN_TOPIC, 1, NULL);
        if (rc && rc != KLOG_ETOPICEXISTS)
            return rc;
        rc = klog_partition(b->log, KB_TXN_TOPIC, 0, &ts->log);
    }
    if (rc) {
        ts->log = NULL;
        return rc;
    }
    return kb_topic_internal(b, KB_TXN_TOPIC);
}

/* Partitions grouped by topic, in the order they were added. */
static void put_parts(kb_wbuf_t *w, const struct kb_txn *t)
{
    size_t at = w->len;
    int32_t ntopics = 0;
    kb_put_i32(w, 0);
    unsigned char *done = calloc(t->nparts + 1, 1);
    if (!done) {
        w->oom = 1;
        return;
    }
    for (size_t i = 0; i < t->nparts; i++) {
        if (done[i])
            continue;
        ntopics++;
        kb_put_str(w, t->parts[i].topic, strlen(t->parts[i].topic));
        size_t cat = w->len;
        int32_t n = 0;
        kb_put_i32(w, 0);
        for (size_t j = i; j < t->nparts; j++)
            if (!done[j] && strcmp(t->parts[j].topic, t->parts[i].topic) == 0) {
                kb_put_i32(w, t->parts[j].partition);
                done[j] = 1;
                n++;
            }
        kb_patch_i32(w, cat, n);
    }
    free(done);
    kb_patch_i32(w, at, ntopics);
}

int kb_txn_store(struct kb_broker *b, struct kb_txn *t)
{
    int rc = txn_open_log(b, 1);
    if (rc)
        return rc;
    kb_wbuf_t w = {0};
    kb_put_i16(&w, 0);
    kb_put_str(&w, t->id, strlen(t->id));
    size_t val_at = w.len;
    kb_put_i16(&w, 0);
    kb_put_i64(&w, t->pid);
    kb_put_i16(&w, t->epoch);
    kb_put_i32(&w, t->timeout_ms);
    kb_put_i8(&w, (int8_t)t->status);
    put_parts(&w, t);
    kb_put_i64(&w, t->update_ms);
    kb_put_i64(&w, t->start_ms);
    if (w.oom) {
        kb_wbuf_free(&w);
        return -ENOMEM;
    }
    klog_record_t rec = {.timestamp = t->update_ms, .key = w.p, .key_len = (int32_t)val_at,
                         .value = w.p + val_at, .value_len = (int32_t)(w.len - val_at)};
    rc = klog_append(b->txns->log, &rec, 1, NULL);
    if (!rc)
        rc = klog_flush(b->txns->log);
    kb_wbuf_free(&w);
    if (rc)
        kb_log(b, "%s: %s", KB_TXN_TOPIC, klog_strerror(rc));
    return rc;
}

/* One record of the log into memory (the last one of a key wins). */
static int txn_replay_one(struct kb_broker *b, const klog_record_t *rec)
{
    kb_rd_t k;
    kb_rd_init(&k, rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0);
    const char *id;
    int16_t idlen;
    int16_t kv = kb_rd_i16(&k);
    kb_rd_str(&k, &id, &idlen);
    if (k.err || kv != 0 || idlen <= 0)
        return 0; /* not a transaction record */
    struct kb_txn *t = kb_txn_find(b, id, (size_t)idlen);
    if (rec->value_len < 0) {
        if (t)
            t->status = -1; /* tombstone: forgotten (dropped after the replay) */
        return 0;
    }
    if (!t && !(t = kb_txn_new(b, id, (size_t)idlen)))
        return -ENOMEM;
    kb_rd_t v;
    kb_rd_init(&v, rec->value, (size_t)rec->value_len);
    int16_t vv = kb_rd_i16(&v);
    t->pid = kb_rd_i64(&v);
    t->epoch = kb_rd_i16(&v);
    t->timeout_ms = kb_rd_i32(&v);
    t->status = kb_rd_i8(&v);
    clear_txn(t);
    int32_t ntopics = vv >= 1 ? kb_rd_array(&v, 1, 2) : kb_rd_count(&v, 6);
    for (int32_t i = 0; i < ntopics && !v.err; i++) {
        const char *topic;
        int16_t tl;
        kb_rd_string(&v, vv >= 1, &topic, &tl);
        int32_t n = vv >= 1 ? kb_rd_array(&v, 1, 4) : kb_rd_count(&v, 4);
        for (int32_t j = 0; j < n && !v.err; j++) {
            int32_t part = kb_rd_i32(&v);
            if (tl > 0 && kb_txn_add_part(t, topic, (size_t)tl, part))
                return -ENOMEM;
        }
        kb_rd_tags_if(&v, vv >= 1);
    }
    t->update_ms = kb_rd_i64(&v);
    t->start_ms = kb_rd_i64(&v);
    if (v.err || vv < 0 || vv > 1 || t->status < KB_TX_EMPTY || t->status > KB_TX_COMPLETE_ABORT)
        kb_log(b, "%s: transactional id %.*s: unreadable state (status %d)", KB_TXN_TOPIC,
               (int)idlen, id, t->status);
    return 0;
}

static void txn_free(struct kb_txn *t)
{
    clear_txn(t);
    free(t->parts);
    free(t->offs);
    free(t->id);
    free(t);
}

int kb_txn_load(struct kb_broker *b)
{
    int rc = txn_open_log(b, 0);
    if (rc == KLOG_ENOTOPIC)
        return 0;
    if (rc)
        return rc;
    klog_offsets_t o;
    klog_reader_t *rd;
    rc = klog_partition_offsets(b->txns->log, &o);
    if (!rc)
        rc = klog_reader_open(b->txns->log, o.log_start, &rd);
    if (rc)
        return rc;
    klog_record_t rec;
    int64_t n = 0;
    while ((rc = klog_reader_next(rd, &rec)) == 1 && rec.offset < o.high_watermark) {
        if ((rc = txn_replay_one(b, &rec)) != 0)
            break;
        n++;
    }
    klog_reader_close(rd);
    if (rc < 0)
        return rc;
    /* Drop tombstoned ids, end what the last run left open. */
    for (struct kb_txn **pp = &b->txns->head; *pp;) {
        struct kb_txn *t = *pp;
        if (t->status < 0) {
            *pp = t->next;
            b->txns->n--;
            txn_free(t);
            continue;
        }
        pp = &t->next;
        int commit = t->status == KB_TX_PREPARE_COMMIT;
        if (t->status == KB_TX_PREPARE_COMMIT || t->status == KB_TX_PREPARE_ABORT) {
            kb_log(b, "transaction %s: completing its %s", t->id, commit ? "commit" : "abort");
            rc = kb_txn_end(b, t, commit);
        } else if (t->status == KB_TX_ONGOING) {
            /* Kept open, its timeout counted from its start, as Kafka's
             * txnStartTimestamp + timeout: an expired one aborts at the
             * first tick. Its pending offsets come from __consumer_offsets
             * (kb_offsets_open). */
            int64_t left = t->start_ms + t->timeout_ms - kb_wall_ms();
            t->deadline = kb_now_ms() + (left > 0 ? left : 0);
            kb_log(b, "transaction %s: open at the last stop: kept, %lld ms left", t->id,
                   (long long)(left > 0 ? left : 0));
        }
        if (rc)
            return rc;
    }
    if (n)
        kb_log(b, "replayed %lld records of %s", (long long)n, KB_TXN_TOPIC);
    return 0;
}

/* ------------------------------------------------------------ ending */

int kb_txn_end(struct kb_broker *b, struct kb_txn *t, int commit)
{
    int prepare = commit ? KB_TX_PREPARE_COMMIT : KB_TX_PREPARE_ABORT;
    if (t->status != prepare) {
        int was = t->status;
        t->status = prepare;
        t->update_ms = kb_wall_ms();
        int rc = kb_txn_store(b, t);
        if (rc) {
            t->status = was;
            return rc;
        }
    }
    for (size_t i = 0; i < t->nparts; i++) {
        klog_partition_t *p;
        int rc = klog_partition(b->log, t->parts[i].topic, t->parts[i].partition, &p);
        if (rc == KLOG_ENOTOPIC || rc == KLOG_ENOPARTITION)
            continue; /* deleted since: nothing of it left to end */
        if (!rc)
            rc = klog_append_marker(p, t->pid, t->epoch, commit, 0, NULL);
        if (!rc)
            rc = klog_flush(p);
        if (rc) {
            kb_log(b, "transaction %s: marker on %s[%d]: %s", t->id, t->parts[i].topic,
                   t->parts[i].partition, klog_strerror(rc));
            return rc;
        }
    }
    for (size_t i = 0; commit && i < t->noffs; i++) {
        struct kb_txn_offset *o = &t->offs[i];
        if (kb_offsets_apply(b, o->group, o->topic, o->partition, o->offset, o->leader_epoch,
                             o->metadata))
            kb_log(b, "transaction %s: offset of group %s not kept in memory", t->id, o->group);
    }
    clear_txn(t);
    t->status = commit ? KB_TX_COMPLETE_COMMIT : KB_TX_COMPLETE_ABORT;
    t->update_ms = kb_wall_ms();
    int rc = kb_txn_store(b, t);
    if (rc)
        kb_log(b, "transaction %s: ended, but its Complete state was not stored", t->id);
    return 0; /* the markers are written: the transaction is over either way */
}

int kb_txn_fence_abort(struct kb_broker *b, struct kb_txn *t)
{
    if (t->status != KB_TX_ONGOING && t->status != KB_TX_PREPARE_ABORT)
        return 0;
    if (t->status == KB_TX_ONGOING) {
        if (t->epoch >= INT16_MAX - 1) {
            /* No epoch left to fence with: abort with the current one. */
            kb_log(b, "transaction %s: epoch exhausted, aborted without fencing", t->id);
        } else {
            t->epoch++;
        }
    }
    return kb_txn_end(b, t, 0);
}

/* ------------------------------------------------------------ timeouts */

/* Store the tombstone of t's key (fsynced). 0 or a klog error. */
static int txn_tombstone(struct kb_broker *b, const struct kb_txn *t)
{
    int rc = txn_open_log(b, 1);
    if (rc)
        return rc;
    kb_wbuf_t w = {0};
    kb_put_i16(&w, 0);
    kb_put_str(&w, t->id, strlen(t->id));
    if (w.oom)
        return -ENOMEM;
    klog_record_t rec = {.timestamp = kb_wall_ms(), .key = w.p, .key_len = (int32_t)w.len,
                         .value_len = KLOG_NULL_LEN};
    rc = klog_append(b->txns->log, &rec, 1, NULL);
    if (!rc)
        rc = klog_flush(b->txns->log);
    kb_wbuf_free(&w);
    if (rc)
        kb_log(b, "%s: tombstone of %s: %s", KB_TXN_TOPIC, t->id, klog_strerror(rc));
    return rc;
}

/* Forget the ids idle for longer than the expiration (Kafka's
 * removeExpiredTransactionalIds). */
static void txn_expire(struct kb_broker *b)
{
    int64_t cutoff = kb_wall_ms() - b->cfg.txn_id_expiration_ms;
    for (struct kb_txn **pp = &b->txns->head; *pp;) {
        struct kb_txn *t = *pp;
        int idle = t->status == KB_TX_EMPTY || t->status == KB_TX_COMPLETE_COMMIT ||
                   t->status == KB_TX_COMPLETE_ABORT;
        if (!idle || t->update_ms > cutoff || txn_tombstone(b, t)) {
            pp = &t->next;
            continue;
        }
        kb_log(b, "transactional id %s: idle for more than %lld ms: expired", t->id,
               (long long)b->cfg.txn_id_expiration_ms);
        *pp = t->next;
        b->txns->n--;
        txn_free(t);
    }
}

static int64_t expire_interval(const struct kb_broker *b)
{
    int64_t e = b->cfg.txn_id_expiration_ms;
    return e > 0 && e < 3600000 ? e : 3600000;
}

void kb_txn_tick(struct kb_broker *b, int64_t now)
{
    for (struct kb_txn *t = b->txns ? b->txns->head : NULL; t; t = t->next)
        if (t->status == KB_TX_ONGOING && now >= t->deadline) {
            kb_log(b, "transaction %s: open for more than %d ms: aborted", t->id, t->timeout_ms);
            if (kb_txn_fence_abort(b, t))
                t->deadline = now + 1000; /* try again in a second */
        }
    if (b->txns && b->txns->head && now >= b->txns->next_expire) {
        txn_expire(b);
        b->txns->next_expire = now + expire_interval(b);
    }
}

int kb_txn_next_timeout(struct kb_broker *b, int64_t now)
{
    int64_t next = -1;
    for (struct kb_txn *t = b->txns ? b->txns->head : NULL; t; t = t->next)
        if (t->status == KB_TX_ONGOING && (next < 0 || t->deadline - now < next))
            next = t->deadline - now < 0 ? 0 : t->deadline - now;
    if (b->txns && b->txns->head) {
        int64_t e = b->txns->next_expire - now < 0 ? 0 : b->txns->next_expire - now;
        if (next < 0 || e < next)
            next = e;
    }
    return next > INT32_MAX ? INT32_MAX : (int)next;
}

/* ------------------------------------------------------------ sequences */

static struct kb_txn_seq *seq_of(struct kb_broker *b, int64_t pid, int create)
{
    struct kb_txns *ts = kb_txns(b);
    if (!ts)
        return NULL;
    for (size_t i = 0; i < ts->nseqs; i++)
        if (ts->seqs[i].pid == pid)
            return &ts->seqs[i];
    if (!create)
        return NULL;
    if (ts->nseqs == ts->seqs_cap) {
        size_t cap = ts->seqs_cap ? ts->seqs_cap * 2 : 16;
        struct kb_txn_seq *s = realloc(ts->seqs, cap * sizeof *s);
        if (!s)
            return NULL;
        ts->seqs = s;
        ts->seqs_cap = cap;
    }
    ts->seqs[ts->nseqs] = (struct kb_txn_seq){.pid = pid, .epoch = -1, .next = 0};
    return &ts->seqs[ts->nseqs++];
}

void kb_txn_offsets_seen(struct kb_broker *b, int64_t pid, int16_t epoch, int64_t next)
{
    struct kb_txn_seq *s = seq_of(b, pid, 1);
    if (s) {
        s->epoch = epoch;
        s->next = (int32_t)(next > INT32_MAX ? next - INT32_MAX - 1 : next); /* wraps to 0 */
    }
}

int32_t kb_txn_offsets_seq(struct kb_broker *b, int64_t pid, int16_t epoch)
{
    struct kb_txn_seq *s = seq_of(b, pid, 0);
    return s && s->epoch == epoch ? s->next : 0;
}

int kb_txn_pending_offset(struct kb_broker *b, const char *group, size_t glen, const char *topic,
                          size_t tlen, int32_t partition)
{
    for (struct kb_txn *t = b->txns ? b->txns->head : NULL; t; t = t->next)
        for (size_t i = 0; i < t->noffs; i++) {
            const struct kb_txn_offset *o = &t->offs[i];
            if (o->partition == partition && strlen(o->group) == glen &&
                !memcmp(o->group, group, glen) && strlen(o->topic) == tlen &&
                !memcmp(o->topic, topic, tlen))
                return 1;
        }
    return 0;
}

void kb_txn_free_all(struct kb_broker *b)
{
    if (!b->txns)
        return;
    for (struct kb_txn *t = b->txns->head, *n; t; t = n) {
        n = t->next;
        txn_free(t);
    }
    free(b->txns->seqs);
    free(b->txns);
    b->txns = NULL;
}
