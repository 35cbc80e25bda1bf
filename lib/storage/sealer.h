/*
 * sealer.h — the queue of rolled segments waiting to be fsynced and
 * sealed off the append path (as Kafka flushes rolled segments
 * asynchronously). The log's background thread drains it.
 */
#ifndef KLOG_STORAGE_SEALER_H
#define KLOG_STORAGE_SEALER_H

#include "storage/segment.h"

typedef struct klog__sealer klog__sealer_t;

/* Called on the sealer's thread after sealing s (rc its result). */
typedef void (*klog__sealed_fn)(void *ctx, klog__segment_t *s, int rc);

KLOG__HIDDEN int klog__sealer_new(klog__sealer_t **out);
/* Only after klog__sealer_next returned -1 (or was never run). Drops the
 * references of anything still queued. */
KLOG__HIDDEN void klog__sealer_free(klog__sealer_t *q);
/* Queue s (the caller's reference moves into the queue); done(ctx, s, rc)
 * runs after the seal. Deleted segments are skipped. */
KLOG__HIDDEN void klog__sealer_queue(klog__sealer_t *q, klog__segment_t *s, klog__sealed_fn done,
                                     void *ctx);
/* The background thread's step: seal one queued segment (1), or sleep up
 * to timeout_ms for work (0 on timeout), or -1 once stopped and empty. */
KLOG__HIDDEN int klog__sealer_next(klog__sealer_t *q, int timeout_ms);
/* Ask klog__sealer_next to finish the queue and return -1. */
KLOG__HIDDEN void klog__sealer_stop(klog__sealer_t *q);
/* Wait until nothing queued with this ctx (NULL: anything) is pending. */
KLOG__HIDDEN void klog__sealer_wait(klog__sealer_t *q, const void *ctx);

#endif
