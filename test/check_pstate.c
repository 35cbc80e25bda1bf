/*
 * check_pstate.c — the state pages (klog.state) stay bounded by
 * KLOG_CONF_MAX_STATE_MAPS: a page is mapped only while used, so a log of
 * many partitions needs neither vm.max_map_count raised nor a resident
 * page per partition, and what a read-only opener sees does not depend on
 * whether either side has the page mapped. Mappings are counted in
 * /proc/self/maps, as an operator would.
 *
 *  - writer_maps_bounded: appends round-robin over 40 partitions with a
 *    bound of 4 keep at most 4 pages mapped; every record reads back.
 *  - clean_open_maps_nothing: a clean reopen of those partitions maps no
 *    page; one append maps one; the offsets are the ones closed with.
 *  - reader_sees_writer_through_evictions: a read-only opener (bound 2)
 *    beside a writer (bound 3) over 12 partitions sees every watermark,
 *    log start (DeleteRecords) and segment roll the writer made while
 *    either side's page was unmapped.
 *  - pstate_threads: writers appending to partitions whose pages are
 *    evicted under them (bound 1) while a read-only opener polls them:
 *    every watermark read is one that was published, never a fault (run
 *    under TSan by make tsan-check).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "util/testutil.h"

#define T0 1700000000000LL

static char *tmp;
static void setup(void) { tmp = tu_tmpdir("pstate"); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

#define CK_OK(expr)                                                             \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        ck_assert_msg(rc_ == 0, "%s: %s (%d)", #expr, klog_err_name(rc_), rc_); \
    } while (0)

/* Mappings of this test's klog.state files in this process. */
static int state_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, tmp) && strstr(line, "/klog.state"))
            n++;
    fclose(f);
    return n;
}

static klog_t *open_log(int max_maps, int64_t seg_bytes, unsigned flags)
{
    klog_config_t *cfg;
    klog_t *log;
    CK_OK(klog_config_new(&cfg));
    CK_OK(klog_config_set(cfg, KLOG_CONF_MAX_STATE_MAPS, max_maps));
    if (seg_bytes)
        CK_OK(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, seg_bytes));
    CK_OK(klog_open(tmp, cfg, flags, &log));
    klog_config_free(cfg);
    return log;
}

static void append_one(klog_partition_t *p, int64_t tag)
{
    char v[100];
    memset(v, 'v', sizeof v);
    memcpy(v, &tag, sizeof tag);
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = v, .value_len = sizeof v,
                       .timestamp = T0};
    CK_OK(klog_append(p, &r, 1, NULL));
}

static klog_partition_t *part(klog_t *log, int i)
{
    klog_partition_t *p;
    CK_OK(klog_partition(log, "t", i, &p));
    return p;
}

static klog_offsets_t offsets(klog_partition_t *p)
{
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    return o;
}

#define NPARTS 40
#define ROUNDS 3

static void fill_round_robin(klog_t *log, int max_maps)
{
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < NPARTS; i++) {
            append_one(part(log, i), (int64_t)r * NPARTS + i);
            int n = state_maps();
            ck_assert_msg(n <= max_maps, "%d state pages mapped, bound %d", n, max_maps);
        }
}

START_TEST(writer_maps_bounded)
{
    klog_t *log = open_log(4, 0, 0);
    CK_OK(klog_topic_create(log, "t", NPARTS, NULL));
    fill_round_robin(log, 4);
    for (int i = 0; i < NPARTS; i++) {
        klog_reader_t *rd;
        CK_OK(klog_reader_open(part(log, i), KLOG_OFFSET_BEGINNING, &rd));
        klog_record_t rec;
        for (int r = 0; r < ROUNDS; r++) {
            ck_assert_int_eq(klog_reader_next(rd, &rec), 1);
            int64_t tag;
            memcpy(&tag, rec.value, sizeof tag);
            ck_assert_int_eq(tag, (int64_t)r * NPARTS + i);
        }
        ck_assert_int_eq(klog_reader_next(rd, &rec), 0);
        klog_reader_close(rd);
    }
    CK_OK(klog_close(log));
    ck_assert_int_eq(state_maps(), 0);
}
END_TEST

START_TEST(clean_open_maps_nothing)
{
    klog_t *log = open_log(4, 0, 0);
    CK_OK(klog_topic_create(log, "t", NPARTS, NULL));
    fill_round_robin(log, 4);
    CK_OK(klog_close(log));

    log = open_log(4, 0, 0);
    ck_assert_int_eq(state_maps(), 0);
    for (int i = 0; i < NPARTS; i++) {
        klog_offsets_t o = offsets(part(log, i));
        ck_assert_int_eq(o.high_watermark, ROUNDS);
        ck_assert_int_eq(o.log_end, ROUNDS);
    }
    ck_assert_int_eq(state_maps(), 0);
    append_one(part(log, 7), 99);
    ck_assert_int_eq(state_maps(), 1);
    CK_OK(klog_close(log));

    /* A read-only opener sees what the writer published, page mapped or not. */
    klog_t *rd = open_log(2, 0, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE);
    ck_assert_int_eq(state_maps(), 0);
    for (int i = 0; i < NPARTS; i++)
        ck_assert_int_eq(offsets(part(rd, i)).high_watermark, ROUNDS + (i == 7));
    ck_assert_int_le(state_maps(), 2);
    CK_OK(klog_close(rd));
}
END_TEST

#define RPARTS 12

START_TEST(reader_sees_writer_through_evictions)
{
    klog_t *w = open_log(3, 1024, 0);
    CK_OK(klog_topic_create(w, "t", RPARTS, NULL));
    klog_t *rd = open_log(2, 0, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE);
    int64_t total = 0;
    for (int round = 1; round <= 6; round++) {
        /* 100-byte records in 1 KiB segments: every partition rolls. */
        for (int i = 0; i < RPARTS; i++)
            for (int k = 0; k < round; k++)
                append_one(part(w, i), total + k);
        total += round;
        if (round == 4)
            for (int i = 0; i < RPARTS; i += 3)
                CK_OK(klog_delete_records(part(w, i), 5));
        for (int i = 0; i < RPARTS; i++) {
            klog_offsets_t wo = offsets(part(w, i)), ro = offsets(part(rd, i));
            ck_assert_int_eq(ro.high_watermark, total);
            ck_assert_int_eq(ro.high_watermark, wo.high_watermark);
            ck_assert_int_eq(ro.log_start, wo.log_start);
            ck_assert_int_eq(ro.segments, wo.segments);
            /* The newest record, in the segment the writer rolled to last. */
            klog_reader_t *r;
            CK_OK(klog_reader_open(part(rd, i), total - 1, &r));
            klog_record_t rec;
            ck_assert_int_eq(klog_reader_next(r, &rec), 1);
            ck_assert_int_eq(rec.offset, total - 1);
            klog_reader_close(r);
            ck_assert_int_eq(klog_partition_wait(part(rd, i), total - 1, 0), 1);
            ck_assert_int_le(state_maps(), 3 + 2);
        }
    }
    CK_OK(klog_close(rd));
    CK_OK(klog_close(w));
}
END_TEST

Suite *pstate_suite(void)
{
    Suite *s = suite_create("pstate");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, writer_maps_bounded);
    tcase_add_test(tc, clean_open_maps_nothing);
    tcase_add_test(tc, reader_sees_writer_through_evictions);
    suite_add_tcase(s, tc);
    return s;
}

/* ------------------------------------------------------------ threads */

#define TPARTS 4
#define TAPPENDS 400

typedef struct {
    klog_t *log;
    int first; /* appends to partitions first and first + 2 */
} wctx_t;

static void *writer_main(void *arg)
{
    wctx_t *c = arg;
    for (int k = 0; k < TAPPENDS; k++)
        append_one(part(c->log, c->first + 2 * (k & 1)), k);
    return NULL;
}

static _Atomic int writers_done;

static void *reader_main(void *arg)
{
    klog_t *rd = arg;
    int64_t last[TPARTS] = {0};
    while (!atomic_load(&writers_done))
        for (int i = 0; i < TPARTS; i++) {
            klog_offsets_t o = offsets(part(rd, i));
            ck_assert_int_ge(o.high_watermark, last[i]);
            ck_assert_int_le(o.high_watermark, TAPPENDS / 2);
            ck_assert_int_le(o.log_start, o.high_watermark);
            ck_assert_int_le(o.high_watermark, o.log_end);
            last[i] = o.high_watermark;
        }
    return NULL;
}

START_TEST(evicted_under_writers_and_readers)
{
    klog_t *w = open_log(1, 0, 0);
    CK_OK(klog_topic_create(w, "t", TPARTS, NULL));
    klog_t *rd = open_log(1, 0, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE);
    atomic_store(&writers_done, 0);
    pthread_t wt[2], rt;
    wctx_t wc[2] = {{w, 0}, {w, 1}};
    ck_assert_int_eq(pthread_create(&rt, NULL, reader_main, rd), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&wt[i], NULL, writer_main, &wc[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(wt[i], NULL);
    atomic_store(&writers_done, 1);
    pthread_join(rt, NULL);
    for (int i = 0; i < TPARTS; i++)
        ck_assert_int_eq(offsets(part(rd, i)).high_watermark, TAPPENDS / 2);
    CK_OK(klog_close(rd));
    CK_OK(klog_close(w));
}
END_TEST

Suite *pstate_threads_suite(void)
{
    Suite *s = suite_create("pstate_threads");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, evicted_under_writers_and_readers);
    suite_add_tcase(s, tc);
    return s;
}
