/*
 * storage.h — internal structures of the storage layer: indexes, segments,
 * partitions, topics and the log directory.
 *
 * Concurrency (see design.md):
 *   - Each partition has one append lock (`append_mu`). Appends, rolls and
 *     truncation hold it. Readers never take it.
 *   - The segment list is an immutable, reference-counted array
 *     (`klog__seglist_t`). Readers take a reference under the short
 *     `list_mu` and then read without locks; writers publish a new list.
 *   - A segment's bytes visible to readers end at its published `size`
 *     (release store after the write) and records at the partition's
 *     published high watermark.
 *   - A segment's file descriptor and index mappings open lazily and are
 *     closed by a log-wide LRU bounded by KLOG_CONF_MAX_OPEN_FILES. Any use
 *     of them happens under a pin (`pins`, taken under the segment's `mu`);
 *     the LRU, truncation and deletion never close or remap a pinned segment.
 *   - A segment removed from the list (retention, truncation) is renamed to
 *     *.deleted at once and unlinked when its last reference goes.
 */
#ifndef KLOG_STORAGE_H
#define KLOG_STORAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "platform/platform.h"
#include "storage/files.h"

/* Decode a batch's 61-byte header without requiring the rest of the
 * batch (klog_batch_header() wants the whole batch). 0, KLOG_EMAGIC or
 * KLOG_EBATCHSIZE. */
static inline int klog__peek_header(const uint8_t *h, klog_batch_info_t *bi)
{
    uint8_t whole[KLOG_BATCH_HEADER_SIZE];
    memcpy(whole, h, sizeof whole);
    /* Present it as an empty batch so the codec's parser accepts it. */
    int32_t real_len = (int32_t)((uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
                                 (uint32_t)h[10] << 8 | h[11]);
    whole[8] = 0, whole[9] = 0, whole[10] = 0, whole[11] = KLOG_BATCH_HEADER_SIZE - 12;
    int rc = klog_batch_header(whole, sizeof whole, bi);
    if (rc)
        return rc;
    if (real_len < KLOG_BATCH_HEADER_SIZE - 12)
        return KLOG_EBATCHSIZE;
    bi->batch_length = real_len;
    bi->size = (size_t)real_len + 12;
    return 0;
}

/* ------------------------------------------------------------ config */
#define KLOG__CONF_SLOTS 96
struct klog_config {
    int64_t value[KLOG__CONF_SLOTS];
    uint64_t set[(KLOG__CONF_SLOTS + 63) / 64]; /* bit k: key k set explicitly */
    klog__logger_t logger;
};
/* Was key k set explicitly in c? (k must be in [0, KLOG__CONF_SLOTS).) */
#define KLOG__CONF_ISSET(c, k) ((c)->set[(k) / 64] >> ((k) % 64) & 1)
#define KLOG__CONF_MARK(c, k) ((c)->set[(k) / 64] |= 1ULL << ((k) % 64))
/* Default value for key, or KLOG_ECONFIG if unknown. */
KLOG__HIDDEN int klog__config_default(int key, int64_t *value);
KLOG__HIDDEN int klog__config_is_topic_key(int key);
/* Effective value: cfg's explicit value, else fallback's, else default. */
KLOG__HIDDEN int64_t klog__config_value(const klog_config_t *cfg, const klog_config_t *fallback,
                                        int key);

/* ------------------------------------------------------------ index */
/*
 * One mmap'd index file: .index (8-byte entries: u32 relative offset,
 * u32 position) or .timeindex (12-byte entries: i64 timestamp, u32
 * relative offset). Big-endian, no header (kafka-format.md 3.3-3.8).
 */
typedef struct klog__index {
    int fd;
    uint8_t *map;
    size_t map_len;        /* bytes mapped */
    _Atomic uint32_t entries; /* valid entries (published with release) */
    uint32_t max_entries;  /* capacity of the preallocated file */
    uint32_t file_entries; /* file length / entry size */
    size_t reserved;       /* bytes from 0 with disk blocks reserved (writable) */
    int entry_size;        /* 8 or 12 */
    int64_t base;          /* segment base offset */
} klog__index_t;

#define KLOG__OFFIDX_ENTRY 8
#define KLOG__TIMEIDX_ENTRY 12

/* Open (or create) path. writable: preallocate the file to max_bytes and
 * map read-write (the active segment); else map the file as it is. The
 * entry count is the longest valid prefix (strictly increasing entries),
 * which also discards a zero-filled tail. */
KLOG__HIDDEN int klog__index_open(klog__index_t *ix, const char *path, int entry_size, int64_t base,
                                  size_t max_bytes, int writable, int create);
KLOG__HIDDEN void klog__index_close(klog__index_t *ix);
/* Entries the file claims (file length / entry size) vs the valid prefix:
 * different means damaged. */
KLOG__HIDDEN uint32_t klog__index_file_entries(const klog__index_t *ix);
KLOG__HIDDEN int klog__index_full(const klog__index_t *ix);
KLOG__HIDDEN int klog__offidx_append(klog__index_t *ix, int64_t offset, uint32_t pos);
KLOG__HIDDEN int klog__timeidx_append(klog__index_t *ix, int64_t ts, int64_t offset);
/* Largest entry with offset <= target: (offset, position); else (base, 0). */
KLOG__HIDDEN void klog__offidx_lookup(const klog__index_t *ix, int64_t target, int64_t *off,
                                      uint32_t *pos);
/* Largest entry with timestamp <= ts: its offset; else base. */
KLOG__HIDDEN int64_t klog__timeidx_lookup(const klog__index_t *ix, int64_t ts);
KLOG__HIDDEN void klog__offidx_entry(const klog__index_t *ix, uint32_t i, int64_t *off,
                                     uint32_t *pos);
KLOG__HIDDEN void klog__timeidx_entry(const klog__index_t *ix, uint32_t i, int64_t *ts,
                                      int64_t *off);
/* Drop entries whose offset is >= offset (truncation). */
KLOG__HIDDEN void klog__index_truncate_offset(klog__index_t *ix, int64_t offset);
KLOG__HIDDEN void klog__index_reset(klog__index_t *ix);
/* Reserve disk blocks for [from, from + len) of fd: fallocate, or writing
 * zeros where fallocate is unsupported. 0 or -errno (-ENOSPC). */
KLOG__HIDDEN int klog__reserve_blocks(int fd, int64_t from, int64_t len);
/* Set the file length to exactly entries * entry_size (mapping kept). */
KLOG__HIDDEN int klog__index_trim(klog__index_t *ix);
KLOG__HIDDEN int klog__index_sync(klog__index_t *ix);

/* ------------------------------------------------------------ segment */
typedef struct klog klog__log_t;
typedef struct klog__segment klog__segment_t;

struct klog__segment {
    atomic_int refs;
    struct klog_partition *part;
    int64_t base;
    char *stem;               /* "<dir>/<20-digit base>" */

    pthread_mutex_t mu;       /* fd/index open & close, pins, LRU links */
    int fd;                   /* -1 while closed */
    atomic_int writable;      /* files opened for append (active segment); the
                                 sealer clears it without s->mu */
    klog__index_t oix, tix;
    int ix_open;              /* indexes mapped */
    atomic_int pins;
    atomic_int lease_pins;    /* pins held by leases (subset of pins) */
    klog__segment_t *lru_prev, *lru_next; /* in the log's LRU while open */
    int in_lru;

    _Atomic int64_t size;     /* valid .log bytes (published after writes) */
    _Atomic int64_t next_offset; /* last offset + 1 of the last batch */
    int64_t max_ts, max_ts_off;  /* max batch timestamp and its last offset */
    int64_t created_ms;       /* for segment.ms rolls */
    int64_t first_batch_ts;   /* maxTimestamp of the first batch, -1 none */
    int64_t bytes_since_index;/* index.interval.bytes counter */

    int sealed;               /* a valid seal file describes this segment */
    atomic_int meta_loaded;   /* next_offset/max_ts/size known (set under mu) */
    int ix_checked;           /* indexes validated against the seal */
    int expect_ix;            /* seal counts known though the seal was removed
                                 (the reopened active segment) */
    int deleted;              /* renamed to *.deleted; unlink when refs == 0 */
    atomic_int unsynced;      /* written since the last fsync */
    void *digest;             /* XXH3 state over .log bytes [0, size) while
                                 dig_valid; append_mu holders and the sealer */
    int dig_valid;
    uint32_t seal_index_entries, seal_timeindex_entries;
    int dirty_seal;           /* seal file exists but describes older state */
};

KLOG__HIDDEN int klog__segment_new(struct klog_partition *p, int64_t base, klog__segment_t **out);
KLOG__HIDDEN void klog__segment_ref(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_unref(klog__segment_t *s);
/* Pin: open fd + indexes if needed (LRU-accounted), keep them until unpin.
 * writable: open for appending (preallocated indexes). */
KLOG__HIDDEN int klog__segment_pin(klog__segment_t *s, int writable);
KLOG__HIDDEN void klog__segment_unpin(klog__segment_t *s);
/* Close fd and unmap indexes (caller ensures pins == 0 or holds mu). */
KLOG__HIDDEN void klog__segment_close_files(klog__segment_t *s);
/* Bytes a reader may look at (published size; file length when read-only). */
KLOG__HIDDEN int64_t klog__segment_readable(klog__segment_t *s);
/* Load size/next_offset/max_ts from the seal (lazily). */
KLOG__HIDDEN int klog__segment_load_meta(klog__segment_t *s);
/* Scan the .log from position 0 with CRC checks, rebuild both indexes,
 * truncate a torn/corrupt tail. *truncated = bytes cut. Needs a pin. */
KLOG__HIDDEN int klog__segment_recover(klog__segment_t *s, int allow_truncate,
                                       int64_t *truncated);
/* Trim indexes, fsync, compute digest and write the seal. Needs a pin. */
KLOG__HIDDEN int klog__segment_seal(klog__segment_t *s);
/* Start (from an empty segment) or drop the running digest. */
KLOG__HIDDEN void klog__segment_digest_start(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_digest_drop(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_digest_add(klog__segment_t *s, const void *p, size_t n);
/* Remove the seal file (the segment is about to change). */
KLOG__HIDDEN int klog__segment_unseal(klog__segment_t *s);
/* Rename files to *.deleted and mark; unlink happens at the last unref. */
KLOG__HIDDEN int klog__segment_mark_deleted(klog__segment_t *s);
/*
 * Find the batch holding `target` (first batch with lastOffset >= target)
 * at or after the index entry, scanning headers up to `limit` bytes.
 * Needs a pin. Returns 1 found (pos, batch size, base, last offset), 0 not
 * in this segment, or an error.
 */
KLOG__HIDDEN int klog__segment_find(klog__segment_t *s, int64_t target, int64_t limit,
                                    int64_t *pos, int64_t *bsize, int64_t *bbase,
                                    int64_t *blast);

/* ------------------------------------------------------------ partition */
typedef struct klog__seglist {
    atomic_int refs;
    size_t n;
    klog__segment_t *seg[]; /* sorted by base; last is active */
} klog__seglist_t;

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
    struct klog_topic *topic;
    klog__log_t *log;
    int32_t id;
    char *dir;                 /* "<logdir>/<topic>-<id>" */

    pthread_mutex_t append_mu;
    pthread_mutex_t list_mu;
    klog__seglist_t *segs;     /* current list (list_mu) */

    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic int64_t hw;
    _Atomic int64_t recovery_point; /* durable below this */
    int64_t unflushed_msgs;         /* append_mu */
    int64_t first_unflushed_ms;     /* append_mu; 0 when nothing pending */
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

    /* waiting readers */
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    atomic_int waiters;
    atomic_int event_fd;            /* lazily created pollable fd, -1 none */

    /* shared state file */
    int state_fd;
    klog__pstate_t *state;
    uint64_t seen_generation;       /* read-only openers: last list refresh */

    atomic_int readers;             /* open readers + leases */
    int loaded;                     /* segments listed and recovered */
};

struct klog_topic {
    klog__log_t *log;
    klog__topic_meta_t meta;
    klog_config_t cfg;             /* explicit topic settings */
    struct klog_partition **parts;
    int32_t nparts;
    int deleted;
};

/* ------------------------------------------------------------ log */
struct klog {
    char *dir;
    unsigned flags;
    klog_config_t cfg;
    int lock_fd;
    int clean_open;              /* a clean-shutdown marker was found */

    pthread_mutex_t mu;          /* topics array */
    struct klog_topic **topics;
    size_t ntopics;

    /* LRU of open segments */
    pthread_mutex_t lru_mu;
    klog__segment_t *lru_head, *lru_tail; /* head = most recent */
    int lru_count;
    int lru_max;

    /* background thread: seals rolled segments, time-based flush, checkpoints */
    pthread_t bg;
    int bg_running;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cv;
    int bg_stop;
    klog__segment_t **seal_q;    /* segments waiting to be sealed (refs held) */
    size_t seal_qn, seal_qcap;
    int seal_busy;               /* bg is sealing one now */
    pthread_cond_t seal_done_cv;

    /* statistics for tests (recovery work) */
    _Atomic long stat_scanned_segments;
    _Atomic long stat_scanned_bytes;
    _Atomic long stat_truncated_bytes;
    _Atomic long stat_rebuilt_indexes;
};

KLOG__HIDDEN int klog__partition_open(klog__log_t *log, struct klog_topic *t, int32_t id,
                                      struct klog_partition **out);
KLOG__HIDDEN int klog__partition_load(struct klog_partition *p);
KLOG__HIDDEN int klog__partition_shutdown(struct klog_partition *p);
KLOG__HIDDEN void klog__partition_close(struct klog_partition *p);
KLOG__HIDDEN klog__seglist_t *klog__partition_segments(struct klog_partition *p);
KLOG__HIDDEN void klog__seglist_unref(klog__seglist_t *l);
/* Read-only openers: refresh the segment list if the writer changed it. */
KLOG__HIDDEN int klog__partition_refresh(struct klog_partition *p);
KLOG__HIDDEN int64_t klog__partition_hw(struct klog_partition *p);
KLOG__HIDDEN int64_t klog__partition_log_start(struct klog_partition *p);
/* Background work for one partition: time-based flush. */
KLOG__HIDDEN void klog__partition_tick(struct klog_partition *p, int64_t now_ms);
KLOG__HIDDEN int klog__partition_retention(struct klog_partition *p, int64_t now_ms);
KLOG__HIDDEN int64_t klog__topic_conf(const struct klog_topic *t, int key);

/* LRU accounting (log-wide). */
KLOG__HIDDEN void klog__lru_touch(klog__log_t *log, klog__segment_t *s);
KLOG__HIDDEN void klog__lru_remove(klog__log_t *log, klog__segment_t *s);
/* Queue a rolled segment for sealing by the background thread. */
KLOG__HIDDEN void klog__log_queue_seal(klog__log_t *log, klog__segment_t *s);
/* Wait until no seal is pending for partition p (NULL: any). */
KLOG__HIDDEN void klog__log_wait_seals(klog__log_t *log, struct klog_partition *p);

KLOG__HIDDEN int klog__is_rdonly(const klog__log_t *log);
KLOG__HIDDEN int klog__log_write_checkpoints(klog__log_t *log);
/* Append one encoded batch (offsets assigned). Used by klog_append and the
 * producer. */
KLOG__HIDDEN int klog__partition_append_encoded(struct klog_partition *p, const uint8_t *batch,
                                                size_t len, int64_t *base_out);

/* Segment file names. */
KLOG__HIDDEN char *klog__segment_stem(const char *dir, int64_t base);

#endif
