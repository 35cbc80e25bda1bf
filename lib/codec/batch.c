/*
 * batch.c — the RecordBatch v2 header, batch validation, and the record
 * grammar (kafka-format.md 1.1-1.4).
 *
 * Header (61 bytes, big-endian):
 *    0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 |
 *   16 magic i8 = 2 | 17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 |
 *   27 baseTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 |
 *   51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 | 61 records
 * Total size = batchLength + 12 >= 61. The CRC-32C covers [21, end), so
 * baseOffset and the leader epoch can be rewritten without touching it.
 *
 * Record: varint length | i8 attributes | varlong timestampDelta |
 *   varint offsetDelta | varint keyLen (-1 null) | key | varint valueLen |
 *   value | varint headerCount | headers (varint keyLen >= 0 | key |
 *   varint valueLen (-1 null) | value).
 *
 * A batch is valid when: it is at least 61 bytes and its size fields agree
 * with the buffer, magic is 2, the CRC matches, and (record level) the
 * records section decodes into exactly recordsCount records, each of which
 * consumes exactly its declared length, with offset deltas strictly
 * increasing in [0, lastOffsetDelta]. Each way of failing has its own error
 * code so a caller (and a test) can tell which rule fired.
 */
#include <errno.h>
#include <stdlib.h>

#include "codec/codec.h"
#include "platform/bytes.h"

int klog__batch_peek(const uint8_t *b, size_t len, klog_batch_info_t *info)
{
    if (!b || len < 17)
        return KLOG_ETRUNCATED;
    if ((int8_t)b[16] != 2)
        return KLOG_EMAGIC;
    if (len < KLOG_BATCH_HEADER_SIZE)
        return KLOG_ETRUNCATED;
    int32_t batch_length = (int32_t)klog__load32(b + 8);
    if (batch_length < KLOG_BATCH_HEADER_SIZE - 12)
        return KLOG_EBATCHSIZE;
    info->base_offset = (int64_t)klog__load64(b);
    info->batch_length = batch_length;
    info->leader_epoch = (int32_t)klog__load32(b + 12);
    info->magic = 2;
    info->crc = klog__load32(b + KLOG__CRC_OFFSET);
    info->attributes = (int16_t)klog__load16(b + 21);
    info->last_offset_delta = (int32_t)klog__load32(b + 23);
    info->base_timestamp = (int64_t)klog__load64(b + 27);
    info->max_timestamp = (int64_t)klog__load64(b + 35);
    info->producer_id = (int64_t)klog__load64(b + 43);
    info->producer_epoch = (int16_t)klog__load16(b + 51);
    info->base_sequence = (int32_t)klog__load32(b + 53);
    info->record_count = (int32_t)klog__load32(b + 57);
    info->compression = info->attributes & KLOG_ATTR_CODEC_MASK;
    info->size = (size_t)batch_length + 12;
    return 0;
}

int klog_batch_header(const void *buf, size_t len, klog_batch_info_t *info)
{
    klog_batch_info_t bi;
    int rc = klog__batch_peek(buf, len, &bi);
    if (rc)
        return rc;
    if (bi.size > len)
        return KLOG_ETRUNCATED;
    *info = bi;
    return 0;
}

void klog_batch_set_base_offset(void *buf, int64_t base_offset)
{
    klog__store64(buf, (uint64_t)base_offset);
}

void klog_batch_set_leader_epoch(void *buf, int32_t epoch)
{
    klog__store32((uint8_t *)buf + 12, (uint32_t)epoch);
}

/* A varint inside a record body that the body's end cuts short means the
 * declared length was too small for the fields. */
#define BODY_VARINT(get, p, end, out)                                          \
    do {                                                                       \
        int rc_ = get(&(p), (end), (out));                                     \
        if (KLOG__UNLIKELY(rc_))                                               \
            return rc_ == KLOG_EVARINT ? KLOG_EVARINT : KLOG_ERECLEN;          \
    } while (0)

int klog__record_decode(const uint8_t **pp, const uint8_t *end, klog_record_t *rec,
                        klog_header_t **hdrs, size_t *hdr_cap)
{
    const uint8_t *p = *pp;
    int32_t len;
    BODY_VARINT(klog__varint_get, p, end, &len);
    if (KLOG__UNLIKELY(len < 0 || len > end - p))
        return KLOG_ERECLEN;
    const uint8_t *bend = p + len;
    if (KLOG__UNLIKELY(p >= bend))
        return KLOG_ERECLEN;
    p++; /* attributes: unused */

    int64_t ts_delta;
    int32_t off_delta, klen, vlen, hcount;
    BODY_VARINT(klog__varlong_get, p, bend, &ts_delta);
    BODY_VARINT(klog__varint_get, p, bend, &off_delta);
    rec->timestamp = ts_delta;
    rec->offset = off_delta;

    BODY_VARINT(klog__varint_get, p, bend, &klen);
    if (klen < 0) {
        if (KLOG__UNLIKELY(klen != KLOG_NULL_LEN))
            return KLOG_ENEGLEN;
        rec->key = NULL;
    } else {
        if (KLOG__UNLIKELY(klen > bend - p))
            return KLOG_ERECOVERRUN;
        rec->key = p;
        p += klen;
    }
    rec->key_len = klen;

    BODY_VARINT(klog__varint_get, p, bend, &vlen);
    if (vlen < 0) {
        if (KLOG__UNLIKELY(vlen != KLOG_NULL_LEN))
            return KLOG_ENEGLEN;
        rec->value = NULL;
    } else {
        if (KLOG__UNLIKELY(vlen > bend - p))
            return KLOG_ERECOVERRUN;
        rec->value = p;
        p += vlen;
    }
    rec->value_len = vlen;

    BODY_VARINT(klog__varint_get, p, bend, &hcount);
    if (KLOG__UNLIKELY(hcount < 0 || hcount > bend - p))
        return KLOG_EHDRCOUNT;
    rec->header_count = (uint32_t)hcount;
    rec->headers = NULL;
    if (hcount > 0) {
        klog_header_t *h = NULL;
        if (hdrs) {
            if ((size_t)hcount > *hdr_cap) {
                size_t cap = *hdr_cap ? *hdr_cap : 8;
                while (cap < (size_t)hcount)
                    cap *= 2;
                klog_header_t *nh = klog__realloc(*hdrs, cap * sizeof *nh);
                if (!nh)
                    return -ENOMEM;
                *hdrs = nh;
                *hdr_cap = cap;
            }
            h = *hdrs;
            rec->headers = h;
        }
        for (int32_t i = 0; i < hcount; i++) {
            int32_t hk, hv;
            BODY_VARINT(klog__varint_get, p, bend, &hk);
            if (KLOG__UNLIKELY(hk < 0))
                return KLOG_EHDRKEY;
            if (KLOG__UNLIKELY(hk > bend - p))
                return KLOG_ERECOVERRUN;
            const uint8_t *key = p;
            p += hk;
            BODY_VARINT(klog__varint_get, p, bend, &hv);
            const uint8_t *val = NULL;
            if (hv < 0) {
                if (KLOG__UNLIKELY(hv != KLOG_NULL_LEN))
                    return KLOG_ENEGLEN;
            } else {
                if (KLOG__UNLIKELY(hv > bend - p))
                    return KLOG_ERECOVERRUN;
                val = p;
                p += hv;
            }
            if (h) {
                h[i].key = (const char *)key;
                h[i].key_len = hk;
                h[i].value = val;
                h[i].value_len = hv;
            }
        }
    }
    if (KLOG__UNLIKELY(p != bend))
        return KLOG_ERECLEN;
    *pp = p;
    return 0;
}

int klog__records_check(const klog_batch_info_t *info, const uint8_t *p, const uint8_t *end)
{
    if (info->record_count < 0)
        return KLOG_ERECCOUNT;
    int64_t prev = -1;
    for (int32_t i = 0; i < info->record_count; i++) {
        if (p == end)
            return KLOG_ERECCOUNT; /* fewer records than declared */
        klog_record_t rec;
        int rc = klog__record_decode(&p, end, &rec, NULL, NULL);
        if (rc)
            return rc;
        if (rec.offset <= prev || rec.offset > info->last_offset_delta)
            return KLOG_EOFFSETDELTA;
        prev = rec.offset;
    }
    return p == end ? 0 : KLOG_ERECCOUNT; /* bytes left over */
}

int klog_batch_validate(const void *buf, size_t len, unsigned flags, klog_batch_info_t *info)
{
    klog_batch_info_t local;
    if (!info)
        info = &local;
    int rc = klog_batch_header(buf, len, info);
    if (rc)
        return rc;
    if (info->size != len)
        return KLOG_EBATCHSIZE; /* not exactly one batch */
    const uint8_t *b = buf;
    if (klog_crc32c(0, b + KLOG__ATTR_OFFSET, info->size - KLOG__ATTR_OFFSET) != info->crc)
        return KLOG_ECRC;
    /* Offsets are int64 and the log end (last offset + 1) must be one too:
     * a batch whose last offset does not fit is malformed, whatever its
     * records say (a follower would otherwise store offsets that wrap). */
    if (info->last_offset_delta >= 0 &&
        info->base_offset > INT64_MAX - 1 - info->last_offset_delta)
        return KLOG_EOFFSETDELTA;
    if (!(flags & KLOG_VALIDATE_RECORDS))
        return 0;
    if (info->record_count < 0)
        return KLOG_ERECCOUNT;
    const uint8_t *recs = b + KLOG_BATCH_HEADER_SIZE, *end = b + info->size;
    if (info->compression == KLOG_COMPRESSION_NONE)
        return klog__records_check(info, recs, end);
    klog__buf_t out = { 0 };
    rc = klog__decompress(info->compression, NULL, recs, (size_t)(end - recs), &out);
    if (rc == 0) {
        static const uint8_t none[1];
        const uint8_t *p = out.data ? out.data : none; /* empty stream: no buffer */
        rc = klog__records_check(info, p, p + out.len);
    }
    klog__buf_free(&out);
    return rc;
}
