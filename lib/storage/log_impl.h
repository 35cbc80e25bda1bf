/*
 * log_impl.h — struct klog, private to the log module: log.c (open,
 * close, checkpoints, the background thread) and log_topics.c (the topic
 * list and the topic API). `make check-layers` refuses any other includer.
 */
#ifndef KLOG_STORAGE_LOG_IMPL_H
#define KLOG_STORAGE_LOG_IMPL_H

#include <pthread.h>

#include "storage/config.h"
#include "storage/log.h"
#include "storage/pidalloc.h"
#include "storage/sealer.h"
#include "storage/topic.h"

struct klog {
    char *dir;
    unsigned flags;
    klog_config_t cfg;
    int lock_fd;
    int clean_open;              /* a clean-shutdown marker was found */

    pthread_mutex_t mu;          /* topics array */
    klog__topic_t **topics;
    size_t ntopics;

    klog__fdcache_t *fdcache;    /* open segment descriptors */
    klog__fdcache_t *statecache; /* mapped partition state pages */
    klog__sealer_t *sealer;      /* rolled segments waiting for their seal */
    klog__partenv_t env;         /* what partitions see of the log */
    klog__recovery_stats_t stats;

    /* background thread: seals rolled segments, time-based flush, checkpoints */
    pthread_t bg;
    int bg_running;
    struct klog__cleaner *cleaner; /* compaction (cleaner.c) */
    klog__pidalloc_t *pids;        /* producer ids (pidalloc.c), NULL read-only */
};

#endif
