/*
 * producer.h — internals of the produce layer shared between its files:
 * the hash behind Kafka's partitioner, and the parts the producer
 * (producer.c, which owns struct klog_producer and the per-partition state
 * struct klog__ppart) is built from, each owned by one file:
 *   pbuffer.c  the buffer: bytes accepted and not yet completed
 *   pbatch.c   a batch being filled or delivered, and the pool of idle ones
 *   ptopics.c  the table of topics produced to, with per-partition slots
 *   accum.c    the per-partition state, batching, appends, linger and
 *              the background thread, with accum_durable.c for durable
 *              delivery's fsync rounds (accum_impl.h, their shared state)
 *   psend.c    the send path of one batch: idempotent stamping (producer
 *              id, epoch, sequence) and retries
 */
#ifndef KLOG_PRODUCER_H
#define KLOG_PRODUCER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "platform/platform.h"

/* Kafka's Utils.murmur2 (MurmurHash2, seed 0x9747b28c) as an unsigned
 * 32-bit value: the bits of Java's int result. */
KLOG__HIDDEN uint32_t klog__murmur2(const void *key, size_t len);

/* ------------------------------------------------------------ time */

static inline int64_t klog__mono_ms(void) { return klog__mono_ns() / 1000000; }

/* The CLOCK_MONOTONIC time ms_from_now ms ahead, for timed waits. */
static inline void klog__deadline_ts(int64_t ms_from_now, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms_from_now / 1000;
    ts->tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* A condition variable timed on CLOCK_MONOTONIC. 0 or -errno. */
static inline int klog__cond_init_mono(pthread_cond_t *cv)
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

/* ------------------------------------------------------------ pbuffer.c */

typedef struct klog__pbuffer klog__pbuffer_t;
KLOG__HIDDEN int klog__pbuffer_new(int64_t cap, klog__pbuffer_t **out);
KLOG__HIDDEN void klog__pbuffer_free(klog__pbuffer_t *b); /* NULL accepted */
KLOG__HIDDEN int64_t klog__pbuffer_cap(const klog__pbuffer_t *b);
/* Take sz bytes if they fit: 1, else 0. Lock-free. */
KLOG__HIDDEN int klog__pbuffer_try(klog__pbuffer_t *b, int64_t sz);
/* Before waiting: count the caller as a waiter (then ask for room). */
KLOG__HIDDEN void klog__pbuffer_wait_begin(klog__pbuffer_t *b);
/* Wait for sz bytes until monotonic until_ms or *closing; ends the wait
 * begun above. 0 (taken) or KLOG_EBUFFERFULL. */
KLOG__HIDDEN int klog__pbuffer_wait(klog__pbuffer_t *b, int64_t sz, int64_t until_ms,
                                    const atomic_int *closing);
/* Is anyone waiting for room? */
KLOG__HIDDEN int klog__pbuffer_waiting(klog__pbuffer_t *b);
/* Give sz bytes back (waking waiters). */
KLOG__HIDDEN void klog__pbuffer_release(klog__pbuffer_t *b, int64_t sz);

/* ------------------------------------------------------------ pbatch.c */

typedef struct klog__pbatch klog__pbatch_t;
typedef struct klog__pbpool klog__pbpool_t;
KLOG__HIDDEN int klog__pbpool_new(klog__pbpool_t **out);
KLOG__HIDDEN void klog__pbpool_free(klog__pbpool_t *p); /* NULL accepted */
/* An empty batch of codec (recycled or new); NULL with *err set. */
KLOG__HIDDEN klog__pbatch_t *klog__pbatch_get(klog__pbpool_t *p, int codec, int *err);
/* Back to the pool (or freed when the pool is full). */
KLOG__HIDDEN void klog__pbatch_put(klog__pbpool_t *p, klog__pbatch_t *b);
KLOG__HIDDEN void klog__pbatch_free(klog__pbatch_t *b); /* NULL accepted */
/* Add rec (copied) with its msg_opaque, charging est buffer bytes. On
 * error (-ENOMEM, -EINVAL) the batch is unchanged. */
KLOG__HIDDEN int klog__pbatch_add(klog__pbatch_t *b, const klog_record_t *rec, void *opaque,
                                  int64_t est);
KLOG__HIDDEN size_t klog__pbatch_records(const klog__pbatch_t *b);
KLOG__HIDDEN size_t klog__pbatch_bytes(const klog__pbatch_t *b); /* encoded size so far */
KLOG__HIDDEN int64_t klog__pbatch_mem(const klog__pbatch_t *b);  /* buffer bytes charged */
KLOG__HIDDEN int64_t klog__pbatch_deadline(const klog__pbatch_t *b);
KLOG__HIDDEN void klog__pbatch_set_deadline(klog__pbatch_t *b, int64_t ms);
/* The link of a FIFO of batches. */
KLOG__HIDDEN klog__pbatch_t *klog__pbatch_next(const klog__pbatch_t *b);
KLOG__HIDDEN void klog__pbatch_set_next(klog__pbatch_t *b, klog__pbatch_t *next);
/* Encode: the batch's bytes (its own buffer, valid until it is reused;
 * the append stamps the base offset in it), stamped with producer id pid
 * (-1: none), epoch and base sequence seq. 0 or an error. */
KLOG__HIDDEN int klog__pbatch_encode(klog__pbatch_t *b, int64_t pid, int16_t epoch, int32_t seq,
                                     uint8_t **bytes, size_t *len);
/* The append's outcome: base offset, or err. */
KLOG__HIDDEN void klog__pbatch_set_result(klog__pbatch_t *b, int64_t base, int err);
/* Record err unless the batch already failed. */
KLOG__HIDDEN void klog__pbatch_fail(klog__pbatch_t *b, int err);
KLOG__HIDDEN int klog__pbatch_err(const klog__pbatch_t *b);
/* One past its last offset (base + records). */
KLOG__HIDDEN int64_t klog__pbatch_end(const klog__pbatch_t *b);
/* Run fn(ctx, record, partition, offset, err, opaque) for each record,
 * decoding with rd (NULL or a failed decode: empty views). */
KLOG__HIDDEN void klog__pbatch_deliver(klog__pbatch_t *b, klog_delivery_fn fn, void *ctx,
                                       int32_t partition, klog_batch_reader_t *rd);

/* ------------------------------------------------------------ psend.c */

typedef struct klog__psender klog__psender_t;
/* pid -1: not idempotent (no stamping). retries, backoff and timeout as
 * KLOG_CONF_RETRIES, _RETRY_BACKOFF_MS, _DELIVERY_TIMEOUT_MS. */
KLOG__HIDDEN int klog__psender_new(int64_t pid, int16_t epoch, int64_t retries,
                                   int64_t backoff_ms, int64_t timeout_ms,
                                   klog__psender_t **out);
KLOG__HIDDEN void klog__psender_free(klog__psender_t *S); /* NULL accepted */
KLOG__HIDDEN int64_t klog__psender_pid(const klog__psender_t *S);
KLOG__HIDDEN int16_t klog__psender_epoch(const klog__psender_t *S);
/* Has an append been refused as fenced (fatal for the producer)? */
KLOG__HIDDEN int klog__psender_fenced(klog__psender_t *S);
/* Retry attempts made so far. */
KLOG__HIDDEN int64_t klog__psender_retried(klog__psender_t *S);
/* Kafka's sequence arithmetic: seq + n, wrapping after INT32_MAX to 0. */
KLOG__HIDDEN int32_t klog__pseq_add(int32_t seq, int64_t n);
/* Encode b (stamped with *next_seq in idempotent mode) and append it to
 * part, retrying transient failures; on success *base is the batch's
 * first offset (the original one for a duplicate) and *next_seq moves
 * past the batch. The partition's send_mu held. 0 or the final error. */
KLOG__HIDDEN int klog__psend(klog__psender_t *S, klog_partition_t *part, klog__pbatch_t *b,
                             int32_t *next_seq, int64_t *base);

/* ------------------------------------------------------------ ptopics.c */

typedef struct klog__ptopic klog__ptopic_t;
typedef struct klog__ptable klog__ptable_t;
struct klog__ppart; /* accum.c's (accum_impl.h) */
KLOG__HIDDEN int klog__ptable_new(klog__ptable_t **out);
/* Free the table, calling free_part on every partition state. */
KLOG__HIDDEN void klog__ptable_free(klog__ptable_t *tab, void (*free_part)(struct klog__ppart *pp));
/* The topic's entry, created on first use: codec >= 0 overrides the
 * topic's KLOG_CONF_COMPRESSION; batch_bytes is capped below the topic's
 * max batch. Errors: klog_topic_get's, -ENOMEM. Any thread. */
KLOG__HIDDEN int klog__ptopic_lookup(klog__ptable_t *tab, klog_t *log, const char *name,
                                     int codec, int64_t batch_bytes, klog__ptopic_t **out);
KLOG__HIDDEN int32_t klog__ptopic_partitions(const klog__ptopic_t *t);
KLOG__HIDDEN int klog__ptopic_codec(const klog__ptopic_t *t);
KLOG__HIDDEN int64_t klog__ptopic_max_batch(const klog__ptopic_t *t);
KLOG__HIDDEN int64_t klog__ptopic_batch_bytes(const klog__ptopic_t *t);
/* The partition the calling thread's records without a key go to (*slot:
 * the thread's sticky slot), and moving that slot on when the batch its
 * partition had closed (if nobody moved it meanwhile). */
KLOG__HIDDEN int32_t klog__ptopic_sticky(klog__ptopic_t *t, int *slot);
KLOG__HIDDEN void klog__ptopic_sticky_next(klog__ptopic_t *t, int slot, int32_t from);
/* Partition id's state, or NULL before it is created. Lock-free. */
KLOG__HIDDEN struct klog__ppart *klog__ptopic_part(klog__ptopic_t *t, int32_t id);
/* Create it (make runs under the table's mutex) unless another thread did.
 * Errors: klog_partition_get's, -ENOMEM (make returned NULL). */
KLOG__HIDDEN int klog__ptopic_part_create(klog__ptable_t *tab, klog__ptopic_t *t, int32_t id,
                                          struct klog__ppart *(*make)(klog__ptopic_t *t,
                                                                      klog_partition_t *part,
                                                                      int32_t id),
                                          struct klog__ppart **out);
/* Every partition state created so far (malloc'd array). 0 or -ENOMEM. */
KLOG__HIDDEN int klog__ptable_parts(klog__ptable_t *tab, struct klog__ppart ***out, size_t *count);

/* ------------------------------------------------------------ accum.c */

typedef struct klog__ppart klog__ppart_t;
typedef struct klog__accum klog__accum_t;
/* Start the accumulator (and its background thread). It takes batches
 * from pool, gives their bytes back to buf and sends through S; all three
 * outlive it. */
KLOG__HIDDEN int klog__accum_new(int64_t linger_ms, int64_t batch_records, int durable,
                                 int64_t dur_threshold, klog__pbuffer_t *buf,
                                 klog__pbpool_t *pool, klog__psender_t *S, klog__accum_t **out);
KLOG__HIDDEN void klog__accum_set_delivery(klog__accum_t *A, klog_delivery_fn appended,
                                           klog_delivery_fn durable, void *ctx);
/* Stop the background thread once it has drained both queues (idempotent). */
KLOG__HIDDEN void klog__accum_stop(klog__accum_t *A);
KLOG__HIDDEN void klog__accum_free(klog__accum_t *A); /* after stop; NULL accepted */
/* Ask the background thread to look now (close open batches when someone
 * waits for buffer room, start an fsync round). */
KLOG__HIDDEN void klog__accum_wake(klog__accum_t *A);
/* Add one record (est buffer bytes already charged) to pp's open batch,
 * appending whatever closed; *closed says whether a batch closed. 0, or
 * the error that kept the record out (its charge is the caller's again). */
KLOG__HIDDEN int klog__accum_add(klog__accum_t *A, klog__ppart_t *pp, const klog__ptopic_t *t,
                                 const klog_record_t *rec, void *msg_opaque, int64_t est,
                                 int *closed);
/* Close every open batch now and wait until parts[i] completed targets[i]
 * records (timeout_ms < 0: no limit). 0 or KLOG_ETIMEDOUT. */
KLOG__HIDDEN int klog__accum_flush(klog__accum_t *A, klog__ppart_t *const *parts,
                                   const int64_t *targets, size_t n, int timeout_ms);
/* The first batch error since the last call, cleared (0: none). */
KLOG__HIDDEN int klog__accum_take_error(klog__accum_t *A);
/* Partition states (created through klog__ptopic_part_create). */
KLOG__HIDDEN klog__ppart_t *klog__ppart_new(klog__ptopic_t *t, klog_partition_t *part, int32_t id);
KLOG__HIDDEN void klog__ppart_free(klog__ppart_t *pp);
KLOG__HIDDEN klog_partition_t *klog__ppart_partition(const klog__ppart_t *pp);
/* Records accepted so far. */
KLOG__HIDDEN int64_t klog__ppart_accepted(klog__ppart_t *pp);
/* The sequence pp's next batch gets (idempotent mode; tests set it to
 * reach the wrap-around). Under pp's send_mu. */
KLOG__HIDDEN int32_t klog__ppart_next_seq(klog__ppart_t *pp);
KLOG__HIDDEN void klog__ppart_set_next_seq(klog__ppart_t *pp, int32_t seq);

/* ------------------------------------------------------------ producer.c */

/* Test hooks: set the sequence the next batch to topic/partition gets
 * (to reach the wrap-around at INT32_MAX); retry attempts made so far. */
KLOG__HIDDEN int klog__producer_set_sequence(klog_producer_t *P, const char *topic,
                                             int32_t partition, int32_t seq);
KLOG__HIDDEN int64_t klog__producer_retries(klog_producer_t *P);

#endif
