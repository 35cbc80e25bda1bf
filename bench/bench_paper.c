/*
 * bench_paper.c — the 2011 Kafka paper's experiments on libklog, each beside
 * the machine's limit measured in the same run (plain system calls doing
 * the same I/O), runs alternating so drift hits both alike.
 *
 * Workload (shared/docs/baseline.md): N messages of 200 bytes from a 1 MiB
 * pool of pseudo-random words, each carrying its sequence number in its
 * first 8 bytes; every consumer checks every message (length, sequence
 * number, order) and touches its last byte.
 *
 *   1. producer    klog_append of batches of 1, 10, 50, 100 and 1000 records
 *                  vs raw write(2) of the same bytes (4-byte length + 200
 *                  per message, one write per batch); batch 50 with an LZ4
 *                  topic; batch 50 with an fsync per batch
 *                  (KLOG_CONF_FLUSH_MESSAGES = 1) vs write + fdatasync per
 *                  batch; batch 50 from 1, 2 and 4 threads, each to its own
 *                  partition. Timed: open and every append; the close (which
 *                  fsyncs and seals) is reported on its own. After every
 *                  run, raw or libklog, a syncfs(2) (untimed) writes back
 *                  what it left dirty, so no run pays for another's.
 *   2. consumer    the record iterator over the batch-50 log, and leases of
 *                  1 MiB copied out with klog_lease_copy and decoded, vs
 *                  read(2) of the raw file; the iterator over the LZ4 log.
 *   4. overhead    allocated bytes (st_blocks) of the partition directory
 *                  after close, minus the payload, per record: uncompressed
 *                  and LZ4 (the paper: about 9 bytes).
 *   6. open        klog_open time of a partition of 10, 100 and 1000
 *                  segments at two data volumes, after a clean close and
 *                  after an unclean one (a forked child appends and
 *                  _exit()s without closing).
 *
 * Experiment 1's one-call-per-record producer is bench_producer's, 3
 * (zero-copy) is bench_fetch's, 5 (durable latency) is bench_durable's and
 * 7 (peers) is bench_peers'.
 * Every figure is the median of RUNS runs (3) with min..max.
 *
 * Usage: bench_paper [--quick] [--records N] [--runs R] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define MSG BENCH_MSG
#define RAW_REC (4 + MSG) /* raw log: 4-byte length prefix + payload */
#define MAX_BATCH 1000
#define MAX_THREADS 4

static long n_records = 10000000;
static int runs = 3;
static int quick;
static char work[512]; /* this run's scratch directory, removed at exit */

static void die(const char *what)
{
    fprintf(stderr, "bench_paper: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------ scratch */

static void cleanup(void)
{
    if (work[0])
        bench_rmrf(work);
}

/* Interrupted: remove the (possibly gigabytes of) scratch data. exit() from
 * a handler is not async-signal-safe, but this process does nothing else
 * that matters once it is being stopped. */
static void on_signal(int sig)
{
    (void)sig;
    exit(130);
}

static const char *path_in(const char *name)
{
    static char buf[8][600];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", work, name);
    return b;
}

/* ------------------------------------------------------------- libklog */

static klog_config_t *topic_conf(int codec, int flush_every)
{
    klog_config_t *cfg;
    BENCH_CHECK(klog_config_new(&cfg));
    if (codec)
        BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_COMPRESSION, codec));
    if (flush_every)
        BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_FLUSH_MESSAGES, 1));
    return cfg;
}

/* A fresh log at dir with topic "bench" of `parts` partitions. */
static klog_t *fresh_log(const char *dir, int32_t parts, klog_config_t *tcfg)
{
    klog_t *log;
    bench_rmrf(dir);
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    BENCH_CHECK(klog_topic_create(log, "bench", parts, tcfg));
    return log;
}

typedef struct batch_buf {
    klog_record_t recs[MAX_BATCH];
    char data[MAX_BATCH][MSG];
} batch_buf_t;

static void fill(batch_buf_t *b, long first, int k)
{
    for (int j = 0; j < k; j++) {
        bench_payload(b->data[j], (uint64_t)(first + j));
        b->recs[j] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                     .key_len = KLOG_NULL_LEN,
                                     .value = b->data[j],
                                     .value_len = MSG};
    }
}

static void append_range(klog_partition_t *p, batch_buf_t *b, long first, long n, int batch)
{
    for (long i = 0; i < n; i += batch) {
        int k = (int)(n - i < batch ? n - i : batch);
        fill(b, first + i, k);
        BENCH_CHECK(klog_append(p, b->recs, (size_t)k, NULL));
    }
}

/* Experiment 1: n records in batches into a fresh log at dir; returns
 * records/s for open + appends. The log is closed (untimed unless
 * close_ms) and left on disk for the consumer and overhead figures. */
static double klog_produce_run(const char *dir, long n, int batch, klog_config_t *tcfg,
                               double *close_ms)
{
    static batch_buf_t b;
    bench_rmrf(dir); /* the previous run's gigabytes go before the clock starts */
    double t0 = bench_now();
    klog_t *log = fresh_log(dir, 1, tcfg);
    klog_partition_t *p;
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    append_range(p, &b, 0, n, batch);
    double t = bench_now() - t0;
    double c0 = bench_now();
    BENCH_CHECK(klog_close(log));
    if (close_ms)
        *close_ms = (bench_now() - c0) * 1000.0;
    bench_settle(dir);
    return (double)n / t;
}

/* Bytes per record beyond the payload, of the closed log at dir. */
static double overhead_per_record(const char *dir, long n)
{
    char part[700];
    snprintf(part, sizeof part, "%s/bench-0", dir);
    return (double)(bench_disk_bytes(part) - (long long)n * MSG) / (double)n;
}

typedef struct thr_arg {
    klog_partition_t *p;
    long n;
    int batch;
} thr_arg_t;

static void *thr_append(void *v)
{
    thr_arg_t *a = v;
    batch_buf_t *b = malloc(sizeof *b);
    if (!b)
        die("malloc");
    append_range(a->p, b, 0, a->n, a->batch);
    free(b);
    return NULL;
}

/* n records in total from `threads` threads, each into its own partition. */
static double klog_threads_run(const char *dir, long n, int threads)
{
    pthread_t th[MAX_THREADS];
    thr_arg_t a[MAX_THREADS];
    bench_rmrf(dir);
    double t0 = bench_now();
    klog_t *log = fresh_log(dir, MAX_THREADS, NULL);
    for (int i = 0; i < threads; i++) {
        a[i] = (thr_arg_t){.n = n / threads, .batch = 50};
        BENCH_CHECK(klog_partition(log, "bench", i, &a[i].p));
        if (pthread_create(&th[i], NULL, thr_append, &a[i]))
            die("pthread_create");
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    BENCH_CHECK(klog_close(log));
    bench_rmrf(dir);
    bench_settle(work);
    return (double)(n / threads * threads) / t;
}

/* Experiment 2: the record iterator over the log at dir. */
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
        if (rec.offset != seen || bench_payload_check(rec.value, (size_t)rec.value_len,
                                                      (uint64_t)seen)) {
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

/* Experiment 2: leases of up to 1 MiB copied into a buffer, their batches
 * decoded (CRC checked) and every record checked. */
static double klog_lease_copy_run(const char *dir, long n)
{
    static char buf[4 << 20];
    double t0 = bench_now();
    klog_t *log;
    klog_partition_t *p;
    klog_batch_reader_t *br;
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    BENCH_CHECK(klog_batch_reader_new(&br));
    int64_t off = 0;
    long seen = 0;
    for (;;) {
        klog_lease_t *l;
        BENCH_CHECK(klog_lease_acquire(p, off, 1 << 20, &l));
        size_t len = klog_lease_bytes(l);
        if (len == 0) {
            klog_lease_release(l);
            break;
        }
        BENCH_CHECK(klog_lease_copy(l, buf, sizeof buf));
        off = klog_lease_next_offset(l);
        klog_lease_release(l);
        for (size_t at = 0; at < len;) {
            BENCH_CHECK(klog_batch_reader_open(br, buf + at, len - at, KLOG_VALIDATE_HEADER));
            klog_record_t rec;
            int rc;
            while ((rc = klog_batch_reader_next(br, &rec)) == 1) {
                if (rec.offset != seen || bench_payload_check(rec.value, (size_t)rec.value_len,
                                                              (uint64_t)seen)) {
                    fprintf(stderr, "lease copy: wrong record at %ld\n", seen);
                    exit(1);
                }
                seen++;
            }
            BENCH_CHECK(rc);
            at += klog_batch_reader_info(br)->size;
        }
    }
    double t = bench_now() - t0;
    klog_batch_reader_free(br);
    BENCH_CHECK(klog_close(log));
    if (seen != n) {
        fprintf(stderr, "lease copy: %ld records, expected %ld\n", seen, n);
        exit(1);
    }
    return (double)n / t;
}

/* ----------------------------------------------------------- raw files */

static void put_raw(char *q, long seq)
{
    uint32_t len = MSG;
    memcpy(q, &len, 4);
    bench_payload(q + 4, (uint64_t)seq);
}

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

/* The machine's limit for experiment 1: one write(2) per batch of records
 * of rec_bytes each (the message and its length, then filler), with an
 * fdatasync after each when sync. Records/s for open + writes. */
static double raw_write_sized(const char *path, long n, int batch, int sync, size_t rec_bytes)
{
    static char buf[MAX_BATCH * RAW_REC + 4096];
    if ((size_t)batch * rec_bytes > sizeof buf || rec_bytes < RAW_REC)
        die("raw_write_sized: batch too large");
    unlink(path); /* freeing the previous file's blocks is not this run's work */
    double t0 = bench_now();
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        die(path);
    for (long i = 0; i < n; i += batch) {
        int k = (int)(n - i < batch ? n - i : batch);
        for (int j = 0; j < k; j++)
            put_raw(buf + (size_t)j * rec_bytes, i + j);
        write_all(fd, buf, (size_t)k * rec_bytes);
        if (sync && fdatasync(fd) < 0)
            die("fdatasync");
    }
    double t = bench_now() - t0;
    close(fd);
    bench_settle(path);
    return (double)n / t;
}

/* The same, each record its length and message (RAW_REC bytes). */
static double raw_write_run(const char *path, long n, int batch, int sync)
{
    return raw_write_sized(path, n, batch, sync, RAW_REC);
}

/* What libklog writes for one message appended alone: a RecordBatch of
 * one record (61-byte header, the record's length, attributes, deltas,
 * key and value lengths, header count), the bytes batch 1's second
 * baseline writes per write(2). */
static size_t framed_b1_bytes(void)
{
    char msg[MSG];
    bench_payload(msg, 0);
    klog_record_t r = {.timestamp = 1700000000000, .key_len = KLOG_NULL_LEN, .value = msg,
                       .value_len = MSG};
    void *out;
    size_t len;
    BENCH_CHECK(klog_batch_encode(&r, 1, KLOG_COMPRESSION_NONE, &out, &len));
    free(out);
    return len;
}

/* read(2) of the raw file, every message parsed and checked. */
static double raw_read_run(const char *path, long n)
{
    static char buf[(1 << 20) + RAW_REC];
    double t0 = bench_now();
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    long seen = 0;
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, (1 << 20));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            die("read");
        if (got == 0)
            break;
        have += (size_t)got;
        size_t at = 0;
        while (have - at >= RAW_REC) {
            uint32_t len;
            memcpy(&len, buf + at, 4);
            if (bench_payload_check(buf + at + 4, len, (uint64_t)seen)) {
                fprintf(stderr, "raw read: wrong record at %ld\n", seen);
                exit(1);
            }
            seen++;
            at += RAW_REC;
        }
        memmove(buf, buf + at, have - at);
        have -= at;
    }
    double t = bench_now() - t0;
    close(fd);
    if (seen != n) {
        fprintf(stderr, "raw read: %ld records, expected %ld\n", seen, n);
        exit(1);
    }
    return (double)n / t;
}

/* ----------------------------------------------------------- open time */

/* A closed log at dir whose partition holds `records` in `segments`
 * segments. Batches of 50 records (fewer when a segment holds fewer); the
 * roll size is set from the size of a real batch, measured first on a
 * probe topic, so each segment holds the same whole number of batches. */
static void build_segmented(const char *dir, int segments, long records)
{
    static batch_buf_t b;
    long per_seg = records / segments;
    int batch = per_seg < 50 ? (int)per_seg : 50;
    klog_t *log = fresh_log(dir, 1, NULL);
    klog_partition_t *p;
    klog_offsets_t o;
    BENCH_CHECK(klog_topic_create(log, "probe", 1, NULL));
    BENCH_CHECK(klog_partition(log, "probe", 0, &p));
    append_range(p, &b, 0, batch, batch);
    BENCH_CHECK(klog_partition_offsets(p, &o));
    BENCH_CHECK(klog_topic_delete(log, "probe"));
    BENCH_CHECK(klog_topic_delete(log, "bench"));
    long seg_bytes = (per_seg / batch) * o.bytes + o.bytes / 2;
    klog_config_t *tcfg = topic_conf(0, 0);
    BENCH_CHECK(klog_config_set(tcfg, KLOG_CONF_SEGMENT_BYTES, seg_bytes < 1024 ? 1024 : seg_bytes));
    BENCH_CHECK(klog_topic_create(log, "bench", 1, tcfg));
    klog_config_free(tcfg);
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    append_range(p, &b, 0, records, batch);
    BENCH_CHECK(klog_close(log));
}

static double time_open(const char *dir, int64_t *segments)
{
    klog_t *log;
    double t0 = bench_now();
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    double t = bench_now() - t0;
    if (segments) {
        klog_partition_t *p;
        klog_offsets_t o;
        BENCH_CHECK(klog_partition(log, "bench", 0, &p));
        BENCH_CHECK(klog_partition_offsets(p, &o));
        *segments = o.segments;
    }
    BENCH_CHECK(klog_close(log));
    return t * 1000.0;
}

/* An unclean shutdown: a child opens the log, appends a batch (so the
 * active segment has an unsealed tail) and exits without closing. The
 * batch is no larger than the log's, so it fits a segment. */
static void crash_after_append(const char *dir, long first, int batch)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        klog_t *log;
        klog_partition_t *p;
        static batch_buf_t b;
        int rc = klog_open(dir, NULL, 0, &log);
        if (rc == 0)
            rc = klog_partition(log, "bench", 0, &p);
        if (rc == 0) {
            fill(&b, first, batch);
            rc = klog_append(p, b.recs, (size_t)batch, NULL);
        }
        if (rc < 0)
            fprintf(stderr, "bench_paper: crashing child: %s\n", klog_strerror(rc));
        _exit(rc < 0);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_paper: the crashing child failed\n");
        exit(1);
    }
}

/* ----------------------------------------------------------------- main */

static void report_named(const char *fmt_name, const char *arg, const char *unit,
                         const bench_stat_t *s, const bench_stat_t *base)
{
    char name[160];
    snprintf(name, sizeof name, fmt_name, arg);
    bench_report(name, unit, s, base);
}

static void experiment_producer(void)
{
    static const int sizes[] = {1, 10, 50, 100, 1000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    bench_stat_t kb[NS], raw[NS];
    memset(kb, 0, sizeof kb), memset(raw, 0, sizeof raw);
    bench_stat_t lz4 = {0}, closes = {0}, ovh = {0}, ovh_lz4 = {0}, framed = {0};
    size_t framed_len = framed_b1_bytes();
    bench_stat_t iter = {0}, lease = {0}, rread = {0}, iter_lz4 = {0};
    const char *klogdir = path_in("log"), *rawfile = path_in("raw.log");
    klog_config_t *lz4cfg = topic_conf(KLOG_COMPRESSION_LZ4, 0);

    for (int r = 0; r < runs; r++) {
        for (int s = 0; s < NS; s++) {
            bench_progress("bench_paper: producer run %d/%d, batch %d", r + 1, runs, sizes[s]);
            bench_add(&raw[s], raw_write_run(rawfile, n_records, sizes[s], 0));
            double close_ms;
            bench_add(&kb[s], klog_produce_run(klogdir, n_records, sizes[s], NULL, &close_ms));
            if (sizes[s] == 1)
                bench_add(&framed, raw_write_sized(rawfile, n_records, 1, 0, framed_len));
            if (sizes[s] != 50)
                continue;
            /* The batch-50 log and raw file feed the consumer figures. */
            bench_add(&closes, close_ms);
            bench_add(&ovh, overhead_per_record(klogdir, n_records));
            bench_progress("bench_paper: consumer run %d/%d", r + 1, runs);
            bench_add(&rread, raw_read_run(rawfile, n_records));
            bench_add(&iter, klog_iter_run(klogdir, n_records));
            bench_add(&lease, klog_lease_copy_run(klogdir, n_records));
        }
        unlink(rawfile);
        bench_progress("bench_paper: producer run %d/%d, batch 50, LZ4", r + 1, runs);
        bench_add(&lz4, klog_produce_run(klogdir, n_records, 50, lz4cfg, NULL));
        bench_add(&ovh_lz4, overhead_per_record(klogdir, n_records));
        bench_add(&iter_lz4, klog_iter_run(klogdir, n_records));
        bench_rmrf(klogdir);
    }
    klog_config_free(lz4cfg);
    for (int s = 0; s < NS; s++) {
        char b[16];
        snprintf(b, sizeof b, "%d", sizes[s]);
        report_named("paper.raw.write.b%s", b, "rec/s", &raw[s], NULL);
        report_named("paper.append.b%s", b, "rec/s", &kb[s], &raw[s]);
    }
    /* Batch 1's bound: Kafka's framing of one record is framed_len bytes,
     * not RAW_REC, and the kernel's write costs grow with them. */
    bench_report("paper.raw.write.framed.b1", "rec/s", &framed, &raw[0]);
    bench_ratio("paper.append.b1 / paper.raw.write.framed.b1", &kb[0], &framed, 0);
    bench_report("paper.append.b50.lz4", "rec/s", &lz4, &raw[2]);
    bench_report("paper.close.b50", "ms", &closes, NULL);
    bench_report("paper.raw.read", "rec/s", &rread, NULL);
    bench_report("paper.read.iter", "rec/s", &iter, &rread);
    bench_report("paper.read.lease-copy", "rec/s", &lease, &rread);
    bench_report("paper.read.iter.lz4", "rec/s", &iter_lz4, &rread);
    bench_report("paper.overhead.none", "B/rec", &ovh, NULL);
    bench_report("paper.overhead.lz4", "B/rec", &ovh_lz4, NULL);
    bench_ratio("paper.append.b50 / paper.raw.write.b50", &kb[2], &raw[2], 0.80);
    bench_ratio("paper.append.b50 / paper.append.b1", &kb[2], &kb[0], 0);
}

static void experiment_fsync_and_threads(void)
{
    long nsync = quick ? 5000 : 100000;
    bench_stat_t ks = {0}, rs = {0}, th[3];
    memset(th, 0, sizeof th);
    const char *klogdir = path_in("log"), *rawfile = path_in("raw.log");
    klog_config_t *fcfg = topic_conf(0, 1);
    for (int r = 0; r < runs; r++) {
        bench_progress("bench_paper: fsync per batch, run %d/%d", r + 1, runs);
        bench_add(&rs, raw_write_run(rawfile, nsync, 50, 1));
        unlink(rawfile);
        bench_add(&ks, klog_produce_run(klogdir, nsync, 50, fcfg, NULL));
        bench_rmrf(klogdir);
        for (int t = 0; t < 3; t++) {
            bench_progress("bench_paper: %d threads, run %d/%d", 1 << t, r + 1, runs);
            bench_add(&th[t], klog_threads_run(klogdir, n_records, 1 << t));
        }
    }
    klog_config_free(fcfg);
    bench_report("paper.raw.write+fdatasync.b50", "rec/s", &rs, NULL);
    bench_report("paper.append.b50.fsync", "rec/s", &ks, &rs);
    bench_report("paper.append.b50.1t", "rec/s", &th[0], NULL);
    bench_report("paper.append.b50.2t", "rec/s", &th[1], &th[0]);
    bench_report("paper.append.b50.4t", "rec/s", &th[2], &th[0]);
}

static void experiment_open(void)
{
    static const int segs[] = {10, 100, 1000};
    static const char *vol_name[2] = {"small", "large"};
    long vols[2] = {quick ? 20000 : 200000, quick ? 100000 : 2000000};
    const char *dir = path_in("open");
    char name[128];
    for (int v = 0; v < 2; v++) {
        bench_stat_t mb = {0};
        for (int s = 0; s < 3; s++) {
            bench_stat_t clean = {0}, unclean = {0};
            bench_progress("bench_paper: open time, %d segments, %ld records", segs[s], vols[v]);
            build_segmented(dir, segs[s], vols[v]);
            if (s == 0) {
                char part[700];
                snprintf(part, sizeof part, "%s/bench-0", dir);
                for (int r = 0; r < runs; r++)
                    bench_add(&mb, (double)bench_disk_bytes(part) / 1e6);
                snprintf(name, sizeof name, "paper.open.volume.%s", vol_name[v]);
                bench_report(name, "MB", &mb, NULL);
            }
            int64_t nseg = 0;
            for (int r = 0; r < runs; r++) {
                bench_add(&clean, time_open(dir, &nseg));
                crash_after_append(dir, vols[v] + 50L * r, vols[v] / segs[s] < 50 ? (int)(vols[v] / segs[s]) : 50);
                bench_add(&unclean, time_open(dir, NULL));
            }
            if (nseg < segs[s] * 9 / 10 || nseg > segs[s] * 11 / 10 + 1)
                printf("# note: %d segments asked, %lld built\n", segs[s], (long long)nseg);
            snprintf(name, sizeof name, "paper.open.clean.%dseg.%s", segs[s], vol_name[v]);
            bench_report(name, "ms", &clean, NULL);
            snprintf(name, sizeof name, "paper.open.unclean.%dseg.%s", segs[s], vol_name[v]);
            bench_report(name, "ms", &unclean, NULL);
            bench_rmrf(dir);
        }
    }
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    long records = 0;
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
    n_records = records > 0 ? records : quick ? 100000 : 10000000;
    if (runs < 1 || runs > BENCH_MAX_RUNS)
        runs = 3;
    snprintf(work, sizeof work, "%s/klog-paper-XXXXXX", base);
    if (!mkdtemp(work)) {
        work[0] = 0;
        die("mkdtemp");
    }
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    bench_pool_init();
    bench_header("bench_paper", "the 2011 paper's experiments, each beside raw system calls");
    printf("# %ld records of %d bytes, %d runs per figure, scratch in %s\n", n_records, MSG, runs,
           base);

    static const struct {
        const char *name;
        void (*run)(void);
    } exps[] = {{"producer and consumer", experiment_producer},
                {"fsync per batch and threads", experiment_fsync_and_threads},
                {"open time", experiment_open}};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        double t0 = bench_now();
        exps[i].run();
        printf("# %s: %.1f s\n", exps[i].name, bench_now() - t0);
        fflush(stdout);
    }
    bench_progress("");
    return 0;
}
