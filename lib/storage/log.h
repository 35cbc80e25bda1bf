/*
 * log.h — the log directory (the public klog_t, opaque here; log.c owns
 * struct klog): what other layers and the tests may ask of a log.
 */
#ifndef KLOG_STORAGE_LOG_H
#define KLOG_STORAGE_LOG_H

#include "platform/platform.h"
#include "storage/segment.h"

typedef struct klog klog__log_t;

KLOG__HIDDEN int klog__is_rdonly(const klog__log_t *log);
/* Write the recovery-point and log-start checkpoints now. */
KLOG__HIDDEN int klog__log_write_checkpoints(klog__log_t *log);
/* Wait until no rolled segment is waiting to be sealed. */
KLOG__HIDDEN void klog__log_wait_seals(klog__log_t *log);
/* Recovery work since open (tests). */
KLOG__HIDDEN const klog__recovery_stats_t *klog__log_stats(const klog__log_t *log);
/* Descriptors the log's descriptor cache accounts now (tests). */
KLOG__HIDDEN int klog__log_open_fds(const klog__log_t *log);

#endif
