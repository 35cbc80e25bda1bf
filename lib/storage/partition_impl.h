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
#include "storage/logstate.h"
#include "storage/partition.h"
#include "storage/pstate.h"
#include "storage/sealer.h"
#include "storage/stats.h"

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

    /* the state page shared with read-only openers (pstate.c) */
    klog__pstate_t pst;
    uint64_t seen_generation;       /* read-only openers: last list refresh */
    int64_t state_log_start;        /* writer: the log start klog.state held at
                                       open (a sane one), else -1 */

    atomic_int readers;             /* open readers + leases */
    int loaded;                     /* segments listed and recovered */

    /* producer state, .txnindex files, epoch cache (partstate.c; NULL
     * for read-only opens) */
    klog__logstate_t *ls;
    int32_t epoch_latest;           /* the cache's latest epoch (append_mu) */
};

/* partition.c */
KLOG__HIDDEN klog__seglist_t *klog__seglist_new(size_t n);
/* A copy of l with segments [from, to) and optionally `extra` appended
 * (the caller's reference to extra moves into the copy). */
KLOG__HIDDEN klog__seglist_t *klog__seglist_slice(const klog__seglist_t *l, size_t from, size_t to,
                                                  klog__segment_t *extra);
/* Publish a new list (takes ownership of nl; drops the old list's ref)
 * and announce it to read-only openers (the state page's generation). */
KLOG__HIDDEN void klog__partition_publish_list(klog__partition_t *p, klog__seglist_t *nl);
/* The same, announcing it only when `announce` (a load that changed no
 * file leaves the generation, and the unmapped state page, alone). */
KLOG__HIDDEN void klog__partition_install_list(klog__partition_t *p, klog__seglist_t *nl,
                                               int announce);
/* Raise the watermark to hw (never lowers it) and wake waiters. */
KLOG__HIDDEN void klog__partition_set_hw(klog__partition_t *p, int64_t hw);
/* Copy log start, log end and watermark to the state file. */
KLOG__HIDDEN void klog__partition_publish_offsets(klog__partition_t *p);
KLOG__HIDDEN void klog__partition_publish_log_end(klog__partition_t *p);
/* Read-only openers, after scanning the last segment to scanned_end: a
 * state file whose offsets contradict each other, or whose log end
 * (published_end, read before the directory was listed) lies past the
 * data, is damaged: logged and not used (1), else 0. */
KLOG__HIDDEN int klog__partition_state_check(klog__partition_t *p, int64_t published_end,
                                             int64_t scanned_end);
KLOG__HIDDEN uint64_t klog__partition_generation(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_state_hw(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_state_log_start(klog__partition_t *p);

/* append.c: hand a rolled (or recovered, not yet sealed) segment to the
 * sealer; when sealed, the recovery point moves past it. */
KLOG__HIDDEN void klog__partition_queue_seal(klog__partition_t *p, klog__segment_t *s);
/* append.c: append one encoded batch as `origin` (KLOG__ORIGIN_*). */
KLOG__HIDDEN int klog__partition_append_origin(klog__partition_t *p, const uint8_t *batch,
                                               size_t len, int64_t *base_out, int origin);

/* partstate.c: the log-state hooks of the paths above (append_mu held
 * unless said otherwise). */
KLOG__HIDDEN int klog__partstate_open(klog__partition_t *p);
KLOG__HIDDEN void klog__partstate_close(klog__partition_t *p);
/* End of load, after the load set the recovery point: the state follows
 * the segments (ckpt_rp: checkpointed recovery point; segments from the
 * one holding the larger of the two are rebuilt; files: the state's files
 * as the load's listing found them). */
KLOG__HIDDEN int klog__partstate_load(klog__partition_t *p, klog__seglist_t *l, int64_t ckpt_rp,
                                     klog__ls_files_t *files);
/* Before writing a batch at `base`: 0 write it, 1 a duplicate (res holds
 * the original offsets: write nothing), or a refusal. */
KLOG__HIDDEN int klog__partstate_check(klog__partition_t *p, const uint8_t *batch, size_t len,
                                       const klog_batch_info_t *bi, int64_t base, int origin,
                                       klog__pcheck_t *res);
/* After writing it (write_rc: the write's result): commit (when `commit`:
 * the last batch of a checked append) and the epoch cache. Returns the
 * write's result, or a failed .txnindex append (the partition fails). */
KLOG__HIDDEN int klog__partstate_after(klog__partition_t *p, const klog_batch_info_t *bi,
                                       int64_t base, int write_rc, int commit);
KLOG__HIDDEN int klog__partstate_rolled(klog__partition_t *p, int64_t base);
/* The first k segments of `old` were deleted. */
KLOG__HIDDEN void klog__partstate_dropped(klog__partition_t *p, const klog__seglist_t *old,
                                          size_t k);
KLOG__HIDDEN void klog__partstate_log_start(klog__partition_t *p);
KLOG__HIDDEN int klog__partstate_truncated(klog__partition_t *p, int64_t old_end);
/* klog_flush, before the recovery point moves (no lock needed). */
KLOG__HIDDEN int klog__partstate_sync(klog__partition_t *p);
/* The sealer sealed a rolled segment ending at sealed_end: a stray snapshot
 * below it goes now rather than at the next open (klog__ls_reap). */
KLOG__HIDDEN void klog__partstate_sealed(klog__partition_t *p, int64_t sealed_end);
/* Clean shutdown (takes append_mu). */
KLOG__HIDDEN int klog__partstate_shutdown(klog__partition_t *p);
KLOG__HIDDEN void klog__partstate_expire(klog__partition_t *p, int64_t now_ms);

#endif
