/*
 * check_logstate_wired.c — producer state and the leader-epoch cache
 * through the public API: idempotent appends (duplicates at each of the 5
 * slots, out of order, fencing, new epochs, wrap-around, expiry),
 * snapshots across close/open (missing or corrupt: same state after the
 * rescan) and their retention with segments, follower appends with
 * markers and epochs (OffsetForLeaderEpoch, truncation at both ends),
 * truncation reloads, .txnindex files (check_logstate_txn.c: transactions,
 * read committed, leases, threads). Fixture in util/lswired.h.
 */
#include "util/lswired.h"
/* ------------------------------------------------------------ idempotence */

START_TEST(test_dup_each_slot)
{
    int64_t bases[6];
    for (int i = 0; i < 6; i++)
        CK_RC(idem(7, 0, i * 2, 2, 0, &bases[i]), 0);
    int64_t end = log_end();
    ck_assert_int_eq(end, 12);
    /* Batches 1..5 are the cached 5: each retry answers its offsets. */
    for (int i = 1; i < 6; i++) {
        int64_t b = -1;
        CK_RC(idem(7, 0, i * 2, 2, 0, &b), 0);
        ck_assert_int_eq(b, bases[i]);
        ck_assert_int_eq(log_end(), end);
    }
    /* Batch 0 fell out of the cache: a retry of it is out of order. */
    CK_RC(idem(7, 0, 0, 2, 0, NULL), KLOG_EOUTOFORDER);
    /* A retry with other sequence bounds is no duplicate either. */
    CK_RC(idem(7, 0, 8, 1, 0, NULL), KLOG_EOUTOFORDER);
    ck_assert_int_eq(log_end(), end);
    /* Reopen: the snapshot at close keeps the last batch (Kafka's format
     * holds one per producer): its retry is still found, older ones are
     * out of order, as after a Kafka broker restart. */
    close_log();
    open_log();
    int64_t b = -1;
    CK_RC(idem(7, 0, 10, 2, 0, &b), 0);
    ck_assert_int_eq(b, bases[5]);
    CK_RC(idem(7, 0, 4, 2, 0, &b), KLOG_EOUTOFORDER);
    ck_assert_int_eq(log_end(), end);
    CK_RC(idem(7, 0, 12, 1, 0, &b), 0);
    ck_assert_int_eq(b, end);
}
END_TEST

START_TEST(test_sequence_rules)
{
    CK_RC(idem(1, 0, 0, 3, 0, NULL), 0);
    CK_RC(idem(1, 0, 5, 1, 0, NULL), KLOG_EOUTOFORDER); /* gap */
    CK_RC(idem(1, 0, 2, 1, 0, NULL), KLOG_EOUTOFORDER); /* overlap */
    CK_RC(idem(1, 0, 3, 1, 0, NULL), 0);
    /* Fencing: an older epoch is refused, a newer one must start at 0. */
    CK_RC(idem(1, 1, 4, 1, 0, NULL), KLOG_EEPOCHSEQ);
    CK_RC(idem(1, 1, 0, 1, 0, NULL), 0);
    CK_RC(idem(1, 0, 4, 1, 0, NULL), KLOG_EFENCED);
    /* No sequence, and control batches, are refused from clients. */
    CK_RC(idem(1, 1, -1, 1, 0, NULL), -EINVAL);
    CK_RC(idem(1, 1, 1, 1, KLOG_ATTR_CONTROL, NULL), -EINVAL);
    CK_RC(idem(-1, -1, -1, 1, KLOG_ATTR_CONTROL, NULL), -EINVAL);
    /* Unknown producer: any first sequence (Kafka 2.5+). */
    CK_RC(idem(2, 0, 77, 1, 0, NULL), 0);
    CK_RC(idem(2, 0, 78, 1, 0, NULL), 0);
    /* Wrap-around: INT32_MAX - 1, INT32_MAX, 0, then 1. */
    CK_RC(idem(3, 0, INT32_MAX - 1, 3, 0, NULL), 0);
    int64_t b = -1, end = log_end();
    CK_RC(idem(3, 0, INT32_MAX - 1, 3, 0, &b), 0); /* its duplicate */
    ck_assert_int_eq(b, end - 3);
    CK_RC(idem(3, 0, 0, 1, 0, NULL), KLOG_EOUTOFORDER);
    CK_RC(idem(3, 0, 1, 2, 0, NULL), 0);
    /* Batches without producer id are untouched by all this. */
    klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .value = "x", .value_len = 1,
                       .key_len = KLOG_NULL_LEN};
    CK_RC(klog_append(part, &r, 1, NULL), 0);
    CK_RC(klog_append(part, &r, 1, NULL), 0);
}
END_TEST

START_TEST(test_expiry)
{
    int64_t old = klog__now_ms() - 2LL * 86400000;
    size_t len;
    void *b = mk(9, 0, 0, 2, 0, old, -1, &len);
    CK_RC(klog_append_batch(part, b, len, NULL), 0);
    free(b);
    CK_RC(idem(10, 0, 0, 1, 0, NULL), 0); /* fresh: stays */
    CK_RC(idem(9, 0, 5, 1, 0, NULL), KLOG_EOUTOFORDER);
    ck_assert_int_ge(klog_retention(lg, KLOG_TIMESTAMP_NOW), 0);
    char *s = dump_state();
    ck_assert_msg(strstr(s, "pid 9 ") == NULL, "%s", s);
    ck_assert_msg(strstr(s, "pid 10 ") != NULL, "%s", s);
    free(s);
    /* Forgotten: its next batch is a first batch again. */
    CK_RC(idem(9, 0, 5, 1, 0, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ snapshots */

START_TEST(test_snapshot_round_trip)
{
    CK_RC(idem(1, 0, 0, 2, 0, NULL), 0);
    CK_RC(idem(2, 3, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(idem(4, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(klog_append_marker(part, 4, 0, 0, 2, NULL), 0);
    CK_RC(idem(1, 0, 2, 3, 0, NULL), 0);
    char *before = dump_state();
    close_log();
    char *snaps = files_with(".snapshot");
    ck_assert_str_eq(snaps, "00000000000000000008.snapshot ");
    free(snaps);
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(after);
    /* Missing snapshot: the rescan gives the same state, and says so. */
    close_log();
    rm_suffix(".snapshot");
    logbuf[0] = 0;
    open_log();
    after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "rebuilding producer state") != NULL, "%s", logbuf);
    free(after);
    /* Corrupt snapshot: reported, deleted, same state again. */
    close_log();
    size_t len;
    uint8_t *data = tu_read_file(pdir(), "00000000000000000008.snapshot", &len);
    ck_assert_ptr_nonnull(data);
    data[len / 2] ^= 0x40;
    ck_assert_int_eq(tu_write_file(pdir(), "00000000000000000008.snapshot", data, len), 0);
    free(data);
    logbuf[0] = 0;
    open_log();
    after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "unreadable") != NULL, "%s", logbuf);
    free(after);
    free(before);
}
END_TEST

START_TEST(test_snapshots_follow_segments)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    int64_t seq = 0;
    for (int i = 0; i < 40; i++, seq += 4)
        CK_RC(idem(5, 0, (int32_t)seq, 4, 0, NULL), 0);
    klog_offsets_t o;
    CK_RC(klog_partition_offsets(part, &o), 0);
    ck_assert_int_gt(o.segments, 3);
    /* One snapshot per rolled-to segment base (none for the first). */
    klog_segment_info_t *si;
    size_t ns;
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    char want[4096] = "";
    for (size_t i = 1; i < ns; i++) {
        char one[64];
        snprintf(one, sizeof one, "%020lld.snapshot ", (long long)si[i].base_offset);
        strcat(want, one);
    }
    free(si);
    char *snaps = files_with(".snapshot");
    ck_assert_str_eq(snaps, want);
    free(snaps);
    /* DeleteRecords past two segments (some perhaps still being
     * sealed): their snapshots go with them. */
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    int64_t cut = si[2].base_offset;
    free(si);
    CK_RC(klog_delete_records(part, cut), 0);
    snaps = files_with(".snapshot");
    char first[64];
    snprintf(first, sizeof first, "%020lld.snapshot", (long long)cut);
    ck_assert_msg(strncmp(snaps, first, strlen(first)) == 0, "%s", snaps);
    free(snaps);
    ck_state_survives_reopen();
    CK_RC(idem(5, 0, (int32_t)seq, 1, 0, NULL), 0);
}
END_TEST

static void ck_snapshots(const char *want)
{
    char *got = files_with(".snapshot");
    ck_assert_str_eq(got, want);
    free(got);
}

/* The clean close's snapshot at the log end is no segment's base. Once the
 * writer rolls past it and the sealer seals that segment, the running
 * writer deletes it (the next open would: Kafka's removeStraySnapshots),
 * so an open after a kill -9 does not unlink one file per partition. One
 * that a roll turned into a segment's own snapshot stays. */
START_TEST(test_stray_snapshot_reaped)
{
    CK_RC(idem(5, 0, 0, 4, 0, NULL), 0);
    close_log(); /* snapshot at 4, inside segment 0 */
    open_log();
    ck_snapshots("00000000000000000004.snapshot ");
    CK_RC(idem(5, 0, 4, 4, 0, NULL), 0);
    CK_RC(klog_segment_roll(part), 1); /* to 8: 4 is stray now */
    CK_RC(klog_sync(lg), 0);           /* segment 0 sealed */
    ck_snapshots("00000000000000000008.snapshot ");
    close_log(); /* the log end is 8, the active base: no stray */
    open_log();
    CK_RC(idem(5, 0, 8, 4, 0, NULL), 0);
    close_log(); /* snapshot at 12, inside segment 8 */
    open_log();
    CK_RC(klog_segment_roll(part), 1); /* to 12: its snapshot is a base's */
    CK_RC(idem(5, 0, 12, 4, 0, NULL), 0);
    CK_RC(klog_segment_roll(part), 1); /* to 16 */
    CK_RC(klog_sync(lg), 0);
    ck_snapshots("00000000000000000008.snapshot 00000000000000000012.snapshot "
                 "00000000000000000016.snapshot ");
    ck_state_survives_reopen();
    CK_RC(idem(5, 0, 16, 1, 0, NULL), 0);
}
END_TEST

static size_t follower_chunk(uint8_t *out, int64_t *next, int64_t pid, int16_t epoch, int32_t seq,
                             int n, unsigned flags, int32_t leader_epoch)
{
    size_t len;
    void *b = mk(pid, epoch, seq, n, flags, KLOG_TIMESTAMP_NOW, leader_epoch, &len);
    klog_batch_set_base_offset(b, *next);
    memcpy(out, b, len);
    free(b);
    *next += n;
    return len;
}

/* A marker batch as a leader would have written it, at *next. */
static size_t follower_marker(uint8_t *out, int64_t *next, int64_t pid, int16_t epoch, int commit,
                              int32_t leader_epoch)
{
    uint8_t key[4] = {0, 0, 0, (uint8_t)commit}, value[6] = {0, 0, 0, 0, 0, 1};
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    ck_assert_int_eq(klog_builder_set_producer(b, pid, epoch, -1,
                                               KLOG_ATTR_TRANSACTIONAL | KLOG_ATTR_CONTROL),
                     0);
    klog_builder_set_leader_epoch(b, leader_epoch);
    klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key = key, .key_len = 4,
                       .value = value, .value_len = 6};
    ck_assert_int_eq(klog_builder_add(b, &r), 0);
    const void *d;
    size_t len;
    ck_assert_int_eq(klog_builder_finish(b, &d, &len), 0);
    memcpy(out, d, len);
    klog_batch_set_base_offset(out, *next);
    klog_builder_free(b);
    *next += 1;
    return len;
}

START_TEST(test_follower_and_epochs)
{
    static uint8_t buf[1 << 16];
    size_t len = 0;
    int64_t next = 0;
    len += follower_chunk(buf + len, &next, 1, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, 1); /* 0-1 */
    len += follower_chunk(buf + len, &next, 2, 0, 0, 2, 0, 1);                       /* 2-3 */
    len += follower_marker(buf + len, &next, 1, 0, 0, 3);                            /* 4 */
    next = 10; /* a gap */
    len += follower_chunk(buf + len, &next, 3, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, 3); /* 10-11 */
    len += follower_chunk(buf + len, &next, 2, 0, 2, 1, 0, 5);                       /* 12 */
    CK_RC(klog_append_follower(part, buf, len), 0);
    ck_assert_int_eq(log_end(), 13);
    ck_assert_int_eq(lso(), 10); /* pid 3's transaction is open */
    /* The abort's LSO counts pid 3's transaction begun later in the same
     * append: Kafka updates the producers of a whole append before it
     * completes its transactions. */
    char *s = dump_state();
    ck_assert_msg(strstr(s, "abort 1 0 4 10\n") != NULL, "%s", s);
    ck_assert_msg(strstr(s, "epoch 1 0\nepoch 3 4\nepoch 5 12\n") != NULL, "%s", s);
    free(s);
    /* A non-transactional batch of pid 3 inside its open transaction is
     * refused, and nothing of that append is written. */
    len = 0;
    len += follower_chunk(buf + len, &next, 4, 0, 0, 1, 0, 5);
    len += follower_chunk(buf + len, &next, 3, 0, 2, 1, 0, 5);
    CK_RC(klog_append_follower(part, buf, len), KLOG_ETXNSTATE);
    ck_assert_int_eq(log_end(), 13);
    /* OffsetForLeaderEpoch, Kafka's cases. */
    int32_t e;
    int64_t off;
    CK_RC(klog_offset_for_leader_epoch(part, -1, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    CK_RC(klog_offset_for_leader_epoch(part, 5, &e, &off), 0);
    ck_assert(e == 5 && off == 13);
    CK_RC(klog_offset_for_leader_epoch(part, 4, &e, &off), 0);
    ck_assert(e == 3 && off == 12);
    CK_RC(klog_offset_for_leader_epoch(part, 1, &e, &off), 0);
    ck_assert(e == 1 && off == 4);
    CK_RC(klog_offset_for_leader_epoch(part, 0, &e, &off), 0);
    ck_assert(e == 0 && off == 0);
    CK_RC(klog_offset_for_leader_epoch(part, 6, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    /* The checkpoint file is Kafka's. */
    size_t fl;
    uint8_t *f = tu_read_file(pdir(), "leader-epoch-checkpoint", &fl);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq((char *)f, "0\n3\n1 0\n3 4\n5 12\n");
    free(f);
    /* Truncation drops the epochs above the new end, and reloads the
     * producer state: pid 3's transaction is gone with its batch. */
    CK_RC(klog_truncate(part, 10), 0);
    int64_t end = log_end();
    ck_assert_int_le(end, 10);
    ck_assert_int_eq(lso(), end);
    CK_RC(klog_offset_for_leader_epoch(part, 5, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    CK_RC(klog_offset_for_leader_epoch(part, 3, &e, &off), 0);
    ck_assert(e == 3 && off == end);
    s = dump_state();
    ck_assert_msg(strstr(s, "pid 3 ") == NULL, "%s", s);
    ck_assert_msg(strstr(s, "abort 1 0 4 10\n") != NULL, "%s", s);
    free(s);
    /* The log start moving truncates the cache from the start. */
    CK_RC(klog_delete_records(part, 3), 0);
    s = dump_state();
    ck_assert_msg(strstr(s, "epoch 1 3\nepoch 3 4\n") != NULL, "%s", s);
    free(s);
    ck_state_survives_reopen();
}
END_TEST

START_TEST(test_truncate_reload)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    int64_t bases[30];
    for (int i = 0; i < 30; i++)
        CK_RC(idem(1, 0, i * 3, 3, 0, &bases[i]), 0);
    CK_RC(idem(2, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(klog_append_marker(part, 2, 0, 0, 0, NULL), 0);
    /* Cut into the middle: the state is as if batches 0..14 were all. */
    CK_RC(klog_truncate(part, bases[15]), 0);
    char *cut = dump_state();
    ck_assert_msg(strstr(cut, "pid 2 ") == NULL && strstr(cut, "abort") == NULL, "%s", cut);
    int64_t b;
    CK_RC(idem(1, 0, 42, 3, 0, &b), 0); /* a retry of batch 14 */
    ck_assert_int_eq(b, bases[14]);
    /* Rebuilt from scratch: the same. */
    close_log();
    rm_suffix(".snapshot");
    open_log();
    char *again = dump_state();
    ck_assert_str_eq(again, cut);
    free(cut);
    free(again);
    CK_RC(idem(1, 0, 45, 3, 0, &b), 0);
    ck_assert_int_eq(b, bases[15]);
}
END_TEST

START_TEST(test_txnindex_files)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    for (int i = 0; i < 12; i++) {
        CK_RC(idem(1, (int16_t)i, 0, 8, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
        CK_RC(klog_append_marker(part, 1, (int16_t)i, i % 2, 0, NULL), 0);
        CK_RC(klog_segment_roll(part), 1);
    }
    char *tx = files_with(".txnindex");
    /* Aborts (even i) each land in their own segment. */
    int cnt = 0;
    for (char *p = tx; (p = strstr(p, ".txnindex")); p++)
        cnt++;
    ck_assert_int_eq(cnt, 6);
    free(tx);
    char *before = dump_state();
    /* A damaged .txnindex is rebuilt from its segment at open. */
    close_log();
    tx = files_with(".txnindex");
    char name[64];
    memcpy(name, tx, 29);
    name[29] = 0;
    free(tx);
    ck_assert_int_eq(tu_write_file(pdir(), name, "garbage", 7), 0);
    logbuf[0] = 0;
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "unreadable") != NULL, "%s", logbuf);
    free(after);
    /* Retention of whole segments takes their .txnindex along. */
    klog_segment_info_t *si;
    size_t ns;
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    int64_t cut = si[4].base_offset;
    free(si);
    CK_RC(klog_delete_records(part, cut), 0);
    tx = files_with(".txnindex");
    cnt = 0;
    for (char *p = tx; (p = strstr(p, ".txnindex")); p++)
        cnt++;
    ck_assert_int_eq(cnt, 4);
    free(tx);
    free(before);
}
END_TEST

/* With KLOG_VISIBLE_FLUSHED the watermark lags the log end: a transaction
 * whose marker is not yet below it still holds the LSO (Kafka's
 * "unreplicated" transactions). */
Suite *logstate_wired_suite(void)
{
    Suite *s = suite_create("logstate_wired");
    TCase *tc = tcase_create("wired");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_dup_each_slot);
    tcase_add_test(tc, test_sequence_rules);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_snapshots_follow_segments);
    tcase_add_test(tc, test_stray_snapshot_reaped);
    tcase_add_test(tc, test_follower_and_epochs);
    tcase_add_test(tc, test_truncate_reload);
    tcase_add_test(tc, test_txnindex_files);
    suite_add_tcase(s, tc);
    return s;
}
