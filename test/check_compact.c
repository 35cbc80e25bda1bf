/*
 * check_compact.c — log compaction (issue 16): the property test, the
 * crash sweep over every step of a cleaning pass, and one test named after
 * each Kafka cleaner behaviour implemented.
 *
 * Records are appended one batch each (or a few per batch) with explicit
 * timestamps; a model keeps every record appended at its offset, so what
 * the log holds afterwards can be checked record by record: present
 * before at the same offset with identical key, value, headers and
 * timestamp; the latest of its key within the cleaned part; the latest
 * record of every key still readable.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "platform/bytes.h"
#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_compact.h"
#include "util/tu_records.h"


/* ------------------------------------------------------------ property */

typedef struct rd {
    klog_partition_t *p;
    const model_t *m;
    atomic_int stop;
    long records, rounds;
    int bad;
} rd_t;

/* A reader iterating throughout: strictly increasing offsets, records that
 * existed at those offsets; a new reader from the start each round. */
static void *reader_main(void *arg)
{
    rd_t *rd = arg;
    while (!atomic_load(&rd->stop) && !rd->bad) {
        klog_reader_t *r;
        if (klog_reader_open(rd->p, KLOG_OFFSET_BEGINNING, &r) != 0) {
            rd->bad = 1;
            break;
        }
        int64_t prev = -1;
        klog_record_t rec;
        int rc, idle = 0;
        while (!atomic_load(&rd->stop) && idle < 20) {
            rc = klog_reader_next(r, &rec);
            if (rc == 0) {
                idle++;
                usleep(500);
                continue;
            }
            if (rc < 0 || rec.offset <= prev || rec.offset >= (int64_t)rd->m->n ||
                !tc_same(&rd->m->v[rec.offset], &rec)) {
                rd->bad = 1;
                break;
            }
            prev = rec.offset;
            rd->records++;
        }
        klog_reader_close(r);
        rd->rounds++;
    }
    return NULL;
}

static void property_round(uint64_t seed, int codec, int64_t retention)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    fx_t f = {0};
    int64_t seg = 1024 + (int64_t)tu_rng_below(&rng, 3072);
    f.dir = tu_tmpdir("cmp-prop");
    klog_config_t *c = tc_log_conf(4096 + (int64_t)tu_rng_below(&rng, 8192));
    ck_assert_int_eq(klog_open(f.dir, c, 0, &f.log), 0);
    klog_config_free(c);
    klog_config_t *t = tc_topic_conf(seg, retention);
    ck_assert_int_eq(klog_config_set(t, KLOG_CONF_COMPRESSION, codec), 0);
    ck_assert_int_eq(klog_topic_create(f.log, "t", 1, t), 0);
    klog_config_free(t);
    ck_assert_int_eq(klog_partition(f.log, "t", 0, &f.p), 0);
    model_t m = {0};
    tc_gen_model(&m, &rng, 40 + (int)tu_rng_below(&rng, 200), 1500, 15);
    rd_t rd = {.p = f.p, .m = &m};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, reader_main, &rd), 0);
    size_t at = 0;
    int64_t end = 0;
    int passes = 0;
    while (at < m.n) {
        size_t chunk = 30 + tu_rng_below(&rng, 200);
        if (at + chunk > m.n)
            chunk = m.n - at;
        tc_append_model(f.p, &m, at, at + chunk, 1 + tu_rng_below(&rng, 4));
        at += chunk;
        if (tu_rng_below(&rng, 3) == 0)
            ck_assert_int_ge(klog_segment_roll(f.p), 0);
        if (tu_rng_below(&rng, 2) == 0)
            continue;
        ck_assert_int_eq(klog_sync(f.log), 0);
        klog_compact_stats_t st;
        int rc = klog_compact(f.log, "t", 0, &st);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            ck_assert_int_eq(st.first_dirty, end);
            end = st.end_offset;
            passes++;
        }
        seen_t s;
        tc_read_all(f.p, &s);
        tc_check_subset(&m, &s);
        tc_check_cleaned(&m, &s, end, 1);
        /* The latest record of each key up to what was appended. */
        model_t sub = {m.v, at, at};
        tc_check_latest_readable(&sub, &s, retention > 0);
        tc_seen_free(&s);
    }
    atomic_store(&rd.stop, 1);
    pthread_join(th, NULL);
    ck_assert_msg(!rd.bad, "the concurrent reader saw a bad record or offset");
    ck_assert_int_gt(rd.records, 0);
    ck_assert_int_gt(passes, 0);
    tc_verify_clean(f.log);
    free(m.v);
    tc_fx_done(&f);
}

START_TEST(test_property_random_keyed_appends_and_compactions)
{
    uint64_t seed = tu_test_seed(0xc0ffee);
    int codecs[] = {KLOG_COMPRESSION_NONE, KLOG_COMPRESSION_LZ4, KLOG_COMPRESSION_ZSTD,
                    KLOG_COMPRESSION_GZIP};
    for (int i = 0; i < 4; i++) {
        if (!klog_compression_supported(codecs[i]))
            continue;
        property_round(seed + (uint64_t)i, codecs[i], i % 2 ? 0 : 86400000);
    }
}
END_TEST

/* ------------------------------------------------------------ crash sweep */

#define SWEEP_RECORDS 400

/* A log in dir whose topic "t" holds SWEEP_RECORDS records over many
 * sealed segments, with segment.bytes then raised so one pass cleans them
 * all as one group. */
static void sweep_build(const char *dir, model_t *m)
{
    fx_t f = {.dir = (char *)dir};
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_open(dir, c, 0, &f.log), 0);
    klog_config_free(c);
    klog_config_t *t = tc_topic_conf(1024, 86400000);
    ck_assert_int_eq(klog_topic_create(f.log, "t", 1, t), 0);
    klog_config_free(t);
    ck_assert_int_eq(klog_partition(f.log, "t", 0, &f.p), 0);
    tc_append_model(f.p, m, 0, m->n, 2);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, 1 << 24), 0);
    ck_assert_int_eq(klog_topic_alter_config(f.log, "t", c, NULL, 0), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_close(f.log), 0);
}

static void sweep_read(const char *dir, seen_t *s, int check)
{
    klog_t *log;
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_open(dir, c, 0, &log), 0);
    klog_config_free(c);
    klog_partition_t *p;
    ck_assert_int_eq(klog_partition(log, "t", 0, &p), 0);
    tc_read_all(p, s);
    if (check)
        tc_verify_clean(log);
    ck_assert_int_eq(klog_close(log), 0);
}

/* In a child: open dir and compact, dying at crash step `at` (0: none).
 * Returns the child's exit status. */
static int sweep_child(const char *dir, long at, long *steps)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        klog_t *log;
        klog_config_t *c = tc_log_conf(0);
        if (klog_open(dir, c, 0, &log) != 0)
            _exit(2);
        klog_sync(log); /* nothing pending before the sweep starts */
        klog__fault_arm_crash(at > 0 ? at : LONG_MAX);
        int rc = klog_compact(log, "t", 0, NULL);
        long n = klog__fault_crash_steps();
        klog__fault_clear();
        if (write(pfd[1], &n, sizeof n) != (ssize_t)sizeof n)
            _exit(3);
        _exit(rc == 1 ? 0 : 1); /* no close: as if killed right after */
    }
    close(pfd[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    long n = 0;
    if (read(pfd[0], &n, sizeof n) == (ssize_t)sizeof n && steps)
        *steps = n;
    close(pfd[0]);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int leftovers(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ls %s/t-0 | grep -E '\\.(cleaned|swap|cleanrange|deleted)$' >/dev/null", dir);
    return system(cmd) == 0;
}

START_TEST(test_crash_at_every_step_of_a_pass_gives_before_or_after)
{
    model_t m = {0};
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(7));
    tc_gen_model(&m, &rng, 30, SWEEP_RECORDS, 10);
    char *tmpl = tu_tmpdir("cmp-sweep");
    sweep_build(tmpl, &m);
    seen_t before, after;
    sweep_read(tmpl, &before, 1);
    char *ref = tu_tmpdir("cmp-sweep-ref");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tmpl, ref);
    ck_assert_int_eq(system(cmd), 0);
    long steps = 0;
    ck_assert_int_eq(sweep_child(ref, 0, &steps), 0);
    sweep_read(ref, &after, 1);
    ck_assert_uint_lt(after.n, before.n);
    ck_assert_int_gt(steps, 5);
    /* Every third step of the swap at the end of the pass (its last 110:
     * renames, the new segment's indexes and seal), and samples spread
     * over the reading and writing before it (KLOG_SWEEP_ALL=1: every
     * step). */
    long crashed = 0, saw_before = 0, saw_after = 0, cases = 0;
    int all = getenv("KLOG_SWEEP_ALL") != NULL;
    for (long at = 1; at <= steps + 1; at += all ? 1 : at + 110 >= steps ? 3 : steps / 12 + 1) {
        cases++;
        char *d = tu_tmpdir("cmp-sweep-case");
        snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tmpl, d);
        ck_assert_int_eq(system(cmd), 0);
        int st = sweep_child(d, at, NULL);
        if (st == KLOG__FAULT_CRASH_STATUS)
            crashed++;
        else
            ck_assert_int_eq(st, 0);
        seen_t now;
        sweep_read(d, &now, 1);
        int b = tc_seen_equal(&now, &before), a = tc_seen_equal(&now, &after);
        ck_assert_msg(a || b, "crash at step %ld of %ld: neither the before nor the after state",
                      at, steps);
        saw_before += b;
        saw_after += a;
        ck_assert_msg(!leftovers(d), "crash at step %ld: files left over after reopen", at);
        tc_seen_free(&now);
        tu_rmtree(d);
        free(d);
    }
    ck_assert_int_ge(crashed, cases - 2);
    ck_assert_int_gt(saw_before, 0);
    ck_assert_int_gt(saw_after, 0);
    printf("compact crash sweep: %ld steps, %ld crashes, %ld before, %ld after\n", steps,
           crashed, saw_before, saw_after);
    tc_seen_free(&before);
    tc_seen_free(&after);
    tu_rmtree(tmpl);
    tu_rmtree(ref);
    free(tmpl);
    free(ref);
    free(m.v);
}
END_TEST

/* The same pass with the Nth call of one kind failing (EIO; every fifth
 * case sticky, like a full disk), in process: the pass fails or not, the
 * log closes, and the reopened log is the before or the after state,
 * verifies clean and has nothing left over. */
START_TEST(test_io_error_at_every_step_of_a_pass_gives_before_or_after)
{
    static const int ops[] = {KLOG__FAULT_OPEN,   KLOG__FAULT_WRITE,  KLOG__FAULT_FSYNC,
                              KLOG__FAULT_RENAME, KLOG__FAULT_UNLINK, KLOG__FAULT_READ,
                              KLOG__FAULT_ALLOC,  KLOG__FAULT_STAT,   KLOG__FAULT_TRUNCATE,
                              KLOG__FAULT_MMAP};
    model_t m = {0};
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(11));
    tc_gen_model(&m, &rng, 30, SWEEP_RECORDS / 2, 10);
    char *tmpl = tu_tmpdir("cmp-err");
    sweep_build(tmpl, &m);
    seen_t before, after;
    sweep_read(tmpl, &before, 1);
    char *ref = tu_tmpdir("cmp-err-ref");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tmpl, ref);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(sweep_child(ref, 0, NULL), 0);
    sweep_read(ref, &after, 1);
    long fired = 0, cases = 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        /* Count this kind's calls in a pass. */
        char *d = tu_tmpdir("cmp-err-case");
        snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tmpl, d);
        ck_assert_int_eq(system(cmd), 0);
        klog_t *log;
        klog_config_t *c = tc_log_conf(0);
        ck_assert_int_eq(klog_open(d, c, 0, &log), 0);
        ck_assert_int_eq(klog_sync(log), 0);
        klog__fault_arm(ops[k], LONG_MAX, EIO, 0, 0);
        ck_assert_int_eq(klog_compact(log, "t", 0, NULL), 1);
        long calls = klog__fault_calls(ops[k]);
        klog__fault_clear();
        ck_assert_int_eq(klog_close(log), 0);
        tu_rmtree(d);
        free(d);
        long stride = calls / 8 + 1;
        for (long n = 1; n <= calls; n += stride) {
            cases++;
            d = tu_tmpdir("cmp-err-case");
            snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", tmpl, d);
            ck_assert_int_eq(system(cmd), 0);
            ck_assert_int_eq(klog_open(d, c, 0, &log), 0);
            ck_assert_int_eq(klog_sync(log), 0);
            klog__fault_arm(ops[k], n, EIO, 0, cases % 5 == 0);
            int rc = klog_compact(log, "t", 0, NULL);
            fired += klog__fault_fired() > 0;
            klog__fault_clear();
            ck_assert_msg(rc == 1 || rc < 0, "op %zu call %ld: klog_compact returned %d", k, n,
                          rc);
            klog_close(log); /* may report the failure; frees either way */
            seen_t now;
            sweep_read(d, &now, 1);
            ck_assert_msg(tc_seen_equal(&now, &before) || tc_seen_equal(&now, &after),
                          "op %zu call %ld (rc %s): neither before nor after", k, n,
                          klog_err_name(rc));
            ck_assert_msg(!leftovers(d), "op %zu call %ld: files left over", k, n);
            tc_seen_free(&now);
            tu_rmtree(d);
            free(d);
        }
        klog_config_free(c);
    }
    ck_assert_int_gt(fired, cases / 2);
    printf("compact I/O error sweep: %ld cases, %ld faults fired\n", cases, fired);
    tc_seen_free(&before);
    tc_seen_free(&after);
    tu_rmtree(tmpl);
    tu_rmtree(ref);
    free(tmpl);
    free(ref);
    free(m.v);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct ap {
    klog_partition_t *p;
    const model_t *m;
    atomic_size_t done;
} ap_t;

static void *appender_main(void *arg)
{
    ap_t *a = arg;
    klog_record_t recs[4];
    for (size_t i = 0; i < a->m->n;) {
        size_t k = 0;
        for (; k < 4 && i < a->m->n; k++, i++)
            recs[k] = tc_to_rec(&a->m->v[i]);
        if (klog_append(a->p, recs, k, NULL) != 0)
            break;
        atomic_store(&a->done, i);
    }
    return NULL;
}

/* Appends, a reader, on-demand passes and the background cleaner, all at
 * once (TSan in make tsan-check). */
START_TEST(test_threads_append_read_and_clean_concurrently)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(99));
    fx_t f = {0};
    f.dir = tu_tmpdir("cmp-threads");
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_ENABLE, 1), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_BACKOFF_MS, 1), 0);
    ck_assert_int_eq(klog_open(f.dir, c, 0, &f.log), 0);
    klog_config_free(c);
    klog_config_t *t = tc_topic_conf(2048, 86400000);
    ck_assert_int_eq(klog_config_set(t, KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 100), 0);
    ck_assert_int_eq(klog_topic_create(f.log, "t", 1, t), 0);
    klog_config_free(t);
    ck_assert_int_eq(klog_partition(f.log, "t", 0, &f.p), 0);
    model_t m = {0};
    tc_gen_model(&m, &rng, 50, 4000, 10);
    rd_t rd = {.p = f.p, .m = &m};
    ap_t ap = {.p = f.p, .m = &m};
    pthread_t tr, ta;
    ck_assert_int_eq(pthread_create(&tr, NULL, reader_main, &rd), 0);
    ck_assert_int_eq(pthread_create(&ta, NULL, appender_main, &ap), 0);
    long passes = 0;
    while (atomic_load(&ap.done) < m.n) {
        int rc = klog_compact(f.log, "t", 0, NULL);
        ck_assert_msg(rc >= 0 || rc == KLOG_EBUSY, "klog_compact: %s", klog_err_name(rc));
        passes += rc == 1;
        usleep(2000);
    }
    pthread_join(ta, NULL);
    ck_assert_int_eq(klog_sync(f.log), 0);
    atomic_store(&rd.stop, 1);
    pthread_join(tr, NULL);
    ck_assert_msg(!rd.bad, "the concurrent reader saw a bad record or offset");
    seen_t s;
    tc_read_all(f.p, &s);
    tc_check_subset(&m, &s);
    tc_check_latest_readable(&m, &s, 1);
    tc_seen_free(&s);
    tc_verify_clean(f.log);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

Suite *compact_threads_suite(void)
{
    Suite *s = suite_create("compact_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_append_read_and_clean_concurrently);
    suite_add_tcase(s, tc);
    return s;
}

Suite *compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("property");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_property_random_keyed_appends_and_compactions);
    suite_add_tcase(s, tc);
    tc = tcase_create("crash");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_crash_at_every_step_of_a_pass_gives_before_or_after);
    tcase_add_test(tc, test_io_error_at_every_step_of_a_pass_gives_before_or_after);
    suite_add_tcase(s, tc);
    return s;
}
