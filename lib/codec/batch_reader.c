/*
 * batch_reader.c — iterates the records of one RecordBatch v2 as views.
 *
 * open() decodes the 61-byte header (batch.c), checks the CRC when asked,
 * and points [p, end) at the records stream: the caller's own bytes for an
 * uncompressed batch (no copy), or the reader's reusable decompression
 * buffer. next() decodes one record per call with klog__record_decode; key,
 * value and header views point into that stream, header arrays into a
 * scratch array that only grows. Steady-state iteration allocates nothing.
 *
 * Reported values: offset = baseOffset + offsetDelta; timestamp =
 * baseTimestamp + timestampDelta, or maxTimestamp for every record when the
 * batch is LogAppendTime (attributes bit 3), as Kafka's readers do.
 *
 * Invariants: `err` is sticky — once a record fails to decode, every later
 * next() returns the same error until the next open(); `left` counts the
 * records still to decode; offset deltas must strictly increase and stay
 * within lastOffsetDelta (KLOG_EOFFSETDELTA otherwise); after the last
 * record the stream must be exhausted (KLOG_ERECCOUNT otherwise).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"

struct klog_batch_reader {
    klog_batch_info_t info;
    const uint8_t *p, *end;
    int32_t left;
    int32_t prev_delta;
    int err;
    int log_append_time;
    klog__buf_t dbuf;
    klog_header_t *hdrs;
    size_t hdr_cap;
    klog__codec_ctx_t ctx;
};

int klog_batch_reader_new(klog_batch_reader_t **out)
{
    klog_batch_reader_t *r = klog__calloc(1, sizeof *r);
    *out = r;
    if (!r)
        return -ENOMEM;
    r->err = -EINVAL; /* nothing opened yet */
    return 0;
}

void klog_batch_reader_free(klog_batch_reader_t *r)
{
    if (!r)
        return;
    klog__buf_free(&r->dbuf);
    free(r->hdrs);
    klog__codec_ctx_free(&r->ctx);
    free(r);
}

const klog_batch_info_t *klog_batch_reader_info(const klog_batch_reader_t *r)
{
    return &r->info;
}

static int open_fail(klog_batch_reader_t *r, int rc)
{
    r->err = rc;
    r->left = 0;
    return rc;
}

int klog_batch_reader_open(klog_batch_reader_t *r, const void *buf, size_t len, unsigned flags)
{
    const uint8_t *b = buf;
    r->p = r->end = NULL;
    r->left = 0;
    r->prev_delta = -1;
    int rc = klog_batch_header(buf, len, &r->info);
    if (rc) {
        memset(&r->info, 0, sizeof r->info);
        return open_fail(r, rc);
    }
    const klog_batch_info_t *in = &r->info;
    if ((flags & (KLOG_VALIDATE_HEADER | KLOG_VALIDATE_RECORDS)) &&
        klog_crc32c(0, b + KLOG__ATTR_OFFSET, in->size - KLOG__ATTR_OFFSET) != in->crc)
        return open_fail(r, KLOG_ECRC);
    if (in->record_count < 0)
        return open_fail(r, KLOG_ERECCOUNT);
    const uint8_t *recs = b + KLOG_BATCH_HEADER_SIZE, *end = b + in->size;
    if (in->compression != KLOG_COMPRESSION_NONE) {
        rc = klog__decompress(in->compression, &r->ctx, recs, (size_t)(end - recs), &r->dbuf);
        if (rc)
            return open_fail(r, rc);
        static const uint8_t none[1];
        recs = r->dbuf.data ? r->dbuf.data : none; /* empty stream: no buffer */
        end = recs + r->dbuf.len;
    }
    if (flags & KLOG_VALIDATE_RECORDS) {
        rc = klog__records_check(in, recs, end);
        if (rc)
            return open_fail(r, rc);
    }
    r->p = recs;
    r->end = end;
    r->left = in->record_count;
    r->log_append_time = (in->attributes & KLOG_ATTR_LOG_APPEND_TIME) != 0;
    r->err = 0;
    return 0;
}

/* A varint of one or two bytes at q (the caller knows q[0] is readable
 * and checks q[1] is, through `two_ok`); anything else is not the fast
 * shape. */
#define FAST12(q, two_ok, out)                                                 \
    do {                                                                       \
        if (KLOG__LIKELY((q)[0] < 0x80)) {                                     \
            (out) = (q)[0];                                                    \
            (q)++;                                                             \
        } else if ((two_ok) && (q)[1] < 0x80) {                                \
            (out) = ((uint32_t)(q)[0] & 0x7f) | (uint32_t)(q)[1] << 7;         \
            (q) += 2;                                                          \
        } else {                                                               \
            return 0;                                                          \
        }                                                                      \
    } while (0)

/*
 * The decoder's straight line: a record whose length, timestamp delta,
 * offset delta, key length and value length take one or two bytes each,
 * with no headers and a body of at least 8 bytes (so the fields before
 * the key need no bounds test of their own). 1 decoded (rec filled as
 * klog__record_decode fills it), 0 not that shape or not valid: the
 * caller then runs the general decoder from the same place, which gives
 * the specific error. It accepts only what the general grammar accepts.
 */
static inline int decode_fast(const uint8_t **pp, const uint8_t *end, klog_record_t *rec)
{
    const uint8_t *p = *pp;
    if (KLOG__UNLIKELY(end - p < 2))
        return 0;
    uint32_t u;
    FAST12(p, 1, u);
    int32_t len = klog__unzigzag32(u);
    if (KLOG__UNLIKELY(len < 8 || len > end - p))
        return 0;
    const uint8_t *bend = p + len;
    p++; /* attributes: unused */
    uint32_t uts, uoff, ukey, uval;
    FAST12(p, 1, uts); /* attributes + three 2-byte fields fit in 8 */
    FAST12(p, 1, uoff);
    FAST12(p, 1, ukey);
    int32_t klen = klog__unzigzag32(ukey);
    if (klen < 0) {
        if (KLOG__UNLIKELY(klen != KLOG_NULL_LEN))
            return 0;
        rec->key = NULL;
    } else {
        if (KLOG__UNLIKELY(klen > bend - p))
            return 0;
        rec->key = p;
        p += klen;
    }
    if (KLOG__UNLIKELY(bend - p < 2)) /* value length and header count */
        return 0;
    FAST12(p, bend - p >= 3, uval);
    int32_t vlen = klog__unzigzag32(uval);
    if (vlen < 0) {
        if (KLOG__UNLIKELY(vlen != KLOG_NULL_LEN))
            return 0;
        rec->value = NULL;
    } else {
        if (KLOG__UNLIKELY(vlen >= bend - p)) /* leaves the header count's byte */
            return 0;
        rec->value = p;
        p += vlen;
    }
    if (KLOG__UNLIKELY(p + 1 != bend || *p != 0)) /* headerCount 0 ends the body */
        return 0;
    rec->timestamp = klog__unzigzag64(uts);
    rec->offset = klog__unzigzag32(uoff);
    rec->key_len = klen;
    rec->value_len = vlen;
    rec->header_count = 0;
    rec->headers = NULL;
    *pp = bend;
    return 1;
}

/* Offset delta rules and rebasing of a decoded record. */
static inline int finish_rec(klog_batch_reader_t *r, klog_record_t *rec)
{
    int32_t delta = (int32_t)rec->offset;
    if (KLOG__UNLIKELY(delta <= r->prev_delta || delta > r->info.last_offset_delta))
        return r->err = KLOG_EOFFSETDELTA;
    r->prev_delta = delta;
    r->left--;
    rec->offset = (int64_t)((uint64_t)r->info.base_offset + (uint64_t)(int64_t)delta);
    rec->timestamp = r->log_append_time
                         ? r->info.max_timestamp
                         : (int64_t)((uint64_t)r->info.base_timestamp + (uint64_t)rec->timestamp);
    return 1;
}

/* Everything but a record of the fast shape: a sticky error, the end of
 * the batch, and the general decoder. Out of line, so the fast path
 * saves no registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int next_general(klog_batch_reader_t *r, klog_record_t *rec)
{
    if (r->err)
        return r->err;
    if (r->left == 0) {
        if (r->p != r->end)
            return r->err = KLOG_ERECCOUNT; /* bytes after the last record */
        return 0;
    }
    if (r->p == r->end)
        return r->err = KLOG_ERECCOUNT; /* fewer records than declared */
    int rc = klog__record_decode(&r->p, r->end, rec, &r->hdrs, &r->hdr_cap);
    if (rc)
        return r->err = rc;
    return finish_rec(r, rec);
}

int klog_batch_reader_next(klog_batch_reader_t *r, klog_record_t *rec)
{
    if (KLOG__UNLIKELY(r->err || r->left == 0 || !decode_fast(&r->p, r->end, rec)))
        return next_general(r, rec);
    return finish_rec(r, rec);
}
