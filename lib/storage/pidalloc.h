/*
 * pidalloc.h — the log's producer-id allocator (pidalloc.c): ids reserved
 * in durable blocks in "klog.producer-ids" at the log root. The log owns
 * one (read-write opens only); klog_producer_id_alloc() is its public face.
 */
#ifndef KLOG_STORAGE_PIDALLOC_H
#define KLOG_STORAGE_PIDALLOC_H

#include "platform/platform.h"
#include "storage/log.h"

#define KLOG__PIDS_SIZE 32

typedef struct klog__pidalloc klog__pidalloc_t;

KLOG__HIDDEN int klog__pidalloc_new(klog__pidalloc_t **out);
KLOG__HIDDEN void klog__pidalloc_free(klog__pidalloc_t *a);
/* The next id of log's allocator a (first use reads the file or scans the
 * partitions). Errors: -errno of the file write (nothing handed out),
 * KLOG_EVERSION (a newer libklog's file), -EOVERFLOW (ids exhausted). */
KLOG__HIDDEN int klog__pidalloc_next(klog__log_t *log, klog__pidalloc_t *a,
                                     const klog__logger_t *lg, int64_t *id);

/* The file's bytes (fuzzing, tests): decode gives KLOG_ECORRUPT for
 * anything malformed, KLOG_EVERSION for another version. */
KLOG__HIDDEN int klog__pids_decode(const uint8_t *buf, size_t len, int64_t *end);
KLOG__HIDDEN void klog__pids_encode(int64_t end, uint8_t buf[KLOG__PIDS_SIZE]);

#endif
