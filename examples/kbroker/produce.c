/*
 * produce.c — Produce (v0-v9): the client's batches are stored verbatim
 * through klog_append_batch, which validates sizes, magic, CRC and records,
 * applies Kafka's producer-state rules to idempotent and transactional
 * batches (a duplicate gets its original offsets; refusals map to Kafka's
 * codes in kb_append_error) and assigns the base offset. A transactional
 * batch must belong to an open transaction holding the partition
 * (kb_txn_check_produce). With acks=all the response waits for the
 * fsync of every partition the request appended to, done by the flush
 * thread (flush.c) so the event loop goes on serving other requests;
 * without a flush thread (it could not start) the fsync is done here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

/* ------------------------------------------------------------ Produce */

int16_t kb_append_error(int rc)
{
    switch (rc) {
    case 0: return KB_ERR_NONE;
    case KLOG_ETOOLARGE: return KB_ERR_MESSAGE_TOO_LARGE;
    case KLOG_ENOTOPIC:
    case KLOG_ENOPARTITION: return KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    case KLOG_EBADNAME: return KB_ERR_INVALID_TOPIC;
    case KLOG_EFAILED:
    case KLOG_EREADONLY:
    case -ENOSPC:
    case -EIO: return KB_ERR_KAFKA_STORAGE_ERROR;
    case KLOG_EMAGIC: return KB_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case KLOG_EOUTOFORDER:
    case KLOG_EEPOCHSEQ: return KB_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    case KLOG_EFENCED: return KB_ERR_INVALID_PRODUCER_EPOCH; /* Produce never says PRODUCER_FENCED */
    case KLOG_EUNKNOWNPRODUCER: return KB_ERR_UNKNOWN_PRODUCER_ID;
    case KLOG_ETXNSTATE: return KB_ERR_INVALID_TXN_STATE;
    case KLOG_ECOORDFENCED: return KB_ERR_TRANSACTION_COORDINATOR_FENCED;
    case KLOG_EEMPTY:
    case KLOG_ESEQUENCE: return KB_ERR_CORRUPT_MESSAGE;
    default:
        /* KLOG_ECORRUPT .. KLOG_EDECOMPRESS: sizes, magic, CRC, records */
        if (rc <= KLOG_ECORRUPT && rc >= KLOG_EDECOMPRESS)
            return KB_ERR_CORRUPT_MESSAGE;
        return KB_ERR_UNKNOWN;
    }
}

static uint32_t batch_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append every batch of one partition's records blob; *pp is the partition
 * once all are appended. With acks=all and no flush thread, fsync here. */
static int16_t produce_partition(struct kb_broker *b, const char *topic, int32_t idx,
                                 const uint8_t *rec, int32_t len, int acks, int64_t *base,
                                 klog_partition_t **pp)
{
    klog_partition_t *p;
    *pp = NULL;
    int rc = klog_partition(b->log, topic, idx, &p);
    if (rc)
        return kb_append_error(rc);
    if (!rec || len <= 0)
        return KB_ERR_CORRUPT_MESSAGE;
    size_t pos = 0, total = (size_t)len;
    while (pos < total) {
        if (total - pos >= 17 && rec[pos + 16] != 2)
            return KB_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT; /* magic 0/1 */
        if (total - pos < KLOG_BATCH_HEADER_SIZE)
            return KB_ERR_CORRUPT_MESSAGE;
        uint32_t blen = batch_be32(rec + pos + 8);
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || blen > total - pos - 12)
            return KB_ERR_CORRUPT_MESSAGE;
        klog_batch_info_t bi;
        if (klog_batch_header(rec + pos, 12 + (size_t)blen, &bi) == 0) {
            int16_t terr = kb_txn_check_produce(b, &bi, topic, idx);
            if (terr)
                return terr;
        }
        int64_t off;
        /* rec points into this connection's request buffer, which kbroker
         * owns; the epoch is outside the CRC */
        klog_batch_set_leader_epoch((uint8_t *)(uintptr_t)(rec + pos), KB_LEADER_EPOCH);
        rc = klog_append_batch(p, rec + pos, 12 + (size_t)blen, &off);
        if (rc) {
            kb_log(b, "produce %s[%d]: %s", topic, idx, klog_strerror(rc));
            if (rc == -EINVAL)
                return KB_ERR_INVALID_RECORD; /* producer id without sequence, control batch */
            return kb_append_error(rc);
        }
        if (pos == 0)
            *base = off;
        pos += 12 + (size_t)blen;
    }
    if (acks == -1 && !b->flusher) {
        rc = klog_flush(p);
        if (rc)
            return kb_append_error(rc);
    }
    *pp = p;
    return KB_ERR_NONE;
}

/* Walk the topic array without acting on it: a malformed request is
 * refused before any batch of it is stored. */
static int produce_well_formed(kb_rd_t r, int flex)
{
    int32_t ntopics = kb_rd_array(&r, flex, flex ? 3 : 6);
    for (int32_t i = 0; i < ntopics && !r.err; i++) {
        const char *s;
        int16_t slen;
        kb_rd_string(&r, flex, &s, &slen);
        int32_t nparts = kb_rd_array(&r, flex, flex ? 6 : 8);
        if (nparts < 0)
            return 0;
        for (int32_t j = 0; j < nparts && !r.err; j++) {
            const uint8_t *rec;
            int32_t rlen;
            (void)kb_rd_i32(&r);
            kb_rd_bytes_f(&r, flex, &rec, &rlen);
            kb_rd_tags_if(&r, flex);
        }
        kb_rd_tags_if(&r, flex);
    }
    kb_rd_tags_if(&r, flex);
    return !r.err && ntopics >= 0;
}

int kb_handle_produce(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int16_t v = q->api_version;
    int flex = q->flex;
    if (v >= 3) {
        const char *txn;
        int16_t txn_len;
        kb_rd_string(r, flex, &txn, &txn_len);
    }
    int16_t acks = kb_rd_i16(r);
    (void)kb_rd_i32(r); /* timeout_ms: no replicas to wait for */
    if (r->err || !produce_well_formed(*r, flex))
        return -1;
    int32_t ntopics = kb_rd_array(r, flex, flex ? 3 : 6);
    if (r->err || ntopics < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    struct kb_flush_job *job = NULL; /* acks=all: the partitions to fsync */
    kb_put_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        const char *s;
        int16_t slen;
        char name[256];
        kb_rd_string(r, flex, &s, &slen);
        int32_t nparts = kb_rd_array(r, flex, flex ? 6 : 8);
        if (r->err || nparts < 0) {
            kb_flush_job_free(job);
            return -1;
        }
        int16_t terr = (int16_t)kb_topic_name(s, slen, name);
        if (!terr && (strcmp(name, "__consumer_offsets") == 0 ||
                      strcmp(name, "__transaction_state") == 0))
            terr = KB_ERR_INVALID_TOPIC; /* internal: written by the coordinators only */
        kb_put_string(w, flex, s ? s : "", slen > 0 ? (size_t)slen : 0);
        kb_put_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t idx = kb_rd_i32(r);
            const uint8_t *rec;
            int32_t rlen;
            kb_rd_bytes_f(r, flex, &rec, &rlen);
            kb_rd_tags_if(r, flex);
            if (r->err) {
                kb_flush_job_free(job);
                return -1;
            }
            int64_t base = -1;
            int16_t err = terr;
            if (!err && acks != 0 && acks != 1 && acks != -1)
                err = KB_ERR_INVALID_REQUIRED_ACKS;
            klog_partition_t *p = NULL;
            if (!err)
                err = produce_partition(b, name, idx, rec, rlen, acks, &base, &p);
            kb_put_i32(w, idx);
            if (p && acks == -1 && b->flusher && kb_flush_add(&job, p, w->len)) {
                kb_flush_job_free(job);
                return -1; /* out of memory */
            }
            kb_put_i16(w, err);
            kb_put_i64(w, err ? -1 : base);
            if (v >= 2)
                kb_put_i64(w, -1); /* log_append_time_ms: CreateTime */
            if (v >= 5) {
                klog_offsets_t o;
                int64_t start = -1;
                if (!err && p && klog_partition_offsets(p, &o) == 0)
                    start = o.log_start;
                kb_put_i64(w, start);
            }
            if (v >= 8) {
                kb_put_array(w, flex, 0);          /* record_errors */
                kb_put_nstring(w, flex, NULL, 0); /* error_message */
            }
            kb_put_tags(w, flex);
        }
        kb_rd_tags_if(r, flex);
        kb_put_tags(w, flex);
    }
    kb_rd_tags_if(r, flex);
    if (v >= 1)
        kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_tags(w, flex);
    if (job && acks == -1) {
        /* Parked until the flush thread has fsynced every partition. */
        if (kb_resp_finish(q->resp) || kb_flush_submit(b, q->conn, q->resp, job)) {
            kb_flush_job_free(job);
            return -1;
        }
        return 0;
    }
    return acks == 0 ? 1 : 0;
}

