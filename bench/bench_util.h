/*
 * bench_util.h — shared benchmark harness: a monotonic clock, figures kept
 * as all their runs (reported as median with min..max), ratios against a
 * baseline measured in the same run, and a machine-readable line per
 * figure ("RESULT name value unit min max [ratio]") that `make bench`
 * collects into build/bench/results.csv.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_RUNS 32

typedef struct bench_stat {
    double v[BENCH_MAX_RUNS];
    int n;
} bench_stat_t;

/* Seconds from a monotonic clock. */
double bench_now(void);
/* Record one run's value. */
void bench_add(bench_stat_t *s, double v);
double bench_median(const bench_stat_t *s);
double bench_min(const bench_stat_t *s);
double bench_max(const bench_stat_t *s);
/* Print the program's banner (machine, date) once. */
void bench_header(const char *prog, const char *what);
/* Print one figure; with a baseline, also its ratio to the baseline's median. */
void bench_report(const char *name, const char *unit, const bench_stat_t *s,
                  const bench_stat_t *baseline);
/* Print a ratio of medians and whether it meets target (target <= 0: none). */
void bench_ratio(const char *name, const bench_stat_t *a, const bench_stat_t *b, double target);
/* Keep a computed value alive so the compiler cannot drop the work. */
void bench_sink(unsigned v);
/* A progress line on stderr when it is a terminal. */
void bench_progress(const char *fmt, ...);


/*
 * The paper's workload (shared/docs/baseline.md): 200-byte messages, each a
 * slice at a pseudo-random position of a 1 MiB pool of pseudo-random words
 * (a generated 256-word vocabulary, skewed choice), with the message's
 * sequence number stored over its first 8 bytes (little-endian), so every
 * message is distinct and a consumer can check it.
 */
#define BENCH_MSG 200
/* Build the pool (deterministic; idempotent). Call once before the others. */
void bench_pool_init(void);
/* Write message `seq` (BENCH_MSG bytes) to dst. */
void bench_payload(void *dst, uint64_t seq);
/* A consumer's check of one message: length BENCH_MSG and sequence number
 * `seq`; touches its last byte. Returns 0, or -1 when it is not message seq. */
int bench_payload_check(const void *msg, size_t len, uint64_t seq);

/* Abort the benchmark with file, line and the libklog error when x < 0. */
#define BENCH_CHECK(x)                                                                  \
    do {                                                                                \
        int bench_rc_ = (x);                                                            \
        if (bench_rc_ < 0)                                                              \
            bench_fail(__FILE__, __LINE__, #x, bench_rc_);                              \
    } while (0)
void bench_fail(const char *file, int line, const char *expr, int rc);
/* Remove a directory tree (no symlinks followed); missing is fine. */
void bench_rmrf(const char *path);
/* "<base>/klog-bench-<pid>-<name>" in one of 8 rotating static buffers. */
char *bench_tmp_path(const char *base, const char *name);

/* Allocated bytes (st_blocks * 512) of every file under dir. */
long long bench_disk_bytes(const char *dir);
/* Untimed, between runs: syncfs the file system holding path, so no run
 * pays for the writeback the previous one left dirty. */
void bench_settle(const char *path);

#endif
