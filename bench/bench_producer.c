/*
 * bench_producer.c — the producer against the storage engine's explicit
 * batches, in one run (the 2011 paper's producer experiment: N 200-byte
 * records, batch size 1 vs 50).
 *
 *   append.b50          klog_append of 50 records at a time (the baseline:
 *                       what a caller that batches by hand gets)
 *   produce.b1          klog_produce, one call per record, one thread,
 *                       default producer settings (linger 5 ms, 16 KiB
 *                       batches), an appended callback counting deliveries
 *   null.Nt             N = 1, 2, 4 threads producing the records between
 *                       them, null keys (sticky) over 4 partitions, no fsync
 *                       (issue 19: 4 threads >= 1.0x one thread on 2 cores)
 *   keyed.Nt            the same with an 8-byte key per record (hashed over
 *                       the 4 partitions; target 4 threads >= 1.5x one)
 *   idem.1t             null.1t with KLOG_CONF_ENABLE_IDEMPOTENCE = 1 (the
 *                       cost of stamping sequences)
 *   produce.4t.durable  null.4t with KLOG_CONF_DURABLE_DELIVERY = 1: the
 *                       producer fsyncs (group commit) and the durable
 *                       callback reports each record
 *   overhead            bytes of .log + .index + .timeindex after the
 *                       produce.b1 run, minus the 200-byte payloads, per
 *                       record (the paper: about 9 bytes)
 *
 * For the thread cases the CPU time (user + system, all threads) per record
 * is reported too (*.cpu, ns/rec): on a machine shared with other work the
 * throughput ratios move with the load, CPU per record much less, and
 * contention shows there as added CPU.
 *
 * Timings cover producing until every record is delivered (appended, or
 * durable): producer close included, log close (its fsync and seal) not,
 * as in bench_log. Runs alternate so drift hits all cases alike; each
 * figure is the median of 3 runs (min..max).
 *
 * --quick: 20,000 records (a sub-second smoke run; its ratios mean little).
 * --case NAME[,NAME...] runs those cases alone (for profiling).
 *
 * Usage: bench_producer [--quick] [--records N] [--dir DIR] [--case NAME]
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define VALUE 200
#define THREADS 4

static char pool[1 << 20];
static const char *base_dir = "/tmp";
static long n_records = 10000000;
static const char *only; /* --case NAME: run just that case (profiling) */

/* --case A,B,...: only those. */
static int want(const char *name)
{
    if (!only)
        return 1;
    size_t n = strlen(name);
    for (const char *c = only; (c = strstr(c, name)) != NULL; c += n)
        if ((c == only || c[-1] == ',') && (c[n] == 0 || c[n] == ','))
            return 1;
    return 0;
}

static const char *value_at(long i) { return pool + (size_t)(i * 7919) % (sizeof pool - VALUE); }

static klog_t *open_log(const char *dir, int32_t partitions)
{
    klog_t *log;
    bench_rmrf(dir);
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    BENCH_CHECK(klog_topic_create(log, "bench", partitions, NULL));
    return log;
}

/* Bytes of .log, .index and .timeindex files under dir (one level of
 * partition directories). */
static long long segment_bytes(const char *dir)
{
    long long total = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "bench-", 6) != 0)
            continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *s = opendir(sub);
        if (!s)
            continue;
        struct dirent *f;
        while ((f = readdir(s))) {
            const char *dot = strrchr(f->d_name, '.');
            if (!dot || (strcmp(dot, ".log") && strcmp(dot, ".index") && strcmp(dot, ".timeindex")))
                continue;
            char path[2048];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            if (stat(path, &st) == 0)
                total += st.st_size;
        }
        closedir(s);
    }
    closedir(d);
    return total;
}

/* ---------------------------------------------------------- append.b50 */

static double run_append_b50(long n)
{
    char *dir = bench_tmp_path(base_dir, "b50");
    klog_t *log = open_log(dir, 1);
    klog_partition_t *p;
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    klog_record_t recs[50];
    double t0 = bench_now();
    for (long i = 0; i < n; i += 50) {
        int k = (int)(n - i < 50 ? n - i : 50);
        for (int j = 0; j < k; j++)
            recs[j] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                      .key_len = KLOG_NULL_LEN,
                                      .value = value_at(i + j),
                                      .value_len = VALUE};
        BENCH_CHECK(klog_append(p, recs, (size_t)k, NULL));
    }
    double t = bench_now() - t0;
    BENCH_CHECK(klog_close(log));
    bench_rmrf(dir);
    return (double)n / t;
}

/* ---------------------------------------------------------- produce */

/* Deliveries, counted per partition on separate cache lines: a
 * partition's callbacks run one at a time, so threads appending to
 * different partitions do not share a counter (which would measure the
 * benchmark's own cache-line traffic, not the producer's). */
typedef struct counts {
    struct {
        atomic_long ok, failed;
        char pad[64 - 2 * sizeof(atomic_long)];
    } p[THREADS];
} counts_t;

static long counts_sum(counts_t *c, int failed)
{
    long s = 0;
    for (int i = 0; i < THREADS; i++)
        s += atomic_load(failed ? &c->p[i].failed : &c->p[i].ok);
    return s;
}

static void on_delivery(void *ctx, const klog_record_t *rec, int32_t partition, int64_t offset,
                        int err, void *opaque)
{
    counts_t *c = ctx;
    (void)rec, (void)offset, (void)opaque;
    if (err)
        atomic_fetch_add_explicit(&c->p[partition % THREADS].failed, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&c->p[partition % THREADS].ok, 1, memory_order_relaxed);
}

typedef struct worker {
    klog_producer_t *p;
    long first, n;
    int keyed;
} worker_t;

static void *produce_range(void *v)
{
    worker_t *w = v;
    for (long i = w->first; i < w->first + w->n; i++) {
        uint64_t key = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW,
                           .key = w->keyed ? &key : NULL,
                           .key_len = w->keyed ? (int32_t)sizeof key : KLOG_NULL_LEN,
                           .value = value_at(i),
                           .value_len = VALUE};
        BENCH_CHECK(klog_produce(w->p, "bench", KLOG_PARTITION_ANY, &r, NULL));
    }
    return NULL;
}

/*
 * Produce n records with `threads` threads into a fresh log whose topic has
 * `partitions` partitions. Returns records per second; *overhead (if not
 * NULL) gets the storage overhead per record once the log is closed.
 */
enum { K_NULL = 0, K_KEYED = 1, K_IDEM = 2 };

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double last_cpu_ns; /* CPU ns per record of the last run_produce */

static double run_produce(long n, int threads, int32_t partitions, int durable, int kind,
                          double *overhead)
{
    char *dir = bench_tmp_path(base_dir, durable ? "durable" : "produce");
    klog_t *log = open_log(dir, partitions);
    klog_config_t *cfg;
    BENCH_CHECK(klog_config_new(&cfg));
    BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_DURABLE_DELIVERY, durable));
    if (kind == K_IDEM)
        BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_ENABLE_IDEMPOTENCE, 1));
    klog_producer_t *p;
    BENCH_CHECK(klog_producer_new(log, cfg, &p));
    klog_config_free(cfg);
    static counts_t c;
    memset(&c, 0, sizeof c);
    if (durable)
        klog_producer_set_delivery(p, NULL, on_delivery, &c);
    else
        klog_producer_set_delivery(p, on_delivery, NULL, &c);

    pthread_t th[THREADS];
    worker_t w[THREADS];
    double t0 = bench_now(), c0 = cpu_s();
    if (threads == 1) {
        w[0] = (worker_t){p, 0, n, kind == K_KEYED};
        produce_range(&w[0]);
    } else {
        for (int i = 0; i < threads; i++) {
            w[i] = (worker_t){p, n / threads * i,
                              i == threads - 1 ? n - n / threads * i : n / threads,
                              kind == K_KEYED};
            if (pthread_create(&th[i], NULL, produce_range, &w[i]) != 0) {
                perror("pthread_create");
                exit(1);
            }
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
    }
    BENCH_CHECK(klog_producer_close(p));
    double t = bench_now() - t0;
    last_cpu_ns = (cpu_s() - c0) * 1e9 / (double)n;
    if (counts_sum(&c, 0) != n || counts_sum(&c, 1) != 0) {
        fprintf(stderr, "delivered %ld ok, %ld failed, of %ld\n", counts_sum(&c, 0),
                counts_sum(&c, 1), n);
        exit(1);
    }
    BENCH_CHECK(klog_close(log));
    if (overhead)
        *overhead = (double)(segment_bytes(dir) - (long long)n * VALUE) / (double)n;
    bench_rmrf(dir);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            n_records = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base_dir = argv[++i];
        else if (!strcmp(argv[i], "--case") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--records N] [--dir DIR] [--case append.b50|"
                    "produce.b1|null.1t|null.2t|null.4t|keyed.1t|keyed.2t|keyed.4t|"
                    "idem.1t|produce.4t.durable]\n",
                    argv[0]);
            return 2;
        }
    }
    if (quick && n_records == 10000000)
        n_records = 20000;
    const int runs = 3;
    /* Words of 2..9 letters from a skewed 256-word vocabulary, as the
     * baseline's payload (compressible about 2x by LZ4 over a batch). */
    {
        char vocab[256][10];
        unsigned s = 42;
        for (int i = 0; i < 256; i++) {
            int len = 2 + (int)((s = s * 1103515245u + 12345u) >> 16) % 8;
            for (int j = 0; j < len; j++)
                vocab[i][j] = (char)('a' + ((s = s * 1103515245u + 12345u) >> 16) % 26);
            vocab[i][len] = 0;
        }
        size_t off = 0;
        while (off < sizeof pool) {
            unsigned r = (s = s * 1103515245u + 12345u) >> 16;
            const char *wd = vocab[(r % 256) * (r % 256) / 256]; /* skewed */
            size_t l = strlen(wd);
            for (size_t j = 0; j <= l && off < sizeof pool; j++)
                pool[off++] = j < l ? wd[j] : ' ';
        }
    }
    bench_header("bench_producer", "one call per record vs explicit batches of 50, same run");
    printf("# %ld records of %d bytes, %d runs each\n", n_records, VALUE, runs);

    bench_stat_t b50 = {0}, b1 = {0}, t4d = {0}, ovh = {0}, idem = {0};
    bench_stat_t nul[3], key[3], nulc[3], keyc[3];
    memset(nul, 0, sizeof nul);
    memset(key, 0, sizeof key);
    memset(nulc, 0, sizeof nulc);
    memset(keyc, 0, sizeof keyc);
    static const char *const nulc_name[3] = {"null.1t.cpu", "null.2t.cpu", "null.4t.cpu"};
    static const char *const keyc_name[3] = {"keyed.1t.cpu", "keyed.2t.cpu", "keyed.4t.cpu"};
    static const int nthreads[3] = {1, 2, THREADS};
    static const char *const nul_name[3] = {"null.1t", "null.2t", "null.4t"};
    static const char *const key_name[3] = {"keyed.1t", "keyed.2t", "keyed.4t"};
    for (int r = 0; r < runs; r++) {
        double o = 0;
        bench_progress("run %d: append.b50", r + 1);
        if (want("append.b50"))
            bench_add(&b50, run_append_b50(n_records));
        bench_progress("run %d: produce.b1", r + 1);
        if (want("produce.b1")) {
            bench_add(&b1, run_produce(n_records, 1, 1, 0, K_NULL, &o));
            bench_add(&ovh, o);
        }
        for (int k = 0; k < 3; k++) {
            bench_progress("run %d: %s", r + 1, nul_name[k]);
            if (want(nul_name[k])) {
                bench_add(&nul[k], run_produce(n_records, nthreads[k], THREADS, 0, K_NULL, NULL));
                bench_add(&nulc[k], last_cpu_ns);
            }
            bench_progress("run %d: %s", r + 1, key_name[k]);
            if (want(key_name[k])) {
                bench_add(&key[k], run_produce(n_records, nthreads[k], THREADS, 0, K_KEYED, NULL));
                bench_add(&keyc[k], last_cpu_ns);
            }
        }
        bench_progress("run %d: idem.1t", r + 1);
        if (want("idem.1t"))
            bench_add(&idem, run_produce(n_records, 1, THREADS, 0, K_IDEM, NULL));
        bench_progress("run %d: produce.4t.durable", r + 1);
        if (want("produce.4t.durable"))
            bench_add(&t4d, run_produce(n_records, THREADS, THREADS, 1, K_NULL, NULL));
    }
    bench_progress("");
    bench_report("append.b50", "rec/s", &b50, NULL);
    bench_report("produce.b1", "rec/s", &b1, &b50);
    for (int k = 0; k < 3; k++)
        bench_report(nul_name[k], "rec/s", &nul[k], &nul[0]);
    for (int k = 0; k < 3; k++)
        bench_report(key_name[k], "rec/s", &key[k], &key[0]);
    for (int k = 0; k < 3; k++)
        bench_report(nulc_name[k], "ns/rec", &nulc[k], &nulc[0]);
    for (int k = 0; k < 3; k++)
        bench_report(keyc_name[k], "ns/rec", &keyc[k], &keyc[0]);
    bench_report("idem.1t", "rec/s", &idem, &nul[0]);
    bench_report("produce.4t.durable", "rec/s", &t4d, &nul[2]);
    bench_report("overhead.uncompressed", "B/rec", &ovh, NULL);
    bench_ratio("produce.b1 / append.b50", &b1, &b50, 0.60);
    bench_ratio("null.4t / null.1t", &nul[2], &nul[0], 1.0);
    bench_ratio("keyed.4t / keyed.1t", &key[2], &key[0], 1.5);
    bench_ratio("idem.1t / null.1t", &idem, &nul[0], 0.90);
    bench_ratio("produce.4t.durable / null.4t", &t4d, &nul[2], 0.50);
    double o = bench_median(&ovh);
    printf("overhead %.2f bytes/record (target <= 11: %s)\n", o, o <= 11 ? "met" : "NOT met");
    return 0;
}
