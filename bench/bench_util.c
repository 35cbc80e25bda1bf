/*
 * bench_util.c — see bench_util.h. Output format, one line per figure:
 *   name  median unit  (min .. max, N runs)  [x ratio vs baseline]
 * plus a parseable line "RESULT,<name>,<median>,<unit>,<min>,<max>,<ratio>".
 */
#include "bench_util.h"
#include "klog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned sink_v;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_add(bench_stat_t *s, double v)
{
    if (s->n < BENCH_MAX_RUNS)
        s->v[s->n++] = v;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(const bench_stat_t *s)
{
    if (s->n == 0)
        return 0;
    double v[BENCH_MAX_RUNS];
    memcpy(v, s->v, sizeof(double) * (size_t)s->n);
    qsort(v, (size_t)s->n, sizeof v[0], cmp_d);
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

double bench_min(const bench_stat_t *s)
{
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        if (s->v[i] < m)
            m = s->v[i];
    return m;
}

double bench_max(const bench_stat_t *s)
{
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        if (s->v[i] > m)
            m = s->v[i];
    return m;
}

void bench_header(const char *prog, const char *what)
{
    struct utsname u;
    uname(&u);
    char date[64];
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    printf("# %s: %s\n# %s, %s %s, %ld CPUs\n", prog, what, date, u.sysname, u.release,
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
}

static void fmt(char *buf, size_t n, double v)
{
    if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.3g", v);
}

void bench_report(const char *name, const char *unit, const bench_stat_t *s,
                  const bench_stat_t *baseline)
{
    char med[32], lo[32], hi[32];
    fmt(med, sizeof med, bench_median(s));
    fmt(lo, sizeof lo, bench_min(s));
    fmt(hi, sizeof hi, bench_max(s));
    double ratio = baseline && bench_median(baseline) > 0 ? bench_median(s) / bench_median(baseline)
                                                           : 0;
    printf("%-36s %10s %-6s (%s .. %s, %d runs)", name, med, unit, lo, hi, s->n);
    if (baseline)
        printf("  x%.2f vs baseline", ratio);
    printf("\nRESULT,%s,%.6g,%s,%.6g,%.6g,%.4g\n", name, bench_median(s), unit, bench_min(s),
           bench_max(s), ratio);
    fflush(stdout);
}

void bench_ratio(const char *name, const bench_stat_t *a, const bench_stat_t *b, double target)
{
    double r = bench_median(b) > 0 ? bench_median(a) / bench_median(b) : 0;
    if (target > 0)
        printf("ratio %-40s %.2f (target >= %.2f: %s)\n", name, r, target,
               r >= target ? "met" : "NOT met");
    else
        printf("ratio %-40s %.2f\n", name, r);
    printf("RATIO,%s,%.4g,%.4g\n", name, r, target);
    fflush(stdout);
}

void bench_sink(unsigned v) { sink_v += v; }

void bench_progress(const char *fmt_, ...)
{
    if (!isatty(2))
        return;
    va_list ap;
    va_start(ap, fmt_);
    fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt_, ap);
    va_end(ap);
}

/* ---------------------------------------------------------- the workload */

static char pool[1 << 20];
static int pool_ready;

/* splitmix64: a fast, well-mixed sequence from any seed. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void bench_pool_init(void)
{
    if (pool_ready)
        return;
    char words[256][12];
    uint64_t r = 42;
    for (int w = 0; w < 256; w++) {
        r = mix64(r);
        int len = 2 + (int)(r % 9);
        for (int i = 0; i < len; i++)
            words[w][i] = (char)('a' + (r >> (8 + 5 * i)) % 26);
        words[w][len] = 0;
    }
    size_t at = 0;
    while (at < sizeof pool) {
        r = mix64(r);
        /* Skewed choice: the product of two uniform picks favours the first
         * words, as word frequencies in text do. */
        unsigned w = (unsigned)(((r & 0xffff) * ((r >> 16) & 0xffff)) >> 24);
        for (const char *c = words[w]; *c && at < sizeof pool; c++)
            pool[at++] = *c;
        if (at < sizeof pool)
            pool[at++] = ' ';
    }
    pool_ready = 1;
}

void bench_payload(void *dst, uint64_t seq)
{
    size_t at = (size_t)(mix64(seq) % (sizeof pool - BENCH_MSG));
    memcpy(dst, pool + at, BENCH_MSG);
    memcpy(dst, &seq, sizeof seq);
}

int bench_payload_check(const void *msg, size_t len, uint64_t seq)
{
    uint64_t got;
    if (len != BENCH_MSG)
        return -1;
    memcpy(&got, msg, sizeof got);
    sink_v += ((const unsigned char *)msg)[BENCH_MSG - 1];
    return got == seq ? 0 : -1;
}

/* ------------------------------------------------------------ helpers */

void bench_fail(const char *file, int line, const char *expr, int rc)
{
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, expr, klog_strerror(rc));
    exit(1);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

void bench_rmrf(const char *path)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

char *bench_tmp_path(const char *base, const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/klog-bench-%d-%s", base, (int)getpid(), name);
    return b;
}

static long long blocks_total;

static int add_blocks(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        blocks_total += (long long)st->st_blocks * 512;
    return 0;
}

long long bench_disk_bytes(const char *dir)
{
    blocks_total = 0;
    nftw(dir, add_blocks, 16, FTW_PHYS);
    return blocks_total;
}

void bench_settle(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}
