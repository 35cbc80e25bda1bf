/*
 * fetch.c — Fetch v4-v12: parse, long-poll, and build the response around
 * zero-copy leases.
 *
 * Response layout (kafka-protocol.md 3.4), per partition:
 *   partition i32 | error i16 | high_watermark i64 | last_stable_offset i64
 *   | aborted_transactions NARR | records_len i32 | <records>
 * With isolation_level 1 (read_committed) the lease stops at the last
 * stable offset (klog_lease_acquire_isolated) and aborted_transactions
 * lists the aborted transactions overlapping it (klog_lease_aborted), so
 * the client drops their records; read_uncommitted gets LSO = high
 * watermark and a null list. Control batches are sent as stored, as Kafka
 * does.
 * Everything but <records> is built in the response buffer; the records
 * are a klog lease (whole batches from the one holding fetch_offset, never
 * past the high watermark) sent later with sendfile. The size prefix is the
 * buffer bytes plus the lease bytes, so it is exact.
 *
 * Budget: each partition gets min(partition_max_bytes, what is left of
 * max_bytes); the first partition that returns data may exceed it by one
 * whole batch (Kafka's KIP-74 rule, which the lease implements); a later
 * partition whose first batch does not fit returns no records. No trailing
 * partial batch is ever sent.
 *
 * Long-poll: when no requested partition has data past its fetch offset
 * (and none has an error), the Fetch is parked with a deadline of
 * max_wait_ms; the loop re-checks parked Fetches when a partition's pollfd
 * fires (the high watermark moved) and on the earliest deadline. Only the
 * Fetch's own connection waits: its later responses queue behind it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

struct kb_fetch_part {
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
    klog_partition_t *p; /* NULL: unknown topic or partition */
};

struct kb_fetch_topic {
    const char *name; /* into names */
    int16_t len;
    int32_t nparts;
};

struct kb_fetch {
    struct kb_fetch *prev, *next; /* parked list */
    struct kb_conn *conn;
    struct kb_resp *resp;
    int32_t correlation_id;
    int16_t version;
    int flex;
    int32_t min_bytes, max_bytes;
    int8_t isolation;       /* 1: read_committed (up to the LSO) */
    int64_t deadline_ms;
    int parked;
    struct kb_fetch_topic *topics;
    int32_t ntopics;
    struct kb_fetch_part *parts;
    size_t nparts;
    char *names;
};

void kb_fetch_free(struct kb_fetch *f)
{
    if (!f)
        return;
    free(f->topics);
    free(f->parts);
    free(f->names);
    free(f);
}

void kb_fetch_unpark(struct kb_broker *b, struct kb_fetch *f)
{
    if (!f->parked)
        return;
    if (f->prev)
        f->prev->next = f->next;
    else
        b->parked = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
    f->parked = 0;
}

static void park(struct kb_broker *b, struct kb_fetch *f)
{
    f->prev = NULL;
    f->next = b->parked;
    if (b->parked)
        b->parked->prev = f;
    b->parked = f;
    f->parked = 1;
}

/* Parse the request into f. Two passes: count, then fill, so allocation is
 * bounded by what the request really contains. Returns 0 or -1. */
static int parse(struct kb_broker *b, struct kb_fetch *f, kb_rd_t *r, int32_t *max_wait)
{
    const int16_t v = f->version;
    const int flex = f->flex;
    /* bytes of one partition entry, by version */
    const size_t pbytes = 16 + (v >= 5 ? 8 : 0) + (v >= 9 ? 4 : 0) + (v >= 12 ? 5 : 0);
    (void)kb_rd_i32(r); /* replica_id: consumers send -1 */
    *max_wait = kb_rd_i32(r);
    f->min_bytes = kb_rd_i32(r);
    f->max_bytes = kb_rd_i32(r);
    f->isolation = kb_rd_i8(r) == 1; /* isolation_level */
    if (v >= 7) {
        /* Fetch sessions (KIP-227) are declined: every answer is a full
         * response with session id 0, which clients accept and so keep
         * sending full requests. */
        (void)kb_rd_i32(r); /* session_id */
        (void)kb_rd_i32(r); /* session_epoch */
    }
    int32_t ntopics = kb_rd_array(r, flex, flex ? 3 : 6);
    if (r->err || ntopics < 0)
        return -1;
    const size_t topics_at = r->pos;
    size_t nparts = 0, name_bytes = 0;
    for (int32_t i = 0; i < ntopics; i++) {
        const char *s;
        int16_t len;
        kb_rd_string(r, flex, &s, &len);
        int32_t n = kb_rd_array(r, flex, pbytes);
        if (r->err || n < 0)
            return -1;
        if (flex) {
            for (int32_t j = 0; j < n && !r->err; j++) {
                if (r->len - r->pos < pbytes - 1) {
                    r->err = 1;
                    break;
                }
                r->pos += pbytes - 1; /* fixed fields, then the tags */
                kb_rd_tags(r);
            }
            kb_rd_tags(r);
            if (r->err)
                return -1;
        } else {
            r->pos += (size_t)n * pbytes; /* count was checked against the bytes left */
        }
        nparts += (size_t)n;
        name_bytes += len > 0 ? (size_t)len + 1 : 1;
    }
    f->topics = calloc((size_t)ntopics + 1, sizeof *f->topics);
    f->parts = calloc(nparts + 1, sizeof *f->parts);
    f->names = malloc(name_bytes + 1);
    if (!f->topics || !f->parts || !f->names)
        return -1;
    f->ntopics = ntopics;
    f->nparts = nparts;
    r->pos = topics_at;
    size_t pi = 0, ni = 0;
    for (int32_t i = 0; i < ntopics; i++) {
        const char *s;
        int16_t len;
        kb_rd_string(r, flex, &s, &len);
        int32_t n = kb_rd_array(r, flex, pbytes);
        char *name = f->names + ni;
        if (len > 0)
            memcpy(name, s, (size_t)len);
        name[len > 0 ? len : 0] = '\0';
        ni += len > 0 ? (size_t)len + 1 : 1;
        f->topics[i] = (struct kb_fetch_topic){name, len > 0 ? len : 0, n};
        klog_topic_t *t = NULL;
        if (len <= 0 || memchr(name, '\0', (size_t)len) || klog_topic_get(b->log, name, &t))
            t = NULL;
        for (int32_t j = 0; j < n; j++, pi++) {
            struct kb_fetch_part *fp = &f->parts[pi];
            fp->partition = kb_rd_i32(r);
            if (v >= 9)
                (void)kb_rd_i32(r); /* current_leader_epoch */
            fp->offset = kb_rd_i64(r);
            if (v >= 12)
                (void)kb_rd_i32(r); /* last_fetched_epoch */
            if (v >= 5)
                (void)kb_rd_i64(r); /* log_start_offset: a follower's */
            fp->max_bytes = kb_rd_i32(r);
            kb_rd_tags_if(r, flex);
            if (!t || klog_partition_get(t, fp->partition, &fp->p))
                fp->p = NULL;
        }
        kb_rd_tags_if(r, flex);
    }
    if (v >= 7) {
        /* forgotten_topics_data: only meaningful inside a session */
        int32_t nf = kb_rd_array(r, flex, 4);
        for (int32_t i = 0; i < nf && !r->err; i++) {
            const char *s;
            int16_t len;
            kb_rd_string(r, flex, &s, &len);
            int32_t np = kb_rd_array(r, flex, 4);
            for (int32_t j = 0; j < np && !r->err; j++)
                (void)kb_rd_i32(r);
            kb_rd_tags_if(r, flex);
        }
    }
    if (v >= 11) {
        const char *rack;
        int16_t rlen;
        kb_rd_string(r, flex, &rack, &rlen);
    }
    kb_rd_tags_if(r, flex);
    return r->err ? -1 : 0;
}

/* Would answering now return data or an error? (No leases taken.) */
static int has_news(const struct kb_fetch *f)
{
    for (size_t i = 0; i < f->nparts; i++) {
        const struct kb_fetch_part *fp = &f->parts[i];
        klog_offsets_t o;
        if (!fp->p || klog_partition_offsets(fp->p, &o))
            return 1;
        int64_t lso = o.high_watermark;
        if (f->isolation && klog_partition_lso(fp->p, &lso))
            return 1;
        if (fp->offset < lso || fp->offset > o.high_watermark || fp->offset < o.log_start)
            return 1; /* data, or out of range (an error to answer now) */
    }
    return 0;
}

/* Build the response. Returns 1 when built, 0 when it should wait longer
 * (not force and fewer than min_bytes), -1 on allocation failure. */
static int build(struct kb_fetch *f, int force)
{
    struct kb_resp *resp = f->resp;
    kb_wbuf_t *w = &resp->buf;
    const int16_t v = f->version;
    const int flex = f->flex;
    kb_resp_begin(resp, f->correlation_id);
    kb_put_tags(w, flex); /* response header v1 */
    kb_put_i32(w, 0);     /* throttle_time_ms */
    if (v >= 7) {
        kb_put_i16(w, KB_ERR_NONE);
        kb_put_i32(w, 0); /* session_id: no session */
    }
    kb_put_array(w, flex, f->ntopics);
    size_t budget = f->max_bytes > 0 ? (size_t)f->max_bytes : 0, used = 0;
    int errors = 0;
    size_t pi = 0;
    for (int32_t i = 0; i < f->ntopics; i++) {
        kb_put_string(w, flex, f->topics[i].name, (size_t)f->topics[i].len);
        kb_put_array(w, flex, f->topics[i].nparts);
        for (int32_t j = 0; j < f->topics[i].nparts; j++, pi++) {
            struct kb_fetch_part *fp = &f->parts[pi];
            int16_t err = KB_ERR_NONE;
            int64_t hw = -1, start = -1, lso = -1;
            klog_lease_t *lease = NULL;
            klog_offsets_t o;
            if (!fp->p || klog_partition_offsets(fp->p, &o)) {
                err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                hw = lso = o.high_watermark;
                start = o.log_start;
                if (fp->offset < o.log_start || fp->offset > hw)
                    err = KB_ERR_OFFSET_OUT_OF_RANGE;
                else if (f->isolation && klog_partition_lso(fp->p, &lso))
                    err = KB_ERR_KAFKA_STORAGE_ERROR;
            }
            if (!err && fp->offset < lso) {
                size_t left = budget > used ? budget - used : 0;
                size_t want = fp->max_bytes > 0 ? (size_t)fp->max_bytes : 0;
                if (want > left)
                    want = left;
                if (used == 0 || want > 0) {
                    int rc = klog_lease_acquire_isolated(fp->p, fp->offset, want,
                                                         f->isolation
                                                             ? KLOG_ISOLATION_READ_COMMITTED
                                                             : KLOG_ISOLATION_READ_UNCOMMITTED,
                                                         &lease);
                    if (rc == KLOG_EOFFSET)
                        err = KB_ERR_OFFSET_OUT_OF_RANGE;
                    else if (rc)
                        err = KB_ERR_KAFKA_STORAGE_ERROR;
                    if (rc)
                        lease = NULL;
                    /* Only the first partition with data may go over budget. */
                    if (lease && (klog_lease_bytes(lease) == 0 ||
                                  (used > 0 && klog_lease_bytes(lease) > want))) {
                        klog_lease_release(lease);
                        lease = NULL;
                    }
                }
            }
            errors += err != KB_ERR_NONE;
            size_t n = lease ? klog_lease_bytes(lease) : 0;
            kb_put_i32(w, fp->partition);
            kb_put_i16(w, err);
            kb_put_i64(w, hw);
            kb_put_i64(w, lso); /* last_stable_offset (= HWM read uncommitted) */
            if (v >= 5)
                kb_put_i64(w, start);
            if (f->isolation && !err) {
                /* the aborted transactions of the leased range, so the
                 * client drops their records */
                size_t na = 0;
                const klog_aborted_txn_t *ab = lease ? klog_lease_aborted(lease, &na) : NULL;
                kb_put_array(w, flex, (int32_t)na);
                for (size_t k = 0; k < na; k++) {
                    kb_put_i64(w, ab[k].producer_id);
                    kb_put_i64(w, ab[k].first_offset);
                    kb_put_tags(w, flex);
                }
            } else {
                kb_put_array(w, flex, -1); /* aborted_transactions: null */
            }
            if (v >= 11)
                kb_put_i32(w, -1); /* preferred_read_replica: this node */
            if (flex)
                kb_put_uvarint(w, (uint64_t)n + 1); /* compact records, never null */
            else
                kb_put_i32(w, (int32_t)n);
            if (lease) {
                if (kb_resp_add_lease(resp, lease))
                    return -1;
                used += n;
            }
            kb_put_tags(w, flex);
        }
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    if (!force && !errors && (used == 0 || (int64_t)used < (int64_t)f->min_bytes)) {
        kb_resp_clear(resp);
        return 0;
    }
    return kb_resp_finish(resp) ? -1 : 1;
}

int kb_handle_fetch(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    struct kb_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->version = q->api_version;
    f->flex = q->flex;
    int32_t max_wait = 0;
    if (parse(b, f, r, &max_wait)) {
        kb_fetch_free(f);
        return -1;
    }
    f->conn = q->conn;
    f->resp = q->resp;
    f->correlation_id = q->correlation_id;
    int force = max_wait <= 0;
    int rc = (force || has_news(f)) ? build(f, force) : 0;
    if (rc != 0) {
        kb_fetch_free(f);
        if (rc < 0)
            return -1;
        /* built: the caller's finish patches the same size again */
        return 0;
    }
    /* Park until data arrives or max_wait_ms passes. */
    for (size_t i = 0; i < f->nparts; i++)
        if (f->parts[i].p && kb_net_watch_partition(b, f->parts[i].p))
            kb_log(b, "fetch: no pollfd for a partition; waking on the deadline");
    f->deadline_ms = kb_now_ms() + max_wait;
    q->resp->ready = 0;
    q->resp->fetch = f;
    park(b, f);
    return 0;
}

int kb_fetch_recheck(struct kb_broker *b, int64_t now_ms)
{
    int done = 0;
    struct kb_fetch *f = b->parked, *next;
    for (; f; f = next) {
        next = f->next;
        int force = now_ms >= f->deadline_ms || b->stop;
        int rc = (force || has_news(f)) ? build(f, force) : 0;
        if (rc == 0)
            continue;
        struct kb_resp *resp = f->resp;
        struct kb_conn *c = f->conn;
        kb_fetch_unpark(b, f);
        resp->fetch = NULL;
        resp->ready = 1;
        if (rc < 0) {
            kb_resp_clear(resp);
            resp->kill = 1;
        }
        kb_fetch_free(f);
        kb_net_resp_ready(b, c);
        done++;
    }
    return done;
}

int kb_fetch_next_timeout(struct kb_broker *b, int64_t now_ms)
{
    int64_t best = -1;
    for (struct kb_fetch *f = b->parked; f; f = f->next) {
        int64_t d = f->deadline_ms - now_ms;
        if (d < 0)
            d = 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best > 1000000 ? 1000000 : (int)best;
}

void kb_fetch_forget_topic(struct kb_broker *b, const char *topic)
{
    for (struct kb_fetch *f = b->parked; f; f = f->next)
        for (size_t i = 0; i < f->nparts; i++)
            if (f->parts[i].p && strcmp(klog_partition_topic(f->parts[i].p), topic) == 0)
                f->parts[i].p = NULL;
}
