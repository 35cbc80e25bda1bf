/*
 * epoch.h — a partition's leader-epoch cache and its
 * `leader-epoch-checkpoint` file (kafka-format.md section 4), owned by
 * epoch.c. Not thread-safe: the partition's append lock covers it.
 */
#ifndef KLOG_STORAGE_EPOCH_H
#define KLOG_STORAGE_EPOCH_H

#include "platform/platform.h"

#define KLOG__EPOCH_CHECKPOINT "leader-epoch-checkpoint"

typedef struct klog__epoch_entry {
    int32_t epoch;
    int64_t start_offset; /* first offset written in this epoch */
} klog__epoch_entry_t;

typedef struct klog__epoch_cache klog__epoch_cache_t;

/*
 * Parse checkpoint text (version 0). Empty input, or only a version line,
 * is no entries (as Kafka's CheckpointFile). Entries come back as written;
 * use klog__epoch_open to get them through Kafka's assign rules. Errors:
 * KLOG_EVERSION (version != 0), KLOG_ECORRUPT (malformed line, count
 * mismatch, negative epoch or offset, out-of-range number), -ENOMEM.
 */
KLOG__HIDDEN int klog__epoch_parse(const uint8_t *buf, size_t len, klog__epoch_entry_t **out,
                                   size_t *n);
/* The checkpoint text for entries (appended to out). */
KLOG__HIDDEN int klog__epoch_format(const klog__epoch_entry_t *v, size_t n, klog__buf_t *out);

/* Load dir/leader-epoch-checkpoint (missing: empty cache), applying each
 * entry with klog__epoch_assign as Kafka's LeaderEpochFileCache does.
 * listed 0: a directory listing just showed no such file, so it is not
 * tried (an empty cache). */
KLOG__HIDDEN int klog__epoch_open(const char *dir, int listed, klog__epoch_cache_t **out);
KLOG__HIDDEN void klog__epoch_close(klog__epoch_cache_t *c);
/* Write the file atomically (tmp, fsync, rename, fsync dir). */
KLOG__HIDDEN int klog__epoch_store(const klog__epoch_cache_t *c);

/*
 * Record that `epoch` began at start_offset (a batch with a new partition
 * leader epoch was appended). Kafka's rules: nothing changes when epoch is
 * the latest and start_offset is not below its start; otherwise every
 * entry, from the end, with an epoch >= epoch or a start >= start_offset is
 * removed and the new one added. Returns 1 if the cache changed (store it),
 * 0 if not, -EINVAL for a negative epoch or offset, -ENOMEM.
 */
KLOG__HIDDEN int klog__epoch_assign(klog__epoch_cache_t *c, int32_t epoch, int64_t start_offset);
/* After truncating the log to end_offset: drop entries starting at or after
 * it. 1 if changed, else 0. */
KLOG__HIDDEN int klog__epoch_truncate_end(klog__epoch_cache_t *c, int64_t end_offset);
/* After the log start moved to start_offset: drop entries starting at or
 * before it, keeping the last dropped epoch as starting at start_offset.
 * 1 if changed, else 0. */
KLOG__HIDDEN int klog__epoch_truncate_start(klog__epoch_cache_t *c, int64_t start_offset);
/* Remove every entry (the log was emptied). */
KLOG__HIDDEN void klog__epoch_clear(klog__epoch_cache_t *c);

/*
 * OffsetForLeaderEpoch (LeaderEpochFileCache.endOffsetFor): for
 * requested_epoch, *epoch_out and *offset_out get
 *   - (-1, -1) if requested is -1 (undefined) or above every known epoch;
 *   - (requested, log_end) if requested is the latest epoch;
 *   - (requested, start of the first epoch above it) if requested is below
 *     the first known epoch;
 *   - otherwise (largest known epoch <= requested, start of the first epoch
 *     above requested).
 * An empty cache answers (-1, -1).
 */
KLOG__HIDDEN void klog__epoch_end_offset(const klog__epoch_cache_t *c, int32_t requested_epoch,
                                         int64_t log_end, int32_t *epoch_out,
                                         int64_t *offset_out);
/* The latest epoch, -1 if none. */
KLOG__HIDDEN int32_t klog__epoch_latest(const klog__epoch_cache_t *c);
/* The epoch of the entry with the largest start <= offset, -1 if none. */
KLOG__HIDDEN int32_t klog__epoch_for_offset(const klog__epoch_cache_t *c, int64_t offset);
KLOG__HIDDEN size_t klog__epoch_count(const klog__epoch_cache_t *c);
KLOG__HIDDEN const klog__epoch_entry_t *klog__epoch_at(const klog__epoch_cache_t *c, size_t i);

#endif
