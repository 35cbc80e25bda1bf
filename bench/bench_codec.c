/*
 * bench_codec.c — the codec layer's speed, against references measured in
 * the same run:
 *   - CRC-32C on 16 KiB buffers: SSE4.2 path, portable slicing-by-8 path,
 *     the dispatching klog_crc32c(), and XXH3_64bits (libxxhash) as the
 *     reference for "how fast can a checksum be on this machine";
 *   - batch encode (builder add x 50 + finish, which includes compression
 *     and the CRC) and batch decode (reader open with the CRC check, then
 *     iterate every record touching its value) for 50 x 200-byte values,
 *     uncompressed and LZ4. Payloads follow docs/baseline.md: 200-byte
 *     slices of a 1 MiB pool of pseudo-random words, so LZ4 gets ~1.9x.
 *
 * Usage: bench_codec [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bench_util.h"
#include "codec/codec.h"

#define CRC_BUF (16 * 1024)
#define BATCH_RECS 50
#define VALUE_SIZE 200
#define POOL_SIZE (1 << 20)
#define NBATCHES 200 /* distinct batches cycled through by encode/decode */

static int quick;

/* ---------------------------------------------------------------- payload */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* 1 MiB of words drawn with a skewed choice from a 256-word vocabulary. */
static uint8_t *word_pool(void)
{
    char words[256][12];
    for (int i = 0; i < 256; i++) {
        int len = 2 + (int)(rng() % 9);
        for (int j = 0; j < len; j++)
            words[i][j] = (char)('a' + rng() % 26);
        words[i][len] = 0;
    }
    uint8_t *pool = malloc(POOL_SIZE);
    size_t pos = 0;
    while (pos < POOL_SIZE) {
        uint64_t a = rng() % 256, b = rng() % 256;
        const char *w = words[(a * b) >> 8];
        for (size_t j = 0; w[j] && pos < POOL_SIZE; j++)
            pool[pos++] = (uint8_t)w[j];
        if (pos < POOL_SIZE)
            pool[pos++] = ' ';
    }
    return pool;
}

/* ------------------------------------------------------------------- CRC */

typedef struct crc_ctx {
    const uint8_t *buf;
    int which; /* 0 hw, 1 sw, 2 dispatch, 3 xxh3 */
    unsigned acc;
} crc_ctx_t;

static double time_loop(double seconds, void (*body)(void *), void *ctx, long *iters_out)
{
    body(ctx); /* warm up */
    long iters = 0, chunk = 1;
    double t0 = bench_now(), el;
    do {
        for (long i = 0; i < chunk; i++)
            body(ctx);
        iters += chunk;
        el = bench_now() - t0;
        if (el < seconds / 16)
            chunk *= 2;
    } while (el < seconds);
    if (iters_out)
        *iters_out = iters;
    return el / (double)iters;
}

static void crc_body(void *p)
{
    crc_ctx_t *c = p;
    switch (c->which) {
    case 0:
        c->acc += klog__crc32c_hw(c->acc, c->buf, CRC_BUF);
        break;
    case 1:
        c->acc += klog__crc32c_sw(c->acc, c->buf, CRC_BUF);
        break;
    case 2:
        c->acc += klog_crc32c(c->acc, c->buf, CRC_BUF);
        break;
    default:
        c->acc += (unsigned)XXH3_64bits_withSeed(c->buf, CRC_BUF, c->acc);
        break;
    }
}

/* ------------------------------------------------------------ encode/decode */

typedef struct batch_ctx {
    int codec;
    klog_builder_t *b;
    klog_record_t recs[NBATCHES][BATCH_RECS];
    int next;
    /* decode side */
    klog_batch_reader_t *r;
    void *batches[NBATCHES];
    size_t lens[NBATCHES];
    size_t bytes;
    unsigned acc;
} batch_ctx_t;

static void encode_body(void *p)
{
    batch_ctx_t *c = p;
    klog_record_t *recs = c->recs[c->next];
    c->next = (c->next + 1) % NBATCHES;
    klog_builder_reset(c->b);
    for (int i = 0; i < BATCH_RECS; i++)
        if (klog_builder_add(c->b, &recs[i]) != 0)
            abort();
    const void *out;
    size_t len;
    if (klog_builder_finish(c->b, &out, &len) != 0)
        abort();
    c->acc += (unsigned)len;
}

static void decode_body(void *p)
{
    batch_ctx_t *c = p;
    int k = c->next;
    c->next = (c->next + 1) % NBATCHES;
    if (klog_batch_reader_open(c->r, c->batches[k], c->lens[k], KLOG_VALIDATE_HEADER) != 0)
        abort();
    klog_record_t rec;
    int rc, n = 0;
    while ((rc = klog_batch_reader_next(c->r, &rec)) == 1) {
        c->acc += ((const uint8_t *)rec.value)[rec.value_len - 1];
        n++;
    }
    if (rc != 0 || n != BATCH_RECS)
        abort();
}

static void setup_batches(batch_ctx_t *c, int codec, const uint8_t *pool)
{
    memset(c, 0, sizeof *c);
    c->codec = codec;
    for (int k = 0; k < NBATCHES; k++)
        for (int i = 0; i < BATCH_RECS; i++) {
            klog_record_t *r = &c->recs[k][i];
            r->timestamp = 1700000000000ll + k * BATCH_RECS + i;
            r->key_len = KLOG_NULL_LEN;
            r->value = pool + rng() % (POOL_SIZE - VALUE_SIZE);
            r->value_len = VALUE_SIZE;
        }
    if (klog_builder_new(codec, &c->b) != 0 || klog_batch_reader_new(&c->r) != 0)
        abort();
    for (int k = 0; k < NBATCHES; k++) {
        if (klog_batch_encode(c->recs[k], BATCH_RECS, codec, &c->batches[k], &c->lens[k]) != 0)
            abort();
        c->bytes += c->lens[k];
    }
}

static void free_batches(batch_ctx_t *c)
{
    for (int k = 0; k < NBATCHES; k++)
        free(c->batches[k]);
    klog_builder_free(c->b);
    klog_batch_reader_free(c->r);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    int runs = quick ? 3 : 7;
    double secs = quick ? 0.01 : 0.25;
    bench_header("bench_codec", "CRC-32C vs XXH3; RecordBatch v2 encode/decode, 50 x 200 B");
    static const char *fold_names[] = { "none", "AVX2 VPCLMULQDQ + crc32q (hybrid)", "AVX-512 VPCLMULQDQ" };
    int fold = klog__crc32c_fold_available();
    printf("# crc32c hardware path: %s; klog_crc32c's long buffers: %s\n",
           klog__crc32c_hw_available() ? "SSE4.2" : "none", fold_names[fold < 0 || fold > 2 ? 0 : fold]);

    /* CRC on one 16 KiB buffer, all four interleaved per run. */
    uint8_t *buf = malloc(CRC_BUF);
    for (size_t i = 0; i < CRC_BUF; i++)
        buf[i] = (uint8_t)rng();
    bench_stat_t crc[4];
    memset(crc, 0, sizeof crc);
    crc_ctx_t cc = { buf, 0, 0 };
    for (int run = 0; run < runs; run++)
        for (int w = 0; w < 4; w++) {
            cc.which = w;
            double per = time_loop(secs, crc_body, &cc, NULL);
            bench_add(&crc[w], CRC_BUF / per / 1e9);
        }
    bench_sink(cc.acc);
    bench_report("crc32c.hw.16k", "GB/s", &crc[0], NULL);
    bench_report("crc32c.sw.16k", "GB/s", &crc[1], NULL);
    bench_report("crc32c.dispatch.16k", "GB/s", &crc[2], NULL);
    bench_report("xxh3_64.16k", "GB/s", &crc[3], NULL);

    /* Encode and decode. */
    uint8_t *pool = word_pool();
    static batch_ctx_t ctx[2];
    static const int codecs[2] = { KLOG_COMPRESSION_NONE, KLOG_COMPRESSION_LZ4 };
    static const char *names[2] = { "none", "lz4" };
    bench_stat_t enc[2], dec[2], enc_mb[2], dec_mb[2];
    memset(enc, 0, sizeof enc);
    memset(dec, 0, sizeof dec);
    memset(enc_mb, 0, sizeof enc_mb);
    memset(dec_mb, 0, sizeof dec_mb);
    for (int k = 0; k < 2; k++)
        setup_batches(&ctx[k], codecs[k], pool);
    for (int run = 0; run < runs; run++)
        for (int k = 0; k < 2; k++) {
            double per = time_loop(secs, encode_body, &ctx[k], NULL);
            bench_add(&enc[k], BATCH_RECS / per);
            bench_add(&enc_mb[k], BATCH_RECS * VALUE_SIZE / per / 1e6);
            per = time_loop(secs, decode_body, &ctx[k], NULL);
            bench_add(&dec[k], BATCH_RECS / per);
            bench_add(&dec_mb[k], BATCH_RECS * VALUE_SIZE / per / 1e6);
        }
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "encode.%s.b50", names[k]);
        bench_report(name, "rec/s", &enc[k], k ? &enc[0] : NULL);
        snprintf(name, sizeof name, "encode.%s.b50.payload", names[k]);
        bench_report(name, "MB/s", &enc_mb[k], NULL);
        snprintf(name, sizeof name, "decode.%s.b50", names[k]);
        bench_report(name, "rec/s", &dec[k], k ? &dec[0] : NULL);
        snprintf(name, sizeof name, "decode.%s.b50.payload", names[k]);
        bench_report(name, "MB/s", &dec_mb[k], NULL);
        bench_sink(ctx[k].acc);
    }
    printf("# lz4 ratio (records section incl. 61-byte header): %.3f (%zu -> %zu bytes)\n",
           (double)ctx[0].bytes / (double)ctx[1].bytes, ctx[0].bytes, ctx[1].bytes);

    bench_ratio("crc32c.hw / crc32c.sw", &crc[0], &crc[1], 4.0);
    bench_ratio("crc32c.hw / xxh3_64", &crc[0], &crc[3], 0.5);
    bench_ratio("crc32c.dispatch / crc32c.hw", &crc[2], &crc[0], 0.0);
    bench_stat_t target;
    memset(&target, 0, sizeof target);
    bench_add(&target, 10e6);
    bench_ratio("encode.none.b50 / 10M rec/s", &enc[0], &target, 1.0);
    target.v[0] = 15e6;
    bench_ratio("decode.none.b50 / 15M rec/s", &dec[0], &target, 1.0);
    bench_ratio("decode.lz4.b50 / decode.none.b50", &dec[1], &dec[0], 0);

    for (int k = 0; k < 2; k++)
        free_batches(&ctx[k]);
    free(pool);
    free(buf);
    return 0;
}
