/*
 * check_stats.c — klog_partition_stats() and klog_stats(): appends, bytes
 * and records counted per write; rolls match the segments made; fsync
 * rounds counted once each (a flush with nothing new is none) with their
 * time; leases held and acquired; the log-wide sums over partitions and
 * topics, the descriptor cache, and the recovery work of an open that
 * scanned a segment and cut a torn tail; reads while other threads append,
 * flush and lease; bad arguments.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("stats"); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

#define CK_OK(expr)                                                                          \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        ck_assert_msg(rc_ == 0, "%s = %d (%s)", #expr, rc_, klog_err_name(rc_));             \
    } while (0)

static klog_t *open_with_topic(int32_t parts, int64_t segment_bytes)
{
    klog_t *log;
    klog_config_t *c;
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_config_new(&c));
    CK_OK(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, segment_bytes));
    CK_OK(klog_topic_create(log, "s", parts, c));
    klog_config_free(c);
    return log;
}

/* n appends of one record each of vlen value bytes. */
static void append_n(klog_partition_t *p, int n, size_t vlen)
{
    char *val = malloc(vlen);
    ck_assert_ptr_nonnull(val);
    memset(val, 'v', vlen);
    for (int i = 0; i < n; i++) {
        klog_record_t r = {.timestamp = 1700000000000 + i, .key_len = KLOG_NULL_LEN,
                           .value = val, .value_len = (int32_t)vlen};
        CK_OK(klog_append(p, &r, 1, NULL));
    }
    free(val);
}

START_TEST(partition_counters)
{
    klog_t *log = open_with_topic(2, 4096);
    klog_partition_t *p;
    CK_OK(klog_partition(log, "s", 0, &p));
    klog_partition_stats_t s;
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.appends, 0);
    ck_assert_int_eq(s.fsyncs, 0);
    ck_assert_int_eq(s.segments, 1);

    append_n(p, 50, 200);
    klog_record_t two[2] = {{.timestamp = 1, .key_len = KLOG_NULL_LEN, .value = "a", .value_len = 1},
                            {.timestamp = 2, .key_len = KLOG_NULL_LEN, .value = "b", .value_len = 1}};
    CK_OK(klog_append(p, two, 2, NULL));
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.appends, 51);
    ck_assert_int_eq(s.append_records, 52);
    ck_assert_int_eq(s.log_end, 52);
    /* Nothing removed: every appended byte is in the segments. */
    ck_assert_int_eq(s.append_bytes, s.bytes);
    /* 51 batches of over 200 bytes cannot fit in one 4 KiB segment. */
    ck_assert_int_ge(s.rolls, 2);
    ck_assert_int_eq(s.segments, s.rolls + 1);

    /* Rolls seal the old segments in the background, not as fsync rounds
     * of klog_flush: a flush is one round, a second with nothing new none. */
    int64_t before = s.fsyncs;
    CK_OK(klog_flush(p));
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.fsyncs, before + 1);
    ck_assert_int_gt(s.fsync_ns, 0);
    ck_assert_int_gt(s.fsync_max_ns, 0);
    ck_assert_int_le(s.fsync_max_ns, s.fsync_ns);
    ck_assert_int_eq(s.recovery_point, 52);
    CK_OK(klog_flush(p));
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.fsyncs, before + 1);

    klog_lease_t *l1, *l2;
    CK_OK(klog_lease_acquire(p, 0, 1 << 20, &l1));
    CK_OK(klog_lease_acquire(p, 10, 1 << 20, &l2));
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.leases, 2);
    ck_assert_int_eq(s.leases_total, 2);
    ck_assert_int_ge(s.readers, 2);
    klog_lease_release(l1);
    klog_lease_release(l2);
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.leases, 0);
    ck_assert_int_eq(s.leases_total, 2);
    ck_assert_int_eq(s.readers, 0);

    /* The other partition kept its own counters. */
    klog_partition_t *q;
    CK_OK(klog_partition(log, "s", 1, &q));
    CK_OK(klog_partition_stats(q, &s));
    ck_assert_int_eq(s.appends, 0);
    ck_assert_int_eq(s.leases_total, 0);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(log_totals)
{
    klog_t *log = open_with_topic(3, 1 << 20);
    CK_OK(klog_topic_create(log, "other", 1, NULL));
    int64_t appends = 0, bytes = 0, records = 0;
    for (int32_t i = 0; i < 3; i++) {
        klog_partition_t *p;
        CK_OK(klog_partition(log, "s", i, &p));
        append_n(p, 5 * (i + 1), 100);
        CK_OK(klog_flush(p));
    }
    klog_partition_t *o;
    CK_OK(klog_partition(log, "other", 0, &o));
    append_n(o, 7, 10);
    int64_t maxns = 0, fsyncs = 0;
    for (int t = 0; t < 2; t++)
        for (int32_t i = 0; i < (t ? 1 : 3); i++) {
            klog_partition_t *p;
            klog_partition_stats_t s;
            CK_OK(klog_partition(log, t ? "other" : "s", i, &p));
            CK_OK(klog_partition_stats(p, &s));
            appends += s.appends;
            bytes += s.append_bytes;
            records += s.append_records;
            fsyncs += s.fsyncs;
            if (s.fsync_max_ns > maxns)
                maxns = s.fsync_max_ns;
        }
    klog_stats_t st;
    CK_OK(klog_stats(log, &st));
    ck_assert_int_eq(st.topics, 2);
    ck_assert_int_eq(st.partitions, 4);
    ck_assert_int_eq(st.appends, 5 + 10 + 15 + 7);
    ck_assert_int_eq(st.appends, appends);
    ck_assert_int_eq(st.append_records, records);
    ck_assert_int_eq(st.append_bytes, bytes);
    ck_assert_int_eq(st.bytes, bytes);
    ck_assert_int_eq(st.fsyncs, fsyncs);
    ck_assert_int_ge(st.fsyncs, 3);
    ck_assert_int_eq(st.fsync_max_ns, maxns);
    ck_assert_int_eq(st.segments, 4);
    ck_assert_int_gt(st.open_files, 0);
    ck_assert_int_eq(st.recovery_truncated_bytes, 0);
    ck_assert_int_eq(st.compactions, 0);

    /* A deleted topic leaves the sums. */
    CK_OK(klog_topic_delete(log, "other"));
    CK_OK(klog_stats(log, &st));
    ck_assert_int_eq(st.topics, 1);
    ck_assert_int_eq(st.partitions, 3);
    ck_assert_int_eq(st.appends, 30);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(recovery_counted)
{
    klog_t *log = open_with_topic(1, 1 << 20);
    klog_partition_t *p;
    CK_OK(klog_partition(log, "s", 0, &p));
    append_n(p, 20, 50);
    CK_OK(klog_close(log));

    /* A clean reopen scans nothing. */
    klog_stats_t st;
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_stats(log, &st));
    ck_assert_int_eq(st.recovered_segments, 0);
    ck_assert_int_eq(st.recovery_truncated_bytes, 0);
    ck_assert_int_eq(st.appends, 0); /* counters start at each open */
    CK_OK(klog_close(log));

    /* As after a crash: no clean marker, no seal, a torn tail. */
    char path[4096];
    snprintf(path, sizeof path, "%s/.kafka_cleanshutdown", tmp);
    unlink(path);
    snprintf(path, sizeof path, "%s/s-0/%020d.seal", tmp, 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/s-0/%020d.log", tmp, 0);
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "torn-tail-bytes", 15), 15);
    close(fd);
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_partition(log, "s", 0, &p)); /* loads (recovers) the partition */
    klog_partition_stats_t s;
    CK_OK(klog_partition_stats(p, &s));
    ck_assert_int_eq(s.log_end, 20);
    CK_OK(klog_stats(log, &st));
    ck_assert_int_ge(st.recovered_segments, 1);
    ck_assert_int_ge(st.recovered_bytes, s.bytes);
    ck_assert_int_eq(st.recovery_truncated_bytes, 15);
    CK_OK(klog_close(log));
}
END_TEST

/* Statistics read while other threads append, flush, roll and lease: every
 * read is consistent with monotonic counters and the totals come out
 * exact. In its own suite, stats_threads, which make tsan-check runs (it
 * runs the suites whose names contain "threads"). */
#define WRITERS 3
#define PER_WRITER 300
struct writer {
    klog_partition_t *p;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        klog_record_t r = {.timestamp = 1700000000000 + i, .key_len = KLOG_NULL_LEN,
                           .value = "0123456789abcdef", .value_len = 16};
        if (klog_append(w->p, &r, 1, NULL))
            return (void *)1;
        if (i % 50 == 0 && klog_flush(w->p))
            return (void *)1;
        klog_lease_t *l;
        if (i % 20 == 0 && klog_lease_acquire(w->p, 0, 4096, &l) == 0)
            klog_lease_release(l);
    }
    return NULL;
}

START_TEST(read_while_appending)
{
    klog_t *log = open_with_topic(WRITERS, 2048);
    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        CK_OK(klog_partition(log, "s", i, &w[i].p));
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    int64_t last_appends = 0, last_fsyncs = 0;
    for (int n = 0; n < 200; n++) {
        klog_stats_t st;
        CK_OK(klog_stats(log, &st));
        ck_assert_int_ge(st.appends, last_appends);
        ck_assert_int_ge(st.fsyncs, last_fsyncs);
        ck_assert_int_le(st.appends, WRITERS * PER_WRITER);
        last_appends = st.appends;
        last_fsyncs = st.fsyncs;
    }
    for (int i = 0; i < WRITERS; i++) {
        void *rv;
        ck_assert_int_eq(pthread_join(th[i], &rv), 0);
        ck_assert_ptr_null(rv);
    }
    klog_stats_t st;
    CK_OK(klog_stats(log, &st));
    ck_assert_int_eq(st.appends, WRITERS * PER_WRITER);
    ck_assert_int_eq(st.append_records, WRITERS * PER_WRITER);
    ck_assert_int_eq(st.leases, 0);
    ck_assert_int_eq(st.leases_total, WRITERS * (PER_WRITER / 20));
    ck_assert_int_ge(st.fsyncs, WRITERS);
    ck_assert_int_ge(st.rolls, WRITERS);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(bad_arguments)
{
    klog_stats_t st;
    klog_partition_stats_t ps;
    ck_assert_int_eq(klog_stats(NULL, &st), -EINVAL);
    ck_assert_int_eq(klog_partition_stats(NULL, &ps), -EINVAL);
    klog_t *log = open_with_topic(1, 1 << 20);
    klog_partition_t *p;
    CK_OK(klog_partition(log, "s", 0, &p));
    ck_assert_int_eq(klog_stats(log, NULL), -EINVAL);
    ck_assert_int_eq(klog_partition_stats(p, NULL), -EINVAL);
    CK_OK(klog_close(log));
}
END_TEST

Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, partition_counters);
    tcase_add_test(tc, log_totals);
    tcase_add_test(tc, recovery_counted);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

Suite *stats_threads_suite(void)
{
    Suite *s = suite_create("stats_threads");
    TCase *tc = tcase_create("stats_threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, read_while_appending);
    suite_add_tcase(s, tc);
    return s;
}
