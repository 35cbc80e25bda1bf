/*
 * accum_impl.h — the accumulator's state (see accum.c), shared by the
 * files that make it up: accum.c (adding, closing, appending, linger,
 * the background thread, flush) and accum_durable.c (durable delivery's
 * fsync rounds). No other file includes it.
 */
#ifndef KLOG_PRODUCE_ACCUM_IMPL_H
#define KLOG_PRODUCE_ACCUM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "produce/producer.h"

typedef struct klog__ppart ppart_t;

/* Groups 64 bytes apart (cache lines): producing threads take `mu` per
 * record while the appending thread holds `send_mu` and counts. */
struct klog__ppart {
    klog__ptopic_t *topic;
    klog_partition_t *part;
    int32_t id;

    char pad0[64];
    pthread_mutex_t mu;        /* open */
    klog__pbatch_t *open;
    klog__pbatch_t *shead, *stail; /* mu: closed, to append in this order */
    _Atomic int64_t accepted;  /* records added (under mu) */

    char pad1[64];
    pthread_mutex_t send_mu;   /* append order and appended callbacks */
    klog_batch_reader_t *rd;  /* send_mu: decodes for the appended callback */
    int32_t next_seq;         /* send_mu: idempotent mode's next base sequence */

    /* lq_mu */
    ppart_t *lprev, *lnext;
    int linked;
    int64_t deadline;
    klog__pbatch_t *dhead, *dtail; /* appended, waiting for durability */
    ppart_t *dnext;
    int dlisted;

    _Atomic int64_t completed; /* records fully delivered (in order) */
};

struct klog__accum {
    int64_t linger_ms, batch_records;
    int durable;
    klog_delivery_fn on_appended, on_durable;
    void *cb_ctx;
    klog__pbuffer_t *buf;      /* the producer's: batches give their bytes back */
    klog__pbpool_t *pool;      /* the producer's: batches come from and go back to it */
    klog__psender_t *sender;   /* the producer's: stamps, appends, retries */

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

    klog_batch_reader_t *bg_rd; /* background thread's decoder */
    pthread_t bg;
    int bg_started;
};

/* accum.c: the batch is done with: count it, free its buffer share,
 * recycle it. */
KLOG__HIDDEN void klog__accum_complete(klog__accum_t *A, ppart_t *pp, klog__pbatch_t *b);

/* accum_durable.c. An appended batch waits for its fsync (lq_mu not held). */
KLOG__HIDDEN void klog__accum_queue_durable(klog__accum_t *A, ppart_t *pp, klog__pbatch_t *b);
/* The background thread's fsync step (lq_mu held): 1 when it fsynced one
 * partition of a round (letting go of lq_mu meanwhile), 0 when no round
 * is due or left. */
KLOG__HIDDEN int klog__accum_durable_step(klog__accum_t *A, int force, int64_t now);

#endif
