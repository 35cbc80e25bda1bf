/*
 * check_producer_idem.c — the producer's idempotent mode and retries
 * (lib/produce/psend.c) and the topic's producer.id.expiration.ms:
 *   - every batch carries the producer's id (from klog_producer_id_alloc,
 *     distinct per producer), epoch and per-partition sequence;
 *   - an append failing transiently (an injected ENOSPC creating the next
 *     segment) is retried with the same bytes: every record stored once,
 *     in order, every callback a success with its offset; retries
 *     exhausted: the records fail, the sequence does not move, and the
 *     next batch is accepted with no gap; a failed write is not retried
 *     (the partition is failed) and the original error is reported;
 *   - an instance of the same id and epoch sending the same batches again
 *     is answered with the original offsets (the callbacks report them);
 *   - a newer epoch of the id fences the older producer (KLOG_EFENCED in
 *     its callbacks, from klog_produce and flush);
 *   - the sequence wraps after INT32_MAX to 0, also inside a batch;
 *   - the topic's KLOG_CONF_PRODUCER_ID_EXPIRATION_MS decides when
 *     klog_retention() forgets a producer (after which a resent batch is
 *     written again), and klog_topic_alter_config changes it.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"
#include "produce/producer.h"
#include "util/testutil.h"

static char *tmp;
static klog_t *log_;
static int close_rc;

static void setup(void)
{
    close_rc = 0;
    tmp = tu_tmpdir("pidem");
    ck_assert_int_eq(klog_open(tmp, NULL, 0, &log_), 0);
}

static void teardown(void)
{
    klog__fault_clear();
    ck_assert_int_eq(klog_close(log_), close_rc);
    log_ = NULL;
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/* kv: (key, value) pairs, 0-terminated. */
static klog_config_t *conf(const int64_t *kv)
{
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    for (; kv && kv[0]; kv += 2)
        ck_assert_int_eq(klog_config_set(c, (int)kv[0], kv[1]), 0);
    return c;
}

static void make_topic(const char *name, int32_t parts, const int64_t *kv)
{
    klog_config_t *c = conf(kv);
    ck_assert_int_eq(klog_topic_create(log_, name, parts, c), 0);
    klog_config_free(c);
}

static klog_producer_t *make_producer(const int64_t *kv)
{
    klog_config_t *c = conf(kv);
    klog_producer_t *p;
    ck_assert_int_eq(klog_producer_new(log_, c, &p), 0);
    klog_config_free(c);
    return p;
}

static klog_partition_t *part(const char *topic, int32_t id)
{
    klog_partition_t *p;
    ck_assert_int_eq(klog_partition(log_, topic, id, &p), 0);
    return p;
}

static int64_t log_end(const char *topic, int32_t id)
{
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part(topic, id), &o), 0);
    return o.log_end;
}

/* ------------------------------------------------------------ deliveries */

#define MAXD 4096
typedef struct {
    pthread_mutex_t mu;
    size_t n;
    struct {
        intptr_t id;
        int64_t off;
        int err;
    } v[MAXD];
} dl_t;

static dl_t dl;

static void on_dl(void *ctx, const klog_record_t *rec, int32_t p, int64_t off, int err, void *op)
{
    dl_t *d = ctx;
    (void)rec, (void)p;
    pthread_mutex_lock(&d->mu);
    if (d->n < MAXD) {
        d->v[d->n].id = (intptr_t)op;
        d->v[d->n].off = off;
        d->v[d->n].err = err;
        d->n++;
    }
    pthread_mutex_unlock(&d->mu);
}

static void dl_reset(void)
{
    pthread_mutex_destroy(&dl.mu);
    memset(&dl, 0, sizeof dl);
    pthread_mutex_init(&dl.mu, NULL);
}

/* Produce record i (value "r<i>", 100 bytes) to topic/partition. */
static int produce_i(klog_producer_t *p, const char *topic, int32_t partition, intptr_t i)
{
    char v[100];
    memset(v, '.', sizeof v);
    snprintf(v, sizeof v, "r%ld", (long)i);
    klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                       .value = v, .value_len = sizeof v};
    return klog_produce(p, topic, partition, &r, (void *)i);
}

/* ------------------------------------------------------------ scanning */

typedef struct {
    long value;    /* i of "r<i>" */
    int64_t pid;
    int16_t epoch;
    int32_t base_seq;
    int64_t base_offset;
} stored_t;

/* Every record of topic/partition from offset 0, with its batch's fields. */
static size_t scan(const char *topic, int32_t id, stored_t *out, size_t max)
{
    klog_reader_t *r;
    ck_assert_int_eq(klog_reader_open(part(topic, id), 0, &r), 0);
    klog_record_t rec;
    size_t n = 0;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        ck_assert_uint_lt(n, max);
        const klog_batch_info_t *bi = klog_reader_batch_info(r);
        char buf[16] = {0};
        memcpy(buf, rec.value, rec.value_len < 15 ? (size_t)rec.value_len : 15);
        out[n] = (stored_t){strtol(buf + 1, NULL, 10), bi->producer_id, bi->producer_epoch,
                            bi->base_sequence, bi->base_offset};
        ck_assert_int_eq(rec.offset, (int64_t)n);
        n++;
    }
    ck_assert_int_eq(rc, 0);
    klog_reader_close(r);
    return n;
}

/* ============================================================ stamping */

START_TEST(batches_carry_id_epoch_sequence)
{
    make_topic("t", 2, NULL);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                   KLOG_CONF_BATCH_RECORDS, 4,
                                                   KLOG_CONF_LINGER_MS, 3600000, 0});
    klog_producer_t *q = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1, 0});
    klog_producer_t *plain = make_producer(NULL);
    int64_t pid, qid, none;
    int16_t ep, nep;
    ck_assert_int_eq(klog_producer_identity(p, &pid, &ep), 0);
    ck_assert_int_eq(klog_producer_identity(q, &qid, NULL), 0);
    ck_assert_int_eq(klog_producer_identity(plain, &none, &nep), 0);
    ck_assert_int_ge(pid, 0);
    ck_assert_int_ne(pid, qid);
    ck_assert_int_eq(ep, 0);
    ck_assert_int_eq(none, -1);
    ck_assert_int_eq(nep, -1);
    ck_assert_int_eq(klog_producer_identity(NULL, &none, NULL), -EINVAL);
    for (intptr_t i = 0; i < 20; i++)
        ck_assert_int_eq(produce_i(p, "t", (int32_t)(i % 2), i), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(klog_producer_close(q), 0);
    ck_assert_int_eq(klog_producer_close(plain), 0);
    for (int32_t k = 0; k < 2; k++) {
        stored_t s[16];
        size_t n = scan("t", k, s, 16);
        ck_assert_uint_eq(n, 10);
        for (size_t j = 0; j < n; j++) {
            ck_assert_int_eq(s[j].value, (long)(2 * j + (size_t)k)); /* order kept */
            ck_assert_int_eq(s[j].pid, pid);
            ck_assert_int_eq(s[j].epoch, 0);
            /* batches of 4 (the last of 2): sequences 0, 4, 8 */
            ck_assert_int_eq(s[j].base_seq, (int32_t)(j / 4 * 4));
        }
    }
}
END_TEST

/* ============================================================ retries */

/* Segments of 1 KiB: the second batch of five 100-byte records rolls. */
static const int64_t small_segs[] = {KLOG_CONF_SEGMENT_BYTES, 1024, 0};

START_TEST(retry_after_enospc_stores_once)
{
    make_topic("t", 1, small_segs);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                   KLOG_CONF_BATCH_RECORDS, 5,
                                                   KLOG_CONF_LINGER_MS, 3600000,
                                                   KLOG_CONF_RETRY_BACKOFF_MS, 5, 0});
    dl_reset();
    klog_producer_set_delivery(p, on_dl, NULL, &dl);
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(log_end("t", 0), 5);
    /* The next segment's first file cannot be created, once. */
    klog__fault_arm(KLOG__FAULT_OPEN, 1, ENOSPC, 0, 0);
    for (intptr_t i = 5; i < 30; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(klog__fault_fired(), 1);
    klog__fault_clear();
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_ge(klog__producer_retries(p), 1);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_uint_eq(dl.n, 30);
    for (size_t i = 0; i < 30; i++) {
        ck_assert_int_eq(dl.v[i].id, (intptr_t)i);
        ck_assert_int_eq(dl.v[i].err, 0);
        ck_assert_int_eq(dl.v[i].off, (int64_t)i);
    }
    stored_t s[64];
    ck_assert_uint_eq(scan("t", 0, s, 64), 30);
    for (size_t i = 0; i < 30; i++) {
        ck_assert_int_eq(s[i].value, (long)i);
        ck_assert_int_eq(s[i].base_seq, (int32_t)(i / 5 * 5));
    }
}
END_TEST

START_TEST(retries_exhausted_leave_no_gap)
{
    make_topic("t", 1, small_segs);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                   KLOG_CONF_BATCH_RECORDS, 5,
                                                   KLOG_CONF_LINGER_MS, 3600000,
                                                   KLOG_CONF_RETRIES, 2,
                                                   KLOG_CONF_RETRY_BACKOFF_MS, 1, 0});
    dl_reset();
    klog_producer_set_delivery(p, on_dl, NULL, &dl);
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    klog__fault_arm(KLOG__FAULT_OPEN, 1, ENOSPC, 0, 1); /* the disk stays full */
    for (intptr_t i = 5; i < 10; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_ge(klog__fault_fired(), 3); /* first attempt + 2 retries */
    klog__fault_clear();
    ck_assert_int_eq(klog__producer_retries(p), 2);
    ck_assert_int_eq(klog_producer_flush(p, -1), -ENOSPC);
    /* The partition is not failed and the sequence did not move: the next
     * batch (sequence 5) is in order. */
    for (intptr_t i = 10; i < 15; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_uint_eq(dl.n, 15);
    for (size_t i = 0; i < 15; i++) {
        int failed = i >= 5 && i < 10;
        ck_assert_int_eq(dl.v[i].err, failed ? -ENOSPC : 0);
        ck_assert_int_eq(dl.v[i].off, failed ? -1 : (int64_t)(i < 5 ? i : i - 5));
    }
    stored_t s[32];
    ck_assert_uint_eq(scan("t", 0, s, 32), 10);
    for (size_t i = 0; i < 10; i++) {
        ck_assert_int_eq(s[i].value, (long)(i < 5 ? i : i + 5));
        ck_assert_int_eq(s[i].base_seq, (int32_t)(i / 5 * 5));
    }
}
END_TEST

/* A failed write fails the partition: no retry (it might have landed), the
 * write's own error reported. */
START_TEST(failed_write_not_retried)
{
    make_topic("t", 1, NULL);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                   KLOG_CONF_BATCH_RECORDS, 5,
                                                   KLOG_CONF_LINGER_MS, 3600000, 0});
    dl_reset();
    klog_producer_set_delivery(p, on_dl, NULL, &dl);
    klog__fault_arm(KLOG__FAULT_WRITE, 1, EIO, 0, 0);
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    klog__fault_clear();
    ck_assert_int_eq(klog__producer_retries(p), 0);
    ck_assert_int_eq(klog_producer_close(p), -EIO);
    ck_assert_uint_eq(dl.n, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(dl.v[i].err, -EIO);
    ck_assert_int_eq(log_end("t", 0), 0);
    close_rc = KLOG_EFAILED;
}
END_TEST

/* ============================================================ duplicates */

START_TEST(resent_batches_get_original_offsets)
{
    make_topic("t", 1, NULL);
    const int64_t ident[] = {KLOG_CONF_ENABLE_IDEMPOTENCE, 1, KLOG_CONF_PRODUCER_ID, 4242,
                             KLOG_CONF_PRODUCER_EPOCH, 3, KLOG_CONF_BATCH_RECORDS, 5,
                             KLOG_CONF_LINGER_MS, 3600000, 0};
    klog_producer_t *p = make_producer(ident);
    int64_t pid;
    int16_t ep;
    ck_assert_int_eq(klog_producer_identity(p, &pid, &ep), 0);
    ck_assert_int_eq(pid, 4242);
    ck_assert_int_eq(ep, 3);
    for (intptr_t i = 0; i < 10; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0), 10);

    /* Something else writes in between (a plain append): the originals'
     * offsets are not the log end any more. */
    klog_record_t other = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                           .value = "x", .value_len = 1};
    ck_assert_int_eq(klog_append(part("t", 0), &other, 1, NULL), 0);

    /* The same identity sends the same batches again (an application
     * resending what it could not confirm), then new ones. */
    p = make_producer(ident);
    dl_reset();
    klog_producer_set_delivery(p, on_dl, NULL, &dl);
    for (intptr_t i = 0; i < 15; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_uint_eq(dl.n, 15);
    for (size_t i = 0; i < 15; i++) {
        ck_assert_int_eq(dl.v[i].err, 0);
        /* 0..9 are duplicates: reported at their first offsets */
        ck_assert_int_eq(dl.v[i].off, (int64_t)(i < 10 ? i : i + 1));
    }
    ck_assert_int_eq(log_end("t", 0), 16);
    stored_t s[32];
    ck_assert_uint_eq(scan("t", 0, s, 32), 16);
    for (size_t i = 0; i < 16; i++)
        if (i != 10)
            ck_assert_int_eq(s[i].value, (long)(i < 10 ? i : i - 1));
}
END_TEST

/* ============================================================ fencing */

START_TEST(newer_epoch_fences_older)
{
    make_topic("t", 1, NULL);
    klog_producer_t *old = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                     KLOG_CONF_PRODUCER_ID, 77,
                                                     KLOG_CONF_BATCH_RECORDS, 2,
                                                     KLOG_CONF_LINGER_MS, 3600000, 0});
    dl_reset();
    klog_producer_set_delivery(old, on_dl, NULL, &dl);
    for (intptr_t i = 0; i < 4; i++)
        ck_assert_int_eq(produce_i(old, "t", 0, i), 0);
    klog_producer_t *nw = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                    KLOG_CONF_PRODUCER_ID, 77,
                                                    KLOG_CONF_PRODUCER_EPOCH, 1,
                                                    KLOG_CONF_BATCH_RECORDS, 2, 0});
    for (intptr_t i = 100; i < 102; i++)
        ck_assert_int_eq(produce_i(nw, "t", 0, i), 0);
    ck_assert_int_eq(klog_producer_flush(nw, -1), 0);
    for (intptr_t i = 4; i < 6; i++)
        ck_assert_int_eq(produce_i(old, "t", 0, i), 0);
    /* fatal from here on */
    ck_assert_int_eq(produce_i(old, "t", 0, 6), KLOG_EFENCED);
    ck_assert_int_eq(klog_producer_flush(old, -1), KLOG_EFENCED);
    ck_assert_int_eq(klog_producer_close(old), 0);
    ck_assert_int_eq(klog_producer_close(nw), 0);
    ck_assert_uint_eq(dl.n, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(dl.v[i].err, i < 4 ? 0 : KLOG_EFENCED);
    stored_t s[16];
    ck_assert_uint_eq(scan("t", 0, s, 16), 6);
    ck_assert_int_eq(s[4].value, 100);
    ck_assert_int_eq(s[4].epoch, 1);
    ck_assert_int_eq(s[4].base_seq, 0);
}
END_TEST

/* ============================================================ wrap */

START_TEST(sequence_wraps_after_int32_max)
{
    make_topic("t", 1, NULL);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_ENABLE_IDEMPOTENCE, 1,
                                                   KLOG_CONF_BATCH_RECORDS, 5,
                                                   KLOG_CONF_LINGER_MS, 3600000, 0});
    ck_assert_int_eq(klog__producer_set_sequence(p, "t", 0, INT32_MAX - 6), 0);
    ck_assert_int_eq(klog__producer_set_sequence(p, "t", 1, 0), KLOG_ENOPARTITION);
    dl_reset();
    klog_producer_set_delivery(p, on_dl, NULL, &dl);
    for (intptr_t i = 0; i < 20; i++)
        ck_assert_int_eq(produce_i(p, "t", 0, i), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    for (size_t i = 0; i < dl.n; i++)
        ck_assert_int_eq(dl.v[i].err, 0);
    stored_t s[32];
    ck_assert_uint_eq(scan("t", 0, s, 32), 20);
    /* INT32_MAX-6 .. INT32_MAX-2; INT32_MAX-1 .. 2 (across the wrap); 3; 8 */
    const int32_t want[4] = {INT32_MAX - 6, INT32_MAX - 1, 3, 8};
    for (size_t i = 0; i < 20; i++)
        ck_assert_int_eq(s[i].base_seq, want[i / 5]);
    ck_assert_int_eq(klog__pseq_add(INT32_MAX, 1), 0);
    ck_assert_int_eq(klog__pseq_add(INT32_MAX - 1, 5), 3);
    ck_assert_int_eq(klog__pseq_add(7, 5), 12);
}
END_TEST

/* ============================================================ expiry */

/* One idempotent batch of producer 9, written at ts (ms). */
static void idem_batch(int64_t ts, void **out, size_t *len)
{
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    klog_record_t r = {.timestamp = ts, .key_len = KLOG_NULL_LEN, .value = "v", .value_len = 1};
    ck_assert_int_eq(klog_builder_add(b, &r), 0);
    ck_assert_int_eq(klog_builder_set_producer(b, 9, 0, 0, 0), 0);
    const void *bytes;
    ck_assert_int_eq(klog_builder_finish(b, &bytes, len), 0);
    *out = malloc(*len);
    memcpy(*out, bytes, *len);
    klog_builder_free(b);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(expiration_config)
{
    int64_t v;
    klog_config_t *c = conf(NULL);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, &v), 0);
    ck_assert_int_eq(v, 86400000);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, 0), KLOG_ECONFIG);
    klog_config_free(c);

    /* "d": the default (1 day); "s": 60 s. A batch 10 minutes old. */
    make_topic("d", 1, NULL);
    make_topic("s", 1, (int64_t[]){KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, 60000, 0});
    void *batch;
    size_t len;
    int64_t now = wall_ms();
    idem_batch(now - 600000, &batch, &len);
    int64_t off;
    const char *names[2] = {"d", "s"};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(klog_append_batch(part(names[k], 0), batch, len, &off), 0);
        ck_assert_int_eq(off, 0);
        ck_assert_int_eq(klog_append_batch(part(names[k], 0), batch, len, &off), 0);
        ck_assert_int_eq(off, 0); /* a duplicate */
    }
    ck_assert_int_ge(klog_retention(log_, now), 0);
    /* "d" still knows producer 9: a duplicate again. "s" forgot it: the
     * same batch is a new producer's first and is written. */
    ck_assert_int_eq(klog_append_batch(part("d", 0), batch, len, &off), 0);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(klog_append_batch(part("s", 0), batch, len, &off), 0);
    ck_assert_int_eq(off, 1);
    ck_assert_int_eq(log_end("d", 0), 1);
    ck_assert_int_eq(log_end("s", 0), 2);

    /* Altered to 60 s on "d": the next retention pass forgets it there. */
    c = conf((int64_t[]){KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, 60000, 0});
    ck_assert_int_eq(klog_topic_alter_config(log_, "d", c, NULL, 0), 0);
    klog_config_free(c);
    ck_assert_int_ge(klog_retention(log_, now), 0);
    ck_assert_int_eq(klog_append_batch(part("d", 0), batch, len, &off), 0);
    ck_assert_int_eq(off, 1);
    free(batch);

    /* Kept across reopen. */
    ck_assert_int_eq(klog_close(log_), 0);
    ck_assert_int_eq(klog_open(tmp, NULL, 0, &log_), 0);
    klog_topic_t *t;
    ck_assert_int_eq(klog_topic_get(log_, "s", &t), 0);
    ck_assert_int_eq(klog_topic_config(t, KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, &v), 0);
    ck_assert_int_eq(v, 60000);
}
END_TEST

/* ============================================================ suite */

Suite *producer_idem_suite(void)
{
    Suite *s = suite_create("producer_idem");
    TCase *tc = tcase_create("idempotence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, batches_carry_id_epoch_sequence);
    tcase_add_test(tc, retry_after_enospc_stores_once);
    tcase_add_test(tc, retries_exhausted_leave_no_gap);
    tcase_add_test(tc, failed_write_not_retried);
    tcase_add_test(tc, resent_batches_get_original_offsets);
    tcase_add_test(tc, newer_epoch_fences_older);
    tcase_add_test(tc, sequence_wraps_after_int32_max);
    tcase_add_test(tc, expiration_config);
    suite_add_tcase(s, tc);
    return s;
}
