/*
 * pbuffer.c — the producer's buffer: how many bytes of records it has
 * accepted and not yet completed (KLOG_CONF_BUFFER_BYTES caps them).
 *
 * A record's estimated size is charged when it is accepted and released
 * when its batch completes (appended, or made durable in durable mode).
 * Charging is a compare-and-swap loop on one counter, so the produce path
 * takes no lock while there is room. A producer that finds no room counts
 * itself as a waiter first (klog__pbuffer_wait_begin), so that a release
 * either happens before its check under the mutex or sees the waiter and
 * broadcasts: no wake-up is lost. The producer (producer.c) decides what
 * to do before it sleeps (close open batches, fsync).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "produce/producer.h"

struct klog__pbuffer {
    int64_t cap;
    _Atomic int64_t used;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* monotonic clock */
    atomic_int waiters;
};

int klog__pbuffer_new(int64_t cap, klog__pbuffer_t **out)
{
    klog__pbuffer_t *b = klog__calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->cap = cap;
    atomic_init(&b->used, 0);
    atomic_init(&b->waiters, 0);
    int rc = klog__cond_init_mono(&b->cv);
    if (rc) {
        free(b);
        return rc;
    }
    pthread_mutex_init(&b->mu, NULL);
    *out = b;
    return 0;
}

void klog__pbuffer_free(klog__pbuffer_t *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

int64_t klog__pbuffer_cap(const klog__pbuffer_t *b) { return b->cap; }

int klog__pbuffer_try(klog__pbuffer_t *b, int64_t sz)
{
    int64_t cur = atomic_load_explicit(&b->used, memory_order_relaxed);
    while (cur + sz <= b->cap)
        if (atomic_compare_exchange_weak(&b->used, &cur, cur + sz))
            return 1;
    return 0;
}

void klog__pbuffer_wait_begin(klog__pbuffer_t *b) { atomic_fetch_add(&b->waiters, 1); }

int klog__pbuffer_wait(klog__pbuffer_t *b, int64_t sz, int64_t until_ms, const atomic_int *closing)
{
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    while (!klog__pbuffer_try(b, sz)) {
        int64_t left = until_ms - klog__mono_ms();
        if (left <= 0 || atomic_load(closing)) {
            rc = KLOG_EBUFFERFULL;
            break;
        }
        struct timespec ts;
        klog__deadline_ts(left, &ts);
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    atomic_fetch_sub(&b->waiters, 1);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int klog__pbuffer_waiting(klog__pbuffer_t *b) { return atomic_load(&b->waiters) > 0; }

void klog__pbuffer_release(klog__pbuffer_t *b, int64_t sz)
{
    if (sz <= 0)
        return;
    atomic_fetch_sub(&b->used, sz);
    if (atomic_load(&b->waiters) > 0) {
        pthread_mutex_lock(&b->mu);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
}
