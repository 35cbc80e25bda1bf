/*
 * segment_impl.h — struct klog__segment, private to the segment module:
 * segment.c (life cycle, files, pins, seal metadata), segwrite.c (append,
 * seal, truncate) and cursor.c (the header walker and recovery scan).
 * `make check-layers` refuses any other includer.
 */
#ifndef KLOG_STORAGE_SEGMENT_IMPL_H
#define KLOG_STORAGE_SEGMENT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "storage/files.h"
#include "storage/index.h"
#include "storage/segment.h"

struct klog__segment {
    atomic_int refs;
    const klog__segenv_t *env;
    int64_t base;
    char *stem;               /* "<dir>/<20-digit base>" */

    pthread_mutex_t mu;       /* fd/index open & close, pins */
    int fd;                   /* -1 while closed */
    atomic_int writable;      /* files opened for append (active segment); the
                                 sealer clears it without s->mu */
    klog__index_t oix, tix;
    int ix_open;              /* indexes mapped */
    atomic_int pins;
    atomic_int lease_pins;    /* pins held by leases (subset of pins) */
    klog__fdcache_link_t lru; /* in the descriptor cache while open */

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
    atomic_int lazy;          /* trusted unread at a clean open: the seal
                                 checks are still to do (ensure_meta) */
    int64_t lazy_next_base;   /* then: the next segment's base */
    atomic_int dir_unsynced;  /* the directory entry changed (created, seal
                                 removed) and no directory fsync covers it
                                 yet: the next klog__segment_sync does one */
    void *digest;             /* XXH3 state over .log bytes [0, size) during a
                                 scan, while dig_valid; freed at its end */
    int dig_valid;
    uint64_t seal_digest;     /* the digest of [0, seal_digest_size) the seal the
                                 segment was trusted by holds, or a whole scan
                                 took, while nothing changed the file
                                 (seal_digest_ok); append_mu holders and the
                                 sealer */
    int64_t seal_digest_size;
    int seal_digest_ok;
    uint32_t seal_index_entries, seal_timeindex_entries;
    int dirty_seal;           /* seal file exists but describes older state */
    int64_t damage_pos;       /* where the last scan found damage it kept, -1 none */
    dev_t file_dev;           /* read-only openers: the .log first opened, */
    ino_t file_ino;           /* so a file swapped in under the same name */
    int file_id_set;          /* (compaction) is never taken for it */
    int64_t split_pos;        /* where the last scan met a batch whose last offset
                                 is > INT32_MAX above base (KAFKA-6264), -1 none */
};

/* Path of one of the segment's files ("<stem><ext>[.deleted]"), malloc'd. */
KLOG__HIDDEN char *klog__segment_path(const klog__segment_t *s, const char *ext);
/* Open the files (s->mu held); close them (no pins or s->mu held). */
KLOG__HIDDEN int klog__segment_open_files(klog__segment_t *s, int writable);
KLOG__HIDDEN void klog__segment_close_files(klog__segment_t *s);
/* Scan the pinned .log from 0, rebuilding indexes and counters; cut a bad
 * tail when allow_truncate (cursor.c). */
KLOG__HIDDEN int klog__segment_scan(klog__segment_t *s, int allow_truncate, int64_t *truncated);
/* The recovery scan of a pinned .log, changing no file: 1 when the whole
 * file holds valid batches (nothing to cut or split) and every entry of
 * the index files as opened is one the append path or a rebuild could
 * have written for them, 0 when a rebuilding scan is needed (cursor.c).
 * The segment's counters, digest and offsets are the scan's either way. */
KLOG__HIDDEN int klog__segment_scan_verify(klog__segment_t *s);
/* Seal a pinned segment (segwrite.c). */
KLOG__HIDDEN int klog__segment_seal_pinned(klog__segment_t *s);
/* Running digest of the .log (segwrite.c). */
KLOG__HIDDEN void klog__segment_digest_start(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_digest_drop(klog__segment_t *s);
KLOG__HIDDEN void klog__segment_digest_add(klog__segment_t *s, const void *p, size_t n);
/* The end of a whole scan of size bytes: its digest is kept as the seal's
 * would be (8 bytes) and the hash state freed. */
KLOG__HIDDEN void klog__segment_digest_keep(klog__segment_t *s, int64_t size);

#endif
