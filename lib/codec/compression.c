/*
 * compression.c — the compressed records section of a RecordBatch v2.
 *
 * When attributes & 7 is non-zero, bytes [61, end) of a batch are one
 * compressed stream of the concatenated records (kafka-format.md 2):
 *
 *   gzip   RFC 1952 member(s) (zlib, windowBits 15+16). Concatenated
 *          members are read like java.util.zip.GZIPInputStream does.
 *   snappy xerial snappy-java stream: 16-byte header
 *          82 'S' 'N' 'A' 'P' 'P' 'Y' 00 | int32 BE version 1 | int32 BE
 *          compat 1, then repeated [int32 BE length][raw snappy block],
 *          32 KiB of input per block. Input without that header is one raw
 *          snappy block (snappy-java's fallback).
 *   lz4    LZ4 frame as Kafka's Lz4BlockOutputStream writes it:
 *          04 22 4D 18 | FLG 60 | BD 40 | HC 82 | blocks | 00000000.
 *          Written with liblz4's LZ4F API (independent 64 KiB blocks, no
 *          checksums, no content size). Read by the parser below, which
 *          accepts what Kafka's Lz4BlockInputStream accepts: version 01,
 *          reserved bits 0, independent blocks only (linked-block frames are
 *          rejected), block sizes 64 KiB..4 MiB, a correct header checksum,
 *          optional content size (skipped), block checksums (verified), a
 *          content checksum (consumed, not verified, like Kafka).
 *   zstd   standard zstd frame(s), level 3.
 *
 * Invariants: decompressed output never exceeds max(64 MiB, 255 x input)
 * (KLOG_EDECOMPRESS beyond), so a hostile batch cannot make us allocate
 * gigabytes; a codec not compiled in gives KLOG_ECODEC, never a crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "klog_codecs.h" /* generated: which codecs this build has */

#include <lz4.h>
#include <lz4frame.h>
#include <xxhash.h>
#if KLOG_HAVE_ZSTD
#include <zstd.h>
#endif
#if KLOG_HAVE_ZLIB
#include <zlib.h>
#endif
#if KLOG_HAVE_SNAPPY
#include <snappy-c.h>
#endif

#include "codec/codec.h"
#include "platform/bytes.h"

static size_t decompress_cap(size_t n)
{
    if (n > SIZE_MAX / KLOG__DECOMPRESS_RATIO)
        return SIZE_MAX;
    size_t c = n * KLOG__DECOMPRESS_RATIO;
    return c < KLOG__DECOMPRESS_MIN_CAP ? KLOG__DECOMPRESS_MIN_CAP : c;
}

/* Make room for `want` more bytes without passing the cap. */
static int reserve_capped(klog__buf_t *out, size_t want, size_t cap)
{
    if (want > cap - out->len)
        want = cap - out->len;
    if (want == 0)
        return KLOG_EDECOMPRESS;
    return klog__buf_reserve(out, want);
}

/* ------------------------------------------------------------------- lz4 */

#define LZ4_MAGIC 0x184D2204u

static int lz4_compress(klog__codec_ctx_t *ctx, const uint8_t *src, size_t n, klog__buf_t *out)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    prefs.autoFlush = 1;

    LZ4F_cctx *cctx = ctx ? ctx->lz4_cctx : NULL;
    if (!cctx) {
        if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
            return -ENOMEM;
        if (ctx)
            ctx->lz4_cctx = cctx;
    }
    int rc = klog__buf_reserve(out, LZ4F_compressFrameBound(n, &prefs));
    if (rc)
        goto done;
    uint8_t *dst = out->data + out->len;
    size_t cap = out->cap - out->len, pos = 0;
    size_t r = LZ4F_compressBegin(cctx, dst, cap, &prefs);
    if (!LZ4F_isError(r)) {
        pos += r;
        r = LZ4F_compressUpdate(cctx, dst + pos, cap - pos, src, n, NULL);
    }
    if (!LZ4F_isError(r)) {
        pos += r;
        r = LZ4F_compressEnd(cctx, dst + pos, cap - pos, NULL);
    }
    if (LZ4F_isError(r)) {
        rc = -ENOMEM; /* the bound was reserved: only allocation can fail */
        goto done;
    }
    out->len += pos + r;
done:
    if (!ctx)
        LZ4F_freeCompressionContext(cctx);
    return rc;
}

static int lz4_decompress(const uint8_t *src, size_t n, klog__buf_t *out, size_t cap)
{
    if (n < 7 || klog__load32le(src) != LZ4_MAGIC)
        return KLOG_EDECOMPRESS;
    uint8_t flg = src[4], bd = src[5];
    int version = flg >> 6;
    int independent = (flg >> 5) & 1;
    int block_sum = (flg >> 4) & 1;
    int content_size = (flg >> 3) & 1;
    int content_sum = (flg >> 2) & 1;
    int size_code = (bd >> 4) & 7;
    if (version != 1 || (flg & 0x03) || !independent || (bd & 0x8f) || size_code < 4)
        return KLOG_EDECOMPRESS;
    size_t block_max = (size_t)1 << (8 + 2 * size_code); /* 4 -> 64 KiB ... 7 -> 4 MiB */
    size_t hdr = 6 + (content_size ? 8 : 0);
    if (n < hdr + 1)
        return KLOG_EDECOMPRESS;
    if (((XXH32(src + 4, hdr - 4, 0) >> 8) & 0xff) != src[hdr])
        return KLOG_EDECOMPRESS;
    const uint8_t *p = src + hdr + 1, *end = src + n;
    for (;;) {
        if (end - p < 4)
            return KLOG_EDECOMPRESS;
        uint32_t word = klog__load32le(p);
        p += 4;
        if (word == 0)
            break;
        size_t bsz = word & 0x7fffffffu;
        int stored = (word & 0x80000000u) != 0;
        if (bsz > block_max || (size_t)(end - p) < bsz + (block_sum ? 4 : 0))
            return KLOG_EDECOMPRESS;
        if (block_sum && XXH32(p, bsz, 0) != klog__load32le(p + bsz))
            return KLOG_EDECOMPRESS;
        int rc = reserve_capped(out, stored ? bsz : block_max, cap);
        if (rc && !(stored && bsz == 0))
            return rc;
        if (stored) {
            if (bsz > cap - out->len)
                return KLOG_EDECOMPRESS;
            if (bsz)
                memcpy(out->data + out->len, p, bsz);
            out->len += bsz;
        } else {
            size_t room = cap - out->len;
            if (room > block_max)
                room = block_max;
            int got = LZ4_decompress_safe((const char *)p, (char *)out->data + out->len, (int)bsz,
                                          (int)room);
            if (got < 0)
                return KLOG_EDECOMPRESS;
            out->len += (size_t)got;
        }
        p += bsz + (block_sum ? 4 : 0);
    }
    if (content_sum && end - p < 4)
        return KLOG_EDECOMPRESS;
    return 0;
}

/* ------------------------------------------------------------------ zstd */
#if KLOG_HAVE_ZSTD
static int zstd_compress(klog__codec_ctx_t *ctx, const uint8_t *src, size_t n, klog__buf_t *out)
{
    ZSTD_CCtx *cctx = ctx ? ctx->zstd_cctx : NULL;
    if (!cctx) {
        cctx = ZSTD_createCCtx();
        if (!cctx)
            return -ENOMEM;
        if (ctx)
            ctx->zstd_cctx = cctx;
    }
    int rc = klog__buf_reserve(out, ZSTD_compressBound(n));
    if (rc == 0) {
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
        size_t r = ZSTD_compress2(cctx, out->data + out->len, out->cap - out->len, src, n);
        if (ZSTD_isError(r))
            rc = -ENOMEM;
        else
            out->len += r;
    }
    if (!ctx)
        ZSTD_freeCCtx(cctx);
    return rc;
}

static int zstd_decompress(klog__codec_ctx_t *ctx, const uint8_t *src, size_t n,
                           klog__buf_t *out, size_t cap)
{
    ZSTD_DCtx *dctx = ctx ? ctx->zstd_dctx : NULL;
    if (!dctx) {
        dctx = ZSTD_createDCtx();
        if (!dctx)
            return -ENOMEM;
        if (ctx)
            ctx->zstd_dctx = dctx;
    }
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    unsigned long long hint = ZSTD_getFrameContentSize(src, n);
    size_t want = (hint != ZSTD_CONTENTSIZE_UNKNOWN && hint != ZSTD_CONTENTSIZE_ERROR && hint > 0 &&
                   hint <= (1u << 26))
                      ? (size_t)hint
                      : 4 * n + 64;
    ZSTD_inBuffer in = { src, n, 0 };
    int rc = 0;
    for (;;) {
        if (out->cap - out->len < 64 || out->len == out->cap) {
            rc = reserve_capped(out, want, cap);
            if (rc)
                break;
        }
        size_t room = out->cap - out->len;
        if (room > cap - out->len)
            room = cap - out->len;
        ZSTD_outBuffer o = { out->data + out->len, room, 0 };
        size_t r = ZSTD_decompressStream(dctx, &o, &in);
        if (ZSTD_isError(r)) {
            rc = KLOG_EDECOMPRESS;
            break;
        }
        out->len += o.pos;
        if (r == 0 && in.pos == in.size)
            break;                              /* all frames complete */
        if (in.pos == in.size && o.pos < room) {
            rc = KLOG_EDECOMPRESS;              /* input ended inside a frame */
            break;
        }
        if (o.pos == room) {
            if (out->len >= cap) {
                rc = KLOG_EDECOMPRESS;
                break;
            }
            rc = reserve_capped(out, out->cap, cap); /* double */
            if (rc)
                break;
        }
    }
    if (!ctx)
        ZSTD_freeDCtx(dctx);
    return rc;
}
#endif

/* ------------------------------------------------------------------ gzip */
#if KLOG_HAVE_ZLIB
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size)
        return NULL;
    return klog__malloc((size_t)items * size);
}
static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

static int gzip_compress(const uint8_t *src, size_t n, klog__buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    int zr0 = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (zr0 != Z_OK)
        return -ENOMEM;
    int rc = 0;
    const uint8_t *p = src;
    size_t left = n;
    for (;;) {
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        rc = klog__buf_reserve(out, deflateBound(&zs, chunk) + 64);
        if (rc)
            break;
        zs.next_in = (Bytef *)(uintptr_t)p;
        zs.avail_in = chunk;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len > (1u << 31) ? (1u << 31) : out->cap - out->len);
        uInt before = zs.avail_out;
        int zr = deflate(&zs, chunk == left ? Z_FINISH : Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        p += chunk - zs.avail_in;
        left -= chunk - zs.avail_in;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = -ENOMEM;
            break;
        }
    }
    deflateEnd(&zs);
    return rc;
}

static int gzip_decompress(const uint8_t *src, size_t n, klog__buf_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -ENOMEM;
    if (n > UINT32_MAX) {
        inflateEnd(&zs);
        return KLOG_EDECOMPRESS;
    }
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)n;
    size_t want = 4 * n + 64;
    int rc = 0;
    for (;;) {
        if (out->len == out->cap) {
            rc = reserve_capped(out, want, cap);
            if (rc)
                break;
            want = out->cap; /* then double */
        }
        size_t room = out->cap - out->len;
        if (room > cap - out->len)
            room = cap - out->len;
        if (room == 0) {
            rc = KLOG_EDECOMPRESS;
            break;
        }
        if (room > (1u << 30))
            room = 1u << 30;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)room;
        int zr = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* Another gzip member may follow; anything else is ignored. */
            if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
                if (inflateReset(&zs) != Z_OK) {
                    rc = KLOG_EDECOMPRESS;
                    break;
                }
                continue;
            }
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = -ENOMEM;
            break;
        }
        if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = KLOG_EDECOMPRESS; /* corrupt, or input ended early */
            break;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            rc = KLOG_EDECOMPRESS;
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}
#endif

/* ---------------------------------------------------------------- snappy */
#if KLOG_HAVE_SNAPPY
static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };
#define XERIAL_HEADER 16
#define XERIAL_BLOCK (32 * 1024)

static int snappy_compress_xerial(const uint8_t *src, size_t n, klog__buf_t *out)
{
    int rc = klog__buf_reserve(out, XERIAL_HEADER);
    if (rc)
        return rc;
    memcpy(out->data + out->len, xerial_magic, 8);
    klog__store32(out->data + out->len + 8, 1);
    klog__store32(out->data + out->len + 12, 1);
    out->len += XERIAL_HEADER;
    for (size_t off = 0; off < n; off += XERIAL_BLOCK) {
        size_t chunk = n - off < XERIAL_BLOCK ? n - off : XERIAL_BLOCK;
        size_t max = snappy_max_compressed_length(chunk);
        rc = klog__buf_reserve(out, 4 + max);
        if (rc)
            return rc;
        size_t clen = max;
        if (snappy_compress((const char *)src + off, chunk, (char *)out->data + out->len + 4,
                            &clen) != SNAPPY_OK)
            return -ENOMEM;
        klog__store32(out->data + out->len, (uint32_t)clen);
        out->len += 4 + clen;
    }
    return 0;
}

static int snappy_block(const uint8_t *p, size_t len, klog__buf_t *out, size_t cap)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)p, len, &ulen) != SNAPPY_OK)
        return KLOG_EDECOMPRESS;
    if (ulen > cap - out->len)
        return KLOG_EDECOMPRESS;
    if (ulen == 0)
        return 0;
    int rc = klog__buf_reserve(out, ulen);
    if (rc)
        return rc;
    size_t got = ulen;
    if (snappy_uncompress((const char *)p, len, (char *)out->data + out->len, &got) != SNAPPY_OK ||
        got != ulen)
        return KLOG_EDECOMPRESS;
    out->len += ulen;
    return 0;
}

static int snappy_decompress_xerial(const uint8_t *src, size_t n, klog__buf_t *out, size_t cap)
{
    if (n < XERIAL_HEADER || memcmp(src, xerial_magic, 8) != 0)
        return snappy_block(src, n, out, cap);
    const uint8_t *p = src + XERIAL_HEADER, *end = src + n;
    while (p < end) {
        if (end - p < 4)
            return KLOG_EDECOMPRESS;
        uint32_t len = klog__load32(p);
        p += 4;
        if (len > (size_t)(end - p))
            return KLOG_EDECOMPRESS;
        int rc = snappy_block(p, len, out, cap);
        if (rc)
            return rc;
        p += len;
    }
    return 0;
}
#endif

/* ------------------------------------------------------------- dispatch */

int klog_compression_supported(int codec)
{
    switch (codec) {
    case KLOG_COMPRESSION_NONE:
    case KLOG_COMPRESSION_LZ4:
        return 1;
#if KLOG_HAVE_ZLIB
    case KLOG_COMPRESSION_GZIP:
        return 1;
#endif
#if KLOG_HAVE_SNAPPY
    case KLOG_COMPRESSION_SNAPPY:
        return 1;
#endif
#if KLOG_HAVE_ZSTD
    case KLOG_COMPRESSION_ZSTD:
        return 1;
#endif
    default:
        return 0;
    }
}

static const char *const codec_names[] = { "none", "gzip", "snappy", "lz4", "zstd" };

const char *klog_compression_name(int codec)
{
    if (codec < 0 || codec >= (int)(sizeof codec_names / sizeof codec_names[0]))
        return NULL;
    return codec_names[codec];
}

int klog_compression_parse(const char *name)
{
    if (!name)
        return KLOG_ECODEC;
    for (int i = 0; i < (int)(sizeof codec_names / sizeof codec_names[0]); i++)
        if (strcmp(name, codec_names[i]) == 0)
            return i;
    return KLOG_ECODEC;
}

void klog__codec_ctx_free(klog__codec_ctx_t *ctx)
{
    if (!ctx)
        return;
    if (ctx->lz4_cctx)
        LZ4F_freeCompressionContext(ctx->lz4_cctx);
#if KLOG_HAVE_ZSTD
    ZSTD_freeCCtx(ctx->zstd_cctx);
    ZSTD_freeDCtx(ctx->zstd_dctx);
#endif
    memset(ctx, 0, sizeof *ctx);
}

int klog__compress(int codec, klog__codec_ctx_t *ctx, const uint8_t *src, size_t n,
                   klog__buf_t *out)
{
    switch (codec) {
    case KLOG_COMPRESSION_LZ4:
        return lz4_compress(ctx, src, n, out);
#if KLOG_HAVE_ZSTD
    case KLOG_COMPRESSION_ZSTD:
        return zstd_compress(ctx, src, n, out);
#endif
#if KLOG_HAVE_ZLIB
    case KLOG_COMPRESSION_GZIP:
        return gzip_compress(src, n, out);
#endif
#if KLOG_HAVE_SNAPPY
    case KLOG_COMPRESSION_SNAPPY:
        return snappy_compress_xerial(src, n, out);
#endif
    default:
        (void)ctx;
        return KLOG_ECODEC;
    }
}

int klog__decompress(int codec, klog__codec_ctx_t *ctx, const uint8_t *src, size_t n,
                     klog__buf_t *out)
{
    size_t cap = decompress_cap(n);
    out->len = 0;
    switch (codec) {
    case KLOG_COMPRESSION_LZ4:
        return lz4_decompress(src, n, out, cap);
#if KLOG_HAVE_ZSTD
    case KLOG_COMPRESSION_ZSTD:
        return zstd_decompress(ctx, src, n, out, cap);
#endif
#if KLOG_HAVE_ZLIB
    case KLOG_COMPRESSION_GZIP:
        return gzip_decompress(src, n, out, cap);
#endif
#if KLOG_HAVE_SNAPPY
    case KLOG_COMPRESSION_SNAPPY:
        return snappy_decompress_xerial(src, n, out, cap);
#endif
    default:
        (void)ctx;
        (void)cap;
        return KLOG_ECODEC;
    }
}
