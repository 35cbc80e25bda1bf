/*
 * check_logstate_txn.c — transactions through the public API: markers and
 * the last stable offset with interleaved open, committed and aborted
 * transactions, marker fencing, read-committed readers and leases (the
 * aborted list a Fetch carries), the LSO held by a marker above the
 * watermark, and concurrent transactional writers with readers (the
 * "threads" suite, also run under TSan). Fixture in util/lswired.h.
 */
#include <pthread.h>

#include "util/lswired.h"
/* ------------------------------------------------------------ transactions */

START_TEST(test_lso_interleaved)
{
    int64_t a0, b0, c0, m;
    ck_assert_int_eq(lso(), 0);
    CK_RC(idem(100, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, &a0), 0); /* A opens at 0 */
    CK_RC(idem(200, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, &b0), 0); /* B opens at 2 */
    CK_RC(idem(300, 0, 0, 1, 0, &c0), 0);                       /* C plain at 4 */
    ck_assert_int_eq(lso(), a0);
    /* A non-transactional batch while A's transaction is open. */
    CK_RC(idem(100, 0, 2, 1, 0, NULL), KLOG_ETXNSTATE);
    CK_RC(idem(100, 0, 2, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* A at 5 */
    CK_RC(klog_append_marker(part, 100, 0, 1, 0, &m), 0);       /* commit A at 6 */
    ck_assert_int_eq(m, 6);
    ck_assert_int_eq(lso(), b0);
    /* Readers: uncommitted sees everything but markers; committed stops
     * at the LSO. */
    char *u = read_all(0, KLOG_ISOLATION_READ_UNCOMMITTED);
    ck_assert_str_eq(u, "0:p100-s0 1:p100-s1 2:p200-s0 3:p200-s1 4:p300-s0 5:p100-s2 ");
    free(u);
    char *c = read_all(0, KLOG_ISOLATION_READ_COMMITTED);
    ck_assert_str_eq(c, "0:p100-s0 1:p100-s1 ");
    free(c);
    /* Marker fencing. */
    CK_RC(klog_append_marker(part, 200, 0, 0, 5, NULL), 0); /* abort B at 7, coord 5 */
    CK_RC(klog_append_marker(part, 200, 0, 0, 4, NULL), KLOG_ECOORDFENCED);
    CK_RC(idem(200, 1, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* B epoch 1 at 8 */
    CK_RC(klog_append_marker(part, 200, 0, 0, 6, NULL), KLOG_EFENCED);
    CK_RC(klog_append_marker(part, 200, 1, 0, 6, NULL), 0); /* abort again at 9 */
    ck_assert_int_eq(lso(), log_end());
    c = read_all(0, KLOG_ISOLATION_READ_COMMITTED);
    ck_assert_str_eq(c, "0:p100-s0 1:p100-s1 4:p300-s0 5:p100-s2 ");
    free(c);
    /* The .txnindex: B's two aborted transactions with their LSOs. */
    char *s = dump_state();
    ck_assert_msg(strstr(s, "abort 200 2 7 8\n") && strstr(s, "abort 200 8 9 10\n"), "%s", s);
    free(s);
    /* Leases carry the aborted transactions of their range. */
    klog_lease_t *l;
    CK_RC(klog_lease_acquire_isolated(part, 0, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    size_t na;
    const klog_aborted_txn_t *ab = klog_lease_aborted(l, &na);
    ck_assert_uint_eq(na, 2);
    ck_assert_int_eq(ab[0].producer_id, 200);
    ck_assert_int_eq(ab[0].first_offset, 2);
    ck_assert_int_eq(ab[1].first_offset, 8);
    ck_assert_int_eq(klog_lease_next_offset(l), 10);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire_isolated(part, 8, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ab = klog_lease_aborted(l, &na);
    ck_assert_uint_eq(na, 1);
    ck_assert_int_eq(ab[0].first_offset, 8);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire(part, 0, 1 << 20, &l), 0);
    ck_assert_ptr_null(klog_lease_aborted(l, &na));
    ck_assert_uint_eq(na, 0);
    klog_lease_release(l);
}
END_TEST

START_TEST(test_read_committed_follows_lso)
{
    CK_RC(idem(1, 0, 0, 1, 0, NULL), 0);                       /* 0 */
    CK_RC(idem(2, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 1, open */
    CK_RC(idem(1, 0, 1, 1, 0, NULL), 0);                       /* 2 */
    klog_reader_t *r;
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED), 0);
    klog_record_t rec;
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 0);
    CK_RC(klog_reader_next(r, &rec), 0); /* stops at the LSO (1) */
    /* A lease stops there too; past it (below the watermark) it is empty. */
    klog_lease_t *l;
    CK_RC(klog_lease_acquire_isolated(part, 0, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ck_assert_int_eq(klog_lease_next_offset(l), 1);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire_isolated(part, 2, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ck_assert_uint_eq(klog_lease_bytes(l), 0);
    klog_lease_release(l);
    CK_RC(klog_append_marker(part, 2, 0, 1, 0, NULL), 0); /* commit at 3 */
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 1);
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 2);
    CK_RC(klog_reader_next(r, &rec), 0);
    ck_assert_int_eq(klog_reader_position(r), 4); /* past the marker */
    klog_reader_close(r);
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, 5), -EINVAL);
    klog_reader_close(r);
}
END_TEST

/* What a coordinator replaying its own partition asks: which producer's
 * transaction is still open from where, and which ended aborted. */
START_TEST(test_txn_open_and_aborted)
{
    int64_t first, m;
    CK_RC(klog_partition_txn_open(part, 100, &first), 0);
    ck_assert_int_eq(first, -1);                                 /* no state */
    CK_RC(idem(100, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 0 */
    CK_RC(idem(200, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 1 */
    CK_RC(idem(100, 0, 1, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 2 */
    CK_RC(klog_partition_txn_open(part, 100, &first), 0);
    ck_assert_int_eq(first, 0);
    CK_RC(klog_append_marker(part, 100, 0, 0, 0, &m), 0);        /* abort 100 at 3 */
    CK_RC(idem(100, 0, 2, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 4: a new one */
    CK_RC(klog_partition_txn_open(part, 100, &first), 0);
    ck_assert_int_eq(first, 4);
    CK_RC(klog_partition_txn_open(part, 200, &first), 0);
    ck_assert_int_eq(first, 1);
    CK_RC(klog_append_marker(part, 200, 0, 1, 0, NULL), 0); /* commit 200 at 5 */
    CK_RC(klog_partition_txn_open(part, 200, &first), 0);
    ck_assert_int_eq(first, -1);
    /* Above the LSO (0 -> 4 now) too: only 100's first transaction aborted. */
    klog_aborted_txn_t *ab;
    size_t n;
    CK_RC(klog_partition_aborted(part, 0, log_end(), &ab, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(ab[0].producer_id, 100);
    ck_assert_int_eq(ab[0].first_offset, 0);
    ck_assert_int_eq(ab[0].last_offset, m);
    free(ab);
    CK_RC(klog_partition_aborted(part, 4, log_end(), &ab, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ab);
    CK_RC(klog_partition_txn_open(part, -1, &first), -EINVAL);
    CK_RC(klog_partition_aborted(part, 0, 1, NULL, &n), -EINVAL);
    /* The open transaction's start survives a reopen (recovered state). */
    close_log();
    open_log();
    CK_RC(klog_partition_txn_open(part, 100, &first), 0);
    ck_assert_int_eq(first, 4);
}
END_TEST

/* Concatenate batches with explicit offsets (a leader's fetch response). */
START_TEST(test_lso_unstable_marker)
{
    close_log();
    klog_config_t *tc;
    CK_RC(klog_config_new(&tc), 0);
    CK_RC(klog_config_set(tc, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED), 0);
    open_log();
    CK_RC(klog_topic_create(lg, "f", 1, tc), 0);
    klog_config_free(tc);
    CK_RC(klog_partition(lg, "f", 0, &part), 0);
    CK_RC(idem(1, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 0-1 */
    CK_RC(klog_flush(part), 0);
    ck_assert_int_eq(lso(), 0);
    CK_RC(klog_append_marker(part, 1, 0, 1, 0, NULL), 0); /* 2, not visible yet */
    ck_assert_int_eq(lso(), 0);
    CK_RC(klog_flush(part), 0);
    ck_assert_int_eq(lso(), 3);
    klog_reader_t *r;
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED), 0);
    klog_record_t rec;
    CK_RC(klog_reader_next(r, &rec), 1);
    CK_RC(klog_reader_next(r, &rec), 1);
    CK_RC(klog_reader_next(r, &rec), 0);
    klog_reader_close(r);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct tw {
    int64_t pid;
    int rc;
    long n;
} tw_t;

static void *txn_writer(void *arg)
{
    tw_t *w = arg;
    int32_t seq = 0;
    for (int k = 0; k < 300 && !w->rc; k++) {
        int txn = k % 3 != 0;
        w->rc = idem(w->pid, 0, seq, 2, txn ? KLOG_ATTR_TRANSACTIONAL : 0, NULL);
        seq += 2;
        if (!w->rc && txn)
            w->rc = klog_append_marker(part, w->pid, 0, k % 2, 0, NULL);
        if (!w->rc && k % 50 == 0)
            w->rc = klog_flush(part);
        w->n++;
    }
    return NULL;
}

static void *txn_reader(void *arg)
{
    tw_t *w = arg;
    klog_reader_t *r;
    w->rc = klog_reader_open(part, 0, &r);
    if (!w->rc)
        w->rc = klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED);
    klog_record_t rec;
    int idle = 0;
    while (!w->rc && idle < 2000) {
        int rc = klog_reader_next(r, &rec);
        if (rc < 0)
            w->rc = rc;
        else if (rc == 1)
            w->n++, idle = 0;
        else
            idle++, klog_reader_wait(r, 1);
        int64_t l;
        int32_t e;
        int64_t o;
        if (!w->rc && (w->rc = klog_partition_lso(part, &l)) == 0)
            w->rc = klog_offset_for_leader_epoch(part, 0, &e, &o);
        klog_lease_t *ls;
        if (!w->rc && (w->rc = klog_lease_acquire_isolated(part, 0, 4096,
                                                           KLOG_ISOLATION_READ_COMMITTED, &ls)) == 0)
            klog_lease_release(ls);
    }
    klog_reader_close(r);
    return NULL;
}

START_TEST(test_threads_txn)
{
    close_log();
    seg_bytes = 4096;
    open_log();
    tw_t w[3] = {{.pid = 11}, {.pid = 12}, {0}};
    pthread_t th[3];
    ck_assert_int_eq(pthread_create(&th[0], NULL, txn_writer, &w[0]), 0);
    ck_assert_int_eq(pthread_create(&th[1], NULL, txn_writer, &w[1]), 0);
    ck_assert_int_eq(pthread_create(&th[2], NULL, txn_reader, &w[2]), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(w[i].rc == 0, "thread %d: %s", i, klog_err_name(w[i].rc));
    ck_assert_int_eq(lso(), log_end());
    ck_assert_int_gt(w[2].n, 0);
    /* What the threads left equals a rebuild from the log. */
    char *before = dump_state();
    close_log();
    rm_suffix(".snapshot");
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}
END_TEST

Suite *logstate_threads_suite(void)
{
    Suite *s = suite_create("logstate_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_threads_txn);
    suite_add_tcase(s, tc);
    return s;
}

Suite *logstate_txn_suite(void)
{
    Suite *s = suite_create("logstate_txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lso_interleaved);
    tcase_add_test(tc, test_read_committed_follows_lso);
    tcase_add_test(tc, test_lso_unstable_marker);
    tcase_add_test(tc, test_txn_open_and_aborted);
    suite_add_tcase(s, tc);
    return s;
}
