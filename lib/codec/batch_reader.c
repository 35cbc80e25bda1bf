/*
 * batch_reader.c — iterates the records of one RecordBatch v2 as views.
 *
 * open() decodes the 61-byte header (batch.c), checks the CRC when asked,
 * and points [p, end) at the records stream: the caller's own bytes for an
 * uncompressed batch (no copy), or the reader's reusable decompression
 * buffer. next() decodes one record per call with klog__record_decode; key,
 * value and header views point into that stream, header arrays into a
 * scratch array that only grows. Steady-state iteration allocates nothing.
 * A record of the shape of the last one the straight line accepted is
 * read by comparing bytes instead (next_same: same grammar, no varints).
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
    /* The shape of the last record the straight line decoded (see
     * next_same); t_size == 0: none. Kept across open() calls, since the
     * next batch of a stream usually repeats it. */
    uint64_t t_head, t_mask; /* its first 8 bytes, offset delta byte zeroed */
    uint32_t t_size;         /* bytes of the whole record */
    uint16_t t_vlen_b;       /* its value length's bytes */
    uint16_t t_vmask;
    uint8_t t_doff;          /* where the one-byte offset delta is */
    uint16_t t_koff, t_vpos, t_voff; /* key, value length, value */
    int32_t t_klen, t_vlen;
    int64_t t_tsd;           /* raw timestamp delta */
    int64_t t_ts;            /* that delta as this batch reports it */
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
    r->t_ts = r->log_append_time ? in->max_timestamp
                                 : (int64_t)((uint64_t)in->base_timestamp + (uint64_t)r->t_tsd);
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
static inline int decode_fast(const uint8_t **pp, const uint8_t *end, klog_record_t *rec,
                              const uint8_t **offp, const uint8_t **vlp)
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
    *offp = p;
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
    *vlp = p;
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

/* A sticky error: no record is decoded after it until the next open(). */
static int fail(klog_batch_reader_t *r, int rc)
{
    r->left = 0;
    return r->err = rc;
}

/* Offset delta rules and rebasing of a decoded record. */
static inline int finish_rec(klog_batch_reader_t *r, klog_record_t *rec)
{
    int32_t delta = (int32_t)rec->offset;
    if (KLOG__UNLIKELY(delta <= r->prev_delta || delta > r->info.last_offset_delta))
        return fail(r, KLOG_EOFFSETDELTA);
    r->prev_delta = delta;
    r->left--;
    rec->offset = (int64_t)((uint64_t)r->info.base_offset + (uint64_t)(int64_t)delta);
    rec->timestamp = r->log_append_time
                         ? r->info.max_timestamp
                         : (int64_t)((uint64_t)r->info.base_timestamp + (uint64_t)rec->timestamp);
    return 1;
}

/*
 * Records of one shape. A record whose bytes before its key, value length
 * and total size equal those of a record the straight line accepted, and
 * whose header count byte (its last) is 0, is that record's shape with
 * other key and value bytes: the length varint gives the same size, the
 * key and value lengths the same spans, so it meets the same grammar, and
 * only the offset delta (one byte, checked here) remains to be read.
 * learn() keeps the shape of a record decode_fast accepted: when its
 * bytes up to the key fit in 8 and its offset delta takes one byte.
 * Masks are built from byte arrays so that the comparison does not
 * depend on the CPU's byte order.
 */
static void learn(klog_batch_reader_t *r, const uint8_t *start, const uint8_t *offp,
                  const uint8_t *vlp, const klog_record_t *rec)
{
    size_t size = (size_t)(r->p - start), doff = (size_t)(offp - start);
    size_t vpos = (size_t)(vlp - start);
    size_t koff = rec->key ? (size_t)((const uint8_t *)rec->key - start) : vpos;
    size_t vlb = size - 1 - vpos - (rec->value_len > 0 ? (size_t)rec->value_len : 0);
    r->t_size = 0;
    if (koff > 8 || (*offp & 0x80))
        return;
    uint8_t m[8] = {0}, vm[2] = {0xff, vlb == 2 ? 0xff : 0};
    memset(m, 0xff, koff);
    m[doff] = 0;
    uint64_t h;
    uint16_t v;
    memcpy(&r->t_mask, m, 8);
    memcpy(&r->t_vmask, vm, 2);
    memcpy(&h, start, 8);
    memcpy(&v, start + vpos, 2);
    r->t_head = h & r->t_mask;
    r->t_vlen_b = (uint16_t)(v & r->t_vmask);
    r->t_doff = (uint8_t)doff;
    r->t_koff = (uint16_t)koff;
    r->t_vpos = (uint16_t)vpos;
    r->t_voff = (uint16_t)(vpos + vlb);
    r->t_klen = rec->key_len;
    r->t_vlen = rec->value_len;
    r->t_tsd = rec->timestamp;
    r->t_ts = r->log_append_time ? r->info.max_timestamp
                                 : (int64_t)((uint64_t)r->info.base_timestamp + (uint64_t)r->t_tsd);
    r->t_size = (uint32_t)size;
}

static inline int next_same(klog_batch_reader_t *r, klog_record_t *rec)
{
    const uint8_t *p = r->p;
    size_t size = r->t_size;
    if (KLOG__UNLIKELY(size - 1 >= (size_t)(r->end - p))) /* none (0), or past the end */
        return 0;
    uint64_t h;
    uint16_t v;
    memcpy(&h, p, 8);
    memcpy(&v, p + r->t_vpos, 2);
    uint32_t d = p[r->t_doff];
    if (KLOG__UNLIKELY(((h & r->t_mask) ^ r->t_head) |
                       (uint16_t)((v & r->t_vmask) ^ r->t_vlen_b) | p[size - 1] | (d & 0x81)))
        return 0;
    int32_t delta = (int32_t)(d >> 1);
    if (KLOG__UNLIKELY(delta <= r->prev_delta || delta > r->info.last_offset_delta))
        return 0; /* decode_fast then reports it */
    r->prev_delta = delta;
    r->left--;
    r->p = p + size;
    rec->offset = (int64_t)((uint64_t)r->info.base_offset + (uint64_t)(int64_t)delta);
    rec->timestamp = r->t_ts;
    rec->key = r->t_klen < 0 ? NULL : p + r->t_koff;
    rec->key_len = r->t_klen;
    rec->value = r->t_vlen < 0 ? NULL : p + r->t_voff;
    rec->value_len = r->t_vlen;
    rec->headers = NULL;
    rec->header_count = 0;
    return 1;
}

/* Everything but a record of the fast shapes: a sticky error, the end of
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
            return fail(r, KLOG_ERECCOUNT); /* bytes after the last record */
        return 0;
    }
    if (r->p == r->end)
        return fail(r, KLOG_ERECCOUNT); /* fewer records than declared */
    int rc = klog__record_decode(&r->p, r->end, rec, &r->hdrs, &r->hdr_cap);
    if (rc)
        return fail(r, rc);
    return finish_rec(r, rec);
}

/* The straight line, and learning its record's shape. Out of line: once
 * per shape change. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int next_fast(klog_batch_reader_t *r, klog_record_t *rec)
{
    const uint8_t *start = r->p, *offp, *vlp;
    if (!decode_fast(&r->p, r->end, rec, &offp, &vlp))
        return next_general(r, rec);
    learn(r, start, offp, vlp, rec);
    return finish_rec(r, rec);
}

int klog_batch_reader_next(klog_batch_reader_t *r, klog_record_t *rec)
{
    /* left is 0 after an error (fail) and at the end of the batch */
    if (KLOG__LIKELY(r->left > 0 && next_same(r, rec)))
        return 1;
    if (KLOG__UNLIKELY(r->left <= 0))
        return next_general(r, rec);
    return next_fast(r, rec);
}
