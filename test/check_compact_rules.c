/*
 * check_compact_rules.c — one test per Kafka cleaner behaviour libklog
 * implements (LogCleaner, LogCleanerManager, MemoryRecords.filterTo), each
 * named after it, and the files the cleaner shares with Kafka.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "codec/codec.h"
#include "platform/bytes.h"
#include "util/testutil.h"
#include "util/tu_compact.h"

/* n records of keys key0..key0+nkeys-1 in turn, one record per batch. */
static void fill_keys(fx_t *f, model_t *m, int key0, int nkeys, int n)
{
    size_t from = m->n;
    for (int i = 0; i < n; i++) {
        mrec_t r;
        tc_mrec_make(&r, key0 + i % nkeys, (int)(from + (size_t)i), 0,
                     TS0 + (int64_t)(from + (size_t)i));
        tc_model_add(m, &r);
    }
    tc_append_model(f->p, m, from, m->n, 1);
}

static void fill(fx_t *f, model_t *m, int nkeys, int n) { fill_keys(f, m, 0, nkeys, n); }

static int compact(fx_t *f, klog_compact_stats_t *st)
{
    ck_assert_int_eq(klog_sync(f->log), 0); /* rolled segments sealed */
    return klog_compact(f->log, "t", 0, st);
}

START_TEST(test_cleaner_keeps_latest_record_per_key)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-latest", 1024, 86400000);
    model_t m = {0};
    fill(&f, &m, 10, 300);
    int64_t before = tc_nsegments(f.p);
    ck_assert_int_gt(before, 3);
    klog_compact_stats_t st;
    ck_assert_int_eq(compact(&f, &st), 1);
    ck_assert_str_eq(st.topic, "t");
    ck_assert_int_gt(st.records_removed, 200);
    ck_assert_int_gt(st.bytes_written, 0);
    ck_assert_int_lt(st.bytes_written, st.bytes_read);
    seen_t s;
    tc_read_all(f.p, &s);
    tc_check_subset(&m, &s);
    tc_check_cleaned(&m, &s, st.end_offset, 1);
    tc_check_latest_readable(&m, &s, 1);
    tc_verify_clean(f.log);
    tc_seen_free(&s);
    /* Reopened: the same records. */
    tc_fx_close(&f);
    tc_fx_open(&f, 0);
    seen_t s2;
    tc_read_all(f.p, &s2);
    tc_read_all(f.p, &s);
    ck_assert(tc_seen_equal(&s, &s2));
    tc_seen_free(&s);
    tc_seen_free(&s2);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST


/* Every batch header of the partition's .log files, in offset order. */
static size_t batches(klog_partition_t *p, klog_batch_info_t *out, size_t cap)
{
    klog_segment_info_t *segs;
    size_t n, k = 0;
    ck_assert_int_eq(klog_segment_list(p, &segs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        FILE *fp = fopen(segs[i].log_path, "rb");
        ck_assert_ptr_nonnull(fp);
        uint8_t h[KLOG_BATCH_HEADER_SIZE];
        long pos = 0;
        while (fseek(fp, pos, SEEK_SET) == 0 && fread(h, 1, sizeof h, fp) == sizeof h) {
            klog_batch_info_t bi;
            ck_assert_int_eq(klog__batch_peek(h, sizeof h, &bi), 0);
            if (k < cap)
                out[k] = bi;
            k++;
            pos += (long)bi.size;
        }
        fclose(fp);
    }
    free(segs);
    return k;
}

/* Append a batch of records with producer fields (and attributes) set. */
static int64_t append_producer(klog_partition_t *p, const klog_record_t *recs, size_t n,
                               int64_t pid, int16_t epoch, int32_t seq, int16_t attr_or)
{
    void *b;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(recs, n, KLOG_COMPRESSION_NONE, &b, &len), 0);
    uint8_t *h = b;
    klog__store16(h + 21, (uint16_t)(klog__load16(h + 21) | (uint16_t)attr_or));
    klog__store64(h + 43, (uint64_t)pid);
    klog__store16(h + 51, (uint16_t)epoch);
    klog__store32(h + 53, (uint32_t)seq);
    klog__store32(h + 17, klog_crc32c(0, h + 21, len - 21));
    int64_t base;
    ck_assert_int_eq(klog_append_batch(p, b, len, &base), 0);
    free(b);
    return base;
}

START_TEST(test_cleaner_never_cleans_the_active_segment)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-active", 1 << 20, 86400000);
    model_t m = {0};
    fill(&f, &m, 5, 100); /* all in the active segment */
    ck_assert_int_eq(tc_nsegments(f.p), 1);
    klog_compact_stats_t st;
    ck_assert_int_eq(compact(&f, &st), 0);
    ck_assert_str_eq(st.topic, "");
    seen_t s;
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 100);
    tc_seen_free(&s);
    /* Rolled: the rolled part is cleaned, the new active one not. */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    fill(&f, &m, 5, 50);
    ck_assert_int_eq(compact(&f, &st), 1);
    ck_assert_int_eq(st.end_offset, 100);
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 5 + 50);
    tc_check_subset(&m, &s);
    tc_seen_free(&s);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_tombstone_kept_until_delete_retention_ms)
{
    for (int pass = 0; pass < 2; pass++) {
        int64_t retention = pass == 0 ? 0 : 86400000;
        fx_t f = {0};
        tc_fx_new(&f, "cmp-tomb", 1024, retention);
        model_t m = {0};
        fill(&f, &m, 4, 40);
        mrec_t r;
        tc_mrec_make(&r, 1, 999, 1, TS0 + 1000); /* delete key 1 */
        tc_model_add(&m, &r);
        tc_append_model(f.p, &m, m.n - 1, m.n, 1);
        fill(&f, &m, 4, 40);
        /* key 1 again deleted at the end, so its tombstone is the latest */
        tc_mrec_make(&r, 1, 1000, 1, TS0 + 2000);
        tc_model_add(&m, &r);
        tc_append_model(f.p, &m, m.n - 1, m.n, 1);
        int64_t tomb = (int64_t)m.n - 1;
        ck_assert_int_ge(klog_segment_roll(f.p), 0);
        fill_keys(&f, &m, 100, 50, 5); /* other keys, in the active segment */
        klog_compact_stats_t st;
        ck_assert_int_eq(compact(&f, &st), 1);
        /* First pass: the tombstone stays, its batch gets a delete horizon. */
        seen_t s;
        tc_read_all(f.p, &s);
        tc_check_subset(&m, &s);
        int found = 0;
        for (size_t i = 0; i < s.n; i++)
            found |= s.off[i] == tomb;
        ck_assert_int_eq(found, 1);
        tc_seen_free(&s);
        klog_batch_info_t bi[512];
        size_t nb = batches(f.p, bi, 512);
        int horizon = 0;
        for (size_t i = 0; i < nb && i < 512; i++)
            if (bi[i].base_offset == tomb) {
                ck_assert_int_ne(bi[i].attributes & 0x40, 0);
                ck_assert_int_le(bi[i].base_timestamp, klog_version_number() ? INT64_MAX : 0);
                horizon = 1;
            }
        ck_assert_int_eq(horizon, 1);
        /* Second pass (new dirty data): gone once the horizon passed. */
        ck_assert_int_ge(klog_segment_roll(f.p), 0);
        fill_keys(&f, &m, 200, 50, 5);
        usleep(2000);
        ck_assert_int_eq(compact(&f, &st), 1);
        tc_read_all(f.p, &s);
        found = 0;
        for (size_t i = 0; i < s.n; i++)
            found |= s.off[i] == tomb;
        ck_assert_int_eq(found, (pass == 0 ? 0 : 1));
        tc_check_subset(&m, &s);
        tc_check_cleaned(&m, &s, st.end_offset, pass == 1);
        tc_seen_free(&s);
        tc_verify_clean(f.log);
        free(m.v);
        tc_fx_done(&f);
    }
}
END_TEST

START_TEST(test_records_without_key_are_removed)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-nokey", 1024, 86400000);
    model_t m = {0};
    for (int i = 0; i < 60; i++) {
        mrec_t r;
        tc_mrec_make(&r, i % 3 == 0 ? -1 : i, i, 0, TS0 + i);
        tc_model_add(&m, &r);
    }
    tc_append_model(f.p, &m, 0, m.n, 1);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(compact(&f, &st), 1);
    ck_assert_int_eq(st.records_removed, 20);
    seen_t s;
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 40);
    for (size_t i = 0; i < s.n; i++)
        ck_assert_int_ge(s.rec[i].key_len, 0);
    tc_seen_free(&s);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_last_batch_of_producer_kept_as_empty_batch)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-prod", 1024, 86400000);
    klog_record_t r = {.key = "k", .key_len = 1, .value = "p1", .value_len = 2,
                       .timestamp = TS0};
    int64_t first = append_producer(f.p, &r, 1, 77, 3, 0, 0);  /* superseded, not last */
    int64_t last = append_producer(f.p, &r, 1, 77, 3, 1, 0);   /* superseded, its last */
    r.value = "p2";
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(klog_append(f.p, &r, 1, NULL), 0); /* same key, no producer */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(compact(&f, &st), 1);
    ck_assert_int_eq(st.empty_batches, 1);
    klog_batch_info_t bi[64];
    size_t nb = batches(f.p, bi, 64);
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
    int64_t t0 = append_producer(f.p, &r, 1, 5, 0, 0, KLOG_ATTR_TRANSACTIONAL); /* 1 */
    uint8_t key[4] = {0, 0, 0, 0}, val[6] = {0, 0, 0, 0, 0, 0}; /* ABORT, coordinator epoch 0 */
    klog_record_t mk = {.key = key, .key_len = 4, .value = val, .value_len = 6, .timestamp = TS0};
    int64_t marker = append_producer(f.p, &mk, 1, 5, 0, -1,
                                     KLOG_ATTR_TRANSACTIONAL | KLOG_ATTR_CONTROL); /* 2 */
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
    ck_assert_int_eq(compact(&f, &st), 1);
    klog_batch_info_t bi[64];
    size_t nb = batches(f.p, bi, 64);
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

Suite *compact_rules_suite(void)
{
    Suite *s = suite_create("compact_rules");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cleaner_keeps_latest_record_per_key);
    tcase_add_test(tc, test_cleaner_never_cleans_the_active_segment);
    tcase_add_test(tc, test_tombstone_kept_until_delete_retention_ms);
    tcase_add_test(tc, test_records_without_key_are_removed);
    tcase_add_test(tc, test_last_batch_of_producer_kept_as_empty_batch);
    tcase_add_test(tc, test_aborted_transaction_data_removed_marker_kept);
    suite_add_tcase(s, tc);
    return s;
}
