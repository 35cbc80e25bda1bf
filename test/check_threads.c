/*
 * check_threads.c — the storage engine under concurrency (run under
 * ThreadSanitizer by `make tsan-check`).
 *
 * Several appenders write to the same partitions while several readers
 * follow them from the beginning, across segment rolls (small segments)
 * and group-commit flushes. Every record carries (writer, sequence) and a
 * body derived from them, so readers check that offsets are consecutive,
 * that each writer's records arrive in order with none lost or repeated,
 * and that no byte was torn. Other threads poll offsets and timestamp
 * seeks meanwhile. Nothing asserts on timing.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "util/testutil.h"

#define NPARTS 2
#define NWRITERS 4
#define NREADERS 4 /* per partition */
#define BATCHES 150 /* per writer per partition */
#define MAXN 5

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("threads"); }
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/* Records a writer appends to one partition: seq 0.. over its batches. */
static int batch_len(int w, int b) { return 1 + (w * 7 + b * 3) % MAXN; }

static int64_t expected_records(void)
{
    int64_t n = 0;
    for (int w = 0; w < NWRITERS; w++)
        for (int b = 0; b < BATCHES; b++)
            n += batch_len(w, b);
    return n;
}

static uint32_t body_len(uint32_t w, uint32_t seq) { return (w * 131 + seq * 17) % 400; }
static uint8_t body_byte(uint32_t w, uint32_t seq, uint32_t i)
{
    return (uint8_t)(w * 29 + seq * 13 + i * 7 + (i >> 5));
}

typedef struct shared {
    klog_t *log;
    klog_partition_t *parts[NPARTS];
    atomic_int writers_left;
    atomic_int failures;
    char msg[256];
} shared_t;

static void report(shared_t *sh, const char *fmt, long a, long b, long c)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0)
        snprintf(sh->msg, sizeof sh->msg, fmt, a, b, c);
}

typedef struct writer_arg {
    shared_t *sh;
    int w;
} writer_arg_t;

static void *writer_main(void *v)
{
    writer_arg_t *a = v;
    shared_t *sh = a->sh;
    uint32_t seq[NPARTS] = {0};
    static _Thread_local uint8_t bodies[MAXN][8 + 400];
    klog_record_t recs[MAXN];
    for (int b = 0; b < BATCHES && !atomic_load(&sh->failures); b++) {
        for (int pi = 0; pi < NPARTS; pi++) {
            int n = batch_len(a->w, b);
            memset(recs, 0, sizeof recs);
            for (int i = 0; i < n; i++) {
                uint32_t s = seq[pi]++;
                uint8_t *d = bodies[i];
                memcpy(d, &a->w, 4);
                memcpy(d + 4, &s, 4);
                uint32_t bl = body_len((uint32_t)a->w, s);
                for (uint32_t k = 0; k < bl; k++)
                    d[8 + k] = body_byte((uint32_t)a->w, s, k);
                recs[i].key = "w";
                recs[i].key_len = 1;
                recs[i].value = d;
                recs[i].value_len = (int32_t)(8 + bl);
                recs[i].timestamp = 1700000000000LL + b;
            }
            int64_t base;
            int rc = klog_append(sh->parts[pi], recs, (size_t)n, &base);
            if (rc) {
                report(sh, "writer %ld: append: %ld (batch %ld)", a->w, rc, b);
                break;
            }
            /* Every few batches a durable flush: group commit under load. */
            if (b % 16 == 5 && (rc = klog_flush(sh->parts[pi])) != 0)
                report(sh, "writer %ld: flush: %ld (batch %ld)", a->w, rc, b);
        }
    }
    atomic_fetch_sub(&sh->writers_left, 1);
    return NULL;
}

typedef struct reader_arg {
    shared_t *sh;
    int pi;
    int64_t read;
} reader_arg_t;

static void *reader_main(void *v)
{
    reader_arg_t *a = v;
    shared_t *sh = a->sh;
    klog_reader_t *r;
    int rc = klog_reader_open(sh->parts[a->pi], KLOG_OFFSET_BEGINNING, &r);
    if (rc) {
        report(sh, "reader %ld: open: %ld%ld", a->pi, rc, 0);
        return NULL;
    }
    int64_t total = expected_records(), next = 0;
    int64_t last_seq[NWRITERS];
    for (int w = 0; w < NWRITERS; w++)
        last_seq[w] = -1;
    while (next < total && !atomic_load(&sh->failures)) {
        klog_record_t rec;
        rc = klog_reader_next(r, &rec);
        if (rc == 0) {
            klog_reader_wait(r, 20);
            continue;
        }
        if (rc < 0) {
            report(sh, "partition %ld: next: %ld at %ld", a->pi, rc, (long)next);
            break;
        }
        if (rec.offset != next) {
            report(sh, "partition %ld: offset %ld, want %ld", a->pi, (long)rec.offset, (long)next);
            break;
        }
        uint32_t w, s;
        if (rec.value_len < 8 || rec.key_len != 1) {
            report(sh, "partition %ld: offset %ld: short record (%ld)", a->pi, (long)next,
                 rec.value_len);
            break;
        }
        const uint8_t *d = rec.value;
        memcpy(&w, d, 4);
        memcpy(&s, d + 4, 4);
        if (w >= NWRITERS || (int64_t)s != last_seq[w] + 1) {
            report(sh, "partition %ld: writer %ld seq %ld out of order", a->pi, (long)w, (long)s);
            break;
        }
        last_seq[w] = s;
        uint32_t bl = body_len(w, s);
        if ((uint32_t)rec.value_len != 8 + bl) {
            report(sh, "partition %ld: offset %ld: length %ld", a->pi, (long)next, rec.value_len);
            break;
        }
        for (uint32_t k = 0; k < bl; k++)
            if (d[8 + k] != body_byte(w, s, k)) {
                report(sh, "partition %ld: offset %ld: byte %ld torn", a->pi, (long)next, (long)k);
                break;
            }
        next++;
    }
    a->read = next;
    /* Caught up: nothing more. */
    klog_record_t rec;
    if (!atomic_load(&sh->failures) && (rc = klog_reader_next(r, &rec)) != 0)
        report(sh, "partition %ld: past the end: %ld%ld", a->pi, rc, 0);
    klog_reader_close(r);
    return NULL;
}

/* Offsets stay ordered and timestamp seeks succeed while data moves. */
static void *observer_main(void *v)
{
    shared_t *sh = v;
    while (atomic_load(&sh->writers_left) > 0 && !atomic_load(&sh->failures)) {
        for (int pi = 0; pi < NPARTS; pi++) {
            klog_offsets_t o;
            int rc = klog_partition_offsets(sh->parts[pi], &o);
            if (rc || o.log_start > o.high_watermark || o.high_watermark > o.log_end)
                report(sh, "offsets: rc %ld, hw %ld, end %ld", rc, (long)o.high_watermark,
                     (long)o.log_end);
            int64_t off;
            rc = klog_offset_for_time(sh->parts[pi], 1700000000000LL + 40, &off);
            if (rc)
                report(sh, "offset_for_time: %ld%ld%ld", rc, 0, 0);
        }
    }
    return NULL;
}

START_TEST(threads_append_read)
{
    shared_t sh;
    memset(&sh, 0, sizeof sh);
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, 16384), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_INDEX_INTERVAL_BYTES, 512), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_MAX_OPEN_FILES, 8), 0); /* LRU churn */
    ck_assert_int_eq(klog_open(tmp, c, 0, &sh.log), 0);
    ck_assert_int_eq(klog_topic_create(sh.log, "t", NPARTS, c), KLOG_ECONFIG);
    klog_config_t *tc;
    ck_assert_int_eq(klog_config_new(&tc), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_SEGMENT_BYTES, 16384), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_INDEX_INTERVAL_BYTES, 512), 0);
    ck_assert_int_eq(klog_topic_create(sh.log, "t", NPARTS, tc), 0);
    for (int pi = 0; pi < NPARTS; pi++)
        ck_assert_int_eq(klog_partition(sh.log, "t", pi, &sh.parts[pi]), 0);
    atomic_store(&sh.writers_left, NWRITERS);

    pthread_t wt[NWRITERS], rt[NPARTS * NREADERS], ot;
    writer_arg_t wa[NWRITERS];
    reader_arg_t ra[NPARTS * NREADERS];
    for (int i = 0; i < NPARTS * NREADERS; i++) {
        ra[i] = (reader_arg_t){&sh, i % NPARTS, 0};
        ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
    }
    for (int w = 0; w < NWRITERS; w++) {
        wa[w] = (writer_arg_t){&sh, w};
        ck_assert_int_eq(pthread_create(&wt[w], NULL, writer_main, &wa[w]), 0);
    }
    ck_assert_int_eq(pthread_create(&ot, NULL, observer_main, &sh), 0);
    for (int w = 0; w < NWRITERS; w++)
        pthread_join(wt[w], NULL);
    pthread_join(ot, NULL);
    for (int i = 0; i < NPARTS * NREADERS; i++)
        pthread_join(rt[i], NULL);
    ck_assert_msg(atomic_load(&sh.failures) == 0, "%d failures; first: %s",
                  atomic_load(&sh.failures), sh.msg);

    int64_t total = expected_records();
    for (int i = 0; i < NPARTS * NREADERS; i++)
        ck_assert_int_eq(ra[i].read, total);
    for (int pi = 0; pi < NPARTS; pi++) {
        klog_offsets_t o;
        ck_assert_int_eq(klog_partition_offsets(sh.parts[pi], &o), 0);
        ck_assert_int_eq(o.log_end, total);
        ck_assert_int_eq(o.high_watermark, total);
        ck_assert_int_gt(o.segments, 4);
    }
    ck_assert_int_eq(klog_close(sh.log), 0);

    /* Everything is there after reopen, in order. */
    ck_assert_int_eq(klog_open(tmp, NULL, 0, &sh.log), 0);
    for (int pi = 0; pi < NPARTS; pi++) {
        ck_assert_int_eq(klog_partition(sh.log, "t", pi, &sh.parts[pi]), 0);
        ck_assert_int_eq(atomic_load(&sh.failures), 0);
    }
    atomic_store(&sh.writers_left, 0);
    reader_arg_t again = {&sh, 1, 0};
    reader_main(&again);
    ck_assert_msg(atomic_load(&sh.failures) == 0, "after reopen: %s", sh.msg);
    ck_assert_int_eq(again.read, total);
    ck_assert_int_eq(klog_close(sh.log), 0);
    klog_config_free(c);
    klog_config_free(tc);
}
END_TEST

/* ------------------------------------------------------------ live admin
 * klog_topic_alter_config and klog_topic_add_partitions while other threads
 * append through klog_topic_partition_count / klog_partition_get and read
 * the topic's settings (every roll check): no append fails, every record
 * lands in a partition that existed when it was chosen, and under TSan no
 * access races. */

#define ADMIN_APPENDERS 2
#define ADMIN_RECORDS 3000
#define ADMIN_PARTS 8

typedef struct admin_shared {
    klog_topic_t *t;
    atomic_int failures;
    atomic_long appended[ADMIN_PARTS];
    char msg[256];
} admin_shared_t;

static void *admin_appender(void *v)
{
    admin_shared_t *sh = v;
    char val[64];
    for (int i = 0; i < ADMIN_RECORDS && !atomic_load(&sh->failures); i++) {
        int32_t n = klog_topic_partition_count(sh->t);
        klog_partition_t *p;
        int rc = klog_partition_get(sh->t, i % n, &p);
        klog_record_t r = {0};
        int len = snprintf(val, sizeof val, "record %d of %d partitions", i, (int)n);
        r.value = val;
        r.value_len = len;
        int64_t base;
        if (!rc)
            rc = klog_append(p, &r, 1, &base);
        if (rc) {
            if (atomic_fetch_add(&sh->failures, 1) == 0)
                snprintf(sh->msg, sizeof sh->msg, "append %d to %d of %d: %s", i, i % (int)n,
                         (int)n, klog_strerror(rc));
            break;
        }
        atomic_fetch_add(&sh->appended[i % n], 1);
    }
    return NULL;
}

START_TEST(threads_admin_live)
{
    klog_config_t *tc;
    ck_assert_int_eq(klog_config_new(&tc), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_SEGMENT_BYTES, 8192), 0);
    klog_t *log;
    ck_assert_int_eq(klog_open(tmp, NULL, 0, &log), 0);
    ck_assert_int_eq(klog_topic_create(log, "live", 1, tc), 0);
    admin_shared_t sh;
    memset(&sh, 0, sizeof sh);
    ck_assert_int_eq(klog_topic_get(log, "live", &sh.t), 0);
    pthread_t th[ADMIN_APPENDERS];
    for (int i = 0; i < ADMIN_APPENDERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, admin_appender, &sh), 0);
    for (int32_t n = 2; n <= ADMIN_PARTS; n++) {
        klog_config_t *ch;
        ck_assert_int_eq(klog_config_new(&ch), 0);
        ck_assert_int_eq(klog_config_set(ch, KLOG_CONF_SEGMENT_BYTES, n % 2 ? 8192 : 16384), 0);
        ck_assert_int_eq(klog_topic_alter_config(log, "live", ch, NULL, 0), 0);
        klog_config_free(ch);
        ck_assert_int_eq(klog_topic_add_partitions(log, "live", n), 0);
    }
    for (int i = 0; i < ADMIN_APPENDERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_msg(atomic_load(&sh.failures) == 0, "%s", sh.msg);
    ck_assert_int_eq(klog_topic_partition_count(sh.t), ADMIN_PARTS);
    long total = 0;
    for (int32_t j = 0; j < ADMIN_PARTS; j++) {
        klog_partition_t *p;
        ck_assert_int_eq(klog_partition_get(sh.t, j, &p), 0);
        klog_offsets_t o;
        ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
        ck_assert_int_eq(o.log_end, atomic_load(&sh.appended[j]));
        total += o.log_end;
    }
    ck_assert_int_eq(total, (long)ADMIN_APPENDERS * ADMIN_RECORDS);
    int64_t v;
    ck_assert_int_eq(klog_topic_config(sh.t, KLOG_CONF_SEGMENT_BYTES, &v), 0);
    ck_assert_int_eq(v, 16384); /* the last change, for 8 partitions */
    ck_assert_int_eq(klog_close(log), 0);
    klog_config_free(tc);
}
END_TEST

Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("storage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, threads_append_read);
    tcase_add_test(tc, threads_admin_live);
    suite_add_tcase(s, tc);
    return s;
}
