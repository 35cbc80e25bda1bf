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
#include "platform/bytes.h"
#include "util/testutil.h"
#include "util/tu_compact.h"

START_TEST(test_cleaner_keeps_latest_record_per_key)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-latest", 1024, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 10, 300);
    int64_t before = tc_nsegments(f.p);
    ck_assert_int_gt(before, 3);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 1);
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


START_TEST(test_cleaner_never_cleans_the_active_segment)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-active", 1 << 20, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 5, 100); /* all in the active segment */
    ck_assert_int_eq(tc_nsegments(f.p), 1);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 0);
    ck_assert_str_eq(st.topic, "");
    seen_t s;
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 100);
    tc_seen_free(&s);
    /* Rolled: the rolled part is cleaned, the new active one not. */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    tc_fill(&f, &m, 5, 50);
    ck_assert_int_eq(tc_compact(&f, &st), 1);
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
        tc_fill(&f, &m, 4, 40);
        mrec_t r;
        tc_mrec_make(&r, 1, 999, 1, TS0 + 1000); /* delete key 1 */
        tc_model_add(&m, &r);
        tc_append_model(f.p, &m, m.n - 1, m.n, 1);
        tc_fill(&f, &m, 4, 40);
        /* key 1 again deleted at the end, so its tombstone is the latest */
        tc_mrec_make(&r, 1, 1000, 1, TS0 + 2000);
        tc_model_add(&m, &r);
        tc_append_model(f.p, &m, m.n - 1, m.n, 1);
        int64_t tomb = (int64_t)m.n - 1;
        ck_assert_int_ge(klog_segment_roll(f.p), 0);
        tc_fill_keys(&f, &m, 100, 50, 5); /* other keys, in the active segment */
        klog_compact_stats_t st;
        ck_assert_int_eq(tc_compact(&f, &st), 1);
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
        size_t nb = tc_batches(f.p, bi, 512);
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
        tc_fill_keys(&f, &m, 200, 50, 5);
        usleep(2000);
        ck_assert_int_eq(tc_compact(&f, &st), 1);
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
    ck_assert_int_eq(tc_compact(&f, &st), 1);
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





static void new_topic(klog_t *log, const char *name, int64_t key, int64_t value)
{
    klog_config_t *t = tc_topic_conf(1024, 86400000);
    if (key)
        ck_assert_int_eq(klog_config_set(t, (int)key, value), 0);
    ck_assert_int_eq(klog_topic_create(log, name, 1, t), 0);
    klog_config_free(t);
}

static void dup_fill(klog_t *log, const char *topic, int nkeys, int n)
{
    klog_partition_t *p;
    ck_assert_int_eq(klog_partition(log, topic, 0, &p), 0);
    for (int i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%d", i % nkeys);
        klog_record_t r = {.key = k, .key_len = kl, .value = "value-value", .value_len = 11,
                           .timestamp = TS0 + i};
        ck_assert_int_eq(klog_append(p, &r, 1, NULL), 0);
    }
    ck_assert_int_ge(klog_segment_roll(p), 0);
}

START_TEST(test_filthiest_log_above_min_cleanable_dirty_ratio)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-ratio", 1024, 86400000);
    new_topic(f.log, "never", KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 1000);
    new_topic(f.log, "lessdirty", 0, 0);
    dup_fill(f.log, "never", 5, 200);
    dup_fill(f.log, "lessdirty", 5, 100);
    dup_fill(f.log, "t", 5, 300);
    ck_assert_int_eq(klog_sync(f.log), 0);
    /* All three are wholly dirty (ratio 1000): "never" needs more than
     * 1000; of the other two, equal ratios: either. Clean both. */
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 1);
    ck_assert(strcmp(st.topic, "t") == 0 || strcmp(st.topic, "lessdirty") == 0);
    char first[250];
    snprintf(first, sizeof first, "%s", st.topic);
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 1);
    ck_assert_str_ne(st.topic, first);
    ck_assert_str_ne(st.topic, "never");
    /* Both clean now (ratio 0 of new dirty bytes): nothing to do. */
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 0);
    /* New dirty data in t: 20 records against ~5 clean ones, a ratio
     * above the default minimum (0.5). */
    dup_fill(f.log, "t", 5, 20);
    ck_assert_int_eq(klog_sync(f.log), 0);
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 1); /* dirty 20 records vs ~5 clean */
    /* "never" is still cleanable on demand. */
    ck_assert_int_eq(klog_compact(f.log, "never", 0, &st), 1);
    ck_assert_str_eq(st.topic, "never");
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_min_compaction_lag_ms_holds_back_new_segments)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-minlag", 1024, 86400000);
    /* Record timestamps are from 2023: a 100-year lag holds them all back. */
    new_topic(f.log, "lag", KLOG_CONF_MIN_COMPACTION_LAG_MS, 100LL * 365 * 86400000);
    dup_fill(f.log, "lag", 5, 200);
    ck_assert_int_eq(klog_sync(f.log), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(f.log, "lag", 0, &st), 0);
    /* A lag of one day lets them go. */
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MIN_COMPACTION_LAG_MS, 86400000), 0);
    ck_assert_int_eq(klog_topic_alter_config(f.log, "lag", c, NULL, 0), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_compact(f.log, "lag", 0, &st), 1);
    ck_assert_int_gt(st.records_removed, 150);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_max_compaction_lag_ms_forces_cleaning)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-maxlag", 1024, 86400000);
    new_topic(f.log, "m", KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 1000); /* never by ratio */
    dup_fill(f.log, "m", 5, 200);
    ck_assert_int_eq(klog_sync(f.log), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 0);
    /* Its first dirty batch (2023) is older than a 1 ms lag: cleaned. */
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MAX_COMPACTION_LAG_MS, 1), 0);
    ck_assert_int_eq(klog_topic_alter_config(f.log, "m", c, NULL, 0), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_compact(f.log, NULL, -1, &st), 1);
    ck_assert_str_eq(st.topic, "m");
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_cleaner_offset_checkpoint_in_kafka_format)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-ckpt", 1024, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 5, 100);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 1);
    ck_assert_int_eq(st.end_offset, 100);
    size_t len;
    uint8_t *txt = tu_read_file(f.dir, "cleaner-offset-checkpoint", &len);
    ck_assert_ptr_nonnull(txt);
    ck_assert_str_eq((char *)txt, "0\n1\nt 0 100\n");
    free(txt);
    /* The next pass starts there: nothing new is dirty. */
    tc_fx_close(&f);
    tc_fx_open(&f, 0);
    ck_assert_int_eq(klog_compact(f.log, "t", 0, &st), 0);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_readers_and_pins_keep_the_replaced_segment)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-reader", 1024, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 5, 200);
    ck_assert_int_eq(klog_sync(f.log), 0);
    klog_reader_t *r;
    ck_assert_int_eq(klog_reader_open(f.p, KLOG_OFFSET_BEGINNING, &r), 0);
    klog_record_t rec;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(klog_reader_next(r, &rec), 1);
        ck_assert_int_eq(rec.offset, i);
    }
    klog_segment_pin_t *pin;
    ck_assert_int_eq(klog_segment_pin(f.p, 0, &pin), 0);
    const klog_segment_files_t *pf = klog_segment_pin_files(pin);
    int64_t old_size = pf->log_size;
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(f.log, "t", 0, &st), 1);
    /* The pin still reads the old bytes in full. */
    uint8_t *buf = malloc((size_t)old_size);
    ck_assert_int_eq(pread(pf->log_fd, buf, (size_t)old_size, 0), old_size);
    klog_batch_info_t bi;
    ck_assert_int_eq(klog_batch_header(buf, (size_t)old_size, &bi), 0);
    ck_assert_int_eq(bi.base_offset, 0);
    free(buf);
    klog_segment_unpin(pin);
    /* The reader goes on with strictly increasing offsets of records that
     * existed. */
    int64_t prev = 2;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        ck_assert_int_gt(rec.offset, prev);
        ck_assert(tc_same(&m.v[rec.offset], &rec));
        prev = rec.offset;
    }
    ck_assert_int_eq(rc, 0);
    klog_reader_close(r);
    /* A new reader sees the cleaned segments. */
    seen_t s;
    tc_read_all(f.p, &s);
    tc_check_cleaned(&m, &s, st.end_offset, 1);
    tc_seen_free(&s);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_cleanup_policy_compact_turns_off_time_and_size_retention)
{
    for (int both = 0; both < 2; both++) {
        fx_t f = {0};
        tc_fx_new(&f, "cmp-policy", 1024, 86400000);
        klog_config_t *c;
        ck_assert_int_eq(klog_config_new(&c), 0);
        ck_assert_int_eq(klog_config_set(c, KLOG_CONF_RETENTION_MS, 1), 0);
        if (both)
            ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANUP_POLICY,
                                             KLOG_CLEANUP_COMPACT | KLOG_CLEANUP_DELETE), 0);
        ck_assert_int_eq(klog_topic_alter_config(f.log, "t", c, NULL, 0), 0);
        klog_config_free(c);
        model_t m = {0};
        tc_fill(&f, &m, 5, 100);
        ck_assert_int_eq(klog_sync(f.log), 0);
        int deleted = klog_retention(f.log, KLOG_TIMESTAMP_NOW);
        if (both)
            ck_assert_int_gt(deleted, 0);
        else
            ck_assert_int_eq(deleted, 0);
        free(m.v);
        tc_fx_done(&f);
    }
}
END_TEST

START_TEST(test_full_offset_map_ends_the_pass_and_the_next_goes_on)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-mapfull", 1024, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 400, 1200); /* 400 keys; a 4 KiB map holds 153 */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    tc_fx_close(&f);
    tc_fx_open(&f, 4096);
    klog_compact_stats_t st;
    int64_t end = 0;
    int passes = 0;
    while (klog_compact(f.log, "t", 0, &st) == 1) {
        ck_assert_int_le(st.map_entries, 153);
        ck_assert_int_eq(st.first_dirty, end);
        ck_assert_int_gt(st.end_offset, end);
        end = st.end_offset;
        passes++;
        seen_t s;
        tc_read_all(f.p, &s);
        tc_check_subset(&m, &s);
        tc_check_cleaned(&m, &s, end, 1);
        tc_check_latest_readable(&m, &s, 1);
        tc_seen_free(&s);
    }
    ck_assert_int_ge(passes, 3);
    ck_assert_int_eq(end, 1200);
    seen_t s;
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 400);
    tc_seen_free(&s);
    tc_verify_clean(f.log);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_compaction_settings_persist_in_klog_topics)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-conf", 4096, 1234);
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 250), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MIN_COMPACTION_LAG_MS, 5), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MAX_COMPACTION_LAG_MS, 6), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 1001), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANUP_POLICY, 0), KLOG_ECONFIG);
    ck_assert_int_eq(klog_topic_alter_config(f.log, "t", c, NULL, 0), 0);
    klog_config_free(c);
    tc_fx_close(&f);
    tc_fx_open(&f, 0);
    klog_topic_t *t;
    ck_assert_int_eq(klog_topic_get(f.log, "t", &t), 0);
    int64_t v;
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_CLEANUP_POLICY, &v), 0);
    ck_assert_int_eq(v, KLOG_CLEANUP_COMPACT);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_DELETE_RETENTION_MS, &v), 0);
    ck_assert_int_eq(v, 1234);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, &v), 0);
    ck_assert_int_eq(v, 250);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_MIN_COMPACTION_LAG_MS, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_MAX_COMPACTION_LAG_MS, &v), 0);
    ck_assert_int_eq(v, 6);
    /* klog.topics is version 2 while a topic compacts without time
     * retention (older libraries then refuse it rather than delete). */
    size_t len;
    uint8_t *meta = tu_read_file(f.dir, "klog.topics", &len);
    ck_assert_ptr_nonnull(meta);
    ck_assert_uint_eq(klog__load32(meta + 8), 2);
    free(meta);
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANUP_POLICY,
                                     KLOG_CLEANUP_COMPACT | KLOG_CLEANUP_DELETE), 0);
    ck_assert_int_eq(klog_topic_alter_config(f.log, "t", c, NULL, 0), 0);
    klog_config_free(c);
    meta = tu_read_file(f.dir, "klog.topics", &len);
    ck_assert_ptr_nonnull(meta);
    ck_assert_uint_eq(klog__load32(meta + 8), 1);
    free(meta);
    /* A topic without "compact" is refused on demand. */
    ck_assert_int_eq(klog_topic_create(f.log, "plain", 1, NULL), 0);
    ck_assert_int_eq(klog_compact(f.log, "plain", 0, NULL), KLOG_ECONFIG);
    ck_assert_int_eq(klog_compact(f.log, "nope", 0, NULL), KLOG_ENOTOPIC);
    ck_assert_int_eq(klog_compact(f.log, "t", 3, NULL), KLOG_ENOPARTITION);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_cleaner_thread_cleans_in_the_background)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-thread", 1024, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 5, 300);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    ck_assert_int_eq(klog_sync(f.log), 0);
    tc_fx_close(&f);
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_ENABLE, 1), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_BACKOFF_MS, 10), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_IO_MAX_BYTES, 1 << 20), 0);
    ck_assert_int_eq(klog_open(f.dir, c, 0, &f.log), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_partition(f.log, "t", 0, &f.p), 0);
    size_t len = 0;
    uint8_t *txt = NULL;
    for (int i = 0; i < 500; i++) {
        txt = tu_read_file(f.dir, "cleaner-offset-checkpoint", &len);
        if (txt && strstr((char *)txt, "t 0 300"))
            break;
        free(txt);
        txt = NULL;
        usleep(10000);
    }
    ck_assert_ptr_nonnull(txt);
    free(txt);
    seen_t s;
    tc_read_all(f.p, &s);
    tc_check_cleaned(&m, &s, 300, 1);
    tc_seen_free(&s);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST

START_TEST(test_group_whose_records_all_go_becomes_an_empty_segment)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-empty", 1024, 86400000);
    model_t m = {0};
    for (int i = 0; i < 30; i++) { /* keyless: every one goes */
        mrec_t r;
        tc_mrec_make(&r, -1, i, 0, TS0 + i);
        tc_model_add(&m, &r);
    }
    tc_append_model(f.p, &m, 0, m.n, 1);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    tc_fill_keys(&f, &m, 0, 3, 30);
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(tc_compact(&f, &st), 1);
    seen_t s;
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_int_ge(s.off[0], 30);
    tc_seen_free(&s);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(f.p, &o), 0);
    ck_assert_int_eq(o.log_start, 0);
    ck_assert_int_eq(o.log_end, 60);
    tc_verify_clean(f.log);
    /* A reader at the start skips the empty part; reopened, the same. */
    tc_fx_close(&f);
    tc_fx_open(&f, 0);
    tc_read_all(f.p, &s);
    ck_assert_uint_eq(s.n, 3);
    tc_seen_free(&s);
    tc_verify_clean(f.log);
    free(m.v);
    tc_fx_done(&f);
}
END_TEST



START_TEST(test_cleaner_io_max_bytes_throttles_the_pass)
{
    fx_t f = {0};
    tc_fx_new(&f, "cmp-io", 4096, 86400000);
    model_t m = {0};
    tc_fill(&f, &m, 5, 1500); /* ~100 KB */
    ck_assert_int_ge(klog_segment_roll(f.p), 0);
    ck_assert_int_eq(klog_sync(f.log), 0);
    tc_fx_close(&f);
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_IO_MAX_BYTES, 200000), 0);
    ck_assert_int_eq(klog_open(f.dir, c, 0, &f.log), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_partition(f.log, "t", 0, &f.p), 0);
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(f.log, "t", 0, &st), 1);
    /* At 200 KB/s the bytes read and written take at least this long. */
    int64_t want_us = (st.bytes_read + st.bytes_written) * 1000000 / 200000;
    ck_assert_int_gt(st.bytes_read, 100000);
    ck_assert_msg(st.duration_us >= want_us * 8 / 10, "%lld us for %lld bytes",
                  (long long)st.duration_us, (long long)(st.bytes_read + st.bytes_written));
    free(m.v);
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
    tcase_add_test(tc, test_filthiest_log_above_min_cleanable_dirty_ratio);
    tcase_add_test(tc, test_min_compaction_lag_ms_holds_back_new_segments);
    tcase_add_test(tc, test_max_compaction_lag_ms_forces_cleaning);
    tcase_add_test(tc, test_cleaner_offset_checkpoint_in_kafka_format);
    tcase_add_test(tc, test_readers_and_pins_keep_the_replaced_segment);
    tcase_add_test(tc, test_cleanup_policy_compact_turns_off_time_and_size_retention);
    tcase_add_test(tc, test_full_offset_map_ends_the_pass_and_the_next_goes_on);
    tcase_add_test(tc, test_compaction_settings_persist_in_klog_topics);
    tcase_add_test(tc, test_cleaner_thread_cleans_in_the_background);
    tcase_add_test(tc, test_group_whose_records_all_go_becomes_an_empty_segment);
    tcase_add_test(tc, test_cleaner_io_max_bytes_throttles_the_pass);
    suite_add_tcase(s, tc);
    return s;
}
