/*
 * check_dump_txn.c — `klogcat dump` of the producer and transaction state
 * files libklog writes in Kafka's formats (.snapshot, .txnindex,
 * leader-epoch-checkpoint) and of klog.producer-ids: each decoded, each
 * kind of damage reported as a problem with exit status 1 (issue 20's
 * "dump refuses ..." item, for the files issue 15 added).
 *
 *  - dumps_state_files: a partition with idempotent batches, committed
 *    and aborted transactions and three leader epochs; every file of it
 *    dumps with exit 0 and shows the producers, the aborted transactions
 *    and the epochs.
 *  - reports_damage: a flipped snapshot byte (CRC), a torn .txnindex
 *    entry, an epoch checkpoint whose count lies, a flipped
 *    klog.producer-ids byte: each exit 1 naming the problem.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"
#include "util/tu_txn.h"

static char *tmp;
static void setup(void) { tmp = tu_tmpdir("dumptxn"); }
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

static size_t value(void *ctx, int64_t offset, char *buf, size_t cap)
{
    (void)ctx;
    return (size_t)snprintf(buf, cap, "v%lld", (long long)offset);
}

/* Run `klogcat dump ARGS` in the partition directory; its output in *out
 * (malloc'd), its exit status returned. */
static int dump(const char *files, char **out)
{
    const char *build = getenv("KLOG_BUILD");
    char cmd[8192], cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "cd '%s/t-0' && '%s/%s/klogcat' dump %s 2>&1", tmp,
             build && build[0] == '/' ? "" : cwd, build ? build : "build", files);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            s = realloc(s, cap *= 2);
    }
    s[len] = 0;
    int st = pclose(f);
    *out = s;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_log(void)
{
    klog_config_t *cfg;
    klog_t *log;
    CK_OK(klog_config_new(&cfg));
    CK_OK(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 1024));
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_topic_create(log, "t", 1, cfg));
    klog_config_free(cfg);
    klog_partition_t *p;
    CK_OK(klog_partition(log, "t", 0, &p));
    int64_t end = 0;
    long markers = 0;
    for (int k = 0; k < 36; k++)
        CK_OK(tu_txn_step(p, k, k / 12, 0, &end, &markers, value, NULL));
    int64_t id;
    CK_OK(klog_producer_id_alloc(log, &id));
    ck_assert_int_eq(id, 202); /* past producers 100, 200 and 201 */
    CK_OK(klog_close(log));
}

static char *ls(const char *suffix)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s/t-0' && ls *%s | tr '\\n' ' '", tmp, suffix);
    FILE *f = popen(cmd, "r");
    char *s = calloc(1, 4096);
    ck_assert_uint_gt(fread(s, 1, 4095, f), 0);
    pclose(f);
    return s;
}

START_TEST(dumps_state_files)
{
    make_log();
    char *snaps = ls(".snapshot"), *txns = ls(".txnindex"), *out;
    char files[8192];
    snprintf(files, sizeof files, "%s %s leader-epoch-checkpoint ../klog.producer-ids", snaps,
             txns);
    int st = dump(files, &out);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, out);
    ck_assert_ptr_nonnull(strstr(out, "producer state snapshot version: 1"));
    ck_assert_ptr_nonnull(strstr(out, "producerId: 100 producerEpoch: 0"));
    ck_assert_ptr_nonnull(strstr(out, "producerId: 201 "));
    ck_assert_ptr_nonnull(strstr(out, "version: 0 producerId: 20"));
    ck_assert_ptr_nonnull(strstr(out, "entries: 3\nepoch: 0 startOffset: 0\nepoch: 1 startOffset:"));
    ck_assert_ptr_nonnull(strstr(out, "epoch: 2 startOffset:"));
    ck_assert_ptr_nonnull(strstr(out, "producer ids reserved below: 1202"));
    ck_assert_ptr_null(strstr(out, "problem"));
    free(out);
    free(snaps);
    free(txns);
}
END_TEST

static void damage(const char *name, long at, int flip, long truncate_to)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    if (flip) {
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ flip, f);
    }
    fclose(f);
    if (truncate_to >= 0)
        ck_assert_int_eq(truncate(path, truncate_to), 0);
}

START_TEST(reports_damage)
{
    make_log();
    char *snaps = ls(".snapshot"), *txns = ls(".txnindex"), *out, name[4096];
    *strchr(snaps, ' ') = 0;
    *strchr(txns, ' ') = 0;
    snprintf(name, sizeof name, "t-0/%s", snaps);
    damage(name, 12, 0x40, -1);
    ck_assert_int_eq(dump(snaps, &out), 1);
    ck_assert_msg(strstr(out, "problem at position 2: CRC-32C") != NULL, "%s", out);
    free(out);

    snprintf(name, sizeof name, "t-0/%s", txns);
    damage(name, 0, 0, 34 + 30);
    ck_assert_int_eq(dump(txns, &out), 1);
    ck_assert_msg(strstr(out, "problem at position 34: 30 trailing bytes") != NULL, "%s", out);
    free(out);

    CK_OK(tu_write_file(tmp, "t-0/leader-epoch-checkpoint", "0\n3\n0 0\n1 5\n", 12));
    ck_assert_int_eq(dump("leader-epoch-checkpoint", &out), 1);
    ck_assert_msg(strstr(out, "3 entries declared, 2 found") != NULL, "%s", out);
    free(out);
    CK_OK(tu_write_file(tmp, "t-0/leader-epoch-checkpoint", "0\n2\n1 5\n0 9\n", 12));
    ck_assert_int_eq(dump("leader-epoch-checkpoint", &out), 1);
    ck_assert_msg(strstr(out, "epochs and start offsets must increase") != NULL, "%s", out);
    free(out);

    damage("klog.producer-ids", 17, 1, -1);
    ck_assert_int_eq(dump("../klog.producer-ids", &out), 1);
    ck_assert_msg(strstr(out, "problem at position 24: checksum mismatch") != NULL, "%s", out);
    free(out);
    free(snaps);
    free(txns);
}
END_TEST

Suite *dump_txn_suite(void)
{
    Suite *s = suite_create("dump_txn");
    TCase *tc = tcase_create("dump_txn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dumps_state_files);
    tcase_add_test(tc, reports_damage);
    suite_add_tcase(s, tc);
    return s;
}
