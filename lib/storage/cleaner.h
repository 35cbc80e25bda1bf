/*
 * cleaner.h — log compaction (Kafka's LogCleaner), the storage layer's
 * cleaner module: cleaner.c (choosing a partition, the pass, the
 * background thread, cleaner-offset-checkpoint), cleaner_pass.c (reading
 * segments, the offset map build and the record rules), cleaner_map.c
 * (the offset map) and cleaner_swap.c (the .cleaned/.swap files and their
 * completion or rollback at open). The segment list changes through
 * klog__partition_replace (partition_swap.c).
 */
#ifndef KLOG_STORAGE_CLEANER_H
#define KLOG_STORAGE_CLEANER_H

#include "platform/platform.h"
#include "storage/partition.h"

/* ---------------------------------------------------------- offset map */
typedef struct klog__offset_map klog__offset_map_t;
/* An empty map of at most `bytes` bytes (24 per slot, full at 90%; it
 * starts small and grows). -ENOMEM. */
KLOG__HIDDEN int klog__offset_map_new(int64_t bytes, klog__offset_map_t **out);
KLOG__HIDDEN void klog__offset_map_free(klog__offset_map_t *m);
/* Record offset as key's latest: 1, or 0 when the key is new and the map
 * is full (nothing changed). */
KLOG__HIDDEN int klog__offset_map_put(klog__offset_map_t *m, const void *key, size_t len,
                                      int64_t offset);
/* The latest offset put for key, -1 when none. */
KLOG__HIDDEN int64_t klog__offset_map_get(const klog__offset_map_t *m, const void *key,
                                          size_t len);
KLOG__HIDDEN size_t klog__offset_map_size(const klog__offset_map_t *m);
/* Keys it could hold at its bound. */
KLOG__HIDDEN size_t klog__offset_map_capacity(const klog__offset_map_t *m);

/* ---------------------------------------------------------- swap files */
/*
 * At partition load, before the directory is listed (recover.c): finish an
 * interrupted swap ("<base>.log.swap" present: the segments it replaces,
 * named by "<base>.cleanrange" or else by the swap's own offsets, are
 * removed and the swap renamed into place) or roll one back (only
 * "<base>.log.cleaned": removed). Read-only opens do nothing. 0 or -errno.
 */
KLOG__HIDDEN int klog__cleaner_recover_dir(const char *dir, const klog__logger_t *lg);

/* The staged output of one group (cleaner_swap.c). */
typedef struct klog__cleaned {
    char *dir;
    int64_t base;      /* base offset of the first replaced segment: the output's name */
    int64_t range_end; /* base of the segment after the group (or its next offset) */
    int fd;            /* <base>.log.cleaned, -1 when closed */
    int64_t size;      /* bytes written to fd */
    klog__buf_t buf;   /* bytes not yet written (written in large chunks) */
} klog__cleaned_t;

KLOG__HIDDEN int klog__cleaned_open(klog__cleaned_t *c, const char *dir, int64_t base,
                                    int64_t range_end);
KLOG__HIDDEN int klog__cleaned_write(klog__cleaned_t *c, const void *p, size_t n);
/* fsync the .cleaned file, write the range file, rename to .swap, fsync
 * the directory: from here an open finishes the swap. */
KLOG__HIDDEN int klog__cleaned_to_swap(klog__cleaned_t *c);
/* Remove whatever is staged (.cleaned, .swap, range file): roll back. */
KLOG__HIDDEN void klog__cleaned_discard(klog__cleaned_t *c);
/* After the swap: rename .swap to .log (the replaced segments' files are
 * already gone). 0 or -errno. */
KLOG__HIDDEN int klog__cleaned_swap_in(klog__cleaned_t *c);
/* The range file goes last (the new segment's seal is written). */
KLOG__HIDDEN void klog__cleaned_done(klog__cleaned_t *c);
KLOG__HIDDEN void klog__cleaned_free(klog__cleaned_t *c);

/*
 * Replace the sealed segments old[0..n) (consecutive in p's list, not the
 * active one) by the staged output c (partition_swap.c). KLOG_EBUSY when
 * the list changed since they were read (or an earlier generation of the
 * first one is still held by a reader): nothing changed, discard c.
 * Other errors fail the partition; the next open completes the swap.
 */
KLOG__HIDDEN int klog__partition_replace(klog__partition_t *p, klog__segment_t *const *old,
                                         size_t n, klog__cleaned_t *c);

/* The partition failed a write (appends refuse until reopened). */
KLOG__HIDDEN int klog__partition_failed(const klog__partition_t *p);

/* ---------------------------------------------------------- one pass */
typedef struct klog__clean_job {
    klog__partition_t *p;
    int64_t first_dirty;          /* in: checkpointed; out: where the next pass starts */
    int64_t now_ms;
    int64_t map_bytes;            /* KLOG_CONF_CLEANER_DEDUPE_BYTES */
    klog__offset_map_t *map;      /* the pass's (sized to need, at most map_bytes) */
    /* Called with the bytes read or written since the last call: waits to
     * keep the I/O limit; nonzero when the pass must stop (close). */
    int (*throttle)(void *ctx, int64_t bytes);
    void *ctx;
    klog_compact_stats_t *st;     /* filled (zeroed first) */
} klog__clean_job_t;

/* What cleaning p would take, without reading data: dirty ratio in
 * thousandths of the bytes from the log start to the first uncleanable
 * offset, whether max.compaction.lag.ms has passed for the first dirty
 * segment (*must), and the dirty bytes. first_dirty as checkpointed. */
KLOG__HIDDEN void klog__clean_assess(klog__partition_t *p, int64_t first_dirty, int64_t now_ms,
                                     int *ratio_pm, int *must, int64_t *dirty_bytes);
/* One cleaning pass over job->p (cleaner_pass.c): 1 when it ran, 0 when
 * nothing was cleanable, or an error (see klog_compact). */
KLOG__HIDDEN int klog__clean_partition(klog__clean_job_t *job);

/* ---------------------------------------------------------- the cleaner */
typedef struct klog__cleaner klog__cleaner_t;
typedef struct klog klog__log_t;
/* The log's cleaner (cleaner.c): reads cleaner-offset-checkpoint; with
 * KLOG_CONF_CLEANER_ENABLE starts the background thread. */
/* Passes that cleaned something since the log was opened (klog_stats). */
KLOG__HIDDEN long klog__cleaner_passes(klog__cleaner_t *c);
KLOG__HIDDEN int klog__cleaner_new(klog__log_t *log, const char *dir, const klog_config_t *cfg,
                                   klog__cleaner_t **out);
/* Stop the thread (a pass in progress stops at its next batch, its
 * staged output removed) and free. NULL is fine. */
KLOG__HIDDEN void klog__cleaner_free(klog__cleaner_t *c);

#endif
