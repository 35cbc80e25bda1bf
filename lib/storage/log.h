/*
 * log.h — the log directory (the public klog_t, opaque here; log.c owns
 * struct klog): what other layers and the tests may ask of a log.
 */
#ifndef KLOG_STORAGE_LOG_H
#define KLOG_STORAGE_LOG_H

#include "platform/platform.h"
#include "storage/files.h"
#include "storage/segment.h"

typedef struct klog klog__log_t;
typedef struct klog_topic klog__topic_t; /* topic.c */

KLOG__HIDDEN int klog__is_rdonly(const klog__log_t *log);
/* The directory the log was opened at. */
KLOG__HIDDEN const char *klog__log_dir(const klog__log_t *log);

/* Change the topic called name under the topics lock: stage() builds its new
 * record in *m (0 or an error, nothing live changed), klog.topics is
 * written with it, then commit() makes it live, or undo() throws the staged
 * state away when the write failed. KLOG_ENOTOPIC, KLOG_EREADONLY, stage's
 * or the write's error. */
typedef struct klog__topic_update {
    int (*stage)(klog__topic_t *t, void *arg, klog__topic_meta_t *m);
    void (*commit)(klog__topic_t *t, void *arg, const klog__topic_meta_t *m);
    void (*undo)(klog__topic_t *t, void *arg);
    void *arg;
} klog__topic_update_t;
KLOG__HIDDEN int klog__log_update_topic(klog__log_t *log, const char *name,
                                        const klog__topic_update_t *u);
/* Write the recovery-point and log-start checkpoints now. */
KLOG__HIDDEN int klog__log_write_checkpoints(klog__log_t *log);
/* Wait until no rolled segment is waiting to be sealed. */
KLOG__HIDDEN void klog__log_wait_seals(klog__log_t *log);
/* Call fn for every partition of every topic under the topics lock (so
 * none is deleted meanwhile) until it returns nonzero; that value, or 0. */
struct klog_partition;
KLOG__HIDDEN int klog__log_each_partition(klog__log_t *log,
                                          int (*fn)(void *ctx, struct klog_partition *p),
                                          void *ctx);
/* The log's cleaner (cleaner.h), NULL for read-only logs. */
struct klog__cleaner;
KLOG__HIDDEN struct klog__cleaner *klog__log_cleaner(const klog__log_t *log);
/* Recovery work since open (tests). */
KLOG__HIDDEN const klog__recovery_stats_t *klog__log_stats(const klog__log_t *log);
/* Descriptors the log's descriptor cache accounts now (tests). */
KLOG__HIDDEN int klog__log_open_fds(const klog__log_t *log);

#endif
