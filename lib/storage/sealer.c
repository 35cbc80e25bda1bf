/*
 * sealer.c — the seal queue (sealer.h): a FIFO of rolled segments under one
 * mutex, drained one at a time by the log's background thread, which also
 * sleeps on the queue's condition variable between its timed duties.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/sealer.h"

typedef struct seal_item {
    klog__segment_t *s;
    klog__seal_fn seal;
    void *ctx;
    int64_t bytes;
} seal_item_t;

struct klog__sealer {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work queued or stop (CLOCK_MONOTONIC) */
    pthread_cond_t done_cv; /* a seal finished */
    seal_item_t *q;
    size_t n, cap;
    int64_t bytes;          /* .log bytes queued */
    int busy;               /* a seal is running now */
    const void *busy_ctx;   /* whose */
    int stop;
};

int klog__sealer_new(klog__sealer_t **out)
{
    klog__sealer_t *q = klog__calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&q->done_cv, NULL);
    *out = q;
    return 0;
}

void klog__sealer_free(klog__sealer_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        klog__segment_unref(q->q[i].s);
    free(q->q);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    pthread_cond_destroy(&q->done_cv);
    free(q);
}

void klog__sealer_queue(klog__sealer_t *q, klog__segment_t *s, klog__seal_fn seal, void *ctx)
{
    int64_t bytes = klog__segment_bytes(s, 0);
    pthread_mutex_lock(&q->mu);
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        seal_item_t *v = realloc(q->q, cap * sizeof *v);
        if (!v) {
            /* Unsealed segments are merely rescanned by the next open. */
            pthread_mutex_unlock(&q->mu);
            klog__segment_unref(s);
            return;
        }
        q->q = v;
        q->cap = cap;
    }
    q->q[q->n++] = (seal_item_t){s, seal, ctx, bytes};
    q->bytes += bytes;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void seal_one(seal_item_t *it)
{
    if (!klog__segment_is_deleted(it->s))
        it->seal(it->ctx, it->s);
    klog__segment_unref(it->s);
}

int klog__sealer_next(klog__sealer_t *q, int timeout_ms)
{
    pthread_mutex_lock(&q->mu);
    if (!q->n && !q->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    if (!q->n) {
        int r = q->stop ? -1 : 0;
        pthread_mutex_unlock(&q->mu);
        return r;
    }
    seal_item_t it = q->q[0];
    memmove(q->q, q->q + 1, (q->n - 1) * sizeof *q->q);
    q->n--;
    q->bytes -= it.bytes;
    q->busy = 1;
    q->busy_ctx = it.ctx;
    pthread_mutex_unlock(&q->mu);
    seal_one(&it);
    pthread_mutex_lock(&q->mu);
    q->busy = 0;
    q->busy_ctx = NULL;
    pthread_cond_broadcast(&q->done_cv);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

int klog__sealer_backlogged(klog__sealer_t *q)
{
    pthread_mutex_lock(&q->mu);
    int over = q->n >= KLOG__SEAL_BACKLOG_SEGMENTS || q->bytes >= KLOG__SEAL_BACKLOG_BYTES;
    pthread_mutex_unlock(&q->mu);
    return over;
}

void klog__sealer_seal_own(klog__sealer_t *q, const void *ctx)
{
    pthread_mutex_lock(&q->mu);
    /* One of ctx's may be on the sealer now: the later ones wait for it
     * (seals of one partition happen in order). */
    while (q->busy && q->busy_ctx == ctx)
        pthread_cond_wait(&q->done_cv, &q->mu);
    size_t k = 0, m = 0;
    for (size_t i = 0; i < q->n; i++)
        m += q->q[i].ctx == ctx;
    seal_item_t *own = m ? malloc(m * sizeof *own) : NULL;
    if (!own) {
        pthread_mutex_unlock(&q->mu);
        return; /* nothing of ctx's, or no memory: the sealer does them */
    }
    for (size_t i = 0; i < q->n; i++) {
        if (q->q[i].ctx == ctx) {
            own[k++] = q->q[i];
            q->bytes -= q->q[i].bytes;
        } else {
            q->q[i - k] = q->q[i];
        }
    }
    q->n -= k;
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < k; i++)
        seal_one(&own[i]);
    free(own);
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->done_cv);
    pthread_mutex_unlock(&q->mu);
}

void klog__sealer_stop(klog__sealer_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void klog__sealer_wait(klog__sealer_t *q, const void *ctx)
{
    pthread_mutex_lock(&q->mu);
    for (;;) {
        /* A running seal counts whoever queued it: truncation must not meet
         * the sealer holding a segment of another partition's list either. */
        int pending = q->busy;
        for (size_t i = 0; !pending && i < q->n; i++)
            pending = !ctx || q->q[i].ctx == ctx;
        if (!pending)
            break;
        pthread_cond_wait(&q->done_cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
}
