/*
 * codec.h — internal interface of the codec layer: varints, CRC-32C
 * implementations, compression. Pure functions over memory; nothing here
 * touches files. Everything is named klog__* and hidden from the shared
 * library's export table.
 */
#ifndef KLOG_CODEC_H
#define KLOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"
#include "platform/platform.h"

/* ------------------------------------------------------------------ varints
 * Kafka varint = zigzag(int32) as unsigned LEB128, at most 5 bytes;
 * varlong = zigzag(int64), at most 10 bytes. A 5th (10th) byte with its
 * continuation bit set is over-long and rejected with KLOG_EVARINT. Bits that
 * do not fit the type in the last byte are ignored, as Kafka's
 * ByteUtils.readVarint does.
 */
#define KLOG__VARINT_MAX 5
#define KLOG__VARLONG_MAX 10

static inline uint32_t klog__zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}
static inline int32_t klog__unzigzag32(uint32_t u)
{
    return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}
static inline uint64_t klog__zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t klog__unzigzag64(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

/* Bytes the varint/varlong encoding of v takes: ceil(bits / 7) for the
 * zigzag value's significant bits (at least 1), as (bits * 9 + 64) / 64,
 * which equals it for 1..64 bits (no loop, no branch). */
static inline size_t klog__uvarint_size(uint64_t u)
{
#if defined(__GNUC__)
    unsigned bits = 64u - (unsigned)__builtin_clzll(u | 1);
#else
    unsigned bits = 1;
    while (bits < 64 && (u >> bits))
        bits++;
#endif
    return (bits * 9 + 64) >> 6;
}
static inline size_t klog__varint_size(int32_t v)
{
    return klog__uvarint_size(klog__zigzag32(v));
}
static inline size_t klog__varlong_size(int64_t v)
{
    return klog__uvarint_size(klog__zigzag64(v));
}

/* Write the unsigned LEB128 u at p (room for KLOG__VARLONG_MAX bytes);
 * returns the bytes written. One and two bytes (lengths, deltas and
 * counts of ordinary records) take no loop. */
static inline size_t klog__uvarint_put(uint8_t *p, uint64_t u)
{
    if (KLOG__LIKELY(u < 0x80)) {
        p[0] = (uint8_t)u;
        return 1;
    }
    if (KLOG__LIKELY(u < 0x4000)) {
        p[0] = (uint8_t)(u | 0x80);
        p[1] = (uint8_t)(u >> 7);
        return 2;
    }
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}
/* Write v at p (room for KLOG__VARINT_MAX / KLOG__VARLONG_MAX bytes);
 * returns the bytes written. */
static inline size_t klog__varint_put(uint8_t *p, int32_t v)
{
    return klog__uvarint_put(p, klog__zigzag32(v));
}
static inline size_t klog__varlong_put(uint8_t *p, int64_t v)
{
    return klog__uvarint_put(p, klog__zigzag64(v));
}

/* Read a varint from [*pp, end). On success advances *pp and returns 0.
 * Returns KLOG_EVARINT for an over-long encoding and KLOG_ETRUNCATED when
 * end comes first (callers translate that to the rule that applies). */
static inline int klog__varint_get(const uint8_t **pp, const uint8_t *end, int32_t *out)
{
    const uint8_t *p = *pp;
    if (KLOG__LIKELY(p < end && *p < 0x80)) { /* one byte: the common case */
        *pp = p + 1;
        *out = klog__unzigzag32(*p);
        return 0;
    }
    if (KLOG__LIKELY(end - p >= 2 && p[1] < 0x80)) { /* two: lengths up to 8191 */
        *pp = p + 2;
        *out = klog__unzigzag32((uint32_t)(p[0] & 0x7f) | (uint32_t)p[1] << 7);
        return 0;
    }
    uint32_t u = 0;
    for (int i = 0; i < KLOG__VARINT_MAX; i++) {
        if (KLOG__UNLIKELY(p >= end))
            return KLOG_ETRUNCATED;
        uint8_t b = *p++;
        u |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = klog__unzigzag32(u);
            return 0;
        }
    }
    return KLOG_EVARINT;
}
static inline int klog__varlong_get(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    const uint8_t *p = *pp;
    if (KLOG__LIKELY(p < end && *p < 0x80)) {
        *pp = p + 1;
        *out = klog__unzigzag64(*p);
        return 0;
    }
    if (KLOG__LIKELY(end - p >= 2 && p[1] < 0x80)) {
        *pp = p + 2;
        *out = klog__unzigzag64((uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7);
        return 0;
    }
    uint64_t u = 0;
    for (int i = 0; i < KLOG__VARLONG_MAX; i++) {
        if (KLOG__UNLIKELY(p >= end))
            return KLOG_ETRUNCATED;
        uint8_t b = *p++;
        u |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = klog__unzigzag64(u);
            return 0;
        }
    }
    return KLOG_EVARINT;
}

/* ------------------------------------------------------------------ CRC-32C
 * klog_crc32c() dispatches to one of these. All take and return the
 * finalised CRC (the same convention as klog_crc32c), so tests can compare
 * them directly. klog__crc32c_hw falls back to the portable code when the
 * CPU lacks SSE4.2.
 */
KLOG__HIDDEN uint32_t klog__crc32c_sw(uint32_t crc, const void *buf, size_t len);
KLOG__HIDDEN uint32_t klog__crc32c_hw(uint32_t crc, const void *buf, size_t len);
/* The carry-less multiplication path (VPCLMULQDQ with AVX-512, else with
 * AVX2) for buffers of 256 bytes and more, the SSE4.2 path for the rest;
 * each falls back as klog__crc32c_hw does. klog_crc32c takes this one.
 * klog__crc32c_fold_avx2 takes the AVX2 folding even where AVX-512 is
 * there, so tests reach both. */
KLOG__HIDDEN uint32_t klog__crc32c_fold(uint32_t crc, const void *buf, size_t len);
KLOG__HIDDEN uint32_t klog__crc32c_fold_avx2(uint32_t crc, const void *buf, size_t len);
/* Non-zero when the SSE4.2 path / a folding path is available on this CPU
 * (the folding one: 2 with AVX-512, 1 with AVX2 only). */
KLOG__HIDDEN int klog__crc32c_hw_available(void);
KLOG__HIDDEN int klog__crc32c_fold_available(void);

/* ------------------------------------------------------------- compression
 * Only the records section of a batch is ever compressed (bytes [61, end)).
 */

/* Decompressed output is capped at max(64 MiB, 255 x input): a hostile
 * batch cannot make the library allocate more than that. */
#define KLOG__DECOMPRESS_MIN_CAP ((size_t)64 << 20)
#define KLOG__DECOMPRESS_RATIO 255

/* Per-object codec state reused across calls (compression and
 * decompression contexts); zero-initialise, release with
 * klog__codec_ctx_free(). */
typedef struct klog__codec_ctx {
    void *lz4_cctx;  /* LZ4F_cctx * */
    void *zstd_cctx; /* ZSTD_CCtx * */
    void *zstd_dctx; /* ZSTD_DCtx * */
} klog__codec_ctx_t;

KLOG__HIDDEN void klog__codec_ctx_free(klog__codec_ctx_t *ctx);

/* Compress src[0, n) with codec and append the stream to out. ctx may be
 * NULL (a temporary context is used). 0, KLOG_ECODEC or -ENOMEM. */
KLOG__HIDDEN int klog__compress(int codec, klog__codec_ctx_t *ctx, const uint8_t *src, size_t n,
                                klog__buf_t *out);

/* Decompress src[0, n) into out (out->len is reset to 0 first). ctx may be
 * NULL. 0, KLOG_ECODEC, KLOG_EDECOMPRESS (corrupt stream, or output above
 * the cap) or -ENOMEM. */
KLOG__HIDDEN int klog__decompress(int codec, klog__codec_ctx_t *ctx, const uint8_t *src,
                                  size_t n, klog__buf_t *out);

/* ------------------------------------------------------------------ records */

/* The one parser of the 61-byte RecordBatch header: decode the header at
 * b[0, len) without requiring the rest of the batch (info->size is what the
 * batch would span). klog_batch_header() is this plus "the whole batch is in
 * the buffer". KLOG_ETRUNCATED (fewer than 61 bytes), KLOG_EMAGIC,
 * KLOG_EBATCHSIZE (batchLength below the header). */
KLOG__HIDDEN int klog__batch_peek(const uint8_t *b, size_t len, klog_batch_info_t *info);

/* Decode one record from [*pp, end) of a records stream (section 1.4).
 * On success advances *pp past the record and fills rec with views into the
 * stream (timestamp = raw timestampDelta, offset = raw offsetDelta; the
 * caller rebases them). Header views go into *hdrs, grown with
 * klog__realloc as needed and owned by the caller (free()); pass hdrs NULL
 * to check headers without storing them (rec->headers is then NULL).
 * Returns 0 or the specific malformed-record error. */
KLOG__HIDDEN int klog__record_decode(const uint8_t **pp, const uint8_t *end, klog_record_t *rec,
                                     klog_header_t **hdrs, size_t *hdr_cap);

/* Check the records stream [p, end) of a batch described by info: exactly
 * info->record_count well-formed records, offset deltas strictly
 * increasing within [0, last_offset_delta], nothing left over. */
KLOG__HIDDEN int klog__records_check(const klog_batch_info_t *info, const uint8_t *p,
                                     const uint8_t *end);

/* klog_builder_add of recs[0, n) in turn, stopping at the first error
 * (the records before it stay added): one call per batch on the append
 * path instead of one per record. */
KLOG__HIDDEN int klog__builder_add_many(klog_builder_t *b, const klog_record_t *recs, size_t n);
/* klog_builder_finish, the bytes writable: the builder's own buffer, whose
 * base offset (bytes 0-7, outside the CRC) the storage layer stamps in
 * place so the batch goes down in one pwrite. Valid until the next add,
 * reset or free. */
KLOG__HIDDEN int klog__builder_finish_own(klog_builder_t *b, uint8_t **batch, size_t *len);

/* ------------------------------------------------------------- filtering
 * Rewriting a batch with some records removed (batch_filter.c), as Kafka's
 * cleaner does. The caller zero-initialises a filter once, sets keep_fn,
 * arg, ctx, horizon and marker before each call and frees it at the end.
 */
#define KLOG__ATTR_DELETE_HORIZON 0x40 /* baseTimestamp is the delete horizon (KIP-534) */

typedef struct klog__filter {
    /* in */
    size_t len;                   /* bytes available at the batch (>= its size) */
    /* 1 keep, 0 drop, or a negative error; rec->offset/timestamp absolute */
    int (*keep_fn)(void *arg, const klog_batch_info_t *bi, const klog_record_t *rec);
    void *arg;
    klog__codec_ctx_t *ctx;       /* may be NULL */
    int64_t horizon;              /* delete horizon to set on a batch without one
                                     that keeps tombstones (or is `marker`); -1 none */
    int marker;                   /* a control batch whose horizon is to be set */
    /* out */
    int32_t kept, removed, kept_tombstones;
    int rewritten;                /* out holds the rebuilt batch */
    /* scratch */
    uint8_t *keep;
    size_t cap;
    klog__buf_t scratch, records;
} klog__filter_t;

/* Decide every record of the validated batch at `batch` through keep_fn.
 * When some records go (but not all) or a horizon is to be set, the
 * rebuilt batch is written to out (out->len reset) and f->rewritten = 1;
 * otherwise f->kept tells: all (copy the input verbatim) or none. 0, the
 * record grammar's errors, KLOG_ECODEC/KLOG_EDECOMPRESS, -ENOMEM. */
KLOG__HIDDEN int klog__batch_filter(const uint8_t *batch, klog__filter_t *f, klog__buf_t *out);
KLOG__HIDDEN void klog__filter_free(klog__filter_t *f);
/* The 61-byte empty batch standing for `in` (no records, no compression,
 * baseTimestamp = maxTimestamp = in's maxTimestamp, same offsets and
 * producer fields) into out. -ENOMEM. */
KLOG__HIDDEN int klog__batch_empty(const klog_batch_info_t *in, klog__buf_t *out);

/* Offset of the CRC-covered region and of the stored CRC in a batch. */
#define KLOG__CRC_OFFSET 17
#define KLOG__ATTR_OFFSET 21

#endif
