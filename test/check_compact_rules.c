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

/* n records of keys 0..nkeys-1 in turn, one record per batch. */
static void fill(fx_t *f, model_t *m, int nkeys, int n)
{
    size_t from = m->n;
    for (int i = 0; i < n; i++) {
        mrec_t r;
        tc_mrec_make(&r, i % nkeys, (int)(from + (size_t)i), 0, TS0 + (int64_t)(from + (size_t)i));
        tc_model_add(m, &r);
    }
    tc_append_model(f->p, m, from, m->n, 1);
}

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

Suite *compact_rules_suite(void)
{
    Suite *s = suite_create("compact_rules");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cleaner_keeps_latest_record_per_key);
    suite_add_tcase(s, tc);
    return s;
}
