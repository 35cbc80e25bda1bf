/*
 * check_pidalloc.c — klog_producer_id_alloc: producer ids a log directory
 * never hands out twice (issue 15 item 5, issue 17's InitProducerId).
 *
 *  - ids_unique_across_reopen: ids increase; a reopen starts past the
 *    reserved block, so nothing handed out before comes back.
 *  - ids_unique_after_kill: a child process allocates ids and dies without
 *    closing (_exit); the next opener's ids are above all of them.
 *  - missing_file_starts_past_state: a log whose partitions hold producer
 *    state (written with explicit ids, or adopted from Kafka) and no
 *    klog.producer-ids starts past the largest id there.
 *  - corrupt_file_warns_and_skips: a damaged file is reported through the
 *    log callback and ids restart past the state plus a margin; a newer
 *    version is refused (KLOG_EVERSION), never guessed over.
 *  - failed_reservation_hands_nothing: a failed write of the file returns
 *    its error and hands out no id; the next call reserves and goes on.
 *  - readonly_refused: KLOG_EREADONLY on a read-only open; -EINVAL.
 *  - file_decoder_rejects_damage: every truncation and every bit flip of
 *    the 32-byte file is KLOG_ECORRUPT or KLOG_EVERSION.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "storage/pidalloc.h"
#include "util/testutil.h"

static char *tmp;
static void setup(void) { tmp = tu_tmpdir("pidalloc"); }
static void teardown(void)
{
    klog__fault_clear();
    tu_rmtree(tmp);
    free(tmp);
}

#define CK_OK(expr)                                                             \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        ck_assert_msg(rc_ == 0, "%s: %s (%d)", #expr, klog_err_name(rc_), rc_); \
    } while (0)

static int warnings;
static void on_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level == KLOG_LOG_WARN && strstr(msg, "klog.producer-ids"))
        warnings++;
}

static klog_t *open_log(unsigned flags)
{
    klog_config_t *cfg;
    klog_t *log;
    CK_OK(klog_config_new(&cfg));
    klog_config_set_logger(cfg, on_log, NULL);
    CK_OK(klog_open(tmp, cfg, flags, &log));
    klog_config_free(cfg);
    return log;
}

static int64_t alloc(klog_t *log)
{
    int64_t id = -1;
    CK_OK(klog_producer_id_alloc(log, &id));
    ck_assert_int_ge(id, 0);
    return id;
}

START_TEST(ids_unique_across_reopen)
{
    klog_t *log = open_log(0);
    int64_t prev = -1;
    for (int i = 0; i < 2500; i++) { /* three blocks */
        int64_t id = alloc(log);
        ck_assert_int_eq(id, prev + 1);
        prev = id;
    }
    CK_OK(klog_close(log));
    log = open_log(0);
    int64_t id = alloc(log);
    ck_assert_int_gt(id, prev);
    ck_assert_int_eq(id, 3000); /* the rest of the third block is skipped */
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(ids_unique_after_kill)
{
    klog_close(open_log(0));
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        klog_t *log;
        if (klog_open(tmp, NULL, 0, &log))
            _exit(2);
        for (int i = 0; i < 1234; i++) {
            int64_t id;
            if (klog_producer_id_alloc(log, &id) || write(fds[1], &id, sizeof id) != sizeof id)
                _exit(3);
        }
        _exit(0); /* as a kill -9: no close */
    }
    close(fds[1]);
    int64_t id, max = -1;
    long n = 0;
    while (read(fds[0], &id, sizeof id) == sizeof id) {
        ck_assert_int_gt(id, max);
        max = id;
        n++;
    }
    close(fds[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(n, 1234);
    klog_t *log = open_log(0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_gt(alloc(log), max);
    CK_OK(klog_close(log));
}
END_TEST

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One batch of n records by producer pid/epoch from sequence 0, stamped
 * now (so the producer is not idle past its expiration at the next open). */
static void append_as(klog_partition_t *p, int64_t pid, int16_t epoch, int n)
{
    klog_builder_t *b;
    CK_OK(klog_builder_new(KLOG_COMPRESSION_NONE, &b));
    CK_OK(klog_builder_set_producer(b, pid, epoch, 0, 0));
    for (int i = 0; i < n; i++) {
        klog_record_t r = {.timestamp = now_ms(), .key_len = KLOG_NULL_LEN,
                           .value = "v", .value_len = 1};
        CK_OK(klog_builder_add(b, &r));
    }
    const void *data;
    size_t len;
    int64_t base;
    CK_OK(klog_builder_finish(b, &data, &len));
    CK_OK(klog_append_batch(p, data, len, &base));
    klog_builder_free(b);
}

/* A log whose partition p0 of topic "t" holds producers 7 and 41000. */
static void log_with_producers(void)
{
    klog_t *log = open_log(0);
    CK_OK(klog_topic_create(log, "t", 2, NULL));
    klog_partition_t *p;
    CK_OK(klog_partition(log, "t", 1, &p));
    append_as(p, 7, 0, 3);
    append_as(p, 41000, 2, 2);
    CK_OK(klog_close(log));
    char path[4096];
    snprintf(path, sizeof path, "%s/klog.producer-ids", tmp);
    ck_assert_msg(access(path, F_OK) != 0, "no allocation ran: no file");
}

START_TEST(missing_file_starts_past_state)
{
    log_with_producers();
    klog_t *log = open_log(0);
    ck_assert_int_eq(alloc(log), 41001);
    ck_assert_int_eq(alloc(log), 41002);
    CK_OK(klog_close(log));
    log = open_log(0);
    ck_assert_int_eq(alloc(log), 42001); /* now from the file */
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(corrupt_file_warns_and_skips)
{
    log_with_producers();
    klog_t *log = open_log(0);
    ck_assert_int_eq(alloc(log), 41001);
    CK_OK(klog_close(log));
    size_t len;
    uint8_t *buf = tu_read_file(tmp, "klog.producer-ids", &len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(len, KLOG__PIDS_SIZE);
    buf[20] ^= 0x10; /* a bit of reserved_end */
    CK_OK(tu_write_file(tmp, "klog.producer-ids", buf, len));
    warnings = 0;
    log = open_log(0);
    int64_t id = alloc(log);
    ck_assert_int_eq(warnings, 1);
    ck_assert_int_ge(id, 41001 + 1000000);
    CK_OK(klog_close(log));

    /* A newer format version: refused, the file left as it is. */
    klog__pids_encode(5000, buf);
    buf[11] = 2;
    CK_OK(tu_write_file(tmp, "klog.producer-ids", buf, len));
    log = open_log(0);
    int64_t x = -1;
    ck_assert_int_eq(klog_producer_id_alloc(log, &x), KLOG_EVERSION);
    ck_assert_int_eq(x, -1);
    CK_OK(klog_close(log));
    free(buf);
}
END_TEST

START_TEST(failed_reservation_hands_nothing)
{
    klog_t *log = open_log(0);
    int64_t id = -1;
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, ENOSPC, 0, 0);
    ck_assert_int_eq(klog_producer_id_alloc(log, &id), -ENOSPC);
    ck_assert_int_eq(id, -1);
    klog__fault_clear();
    ck_assert_int_eq(alloc(log), 0);
    for (int i = 1; i < 1000; i++)
        ck_assert_int_eq(alloc(log), i);
    /* The next block's reservation fails at its rename: still nothing. */
    klog__fault_arm(KLOG__FAULT_RENAME, 1, EIO, 0, 0);
    ck_assert_int_eq(klog_producer_id_alloc(log, &id), -EIO);
    ck_assert_int_eq(id, -1);
    klog__fault_clear();
    ck_assert_int_eq(alloc(log), 1000);
    CK_OK(klog_close(log));
    log = open_log(0);
    ck_assert_int_eq(alloc(log), 2000);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(readonly_refused)
{
    klog_t *w = open_log(0);
    ck_assert_int_eq(alloc(w), 0);
    klog_t *r = open_log(KLOG_OPEN_RDONLY);
    int64_t id = -1;
    ck_assert_int_eq(klog_producer_id_alloc(r, &id), KLOG_EREADONLY);
    ck_assert_int_eq(klog_producer_id_alloc(w, NULL), -EINVAL);
    ck_assert_int_eq(klog_producer_id_alloc(NULL, &id), -EINVAL);
    ck_assert_int_eq(id, -1);
    CK_OK(klog_close(r));
    CK_OK(klog_close(w));
}
END_TEST

START_TEST(file_decoder_rejects_damage)
{
    uint8_t buf[KLOG__PIDS_SIZE], d[KLOG__PIDS_SIZE + 1];
    int64_t end = -1;
    klog__pids_encode(123000, buf);
    ck_assert_int_eq(klog__pids_decode(buf, sizeof buf, &end), 0);
    ck_assert_int_eq(end, 123000);
    for (size_t n = 0; n < sizeof buf; n++) {
        int rc = klog__pids_decode(buf, n, &end);
        ck_assert_msg(rc == KLOG_ECORRUPT, "length %zu: %d", n, rc);
    }
    memcpy(d, buf, sizeof buf);
    d[sizeof buf] = 0;
    ck_assert_int_eq(klog__pids_decode(d, sizeof d, &end), KLOG_ECORRUPT);
    for (size_t bit = 0; bit < 8 * sizeof buf; bit++) {
        memcpy(d, buf, sizeof buf);
        d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = klog__pids_decode(d, sizeof buf, &end);
        ck_assert_msg(rc == KLOG_ECORRUPT || (rc == KLOG_EVERSION && bit / 8 >= 8 && bit / 8 < 12),
                      "bit %zu: %d", bit, rc);
    }
    ck_assert_int_eq(end, 123000);
    klog__pids_encode(-5, buf); /* a negative end is not a reservation */
    ck_assert_int_eq(klog__pids_decode(buf, sizeof buf, &end), KLOG_ECORRUPT);
}
END_TEST

Suite *pidalloc_suite(void)
{
    Suite *s = suite_create("pidalloc");
    TCase *tc = tcase_create("pidalloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ids_unique_across_reopen);
    tcase_add_test(tc, ids_unique_after_kill);
    tcase_add_test(tc, missing_file_starts_past_state);
    tcase_add_test(tc, corrupt_file_warns_and_skips);
    tcase_add_test(tc, failed_reservation_hands_nothing);
    tcase_add_test(tc, readonly_refused);
    tcase_add_test(tc, file_decoder_rejects_damage);
    suite_add_tcase(s, tc);
    return s;
}
