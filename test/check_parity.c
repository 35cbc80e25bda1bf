/*
 * check_parity.c — regression tests for the offset-overflow and roll bugs
 * in Kafka log-layer parity (issue 15, "bugs to fix first"): each case is
 * a behaviour of Kafka's UnifiedLog/LogSegment that libklog got wrong.
 *
 *  - follower_overflow_*: a batch whose last offset is more than INT32_MAX
 *    above the active segment's base rolls to a segment based at the
 *    batch's first offset (LogSegment.shouldRoll's relative-offset test),
 *    also when the active segment is empty; the seal and reopen keep it.
 *  - follower_chunk_*: a follower append is one LogSegment.append: one
 *    index entry per chunk, not per batch.
 *  - time_roll_*: timeWaitedForRoll uses the first batch's timestamp when
 *    it has one, even when the incoming batch has none.
 *  - recovery_keeps_log_start: when every segment ends below the
 *    checkpointed log start, the log restarts empty at the log start.
 *  - overflow_segment_split_*: a segment whose batches span more than
 *    INT32_MAX offsets (KAFKA-6264) is split at load, never truncated,
 *    also after a crash in the middle of the split.
 *  - close_after_reading_reads_nothing (issue 19): a clean klog_close of a
 *    log only read since it was opened does not read the active segment
 *    again to digest it (the seal it was trusted by still holds), and the
 *    seal it writes still verifies.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"

#define T0 1700000000000LL

static char *tmp;
static void setup(void) { tmp = tu_tmpdir("parity"); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

#define CK_OK(expr)                                                                  \
    do {                                                                             \
        int rc_ = (expr);                                                            \
        ck_assert_msg(rc_ == 0, "%s: %s (%d)", #expr, klog_err_name(rc_), rc_);      \
    } while (0)

static klog_t *open_kv(const int64_t *kv)
{
    klog_config_t *cfg;
    klog_t *log;
    CK_OK(klog_config_new(&cfg));
    for (; kv && kv[0]; kv += 2)
        CK_OK(klog_config_set(cfg, (int)kv[0], kv[1]));
    CK_OK(klog_open(tmp, cfg, 0, &log));
    klog_config_free(cfg);
    return log;
}

static klog_partition_t *part(klog_t *log, int create)
{
    klog_partition_t *p;
    if (create)
        CK_OK(klog_topic_create(log, "t", 1, NULL));
    CK_OK(klog_partition(log, "t", 0, &p));
    return p;
}

/* One batch of n records ("v<offset>" values) based at `base`, timestamps
 * ts (or -1: none). */
static void *batch_at(int64_t base, int n, int64_t ts, size_t *len)
{
    klog_record_t r[8];
    char v[8][32];
    ck_assert_int_le(n, 8);
    for (int i = 0; i < n; i++) {
        int vl = snprintf(v[i], sizeof v[i], "v%lld", (long long)(base + i));
        r[i] = (klog_record_t){.key_len = KLOG_NULL_LEN, .value = v[i], .value_len = vl,
                               .timestamp = ts};
    }
    void *b;
    CK_OK(klog_batch_encode(r, (size_t)n, KLOG_COMPRESSION_NONE, &b, len));
    klog_batch_set_base_offset(b, base);
    return b;
}

static int follow(klog_partition_t *p, int64_t base, int n)
{
    size_t len;
    void *b = batch_at(base, n, T0, &len);
    int rc = klog_append_follower(p, b, len);
    free(b);
    return rc;
}

/* Reading from `from` gives exactly the offsets in want[0..n), values "v<o>". */
static void expect_offsets(klog_partition_t *p, int64_t from, const int64_t *want, int n)
{
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, from, &r));
    klog_record_t rec;
    for (int i = 0; i < n; i++) {
        int rc = klog_reader_next(r, &rec);
        ck_assert_msg(rc == 1, "record %d (offset %lld): %s", i, (long long)want[i],
                      klog_err_name(rc));
        ck_assert_int_eq(rec.offset, want[i]);
        char v[32];
        int vl = snprintf(v, sizeof v, "v%lld", (long long)want[i]);
        ck_assert_int_eq(rec.value_len, vl);
        ck_assert(memcmp(rec.value, v, (size_t)vl) == 0);
    }
    ck_assert_int_eq(klog_reader_next(r, &rec), 0);
    klog_reader_close(r);
}

static size_t segments(klog_partition_t *p, int64_t *bases, size_t cap)
{
    klog_segment_info_t *si;
    size_t n;
    CK_OK(klog_segment_list(p, &si, &n));
    for (size_t i = 0; i < n && i < cap; i++)
        bases[i] = si[i].base_offset;
    free(si);
    return n;
}

static void verify_clean(klog_t *log)
{
    klog_verify_stats_t vs;
    CK_OK(klog_verify(log, NULL, -1, NULL, NULL, &vs));
    ck_assert_int_eq(vs.damage, 0);
    ck_assert_int_eq(vs.recoverable, 0);
}

/* ------------------------------------------------------------ overflow roll */

START_TEST(follower_overflow_empty_segment)
{
    klog_t *log = open_kv(NULL);
    klog_partition_t *p = part(log, 1);
    /* First offset inside the empty segment's range, last one past it. */
    int64_t b = (int64_t)INT32_MAX - 1;
    CK_OK(follow(p, b, 4));
    int64_t bases[4];
    size_t n = segments(p, bases, 4);
    ck_assert_uint_ge(n, 1);
    ck_assert_int_eq(bases[n - 1], b);
    CK_OK(klog_close(log)); /* the seal failed here (EINVAL) and the batch was lost */
    log = open_kv(NULL);
    p = part(log, 0);
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_end, b + 4);
    const int64_t want[] = {b, b + 1, b + 2, b + 3};
    expect_offsets(p, b, want, 4);
    verify_clean(log);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(follower_overflow_nonempty_segment)
{
    klog_t *log = open_kv(NULL);
    klog_partition_t *p = part(log, 1);
    CK_OK(follow(p, 0, 2));
    int64_t b = (int64_t)INT32_MAX - 2;
    CK_OK(follow(p, b, 4));
    /* The leader path too: klog_append past the range of the segment. */
    CK_OK(follow(p, (int64_t)INT32_MAX * 2 - 10, 2));
    klog_record_t r[4];
    for (int i = 0; i < 4; i++)
        r[i] = (klog_record_t){.key_len = KLOG_NULL_LEN, .value = "x", .value_len = 1,
                               .timestamp = T0};
    int64_t at;
    for (int k = 0; k < 4; k++)
        CK_OK(klog_append(p, r, 4, &at));
    CK_OK(klog_close(log));
    log = open_kv(NULL);
    p = part(log, 0);
    int64_t bases[8];
    size_t n = segments(p, bases, 8);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(bases[0], 0);
    ck_assert_int_eq(bases[1], b);
    /* 2*INT32_MAX-10 still fits b's range; the leader's second append
     * (last offset 2*INT32_MAX-1) does not: it rolls at its first offset. */
    ck_assert_int_eq(bases[2], (int64_t)INT32_MAX * 2 - 4);
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_end, (int64_t)INT32_MAX * 2 - 8 + 16);
    const int64_t want[] = {0, 1, b, b + 1, b + 2, b + 3};
    klog_reader_t *rd;
    CK_OK(klog_reader_open(p, 0, &rd));
    klog_record_t rec;
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(klog_reader_next(rd, &rec), 1);
        ck_assert_int_eq(rec.offset, want[i]);
    }
    klog_reader_close(rd);
    verify_clean(log);
    CK_OK(klog_close(log));
}
END_TEST

/* ------------------------------------------------------------ follower chunk */

START_TEST(follower_chunk_one_index_entry)
{
    const int64_t kv[] = {KLOG_CONF_INDEX_INTERVAL_BYTES, 1, 0};
    klog_t *log = open_kv(kv);
    klog_partition_t *p = part(log, 1);
    /* Two fetched chunks of three batches each. */
    uint8_t chunk[2][4096];
    size_t clen[2] = {0, 0};
    int64_t o = 0;
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++) {
            size_t len;
            void *b = batch_at(o, 2, T0 + o, &len);
            memcpy(chunk[c] + clen[c], b, len);
            clen[c] += len;
            free(b);
            o += 2;
        }
    CK_OK(klog_append_follower(p, chunk[0], clen[0]));
    CK_OK(klog_append_follower(p, chunk[1], clen[1]));
    klog_segment_info_t *si;
    size_t n;
    CK_OK(klog_segment_list(p, &si, &n));
    char *ix = strdup(si[0].index_path);
    free(si);
    CK_OK(klog_close(log));
    /* Kafka: the first append of a segment writes no entry; the second
     * writes (its last offset, its first byte). Per batch there would be 5. */
    size_t len;
    char *slash = strrchr(ix, '/');
    *slash = 0;
    uint8_t *e = tu_read_file(ix, slash + 1, &len);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(len, 8);
    uint32_t rel = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
    uint32_t pos = (uint32_t)e[4] << 24 | (uint32_t)e[5] << 16 | (uint32_t)e[6] << 8 | e[7];
    ck_assert_uint_eq(rel, 11);
    ck_assert_uint_eq(pos, clen[0]);
    free(e);
    free(ix);
}
END_TEST

/* ------------------------------------------------------------ time roll */

START_TEST(time_roll_untimestamped_batch)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_MS, 50, 0};
    klog_t *log = open_kv(kv);
    klog_partition_t *p = part(log, 1);
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = "a", .value_len = 1,
                       .timestamp = T0};
    CK_OK(klog_append(p, &r, 1, NULL));
    usleep(120 * 1000); /* wall clock past segment.ms */
    /* No timestamp: Kafka computes -1 - T0 (negative): no roll. */
    r.timestamp = -1;
    CK_OK(klog_append(p, &r, 1, NULL));
    int64_t bases[4];
    ck_assert_uint_eq(segments(p, bases, 4), 1);
    /* A timestamp past the first batch's by more than segment.ms: roll. */
    r.timestamp = T0 + 51;
    CK_OK(klog_append(p, &r, 1, NULL));
    ck_assert_uint_eq(segments(p, bases, 4), 2);
    ck_assert_int_eq(bases[1], 2);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(time_roll_untimestamped_first_batch)
{
    /* segment.ms long enough that a loaded machine does not reach it
     * between two appends meant to stay in one segment. */
    const int64_t kv[] = {KLOG_CONF_SEGMENT_MS, 1000, 0};
    klog_t *log = open_kv(kv);
    klog_partition_t *p = part(log, 1);
    /* The first batch has no timestamp: wall clock since creation rules,
     * whatever the later batches carry. */
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = "a", .value_len = 1,
                       .timestamp = -1};
    CK_OK(klog_append(p, &r, 1, NULL));
    r.timestamp = T0;
    CK_OK(klog_append(p, &r, 1, NULL));
    r.timestamp = T0 + 1000000;
    CK_OK(klog_append(p, &r, 1, NULL));
    int64_t bases[4];
    ck_assert_uint_eq(segments(p, bases, 4), 1);
    CK_OK(klog_close(log));
    /* Reopened (the active segment rescanned after its seal is removed):
     * the first batch still decides, not the first with a timestamp. */
    char path[4096];
    snprintf(path, sizeof path, "%s/t-0/00000000000000000000.seal", tmp);
    unlink(path);
    log = open_kv(kv);
    p = part(log, 0);
    r.timestamp = T0 + 2000000;
    CK_OK(klog_append(p, &r, 1, NULL));
    ck_assert_uint_eq(segments(p, bases, 4), 1);
    usleep(1100 * 1000);
    CK_OK(klog_append(p, &r, 1, NULL));
    ck_assert_uint_eq(segments(p, bases, 4), 2);
    CK_OK(klog_close(log));
}
END_TEST

/* ------------------------------------------------------------ log start */

START_TEST(recovery_keeps_log_start)
{
    klog_t *log = open_kv(NULL);
    klog_partition_t *p = part(log, 1);
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = "x", .value_len = 1,
                       .timestamp = T0};
    for (int i = 0; i < 100; i++)
        CK_OK(klog_append(p, &r, 1, NULL));
    CK_OK(klog_flush(p));
    CK_OK(klog_delete_records(p, 50));
    CK_OK(klog_close(log));
    /* An unclean shutdown (no seal) and the only segment, holding the log
     * start, is garbage from byte 0. */
    char path[4096];
    snprintf(path, sizeof path, "%s/t-0/00000000000000000000.seal", tmp);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/t-0/00000000000000000000.log", tmp);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t junk[64];
    memset(junk, 0xa5, sizeof junk);
    ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    close(fd);
    log = open_kv(NULL);
    p = part(log, 0);
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_start, 50);
    ck_assert_int_eq(o.log_end, 50);
    int64_t at = -1;
    CK_OK(klog_append(p, &r, 1, &at));
    ck_assert_int_eq(at, 50); /* deleted offsets are never handed out again */
    int64_t bases[4];
    ck_assert_uint_eq(segments(p, bases, 4), 1);
    ck_assert_int_eq(bases[0], 50);
    CK_OK(klog_close(log));
    log = open_kv(NULL);
    p = part(log, 0);
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_start, 50);
    ck_assert_int_eq(o.log_end, 51);
    verify_clean(log);
    CK_OK(klog_close(log));
}
END_TEST

/* ------------------------------------------------------------ overflow split */

/* A partition whose one .log holds batches at 0 (2 records), far (2) and
 * far2 (2): the span old Kafka could write (KAFKA-6264). The indexes and
 * seal are removed, as in a Kafka directory. partial > 0 also leaves the
 * first `partial` bytes of the tail in far's own .log, as a crash in the
 * middle of a split does. */
static void make_overflowed(int64_t far, int64_t far2, size_t partial)
{
    klog_t *log = open_kv(NULL);
    part(log, 1);
    CK_OK(klog_close(log));
    uint8_t data[3][512];
    size_t len[3];
    int64_t base[3] = {0, far, far2};
    for (int i = 0; i < 3; i++) {
        void *b = batch_at(base[i], 2, T0 + i, &len[i]);
        memcpy(data[i], b, len[i]);
        free(b);
    }
    char dir[4096], name[64];
    snprintf(dir, sizeof dir, "%s/t-0", tmp);
    const char *ext[] = {".index", ".timeindex", ".seal"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/00000000000000000000%s", dir, ext[i]);
        unlink(path);
    }
    uint8_t all[1536];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(all + n, data[i], len[i]);
        n += len[i];
    }
    CK_OK(tu_write_file(dir, "00000000000000000000.log", all, n));
    if (partial) {
        snprintf(name, sizeof name, "%020lld.log", (long long)far);
        CK_OK(tu_write_file(dir, name, all + len[0], partial));
    }
}

static void check_split(int64_t far, int64_t far2)
{
    klog_t *log = open_kv(NULL);
    klog_partition_t *p = part(log, 0);
    int64_t bases[8];
    size_t n = segments(p, bases, 8);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(bases[0], 0);
    ck_assert_int_eq(bases[1], far);
    ck_assert_int_eq(bases[2], far2);
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_start, 0);
    ck_assert_int_eq(o.log_end, far2 + 2);
    const int64_t want[] = {0, 1, far, far + 1, far2, far2 + 1};
    expect_offsets(p, 0, want, 6);
    verify_clean(log);
    CK_OK(klog_close(log));
    /* And it stays so. */
    log = open_kv(NULL);
    p = part(log, 0);
    ck_assert_uint_eq(segments(p, bases, 8), 3);
    expect_offsets(p, 0, want, 6);
    CK_OK(klog_close(log));
}

START_TEST(overflow_segment_split_at_load)
{
    /* far is past INT32_MAX from 0; far2 past INT32_MAX from far. */
    int64_t far = (int64_t)INT32_MAX + 10, far2 = far + (int64_t)INT32_MAX + 5;
    make_overflowed(far, far2, 0);
    check_split(far, far2);
}
END_TEST

START_TEST(overflow_segment_split_after_crash)
{
    int64_t far = (int64_t)INT32_MAX + 10, far2 = far + (int64_t)INT32_MAX + 5;
    make_overflowed(far, far2, 37);
    check_split(far, far2);
}
END_TEST


START_TEST(close_after_reading_reads_nothing)
{
    klog_t *log = open_kv(NULL);
    klog_partition_t *p = part(log, 1);
    char v[200];
    memset(v, 'x', sizeof v);
    klog_record_t r[50];
    for (int i = 0; i < 50; i++)
        r[i] = (klog_record_t){.key_len = KLOG_NULL_LEN, .value = v, .value_len = sizeof v,
                               .timestamp = T0};
    for (int i = 0; i < 800; i++) /* 8 MB in the active segment */
        CK_OK(klog_append(p, r, 50, NULL));
    CK_OK(klog_close(log));
    log = open_kv(NULL);
    p = part(log, 0);
    klog_reader_t *rd;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 0, &rd));
    int n = 0;
    while (klog_reader_next(rd, &rec) == 1)
        n++;
    ck_assert_int_eq(n, 40000);
    klog_reader_close(rd);
    klog__fault_arm(KLOG__FAULT_READ, LONG_MAX, 5, 0, 0); /* count reads, never fail */
    CK_OK(klog_close(log));
    long reads = klog__fault_calls(KLOG__FAULT_READ);
    klog__fault_clear();
    /* A few small reads (metadata) are fine; digesting the 8 MB segment
     * takes at least 8 (1 MiB at a time). */
    ck_assert_msg(reads <= 3, "klog_close read the files %ld times", reads);
    log = open_kv(NULL);
    verify_clean(log);
    /* And after an append the seal's digest is taken afresh (still clean). */
    p = part(log, 0);
    CK_OK(klog_append(p, r, 50, NULL));
    CK_OK(klog_close(log));
    log = open_kv(NULL);
    verify_clean(log);
    CK_OK(klog_close(log));
}
END_TEST

Suite *parity_suite(void)
{
    Suite *s = suite_create("parity");
    TCase *tc = tcase_create("parity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, follower_overflow_empty_segment);
    tcase_add_test(tc, follower_overflow_nonempty_segment);
    tcase_add_test(tc, follower_chunk_one_index_entry);
    tcase_add_test(tc, time_roll_untimestamped_batch);
    tcase_add_test(tc, time_roll_untimestamped_first_batch);
    tcase_add_test(tc, recovery_keeps_log_start);
    tcase_add_test(tc, overflow_segment_split_at_load);
    tcase_add_test(tc, overflow_segment_split_after_crash);
    tcase_add_test(tc, close_after_reading_reads_nothing);
    suite_add_tcase(s, tc);
    return s;
}
