/*
 * producer.c — the accumulator: single records in, one encoded batch per
 * partition out, delivery reports back.
 *
 * Objects. A producer keeps, per topic it has seen, a `ptopic` (the topic
 * handle, its codec and batch limits, the sticky partition for null keys),
 * and per partition it has written a `ppart` holding at most one open batch
 * (`pbatch`: a klog_builder_t plus the msg_opaque of each record). Topics
 * and partitions are created on first use and live until close, so the
 * produce path reaches them without locks (atomic pointers, never freed
 * while the producer is open).
 *
 * Produce path (any thread). Charge the record's estimated size to the
 * buffer (waiting or failing when full), pick the partition, then under the
 * partition's `mu`: close the open batch if the record would take it past
 * KLOG_CONF_BATCH_BYTES, add the record (the builder copies it), and close
 * the batch if it reached its byte or record limit. A closed batch is
 * appended by the same thread, inside the same call: it takes the
 * partition's `send_mu` before it lets go of `mu`, so batches of one
 * partition reach the log, and their appended callbacks run, in the order
 * they were closed, while other threads keep filling the next batch.
 *
 * Why the filling thread appends, not the background thread: a full batch
 * is then encoded and written while its records are still hot in this
 * CPU's cache, with no hand-off, wake-up or queue per batch, and a thread
 * that produces faster than the disk takes is slowed by its own appends
 * (backpressure without a queue). On the 2-CPU machines the benchmark runs
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
 * Lock order: ppart.mu -> ppart.send_mu -> lq_mu; pool_mu, mem_mu and
 * done_mu are leaves. lq_mu also guards the durable queues and counters. Callbacks run holding send_mu (appended) or no lock
 * (durable), which is why they must not produce to the same producer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "produce/producer.h"
#include "storage/config.h"
#include "storage/log.h"
#include "storage/partition.h"

#define NCODECS 5
#define POOL_MAX 256      /* idle batches kept per codec */
#define REC_OVERHEAD 24   /* estimated per-record encoding + bookkeeping */
#define HDR_OVERHEAD 10   /* estimated varints per header */
#define BATCH_SLACK 64    /* room kept under max batch bytes for compression growth */
#define LINGER_POPS 64    /* linger closes per background pass before other work */

typedef struct ppart ppart_t;

typedef struct pbatch {
    struct pbatch *next;  /* pool, or the durable FIFO */
    klog_builder_t *b;
    int codec;
    void **opaque;        /* per record */
    size_t n, cap;
    int64_t mem;          /* bytes charged to the buffer */
    int64_t deadline;     /* monotonic ms */
    int64_t base;         /* assigned base offset, -1 before/without */
    int err;
    int encoded;          /* klog_builder_finish succeeded */
} pbatch_t;

typedef struct ptopic ptopic_t;

struct ppart {
    ptopic_t *topic;
    klog_partition_t *part;
    int32_t id;

    pthread_mutex_t mu;       /* open */
    pbatch_t *open;

    pthread_mutex_t send_mu;  /* append order and appended callbacks */
    klog_batch_reader_t *rd;  /* send_mu: decodes for the appended callback */

    /* lq_mu */
    ppart_t *lprev, *lnext;
    int linked;
    int64_t deadline;
    pbatch_t *dhead, *dtail;  /* appended, waiting for durability */
    ppart_t *dnext;
    int dlisted;

    _Atomic int64_t accepted;  /* records added (under mu) */
    _Atomic int64_t completed; /* records fully delivered (in order) */
};

struct ptopic {
    ptopic_t *next;
    char *name;
    klog_topic_t *t;
    int32_t n;
    int codec;
    int64_t max_batch;   /* topic's KLOG_CONF_MAX_BATCH_BYTES */
    int64_t batch_bytes; /* effective batch size limit */
    _Atomic int32_t sticky;
    _Atomic(ppart_t *) *parts;
};

struct klog_producer {
    klog_t *log;
    int64_t linger_ms, batch_bytes, batch_records, buffer_bytes, block_ms;
    int partitioner, durable;
    int codec;                 /* KLOG_CONF_COMPRESSION if set in cfg, else -1 */
    klog_delivery_fn on_appended, on_durable;
    void *cb_ctx;

    pthread_mutex_t topics_mu; /* creating topics and partitions */
    _Atomic(ptopic_t *) topics;

    _Atomic int64_t mem_used;
    pthread_mutex_t mem_mu;
    pthread_cond_t mem_cv;
    atomic_int mem_waiters;

    pthread_mutex_t lq_mu;
    pthread_cond_t lq_cv;      /* monotonic clock */
    ppart_t *lhead, *ltail;
    ppart_t *dhead, *dtail;    /* FIFO of partitions with batches waiting for fsync */
    int dcount;                /* partitions in it */
    int64_t dur_bytes;         /* buffer bytes of the batches waiting for fsync */
    int64_t dur_since;         /* monotonic ms: the oldest of them was appended */
    int64_t dur_threshold;     /* start a round at this many waiting bytes */
    int round_left;            /* partitions still to fsync in the current round */
    int flushing;              /* flush calls in progress */
    int stop;
    int bg_sleeping;           /* the background thread waits on lq_cv ... */
    int64_t bg_until;          /* ... until this monotonic ms (INT64_MAX: no limit) */

    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;    /* monotonic clock */
    atomic_int done_waiters;
    atomic_int first_err;

    pthread_mutex_t pool_mu;
    pbatch_t *pool[NCODECS];
    int npool[NCODECS];

    klog_batch_reader_t *bg_rd; /* background thread's decoder */
    pthread_t bg;
    int bg_started;
    atomic_int closing;
};

/* ------------------------------------------------------------ time */

static int64_t mono_ms(void) { return klog__mono_ns() / 1000000; }

static void deadline_ts(int64_t ms_from_now, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms_from_now / 1000;
    ts->tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static int cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc)
        return -rc;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return -rc;
}

/* ------------------------------------------------------------ buffer */

/* Take sz bytes if they fit. */
static int mem_try(klog_producer_t *P, int64_t sz)
{
    int64_t cur = atomic_load_explicit(&P->mem_used, memory_order_relaxed);
    while (cur + sz <= P->buffer_bytes)
        if (atomic_compare_exchange_weak(&P->mem_used, &cur, cur + sz))
            return 1;
    return 0;
}

static int mem_reserve(klog_producer_t *P, klog_partition_t *part, int64_t sz)
{
    if (KLOG__LIKELY(mem_try(P, sz)))
        return 0;
    if (P->block_ms == 0)
        return KLOG_EBUFFERFULL;
    int rc = 0;
    if (P->durable) {
        /* The buffer is (mostly) appended batches waiting for an fsync.
         * Spend the wait on one: fsyncs of different partitions then run
         * in parallel instead of one after another on the background
         * thread, which finds this one done and only delivers. */
        klog_flush(part);
        pthread_mutex_lock(&P->lq_mu);
        pthread_cond_signal(&P->lq_cv);
        pthread_mutex_unlock(&P->lq_mu);
        if (mem_try(P, sz))
            return 0;
    }
    int64_t until = mono_ms() + P->block_ms;
    /* Count ourselves before the check under mem_mu, so a release either
     * is seen by it or sees us and broadcasts. */
    atomic_fetch_add(&P->mem_waiters, 1);
    /* Waiting for room: ask the background thread to close open batches
     * now instead of at their linger deadline. */
    pthread_mutex_lock(&P->lq_mu);
    pthread_cond_signal(&P->lq_cv);
    pthread_mutex_unlock(&P->lq_mu);
    pthread_mutex_lock(&P->mem_mu);
    while (!mem_try(P, sz)) {
        int64_t left = until - mono_ms();
        if (left <= 0 || atomic_load(&P->closing)) {
            rc = KLOG_EBUFFERFULL;
            break;
        }
        struct timespec ts;
        deadline_ts(left, &ts);
        pthread_cond_timedwait(&P->mem_cv, &P->mem_mu, &ts);
    }
    atomic_fetch_sub(&P->mem_waiters, 1);
    pthread_mutex_unlock(&P->mem_mu);
    return rc;
}

static void mem_release(klog_producer_t *P, int64_t sz)
{
    if (sz <= 0)
        return;
    atomic_fetch_sub(&P->mem_used, sz);
    if (atomic_load(&P->mem_waiters) > 0) {
        pthread_mutex_lock(&P->mem_mu);
        pthread_cond_broadcast(&P->mem_cv);
        pthread_mutex_unlock(&P->mem_mu);
    }
}

/* ------------------------------------------------------------ batch pool */

static void batch_free(pbatch_t *b)
{
    if (!b)
        return;
    klog_builder_free(b->b);
    free(b->opaque);
    free(b);
}

static pbatch_t *batch_get(klog_producer_t *P, int codec, int *err)
{
    pthread_mutex_lock(&P->pool_mu);
    pbatch_t *b = P->pool[codec];
    if (b) {
        P->pool[codec] = b->next;
        P->npool[codec]--;
    }
    pthread_mutex_unlock(&P->pool_mu);
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

static void batch_put(klog_producer_t *P, pbatch_t *b)
{
    klog_builder_reset(b->b);
    pthread_mutex_lock(&P->pool_mu);
    if (P->npool[b->codec] < POOL_MAX) {
        b->next = P->pool[b->codec];
        P->pool[b->codec] = b;
        P->npool[b->codec]++;
        b = NULL;
    }
    pthread_mutex_unlock(&P->pool_mu);
    batch_free(b);
}

/* ------------------------------------------------------------ durable queue */

/* Queue pp for an fsync round unless it is queued (lq_mu held). */
static void dq_list(klog_producer_t *P, ppart_t *pp)
{
    if (pp->dlisted)
        return;
    pp->dlisted = 1;
    pp->dnext = NULL;
    if (P->dtail)
        P->dtail->dnext = pp;
    else
        P->dhead = pp;
    P->dtail = pp;
    P->dcount++;
}

static ppart_t *dq_pop(klog_producer_t *P)
{
    ppart_t *pp = P->dhead;
    P->dhead = pp->dnext;
    if (!P->dhead)
        P->dtail = NULL;
    pp->dnext = NULL;
    pp->dlisted = 0;
    P->dcount--;
    return pp;
}

/* Is an fsync round due? Rounds gather appended batches for up to linger
 * ms or a quarter of the buffer, so that each fsync covers a good run of
 * data instead of the few batches appended since the last one. */
static int round_due(const klog_producer_t *P, int force, int64_t now)
{
    return P->dhead && (force || P->dur_bytes >= P->dur_threshold ||
                        now >= P->dur_since + P->linger_ms);
}

/* ------------------------------------------------------------ delivery */

/* Run fn for every record of b (decoded with rd when the batch was encoded). */
static void deliver(klog_producer_t *P, ppart_t *pp, pbatch_t *b, klog_delivery_fn fn,
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
        fn(P->cb_ctx, &rec, pp->id, off, b->err, b->opaque[i]);
    }
}

/* The batch is done with: count it, free its buffer share, recycle it. */
static void complete(klog_producer_t *P, ppart_t *pp, pbatch_t *b)
{
    if (b->err) {
        int zero = 0;
        atomic_compare_exchange_strong(&P->first_err, &zero, b->err);
    }
    atomic_fetch_add(&pp->completed, (int64_t)b->n);
    mem_release(P, b->mem);
    batch_put(P, b);
    if (atomic_load(&P->done_waiters) > 0) {
        pthread_mutex_lock(&P->done_mu);
        pthread_cond_broadcast(&P->done_cv);
        pthread_mutex_unlock(&P->done_mu);
    }
}

/*
 * Encode and append a closed batch, then report it. send_mu held, which
 * keeps a partition's batches and callbacks in closing order.
 */
static void send_batch(klog_producer_t *P, ppart_t *pp, pbatch_t *b)
{
    if (b->n == 0) { /* opened, but its only add failed */
        mem_release(P, b->mem);
        batch_put(P, b);
        return;
    }
    const void *bytes;
    size_t len;
    int rc = klog_builder_finish(b->b, &bytes, &len);
    if (rc == 0) {
        b->encoded = 1;
        rc = klog__partition_append_encoded(pp->part, bytes, len, &b->base);
    }
    b->err = rc;
    if (P->on_appended) {
        if (!pp->rd)
            klog_batch_reader_new(&pp->rd); /* on failure: views without data */
        deliver(P, pp, b, P->on_appended, pp->rd);
    }
    if (!P->durable) {
        complete(P, pp, b);
        return;
    }
    pthread_mutex_lock(&P->lq_mu);
    if (pp->dtail)
        pp->dtail->next = b;
    else
        pp->dhead = b;
    pp->dtail = b;
    b->next = NULL;
    if (P->dur_bytes == 0)
        P->dur_since = mono_ms();
    P->dur_bytes += b->mem;
    dq_list(P, pp);
    if (P->bg_sleeping && (P->dur_bytes >= P->dur_threshold ||
                           P->dur_since + P->linger_ms < P->bg_until))
        pthread_cond_signal(&P->lq_cv);
    pthread_mutex_unlock(&P->lq_mu);
}

/* ------------------------------------------------------------ linger queue */

static void lq_unlink(klog_producer_t *P, ppart_t *pp)
{
    if (!pp->linked)
        return;
    if (pp->lprev)
        pp->lprev->lnext = pp->lnext;
    else
        P->lhead = pp->lnext;
    if (pp->lnext)
        pp->lnext->lprev = pp->lprev;
    else
        P->ltail = pp->lprev;
    pp->lprev = pp->lnext = NULL;
    pp->linked = 0;
}

/* A batch opened on pp: queue its deadline (mu held). */
static void lq_push(klog_producer_t *P, ppart_t *pp, int64_t deadline)
{
    pthread_mutex_lock(&P->lq_mu);
    lq_unlink(P, pp);
    pp->deadline = deadline;
    pp->lprev = P->ltail;
    pp->lnext = NULL;
    if (P->ltail)
        P->ltail->lnext = pp;
    else
        P->lhead = pp;
    P->ltail = pp;
    pp->linked = 1;
    /* Wake the background thread only if it sleeps past this deadline: a
     * batch closed for size leaves its stale deadline to one harmless
     * early wake-up instead of a wake-up per batch. */
    if (P->bg_sleeping && deadline < P->bg_until)
        pthread_cond_signal(&P->lq_cv);
    pthread_mutex_unlock(&P->lq_mu);
}

/* Take pp's open batch out (mu held). */
static pbatch_t *detach(klog_producer_t *P, ppart_t *pp)
{
    pbatch_t *b = pp->open;
    pp->open = NULL;
    pthread_mutex_lock(&P->lq_mu);
    lq_unlink(P, pp);
    pthread_mutex_unlock(&P->lq_mu);
    return b;
}

/* Close pp's open batch if it is due (or force) and append it. */
static void close_if_due(klog_producer_t *P, ppart_t *pp, int64_t now, int force)
{
    pthread_mutex_lock(&pp->mu);
    pbatch_t *b = pp->open;
    if (!b || (!force && b->deadline > now)) {
        pthread_mutex_unlock(&pp->mu);
        return;
    }
    detach(P, pp);
    pthread_mutex_lock(&pp->send_mu);
    pthread_mutex_unlock(&pp->mu);
    send_batch(P, pp, b);
    pthread_mutex_unlock(&pp->send_mu);
}

/* ------------------------------------------------------------ durability */

/* fsync pp's partition and complete the batches it made durable. */
static void make_durable(klog_producer_t *P, ppart_t *pp)
{
    int rc = klog_flush(pp->part);
    int64_t rp = klog__partition_recovery_point(pp->part);
    pthread_mutex_lock(&P->lq_mu);
    pbatch_t *ready = NULL, **tail = &ready;
    while (pp->dhead) {
        pbatch_t *b = pp->dhead;
        if (!b->err && rc == 0 && b->base + (int64_t)b->n > rp)
            break;
        pp->dhead = b->next;
        b->next = NULL;
        *tail = b;
        tail = &b->next;
        P->dur_bytes -= b->mem;
    }
    if (!pp->dhead)
        pp->dtail = NULL;
    else
        dq_list(P, pp);
    pthread_mutex_unlock(&P->lq_mu);
    while (ready) {
        pbatch_t *b = ready;
        ready = b->next;
        if (!b->err && rc)
            b->err = rc;
        if (P->on_durable)
            deliver(P, pp, b, P->on_durable, P->bg_rd);
        complete(P, pp, b);
    }
}

/* ------------------------------------------------------------ background */

static void *bg_main(void *arg)
{
    klog_producer_t *P = arg;
    pthread_mutex_lock(&P->lq_mu);
    while (!P->stop || P->lhead || P->dhead) {
        int force = P->flushing > 0 || atomic_load(&P->mem_waiters) > 0 || P->stop;
        int64_t now = mono_ms();
        int pops = 0;
        while (P->lhead && (force || P->lhead->deadline <= now) && pops < LINGER_POPS) {
            ppart_t *pp = P->lhead;
            lq_unlink(P, pp);
            pthread_mutex_unlock(&P->lq_mu);
            close_if_due(P, pp, now, force);
            pthread_mutex_lock(&P->lq_mu);
            pops++;
        }
        if (P->round_left == 0 && round_due(P, force, now)) {
            /* A round fsyncs the partitions queued now, once each: the
             * FIFO puts any that are queued again behind them. Batches
             * appended from here on wait for the next round. */
            P->round_left = P->dcount;
            if (P->dur_bytes > 0)
                P->dur_since = now;
        }
        if (P->round_left > 0 && P->dhead) {
            /* One partition at a time: once off the queue it may be
             * queued again (its dnext rewritten) by an appending thread. */
            ppart_t *pp = dq_pop(P);
            P->round_left--;
            pthread_mutex_unlock(&P->lq_mu);
            make_durable(P, pp);
            pthread_mutex_lock(&P->lq_mu);
            continue;
        }
        P->round_left = 0;
        if (pops == LINGER_POPS)
            continue;
        force = P->flushing > 0 || atomic_load(&P->mem_waiters) > 0 || P->stop;
        if (P->lhead && force)
            continue;
        if (P->dhead && force)
            continue;
        int64_t until = P->lhead ? P->lhead->deadline : INT64_MAX;
        if (P->dhead && P->dur_since + P->linger_ms < until)
            until = P->dur_since + P->linger_ms;
        if (until != INT64_MAX) {
            int64_t left = until - mono_ms();
            if (left > 0) {
                struct timespec ts;
                deadline_ts(left, &ts);
                P->bg_sleeping = 1;
                P->bg_until = until;
                pthread_cond_timedwait(&P->lq_cv, &P->lq_mu, &ts);
                P->bg_sleeping = 0;
            }
        } else if (!P->stop) {
            P->bg_sleeping = 1;
            P->bg_until = INT64_MAX;
            pthread_cond_wait(&P->lq_cv, &P->lq_mu);
            P->bg_sleeping = 0;
        }
    }
    pthread_mutex_unlock(&P->lq_mu);
    return NULL;
}

/* ------------------------------------------------------------ topics */

static ptopic_t *topic_find(klog_producer_t *P, const char *name)
{
    for (ptopic_t *t = atomic_load_explicit(&P->topics, memory_order_acquire); t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static int topic_lookup(klog_producer_t *P, const char *name, ptopic_t **out)
{
    ptopic_t *t = topic_find(P, name);
    if (KLOG__LIKELY(t != NULL)) {
        *out = t;
        return 0;
    }
    klog_topic_t *kt;
    int rc = klog_topic_get(P->log, name, &kt);
    if (rc)
        return rc;
    pthread_mutex_lock(&P->topics_mu);
    t = topic_find(P, name);
    if (t)
        goto out;
    t = klog__calloc(1, sizeof *t);
    if (!t) {
        rc = -ENOMEM;
        goto out;
    }
    t->name = klog__strdup(name);
    t->n = klog_topic_partition_count(kt);
    t->parts = klog__calloc((size_t)t->n, sizeof *t->parts);
    if (!t->name || !t->parts) {
        free(t->name);
        free(t->parts);
        free(t);
        t = NULL;
        rc = -ENOMEM;
        goto out;
    }
    t->t = kt;
    int64_t v = KLOG_COMPRESSION_NONE;
    klog_topic_config(kt, KLOG_CONF_COMPRESSION, &v);
    t->codec = P->codec >= 0 ? P->codec : (int)v;
    v = 1048588;
    klog_topic_config(kt, KLOG_CONF_MAX_BATCH_BYTES, &v);
    t->max_batch = v;
    int64_t cap = v - KLOG_BATCH_HEADER_SIZE - BATCH_SLACK;
    t->batch_bytes = P->batch_bytes < cap ? P->batch_bytes : cap;
    if (t->batch_bytes < 1)
        t->batch_bytes = 1;
    atomic_init(&t->sticky, 0);
    t->next = atomic_load(&P->topics);
    atomic_store_explicit(&P->topics, t, memory_order_release);
out:
    pthread_mutex_unlock(&P->topics_mu);
    *out = t;
    return rc;
}

static void ppart_free(ppart_t *pp)
{
    if (!pp)
        return;
    batch_free(pp->open);
    klog_batch_reader_free(pp->rd);
    pthread_mutex_destroy(&pp->mu);
    pthread_mutex_destroy(&pp->send_mu);
    free(pp);
}

static int ppart_get(klog_producer_t *P, ptopic_t *t, int32_t id, ppart_t **out)
{
    ppart_t *pp = atomic_load_explicit(&t->parts[id], memory_order_acquire);
    if (KLOG__LIKELY(pp != NULL)) {
        *out = pp;
        return 0;
    }
    klog_partition_t *kp;
    int rc = klog_partition_get(t->t, id, &kp);
    if (rc)
        return rc;
    pthread_mutex_lock(&P->topics_mu);
    pp = atomic_load(&t->parts[id]);
    if (!pp) {
        pp = klog__calloc(1, sizeof *pp);
        if (!pp) {
            rc = -ENOMEM;
        } else {
            pp->topic = t;
            pp->part = kp;
            pp->id = id;
            pthread_mutex_init(&pp->mu, NULL);
            pthread_mutex_init(&pp->send_mu, NULL);
            atomic_init(&pp->accepted, 0);
            atomic_init(&pp->completed, 0);
            atomic_store_explicit(&t->parts[id], pp, memory_order_release);
        }
    }
    pthread_mutex_unlock(&P->topics_mu);
    *out = pp;
    return rc;
}

/* ------------------------------------------------------------ produce */

static int bytes_ok(const void *p, int32_t len)
{
    return len >= KLOG_NULL_LEN && !(len > 0 && p == NULL);
}

/* Check rec as the builder will and estimate what it takes in a batch. */
static int rec_size(const klog_record_t *rec, int64_t *est)
{
    if (!bytes_ok(rec->key, rec->key_len) || !bytes_ok(rec->value, rec->value_len) ||
        (rec->header_count > 0 && !rec->headers) || rec->header_count > INT32_MAX / 2)
        return -EINVAL;
    int64_t sz = REC_OVERHEAD;
    sz += rec->key_len > 0 ? rec->key_len : 0;
    sz += rec->value_len > 0 ? rec->value_len : 0;
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        if (!h->key || h->key_len < 0 || !bytes_ok(h->value, h->value_len))
            return -EINVAL;
        sz += HDR_OVERHEAD + h->key_len + (h->value_len > 0 ? h->value_len : 0);
    }
    *est = sz;
    return 0;
}

static uint32_t rng_next(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)klog__mono_ns() ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (uint32_t)((s * 0x2545f4914f6cdd1dull) >> 32);
}

/* The sticky partition's batch closed: move null-key records elsewhere. */
static void sticky_next(ptopic_t *t, int32_t from)
{
    if (t->n < 2)
        return;
    int32_t to = (int32_t)((from + 1 + (int32_t)(rng_next() % (uint32_t)(t->n - 1))) % t->n);
    atomic_compare_exchange_strong(&t->sticky, &from, to);
}

static int batch_full(const klog_producer_t *P, const ptopic_t *t, const pbatch_t *b)
{
    return (int64_t)klog_builder_size(b->b) >= t->batch_bytes ||
           (P->batch_records > 0 && (int64_t)b->n >= P->batch_records);
}

int klog_produce(klog_producer_t *P, const char *topic, int32_t partition,
                 const klog_record_t *rec, void *msg_opaque)
{
    if (!P || !topic || !rec || partition < KLOG_PARTITION_ANY)
        return -EINVAL;
    if (atomic_load_explicit(&P->closing, memory_order_relaxed))
        return KLOG_ECLOSED;
    int64_t est;
    int rc = rec_size(rec, &est);
    if (rc)
        return rc;
    ptopic_t *t;
    rc = topic_lookup(P, topic, &t);
    if (rc)
        return rc;
    if (est + KLOG_BATCH_HEADER_SIZE > t->max_batch || est > P->buffer_bytes)
        return KLOG_ETOOLARGE;

    int sticky = 0;
    int32_t pid = partition;
    if (partition == KLOG_PARTITION_ANY) {
        if (rec->key_len == KLOG_NULL_LEN) {
            pid = atomic_load_explicit(&t->sticky, memory_order_relaxed);
            sticky = 1;
        } else {
            pid = klog_partition_for_key(P->partitioner, rec->key, (size_t)rec->key_len, t->n);
        }
    } else if (partition >= t->n) {
        return KLOG_ENOPARTITION;
    }
    ppart_t *pp;
    rc = ppart_get(P, t, pid, &pp);
    if (rc)
        return rc;
    rc = mem_reserve(P, pp->part, est);
    if (rc)
        return rc;

    pbatch_t *out[2];
    int nout = 0;
    pthread_mutex_lock(&pp->mu);
    pbatch_t *b = pp->open;
    if (b && b->n > 0 && (int64_t)klog_builder_size(b->b) + est > t->batch_bytes)
        out[nout++] = detach(P, pp), b = NULL;
    if (!b) {
        b = batch_get(P, t->codec, &rc);
        if (!b)
            goto unlock;
        pp->open = b;
        b->deadline = mono_ms() + P->linger_ms;
        lq_push(P, pp, b->deadline);
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        void **o = klog__realloc(b->opaque, cap * sizeof *o);
        if (!o) {
            rc = -ENOMEM;
            goto unlock;
        }
        b->opaque = o;
        b->cap = cap;
    }
    rc = klog_builder_add(b->b, rec);
    if (rc)
        goto unlock;
    b->opaque[b->n++] = msg_opaque;
    b->mem += est;
    est = 0;
    atomic_fetch_add_explicit(&pp->accepted, 1, memory_order_relaxed);
    if (batch_full(P, t, b))
        out[nout++] = detach(P, pp);
unlock:
    if (nout == 0) {
        pthread_mutex_unlock(&pp->mu);
    } else {
        pthread_mutex_lock(&pp->send_mu);
        pthread_mutex_unlock(&pp->mu);
        for (int i = 0; i < nout; i++)
            send_batch(P, pp, out[i]);
        pthread_mutex_unlock(&pp->send_mu);
        if (sticky)
            sticky_next(t, pid);
    }
    mem_release(P, est); /* not accepted: give the charge back */
    return rc;
}

/* ------------------------------------------------------------ flush */

typedef struct flush_mark {
    ppart_t *pp;
    int64_t target;
} flush_mark_t;

static int marks_done(const flush_mark_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&m[i].pp->completed) < m[i].target)
            return 0;
    return 1;
}

int klog_producer_flush(klog_producer_t *P, int timeout_ms)
{
    if (!P)
        return -EINVAL;
    /* Snapshot what has been accepted so far, partition by partition. */
    size_t n = 0, cap = 0;
    flush_mark_t *m = NULL;
    pthread_mutex_lock(&P->topics_mu);
    for (ptopic_t *t = atomic_load(&P->topics); t; t = t->next)
        for (int32_t i = 0; i < t->n; i++)
            cap += atomic_load(&t->parts[i]) != NULL;
    if (cap && !(m = klog__malloc(cap * sizeof *m))) {
        pthread_mutex_unlock(&P->topics_mu);
        return -ENOMEM;
    }
    for (ptopic_t *t = atomic_load(&P->topics); t; t = t->next)
        for (int32_t i = 0; i < t->n; i++) {
            ppart_t *pp = atomic_load(&t->parts[i]);
            if (pp)
                m[n++] = (flush_mark_t){pp, atomic_load(&pp->accepted)};
        }
    pthread_mutex_unlock(&P->topics_mu);

    pthread_mutex_lock(&P->lq_mu);
    P->flushing++;
    pthread_cond_signal(&P->lq_cv);
    pthread_mutex_unlock(&P->lq_mu);

    int rc = 0;
    int64_t until = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    pthread_mutex_lock(&P->done_mu);
    atomic_fetch_add(&P->done_waiters, 1);
    while (!marks_done(m, n)) {
        int64_t left = until == INT64_MAX ? 1000 : until - mono_ms();
        if (left <= 0) {
            rc = KLOG_ETIMEDOUT;
            break;
        }
        struct timespec ts;
        deadline_ts(left, &ts);
        pthread_cond_timedwait(&P->done_cv, &P->done_mu, &ts);
    }
    atomic_fetch_sub(&P->done_waiters, 1);
    pthread_mutex_unlock(&P->done_mu);

    pthread_mutex_lock(&P->lq_mu);
    P->flushing--;
    pthread_mutex_unlock(&P->lq_mu);
    free(m);
    if (rc == 0)
        rc = atomic_exchange(&P->first_err, 0);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

static void producer_free(klog_producer_t *P)
{
    ptopic_t *t = atomic_load(&P->topics);
    while (t) {
        ptopic_t *next = t->next;
        for (int32_t i = 0; i < t->n; i++)
            ppart_free(atomic_load(&t->parts[i]));
        free(t->parts);
        free(t->name);
        free(t);
        t = next;
    }
    for (int c = 0; c < NCODECS; c++)
        while (P->pool[c]) {
            pbatch_t *b = P->pool[c];
            P->pool[c] = b->next;
            batch_free(b);
        }
    klog_batch_reader_free(P->bg_rd);
    pthread_mutex_destroy(&P->topics_mu);
    pthread_mutex_destroy(&P->mem_mu);
    pthread_cond_destroy(&P->mem_cv);
    pthread_mutex_destroy(&P->lq_mu);
    pthread_cond_destroy(&P->lq_cv);
    pthread_mutex_destroy(&P->done_mu);
    pthread_cond_destroy(&P->done_cv);
    pthread_mutex_destroy(&P->pool_mu);
    free(P);
}

int klog_producer_new(klog_t *log, const klog_config_t *cfg, klog_producer_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!log)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    klog_producer_t *P = klog__calloc(1, sizeof *P);
    if (!P)
        return -ENOMEM;
    P->log = log;
    P->linger_ms = klog__config_value(cfg, NULL, KLOG_CONF_LINGER_MS);
    P->batch_bytes = klog__config_value(cfg, NULL, KLOG_CONF_BATCH_BYTES);
    P->batch_records = klog__config_value(cfg, NULL, KLOG_CONF_BATCH_RECORDS);
    P->buffer_bytes = klog__config_value(cfg, NULL, KLOG_CONF_BUFFER_BYTES);
    P->block_ms = klog__config_value(cfg, NULL, KLOG_CONF_BLOCK_MS);
    P->partitioner = (int)klog__config_value(cfg, NULL, KLOG_CONF_PARTITIONER);
    P->durable = (int)klog__config_value(cfg, NULL, KLOG_CONF_DURABLE_DELIVERY);
    P->dur_threshold = P->buffer_bytes / 4;
    P->codec = cfg && KLOG__CONF_ISSET(cfg, KLOG_CONF_COMPRESSION)
                   ? (int)klog__config_value(cfg, NULL, KLOG_CONF_COMPRESSION)
                   : -1;
    atomic_init(&P->topics, NULL);
    atomic_init(&P->mem_used, 0);
    atomic_init(&P->mem_waiters, 0);
    atomic_init(&P->done_waiters, 0);
    atomic_init(&P->first_err, 0);
    atomic_init(&P->closing, 0);
    pthread_mutex_init(&P->topics_mu, NULL);
    pthread_mutex_init(&P->mem_mu, NULL);
    pthread_mutex_init(&P->lq_mu, NULL);
    pthread_mutex_init(&P->done_mu, NULL);
    pthread_mutex_init(&P->pool_mu, NULL);
    int rc = cond_init_mono(&P->mem_cv);
    if (!rc)
        rc = cond_init_mono(&P->lq_cv);
    if (!rc)
        rc = cond_init_mono(&P->done_cv);
    if (!rc)
        rc = klog_batch_reader_new(&P->bg_rd);
    if (!rc) {
        rc = -pthread_create(&P->bg, NULL, bg_main, P);
        P->bg_started = rc == 0;
    }
    if (rc) {
        producer_free(P);
        return rc;
    }
    *out = P;
    return 0;
}

void klog_producer_set_delivery(klog_producer_t *P, klog_delivery_fn appended,
                                klog_delivery_fn durable, void *ctx)
{
    if (!P)
        return;
    P->on_appended = appended;
    P->on_durable = durable;
    P->cb_ctx = ctx;
}

int klog_producer_close(klog_producer_t *P)
{
    if (!P)
        return 0;
    atomic_store(&P->closing, 1);
    int rc = klog_producer_flush(P, -1);
    pthread_mutex_lock(&P->lq_mu);
    P->stop = 1;
    pthread_cond_signal(&P->lq_cv);
    pthread_mutex_unlock(&P->lq_mu);
    if (P->bg_started)
        pthread_join(P->bg, NULL);
    /* Batches a failed flush left behind were reported by the background
     * thread's last passes (it drains both queues before it stops). */
    if (rc == 0)
        rc = atomic_exchange(&P->first_err, 0);
    producer_free(P);
    return rc;
}
