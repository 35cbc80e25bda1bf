/*
 * check_adopt.c — klog_adopt(): taking over a log directory Apache Kafka
 * wrote. The Kafka directories here are made by writing a libklog log and
 * removing every file of libklog's own (klog.topics, klog.lock, klog.state,
 * .seal), leaving Kafka-format segments, indexes and checkpoints, then
 * adding the files a Kafka broker keeps beside them (meta.properties,
 * partition.metadata, leader-epoch-checkpoint, a pending-delete directory,
 * an internal topic). test/interop/kafka_adopt.sh does the same against
 * directories a real Kafka broker wrote.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir("adopt");
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

static void rec_of(int i, char *key, char *val, klog_record_t *r)
{
    snprintf(key, 32, "key-%d", i);
    snprintf(val, 64, "value %d of the kafka directory", i);
    *r = (klog_record_t){.timestamp = 1700000000000 + i, .key = key,
                         .key_len = (int32_t)strlen(key), .value = val,
                         .value_len = (int32_t)strlen(val)};
}

/* Write `n` records to each partition of `topic`, in batches of 10. */
static void fill(klog_t *log, const char *topic, int32_t parts, int n)
{
    for (int32_t p = 0; p < parts; p++) {
        klog_partition_t *kp;
        ck_assert_int_eq(klog_partition(log, topic, p, &kp), 0);
        for (int i = 0; i < n; i += 10) {
            char keys[10][32], vals[10][64];
            klog_record_t r[10];
            for (int j = 0; j < 10; j++)
                rec_of(i + j + p * 1000, keys[j], vals[j], &r[j]);
            ck_assert_int_eq(klog_append(kp, r, 10, NULL), 0);
        }
    }
}

static void strip_libklog_files(const char *d)
{
    DIR *dd = opendir(d);
    ck_assert_ptr_nonnull(dd);
    struct dirent *e;
    while ((e = readdir(dd))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", d, e->d_name);
        size_t n = strlen(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            strip_libklog_files(path);
            continue;
        }
        if (!strcmp(e->d_name, "klog.topics") || !strcmp(e->d_name, "klog.lock") ||
            !strcmp(e->d_name, "klog.state") || (n > 5 && !strcmp(e->d_name + n - 5, ".seal")))
            ck_assert_int_eq(unlink(path), 0);
    }
    closedir(dd);
}

/* A directory as a stopped Kafka broker leaves it: topic orders (3
 * partitions of 200 records), internal topic __consumer_offsets, and
 * Kafka's own files. */
static void make_kafka_dir(void)
{
    klog_t *log;
    ck_assert_int_eq(klog_open(dir, NULL, 0, &log), 0);
    ck_assert_int_eq(klog_topic_create(log, "orders", 3, NULL), 0);
    ck_assert_int_eq(klog_topic_create(log, "__consumer_offsets", 1, NULL), 0);
    fill(log, "orders", 3, 200);
    fill(log, "__consumer_offsets", 1, 20);
    ck_assert_int_eq(klog_close(log), 0);
    strip_libklog_files(dir);
    static const char meta[] = "version=1\nnode.id=1\ncluster.id=abc\n";
    static const char pm[] = "version: 0\ntopic_id: fArdwapgRA2DbGd6Ft-Lsg";
    static const char lec[] = "0\n1\n0 0\n";
    ck_assert_int_eq(tu_write_file(dir, "meta.properties", meta, sizeof meta - 1), 0);
    for (int p = 0; p < 3; p++) {
        char d[4096];
        snprintf(d, sizeof d, "%s/orders-%d", dir, p);
        ck_assert_int_eq(tu_write_file(d, "partition.metadata", pm, sizeof pm - 1), 0);
        ck_assert_int_eq(tu_write_file(d, "leader-epoch-checkpoint", lec, sizeof lec - 1), 0);
    }
    /* Kafka's pending delete of an older incarnation: not a partition */
    char del[4096];
    snprintf(del, sizeof del, "%s/orders-1.0123456789abcdef0123456789abcdef-delete", dir);
    ck_assert_int_eq(mkdir(del, 0755), 0);
}

static int exists(const char *sub)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return stat(path, &st) == 0;
}

START_TEST(test_adopt_reads_every_record)
{
    make_kafka_dir();
    ck_assert(!exists("klog.topics"));
    klog_t *log;
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), 0);
    char **names;
    ck_assert_int_eq(klog_topic_list(log, &names), 1); /* __consumer_offsets left out */
    ck_assert_str_eq(names[0], "orders");
    free(names);
    klog_topic_t *t;
    ck_assert_int_eq(klog_topic_get(log, "orders", &t), 0);
    ck_assert_int_eq(klog_topic_partition_count(t), 3);
    for (int32_t p = 0; p < 3; p++) {
        klog_partition_t *kp;
        klog_reader_t *r;
        ck_assert_int_eq(klog_partition_get(t, p, &kp), 0);
        ck_assert_int_eq(klog_reader_open(kp, KLOG_OFFSET_BEGINNING, &r), 0);
        klog_record_t got;
        int n = 0;
        while (klog_reader_next(r, &got) == 1) {
            char key[32], val[64];
            klog_record_t want;
            rec_of(n + p * 1000, key, val, &want);
            ck_assert_int_eq(got.offset, n);
            ck_assert_int_eq(got.timestamp, want.timestamp);
            ck_assert_int_eq(got.key_len, want.key_len);
            ck_assert_mem_eq(got.key, want.key, (size_t)want.key_len);
            ck_assert_int_eq(got.value_len, want.value_len);
            ck_assert_mem_eq(got.value, want.value, (size_t)want.value_len);
            n++;
        }
        ck_assert_int_eq(n, 200);
        klog_reader_close(r);
    }
    /* appends continue after Kafka's data */
    klog_partition_t *kp;
    char key[32], val[64];
    klog_record_t r;
    int64_t base;
    rec_of(5, key, val, &r);
    ck_assert_int_eq(klog_partition(log, "orders", 2, &kp), 0);
    ck_assert_int_eq(klog_append(kp, &r, 1, &base), 0);
    ck_assert_int_eq(base, 200);
    ck_assert_int_eq(klog_close(log), 0);
    /* Kafka's files are all still there */
    ck_assert(exists("meta.properties"));
    ck_assert(exists("orders-0/partition.metadata"));
    ck_assert(exists("orders-2/leader-epoch-checkpoint"));
    /* a pending topic deletion is completed, as Kafka's next start would */
    ck_assert(!exists("orders-1.0123456789abcdef0123456789abcdef-delete"));
    ck_assert(exists("__consumer_offsets-0/00000000000000000000.log"));
    /* and the directory now opens as a libklog log */
    ck_assert_int_eq(klog_open(dir, NULL, KLOG_OPEN_NOCREATE, &log), 0);
    ck_assert_int_eq(klog_topic_list(log, &names), 1);
    free(names);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

START_TEST(test_adopt_internal_and_config)
{
    make_kafka_dir();
    klog_config_t *tc;
    ck_assert_int_eq(klog_config_new(&tc), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_RETENTION_MS, -1), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_SEGMENT_BYTES, 1 << 20), 0);
    klog_t *log;
    ck_assert_int_eq(klog_adopt(dir, NULL, tc, KLOG_ADOPT_INTERNAL, &log), 0);
    klog_config_free(tc);
    char **names;
    ck_assert_int_eq(klog_topic_list(log, &names), 2);
    free(names);
    klog_topic_t *t;
    int64_t v;
    ck_assert_int_eq(klog_topic_get(log, "orders", &t), 0);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_RETENTION_MS, &v), 0);
    ck_assert_int_eq(v, -1);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_SEGMENT_BYTES, &v), 0);
    ck_assert_int_eq(v, 1 << 20);
    ck_assert_int_eq(klog_topic_get(log, "__consumer_offsets", &t), 0);
    klog_partition_t *kp;
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_get(t, 0, &kp), 0);
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    ck_assert_int_eq(o.log_end, 20);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

START_TEST(test_adopt_refusals)
{
    klog_t *log = (klog_t *)&log;
    /* no partition directory at all */
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), -ENOENT);
    ck_assert_ptr_null(log);
    ck_assert(!exists("klog.topics"));
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0x80, &log), -EINVAL);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/nowhere", dir);
    ck_assert_int_eq(klog_adopt(missing, NULL, NULL, 0, &log), -ENOENT);

    /* a hole in a topic's partitions: nothing written */
    make_kafka_dir();
    char p1[4096];
    snprintf(p1, sizeof p1, "%s/orders-1", dir);
    tu_rmtree(p1);
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), KLOG_ECORRUPT);
    ck_assert(!exists("klog.topics"));
}
END_TEST

START_TEST(test_adopt_twice_refused)
{
    make_kafka_dir();
    klog_t *log;
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), 0);
    ck_assert_int_eq(klog_close(log), 0);
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), -EEXIST);
    /* an open failure takes klog.topics back: here the log is locked */
    teardown();
    setup();
    make_kafka_dir();
    /* klog_open refuses a directory whose partitions hold data but that has
     * no klog.topics (issue 21 item 6), so hold klog.lock as a writer does. */
    char lk[4096];
    snprintf(lk, sizeof lk, "%s/klog.lock", dir);
    int holder = open(lk, O_RDWR | O_CREAT, 0644);
    ck_assert_int_ge(holder, 0);
    ck_assert_int_eq(flock(holder, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_eq(klog_adopt(dir, NULL, NULL, 0, &log), KLOG_ELOCKED);
    ck_assert(!exists("klog.topics"));
    close(holder);
}
END_TEST

Suite *adopt_suite(void)
{
    Suite *s = suite_create("adopt");
    TCase *tc = tcase_create("adopt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_adopt_reads_every_record);
    tcase_add_test(tc, test_adopt_internal_and_config);
    tcase_add_test(tc, test_adopt_refusals);
    tcase_add_test(tc, test_adopt_twice_refused);
    suite_add_tcase(s, tc);
    return s;
}
