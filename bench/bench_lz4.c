/*
 * bench_lz4.c — an LZ4 topic against LZ4 itself: what libklog adds to the
 * compression it cannot avoid, measured in the same run.
 *
 * Workload: the paper's (shared/docs/baseline.md), N messages of 200 bytes
 * in batches of 50. Four runs alternate, R times:
 *
 *   append     klog_append into a fresh topic with compression.type lz4
 *              (one RecordBatch per batch, its records section an LZ4
 *              frame), timed over open + appends as in bench_paper;
 *   baseline   the same 50 messages laid out as a raw log (4-byte length
 *              + payload each), compressed into one LZ4 frame with the
 *              settings libklog uses (64 KiB independent blocks, no
 *              checksums, a reused context), and written with one write(2)
 *              per batch (4-byte frame length + frame);
 *   iterator   klog_reader_next over the LZ4 log, every record checked;
 *   baseline   read(2) of the baseline's file in 1 MiB pieces, each frame
 *              decompressed (LZ4F_decompress, a reused context) and every
 *              message in it checked.
 *
 * Issue 19's targets: the LZ4 append >= 0.8x of its baseline, the LZ4
 * iterator >= 0.8x of its baseline (bench_paper gives both against plain
 * write(2)/read(2) too).
 *
 * Usage: bench_lz4 [--quick] [--records N] [--runs R] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define MSG BENCH_MSG
#define RAW_REC (4 + MSG)
#define BATCH 50

static long n_records;
static int runs = 3;
static char work[512];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void cleanup(void)
{
    if (work[0])
        bench_rmrf(work);
}

static const char *path_in(const char *name)
{
    static char paths[2][600];
    static int i;
    char *p = paths[i++ & 1];
    snprintf(p, sizeof paths[0], "%s/%s", work, name);
    return p;
}

static const LZ4F_preferences_t *lz4_prefs(void)
{
    static LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
    prefs.autoFlush = 1;
    return &prefs;
}

/* ------------------------------------------------------------- libklog */

static double klog_append_run(const char *dir, long n)
{
    static klog_record_t recs[BATCH];
    static char data[BATCH][MSG];
    klog_config_t *cfg;
    BENCH_CHECK(klog_config_new(&cfg));
    BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_COMPRESSION, KLOG_COMPRESSION_LZ4));
    bench_rmrf(dir);
    double t0 = bench_now();
    klog_t *log;
    klog_partition_t *p;
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    BENCH_CHECK(klog_topic_create(log, "bench", 1, cfg));
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    for (long i = 0; i < n; i += BATCH) {
        int k = (int)(n - i < BATCH ? n - i : BATCH);
        for (int j = 0; j < k; j++) {
            bench_payload(data[j], (uint64_t)(i + j));
            recs[j] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                      .key_len = KLOG_NULL_LEN,
                                      .value = data[j],
                                      .value_len = MSG};
        }
        BENCH_CHECK(klog_append(p, recs, (size_t)k, NULL));
    }
    double t = bench_now() - t0;
    BENCH_CHECK(klog_close(log));
    klog_config_free(cfg);
    bench_settle(dir);
    return (double)n / t;
}

static double klog_iter_run(const char *dir, long n)
{
    double t0 = bench_now();
    klog_t *log;
    klog_partition_t *p;
    klog_reader_t *r;
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    BENCH_CHECK(klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r));
    klog_record_t rec;
    long seen = 0;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        if (rec.offset != seen ||
            bench_payload_check(rec.value, (size_t)rec.value_len, (uint64_t)seen)) {
            fprintf(stderr, "iterator: wrong record at %ld\n", seen);
            exit(1);
        }
        seen++;
    }
    double t = bench_now() - t0;
    BENCH_CHECK(rc);
    klog_reader_close(r);
    BENCH_CHECK(klog_close(log));
    if (seen != n) {
        fprintf(stderr, "iterator: %ld records, expected %ld\n", seen, n);
        exit(1);
    }
    return (double)n / t;
}

/* ------------------------------------------------------------ baseline */

static void write_all(int fd, const void *buf, size_t len)
{
    const char *c = buf;
    while (len) {
        ssize_t w = write(fd, c, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            die("write");
        c += w;
        len -= (size_t)w;
    }
}

static double raw_compress_write_run(const char *path, long n)
{
    static char raw[BATCH * RAW_REC];
    static char out[4 + BATCH * RAW_REC * 2 + 1024];
    const LZ4F_preferences_t *prefs = lz4_prefs();
    if (LZ4F_compressFrameBound(sizeof raw, prefs) > sizeof out - 4)
        die("LZ4F_compressFrameBound");
    unlink(path);
    double t0 = bench_now();
    LZ4F_cctx *cctx;
    if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
        die("LZ4F_createCompressionContext");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die(path);
    for (long i = 0; i < n; i += BATCH) {
        int k = (int)(n - i < BATCH ? n - i : BATCH);
        for (int j = 0; j < k; j++) {
            uint32_t len = MSG;
            memcpy(raw + (size_t)j * RAW_REC, &len, 4);
            bench_payload(raw + (size_t)j * RAW_REC + 4, (uint64_t)(i + j));
        }
        size_t src = (size_t)k * RAW_REC, cap = sizeof out - 4, pos;
        size_t r = LZ4F_compressBegin(cctx, out + 4, cap, prefs);
        if (LZ4F_isError(r))
            die("LZ4F_compressBegin");
        pos = r;
        r = LZ4F_compressUpdate(cctx, out + 4 + pos, cap - pos, raw, src, NULL);
        if (LZ4F_isError(r))
            die("LZ4F_compressUpdate");
        pos += r;
        r = LZ4F_compressEnd(cctx, out + 4 + pos, cap - pos, NULL);
        if (LZ4F_isError(r))
            die("LZ4F_compressEnd");
        pos += r;
        uint32_t flen = (uint32_t)pos;
        memcpy(out, &flen, 4);
        write_all(fd, out, 4 + pos);
    }
    double t = bench_now() - t0;
    close(fd);
    LZ4F_freeCompressionContext(cctx);
    bench_settle(path);
    return (double)n / t;
}

static double raw_read_decompress_run(const char *path, long n)
{
    static char buf[(1 << 20) + 4 + BATCH * RAW_REC * 2 + 1024];
    static char raw[BATCH * RAW_REC];
    double t0 = bench_now();
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        die("LZ4F_createDecompressionContext");
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    long seen = 0;
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, 1 << 20);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            die("read");
        if (got == 0)
            break;
        have += (size_t)got;
        size_t at = 0;
        for (;;) {
            uint32_t flen;
            if (have - at < 4)
                break;
            memcpy(&flen, buf + at, 4);
            if (have - at < 4 + (size_t)flen)
                break;
            size_t dst = sizeof raw, srcn = flen;
            size_t r = LZ4F_decompress(dctx, raw, &dst, buf + at + 4, &srcn, NULL);
            if (r != 0 || srcn != flen) {
                fprintf(stderr, "baseline: bad frame at record %ld\n", seen);
                exit(1);
            }
            for (size_t q = 0; q + RAW_REC <= dst; q += RAW_REC) {
                uint32_t len;
                memcpy(&len, raw + q, 4);
                if (bench_payload_check(raw + q + 4, len, (uint64_t)seen)) {
                    fprintf(stderr, "baseline: wrong record at %ld\n", seen);
                    exit(1);
                }
                seen++;
            }
            at += 4 + flen;
        }
        memmove(buf, buf + at, have - at);
        have -= at;
    }
    double t = bench_now() - t0;
    close(fd);
    LZ4F_freeDecompressionContext(dctx);
    if (seen != n) {
        fprintf(stderr, "baseline: %ld records, expected %ld\n", seen, n);
        exit(1);
    }
    return (double)n / t;
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    long records = 0;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--records N] [--runs R] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    n_records = records > 0 ? records : quick ? 100000 : 3000000;
    if (runs < 1 || runs > BENCH_MAX_RUNS)
        runs = 3;
    snprintf(work, sizeof work, "%s/klog-lz4-XXXXXX", base);
    if (!mkdtemp(work)) {
        work[0] = 0;
        die("mkdtemp");
    }
    atexit(cleanup);
    bench_pool_init();
    bench_header("bench_lz4", "an LZ4 topic against LZ4 frame compression + raw I/O");
    printf("# %ld records of %d bytes in batches of %d, %d runs per figure\n", n_records, MSG,
           BATCH, runs);

    bench_stat_t app = {0}, base_app = {0}, iter = {0}, base_iter = {0};
    const char *dir = path_in("log"), *raw = path_in("raw.lz4");
    for (int r = 0; r < runs; r++) {
        bench_progress("bench_lz4: run %d/%d", r + 1, runs);
        bench_add(&base_app, raw_compress_write_run(raw, n_records));
        bench_add(&app, klog_append_run(dir, n_records));
        bench_add(&base_iter, raw_read_decompress_run(raw, n_records));
        bench_add(&iter, klog_iter_run(dir, n_records));
    }
    bench_progress("");
    bench_report("lz4.base.compress-write.b50", "rec/s", &base_app, NULL);
    bench_report("lz4.append.b50", "rec/s", &app, &base_app);
    bench_report("lz4.base.read-decompress", "rec/s", &base_iter, NULL);
    bench_report("lz4.read.iter", "rec/s", &iter, &base_iter);
    bench_ratio("lz4.append.b50 / lz4.base.compress-write.b50", &app, &base_app, 0.80);
    bench_ratio("lz4.read.iter / lz4.base.read-decompress", &iter, &base_iter, 0.80);
    return 0;
}
