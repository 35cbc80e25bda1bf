/*
 * partition_impl.h — struct klog_partition, private to the partition
 * module: partition.c (segment list, watermarks, state file, waiting and
 * the poll descriptor, offsets, close), recover.c (load and refresh),
 * append.c (appends, rolls, group commit) and retention.c (retention,
 * DeleteRecords, truncation). `make check-layers` refuses other includers.
 *
 * Offsets: log_start <= hw <= log_end. The recovery point (everything
 * below it is fsynced) is <= log_end; under KLOG_VISIBLE_FLUSHED the
 * watermark follows it, under KLOG_VISIBLE_WRITTEN the log end.
 */
#ifndef KLOG_STORAGE_PARTITION_IMPL_H
#define KLOG_STORAGE_PARTITION_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "storage/config.h"
#include "storage/partition.h"
#include "storage/sealer.h"
#include "storage/stats.h"

/* Memory-mapped partition state shared with read-only openers. */
typedef struct klog__pstate {
    uint8_t magic[8];        /* "KLOGSTAT" */
    uint32_t version;        /* 1 */
    uint32_t pad;
    _Atomic int64_t high_watermark;
    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic uint64_t generation; /* bumped when segments roll/delete/truncate */
} klog__pstate_t;

struct klog_partition {
    const klog__partenv_t *env;
    const char *topic;             /* the topic's name (owned by the topic) */
    const klog_config_t *tcfg;     /* the topic's explicit settings */
    int32_t id;
    char *dir;                     /* "<logdir>/<topic>-<id>" */
    klog__segenv_t segenv;         /* what its segments see */
    atomic_int deleted;            /* the topic was deleted */

    pthread_mutex_t append_mu;
    pthread_mutex_t list_mu;
    klog__seglist_t *segs;     /* current list (list_mu) */

    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic int64_t hw;
    _Atomic int64_t recovery_point; /* durable below this */
    _Atomic int failed;             /* sticky write/fsync failure */
    atomic_uint truncations;        /* bumped by klog_truncate: readers reposition */
    _Atomic int64_t appended_msgs;  /* records appended since open */
    _Atomic int64_t flushed_msgs;   /* appended_msgs covered by the last fsync */
    int64_t last_flush_ms;          /* sync_mu */
    int closing;

    /* group commit */
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int syncing;
    _Atomic long fsyncs;            /* counter, for tests and stats */
    klog__pstats_t stats;           /* the other counters (stats.c) */

    /* waiting readers (partition.c) */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    atomic_int waiters;
    atomic_int event_fd;            /* lazily created pollable fd, -1 none */

    /* shared state file (partition.c) */
    klog__pstate_t *state;
    uint64_t seen_generation;       /* read-only openers: last list refresh */

    atomic_int readers;             /* open readers + leases */
    int loaded;                     /* segments listed and recovered */
};

/* partition.c */
KLOG__HIDDEN klog__seglist_t *klog__seglist_new(size_t n);
/* A copy of l with segments [from, to) and optionally `extra` appended
 * (the caller's reference to extra moves into the copy). */
KLOG__HIDDEN klog__seglist_t *klog__seglist_slice(const klog__seglist_t *l, size_t from, size_t to,
                                                  klog__segment_t *extra);
/* Publish a new list (takes ownership of nl; drops the old list's ref). */
KLOG__HIDDEN void klog__partition_publish_list(klog__partition_t *p, klog__seglist_t *nl);
/* Raise the watermark to hw (never lowers it) and wake waiters. */
KLOG__HIDDEN void klog__partition_set_hw(klog__partition_t *p, int64_t hw);
/* Copy log start, log end and watermark to the state file. */
KLOG__HIDDEN void klog__partition_publish_offsets(klog__partition_t *p);
KLOG__HIDDEN void klog__partition_publish_log_end(klog__partition_t *p);
/* Map the state file (create it unless read-only). */
KLOG__HIDDEN int klog__partition_state_open(klog__partition_t *p);
KLOG__HIDDEN uint64_t klog__partition_generation(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_state_hw(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_state_log_start(klog__partition_t *p);

#endif
