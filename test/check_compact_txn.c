/*
 * check_compact_txn.c — the cleaner and producer state, Kafka's rules for
 * batches that carry a producer id (LogCleaner's checkBatchRetention and
 * CleanedTransactionMetadata): a producer's last batch kept empty, aborted
 * transaction data removed, transaction markers kept while their data is
 * seen and removed after their delete horizon.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "platform/bytes.h"
#include "util/testutil.h"
#include "util/tu_compact.h"

START_TEST(test_last_batch_of_producer_kept_as_empty_batch)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-prod", 1024, 86400000);
    klog_record_t r = {.key = "k", .key_len = 1, .value = "p1", .value_len = 2,
                       .timestamp = TS0};
    int64_t first = tc_append_producer(f.p, &r, 1, 77, 3, 0, 0);  /* superseded, not last */
    int64_t last = tc_append_producer(f.p, &r, 1, 77, 3, 1, 0);   /* superseded, its last */
    r.value = "p2";
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(klog_append(f.p, &r, 1, NULL), 0); /* same key, no producer */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 1);
    ck_assert_int_eq(st.empty_batches, 1);
    klog_batch_info_t bi[64];
    size_t nb = tc_batches(f.p, bi, 64);
    ck_assert_uint_eq(nb, 2); /* the empty batch and the key's latest record */
    ck_assert_int_eq(bi[0].base_offset, last);
    ck_assert_int_ne(bi[0].base_offset, first);
    ck_assert_int_eq(bi[0].record_count, 0);
    ck_assert_uint_eq(bi[0].size, KLOG_BATCH_HEADER_SIZE);
    ck_assert_int_eq(bi[0].producer_id, 77);
    ck_assert_int_eq(bi[0].producer_epoch, 3);
    ck_assert_int_eq(bi[0].base_sequence, 1);
    ck_assert_int_eq(bi[1].base_offset, 41);
    tc_verify_clean(f.log);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_aborted_transaction_data_removed_marker_kept)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-txn", 1024, 86400000);
    klog_record_t r = {.key = "a", .key_len = 1, .value = "committed", .value_len = 9,
                       .timestamp = TS0};
    ck_assert_int_eq(klog_append(f.p, &r, 1, NULL), 0); /* 0: a plain record */
    r.value = "aborted";
    r.value_len = 7;
    int64_t t0 = tc_append_producer(f.p, &r, 1, 5, 0, 0, KLOG_ATTR_TRANSACTIONAL); /* 1 */
    int64_t marker;
    ck_assert_int_eq(klog_append_marker(f.p, 5, 0, 0, 0, &marker), 0); /* 2: ABORT */
    r.key = "b";
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(klog_append(f.p, &r, 1, NULL), 0);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    ck_assert_int_eq(klog_sync(f.log), 0);
    /* The aborted transaction in the marker's segment's .txnindex. */
    klog_segment_info_t *segs;
    size_t n;
    ck_assert_int_eq(klog_segment_list(f.p, &segs, &n), 0);
    uint8_t e[34] = {0};
    klog__store64(e + 2, 5);
    klog__store64(e + 10, (uint64_t)t0);
    klog__store64(e + 18, (uint64_t)marker);
    klog__store64(e + 26, (uint64_t)t0);
    char name[64];
    snprintf(name, sizeof name, "t-0/%020lld.txnindex", (long long)segs[0].base_offset);
    free(segs);
    ck_assert_int_eq(tu_write_file(f.dir, name, e, sizeof e), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 1);
    klog_batch_info_t bi[64];
    size_t nb = tc_batches(f.p, bi, 64);
    int saw_marker = 0, saw_aborted = 0, saw_a = 0;
    for (size_t i = 0; i < nb && i < 64; i++) {
        saw_marker |= bi[i].base_offset == marker && bi[i].record_count == 1;
        if (bi[i].base_offset == t0) /* the producer's last data batch: kept empty */
            saw_aborted = bi[i].record_count == 0 && bi[i].size == KLOG_BATCH_HEADER_SIZE ? 1 : 2;
        saw_a |= bi[i].base_offset == 0;
    }
    /* The aborted data is gone and was not "a"'s latest: the committed
     * record at 0 stays; the marker stays (its data was seen this pass). */
    ck_assert_int_eq(saw_aborted, 1);
    ck_assert_int_eq(saw_a, 1);
    ck_assert_int_eq(saw_marker, 1);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_transaction_marker_removed_after_its_delete_horizon)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-marker", 1024, 0);
    klog_record_t r = {.key = "a", .key_len = 1, .value = "x", .value_len = 1,
                       .timestamp = TS0};
    tc_append_producer(f.p, &r, 1, 9, 0, 0, KLOG_ATTR_TRANSACTIONAL); /* 0: txn 1 */
    int64_t marker, marker2;
    ck_assert_int_eq(klog_append_marker(f.p, 9, 0, 1, 0, &marker), 0); /* 1: COMMIT */
    r.key = "c";
    int64_t last = tc_append_producer(f.p, &r, 1, 9, 0, 1, KLOG_ATTR_TRANSACTIONAL); /* 2: txn 2 */
    ck_assert_int_eq(klog_append_marker(f.p, 9, 0, 1, 0, &marker2), 0); /* 3: COMMIT */
    r.key = "a"; /* txn 1's only record is superseded */
    ck_assert_int_eq(klog_append(f.p, &r, 1, NULL), 0);
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < 20; i++) { /* new dirty data each time */
            char k[16];
            int kl = snprintf(k, sizeof k, "n%d-%d", pass, i % 5);
            klog_record_t d = {.key = k, .key_len = kl, .value = "v", .value_len = 1,
                               .timestamp = TS0};
            ck_assert_int_eq(klog_append(f.p, &d, 1, NULL), 0);
        }
        ck_assert_int_ge(klog_segment_roll(f.p), 0);
        klog_compact_stats_t st;
        ck_assert_int_eq(tc_compact(&f, &st), 1);
        usleep(2000);
        klog_batch_info_t bi[128];
        size_t nb = tc_batches(f.p, bi, 128);
        int saw = 0, saw2 = 0, saw_last = 0;
        for (size_t i = 0; i < nb && i < 128; i++) {
            /* Pass 0 still sees txn 1's data, so its marker stays; pass 1
             * finds none: the marker gets a delete horizon (0 ms); pass 2
             * removes it. Txn 2's data is a key's latest: it and its marker
             * stay. */
            if (bi[i].base_offset == marker) {
                saw = 1;
                ck_assert_int_eq(bi[i].attributes & 0x40, pass == 1 ? 0x40 : 0);
            }
            saw2 |= bi[i].base_offset == marker2;
            saw_last |= bi[i].base_offset == last && bi[i].record_count == 1;
        }
        ck_assert_int_eq(saw, pass < 2);
        ck_assert_int_eq(saw2, 1);
        ck_assert_int_eq(saw_last, 1);
    }
    tc_fx_done(&f);
}
END_TEST

Suite *compact_txn_suite(void)
{
    Suite *s = suite_create("compact_txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_last_batch_of_producer_kept_as_empty_batch);
    tcase_add_test(tc, test_aborted_transaction_data_removed_marker_kept);
    tcase_add_test(tc, test_transaction_marker_removed_after_its_delete_horizon);
    suite_add_tcase(s, tc);
    return s;
}
