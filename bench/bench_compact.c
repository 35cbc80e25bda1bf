/*
 * bench_compact.c — log compaction (issue 16) against the machine, in one
 * run.
 *
 *   compact.clean        klog_compact() of one partition whose sealed
 *                        segments are all dirty (200-byte values, 1 key in
 *                        10 distinct, so ~90% of the records go), in MB/s
 *                        of dirty input
 *   compact.raw.readwrite  the same bytes read with read(2) and written to
 *                        a new file with write(2) + fsync: the machine's
 *                        limit for a pass that rewrote everything; runs
 *                        alternate with the cleaner's
 *   compact.rss.mapNk    peak RSS (MiB) of a process that opens the log and
 *                        cleans it with a dedupe buffer of N KiB, beside
 *                        compact.rss.open (the same process without the
 *                        pass): the pass costs at most its map (less when
 *                        its keys need less) plus a few MiB of buffers
 *
 * Usage: bench_compact [--quick] [--records N] [--dir DIR]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define VALUE 200

static const char *base_dir = "/tmp";
static long n_records = 2000000;
static int quick;

static klog_config_t *log_conf(int64_t map_bytes)
{
    klog_config_t *c;
    BENCH_CHECK(klog_config_new(&c));
    BENCH_CHECK(klog_config_set(c, KLOG_CONF_CHECKPOINT_MS, 0));
    if (map_bytes)
        BENCH_CHECK(klog_config_set(c, KLOG_CONF_CLEANER_DEDUPE_BYTES, map_bytes));
    return c;
}

/* The template log: n records, keys k0..k(n/10-1) in a scrambled order. */
static int64_t build(const char *dir, long n)
{
    bench_rmrf(dir);
    klog_t *log;
    klog_config_t *c = log_conf(0);
    BENCH_CHECK(klog_open(dir, c, 0, &log));
    klog_config_free(c);
    klog_config_t *t;
    BENCH_CHECK(klog_config_new(&t));
    BENCH_CHECK(klog_config_set(t, KLOG_CONF_CLEANUP_POLICY, KLOG_CLEANUP_COMPACT));
    BENCH_CHECK(klog_config_set(t, KLOG_CONF_SEGMENT_BYTES, quick ? 8 << 20 : 64 << 20));
    BENCH_CHECK(klog_topic_create(log, "bench", 1, t));
    klog_config_free(t);
    klog_partition_t *p;
    BENCH_CHECK(klog_partition(log, "bench", 0, &p));
    long nkeys = n / 10 > 0 ? n / 10 : 1;
    static char value[VALUE];
    memset(value, 'v', sizeof value);
    klog_record_t recs[50];
    char keys[50][24];
    for (long i = 0; i < n;) {
        int k = 0;
        for (; k < 50 && i < n; k++, i++) {
            long key = (long)(((unsigned long)i * 2654435761u) % (unsigned long)nkeys);
            int kl = snprintf(keys[k], sizeof keys[k], "key-%ld", key);
            memcpy(value, &i, sizeof i);
            recs[k] = (klog_record_t){.key = keys[k], .key_len = kl, .value = value,
                                      .value_len = VALUE, .timestamp = 1700000000000LL + i};
        }
        BENCH_CHECK(klog_append(p, recs, (size_t)k, NULL));
    }
    BENCH_CHECK(klog_segment_roll(p));
    klog_offsets_t o;
    BENCH_CHECK(klog_partition_offsets(p, &o));
    BENCH_CHECK(klog_close(log));
    return o.bytes;
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[2048];
    bench_rmrf(to);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_compact: %s failed\n", cmd);
        exit(1);
    }
}

/* One cleaning pass over a fresh copy: seconds. */
static double run_clean(const char *tmpl, const char *dir, klog_compact_stats_t *st)
{
    copy_tree(tmpl, dir);
    bench_settle(dir);
    klog_t *log;
    klog_config_t *c = log_conf(0);
    BENCH_CHECK(klog_open(dir, c, 0, &log));
    klog_config_free(c);
    double t0 = bench_now();
    int rc = klog_compact(log, "bench", 0, st);
    double t = bench_now() - t0;
    BENCH_CHECK(rc);
    if (rc != 1) {
        fprintf(stderr, "bench_compact: nothing was cleaned\n");
        exit(1);
    }
    BENCH_CHECK(klog_close(log));
    return t;
}

/* Read every .log of the partition and write the bytes to one new file,
 * fsynced: seconds. */
static double run_raw(const char *tmpl, const char *dir)
{
    copy_tree(tmpl, dir);
    bench_settle(dir);
    char pdir[1024], out[1100], cmd[1200];
    snprintf(pdir, sizeof pdir, "%s/bench-0", dir);
    snprintf(out, sizeof out, "%s/raw.copy", dir);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep '\\.log$' | sort", pdir);
    FILE *ls = popen(cmd, "r");
    if (!ls)
        exit(1);
    char names[4096][32];
    int n = 0;
    while (n < 4096 && fscanf(ls, "%31s", names[n]) == 1)
        n++;
    pclose(ls);
    static char buf[1 << 20];
    double t0 = bench_now();
    int fo = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    for (int i = 0; i < n; i++) {
        char path[1100 + 32];
        snprintf(path, sizeof path, "%s/%.31s", pdir, names[i]);
        int fd = open(path, O_RDONLY);
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            if (write(fo, buf, (size_t)r) != r)
                exit(1);
        close(fd);
    }
    fsync(fo);
    close(fo);
    return bench_now() - t0;
}

/* Peak RSS (MiB) of a child that opens the log and, with map_bytes > 0,
 * cleans it with that dedupe buffer. */
static double rss_child(const char *tmpl, const char *dir, int64_t map_bytes)
{
    copy_tree(tmpl, dir);
    pid_t pid = fork();
    if (pid == 0) {
        klog_t *log;
        klog_config_t *c = log_conf(map_bytes ? map_bytes : 4096);
        if (klog_open(dir, c, 0, &log) != 0)
            _exit(1);
        klog_config_free(c);
        if (map_bytes && klog_compact(log, "bench", 0, NULL) != 1)
            _exit(1);
        klog_close(log);
        _exit(0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench_compact: the memory child failed\n");
        exit(1);
    }
    return (double)ru.ru_maxrss / 1024.0;
}

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
    if (quick && n_records == 2000000)
        n_records = 200000;
    int runs = quick ? 1 : 3;
    bench_header("bench_compact", "log cleaner vs raw read+write of the same bytes, same run");
    char *tmpl = bench_tmp_path(base_dir, "compact-tmpl");
    char *work = bench_tmp_path(base_dir, "compact-work");
    int64_t bytes = build(tmpl, n_records);
    double mb = (double)bytes / 1e6;
    printf("%ld records, %.1f MB of dirty segments, %ld keys\n", n_records, mb, n_records / 10);

    bench_stat_t clean = {0}, raw = {0};
    klog_compact_stats_t st;
    for (int r = 0; r < runs; r++) {
        bench_add(&raw, mb / run_raw(tmpl, work));
        bench_add(&clean, mb / run_clean(tmpl, work, &st));
    }
    printf("pass: %lld of %lld records removed, %lld bytes written, map %lld/%lld keys\n",
           (long long)st.records_removed, (long long)st.records_read,
           (long long)st.bytes_written, (long long)st.map_entries, (long long)st.map_capacity);
    bench_report("compact.raw.readwrite", "MB/s", &raw, NULL);
    bench_report("compact.clean", "MB/s", &clean, &raw);
    bench_ratio("compact.clean / compact.raw.readwrite", &clean, &raw, 0);

    /* Peak memory against the configured map. */
    bench_stat_t open_rss = {0};
    bench_add(&open_rss, rss_child(tmpl, work, 0));
    bench_report("compact.rss.open", "MiB", &open_rss, NULL);
    /* The keys need about keys * 24 / 0.9 bytes: the smaller maps are
     * full (the pass stops early), the largest is sized to the need. */
    printf("the keys need a map of %.2f MiB\n", (double)(n_records / 10) * 24 / 0.9 / 1048576);
    int64_t maps[] = {256, 1024, 16384}; /* KiB */
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        bench_stat_t s = {0};
        bench_add(&s, rss_child(tmpl, work, maps[i] << 10));
        char name[64];
        snprintf(name, sizeof name, "compact.rss.map%lldk", (long long)maps[i]);
        bench_report(name, "MiB", &s, NULL);
        printf("  map %lld KiB: peak RSS %.1f MiB, %.1f MiB above the open alone\n",
               (long long)maps[i], bench_median(&s), bench_median(&s) - bench_median(&open_rss));
    }
    bench_rmrf(tmpl);
    bench_rmrf(work);
    return 0;
}
