/*
 * partition.h — one partition as the rest of libklog sees it (the public
 * klog_partition_t, opaque here): its segment list, watermarks, append
 * entry point and life cycle. The struct belongs to the partition module
 * (partition_impl.h); read/ and produce/ use only these functions.
 *
 * Concurrency (see design.md):
 *   - One append lock per partition: appends, rolls, retention and
 *     truncation hold it. Readers never take it.
 *   - The segment list is an immutable, reference-counted array. Readers
 *     take a reference (klog__partition_segments) and read without locks;
 *     writers publish a new list.
 *   - Records are visible below the published high watermark.
 */
#ifndef KLOG_STORAGE_PARTITION_H
#define KLOG_STORAGE_PARTITION_H

#include <stdatomic.h>

#include "platform/platform.h"
#include "storage/segment.h"

typedef struct klog_partition klog__partition_t;
struct klog__sealer;
struct klog__pstats;

/* An immutable snapshot of a partition's segments, sorted by base offset;
 * the last is the active one. Read-only for everyone but partition.c. */
typedef struct klog__seglist {
    atomic_int refs;
    size_t n;
    klog__segment_t *seg[];
} klog__seglist_t;

/* What a partition needs from its log, fixed for the log's life. */
typedef struct klog__partenv {
    const char *logdir;
    const klog_config_t *log_cfg;
    const klog__logger_t *logger;
    klog__fdcache_t *fdcache;
    klog__fdcache_t *statecache;       /* mapped state pages (pstate.h) */
    klog__recovery_stats_t *stats;
    struct klog__sealer *sealer;       /* NULL for read-only logs */
    int rdonly;
    int clean;                         /* while the open loads partitions: the
                                          clean-shutdown marker was there */
    /* Write the log's checkpoint files (after DeleteRecords). */
    int (*write_checkpoints)(void *ctx);
    void *ctx;
} klog__partenv_t;

/* ---------------------------------------------------------- life cycle */
/* A partition of topic `topic` (name and explicit settings stay owned by
 * the topic, which outlives it). Nothing is read until load. */
KLOG__HIDDEN int klog__partition_open(const klog__partenv_t *env, const char *topic,
                                      const klog_config_t *topic_cfg, int32_t id,
                                      klog__partition_t **out);
/* List the directory, recover, publish the segment list. */
KLOG__HIDDEN int klog__partition_load(klog__partition_t *p);
/* Clean shutdown: flush, then seal the active segment. */
KLOG__HIDDEN int klog__partition_shutdown(klog__partition_t *p);
KLOG__HIDDEN void klog__partition_close(klog__partition_t *p);
/* The topic was deleted: appends fail, waiters return. */
KLOG__HIDDEN void klog__partition_mark_deleted(klog__partition_t *p);
/* Offsets read from the log's checkpoints, before load. */
KLOG__HIDDEN void klog__partition_set_checkpoints(klog__partition_t *p, int64_t recovery_point,
                                                  int64_t log_start);
KLOG__HIDDEN int klog__partition_loaded(const klog__partition_t *p);
KLOG__HIDDEN const char *klog__partition_dir(const klog__partition_t *p);

/* ---------------------------------------------------------- reading */
KLOG__HIDDEN klog__seglist_t *klog__partition_segments(klog__partition_t *p);
KLOG__HIDDEN void klog__seglist_unref(klog__seglist_t *l);
/* Read-only openers: refresh the segment list if the writer changed it. */
KLOG__HIDDEN int klog__partition_refresh(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_hw(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_log_start(klog__partition_t *p);
KLOG__HIDDEN int64_t klog__partition_log_end(klog__partition_t *p);
/* Everything below it is fsynced. */
KLOG__HIDDEN int64_t klog__partition_recovery_point(klog__partition_t *p);
/* Bumped by each klog_truncate: readers reposition. The counter itself, for
 * readers that check it on every record (read-only). */
KLOG__HIDDEN unsigned klog__partition_truncations(klog__partition_t *p);
KLOG__HIDDEN const atomic_uint *klog__partition_truncation_counter(klog__partition_t *p);
/* Open readers and leases (klog_close and topic delete refuse while any). */
KLOG__HIDDEN void klog__partition_readers_add(klog__partition_t *p, int delta);
KLOG__HIDDEN int klog__partition_readers(klog__partition_t *p);
KLOG__HIDDEN int klog__partition_rdonly(const klog__partition_t *p);
KLOG__HIDDEN const klog__logger_t *klog__partition_logger(const klog__partition_t *p);
/* Effective setting (topic's, else the log's, else the default). */
KLOG__HIDDEN int64_t klog__partition_conf(const klog__partition_t *p, int key);
/* Wait until no segment of p is queued for sealing. */
KLOG__HIDDEN void klog__partition_wait_sealed(klog__partition_t *p);
/* fsyncs run by the group commit (tests). */
KLOG__HIDDEN long klog__partition_fsyncs(klog__partition_t *p);
/* Its counters (stats.h, stats.c). */
KLOG__HIDDEN struct klog__pstats *klog__partition_stats(klog__partition_t *p);
/* A lease on p was acquired (+1) or released (-1): the leases statistics
 * (stats.c). */
KLOG__HIDDEN void klog__stats_lease(klog__partition_t *p, int delta);

/* Last stable offset (the watermark when no transaction is open; read-only
 * opens: the watermark). Any thread. */
KLOG__HIDDEN int64_t klog__partition_lso(klog__partition_t *p);
/* Aborted transactions overlapping offsets [from, to), as a Fetch response
 * lists them; *out malloc'd (free(); NULL when none). Any thread. */
KLOG__HIDDEN int klog__partition_aborted(klog__partition_t *p, int64_t from, int64_t to,
                                         klog_aborted_txn_t **out, size_t *n);
/* klog_backup: the producer snapshots, .txnindex entries and epoch cache
 * of a copy holding offsets [first, next) into directory dest. */
KLOG__HIDDEN int klog__partition_state_backup(klog__partition_t *p, const char *dest,
                                              klog__seglist_t *l, int64_t first, int64_t next);
/* The log state (tests and the crash harness), NULL for read-only opens. */
struct klog__logstate;
KLOG__HIDDEN struct klog__logstate *klog__partition_logstate(klog__partition_t *p);

/* ---------------------------------------------------------- writing */
/* Append one encoded batch (offsets assigned) held in the library's own
 * buffer (klog_append, the producer): its base offset is stamped in place. */
KLOG__HIDDEN int klog__partition_append_encoded(klog__partition_t *p, uint8_t *batch,
                                                size_t len, int64_t *base_out);
/* Has a write or fsync failed (appends refused until the log reopens)? */
KLOG__HIDDEN int klog__partition_failed(const klog__partition_t *p);
/* Background work: time-based flush; retention (segments deleted or an
 * error). */
KLOG__HIDDEN void klog__partition_tick(klog__partition_t *p, int64_t now_ms);
KLOG__HIDDEN int klog__partition_retention(klog__partition_t *p, int64_t now_ms);

#endif
