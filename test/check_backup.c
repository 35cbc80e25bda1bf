/*
 * check_backup.c — klog_backup() (lib/storage/backup.c): a backup taken
 * while another thread keeps appending (and rolling segments) opens with
 * no recovery scan (recovery counters and the log callback), verifies
 * clean with klog_verify() — so offsets 0..end-1 are all there, with no
 * gap — and ends at the offsets it reported, at or above each
 * partition's watermark before the backup; a second backup to the same
 * place is refused. A writer's first append removing the active
 * segment's seal right after the backup read it (an I/O hook) leaves the
 * copy as sealed: it verifies clean on a read-only open.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "storage/log.h"
#include "util/testutil.h"

#define NPART 2

static char *tmp;

typedef struct ends {
    int n;
    int64_t start[NPART], end[NPART];
} ends_t;

static void on_partition(void *ctx, const char *topic, int32_t partition, int64_t log_start,
                         int64_t end)
{
    ends_t *e = ctx;
    ck_assert_str_eq(topic, "t");
    ck_assert(partition >= 0 && partition < NPART);
    e->start[partition] = log_start;
    e->end[partition] = end;
    e->n++;
}

typedef struct writer {
    klog_t *lg;
    _Atomic int stop;
    _Atomic int rc;
    _Atomic long n;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    char val[200];
    for (long i = 0; i < 200000 && !w->stop && !w->rc; i++) {
        klog_partition_t *p;
        int rc = klog_partition(w->lg, "t", (int32_t)(i % NPART), &p);
        memset(val, 'a' + (int)(i % 26), sizeof val);
        klog_record_t r = {.timestamp = 1700000000000LL + i, .value = val,
                           .value_len = sizeof val, .key_len = -1};
        if (!rc)
            rc = klog_append(p, &r, 1, NULL);
        w->rc = rc;
        w->n++;
    }
    return NULL;
}

static int recovery_msgs;

static void logger(void *ctx, int level, const char *msg)
{
    (void)ctx, (void)level;
    if (strstr(msg, "recover") || strstr(msg, "rebuil") || strstr(msg, "scan"))
        recovery_msgs++;
}

static void setup(void) { tmp = tu_tmpdir("backup"); }

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
}

/* The source log (src) with topic "t" of NPART partitions, small
 * segments; dst: where the copy goes. */
static klog_t *open_source(char src[600], char dst[600], klog_config_t **cfg)
{
    klog_t *lg;
    snprintf(src, 600, "%s/src", tmp);
    snprintf(dst, 600, "%s/copy", tmp);
    ck_assert_int_eq(klog_config_new(cfg), 0);
    ck_assert_int_eq(klog_config_set(*cfg, KLOG_CONF_SEGMENT_BYTES, 16384), 0);
    ck_assert_int_eq(klog_config_set(*cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 512), 0);
    ck_assert_int_eq(klog_open(src, *cfg, 0, &lg), 0);
    ck_assert_int_eq(klog_topic_create(lg, "t", NPART, NULL), 0);
    return lg;
}

START_TEST(test_backup_under_load)
{
    char src[600], dst[600];
    klog_config_t *cfg;
    klog_t *lg = open_source(src, dst, &cfg);

    writer_t w = {.lg = lg};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    while (w.n < 2000 && !w.rc)
        sched_yield(); /* some sealed segments first (not a timing assertion) */
    int64_t hw[NPART];
    for (int i = 0; i < NPART; i++) {
        klog_partition_t *p;
        klog_offsets_t o;
        ck_assert_int_eq(klog_partition(lg, "t", i, &p), 0);
        ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
        hw[i] = o.high_watermark;
    }
    ends_t e = {0};
    klog_backup_stats_t st;
    ck_assert_int_eq(klog_backup(lg, dst, on_partition, &e, &st), 0);
    ck_assert_int_eq(klog_backup(lg, dst, NULL, NULL, NULL), -EEXIST);
    w.stop = 1;
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(klog_close(lg), 0);
    ck_assert_int_eq(e.n, NPART);
    ck_assert_int_eq(st.partitions, NPART);
    ck_assert_int_gt(st.segments, NPART);

    /* The copy opens with no recovery scan ... */
    klog_config_set_logger(cfg, logger, NULL);
    ck_assert_int_eq(klog_open(dst, cfg, 0, &lg), 0);
    const klog__recovery_stats_t *rs = klog__log_stats(lg);
    ck_assert_int_eq(atomic_load(&rs->scanned_segments), 0);
    ck_assert_int_eq(atomic_load(&rs->truncated_bytes), 0);
    ck_assert_int_eq(atomic_load(&rs->rebuilt_indexes), 0);
    ck_assert_int_eq(recovery_msgs, 0);
    /* ... holds what it reported, at least each watermark before it ... */
    for (int i = 0; i < NPART; i++) {
        klog_partition_t *p;
        klog_offsets_t o;
        ck_assert_int_eq(klog_partition(lg, "t", i, &p), 0);
        ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
        ck_assert_int_eq(e.start[i], 0);
        ck_assert_int_eq(o.log_start, 0);
        ck_assert_int_eq(o.log_end, e.end[i]);
        ck_assert_int_ge(e.end[i], hw[i]);
        ck_assert_int_gt(e.end[i], 0);
    }
    /* ... and verifies clean: every batch's CRC, no offset gap. */
    klog_verify_stats_t vs;
    ck_assert_int_eq(klog_verify(lg, NULL, -1, NULL, NULL, &vs), 0);
    ck_assert_int_eq(vs.damage + vs.recoverable + vs.warnings, 0);
    ck_assert_int_eq(vs.batches, e.end[0] + e.end[1]);
    ck_assert_int_eq(klog_close(lg), 0);
    klog_config_free(cfg);
}
END_TEST

static int append_to(klog_t *lg, int32_t part, int n)
{
    klog_partition_t *p;
    char val[200];
    int rc = klog_partition(lg, "t", part, &p);
    for (int i = 0; i < n && !rc; i++) {
        memset(val, 'a' + i % 26, sizeof val);
        klog_record_t r = {.timestamp = 1700000000000LL + i, .value = val,
                           .value_len = sizeof val, .key_len = -1};
        rc = klog_append(p, &r, 1, NULL);
    }
    return rc;
}

typedef struct hook_append {
    klog_t *lg;
    int rc;
} hook_append_t;

static void append_in_hook(void *arg)
{
    hook_append_t *h = arg;
    h->rc = append_to(h->lg, 0, 5);
}

/* The writer's first append after a clean open removes the seal its
 * active segment kept and grows the indexes: a backup that read that seal
 * just before copies the segment as it was sealed, indexes included. */
START_TEST(test_backup_unseal)
{
    char src[600], dst[600];
    klog_config_t *cfg;
    klog_t *lg = open_source(src, dst, &cfg);
    ck_assert_int_eq(append_to(lg, 0, 100), 0);
    ck_assert_int_eq(klog_close(lg), 0);
    ck_assert_int_eq(klog_open(src, cfg, 0, &lg), 0);
    klog_partition_t *p;
    klog_segment_info_t *segs;
    size_t nseg;
    ck_assert_int_eq(klog_partition(lg, "t", 0, &p), 0);
    ck_assert_int_eq(klog_segment_list(p, &segs, &nseg), 0);
    ck_assert_int_eq(segs[nseg - 1].sealed, 0); /* active: not final ... */
    ck_assert_int_eq(access(segs[nseg - 1].seal_path, F_OK), 0); /* ... but the close sealed it */
    char seal[64];
    snprintf(seal, sizeof seal, "/t-0/%020lld.seal", (long long)segs[nseg - 1].base_offset);
    free(segs);
    hook_append_t h = {.lg = lg, .rc = -1};
    klog__fault_after_read(seal, append_in_hook, &h);
    ck_assert_int_eq(klog_backup(lg, dst, NULL, NULL, NULL), 0);
    klog__fault_after_read(NULL, NULL, NULL);
    ck_assert_int_eq(h.rc, 0); /* the hook ran: the seal went mid-copy */
    ck_assert_int_eq(klog_close(lg), 0);

    /* Read-only: a read-write open would trim what lies past a seal. */
    klog_config_set_logger(cfg, logger, NULL);
    recovery_msgs = 0;
    ck_assert_int_eq(klog_open(dst, cfg, KLOG_OPEN_RDONLY, &lg), 0);
    ck_assert_int_eq(recovery_msgs, 0);
    klog_verify_stats_t vs;
    ck_assert_int_eq(klog_verify(lg, NULL, -1, NULL, NULL, &vs), 0);
    ck_assert_int_eq(vs.damage + vs.recoverable + vs.warnings, 0);
    ck_assert_int_ge(vs.batches, 100);
    ck_assert_int_eq(klog_close(lg), 0);
    klog_config_free(cfg);
}
END_TEST

Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("backup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_backup_under_load);
    tcase_add_test(tc, test_backup_unseal);
    suite_add_tcase(s, tc);
    return s;
}
