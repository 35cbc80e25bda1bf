/*
 * check_segments.c — the public segment API (klog.h "segments";
 * lib/read/segments.c, klog_segment_roll in lib/storage/append.c): listing
 * agrees with the files on disk and with what was appended; pins keep a
 * segment's files and bytes through retention, DeleteRecords, truncation
 * attempts and close attempts and release them afterwards; the index
 * lookups have Kafka's floor semantics, checked against the index files
 * read through the pin's own descriptors; rolls on demand.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"

#define TS0 1700000000000LL
#define VALUE 100

static char *tmp;
static klog_t *lg;
static klog_partition_t *part;

static void setup(void) { tmp = tu_tmpdir("segments"); }

static void teardown(void)
{
    if (lg)
        ck_assert_int_eq(klog_close(lg), 0);
    lg = NULL;
    part = NULL;
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

static int64_t retention_bytes = -1;

static void open_log(int64_t segment_bytes)
{
    klog_config_t *cfg, *lcfg;
    ck_assert_int_eq(klog_config_new(&cfg), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_RETENTION_BYTES, retention_bytes), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, segment_bytes), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 256), 0);
    ck_assert_int_eq(klog_config_new(&lcfg), 0);
    ck_assert_int_eq(klog_config_set(lcfg, KLOG_CONF_RETENTION_CHECK_MS, 0), 0);
    ck_assert_int_eq(klog_open(tmp, lcfg, 0, &lg), 0);
    klog_config_free(lcfg);
    int rc = klog_topic_create(lg, "t", 1, cfg);
    ck_assert(rc == 0 || rc == KLOG_ETOPICEXISTS);
    klog_config_free(cfg);
    ck_assert_int_eq(klog_partition(lg, "t", 0, &part), 0);
}

/* Record i has timestamp TS0 + 10 * i and a value derived from i. */
static void append_n(int64_t from, int n)
{
    static char val[VALUE];
    for (int i = 0; i < n; i++) {
        int64_t o = from + i;
        memset(val, 'a' + (int)(o % 26), sizeof val);
        klog_record_t r = {.timestamp = TS0 + 10 * o, .value = val, .value_len = VALUE,
                           .key_len = -1};
        int64_t base;
        ck_assert_int_eq(klog_append(part, &r, 1, &base), 0);
        ck_assert_int_eq(base, o);
    }
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static uint8_t *read_fd(int fd, int64_t len)
{
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(pread(fd, b, (size_t)len, 0), len);
    return b;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_list)
{
    open_log(4096);
    append_n(0, 200);
    ck_assert_int_eq(klog_sync(lg), 0); /* rolled segments sealed */
    klog_segment_info_t *v;
    size_t n;
    ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
    ck_assert_uint_gt(n, 3);
    klog_offsets_t off;
    ck_assert_int_eq(klog_partition_offsets(part, &off), 0);
    ck_assert_int_eq((int64_t)n, off.segments);
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(v[i].active, i + 1 == n);
        ck_assert_int_eq(v[i].sealed, i + 1 < n);
        ck_assert_int_eq(v[i].base_offset, i ? v[i - 1].next_offset : 0);
        ck_assert_int_gt(v[i].next_offset, v[i].base_offset);
        ck_assert_int_eq(v[i].size, file_size(v[i].log_path));
        ck_assert_int_ge(file_size(v[i].index_path), 0);
        ck_assert_int_ge(file_size(v[i].timeindex_path), 0);
        ck_assert_int_eq(file_size(v[i].seal_path) >= 0, v[i].sealed);
        char want[64];
        snprintf(want, sizeof want, "/t-0/%020lld.log", (long long)v[i].base_offset);
        ck_assert_ptr_nonnull(strstr(v[i].log_path, want));
        ck_assert_int_eq(v[i].first_timestamp, TS0 + 10 * v[i].base_offset);
        ck_assert_int_eq(v[i].max_timestamp, TS0 + 10 * (v[i].next_offset - 1));
        bytes += v[i].size;
    }
    ck_assert_int_eq(v[n - 1].next_offset, 200);
    ck_assert_int_eq(bytes, off.bytes);
    free(v);
    /* The same after a reopen, where segments are trusted from their seals. */
    ck_assert_int_eq(klog_close(lg), 0);
    open_log(4096);
    klog_segment_info_t *w;
    size_t m;
    ck_assert_int_eq(klog_segment_list(part, &w, &m), 0);
    ck_assert_uint_eq(m, n);
    for (size_t i = 0; i < m; i++) {
        ck_assert_int_eq(w[i].next_offset, i + 1 < m ? w[i + 1].base_offset : 200);
        ck_assert_int_eq(w[i].max_timestamp, TS0 + 10 * (w[i].next_offset - 1));
        ck_assert_int_eq(w[i].first_timestamp, TS0 + 10 * w[i].base_offset);
    }
    free(w);
    ck_assert_int_eq(klog_segment_list(NULL, &w, &m), -EINVAL);
}
END_TEST

START_TEST(test_roll)
{
    open_log(1 << 20);
    ck_assert_int_eq(klog_segment_roll(part), 0); /* empty: nothing to roll */
    append_n(0, 10);
    ck_assert_int_eq(klog_segment_roll(part), 1);
    ck_assert_int_eq(klog_segment_roll(part), 0);
    append_n(10, 5);
    ck_assert_int_eq(klog_segment_roll(part), 1);
    ck_assert_int_eq(klog_sync(lg), 0);
    klog_segment_info_t *v;
    size_t n;
    ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(v[0].base_offset, 0);
    ck_assert_int_eq(v[0].next_offset, 10);
    ck_assert_int_eq(v[1].base_offset, 10);
    ck_assert_int_eq(v[1].next_offset, 15);
    ck_assert_int_eq(v[2].base_offset, 15);
    ck_assert_int_eq(v[2].size, 0);
    ck_assert_int_eq(v[2].first_timestamp, -1);
    ck_assert(v[0].sealed && v[1].sealed && v[2].active);
    free(v);
    append_n(15, 3);
    /* Everything reads back in order across the rolls and a reopen. */
    ck_assert_int_eq(klog_close(lg), 0);
    open_log(1 << 20);
    klog_reader_t *r;
    ck_assert_int_eq(klog_reader_open(part, KLOG_OFFSET_BEGINNING, &r), 0);
    klog_record_t rec;
    int64_t want = 0;
    while (klog_reader_next(r, &rec) == 1)
        ck_assert_int_eq(rec.offset, want++);
    ck_assert_int_eq(want, 18);
    klog_reader_close(r);
    ck_assert_int_eq(klog_segment_roll(NULL), -EINVAL);
}
END_TEST

START_TEST(test_roll_readonly)
{
    open_log(1 << 20);
    append_n(0, 3);
    ck_assert_int_eq(klog_close(lg), 0);
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &lg), 0);
    ck_assert_int_eq(klog_partition(lg, "t", 0, &part), 0);
    ck_assert_int_eq(klog_segment_roll(part), KLOG_EREADONLY);
    klog_segment_pin_t *sp;
    ck_assert_int_eq(klog_segment_pin(part, 0, &sp), 0);
    ck_assert_int_gt(klog_segment_pin_files(sp)->log_size, 0);
    klog_segment_unpin(sp);
}
END_TEST

/* The active segment keeps a clean close's seal until its next append,
 * so it is never reported sealed (final): not in the list, not in a pin,
 * read-write or read-only. */
START_TEST(test_active_not_final)
{
    open_log(1 << 20);
    append_n(0, 3);
    ck_assert_int_eq(klog_close(lg), 0);
    for (int ro = 0; ro < 2; ro++) {
        ck_assert_int_eq(klog_open(tmp, NULL, ro ? KLOG_OPEN_RDONLY : 0, &lg), 0);
        ck_assert_int_eq(klog_partition(lg, "t", 0, &part), 0);
        klog_segment_info_t *v;
        size_t n;
        ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(v[0].active, 1);
        ck_assert_int_ge(file_size(v[0].seal_path), 0); /* the close sealed it */
        ck_assert_int_eq(v[0].sealed, 0);
        free(v);
        klog_segment_pin_t *sp;
        ck_assert_int_eq(klog_segment_pin(part, 0, &sp), 0);
        ck_assert_int_eq(klog_segment_pin_files(sp)->sealed, 0);
        ck_assert_int_eq(klog_segment_pin_files(sp)->next_offset, 3);
        klog_segment_unpin(sp);
        ck_assert_int_eq(klog_close(lg), 0);
    }
    lg = NULL;
}
END_TEST

/* Floor lookups against the index files read through the pin. */
START_TEST(test_lookups)
{
    open_log(64 * 1024);
    append_n(0, 300);
    ck_assert_int_eq(klog_segment_roll(part), 1);
    ck_assert_int_eq(klog_sync(lg), 0);
    for (int pass = 0; pass < 2; pass++) {
        klog_segment_pin_t *sp;
        ck_assert_int_eq(klog_segment_pin(part, 0, &sp), 0);
        const klog_segment_files_t *f = klog_segment_pin_files(sp);
        ck_assert(f->sealed);
        ck_assert_int_eq(f->next_offset, 300);
        ck_assert_int_ge(f->index_fd, 0);
        ck_assert_int_ge(f->timeindex_fd, 0);
        ck_assert_int_gt(f->index_size, 16); /* several entries at 256-byte intervals */
        ck_assert_int_eq(f->index_size % 8, 0);
        ck_assert_int_eq(f->timeindex_size % 12, 0);
        uint8_t *ix = read_fd(f->index_fd, f->index_size);
        uint8_t *tx = read_fd(f->timeindex_fd, f->timeindex_size);
        uint8_t *lb = read_fd(f->log_fd, f->log_size);
        int64_t ne = f->index_size / 8, nt = f->timeindex_size / 12;
        for (int64_t target = -1; target <= 301; target++) {
            int64_t eo = 0, pos = 0, wo = 0, wp = 0;
            for (int64_t k = 0; k < ne; k++)
                if ((int64_t)be32(ix + 8 * k) <= target) {
                    wo = be32(ix + 8 * k);
                    wp = be32(ix + 8 * k + 4);
                }
            ck_assert_int_eq(klog_segment_lookup_offset(sp, target, &eo, &pos), 0);
            ck_assert_int_eq(eo, wo);
            ck_assert_int_eq(pos, wp);
            ck_assert_int_le(eo, target < 0 ? 0 : target);
            /* The position is the start of the batch holding entry offset... */
            if (pos > 0) {
                uint64_t base = 0;
                for (int b = 0; b < 8; b++)
                    base = base << 8 | lb[pos + b];
                uint32_t last = be32(lb + pos + 23);
                ck_assert_int_le((int64_t)base, eo);
                ck_assert_int_ge((int64_t)base + last, eo);
            }
        }
        for (int64_t i = -2; i <= 301; i++) {
            int64_t ts = TS0 + 10 * i + (i % 3 == 0 ? 5 : 0);
            int64_t et, eo, wt = -1, wo = 0;
            for (int64_t k = 0; k < nt; k++) {
                uint64_t t = 0;
                for (int b = 0; b < 8; b++)
                    t = t << 8 | tx[12 * k + b];
                if ((int64_t)t <= ts) {
                    wt = (int64_t)t;
                    wo = be32(tx + 12 * k + 8);
                }
            }
            ck_assert_int_eq(klog_segment_lookup_time(sp, ts, &et, &eo), 0);
            ck_assert_int_eq(et, wt);
            ck_assert_int_eq(eo, wo);
        }
        free(ix);
        free(tx);
        free(lb);
        ck_assert_int_eq(klog_segment_lookup_offset(sp, 0, NULL, NULL), -EINVAL);
        klog_segment_unpin(sp);
        /* Once more after a reopen (indexes mapped from the files). */
        ck_assert_int_eq(klog_close(lg), 0);
        open_log(64 * 1024);
    }
    klog_segment_pin_t *sp;
    ck_assert_int_eq(klog_segment_pin(part, 1, &sp), KLOG_EOFFSET);
    ck_assert_int_eq(klog_segment_pin(part, 12345, &sp), KLOG_EOFFSET);
    ck_assert_int_eq(klog_segment_pin(NULL, 0, &sp), -EINVAL);
    klog_segment_unpin(NULL);
}
END_TEST

/* A pin held across DeleteRecords, retention, truncation and close. */
START_TEST(test_pin_holds)
{
    retention_bytes = 3 * 4096;
    open_log(4096);
    append_n(0, 200);
    ck_assert_int_eq(klog_sync(lg), 0);
    klog_segment_info_t *v;
    size_t n;
    ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
    ck_assert_uint_gt(n, 3);
    char *logp = strdup(v[0].log_path), *ixp = strdup(v[0].index_path);
    int64_t first_next = v[0].next_offset, last_base = v[n - 1].base_offset;
    free(v);
    klog_segment_pin_t *sp;
    ck_assert_int_eq(klog_segment_pin(part, 0, &sp), 0);
    const klog_segment_files_t *f = klog_segment_pin_files(sp);
    ck_assert_int_eq(f->log_size, file_size(logp));
    uint8_t *before = read_fd(f->log_fd, f->log_size);
    uint8_t *ixbefore = read_fd(f->index_fd, f->index_size);

    /* DeleteRecords past the segment: it leaves the list, its files stay. */
    ck_assert_int_eq(klog_delete_records(part, first_next), 0);
    ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
    ck_assert_int_eq(v[0].base_offset, first_next);
    free(v);
    ck_assert_int_eq(file_size(logp), -1); /* renamed */
    char del[4096];
    snprintf(del, sizeof del, "%s.deleted", logp);
    ck_assert_int_eq(file_size(del), f->log_size);
    /* Retention by size takes the next segments, one of them pinned too;
     * no pinned byte changes. */
    klog_segment_pin_t *sp2;
    ck_assert_int_eq(klog_segment_pin(part, first_next, &sp2), 0);
    const klog_segment_files_t *f2 = klog_segment_pin_files(sp2);
    uint8_t *before2 = read_fd(f2->log_fd, f2->log_size);
    ck_assert_int_gt(klog_retention(lg, KLOG_TIMESTAMP_NOW), 0);
    ck_assert_int_eq(klog_segment_list(part, &v, &n), 0);
    ck_assert_int_gt(v[0].base_offset, first_next);
    free(v);
    char del2[4096];
    snprintf(del2, sizeof del2, "%s/t-0/%020lld.log.deleted", tmp, (long long)first_next);
    ck_assert_int_eq(file_size(del2), f2->log_size);
    uint8_t *after2 = read_fd(f2->log_fd, f2->log_size);
    ck_assert_int_eq(memcmp(before2, after2, (size_t)f2->log_size), 0);
    free(before2);
    free(after2);
    klog_segment_unpin(sp2);
    ck_assert_int_eq(file_size(del2), -1);
    uint8_t *after = read_fd(f->log_fd, f->log_size);
    ck_assert_int_eq(memcmp(before, after, (size_t)f->log_size), 0);
    free(after);
    after = read_fd(f->index_fd, f->index_size);
    ck_assert_int_eq(memcmp(ixbefore, after, (size_t)f->index_size), 0);
    free(after);
    /* Close refuses while it is held. */
    ck_assert_int_eq(klog_close(lg), KLOG_EBUSY);
    klog_segment_unpin(sp);
    ck_assert_int_eq(file_size(del), -1); /* unlinked at the release */
    snprintf(del, sizeof del, "%s.deleted", ixp);
    ck_assert_int_eq(file_size(del), -1);

    /* Truncation over a pinned segment fails; after the release it works. */
    ck_assert_int_eq(klog_segment_pin(part, last_base, &sp), 0);
    f = klog_segment_pin_files(sp);
    ck_assert_int_gt(f->log_size, 0);
    free(before);
    before = read_fd(f->log_fd, f->log_size);
    ck_assert_int_eq(klog_truncate(part, last_base + 1), KLOG_EBUSY);
    after = read_fd(f->log_fd, f->log_size);
    ck_assert_int_eq(memcmp(before, after, (size_t)f->log_size), 0);
    free(after);
    /* The active segment keeps taking appends while pinned. */
    append_n(200, 20);
    after = read_fd(f->log_fd, f->log_size);
    ck_assert_int_eq(memcmp(before, after, (size_t)f->log_size), 0);
    free(after);
    klog_segment_unpin(sp);
    ck_assert_int_eq(klog_truncate(part, last_base + 1), 0);
    klog_offsets_t off;
    ck_assert_int_eq(klog_partition_offsets(part, &off), 0);
    ck_assert_int_eq(off.log_end, last_base + 1);
    free(before);
    free(ixbefore);
    free(logp);
    free(ixp);
}
END_TEST

Suite *segments_suite(void)
{
    Suite *s = suite_create("segments");
    TCase *tc = tcase_create("segments");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_roll);
    tcase_add_test(tc, test_roll_readonly);
    tcase_add_test(tc, test_active_not_final);
    tcase_add_test(tc, test_lookups);
    tcase_add_test(tc, test_pin_holds);
    suite_add_tcase(s, tc);
    return s;
}
