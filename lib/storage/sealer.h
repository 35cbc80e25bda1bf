/*
 * sealer.h — the queue of rolled segments waiting to be fsynced and
 * sealed off the append path (as Kafka flushes rolled segments
 * asynchronously). The log's background thread drains it.
 */
#ifndef KLOG_STORAGE_SEALER_H
#define KLOG_STORAGE_SEALER_H

#include "storage/segment.h"

typedef struct klog__sealer klog__sealer_t;

/* Seals s and records the outcome (on the sealer's thread, or in a roll
 * that seals its own partition's segments). */
typedef void (*klog__seal_fn)(void *ctx, klog__segment_t *s);

KLOG__HIDDEN int klog__sealer_new(klog__sealer_t **out);
/* Only after klog__sealer_next returned -1 (or was never run). Drops the
 * references of anything still queued. */
KLOG__HIDDEN void klog__sealer_free(klog__sealer_t *q);
/* Queue s (the caller's reference moves into the queue); seal(ctx, s)
 * seals it in its turn. Deleted segments are skipped. */
KLOG__HIDDEN void klog__sealer_queue(klog__sealer_t *q, klog__segment_t *s, klog__seal_fn seal,
                                     void *ctx);
/* The background thread's step: seal one queued segment (1), or sleep up
 * to timeout_ms for work (0 on timeout), or -1 once stopped and empty. */
KLOG__HIDDEN int klog__sealer_next(klog__sealer_t *q, int timeout_ms);
/* Ask klog__sealer_next to finish the queue and return -1. */
KLOG__HIDDEN void klog__sealer_stop(klog__sealer_t *q);
/* Wait until nothing queued with this ctx (NULL: anything) is pending. */
KLOG__HIDDEN void klog__sealer_wait(klog__sealer_t *q, const void *ctx);

/*
 * The backlog bound: at most KLOG__SEAL_BACKLOG_SEGMENTS segments or
 * KLOG__SEAL_BACKLOG_BYTES bytes of .log wait for their seal (a kill -9
 * leaves at most that much to scan at the next open, besides each
 * partition's active segment). A roll that finds the queue over either
 * seals its partition's segments itself (klog__sealer_seal_own): appends
 * then go at the disk's fsync rate.
 */
#define KLOG__SEAL_BACKLOG_SEGMENTS 1024
#define KLOG__SEAL_BACKLOG_BYTES (256LL << 20)
/* Is the queue at or over the bound? */
KLOG__HIDDEN int klog__sealer_backlogged(klog__sealer_t *q);
/* Seal, in this thread and in queue order, every segment queued with ctx
 * (after the one the sealer may be sealing now), running their callbacks.
 * Takes no lock of ctx's: callable under a partition's append lock. */
KLOG__HIDDEN void klog__sealer_seal_own(klog__sealer_t *q, const void *ctx);

#endif
