/*
 * check_admin.c — changing a topic after creation through the public API:
 * klog_topic_alter_config (values set and removed, persisted across a
 * reopen, applied to the next append and roll, bad keys and read-only
 * opens refused with nothing changed) and klog_topic_add_partitions (new
 * empty partitions, old data untouched, persisted, never fewer).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "util/testutil.h"

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("admin"); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

#define CK_RC(expr, want)                                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        int want_ = (want);                                                                  \
        ck_assert_msg(rc_ == want_, "%s = %d (%s), want %s", #expr, rc_, klog_err_name(rc_), \
                      klog_err_name(want_));                                                 \
    } while (0)
#define CK_OK(expr) CK_RC(expr, 0)

static int64_t conf(klog_t *log, const char *topic, int key)
{
    klog_topic_t *t;
    int64_t v = -12345;
    CK_OK(klog_topic_get(log, topic, &t));
    CK_OK(klog_topic_config(t, key, &v));
    return v;
}

static void append_n(klog_t *log, const char *topic, int32_t part, int n, size_t vlen)
{
    klog_partition_t *p;
    char *val = malloc(vlen);
    ck_assert_ptr_nonnull(val);
    memset(val, 'v', vlen);
    CK_OK(klog_partition(log, topic, part, &p));
    for (int i = 0; i < n; i++) {
        klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                           .value = val, .value_len = (int32_t)vlen};
        CK_OK(klog_append(p, &r, 1, NULL));
    }
    free(val);
}

START_TEST(alter_config_set_remove_persist)
{
    klog_t *log;
    klog_config_t *c;
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_config_new(&c));
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_MS, 5000));
    CK_OK(klog_topic_create(log, "t", 1, c));
    klog_config_free(c);

    /* Set two keys, one of them new to the topic. */
    CK_OK(klog_config_new(&c));
    CK_OK(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, 2048));
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_MS, 9000));
    CK_OK(klog_topic_alter_config(log, "t", c, NULL, 0));
    klog_config_free(c);
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_SEGMENT_BYTES), 2048);
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_RETENTION_MS), 9000);

    /* The new segment.bytes governs the next rolls: 40 batches of ~260
     * bytes cannot stay in one 2 KiB segment. */
    append_n(log, "t", 0, 40, 200);
    klog_partition_t *p;
    klog_offsets_t off;
    CK_OK(klog_partition(log, "t", 0, &p));
    CK_OK(klog_partition_offsets(p, &off));
    ck_assert_int_ge(off.segments, 4);

    /* Remove one override: the default (7 days) applies again. */
    int rm = KLOG_CONF_RETENTION_MS;
    CK_OK(klog_topic_alter_config(log, "t", NULL, &rm, 1));
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_RETENTION_MS), 7LL * 24 * 3600 * 1000);
    CK_OK(klog_close(log));

    CK_OK(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &log));
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_SEGMENT_BYTES), 2048);
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_RETENTION_MS), 7LL * 24 * 3600 * 1000);
    CK_RC(klog_topic_alter_config(log, "t", NULL, &rm, 1), KLOG_EREADONLY);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(alter_config_errors)
{
    klog_t *log;
    klog_config_t *c;
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_topic_create(log, "t", 1, NULL));
    CK_OK(klog_config_new(&c));
    CK_OK(klog_config_set(c, KLOG_CONF_MAX_OPEN_FILES, 64)); /* log-level key */
    CK_RC(klog_topic_alter_config(log, "t", c, NULL, 0), KLOG_ECONFIG);
    klog_config_free(c);
    int bad = KLOG_CONF_CHECKPOINT_MS, unknown = 999;
    CK_RC(klog_topic_alter_config(log, "t", NULL, &bad, 1), KLOG_ECONFIG);
    CK_RC(klog_topic_alter_config(log, "t", NULL, &unknown, 1), KLOG_ECONFIG);
    CK_RC(klog_topic_alter_config(log, "t", NULL, NULL, 1), -EINVAL);
    CK_RC(klog_topic_alter_config(log, "nope", NULL, NULL, 0), KLOG_ENOTOPIC);
    CK_RC(klog_topic_alter_config(log, "a/b", NULL, NULL, 0), KLOG_EBADNAME);
    CK_RC(klog_topic_alter_config(NULL, "t", NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(conf(log, "t", KLOG_CONF_SEGMENT_BYTES), 1073741824); /* unchanged */
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(add_partitions)
{
    klog_t *log;
    klog_topic_t *t;
    klog_partition_t *p;
    klog_offsets_t off;
    CK_OK(klog_open(tmp, NULL, 0, &log));
    CK_OK(klog_topic_create(log, "t", 2, NULL));
    append_n(log, "t", 1, 7, 10);
    CK_RC(klog_topic_add_partitions(log, "t", 2), -EINVAL);
    CK_RC(klog_topic_add_partitions(log, "t", 1), -EINVAL);
    CK_RC(klog_topic_add_partitions(log, "t", 100001), -EINVAL);
    CK_RC(klog_topic_add_partitions(log, "nope", 4), KLOG_ENOTOPIC);
    CK_OK(klog_topic_add_partitions(log, "t", 5));
    CK_OK(klog_topic_get(log, "t", &t));
    ck_assert_int_eq(klog_topic_partition_count(t), 5);
    CK_OK(klog_partition_get(t, 4, &p));
    CK_OK(klog_partition_offsets(p, &off));
    ck_assert_int_eq(off.log_end, 0);
    append_n(log, "t", 4, 3, 10);
    CK_OK(klog_close(log));

    CK_OK(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &log));
    CK_OK(klog_topic_get(log, "t", &t));
    ck_assert_int_eq(klog_topic_partition_count(t), 5);
    CK_OK(klog_partition_get(t, 1, &p));
    CK_OK(klog_partition_offsets(p, &off));
    ck_assert_int_eq(off.high_watermark, 7);
    CK_OK(klog_partition_get(t, 4, &p));
    CK_OK(klog_partition_offsets(p, &off));
    ck_assert_int_eq(off.high_watermark, 3);
    CK_RC(klog_topic_add_partitions(log, "t", 6), KLOG_EREADONLY);
    CK_OK(klog_close(log));
}
END_TEST

Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("topic");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, alter_config_set_remove_persist);
    tcase_add_test(tc, alter_config_errors);
    tcase_add_test(tc, add_partitions);
    suite_add_tcase(s, tc);
    return s;
}
