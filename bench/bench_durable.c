/*
 * bench_durable.c — the 2011 paper's experiment 5 on libklog: the latency
 * of durable single-record appends (KLOG_CONF_FLUSH_MESSAGES = 1: each
 * klog_append returns once its record is fsynced; concurrent appenders
 * share fsyncs, group commit), 1 to 4 threads on one partition, p50, p99
 * and p99.9, beside two baselines measured in the same run, runs
 * alternating:
 *
 *   raw, 1 thread    write(2) + fdatasync(2) of one message at a time,
 *                    the machine's floor for one durable record;
 *   raw, N threads   N threads on one file, each doing its own write(2)
 *                    (O_APPEND) + fdatasync(2) per message: what N
 *                    durable writers get from the kernel without any group
 *                    commit of their own (the file system's journal
 *                    serialises the commits their file-size updates need).
 *
 * Every latency is one append (or write + fdatasync) in microseconds.
 * Figures: paper.raw.fdatasync.lat.<q> (1 thread),
 * paper.raw.fdatasync.lat.<q>.<N>t, paper.durable.lat.<q>.<N>t (its ratio
 * to the 1-thread raw figure) and ratios to the N-thread raw figure.
 *
 * Usage: bench_durable [--quick] [--per N] [--runs R] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define MSG BENCH_MSG
#define RAW_REC (4 + MSG)
#define MAX_THREADS 4

static int runs = 3;
static char work[512];

static void die(const char *what)
{
    fprintf(stderr, "bench_durable: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void cleanup(void)
{
    if (work[0])
        bench_rmrf(work);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sort the n latencies and take p50, p99, p99.9. */
static void quantiles(double *lat, long n, double q[3])
{
    static const double at[3] = {0.50, 0.99, 0.999};
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    for (int i = 0; i < 3; i++) {
        long k = (long)(at[i] * (double)n);
        q[i] = lat[k < n ? k : n - 1];
    }
}

typedef struct lat_arg {
    klog_partition_t *p; /* NULL: the raw baseline, on fd */
    int fd;
    long first, n;
    double *lat;
} lat_arg_t;

static void *thr_durable(void *v)
{
    lat_arg_t *a = v;
    char rec[RAW_REC];
    uint32_t len = MSG;
    memcpy(rec, &len, 4);
    for (long i = 0; i < a->n; i++) {
        bench_payload(rec + 4, (uint64_t)(a->first + i));
        double t0 = bench_now();
        if (a->p) {
            klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW,
                               .key_len = KLOG_NULL_LEN,
                               .value = rec + 4,
                               .value_len = MSG};
            BENCH_CHECK(klog_append(a->p, &r, 1, NULL));
        } else {
            ssize_t w = write(a->fd, rec, sizeof rec);
            if (w != (ssize_t)sizeof rec)
                die("write");
            if (fdatasync(a->fd) < 0)
                die("fdatasync");
        }
        a->lat[i] = (bench_now() - t0) * 1e6;
    }
    return NULL;
}

/* `threads` threads each making `per` durable appends, to one libklog
 * partition at dir, or (dir NULL) with write + fdatasync to the file at
 * path; their latency percentiles in q. */
static void durable_run(const char *dir, const char *path, int threads, long per, double q[3])
{
    klog_t *log = NULL;
    klog_partition_t *p = NULL;
    int fd = -1;
    if (dir) {
        klog_config_t *tcfg;
        BENCH_CHECK(klog_config_new(&tcfg));
        BENCH_CHECK(klog_config_set(tcfg, KLOG_CONF_FLUSH_MESSAGES, 1));
        bench_rmrf(dir);
        BENCH_CHECK(klog_open(dir, NULL, 0, &log));
        BENCH_CHECK(klog_topic_create(log, "bench", 1, tcfg));
        klog_config_free(tcfg);
        BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    } else {
        fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0644);
        if (fd < 0)
            die(path);
    }
    double *lat = malloc(sizeof(double) * (size_t)(per * threads));
    if (!lat)
        die("malloc");
    pthread_t th[MAX_THREADS];
    lat_arg_t a[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        a[i] = (lat_arg_t){p, fd, i * per, per, lat + i * per};
        if (pthread_create(&th[i], NULL, thr_durable, &a[i]))
            die("pthread_create");
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    if (log) {
        BENCH_CHECK(klog_close(log));
        bench_rmrf(dir);
    } else {
        close(fd);
        unlink(path);
    }
    quantiles(lat, per * threads, q);
    free(lat);
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    long per = 0;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--per") && i + 1 < argc)
            per = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--per N] [--runs R] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (per <= 0)
        per = quick ? 100 : 2000;
    if (runs < 1 || runs > BENCH_MAX_RUNS)
        runs = 3;
    snprintf(work, sizeof work, "%s/klog-durable-XXXXXX", base);
    if (!mkdtemp(work)) {
        work[0] = 0;
        die("mkdtemp");
    }
    atexit(cleanup);
    bench_pool_init();
    bench_header("bench_durable", "durable single-record appends (group commit) vs write + fdatasync");
    printf("# %ld appends per thread, 1-%d threads, %d runs per figure, scratch in %s\n", per,
           MAX_THREADS, runs, base);

    static const char *qn[3] = {"p50", "p99", "p999"};
    bench_stat_t k[MAX_THREADS][3], raw[MAX_THREADS][3];
    memset(k, 0, sizeof k), memset(raw, 0, sizeof raw);
    char klogdir[600], rawfile[600];
    snprintf(klogdir, sizeof klogdir, "%s/dur", work);
    snprintf(rawfile, sizeof rawfile, "%s/dur.raw", work);
    for (int r = 0; r < runs; r++)
        for (int t = 1; t <= MAX_THREADS; t++) {
            double q[3];
            bench_progress("bench_durable: run %d/%d, %d threads, raw", r + 1, runs, t);
            durable_run(NULL, rawfile, t, per, q);
            for (int i = 0; i < 3; i++)
                bench_add(&raw[t - 1][i], q[i]);
            bench_progress("bench_durable: run %d/%d, %d threads, libklog", r + 1, runs, t);
            durable_run(klogdir, NULL, t, per, q);
            for (int i = 0; i < 3; i++)
                bench_add(&k[t - 1][i], q[i]);
        }
    bench_progress("");
    char name[96], rname[96];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "paper.raw.fdatasync.lat.%s", qn[i]);
        bench_report(name, "us", &raw[0][i], NULL);
    }
    for (int t = 2; t <= MAX_THREADS; t++)
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "paper.raw.fdatasync.lat.%s.%dt", qn[i], t);
            bench_report(name, "us", &raw[t - 1][i], &raw[0][i]);
        }
    for (int t = 1; t <= MAX_THREADS; t++)
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "paper.durable.lat.%s.%dt", qn[i], t);
            bench_report(name, "us", &k[t - 1][i], &raw[0][i]);
        }
    /* Against N raw writers of one file: what the kernel gives N threads. */
    for (int t = 2; t <= MAX_THREADS; t++)
        for (int i = 1; i < 3; i++) {
            snprintf(name, sizeof name, "paper.durable.lat.%s.%dt", qn[i], t);
            snprintf(rname, sizeof rname, "paper.raw.fdatasync.lat.%s.%dt", qn[i], t);
            char r[200];
            snprintf(r, sizeof r, "%s / %s", name, rname);
            bench_ratio(r, &k[t - 1][i], &raw[t - 1][i], 0);
        }
    return 0;
}
