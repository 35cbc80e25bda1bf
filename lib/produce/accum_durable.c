/*
 * accum_durable.c — durable delivery's fsync rounds (see accum.c,
 * "Delivery"): appended batches wait in their partition's FIFO, partitions
 * in the accumulator's FIFO; the background thread fsyncs a round's
 * partitions once each and completes the batches each fsync covered, in
 * order. Everything here runs under, or takes, the accumulator's lq_mu.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "produce/accum_impl.h"
#include "storage/partition.h"

/* Queue pp for an fsync round unless it is queued (lq_mu held). */
static void dq_list(klog__accum_t *A, ppart_t *pp)
{
    if (pp->dlisted)
        return;
    pp->dlisted = 1;
    pp->dnext = NULL;
    if (A->dtail)
        A->dtail->dnext = pp;
    else
        A->dhead = pp;
    A->dtail = pp;
    A->dcount++;
}

static ppart_t *dq_pop(klog__accum_t *A)
{
    ppart_t *pp = A->dhead;
    A->dhead = pp->dnext;
    if (!A->dhead)
        A->dtail = NULL;
    pp->dnext = NULL;
    pp->dlisted = 0;
    A->dcount--;
    return pp;
}

/* Is an fsync round due? Rounds gather appended batches for up to linger
 * ms or a quarter of the buffer, so that each fsync covers a good run of
 * data instead of the few batches appended since the last one. */
static int round_due(const klog__accum_t *A, int force, int64_t now)
{
    return A->dhead && (force || A->dur_bytes >= A->dur_threshold ||
                        now >= A->dur_since + A->linger_ms);
}

void klog__accum_queue_durable(klog__accum_t *A, ppart_t *pp, klog__pbatch_t *b)
{
    pthread_mutex_lock(&A->lq_mu);
    if (pp->dtail)
        klog__pbatch_set_next(pp->dtail, b);
    else
        pp->dhead = b;
    pp->dtail = b;
    klog__pbatch_set_next(b, NULL);
    if (A->dur_bytes == 0)
        A->dur_since = klog__mono_ms();
    A->dur_bytes += klog__pbatch_mem(b);
    dq_list(A, pp);
    if (A->bg_sleeping && (A->dur_bytes >= A->dur_threshold ||
                           A->dur_since + A->linger_ms < A->bg_until))
        pthread_cond_signal(&A->lq_cv);
    pthread_mutex_unlock(&A->lq_mu);
}

/* fsync pp's partition and complete the batches it made durable. */
static void make_durable(klog__accum_t *A, ppart_t *pp)
{
    int rc = klog_flush(pp->part);
    int64_t rp = klog__partition_recovery_point(pp->part);
    pthread_mutex_lock(&A->lq_mu);
    klog__pbatch_t *ready = NULL, *last = NULL;
    while (pp->dhead) {
        klog__pbatch_t *b = pp->dhead;
        if (!klog__pbatch_err(b) && rc == 0 && klog__pbatch_end(b) > rp)
            break;
        pp->dhead = klog__pbatch_next(b);
        klog__pbatch_set_next(b, NULL);
        if (last)
            klog__pbatch_set_next(last, b);
        else
            ready = b;
        last = b;
        A->dur_bytes -= klog__pbatch_mem(b);
    }
    if (!pp->dhead)
        pp->dtail = NULL;
    else
        dq_list(A, pp);
    pthread_mutex_unlock(&A->lq_mu);
    while (ready) {
        klog__pbatch_t *b = ready;
        ready = klog__pbatch_next(b);
        if (rc)
            klog__pbatch_fail(b, rc);
        if (A->on_durable)
            klog__pbatch_deliver(b, A->on_durable, A->cb_ctx, pp->id, A->bg_rd);
        klog__accum_complete(A, pp, b);
    }
}

int klog__accum_durable_step(klog__accum_t *A, int force, int64_t now)
{
    if (A->round_left == 0 && round_due(A, force, now)) {
        /* A round fsyncs the partitions queued now, once each: the FIFO
         * puts any that are queued again behind them. Batches appended
         * from here on wait for the next round. */
        A->round_left = A->dcount;
        if (A->dur_bytes > 0)
            A->dur_since = now;
    }
    if (A->round_left > 0 && A->dhead) {
        /* One partition at a time: once off the queue it may be queued
         * again (its dnext rewritten) by an appending thread. */
        ppart_t *pp = dq_pop(A);
        A->round_left--;
        pthread_mutex_unlock(&A->lq_mu);
        make_durable(A, pp);
        pthread_mutex_lock(&A->lq_mu);
        return 1;
    }
    A->round_left = 0;
    return 0;
}
