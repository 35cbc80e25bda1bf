/*
 * checkpoints.h — the log's checkpoint files for all of its topics
 * (checkpoints.c). The caller holds whatever keeps the topic array stable.
 */
#ifndef KLOG_STORAGE_CHECKPOINTS_H
#define KLOG_STORAGE_CHECKPOINTS_H

#include "storage/topic.h"

/* Read both files into the partitions (before they load). Returns 1 when
 * the recovery-point file was unreadable (the open is then not clean:
 * every unsealed segment is scanned), else 0; an unreadable log-start file
 * is only logged. */
KLOG__HIDDEN int klog__checkpoints_apply(const char *dir, klog__topic_t *const *topics,
                                         size_t ntopics, const klog__logger_t *lg);
/* Write both files from the loaded partitions, atomically. */
KLOG__HIDDEN int klog__checkpoints_write(const char *dir, klog__topic_t *const *topics,
                                         size_t ntopics);

#endif
