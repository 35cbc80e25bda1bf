/*
 * accum.c — the accumulator: per partition at most one open batch, closed
 * for size, record count or linger time, appended and reported in closing
 * order; in durable mode, fsync rounds that report what they made durable.
 * It owns the per-partition state (struct klog__ppart, in accum_impl.h)
 * and the queues and background thread below (the fsync rounds are in
 * accum_durable.c); producer.c owns the API around it.
 *
 * Adding (any thread, klog__accum_add). Under the partition's `mu`: close
 * the open batch if the record would take it past KLOG_CONF_BATCH_BYTES,
 * add the record (the builder copies it), and close the batch if it
 * reached its byte or record limit. A closed batch joins the partition's
 * send queue (under `mu`, so the queue is in closing order) and is
 * appended by whichever thread holds the partition's `send_mu`: the
 * closing thread takes it if it is free and drains the queue; if another
 * thread holds it, that thread appends this batch too (it looks at the
 * queue again after letting go of `send_mu`, so nothing is left behind).
 * Batches of one partition thus reach the log, and their appended
 * callbacks run, in the order they were closed, while other threads keep
 * filling the next batch. (The closing thread used to take `send_mu`
 * while still holding `mu`, which kept every producer of the partition
 * waiting for the whole append before it: with keyed records from four
 * threads, `perf` found most task switches there.)
 *
 * Why a producing thread appends, not the background thread: a full batch
 * is then encoded and written while its records are still hot in a
 * producing CPU's cache, with no wake-up per batch, and threads that
 * produce faster than the disk takes are slowed by the appends they make
 * and by the buffer's bound. On the 2-CPU machines the benchmark runs
 * on, a hand-off to a writer thread costs more in wake-ups and cache misses
 * than the overlap buys. The background thread does only what no producing
 * thread is there to do: close batches whose linger time ran out, and in
 * durable mode run the fsyncs.
 *
 * Linger. A batch's deadline is its first record's time + linger. Since
 * linger is one value per producer, deadlines are in opening order, so a
 * FIFO of partitions with an open batch (`lq`, doubly linked, under
 * `lq_mu`) is also a deadline queue: the background thread waits on a
 * monotonic condition variable for the head's deadline and closes it. A
 * partition whose batch closes for size is unlinked; one that opens a new
 * batch is (re)linked at the tail. While a flush runs or a producer waits
 * for buffer room, every open batch is closed at once (Kafka's rule when
 * memory is exhausted), so waiting never depends on linger.
 *
 * Delivery. The appending thread runs the appended callback for each
 * record, decoding the batch it just wrote (views into the builder's
 * bytes, so nothing is kept per record but msg_opaque). Without durable
 * delivery the batch is then complete: its bytes leave the buffer and its
 * builder returns to a pool. With durable delivery it joins its partition's
 * FIFO of appended batches, and the partition joins the FIFO of partitions
 * waiting for an fsync. The background thread runs fsync rounds: a round
 * starts once the waiting batches hold a quarter of the buffer, or the
 * oldest has waited linger ms, or someone flushes or waits for room; it
 * calls klog_flush() once on each partition queued at its start (one fsync
 * covers every batch appended before it, from all producing threads) and
 * completes each FIFO's prefix below the partition's recovery point, in
 * order. Gathering a round's worth first matters: fsyncs issued back to
 * back cover ~100 KiB each and spend the disk on cache flushes; rounds make
 * them megabytes (measured: durable throughput from ~0.3x to ~0.5-0.7x of
 * the non-durable rate). A producer that finds the buffer full in durable
 * mode runs klog_flush() on its own partition before it sleeps, so fsyncs
 * of different partitions overlap. A failed batch goes through the same
 * FIFO so order holds.
 *
 * Flush. Each partition counts records accepted and records completed
 * (both only grow, and completion is in order per partition), so a flush
 * snapshots the accepted counts and waits until completion passes them:
 * records produced after the flush started cannot hold it up.
 *
 * Lock order: ppart.send_mu -> ppart.mu -> lq_mu (no thread waits for
 * send_mu holding mu: the closing thread only tries it); the pool's, the
 * buffer's and the topic table's mutexes and done_mu are leaves. lq_mu
 * also guards the durable queues and counters. Callbacks run holding
 * send_mu (appended) or no lock (durable), which is why they must not
 * produce to the same producer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "produce/accum_impl.h"
#include "storage/config.h"
#include "storage/log.h"
#include "storage/partition.h"

#define LINGER_POPS 64    /* linger closes per background pass before other work */

/* ------------------------------------------------------------ delivery */

void klog__accum_complete(klog__accum_t *A, ppart_t *pp, klog__pbatch_t *b)
{
    int err = klog__pbatch_err(b);
    if (err) {
        int zero = 0;
        atomic_compare_exchange_strong(&A->first_err, &zero, err);
    }
    atomic_fetch_add(&pp->completed, (int64_t)klog__pbatch_records(b));
    klog__pbuffer_release(A->buf, klog__pbatch_mem(b));
    klog__pbatch_put(A->pool, b);
    if (atomic_load(&A->done_waiters) > 0) {
        pthread_mutex_lock(&A->done_mu);
        pthread_cond_broadcast(&A->done_cv);
        pthread_mutex_unlock(&A->done_mu);
    }
}

/* Encode and append a closed batch (psend.c: stamping, retries), then
 * report it. send_mu held: a partition's batches and callbacks go in
 * closing order. */
static void send_batch(klog__accum_t *A, ppart_t *pp, klog__pbatch_t *b)
{
    if (klog__pbatch_records(b) == 0) { /* opened, but its only add failed */
        klog__pbuffer_release(A->buf, klog__pbatch_mem(b));
        klog__pbatch_put(A->pool, b);
        return;
    }
    int64_t base;
    int rc = klog__psend(A->sender, pp->part, b, &pp->next_seq, &base);
    klog__pbatch_set_result(b, base, rc);
    if (A->on_appended) {
        if (!pp->rd)
            klog_batch_reader_new(&pp->rd); /* on failure: views without data */
        klog__pbatch_deliver(b, A->on_appended, A->cb_ctx, pp->id, pp->rd);
    }
    if (!A->durable)
        klog__accum_complete(A, pp, b);
    else
        klog__accum_queue_durable(A, pp, b);
}

/* ------------------------------------------------------------ linger queue */

static void lq_unlink(klog__accum_t *A, ppart_t *pp)
{
    if (!pp->linked)
        return;
    if (pp->lprev)
        pp->lprev->lnext = pp->lnext;
    else
        A->lhead = pp->lnext;
    if (pp->lnext)
        pp->lnext->lprev = pp->lprev;
    else
        A->ltail = pp->lprev;
    pp->lprev = pp->lnext = NULL;
    pp->linked = 0;
}

/* A batch opened on pp: queue its deadline (mu held). */
static void lq_push(klog__accum_t *A, ppart_t *pp, int64_t deadline)
{
    pthread_mutex_lock(&A->lq_mu);
    lq_unlink(A, pp);
    pp->deadline = deadline;
    pp->lprev = A->ltail;
    pp->lnext = NULL;
    if (A->ltail)
        A->ltail->lnext = pp;
    else
        A->lhead = pp;
    A->ltail = pp;
    pp->linked = 1;
    /* Wake the background thread only if it sleeps past this deadline: a
     * batch closed for size leaves its stale deadline to one harmless
     * early wake-up instead of a wake-up per batch. */
    if (A->bg_sleeping && deadline < A->bg_until)
        pthread_cond_signal(&A->lq_cv);
    pthread_mutex_unlock(&A->lq_mu);
}

/* Take pp's open batch out (mu held). */
static klog__pbatch_t *detach(klog__accum_t *A, ppart_t *pp)
{
    klog__pbatch_t *b = pp->open;
    pp->open = NULL;
    pthread_mutex_lock(&A->lq_mu);
    lq_unlink(A, pp);
    pthread_mutex_unlock(&A->lq_mu);
    return b;
}

/* Queue a batch just closed (mu held). */
static void sq_push(ppart_t *pp, klog__pbatch_t *b)
{
    klog__pbatch_set_next(b, NULL);
    if (pp->stail)
        klog__pbatch_set_next(pp->stail, b);
    else
        pp->shead = b;
    pp->stail = b;
}

/* The oldest queued batch, or NULL (mu held). */
static klog__pbatch_t *sq_pop(ppart_t *pp)
{
    klog__pbatch_t *b = pp->shead;
    if (b) {
        pp->shead = klog__pbatch_next(b);
        if (!pp->shead)
            pp->stail = NULL;
        klog__pbatch_set_next(b, NULL);
    }
    return b;
}

/* Append pp's queued batches in order, unless another thread holds
 * send_mu: it appends them. The holder looks at the queue again after
 * letting go, under mu, so a batch pushed (under mu) before this thread's
 * trylock found send_mu taken is seen either by the holder's drain or by
 * that second look. Call without mu. */
static void send_queued(klog__accum_t *A, ppart_t *pp)
{
    for (;;) {
        if (pthread_mutex_trylock(&pp->send_mu) != 0)
            return;
        for (;;) {
            pthread_mutex_lock(&pp->mu);
            klog__pbatch_t *b = sq_pop(pp);
            pthread_mutex_unlock(&pp->mu);
            if (!b)
                break;
            send_batch(A, pp, b);
        }
        pthread_mutex_unlock(&pp->send_mu);
        pthread_mutex_lock(&pp->mu);
        int more = pp->shead != NULL;
        pthread_mutex_unlock(&pp->mu);
        if (!more)
            return;
    }
}

/* Close pp's open batch if it is due (or force) and append it. */
static void close_if_due(klog__accum_t *A, ppart_t *pp, int64_t now, int force)
{
    pthread_mutex_lock(&pp->mu);
    klog__pbatch_t *b = pp->open;
    if (!b || (!force && klog__pbatch_deadline(b) > now)) {
        pthread_mutex_unlock(&pp->mu);
        return;
    }
    sq_push(pp, detach(A, pp));
    pthread_mutex_unlock(&pp->mu);
    send_queued(A, pp);
}

/* ------------------------------------------------------------ background */

static void *bg_main(void *arg)
{
    klog__accum_t *A = arg;
    pthread_mutex_lock(&A->lq_mu);
    while (!A->stop || A->lhead || A->dhead) {
        int force = A->flushing > 0 || klog__pbuffer_waiting(A->buf) || A->stop;
        int64_t now = klog__mono_ms();
        int pops = 0;
        while (A->lhead && (force || A->lhead->deadline <= now) && pops < LINGER_POPS) {
            ppart_t *pp = A->lhead;
            lq_unlink(A, pp);
            pthread_mutex_unlock(&A->lq_mu);
            close_if_due(A, pp, now, force);
            pthread_mutex_lock(&A->lq_mu);
            pops++;
        }
        if (klog__accum_durable_step(A, force, now))
            continue;
        if (pops == LINGER_POPS)
            continue;
        force = A->flushing > 0 || klog__pbuffer_waiting(A->buf) || A->stop;
        if (A->lhead && force)
            continue;
        if (A->dhead && force)
            continue;
        int64_t until = A->lhead ? A->lhead->deadline : INT64_MAX;
        if (A->dhead && A->dur_since + A->linger_ms < until)
            until = A->dur_since + A->linger_ms;
        if (until != INT64_MAX) {
            int64_t left = until - klog__mono_ms();
            if (left > 0) {
                struct timespec ts;
                klog__deadline_ts(left, &ts);
                A->bg_sleeping = 1;
                A->bg_until = until;
                pthread_cond_timedwait(&A->lq_cv, &A->lq_mu, &ts);
                A->bg_sleeping = 0;
            }
        } else if (!A->stop) {
            A->bg_sleeping = 1;
            A->bg_until = INT64_MAX;
            pthread_cond_wait(&A->lq_cv, &A->lq_mu);
            A->bg_sleeping = 0;
        }
    }
    pthread_mutex_unlock(&A->lq_mu);
    return NULL;
}

/* ------------------------------------------------------------ partitions */

void klog__ppart_free(ppart_t *pp)
{
    if (!pp)
        return;
    klog__pbatch_free(pp->open);
    for (klog__pbatch_t *b; (b = sq_pop(pp)) != NULL;) /* none: each push is drained */
        klog__pbatch_free(b);
    klog_batch_reader_free(pp->rd);
    pthread_mutex_destroy(&pp->mu);
    pthread_mutex_destroy(&pp->send_mu);
    free(pp);
}

ppart_t *klog__ppart_new(klog__ptopic_t *t, klog_partition_t *part, int32_t id)
{
    ppart_t *pp = klog__calloc(1, sizeof *pp);
    if (!pp)
        return NULL;
    pp->topic = t;
    pp->part = part;
    pp->id = id;
    /* `mu` is held for one record's copy, by every thread producing to the
     * partition: a waiter spins briefly before it sleeps (glibc's adaptive
     * mutex). With keyed records from 4 threads on 2 cores the futex
     * sleeps and wake-ups of a plain mutex were most of the added CPU. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
#ifdef __GLIBC__
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&pp->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&pp->send_mu, NULL);
    atomic_init(&pp->accepted, 0);
    atomic_init(&pp->completed, 0);
    return pp;
}

klog_partition_t *klog__ppart_partition(const ppart_t *pp) { return pp->part; }

int64_t klog__ppart_accepted(ppart_t *pp) { return atomic_load(&pp->accepted); }

int32_t klog__ppart_next_seq(ppart_t *pp) { return pp->next_seq; }
void klog__ppart_set_next_seq(ppart_t *pp, int32_t seq) { pp->next_seq = seq; }

/* ------------------------------------------------------------ add */

static int batch_full(const klog__accum_t *A, const klog__ptopic_t *t, const klog__pbatch_t *b)
{
    return (int64_t)klog__pbatch_bytes(b) >= klog__ptopic_batch_bytes(t) ||
           (A->batch_records > 0 && (int64_t)klog__pbatch_records(b) >= A->batch_records);
}

int klog__accum_add(klog__accum_t *A, ppart_t *pp, const klog__ptopic_t *t,
                    const klog_record_t *rec, void *msg_opaque, int64_t est, int *closed)
{
    int rc = 0;
    klog__pbatch_t *out[2];
    int nout = 0;
    pthread_mutex_lock(&pp->mu);
    klog__pbatch_t *b = pp->open;
    if (b && klog__pbatch_records(b) > 0 &&
        (int64_t)klog__pbatch_bytes(b) + est > klog__ptopic_batch_bytes(t))
        out[nout++] = detach(A, pp), b = NULL;
    if (!b) {
        b = klog__pbatch_get(A->pool, klog__ptopic_codec(t), &rc);
        if (!b)
            goto unlock;
        pp->open = b;
        klog__pbatch_set_deadline(b, klog__mono_ms() + A->linger_ms);
        lq_push(A, pp, klog__pbatch_deadline(b));
    }
    rc = klog__pbatch_add(b, rec, msg_opaque, est);
    if (rc)
        goto unlock;
    atomic_fetch_add_explicit(&pp->accepted, 1, memory_order_relaxed);
    if (batch_full(A, t, b))
        out[nout++] = detach(A, pp);
unlock:
    for (int i = 0; i < nout; i++)
        sq_push(pp, out[i]);
    pthread_mutex_unlock(&pp->mu);
    if (nout)
        send_queued(A, pp);
    *closed = nout;
    return rc;
}

/* ------------------------------------------------------------ flush */

void klog__accum_wake(klog__accum_t *A)
{
    pthread_mutex_lock(&A->lq_mu);
    pthread_cond_signal(&A->lq_cv);
    pthread_mutex_unlock(&A->lq_mu);
}

static int marks_done(ppart_t *const *parts, const int64_t *targets, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&parts[i]->completed) < targets[i])
            return 0;
    return 1;
}

int klog__accum_flush(klog__accum_t *A, ppart_t *const *parts, const int64_t *targets, size_t n,
                      int timeout_ms)
{
    pthread_mutex_lock(&A->lq_mu);
    A->flushing++;
    pthread_cond_signal(&A->lq_cv);
    pthread_mutex_unlock(&A->lq_mu);

    int rc = 0;
    int64_t until = timeout_ms < 0 ? INT64_MAX : klog__mono_ms() + timeout_ms;
    pthread_mutex_lock(&A->done_mu);
    atomic_fetch_add(&A->done_waiters, 1);
    while (!marks_done(parts, targets, n)) {
        int64_t left = until == INT64_MAX ? 1000 : until - klog__mono_ms();
        if (left <= 0) {
            rc = KLOG_ETIMEDOUT;
            break;
        }
        struct timespec ts;
        klog__deadline_ts(left, &ts);
        pthread_cond_timedwait(&A->done_cv, &A->done_mu, &ts);
    }
    atomic_fetch_sub(&A->done_waiters, 1);
    pthread_mutex_unlock(&A->done_mu);

    pthread_mutex_lock(&A->lq_mu);
    A->flushing--;
    pthread_mutex_unlock(&A->lq_mu);
    return rc;
}

int klog__accum_take_error(klog__accum_t *A) { return atomic_exchange(&A->first_err, 0); }

/* ------------------------------------------------------------ lifecycle */

void klog__accum_free(klog__accum_t *A)
{
    if (!A)
        return;
    klog_batch_reader_free(A->bg_rd);
    pthread_mutex_destroy(&A->lq_mu);
    pthread_cond_destroy(&A->lq_cv);
    pthread_mutex_destroy(&A->done_mu);
    pthread_cond_destroy(&A->done_cv);
    free(A);
}

int klog__accum_new(int64_t linger_ms, int64_t batch_records, int durable,
                    int64_t dur_threshold, klog__pbuffer_t *buf, klog__pbpool_t *pool,
                    klog__psender_t *S, klog__accum_t **out)
{
    klog__accum_t *A = klog__calloc(1, sizeof *A);
    if (!A)
        return -ENOMEM;
    A->linger_ms = linger_ms;
    A->batch_records = batch_records;
    A->durable = durable;
    A->dur_threshold = dur_threshold;
    A->buf = buf;
    A->pool = pool;
    A->sender = S;
    atomic_init(&A->done_waiters, 0);
    atomic_init(&A->first_err, 0);
    pthread_mutex_init(&A->lq_mu, NULL);
    pthread_mutex_init(&A->done_mu, NULL);
    int rc = klog__cond_init_mono(&A->lq_cv);
    if (!rc)
        rc = klog__cond_init_mono(&A->done_cv);
    if (!rc)
        rc = klog_batch_reader_new(&A->bg_rd);
    if (!rc) {
        rc = -pthread_create(&A->bg, NULL, bg_main, A);
        A->bg_started = rc == 0;
    }
    if (rc) {
        klog__accum_free(A);
        return rc;
    }
    *out = A;
    return 0;
}

void klog__accum_set_delivery(klog__accum_t *A, klog_delivery_fn appended,
                              klog_delivery_fn durable, void *ctx)
{
    A->on_appended = appended;
    A->on_durable = durable;
    A->cb_ctx = ctx;
}

void klog__accum_stop(klog__accum_t *A)
{
    if (!A || !A->bg_started)
        return;
    pthread_mutex_lock(&A->lq_mu);
    A->stop = 1;
    pthread_cond_signal(&A->lq_cv);
    pthread_mutex_unlock(&A->lq_mu);
    pthread_join(A->bg, NULL);
    A->bg_started = 0;
}
