/*
 * bench_log.c — the storage engine against the machine's limit, in one run.
 *
 * Every libklog figure is taken beside a baseline that does the same I/O
 * with plain system calls, alternating runs, so a ratio survives a noisy,
 * shared machine. Reported as median of RUNS runs (min..max).
 *
 *   append.b1 / append.b50   klog_append of 200-byte records, batch 1 / 50,
 *                            no fsync           vs raw write(2) of the same
 *                            bytes (4-byte length + 200 payload) per 50
 *   read.iter                record iterator over the log vs raw read(2)
 *                            of the same .log files
 *   durable.b50              fsync per batch of 50 (flush every append)
 *                            vs raw write + fdatasync per batch
 *   durable.4threads         4 appending threads with group commit vs 1
 *   open.clean / open.unclean  open time of a 1000-segment partition after
 *                            a clean close and after a crash, at two data
 *                            volumes
 *
 * Usage: bench_log [--quick] [--records N] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define VALUE 200

static char pool[1 << 20];
static const char *base_dir = "/tmp";
static long n_records = 10000000;
static int quick;

static const char *value_at(long i) { return pool + (size_t)(i * 7919) % (sizeof pool - VALUE); }

static klog_partition_t *open_topic(const char *dir, klog_t **log, klog_config_t *topic_cfg)
{
    bench_rmrf(dir);
    BENCH_CHECK(klog_open(dir, NULL, 0, log));
    BENCH_CHECK(klog_topic_create(*log, "bench", 1, topic_cfg));
    klog_partition_t *p;
    BENCH_CHECK(klog_partition(*log, "bench", 0, &p));
    return p;
}

static void fill_batch(klog_record_t *recs, long first, int n)
{
    for (int j = 0; j < n; j++)
        recs[j] = (klog_record_t){.timestamp = 1700000000000LL + first + j,
                                  .key_len = KLOG_NULL_LEN,
                                  .value = value_at(first + j),
                                  .value_len = VALUE};
}

/* --------------------------------------------------------------- append */

static double run_append(long n, int batch, bench_stat_t *close_stat)
{
    klog_t *log;
    char *dir = bench_tmp_path(base_dir, "append");
    klog_partition_t *p = open_topic(dir, &log, NULL);
    klog_record_t recs[64];
    double t0 = bench_now();
    for (long i = 0; i < n; i += batch) {
        int k = (int)(n - i < batch ? n - i : batch);
        fill_batch(recs, i, k);
        BENCH_CHECK(klog_append(p, recs, (size_t)k, NULL));
    }
    /* Appends only: close fsyncs and seals (durability the baseline lacks);
     * it is reported separately. */
    double t = bench_now() - t0;
    double c0 = bench_now();
    BENCH_CHECK(klog_close(log));
    if (close_stat)
        bench_add(close_stat, (bench_now() - c0) * 1000.0);
    bench_rmrf(dir);
    return (double)n / t;
}

static double run_raw_write(long n, int batch, int sync)
{
    char *path = bench_tmp_path(base_dir, "raw.log");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    static char buf[64 * (VALUE + 4)];
    double t0 = bench_now();
    for (long i = 0; i < n; i += batch) {
        int k = (int)(n - i < batch ? n - i : batch);
        char *q = buf;
        for (int j = 0; j < k; j++) {
            uint32_t len = VALUE;
            memcpy(q, &len, 4);
            memcpy(q + 4, value_at(i + j), VALUE);
            q += VALUE + 4;
        }
        if (write(fd, buf, (size_t)(q - buf)) < 0) {
            perror("write");
            exit(1);
        }
        if (sync && fdatasync(fd) < 0) {
            perror("fdatasync");
            exit(1);
        }
    }
    double t = bench_now() - t0;
    close(fd);
    unlink(path);
    return (double)n / t;
}

/* ----------------------------------------------------------------- read */

static double run_read_iter(const char *dir, long expect)
{
    klog_t *log;
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    klog_partition_t *p;
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    klog_reader_t *r;
    BENCH_CHECK(klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r));
    klog_record_t rec;
    long n = 0;
    unsigned sink = 0;
    int rc;
    double t0 = bench_now();
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        if (rec.offset != n || rec.value_len != VALUE) {
            fprintf(stderr, "read: bad record at %ld\n", n);
            exit(1);
        }
        sink += ((const unsigned char *)rec.value)[VALUE - 1];
        n++;
    }
    double t = bench_now() - t0;
    BENCH_CHECK(rc);
    klog_reader_close(r);
    BENCH_CHECK(klog_close(log));
    if (n != expect) {
        fprintf(stderr, "read: %ld records, expected %ld\n", n, expect);
        exit(1);
    }
    bench_sink(sink);
    return (double)n / t;
}

/* Plain read(2) of the same .log files, touching each record's last byte
 * like the iterator's caller does (records located by the batch layout is
 * what libklog adds; the baseline only streams bytes). */
static double run_raw_read(const char *dir, long expect)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s/bench-0/*.log", dir);
    FILE *ls = popen(cmd, "r");
    char path[1024];
    static char buf[1 << 20];
    unsigned sink = 0;
    double t0 = bench_now();
    while (ls && fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = 0;
        int fd = open(path, O_RDONLY);
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = VALUE - 1; i < n; i += VALUE + 12)
                sink += (unsigned char)buf[i];
        close(fd);
    }
    double t = bench_now() - t0;
    if (ls)
        pclose(ls);
    bench_sink(sink);
    return (double)expect / t;
}

/* -------------------------------------------------------------- durable */

typedef struct dur_arg {
    klog_partition_t *p;
    long n;
    long first;
} dur_arg_t;

static void *dur_thread(void *v)
{
    dur_arg_t *a = v;
    klog_record_t recs[50];
    for (long i = 0; i < a->n; i += 50) {
        fill_batch(recs, a->first + i, 50);
        BENCH_CHECK(klog_append(a->p, recs, 50, NULL));
    }
    return NULL;
}

static double run_durable(long n, int threads, long *fsyncs_out)
{
    klog_t *log;
    klog_config_t *cfg;
    BENCH_CHECK(klog_config_new(&cfg));
    BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_FLUSH_MESSAGES, 1));
    char *dir = bench_tmp_path(base_dir, "durable");
    klog_partition_t *p = open_topic(dir, &log, cfg);
    klog_config_free(cfg);
    pthread_t th[16];
    dur_arg_t args[16];
    double t0 = bench_now();
    for (int i = 0; i < threads; i++) {
        args[i] = (dur_arg_t){p, n / threads, i * (n / threads)};
        pthread_create(&th[i], NULL, dur_thread, &args[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    (void)fsyncs_out;
    BENCH_CHECK(klog_close(log));
    bench_rmrf(dir);
    return (double)(n / threads * threads) / t;
}

/* ----------------------------------------------------------------- open */

/* Build a partition of `segments` segments holding `records` in total. */
static void build_segmented(const char *dir, int segments, long records)
{
    klog_config_t *cfg;
    BENCH_CHECK(klog_config_new(&cfg));
    long per_seg = records / segments;
    long seg_bytes = per_seg / 50 * (50 * 212 + 61) + 100;
    BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, seg_bytes < 1024 ? 1024 : seg_bytes));
    klog_t *log;
    klog_partition_t *p = open_topic(dir, &log, cfg);
    klog_config_free(cfg);
    klog_record_t recs[50];
    for (long i = 0; i < records; i += 50) {
        fill_batch(recs, i, 50);
        BENCH_CHECK(klog_append(p, recs, 50, NULL));
    }
    BENCH_CHECK(klog_close(log));
}

static double time_open(const char *dir)
{
    klog_t *log;
    double t0 = bench_now();
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    double t = bench_now() - t0;
    BENCH_CHECK(klog_close(log));
    return t * 1000.0;
}

/* Reopen, append one batch so the tail is unsealed, and die without closing. */
static void crash_after_append(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        klog_t *log;
        klog_partition_t *p;
        if (klog_open(dir, NULL, 0, &log) || klog_partition(log, "bench", 0, &p))
            _exit(1);
        klog_record_t recs[50];
        fill_batch(recs, 0, 50);
        if (klog_append(p, recs, 50, NULL))
            _exit(1);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "crash child failed\n");
        exit(1);
    }
}

static double time_unclean_open(const char *dir)
{
    crash_after_append(dir);
    return time_open(dir);
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            n_records = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base_dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--records N] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (quick && n_records == 10000000)
        n_records = 200000;
    int runs = quick ? 1 : 3;
    srand(42);
    for (size_t i = 0; i < sizeof pool; i++)
        pool[i] = (char)('a' + rand() % 26);
    bench_header("bench_log", "storage engine vs plain system calls, same run");

    /* 1. Appends, alternating with the raw baseline. */
    bench_stat_t raw50 = {0}, kb50 = {0}, raw1 = {0}, kb1 = {0}, closes = {0};
    long n1 = quick ? n_records / 4 : n_records / 4;
    for (int r = 0; r < runs; r++) {
        bench_add(&raw50, run_raw_write(n_records, 50, 0));
        bench_add(&kb50, run_append(n_records, 50, &closes));
        bench_add(&raw1, run_raw_write(n1, 1, 0));
        bench_add(&kb1, run_append(n1, 1, NULL));
    }
    bench_report("raw.write.b50", "rec/s", &raw50, NULL);
    bench_report("append.b50", "rec/s", &kb50, &raw50);
    bench_report("raw.write.b1", "rec/s", &raw1, NULL);
    bench_report("append.b1", "rec/s", &kb1, &raw1);
    bench_report("close.after.b50 (fsync+seal)", "ms", &closes, NULL);
    bench_ratio("append.b50 / raw.write.b50", &kb50, &raw50, 0.70);

    /* 2. Sequential read of one log: iterator vs read(2). */
    char *rdir = bench_tmp_path(base_dir, "read");
    {
        klog_t *log;
        klog_partition_t *p = open_topic(rdir, &log, NULL);
        klog_record_t recs[50];
        for (long i = 0; i < n_records; i += 50) {
            fill_batch(recs, i, 50);
            BENCH_CHECK(klog_append(p, recs, 50, NULL));
        }
        BENCH_CHECK(klog_close(log));
    }
    bench_stat_t it = {0}, rr = {0};
    for (int r = 0; r < runs; r++) {
        bench_add(&rr, run_raw_read(rdir, n_records));
        bench_add(&it, run_read_iter(rdir, n_records));
    }
    bench_rmrf(rdir);
    bench_report("raw.read", "rec/s", &rr, NULL);
    bench_report("read.iter", "rec/s", &it, &rr);

    /* 3. Durable appends: fsync per batch of 50. */
    long nd = quick ? 5000 : 100000;
    bench_stat_t rs = {0}, ds = {0}, d4 = {0};
    for (int r = 0; r < runs; r++) {
        bench_add(&rs, run_raw_write(nd, 50, 1));
        bench_add(&ds, run_durable(nd, 1, NULL));
        bench_add(&d4, run_durable(nd, 4, NULL));
    }
    bench_report("raw.write+fdatasync.b50", "rec/s", &rs, NULL);
    bench_report("durable.b50", "rec/s", &ds, &rs);
    bench_report("durable.b50.4threads", "rec/s", &d4, &ds);
    bench_ratio("durable.b50 / raw fdatasync", &ds, &rs, 0.80);
    bench_ratio("durable 4 threads / 1 thread", &d4, &ds, 1.0);

    /* 4. Open time of a 1000-segment partition at two data volumes. */
    int segs = quick ? 100 : 1000;
    long vols[2] = {quick ? 20000 : 200000, quick ? 100000 : 2000000};
    for (int v = 0; v < 2; v++) {
        char *odir = bench_tmp_path(base_dir, "open");
        build_segmented(odir, segs, vols[v]);
        bench_stat_t clean = {0}, unclean = {0};
        for (int r = 0; r < runs; r++) {
            bench_add(&clean, time_open(odir));
            bench_add(&unclean, time_unclean_open(odir));
        }
        char name[128];
        snprintf(name, sizeof name, "open.clean.%dseg.%ldrec", segs, vols[v]);
        bench_report(name, "ms", &clean, NULL);
        snprintf(name, sizeof name, "open.unclean.%dseg.%ldrec", segs, vols[v]);
        bench_report(name, "ms", &unclean, NULL);
        bench_rmrf(odir);
    }
    return 0;
}
