/*
 * bench_partitions.c — a log of many partitions: open, first read, close,
 * and recovery after a writer killed -9 while rolling faster than the
 * background sealer seals (issue 19, "Many partitions").
 *
 * Shapes (full run; --quick uses 200 x 3 and 1,000 x 1):
 *   10000x10    10,000 partitions (100 topics x 100) x 10 segments
 *   100000x1    100,000 partitions (1,000 topics x 100) x 1 segment
 * Each is built by one writer appending one record per partition and
 * rolling (klog_segment_roll) until every partition has its segments, then
 * closed cleanly. Measured, each a figure:
 *   roll.unbacklogged      time in klog_segment_roll / rolls, 500 rolls of
 *                          100 partitions (each: new segment files and a
 *                          producer snapshot, no fsync; the background
 *                          thread seals)
 *   <shape>.roll           the same over the build, which rolls faster
 *                          than the sealer seals: past the backlog bound
 *                          (1024 segments) each roll seals its own
 *                          partition's segments, at the disk's fsync rate
 *   <shape>.baseline       readdir + lstat of every file of the log (what any
 *                          open that looks at each file pays at least)
 *   <shape>.open           klog_open after a clean close
 *   <shape>.firstread      reading the first record of every partition
 *   <shape>.close_read     klog_close after those reads (no appends)
 *   <shape>.close          klog_close right after open (no appends)
 *   <shape>.kill.open      klog_open after kill -9 of a writer that rolled
 *                          every partition as fast as it could (its sealer
 *                          backlog is printed)
 *   <shape>.kill.close     klog_close after that open
 * and, printed: RSS, heap in use and descriptors held after open and after
 * the reads (RSS alone hides an open that reuses heap the build freed).
 * Wall times (the targets are times); the baseline is the same run's.
 *
 * Usage: bench_partitions [--quick] [--dir DIR] [--shape 10000x10|100000x1]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define PARTS_PER_TOPIC 100

static const char *base_dir = "/tmp";

/* Bytes the process's malloc has handed out and not taken back, KiB. */
static long heap_kib(void)
{
    struct mallinfo2 m = mallinfo2();
    return (long)((m.uordblks + m.hblkhd) / 1024);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the listing's own descriptor */
}

/* readdir + stat of every file under dir (the baseline); files counted. */
static long walk(const char *dir, long *files)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    char path[4096];
    long n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        n++;
        if (S_ISDIR(st.st_mode))
            walk(path, files);
        else
            (*files)++;
    }
    closedir(d);
    return n;
}

/* Unsealed rolled segments: .log files without a .seal, less the active one
 * of each partition. */
static long unsealed(const char *dir, long parts)
{
    long logs = 0, seals = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strchr(e->d_name, '-'))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        DIR *pd = opendir(path);
        struct dirent *f;
        while (pd && (f = readdir(pd))) {
            size_t n = strlen(f->d_name);
            logs += n > 4 && !strcmp(f->d_name + n - 4, ".log");
            seals += n > 5 && !strcmp(f->d_name + n - 5, ".seal");
        }
        if (pd)
            closedir(pd);
    }
    if (d)
        closedir(d);
    return logs - parts - seals > 0 ? logs - parts - seals : 0;
}

static klog_config_t *log_config(void)
{
    klog_config_t *c;
    BENCH_CHECK(klog_config_new(&c));
    BENCH_CHECK(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, 1024));
    BENCH_CHECK(klog_config_set(c, KLOG_CONF_INDEX_MAX_BYTES, 4096));
    BENCH_CHECK(klog_config_set(c, KLOG_CONF_CHECKPOINT_MS, 3600000));
    return c;
}

static klog_partition_t **partitions(klog_t *log, long parts)
{
    klog_partition_t **ps = calloc((size_t)parts, sizeof *ps);
    if (!ps)
        BENCH_CHECK(-ENOMEM);
    char name[32];
    for (long i = 0; i < parts; i++) {
        snprintf(name, sizeof name, "t%ld", i / PARTS_PER_TOPIC);
        BENCH_CHECK(klog_partition(log, name, (int32_t)(i % PARTS_PER_TOPIC), &ps[i]));
    }
    return ps;
}

static void append_one(klog_partition_t *p, long seq)
{
    char v[100];
    memset(v, 'x', sizeof v);
    snprintf(v, sizeof v, "record %ld", seq);
    klog_record_t r = {.timestamp = 1700000000000LL + seq, .key_len = KLOG_NULL_LEN,
                       .value = v, .value_len = sizeof v};
    BENCH_CHECK(klog_append(p, &r, 1, NULL));
}

static double roll_seconds; /* time spent in klog_segment_roll */

/* One round: a record in every partition, then a roll of every partition. */
static long round_all(klog_partition_t **ps, long parts, long round, int roll)
{
    long rolls = 0;
    for (long i = 0; i < parts; i++) {
        append_one(ps[i], round * parts + i);
        if (roll) {
            double t = bench_now();
            int r = klog_segment_roll(ps[i]);
            roll_seconds += bench_now() - t;
            BENCH_CHECK(r);
            rolls += r;
        }
    }
    return rolls;
}

/* Build parts x segs and close cleanly; returns the time per roll. */
static double build(const char *dir, long parts, int segs)
{
    bench_rmrf(dir);
    klog_config_t *c = log_config();
    klog_t *log;
    BENCH_CHECK(klog_open(dir, c, 0, &log));
    for (long t = 0; t < parts / PARTS_PER_TOPIC; t++) {
        char name[32];
        snprintf(name, sizeof name, "t%ld", t);
        BENCH_CHECK(klog_topic_create(log, name, PARTS_PER_TOPIC, NULL));
    }
    klog_partition_t **ps = partitions(log, parts);
    double t0 = bench_now();
    long rolls = 0;
    roll_seconds = 0;
    for (int s = 0; s < segs; s++)
        rolls += round_all(ps, parts, s, s + 1 < segs);
    double t1 = bench_now();
    BENCH_CHECK(klog_close(log));
    free(ps);
    klog_config_free(c);
    printf("built %ld partitions x %d segments: %.2f s appending and rolling (%ld rolls, "
           "%.2f s of it in klog_segment_roll), close %.2f s (the sealer's backlog)\n",
           parts, segs, t1 - t0, rolls, roll_seconds, bench_now() - t1);
    return rolls ? roll_seconds / (double)rolls : 0;
}

static void report1(const char *shape, const char *what, const char *unit, double v,
                    const bench_stat_t *base)
{
    char name[96];
    bench_stat_t s = {{0}, 0};
    bench_add(&s, v);
    snprintf(name, sizeof name, "partitions.%s.%s", shape, what);
    bench_report(name, unit, &s, base);
}

/* First record of every partition through a reader. */
static void first_reads(klog_partition_t **ps, long parts)
{
    for (long i = 0; i < parts; i++) {
        klog_reader_t *r;
        BENCH_CHECK(klog_reader_open(ps[i], 0, &r));
        klog_record_t rec;
        int rc = klog_reader_next(r, &rec);
        if (rc != 1)
            BENCH_CHECK(rc < 0 ? rc : -EIO);
        bench_sink((unsigned)rec.value_len);
        klog_reader_close(r);
    }
}

/* A child appends and rolls every partition as fast as it can, round after
 * round; the parent kills it -9 once it has rolled `rounds` times. */
static void killed_writer(const char *dir, long parts, int rounds)
{
    int pfd[2];
    if (pipe(pfd))
        BENCH_CHECK(-errno);
    pid_t pid = fork();
    if (pid < 0)
        BENCH_CHECK(-errno);
    if (pid == 0) {
        close(pfd[0]);
        klog_config_t *c = log_config();
        klog_t *log;
        BENCH_CHECK(klog_open(dir, c, 0, &log));
        klog_partition_t **ps = partitions(log, parts);
        for (long r = 0;; r++) {
            round_all(ps, parts, 1000 + r, 1);
            if (r + 1 == rounds && write(pfd[1], "x", 1) != 1)
                _exit(1);
        }
    }
    close(pfd[1]);
    char x;
    if (read(pfd[0], &x, 1) != 1) {
        fprintf(stderr, "killed writer: the child died first\n");
        exit(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
}

/* The roll's own cost: 100 partitions rolled 5 times each, fewer rolls
 * than the sealer's backlog bound (beyond it a roll seals its partition's
 * segments itself and runs at the disk's fsync rate: the build figures). */
static void roll_probe(void)
{
    char *dir = bench_tmp_path(base_dir, "rollprobe");
    double per = build(dir, 100, 6);
    bench_stat_t s = {{0}, 0};
    bench_add(&s, per * 1e3);
    bench_report("partitions.roll.unbacklogged", "ms", &s, NULL);
    bench_rmrf(dir);
}

static void shape_run(const char *shape, long parts, int segs)
{
    char *dir = bench_tmp_path(base_dir, shape);
    printf("\n== %s: %ld partitions x %d segments ==\n", shape, parts, segs);
    double roll = build(dir, parts, segs);
    bench_settle(dir);
    if (segs > 1) /* a one-segment build never rolls */
        report1(shape, "roll", "ms", roll * 1e3, NULL);

    long files = 0;
    double t0 = bench_now();
    walk(dir, &files);
    bench_stat_t base = {{0}, 0};
    bench_add(&base, (bench_now() - t0) * 1e3);
    char bname[96];
    snprintf(bname, sizeof bname, "partitions.%s.baseline", shape);
    bench_report(bname, "ms", &base, NULL);
    printf("baseline: readdir+stat of %ld files\n", files);

    klog_config_t *c = log_config();
    klog_t *log;
    long rss0 = rss_kib(), heap0 = heap_kib();
    int fd0 = open_fds();
    t0 = bench_now();
    BENCH_CHECK(klog_open(dir, c, 0, &log));
    report1(shape, "open", "ms", (bench_now() - t0) * 1e3, &base);
    printf("after open: RSS +%ld KiB, heap +%ld KiB, descriptors +%d\n", rss_kib() - rss0,
           heap_kib() - heap0, open_fds() - fd0);
    klog_partition_t **ps = partitions(log, parts);
    t0 = bench_now();
    first_reads(ps, parts);
    report1(shape, "firstread", "ms", (bench_now() - t0) * 1e3, &base);
    klog_stats_t st;
    BENCH_CHECK(klog_stats(log, &st));
    printf("after first reads: RSS +%ld KiB, heap +%ld KiB, descriptors +%d (segment cache "
           "%lld)\n", rss_kib() - rss0, heap_kib() - heap0, open_fds() - fd0,
           (long long)st.open_files);
    t0 = bench_now();
    BENCH_CHECK(klog_close(log));
    report1(shape, "close_read", "ms", (bench_now() - t0) * 1e3, &base);
    free(ps);

    BENCH_CHECK(klog_open(dir, c, 0, &log));
    t0 = bench_now();
    BENCH_CHECK(klog_close(log));
    report1(shape, "close", "ms", (bench_now() - t0) * 1e3, &base);

    /* The killed writer: two rounds of rolls over every partition. */
    killed_writer(dir, parts, 2);
    long backlog = unsealed(dir, parts);
    /* The killed writer left its rolls' metadata and data dirty: untimed,
     * as between any two runs here, that writeback is done first, or the
     * open would wait for it in its file creations (an open right after
     * the kill took 6.8 s instead, README). */
    bench_settle(dir);
    t0 = bench_now();
    BENCH_CHECK(klog_open(dir, c, 0, &log));
    report1(shape, "kill.open", "ms", (bench_now() - t0) * 1e3, &base);
    BENCH_CHECK(klog_stats(log, &st));
    printf("after kill -9: %ld rolled segments unsealed; open scanned %lld segments (%lld "
           "bytes)\n", backlog, (long long)st.recovered_segments, (long long)st.recovered_bytes);
    t0 = bench_now();
    BENCH_CHECK(klog_close(log));
    report1(shape, "kill.close", "ms", (bench_now() - t0) * 1e3, &base);
    klog_config_free(c);
    bench_rmrf(dir);
}

int main(int argc, char **argv)
{
    int quick = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base_dir = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--dir DIR] [--shape 10000x10|100000x1]\n",
                    argv[0]);
            return 2;
        }
    }
    /* Descriptors: the log keeps at most half the soft limit for segments;
     * raise the soft limit to the hard one as a server would. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    bench_header("bench_partitions", "many partitions: open, first read, close, kill -9");
    roll_probe();
    struct {
        const char *name;
        long parts;
        int segs;
    } shapes[] = {{"10000x10", 10000, 10}, {"100000x1", 100000, 1}},
      quick_shapes[] = {{"200x3", 200, 3}, {"1000x1", 1000, 1}};
    for (int i = 0; i < 2; i++) {
        const char *name = quick ? quick_shapes[i].name : shapes[i].name;
        if (only && strcmp(only, name))
            continue;
        shape_run(name, quick ? quick_shapes[i].parts : shapes[i].parts,
                  quick ? quick_shapes[i].segs : shapes[i].segs);
    }
    return 0;
}
