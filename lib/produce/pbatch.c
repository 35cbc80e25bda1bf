/*
 * pbatch.c — one batch being filled or delivered: a klog_builder_t (which
 * copies each record as it is added) plus the msg_opaque of each record,
 * the buffer bytes charged for it, its linger deadline, and once appended
 * its base offset or error. Batches of one codec are recycled through a
 * pool (up to POOL_MAX idle ones each), so a steady producer allocates
 * nothing per batch.
 *
 * Delivery decodes the bytes the builder produced (views into them), so
 * nothing is kept per record but msg_opaque; a batch that never encoded
 * reports each record with an empty view and its error.
 *
 * A batch belongs to one thread at a time (the partition's locks in
 * producer.c say which); the pool has its own mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "produce/producer.h"

#define NCODECS 5
#define POOL_MAX 256 /* idle batches kept per codec */

struct klog__pbatch {
    klog__pbatch_t *next; /* pool, or a durable FIFO */
    klog_builder_t *b;
    int codec;
    void **opaque;        /* per record */
    size_t n, cap;
    int64_t mem;          /* bytes charged to the buffer */
    int64_t deadline;     /* monotonic ms */
    int64_t base;         /* assigned base offset, -1 before/without */
    int err;
    int encoded;          /* klog_builder_finish succeeded */
};

struct klog__pbpool {
    pthread_mutex_t mu;
    klog__pbatch_t *idle[NCODECS];
    int nidle[NCODECS];
};

int klog__pbpool_new(klog__pbpool_t **out)
{
    klog__pbpool_t *p = klog__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void klog__pbatch_free(klog__pbatch_t *b)
{
    if (!b)
        return;
    klog_builder_free(b->b);
    free(b->opaque);
    free(b);
}

void klog__pbpool_free(klog__pbpool_t *p)
{
    if (!p)
        return;
    for (int c = 0; c < NCODECS; c++)
        while (p->idle[c]) {
            klog__pbatch_t *b = p->idle[c];
            p->idle[c] = b->next;
            klog__pbatch_free(b);
        }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

klog__pbatch_t *klog__pbatch_get(klog__pbpool_t *p, int codec, int *err)
{
    if (codec < 0 || codec >= NCODECS) {
        *err = KLOG_ECODEC;
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    klog__pbatch_t *b = p->idle[codec];
    if (b) {
        p->idle[codec] = b->next;
        p->nidle[codec]--;
    }
    pthread_mutex_unlock(&p->mu);
    if (!b) {
        b = klog__calloc(1, sizeof *b);
        if (!b) {
            *err = -ENOMEM;
            return NULL;
        }
        b->codec = codec;
        int rc = klog_builder_new(codec, &b->b);
        if (rc) {
            free(b);
            *err = rc;
            return NULL;
        }
    }
    b->next = NULL;
    b->n = 0;
    b->mem = 0;
    b->base = -1;
    b->err = 0;
    b->encoded = 0;
    return b;
}

void klog__pbatch_put(klog__pbpool_t *p, klog__pbatch_t *b)
{
    klog_builder_reset(b->b);
    pthread_mutex_lock(&p->mu);
    if (p->nidle[b->codec] < POOL_MAX) {
        b->next = p->idle[b->codec];
        p->idle[b->codec] = b;
        p->nidle[b->codec]++;
        b = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    klog__pbatch_free(b);
}

int klog__pbatch_add(klog__pbatch_t *b, const klog_record_t *rec, void *opaque, int64_t est)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        void **o = klog__realloc(b->opaque, cap * sizeof *o);
        if (!o)
            return -ENOMEM;
        b->opaque = o;
        b->cap = cap;
    }
    int rc = klog_builder_add(b->b, rec);
    if (rc)
        return rc;
    b->opaque[b->n++] = opaque;
    b->mem += est;
    return 0;
}

size_t klog__pbatch_records(const klog__pbatch_t *b) { return b->n; }
size_t klog__pbatch_bytes(const klog__pbatch_t *b) { return klog_builder_size(b->b); }
int64_t klog__pbatch_mem(const klog__pbatch_t *b) { return b->mem; }
int64_t klog__pbatch_deadline(const klog__pbatch_t *b) { return b->deadline; }
void klog__pbatch_set_deadline(klog__pbatch_t *b, int64_t ms) { b->deadline = ms; }
klog__pbatch_t *klog__pbatch_next(const klog__pbatch_t *b) { return b->next; }
void klog__pbatch_set_next(klog__pbatch_t *b, klog__pbatch_t *next) { b->next = next; }
int klog__pbatch_err(const klog__pbatch_t *b) { return b->err; }
int64_t klog__pbatch_end(const klog__pbatch_t *b) { return b->base + (int64_t)b->n; }

int klog__pbatch_encode(klog__pbatch_t *b, int64_t pid, int16_t epoch, int32_t seq,
                        uint8_t **bytes, size_t *len)
{
    int rc = 0;
    if (pid >= 0)
        rc = klog_builder_set_producer(b->b, pid, epoch, seq, 0);
    if (rc == 0)
        rc = klog__builder_finish_own(b->b, bytes, len);
    if (rc == 0)
        b->encoded = 1;
    return rc;
}

void klog__pbatch_set_result(klog__pbatch_t *b, int64_t base, int err)
{
    b->base = base;
    b->err = err;
}

void klog__pbatch_fail(klog__pbatch_t *b, int err)
{
    if (!b->err)
        b->err = err;
}

void klog__pbatch_deliver(klog__pbatch_t *b, klog_delivery_fn fn, void *ctx, int32_t partition,
                          klog_batch_reader_t *rd)
{
    const void *bytes = NULL;
    size_t len = 0;
    int have = b->encoded && rd && klog_builder_finish(b->b, &bytes, &len) == 0 &&
               klog_batch_reader_open(rd, bytes, len, 0) == 0;
    for (size_t i = 0; i < b->n; i++) {
        klog_record_t rec;
        if (!have || klog_batch_reader_next(rd, &rec) != 1) {
            /* Not encoded (the failure is in b->err): no view to give. */
            memset(&rec, 0, sizeof rec);
            rec.key_len = rec.value_len = KLOG_NULL_LEN;
            rec.timestamp = -1;
            have = 0;
        }
        int64_t off = b->err ? -1 : b->base + (int64_t)i;
        rec.offset = off;
        fn(ctx, &rec, partition, off, b->err, b->opaque[i]);
    }
}
