/*
 * check_rdonly.c — read-only openers beside a writer whose retention and
 * DeleteRecords remove segments (issue 21, items 8-11). The read-only
 * handle is opened in the same process (KLOG_OPEN_RDONLY takes no lock and
 * sees the writer only through the state file and the directory, as
 * another process would).
 *
 *  - log_start_published_before_files_go: at the moment retention deletes
 *    a segment (its log callback line), a read-only opener already sees
 *    the new log start (a writer killed there leaves it right).
 *  - reader_into_vanished_segment: a read-only reader whose next segment
 *    was removed gets KLOG_EOFFSET, never records below the new log start
 *    and never -ENOENT.
 *  - damaged_state_file_ignored: a klog.state whose offsets contradict each
 *    other is not trusted by read-only openers.
 *  - log_start_survives_crash_before_checkpoint: a log start a read-only
 *    opener saw (DeleteRecords published it) is kept by the next open
 *    although the writer died before the checkpoint file had it.
 *  - reader_across_compaction_swap: a read-only opener whose descriptor
 *    cache closed a segment the writer's compaction replaced reads the
 *    cleaned segments, never the old sizes over the new file.
 *  - interrupted_topic_delete_finished: partition directories left by a
 *    delete killed after klog.topics was rewritten are removed at open
 *    (also when they hold Kafka's partition.metadata beside klog.state),
 *    so a new topic of the same name starts empty.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"

#define T0 1700000000000LL

static char *tmp;
static void setup(void) { tmp = tu_tmpdir("rdonly"); }
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

static klog_partition_t *rd_part; /* the read-only view, for the callback */
static int64_t seen_start = -2;   /* its log start when the first segment went */
static int64_t want_start;

static void on_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    if (rd_part && seen_start == -2 && strstr(msg, "retention: deleting")) {
        klog_offsets_t o;
        seen_start = klog_partition_offsets(rd_part, &o) == 0 ? o.log_start : -1;
    }
}

static klog_t *open_writer(int logger)
{
    klog_config_t *cfg;
    klog_t *log;
    CK_OK(klog_config_new(&cfg));
    CK_OK(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 1024));
    if (logger)
        klog_config_set_logger(cfg, on_log, NULL);
    CK_OK(klog_open(tmp, cfg, 0, &log));
    klog_config_free(cfg);
    return log;
}

static klog_t *open_reader(void)
{
    klog_t *log;
    CK_OK(klog_open(tmp, NULL, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log));
    return log;
}

/* A read-only opener's reader of t-0 from offset 0 (*rp: its partition). */
static klog_reader_t *reader_at_start(klog_t *r, klog_partition_t **rp)
{
    klog_reader_t *rd;
    CK_OK(klog_partition(r, "t", 0, rp));
    CK_OK(klog_reader_open(*rp, 0, &rd));
    return rd;
}

/* n records of ~100 bytes: several 1 KiB segments. */
static void fill(klog_partition_t *p, int n)
{
    char v[100];
    memset(v, 'r', sizeof v);
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = v, .value_len = sizeof v,
                       .timestamp = T0};
    for (int i = 0; i < n; i++)
        CK_OK(klog_append(p, &r, 1, NULL));
    CK_OK(klog_flush(p));
}

static int64_t seg_base(klog_partition_t *p, size_t i)
{
    klog_segment_info_t *si;
    size_t n;
    CK_OK(klog_segment_list(p, &si, &n));
    ck_assert_uint_gt(n, i);
    int64_t b = si[i].base_offset;
    free(si);
    return b;
}

/* A reader beside a writer that reopened a cleanly closed log: the active
 * segment's seal (kept from the close) goes with the writer's first
 * append, and the reader, which loaded that segment as sealed, reads on
 * past the sealed size. */
START_TEST(reader_past_active_seal)
{
    klog_t *w = open_writer(0);
    klog_partition_t *wp;
    int rc = klog_topic_create(w, "t", 1, NULL);
    ck_assert(rc == 0);
    CK_OK(klog_partition(w, "t", 0, &wp));
    fill(wp, 3); /* one segment */
    CK_OK(klog_close(w));
    w = open_writer(0);
    CK_OK(klog_partition(w, "t", 0, &wp));
    klog_t *r = open_reader();
    klog_partition_t *rp;
    klog_reader_t *rd = reader_at_start(r, &rp);
    klog_record_t rec;
    int n = 0;
    while (klog_reader_next(rd, &rec) == 1)
        n++;
    ck_assert_int_eq(n, 3);
    fill(wp, 2);
    while (klog_reader_next(rd, &rec) == 1)
        n++;
    ck_assert_int_eq(n, 5);
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(rp, &o));
    ck_assert_int_eq(o.log_end, 5);
    klog_reader_close(rd);
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST

START_TEST(log_start_published_before_files_go)
{
    klog_t *w = open_writer(1);
    CK_OK(klog_topic_create(w, "t", 1, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 0, &p));
    fill(p, 60);
    int64_t b2 = seg_base(p, 2);
    klog_t *r = open_reader();
    CK_OK(klog_partition(r, "t", 0, &rd_part));
    seen_start = -2;
    want_start = b2 + 1;
    CK_OK(klog_delete_records(p, want_start));
    ck_assert_msg(seen_start == want_start,
                  "a read-only opener saw log start %lld while segments were being deleted "
                  "(want %lld)",
                  (long long)seen_start, (long long)want_start);
    rd_part = NULL;
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST

START_TEST(reader_into_vanished_segment)
{
    klog_t *w = open_writer(0);
    CK_OK(klog_topic_create(w, "t", 1, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 0, &p));
    fill(p, 60);
    int64_t b1 = seg_base(p, 1), b2 = seg_base(p, 2);
    klog_t *r = open_reader();
    klog_partition_t *rp;
    klog_reader_t *rd = reader_at_start(r, &rp);
    klog_record_t rec;
    ck_assert_int_eq(klog_reader_next(rd, &rec), 1); /* positioned in segment 0 */
    ck_assert_int_eq(rec.offset, 0);
    /* The writer removes segments 0 and 1 (DeleteRecords into segment 2). */
    int64_t start = b2 + 1;
    CK_OK(klog_delete_records(p, start));
    /* The reader still holds segment 0 open and may finish it; it must then
     * fail with KLOG_EOFFSET, never skip the vanished segment 1 and serve
     * segment 2's records below the new log start. */
    int rc;
    int64_t last = 0;
    while ((rc = klog_reader_next(rd, &rec)) == 1) {
        ck_assert_msg(rec.offset < b1 || rec.offset >= start,
                      "record %lld below the log start %lld served", (long long)rec.offset,
                      (long long)start);
        ck_assert_int_eq(rec.offset, last + 1);
        last = rec.offset;
    }
    ck_assert_msg(rc == KLOG_EOFFSET, "after the vanished segment: %s", klog_err_name(rc));
    klog_reader_close(rd);
    /* A fresh reader or lease below the log start: KLOG_EOFFSET too. */
    ck_assert_int_eq(klog_reader_open(rp, b1, &rd), KLOG_EOFFSET);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(rp, b1, 4096, &l), KLOG_EOFFSET);
    CK_OK(klog_lease_acquire(rp, start, 4096, &l));
    klog_lease_release(l);
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST


START_TEST(interrupted_topic_delete_finished)
{
    /* The same log with and without topic t: B's klog.topics is A's after
     * klog_topic_delete("t") rewrote it, before t's directories went. */
    char *b = tu_tmpdir("rdonly-b");
    klog_t *w;
    CK_OK(klog_open(b, NULL, 0, &w));
    CK_OK(klog_topic_create(w, "u", 1, NULL));
    CK_OK(klog_close(w));
    w = open_writer(0);
    CK_OK(klog_topic_create(w, "u", 1, NULL));
    CK_OK(klog_topic_create(w, "t", 2, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 1, &p));
    fill(p, 30);
    CK_OK(klog_close(w));
    size_t len;
    uint8_t *meta = tu_read_file(b, "klog.topics", &len);
    ck_assert_ptr_nonnull(meta);
    CK_OK(tu_write_file(tmp, "klog.topics", meta, len));
    free(meta);
    tu_rmtree(b);
    free(b);
    char path[4096];
    /* t-1 also holds the partition.metadata an example broker writes for
     * its topic ids: still libklog's partition (it has klog.state). */
    snprintf(path, sizeof path, "%s/t-1", tmp);
    CK_OK(tu_write_file(path, "partition.metadata", "version: 0\ntopic_id: x", 22));
    /* A directory that looks like a partition but holds a user's file. */
    snprintf(path, sizeof path, "%s/photos-2024", tmp);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    CK_OK(tu_write_file(path, "beach.jpg", "jpeg", 4));
    /* A Kafka partition no topic owns (klog_adopt leaves such ones). */
    snprintf(path, sizeof path, "%s/kafka-0", tmp);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    CK_OK(tu_write_file(path, "partition.metadata", "version: 0\ntopic_id: x", 22));
    CK_OK(tu_write_file(path, "00000000000000000000.log", "", 0));

    w = open_writer(0);
    struct stat st;
    snprintf(path, sizeof path, "%s/t-1", tmp);
    ck_assert_msg(stat(path, &st) != 0, "t-1 survived the open");
    snprintf(path, sizeof path, "%s/photos-2024/beach.jpg", tmp);
    ck_assert_msg(stat(path, &st) == 0, "a foreign directory was removed");
    snprintf(path, sizeof path, "%s/kafka-0/00000000000000000000.log", tmp);
    ck_assert_msg(stat(path, &st) == 0, "a Kafka partition was removed");
    CK_OK(klog_topic_create(w, "t", 2, NULL));
    CK_OK(klog_partition(w, "t", 1, &p));
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_end, 0); /* the old records did not come back */
    CK_OK(klog_close(w));
}
END_TEST


/* klog.state's layout (partition_impl.h): magic[8], version, pad, then
 * high watermark, log start, log end, generation as native int64. */
static void poke_state(int64_t hw, int64_t start, int64_t end)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/t-0/klog.state", tmp);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    int64_t v[3] = {hw, start, end};
    ck_assert_int_eq(pwrite(fd, v, sizeof v, 16), (ssize_t)sizeof v);
    close(fd);
}

START_TEST(damaged_state_file_ignored)
{
    klog_t *w = open_writer(0);
    CK_OK(klog_topic_create(w, "t", 1, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 0, &p));
    fill(p, 25);
    CK_OK(klog_close(w));
    const int64_t bad[][3] = {
        {1000000, 0, 25},        /* watermark past the end */
        {10, 20, 25},            /* log start past the watermark */
        {-5, -9, 25},            /* negative */
        {1000000, 0, 1000000},   /* consistent, but past the data */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        poke_state(bad[k][0], bad[k][1], bad[k][2]);
        klog_t *r = open_reader();
        klog_partition_t *rp;
        CK_OK(klog_partition(r, "t", 0, &rp));
        klog_offsets_t o;
        CK_OK(klog_partition_offsets(rp, &o));
        ck_assert_msg(o.log_start == 0 && o.high_watermark == 25 && o.log_end == 25,
                      "case %zu: offsets %lld/%lld/%lld from a damaged klog.state", k,
                      (long long)o.log_start, (long long)o.high_watermark,
                      (long long)o.log_end);
        klog_reader_t *rd;
        CK_OK(klog_reader_open(rp, 0, &rd));
        klog_record_t rec;
        int rc, n = 0;
        while ((rc = klog_reader_next(rd, &rec)) == 1)
            ck_assert_int_eq(rec.offset, n++);
        ck_assert_msg(rc == 0 && n == 25, "case %zu: %d records, then %s", k, n,
                      klog_err_name(rc));
        klog_reader_close(rd);
        CK_OK(klog_close(r));
    }
    /* The writer rewrites it; read-only openers trust it again. */
    w = open_writer(0);
    CK_OK(klog_partition(w, "t", 0, &p));
    fill(p, 1);
    klog_t *r = open_reader();
    klog_partition_t *rp;
    CK_OK(klog_partition(r, "t", 0, &rp));
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(rp, &o));
    ck_assert_int_eq(o.high_watermark, 26);
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST

START_TEST(log_start_survives_crash_before_checkpoint)
{
    klog_t *w = open_writer(0);
    CK_OK(klog_topic_create(w, "t", 1, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 0, &p));
    fill(p, 60);
    int64_t start = seg_base(p, 1) + 2; /* inside a segment: no file goes */
    CK_OK(klog_close(w));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *cw = open_writer(0);
        klog_partition_t *cp;
        if (klog_partition(cw, "t", 0, &cp))
            _exit(1);
        /* The checkpoint write fails (its rename), as if killed before it. */
        klog__fault_arm(KLOG__FAULT_RENAME, 1, EIO, 0, 1);
        int rc = klog_delete_records(cp, start);
        _exit(rc == 0 ? 2 : 0); /* died without closing */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* A read-only opener sees the published start... */
    klog_t *r = open_reader();
    klog_partition_t *rp;
    CK_OK(klog_partition(r, "t", 0, &rp));
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(rp, &o));
    ck_assert_int_eq(o.log_start, start);
    CK_OK(klog_close(r));
    /* ...and the next writer keeps it. */
    w = open_writer(0);
    CK_OK(klog_partition(w, "t", 0, &p));
    CK_OK(klog_partition_offsets(p, &o));
    ck_assert_int_eq(o.log_start, start);
    klog_reader_t *rd;
    ck_assert_int_eq(klog_reader_open(p, start - 1, &rd), KLOG_EOFFSET);
    CK_OK(klog_close(w));
}
END_TEST

/* (offset, value) of every record from the start; n records into out. */
static int read_pairs(klog_partition_t *p, int64_t *off, char (*val)[16], int cap)
{
    klog_reader_t *rd;
    CK_OK(klog_reader_open(p, KLOG_OFFSET_BEGINNING, &rd));
    klog_record_t rec;
    int n = 0, rc;
    while ((rc = klog_reader_next(rd, &rec)) == 1) {
        ck_assert_int_lt(n, cap);
        off[n] = rec.offset;
        snprintf(val[n], sizeof val[n], "%.*s", (int)rec.value_len, (const char *)rec.value);
        n++;
    }
    ck_assert_msg(rc == 0, "read-only reader after the swap: %s", klog_err_name(rc));
    klog_reader_close(rd);
    return n;
}

START_TEST(reader_across_compaction_swap)
{
    klog_t *w;
    klog_config_t *cfg, *tcfg;
    CK_OK(klog_config_new(&cfg));
    CK_OK(klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0));
    CK_OK(klog_open(tmp, cfg, 0, &w));
    klog_config_free(cfg);
    CK_OK(klog_config_new(&tcfg));
    CK_OK(klog_config_set(tcfg, KLOG_CONF_CLEANUP_POLICY, KLOG_CLEANUP_COMPACT));
    CK_OK(klog_config_set(tcfg, KLOG_CONF_SEGMENT_BYTES, 1024));
    CK_OK(klog_topic_create(w, "t", 1, tcfg));
    klog_config_free(tcfg);
    klog_partition_t *p;
    CK_OK(klog_partition(w, "t", 0, &p));
    for (int i = 0; i < 200; i++) {
        char k[8], v[16];
        int kl = snprintf(k, sizeof k, "k%d", i % 8), vl = snprintf(v, sizeof v, "v%d", i);
        klog_record_t r = {.key = k, .key_len = kl, .value = v, .value_len = vl,
                           .timestamp = T0 + i};
        CK_OK(klog_append(p, &r, 1, NULL));
    }
    ck_assert_int_ge(klog_segment_roll(p), 0);
    CK_OK(klog_sync(w));
    /* The reader: a descriptor bound that holds one segment at a time. */
    klog_t *r;
    CK_OK(klog_config_new(&cfg));
    CK_OK(klog_config_set(cfg, KLOG_CONF_MAX_OPEN_FILES, 4));
    CK_OK(klog_open(tmp, cfg, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &r));
    klog_config_free(cfg);
    klog_partition_t *rp;
    CK_OK(klog_partition(r, "t", 0, &rp));
    static int64_t off[2][256];
    static char val[2][256][16];
    ck_assert_int_eq(read_pairs(rp, off[0], val[0], 256), 200);
    /* A reader holding the first segment open across the swap. */
    klog_reader_t *held;
    klog_record_t rec;
    CK_OK(klog_reader_open(rp, 0, &held));
    ck_assert_int_eq(klog_reader_next(held, &rec), 1);
    klog_compact_stats_t st;
    ck_assert_int_eq(klog_compact(w, "t", 0, &st), 1); /* 1: a pass cleaned it */
    ck_assert_int_gt(st.records_removed, 0);
    klog_stats_t ls;
    CK_OK(klog_stats(w, &ls));
    ck_assert_int_eq(ls.compactions, 1); /* the pass is counted */
    int nw = read_pairs(p, off[0], val[0], 256);
    int nr = read_pairs(rp, off[1], val[1], 256);
    ck_assert_int_eq(nr, nw);
    for (int i = 0; i < nw; i++) {
        ck_assert_int_eq(off[1][i], off[0][i]);
        ck_assert_str_eq(val[1][i], val[0][i]);
    }
    /* The held reader goes on over the old bytes: records that existed. */
    int rc;
    int64_t prev = rec.offset;
    while ((rc = klog_reader_next(held, &rec)) == 1) {
        ck_assert_int_gt(rec.offset, prev);
        prev = rec.offset;
    }
    ck_assert_msg(rc == 0, "held reader: %s", klog_err_name(rc));
    klog_reader_close(held);
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST

Suite *rdonly_suite(void)
{
    Suite *s = suite_create("rdonly");
    TCase *tc = tcase_create("rdonly");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reader_past_active_seal);
    tcase_add_test(tc, log_start_published_before_files_go);
    tcase_add_test(tc, reader_into_vanished_segment);
    tcase_add_test(tc, log_start_survives_crash_before_checkpoint);
    tcase_add_test(tc, interrupted_topic_delete_finished);
    tcase_add_test(tc, damaged_state_file_ignored);
    tcase_add_test(tc, reader_across_compaction_swap);
    suite_add_tcase(s, tc);
    return s;
}
