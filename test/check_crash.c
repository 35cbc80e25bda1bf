/*
 * check_crash.c — the crash test: a child process appends with an fsync
 * per append (KLOG_CONF_FLUSH_MESSAGES = 1) and reports every acknowledged
 * offset through a pipe; the parent kills it with SIGKILL at a random
 * moment (including while it is still opening and recovering the log),
 * reopens the log and requires a gap-free prefix from offset 0 that holds
 * every acknowledged record, each record's payload matching its offset.
 *
 * Rounds continue on the same directory (each child recovers what the
 * previous one left) and start afresh every few rounds so the log stays
 * small. Segments are tiny so rolls, seals and index-full rolls happen
 * all the time, and the child closes and reopens the log now and then so
 * kills also interrupt clean shutdowns and loads. 25 rounds in `make check`; $KLOG_STRESS_ROUNDS overrides
 * (`make stress`). $KLOG_TEST_SEED fixes the random choices; the seed is
 * printed with any failure.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_records.h"

char *recovery_tmpdir(const char *tag); /* check_recovery.c */

#define CRASH_TOPIC "crash"
#define FRESH_EVERY 5

static const int64_t crash_conf[][2] = {
    {KLOG_CONF_FLUSH_MESSAGES, 1},
    {KLOG_CONF_SEGMENT_BYTES, 4096},
    {KLOG_CONF_INDEX_INTERVAL_BYTES, 256},
    {KLOG_CONF_INDEX_MAX_BYTES, 128}, /* 16 entries: index-full rolls too */
};

static int crash_open(const char *dir, klog_t **log)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof crash_conf / sizeof crash_conf[0]; i++)
        if ((rc = klog_config_set(cfg, (int)crash_conf[i][0], crash_conf[i][1])) != 0)
            break;
    if (!rc)
        rc = klog_open(dir, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

/* The value of the record at offset off. */
static size_t crash_value(int64_t off, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "crash-%lld|", (long long)off);
    size_t len = (size_t)n + (size_t)(off * 7 % 53);
    if (len > cap)
        len = cap;
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('A' + (off + (int64_t)i) % 26);
    return len;
}

/* Child: append until killed; report each acknowledged last offset. */
static void crash_child(const char *dir, int fd, uint64_t seed)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    klog_t *log;
    if (crash_open(dir, &log))
        _exit(10);
    klog_partition_t *p;
    if (klog_partition(log, CRASH_TOPIC, 0, &p))
        _exit(11);
    klog_offsets_t of;
    if (klog_partition_offsets(p, &of))
        _exit(12);
    int64_t next = of.log_end;
    char vals[8][128];
    for (;;) {
        klog_record_t recs[8];
        size_t n = 1 + (size_t)tu_rng_below(&rng, 8);
        for (size_t i = 0; i < n; i++) {
            memset(&recs[i], 0, sizeof recs[i]);
            recs[i].key_len = KLOG_NULL_LEN;
            recs[i].value_len = (int32_t)crash_value(next + (int64_t)i, vals[i], sizeof vals[i]);
            recs[i].value = vals[i];
            recs[i].timestamp = 1700000000000LL + next + (int64_t)i;
        }
        int64_t base;
        if (klog_append(p, recs, n, &base))
            _exit(13);
        if (base != next)
            _exit(14);
        next += (int64_t)n;
        int64_t last = next - 1;
        if (write(fd, &last, sizeof last) != (ssize_t)sizeof last)
            _exit(15);
        if (tu_rng_below(&rng, 200) == 0) {
            /* Now and then a clean close and reopen, so kills also land
             * in sealing, checkpointing and loading. */
            if (klog_close(log))
                _exit(16);
            if (crash_open(dir, &log) || klog_partition(log, CRASH_TOPIC, 0, &p) ||
                klog_partition_offsets(p, &of) || of.log_end != next)
                _exit(17);
        }
    }
}

/* Parent: verify the reopened log. Returns NULL or a malloc'd reason. */
static char *crash_verify(const char *dir, int64_t acked)
{
    klog_t *log;
    char *why = NULL;
    int rc = crash_open(dir, &log);
    if (rc)
        return klog__asprintf("reopen: %s", klog_strerror(rc));
    klog_partition_t *p;
    klog_offsets_t of;
    klog_reader_t *r = NULL;
    if ((rc = klog_partition(log, CRASH_TOPIC, 0, &p)) || (rc = klog_partition_offsets(p, &of))) {
        why = klog__asprintf("partition: %s", klog_strerror(rc));
        goto out;
    }
    if (of.log_start != 0 || of.log_end <= acked || of.high_watermark != of.log_end) {
        why = klog__asprintf("offsets: start %lld end %lld hw %lld, acknowledged up to %lld",
                             (long long)of.log_start, (long long)of.log_end,
                             (long long)of.high_watermark, (long long)acked);
        goto out;
    }
    if ((rc = klog_reader_open(p, 0, &r))) {
        why = klog__asprintf("reader: %s", klog_strerror(rc));
        goto out;
    }
    klog_record_t rec;
    for (int64_t o = 0; o < of.log_end; o++) {
        rc = klog_reader_next(r, &rec);
        if (rc != 1) {
            why = klog__asprintf("read at %lld of %lld: %d %s", (long long)o,
                                 (long long)of.log_end, rc, klog_strerror(rc));
            goto out;
        }
        char v[128];
        size_t vl = crash_value(o, v, sizeof v);
        if (rec.offset != o || rec.value_len != (int32_t)vl || memcmp(rec.value, v, vl) != 0 ||
            rec.timestamp != 1700000000000LL + o) {
            why = klog__asprintf("record at %lld (offset %lld) damaged", (long long)o,
                                 (long long)rec.offset);
            goto out;
        }
    }
    if ((rc = klog_reader_next(r, &rec)) != 0)
        why = klog__asprintf("records past the log end (%d)", rc);
out:
    klog_reader_close(r);
    rc = klog_close(log);
    if (rc && !why)
        why = klog__asprintf("close: %s", klog_strerror(rc));
    return why;
}

static int64_t crash_round(const char *dir, uint64_t seed, long delay_us)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(dir, fds[1], seed);
    }
    close(fds[1]);
    struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* A child that stopped by itself failed (it appends forever). */
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child exited with %d",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    int64_t acked = -1, v;
    ssize_t n;
    while ((n = read(fds[0], &v, sizeof v)) == (ssize_t)sizeof v) {
        ck_assert_int_gt(v, acked);
        acked = v;
    }
    ck_assert_int_eq(n, 0); /* whole offsets only: writes of 8 bytes are atomic */
    close(fds[0]);
    return acked;
}

START_TEST(test_crash_kill9)
{
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 25;
    uint64_t seed = tu_test_seed((uint64_t)time(NULL) ^ (uint64_t)getpid());
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    char *dir = NULL;
    int64_t floor = -1; /* acknowledged in earlier rounds on this directory */
    long total = 0;
    for (long round = 0; round < rounds; round++) {
        if (round % FRESH_EVERY == 0) {
            if (dir) {
                tu_rmtree(dir);
                free(dir);
            }
            dir = recovery_tmpdir("crash");
            klog_t *log;
            ck_assert_int_eq(crash_open(dir, &log), 0);
            ck_assert_int_eq(klog_topic_create(log, CRASH_TOPIC, 1, NULL), 0);
            ck_assert_int_eq(klog_close(log), 0);
            floor = -1;
        }
        /* Mostly mid-append kills; one in eight early (during open and
         * recovery). */
        long delay_us = tu_rng_below(&rng, 8) == 0 ? (long)tu_rng_below(&rng, 3000)
                                                   : 2000 + (long)tu_rng_below(&rng, 60000);
        int64_t acked = crash_round(dir, tu_rng_next(&rng), delay_us);
        if (acked < floor)
            acked = floor;
        char *why = crash_verify(dir, acked);
        ck_assert_msg(why == NULL, "seed %llu round %ld (kill after %ld us): %s",
                      (unsigned long long)seed, round, delay_us, why ? why : "");
        total += acked > floor ? (long)(acked - floor) : 0;
        floor = acked;
    }
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "crash: %ld rounds, %ld acknowledged records checked, seed %llu\n",
                rounds, total, (unsigned long long)seed);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("kill9");
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 25;
    tcase_set_timeout(tc, (double)(60 + rounds * 2));
    tcase_add_test(tc, test_crash_kill9);
    suite_add_tcase(s, tc);
    return s;
}
