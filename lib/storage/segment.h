/*
 * segment.h — one segment ("<base>.log" and its .index, .timeindex and
 * .seal) as the rest of libklog sees it: an opaque, reference-counted
 * handle reached only through these functions, and the segment cursor, the
 * one walker of batch headers in a segment file.
 *
 * Concurrency (see design.md):
 *   - A segment's bytes visible to readers end at its published size
 *     (release store after the write).
 *   - Its descriptor and index mappings open lazily and are closed by the
 *     log-wide descriptor cache (fdcache.h). Any use of them happens under a
 *     pin; the cache, truncation and deletion never close or remap a
 *     pinned segment.
 *   - A segment removed from its partition's list is renamed to *.deleted
 *     at once and unlinked when its last reference goes.
 * The write side (append, roll checks, seal, truncate) is called only by
 * the partition's append-lock holders and the sealer.
 */
#ifndef KLOG_STORAGE_SEGMENT_H
#define KLOG_STORAGE_SEGMENT_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "platform/platform.h"
#include "storage/fdcache.h"

typedef struct klog__segment klog__segment_t;

/* Recovery work counters (tests and statistics), owned by the log. */
typedef struct klog__recovery_stats {
    _Atomic long scanned_segments;
    _Atomic long scanned_bytes;
    _Atomic long truncated_bytes;
    _Atomic long rebuilt_indexes;
} klog__recovery_stats_t;

/* What a segment needs from its partition, fixed for the partition's life
 * (the partition owns it and outlives its segments). */
typedef struct klog__segenv {
    const char *dir;               /* the partition directory */
    klog__fdcache_t *fdcache;
    const klog__logger_t *logger;
    klog__recovery_stats_t *stats;
    int rdonly;                    /* the log was opened KLOG_OPEN_RDONLY */
    int64_t index_max_bytes;       /* KLOG_CONF_INDEX_MAX_BYTES */
    int64_t index_interval;        /* KLOG_CONF_INDEX_INTERVAL_BYTES */
} klog__segenv_t;

/* ---------------------------------------------------------- life cycle */
/* The log's descriptor cache, evicting segments (fdcache.h). */
KLOG__HIDDEN int klog__segment_fdcache_new(int max_fds, klog__fdcache_t **out);
KLOG__HIDDEN int klog__segment_new(const klog__segenv_t *env, int64_t base, klog__segment_t **out);
KLOG__HIDDEN void klog__segment_ref(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_unref(klog__segment_t *s);
/* Pin: open the .log and map the indexes if needed (accounted in the
 * descriptor cache), keep them until unpin. writable: open for appending
 * (preallocated indexes). */
KLOG__HIDDEN int klog__segment_pin(klog__segment_t *s, int writable);
KLOG__HIDDEN void klog__segment_unpin(klog__segment_t *s);
/* Rename the files to *.deleted; unlink happens at the last unref. */
KLOG__HIDDEN int klog__segment_mark_deleted(klog__segment_t *s);
/* Remove the seal file (the segment is about to change). */
KLOG__HIDDEN int klog__segment_unseal(klog__segment_t *s);

/* ---------------------------------------------------------- reading */
KLOG__HIDDEN int64_t klog__segment_base(const klog__segment_t *s);
/* Read-only openers: 1 when the .log is not open here and no longer exists
 * or is another file (the writer's retention, truncation or compaction
 * removed or replaced it since our list). */
KLOG__HIDDEN int klog__segment_gone(klog__segment_t *s);
/* Read-only openers: is the file under s's name still the one s opened
 * (1 also when s never opened one)? 0 after a compaction swap replaced it. */
KLOG__HIDDEN int klog__segment_same_file(klog__segment_t *s);
/* "<dir>/<20-digit base>": file names are this plus an extension. */
KLOG__HIDDEN const char *klog__segment_stem(const klog__segment_t *s);
/* The .log descriptor (valid while pinned). */
KLOG__HIDDEN int klog__segment_fd(const klog__segment_t *s);
/* Bytes a reader may look at (published size; file length when read-only). */
KLOG__HIDDEN int64_t klog__segment_readable(klog__segment_t *s);
/* Bytes of the .log for accounting: the known size, else (load_seal) the
 * seal's, else the file's length. */
KLOG__HIDDEN int64_t klog__segment_bytes(klog__segment_t *s, int load_seal);
/* Last offset + 1 of the last batch (as loaded or appended). */
KLOG__HIDDEN int64_t klog__segment_next_offset(const klog__segment_t *s);
/* Load size/next offset/max timestamp from the seal (lazily). */
KLOG__HIDDEN int klog__segment_load_meta(klog__segment_t *s);
/* Max batch timestamp of an inactive segment from its seal or memory, -1
 * when unknown. klog__segment_age_ts falls back to the .log's mtime. */
KLOG__HIDDEN int64_t klog__segment_max_ts(klog__segment_t *s);
KLOG__HIDDEN int64_t klog__segment_age_ts(klog__segment_t *s);
KLOG__HIDDEN int klog__segment_is_sealed(const klog__segment_t *s);
KLOG__HIDDEN int klog__segment_is_deleted(const klog__segment_t *s);
/* Offset index floor (needs a pin): largest entry with offset <= target
 * as (offset, position); else (base, 0). */
KLOG__HIDDEN void klog__segment_offidx_floor(klog__segment_t *s, int64_t target, int64_t *off,
                                             uint32_t *pos);
/* Position of the last offset-index entry at or below byte `bound`,
 * at least `from` (needs a pin). */
KLOG__HIDDEN int64_t klog__segment_offidx_pos_floor(klog__segment_t *s, int64_t from,
                                                    int64_t bound);
/* Time index floor (needs a pin): offset of the largest entry with
 * timestamp <= ts; else base. */
KLOG__HIDDEN int64_t klog__segment_timeidx_floor(klog__segment_t *s, int64_t ts);
/* Time index floor (needs a pin): (timestamp, offset) of the largest entry
 * with timestamp <= ts; (-1, base) when none. */
KLOG__HIDDEN void klog__segment_timeidx_floor_entry(klog__segment_t *s, int64_t ts, int64_t *ets,
                                                    int64_t *eoff);
/* Bytes of valid entries in the offset and time index (needs a pin). */
KLOG__HIDDEN void klog__segment_index_bytes(klog__segment_t *s, int64_t *index, int64_t *timeindex);
/* Open one of the segment's files (".log", ".index", ...) read-only under
 * its lock, so a concurrent rename to *.deleted is seen: fd or -errno. */
KLOG__HIDDEN int klog__segment_open_ro(klog__segment_t *s, const char *ext);
/* baseTimestamp of the first batch (reads its header), -1 when empty. */
KLOG__HIDDEN int64_t klog__segment_first_ts(klog__segment_t *s);
/* Lease pins: a lease holds them (with a pin) on each segment it covers;
 * truncation refuses segments that have any. */
KLOG__HIDDEN void klog__segment_lease_pin(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_lease_unpin(klog__segment_t *s);
KLOG__HIDDEN int klog__segment_lease_pinned(const klog__segment_t *s);

/* ---------------------------------------------------------- the cursor */
/*
 * The one walker of batch headers in a segment file: recovery, lookups,
 * the reader, leases and time seeks all step through a file with it. It
 * reads through a buffer of `chunk` bytes (0: one header at a time into
 * its own 61 bytes, for short index-bounded walks) and never looks at
 * bytes at or past `limit`. With `pins` set the cursor pins the segment
 * around each read; otherwise the caller holds a pin while using it.
 * Zero-initialise a cursor once; init may then be called again (for
 * another segment) and free releases the buffer. Fields are cursor.c's.
 */
typedef struct klog__cursor {
    klog__segment_t *seg;
    int64_t pos;      /* start of the batch the cursor is at */
    int64_t limit;
    size_t chunk;
    int pins;
    klog__buf_t buf;  /* bytes [buf_pos, buf_pos + buf.len) of the file */
    int64_t buf_pos;
    uint8_t hdr[KLOG_BATCH_HEADER_SIZE];
} klog__cursor_t;

enum {
    KLOG__CUR_END = 0,     /* no whole header before limit (or the file ends) */
    KLOG__CUR_BATCH = 1,   /* a header; the whole batch lies below limit */
    KLOG__CUR_PARTIAL = 2, /* a header; the batch runs past limit (torn or being written) */
};

KLOG__HIDDEN void klog__cursor_init(klog__cursor_t *c, klog__segment_t *s, int64_t pos,
                                    int64_t limit, size_t chunk, int pins);
/* Move to pos; limit >= 0 replaces the limit (bytes buffered stay valid:
 * published bytes never change, and truncation must invalidate). */
KLOG__HIDDEN void klog__cursor_seek(klog__cursor_t *c, int64_t pos, int64_t limit);
/* Header at the cursor (does not move): KLOG__CUR_*, KLOG_ECORRUPT for an
 * invalid header (size field or magic), or -errno. bi is filled for
 * BATCH and PARTIAL. */
KLOG__HIDDEN int klog__cursor_peek(klog__cursor_t *c, klog_batch_info_t *bi);
/* Header at `pos` (a look ahead: neither moves the cursor nor replaces its
 * buffer), as klog__cursor_peek. */
KLOG__HIDDEN int klog__cursor_peek_at(klog__cursor_t *c, int64_t pos, klog_batch_info_t *bi);
/* The whole batch of `size` bytes at the cursor (after a BATCH peek):
 * *data points into the cursor's buffer until its next call. 1, 0 when the
 * file holds fewer bytes, or -errno. Needs chunk > 0. */
KLOG__HIDDEN int klog__cursor_batch(klog__cursor_t *c, size_t size, const uint8_t **data);
/* Drop buffered bytes (the file changed under them: truncation). */
KLOG__HIDDEN void klog__cursor_invalidate(klog__cursor_t *c);
KLOG__HIDDEN void klog__cursor_free(klog__cursor_t *c);

/*
 * Find the batch holding `target` (first batch with last offset >= target)
 * at or after the offset index entry, walking headers up to `limit`.
 * Needs a pin. Returns 1 found (pos, batch size, base, last offset), 0 not
 * in this segment, KLOG_ECORRUPT when the offsets on the way contradict
 * each other, the segment or the index entry, or an error.
 */
KLOG__HIDDEN int klog__segment_find(klog__segment_t *s, int64_t target, int64_t limit,
                                    int64_t *pos, int64_t *bsize, int64_t *bbase,
                                    int64_t *blast);

/* ---------------------------------------------------------- load and recovery */
/* 1 when the seal is usable (decodes, names this segment, matches the file
 * size; bytes past a sealed end whose prefix still has the seal's digest
 * are trimmed), 0 when absent or damaged (scan it), or an I/O error. */
KLOG__HIDDEN int klog__segment_check_seal(klog__segment_t *s);
/* Scan the .log from position 0 with CRC checks; rewrite both indexes
 * only when they differ from what the scan builds, truncate a torn or
 * corrupt tail; no fsync (the segment is marked unsynced). *truncated =
 * bytes cut. */
KLOG__HIDDEN int klog__segment_recover(klog__segment_t *s, int64_t *truncated);
/* Rebuild the indexes (and seal) of a sealed, inactive segment, never
 * cutting data. */
KLOG__HIDDEN int klog__segment_rebuild(klog__segment_t *s, const char *why);
/* A segment the cleaner swapped in: scan it, build its indexes and seal
 * (KLOG_ECORRUPT if the scan finds damage). */
KLOG__HIDDEN int klog__segment_index_cleaned(klog__segment_t *s);
/* The trusted last segment becomes active again: its seal stays until the
 * first append removes it (klog__segment_begin_write); its counts are
 * checked against the indexes at first open. */
KLOG__HIDDEN int klog__segment_reopen_active(klog__segment_t *s);
/* A clean open trusts a rolled segment whose seal and index files are
 * listed without reading any of them (next_base: the next segment's base):
 * the seal is read and checked at the first pin or question about its
 * offsets or size (klog__segment_ensure_meta), its indexes at that pin. */
KLOG__HIDDEN void klog__segment_trust(klog__segment_t *s, int64_t next_base);
/* Make the deferred checks of a lazily trusted segment now (0 when none are
 * left or they passed or rebuilt it; an I/O error leaves them to do). */
KLOG__HIDDEN int klog__segment_ensure_meta(klog__segment_t *s);
/* Log the offsets a kept damaged segment (rebuilt) no longer serves. */
KLOG__HIDDEN void klog__segment_report_lost(klog__segment_t *s, int64_t next_base);
/* A segment with no files yet (new partition or roll): nothing to load. */
KLOG__HIDDEN void klog__segment_mark_new(klog__segment_t *s);
/* Create the files (a new active segment); KLOG_ECORRUPT when a non-empty
 * .log already exists at this base. */
KLOG__HIDDEN int klog__segment_create(klog__segment_t *s);
/* Read-only openers without a state file: walk the headers of the last
 * segment to learn its end. */
KLOG__HIDDEN int klog__segment_scan_tail(klog__segment_t *s);
/* Where the last scan met a valid batch this segment cannot index (its
 * last offset more than INT32_MAX above the base), -1 none; the bytes
 * from there stay in the file (not served) until split off. */
KLOG__HIDDEN int64_t klog__segment_split_pos(const klog__segment_t *s);
/* Move them into a new .log at that batch's base offset (*new_base) and
 * cut this file there; crash-safe (cursor.c). Needs a writable pin. */
KLOG__HIDDEN int klog__segment_split_tail(klog__segment_t *s, int64_t *new_base);
/* Byte position of damage the last scan kept (a rebuild never cuts),
 * -1 when it found none. */
KLOG__HIDDEN int64_t klog__segment_damage(const klog__segment_t *s);
/* Restart the segment.ms clock (open, roll, truncation). */
KLOG__HIDDEN void klog__segment_restart_clock(klog__segment_t *s);

/* ---------------------------------------------------------- writing */
/* Should a batch of `size` bytes with last offset `last` and max timestamp
 * `max_ts` go to a new segment? Needs a writable pin. */
KLOG__HIDDEN int klog__segment_should_roll(klog__segment_t *s, int64_t size, int64_t last,
                                           int64_t max_ts, int64_t segment_bytes,
                                           int64_t segment_ms);
/* Before the first append to a sealed segment: remove its seal. */
KLOG__HIDDEN int klog__segment_begin_write(klog__segment_t *s);
/* A roll created the segment's files: the next klog__segment_sync (or its
 * seal) fsyncs the directory. */
KLOG__HIDDEN void klog__segment_mark_dir_unsynced(klog__segment_t *s);
/* Append len bytes (iov: one or more whole batches, Kafka's one
 * LogSegment.append) holding offsets up to `last`, with max timestamp
 * max_ts first reached at offset max_ts_off (the last offset of that
 * batch), at the end; at most one index entry per call, every
 * index.interval.bytes, as (last, position of the call's first byte);
 * publish the size. On a failed write the partial bytes are cut off again
 * and the error returned (the caller fails the partition). Needs a
 * writable pin. */
KLOG__HIDDEN int klog__segment_append(klog__segment_t *s, struct iovec *iov, int iovcnt,
                                      size_t len, int64_t last, int64_t max_ts,
                                      int64_t max_ts_off);
/* fdatasync if written since the last one. */
KLOG__HIDDEN int klog__segment_sync(klog__segment_t *s);
/* Pin writable, trim indexes, fsync, digest and write the seal. The
 * sealer clears the writable flag through this too. */
KLOG__HIDDEN int klog__segment_seal(klog__segment_t *s);
/* Cut the segment at the batch holding `offset` (or at its end): the
 * segment ends below *new_end afterwards. *changed tells, on failure,
 * whether the files may have been altered (the partition must fail). */
KLOG__HIDDEN int klog__segment_truncate(klog__segment_t *s, int64_t offset, int64_t *new_end,
                                        int *changed);

#endif
