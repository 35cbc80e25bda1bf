/*
 * batch_filter.c — rewriting one RecordBatch v2 with some of its records
 * removed, as Kafka's cleaner does (MemoryRecords.filterTo and
 * buildRetainedRecordsInto), and the 61-byte empty batch that stands in for
 * a batch whose records are all gone when producer state needs it
 * (DefaultRecordBatch.writeEmptyHeader).
 *
 * What a rebuilt batch keeps of the original (kafka-format.md 1.1, 6):
 * baseOffset and lastOffsetDelta (so the producer's last sequence still
 * ends where it did), partitionLeaderEpoch, producerId, producerEpoch,
 * baseSequence, the compression codec, the timestamp type and the
 * transactional and control bits. Each kept record keeps its offset,
 * timestamp, key, value and headers byte for byte; only its
 * timestampDelta and offsetDelta are re-encoded against the new batch's
 * base (offsetDelta stays the same since baseOffset does). baseTimestamp
 * becomes the first kept record's timestamp, or the delete horizon when
 * one is set (attribute bit 6, KIP-534); maxTimestamp the largest kept
 * timestamp (LogAppendTime batches keep theirs). The CRC is recomputed.
 *
 * The input must be a whole batch whose header and records the caller has
 * validated (klog_batch_validate with KLOG_VALIDATE_RECORDS); the parser
 * here still bounds every read and fails with the record grammar's errors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"

/* One record's raw parts inside a records stream. */
typedef struct raw_rec {
    int64_t ts_delta;
    int32_t off_delta;
    const uint8_t *key_field; /* from the key length varint to the end of the record */
    size_t key_field_len;
    uint8_t attr;
} raw_rec_t;

/* Parse the record at *pp (grammar checked by klog__record_decode first). */
static int parse_raw(const uint8_t **pp, const uint8_t *end, raw_rec_t *r, klog_record_t *view)
{
    const uint8_t *start = *pp;
    int rc = klog__record_decode(pp, end, view, NULL, NULL);
    if (rc)
        return rc;
    const uint8_t *p = start;
    int32_t len;
    if (klog__varint_get(&p, end, &len))
        return KLOG_ERECLEN;
    if (p >= end)
        return KLOG_ETRUNCATED;
    r->attr = *p++;
    if (klog__varlong_get(&p, end, &r->ts_delta) || klog__varint_get(&p, end, &r->off_delta))
        return KLOG_ERECLEN;
    r->key_field = p;
    r->key_field_len = (size_t)(*pp - p);
    return 0;
}

/* Append one record, re-encoded with new deltas, to out. */
static int put_record(klog__buf_t *out, const raw_rec_t *r, int64_t ts_delta)
{
    uint8_t head[1 + KLOG__VARLONG_MAX + KLOG__VARINT_MAX];
    size_t h = 0;
    head[h++] = r->attr;
    h += klog__varlong_put(head + h, ts_delta);
    h += klog__varint_put(head + h, r->off_delta);
    size_t body = h + r->key_field_len;
    if (body > INT32_MAX)
        return KLOG_ETOOLARGE;
    uint8_t lenb[KLOG__VARINT_MAX];
    size_t l = klog__varint_put(lenb, (int32_t)body);
    int rc = klog__buf_reserve(out, l + body);
    if (rc)
        return rc;
    memcpy(out->data + out->len, lenb, l);
    memcpy(out->data + out->len + l, head, h);
    memcpy(out->data + out->len + l + h, r->key_field, r->key_field_len);
    out->len += l + body;
    return 0;
}

/* Fill the 61-byte header at b (records and attributes already decided)
 * and the CRC over [21, len). */
static void put_header(uint8_t *b, size_t len, const klog_batch_info_t *in, int16_t attr,
                       int64_t base_ts, int64_t max_ts, int32_t count)
{
    klog__store64(b, (uint64_t)in->base_offset);
    klog__store32(b + 8, (uint32_t)(len - 12));
    klog__store32(b + 12, (uint32_t)in->leader_epoch);
    b[16] = 2;
    klog__store16(b + 21, (uint16_t)attr);
    klog__store32(b + 23, (uint32_t)in->last_offset_delta);
    klog__store64(b + 27, (uint64_t)base_ts);
    klog__store64(b + 35, (uint64_t)max_ts);
    klog__store64(b + 43, (uint64_t)in->producer_id);
    klog__store16(b + 51, (uint16_t)in->producer_epoch);
    klog__store32(b + 53, (uint32_t)in->base_sequence);
    klog__store32(b + 57, (uint32_t)count);
    klog__store32(b + KLOG__CRC_OFFSET, klog_crc32c(0, b + KLOG__ATTR_OFFSET, len - KLOG__ATTR_OFFSET));
}

int klog__batch_empty(const klog_batch_info_t *in, klog__buf_t *out)
{
    out->len = 0;
    int rc = klog__buf_reserve(out, KLOG_BATCH_HEADER_SIZE);
    if (rc)
        return rc;
    memset(out->data, 0, KLOG_BATCH_HEADER_SIZE);
    int16_t attr = (int16_t)(in->attributes & ~KLOG_ATTR_CODEC_MASK & ~KLOG__ATTR_DELETE_HORIZON);
    put_header(out->data, KLOG_BATCH_HEADER_SIZE, in, attr, in->max_timestamp, in->max_timestamp,
               0);
    out->len = KLOG_BATCH_HEADER_SIZE;
    return 0;
}

int klog__batch_filter(const uint8_t *batch, klog__filter_t *f, klog__buf_t *out)
{
    klog_batch_info_t in;
    int rc = klog__batch_peek(batch, f->len, &in);
    if (rc)
        return rc;
    if (in.size > f->len)
        return KLOG_ETRUNCATED;
    const uint8_t *p = batch + KLOG_BATCH_HEADER_SIZE, *end = batch + in.size;
    if (in.compression != KLOG_COMPRESSION_NONE) {
        rc = klog__decompress(in.compression, f->ctx, p, (size_t)(end - p), &f->scratch);
        if (rc)
            return rc;
        p = f->scratch.data;
        end = p + f->scratch.len;
    }
    /* Pass 1: decide. */
    f->kept = f->removed = 0;
    f->kept_tombstones = 0;
    if (f->cap < (size_t)in.record_count) {
        uint8_t *k = klog__realloc(f->keep, (size_t)in.record_count + 1);
        if (!k)
            return -ENOMEM;
        f->keep = k;
        f->cap = (size_t)in.record_count;
    }
    const uint8_t *q = p;
    int64_t first_ts = 0, max_ts = INT64_MIN;
    for (int32_t i = 0; i < in.record_count; i++) {
        raw_rec_t r;
        klog_record_t v;
        rc = parse_raw(&q, end, &r, &v);
        if (rc)
            return rc;
        v.offset = in.base_offset + r.off_delta;
        v.timestamp = (int64_t)((uint64_t)in.base_timestamp + (uint64_t)r.ts_delta);
        int k = f->keep_fn(f->arg, &in, &v);
        if (k < 0)
            return k;
        f->keep[i] = (uint8_t)(k != 0);
        if (k) {
            if (f->kept == 0)
                first_ts = v.timestamp;
            if (v.timestamp > max_ts)
                max_ts = v.timestamp;
            f->kept++;
            if (v.value_len == KLOG_NULL_LEN)
                f->kept_tombstones++;
        } else {
            f->removed++;
        }
    }
    if (q != end)
        return KLOG_ERECCOUNT;
    int has_horizon = (in.attributes & KLOG__ATTR_DELETE_HORIZON) != 0;
    int set_horizon = !has_horizon && f->horizon >= 0 && (f->kept_tombstones || f->marker);
    f->rewritten = 0;
    if (f->kept == 0 || (f->removed == 0 && !set_horizon))
        return 0; /* the caller drops it, keeps it empty, or copies it verbatim */
    /* Pass 2: encode the kept records against the new base timestamp. */
    int64_t base_ts = set_horizon ? f->horizon : has_horizon ? in.base_timestamp : first_ts;
    f->records.len = 0;
    q = p;
    for (int32_t i = 0; i < in.record_count; i++) {
        raw_rec_t r;
        klog_record_t v;
        rc = parse_raw(&q, end, &r, &v);
        if (rc)
            return rc;
        if (!f->keep[i])
            continue;
        int64_t ts = (int64_t)((uint64_t)in.base_timestamp + (uint64_t)r.ts_delta);
        rc = put_record(&f->records, &r, (int64_t)((uint64_t)ts - (uint64_t)base_ts));
        if (rc)
            return rc;
    }
    out->len = 0;
    rc = klog__buf_reserve(out, KLOG_BATCH_HEADER_SIZE);
    if (rc)
        return rc;
    memset(out->data, 0, KLOG_BATCH_HEADER_SIZE);
    out->len = KLOG_BATCH_HEADER_SIZE;
    if (in.compression != KLOG_COMPRESSION_NONE)
        rc = klog__compress(in.compression, f->ctx, f->records.data, f->records.len, out);
    else
        rc = klog__buf_append(out, f->records.data, f->records.len);
    if (rc)
        return rc;
    if (out->len - 12 > (size_t)INT32_MAX)
        return KLOG_ETOOLARGE;
    int16_t attr = in.attributes;
    if (set_horizon)
        attr = (int16_t)(attr | KLOG__ATTR_DELETE_HORIZON);
    if (in.attributes & KLOG_ATTR_LOG_APPEND_TIME)
        max_ts = in.max_timestamp;
    put_header(out->data, out->len, &in, attr, base_ts, max_ts, (int32_t)f->kept);
    f->rewritten = 1;
    return 0;
}

void klog__filter_free(klog__filter_t *f)
{
    free(f->keep);
    klog__buf_free(&f->scratch);
    klog__buf_free(&f->records);
    f->keep = NULL;
    f->cap = 0;
}
