/*
 * check_index_blocks.c — an index file's length is not its blocks (issue
 * 21 items 1 and 2): what opening counts from a sparse file, and how an
 * open index reserves blocks before it stores into its mapping. The
 * full-disk runs themselves (tmpfs, ext4, RLIMIT_FSIZE) are in
 * test/t_full_disk.sh.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "storage/index.h"
#include "util/testutil.h"

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("ixblocks"); }

static void teardown(void)
{
    klog__fault_clear();
    tu_rmtree(tmp);
    free(tmp);
}

static char *path_in(const char *name)
{
    char *p = malloc(strlen(tmp) + strlen(name) + 2);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%s", tmp, name);
    return p;
}

/* A time index left as a sparse file (a crash before its first entry):
 * the hole reads as zeros, which would pass for one entry (timestamp 0,
 * offset base). Nothing in a hole is an entry. */
START_TEST(sparse_timeindex_has_no_entry)
{
    char *p = path_in("00000000000000000000.timeindex");
    int fd = open(p, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 12 * 1024), 0);
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    if (hole != 0) {
        printf("index_blocks: %s does not report holes; skipped\n", tmp);
        free(p);
        return;
    }
    klog__index_t ix;
    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__TIMEIDX_ENTRY, 0, 12 * 1024, 0, 0), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 0);
    ck_assert_int_eq(klog__timeidx_lookup(&ix, 1700000000000), 0);
    klog__index_close(&ix);
    /* Writable, the same: and the first store reserves from 0. */
    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__TIMEIDX_ENTRY, 0, 12 * 1024, 1, 0), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 0);
    ck_assert_int_eq(klog__timeidx_append(&ix, 5, 3), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 1);
    klog__index_close(&ix);
    free(p);
}
END_TEST

/* Entries written, the file reopened: the open cannot know which blocks
 * exist, so the next store reserves again from 0. Where fallocate is
 * unsupported the reservation rewrites the range's own bytes: the entries
 * already there must survive it (zeros would wipe them under a live
 * count). */
START_TEST(reserve_without_fallocate_keeps_entries)
{
    char *p = path_in("00000000000000000000.index");
    klog__index_t ix;
    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__OFFIDX_ENTRY, 100, 64 * 1024, 1, 1), 0);
    for (uint32_t i = 0; i < 50; i++)
        ck_assert_int_eq(klog__offidx_append(&ix, 100 + 2 * (int64_t)i + 1, 64 * (i + 1)), 0);
    klog__index_close(&ix);

    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__OFFIDX_ENTRY, 100, 64 * 1024, 1, 0), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 50);
    klog__fault_arm(KLOG__FAULT_TRUNCATE, 1, EOPNOTSUPP, 0, 1); /* no fallocate */
    ck_assert_int_eq(klog__offidx_append(&ix, 200, 64 * 51), 0);
    klog__fault_clear();
    ck_assert_uint_eq(atomic_load(&ix.entries), 51);
    for (uint32_t i = 0; i < 51; i++) {
        int64_t off;
        uint32_t pos;
        klog__offidx_entry(&ix, i, &off, &pos);
        ck_assert_int_eq(off, i < 50 ? 100 + 2 * (int64_t)i + 1 : 200);
        ck_assert_uint_eq(pos, 64 * (i + 1));
    }
    klog__index_close(&ix);
    /* And the file says so after another open. */
    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__OFFIDX_ENTRY, 100, 64 * 1024, 0, 0), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 51);
    klog__index_close(&ix);
    free(p);
}
END_TEST

/* A reservation the disk refuses (ENOSPC) skips the entry, never the
 * append: the index is sparse anyway. */
START_TEST(reserve_refused_skips_entry)
{
    char *p = path_in("00000000000000000000.index");
    klog__index_t ix;
    ck_assert_int_eq(klog__index_open(&ix, p, KLOG__OFFIDX_ENTRY, 0, 64 * 1024, 1, 1), 0);
    klog__fault_arm(KLOG__FAULT_TRUNCATE, 1, ENOSPC, 0, 1);
    ck_assert_int_eq(klog__offidx_append(&ix, 5, 100), -ENOSPC);
    ck_assert_uint_eq(atomic_load(&ix.entries), 0);
    klog__fault_clear();
    ck_assert_int_eq(klog__offidx_append(&ix, 6, 200), 0);
    ck_assert_uint_eq(atomic_load(&ix.entries), 1);
    klog__index_close(&ix);
    free(p);
}
END_TEST

Suite *index_blocks_suite(void)
{
    Suite *s = suite_create("index_blocks");
    TCase *tc = tcase_create("blocks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sparse_timeindex_has_no_entry);
    tcase_add_test(tc, reserve_without_fallocate_keeps_entries);
    tcase_add_test(tc, reserve_refused_skips_entry);
    suite_add_tcase(s, tc);
    return s;
}
