/*
 * pstate.h — a partition's state page, "klog.state": the watermark, log
 * start, log end and a generation counter (bumped when the segment list
 * changes) that a writer publishes to read-only openers in other processes.
 *
 * The page is mapped only while it is used: the log keeps at most
 * KLOG_CONF_MAX_STATE_MAPS of them mapped (an LRU, fdcache.h, whose
 * eviction unmaps cold pages), so mappings and resident memory stay
 * bounded however many partitions are open. The file's contents do not
 * depend on the mapping: the writer's stores stay in the page cache, a
 * later map sees them, and a publish that would store what the file holds
 * already maps nothing.
 */
#ifndef KLOG_STORAGE_PSTATE_H
#define KLOG_STORAGE_PSTATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "storage/fdcache.h"

struct klog_partition;
struct klog__statefile;

typedef struct klog__pstate_vals {
    int64_t hw, log_start, log_end;
    uint64_t generation;
} klog__pstate_vals_t;

/* Embedded in the partition; owned by pstate.c. */
typedef struct klog__pstate {
    klog__fdcache_link_t lru;            /* first: the evict callback's container */
    _Atomic(struct klog__statefile *) page; /* mapped page, or NULL */
    atomic_int users;                    /* pins now (page stays mapped) */
    atomic_int ref;                      /* pinned since the last eviction pass */
    atomic_int avail;                    /* the file is usable (see klog__pstate_open) */
    pthread_mutex_t mu;                  /* maps, unmaps, snap */
    klog__fdcache_t *cache;              /* the log's state-page LRU */
    int snap_valid;                      /* snap is the file's content (writer) */
    int held_fd;                         /* the writer's open file, kept through its load */
    int warned;                          /* a failed map was logged */
    klog__pstate_vals_t snap;            /* offsets when last read or unmapped */
} klog__pstate_t;

/* What klog__pstate_publish stores. */
enum {
    KLOG__PST_HW = 1,      /* the watermark (raised, never lowered) */
    KLOG__PST_END = 2,     /* the log end (raised, never lowered; stored first) */
    KLOG__PST_OFFSETS = 4, /* log start, watermark and log end, in an order that
                              keeps log_start <= hw <= log_end at every instant */
    KLOG__PST_GEN = 8,     /* bump the generation */
};

/* The log's LRU of mapped state pages, at most max of them. -ENOMEM. */
KLOG__HIDDEN int klog__pstate_cache_new(int max, klog__fdcache_t **out);

/* Before anything else touches s (cache: the log's). */
KLOG__HIDDEN void klog__pstate_init(klog__pstate_t *s, klog__fdcache_t *cache);
/* Open the file and read it, mapping nothing. A writer creates it (with its
 * blocks reserved, so the shared mapping never meets a full disk) and sets
 * p->state_log_start from a sane one; a read-only opener marks it usable
 * only when its magic, version and offsets are sane (no file, or a writer
 * that has not written it yet: 0, and not usable). The writer keeps the
 * descriptor until klog__pstate_loaded. Errors: the I/O's. */
KLOG__HIDDEN int klog__pstate_open(struct klog_partition *p);
/* The writer's load is over: the descriptor klog__pstate_open kept for a
 * map the load may need goes (a load that maps uses it instead of opening
 * the file again). */
KLOG__HIDDEN void klog__pstate_loaded(struct klog_partition *p);
/* Unmap and leave the LRU (no other thread uses p). */
KLOG__HIDDEN void klog__pstate_close(struct klog_partition *p);
/* The offsets klog__pstate_open read (read-only openers' load, which must
 * not map every page). 1 when the file was usable, else 0. */
KLOG__HIDDEN int klog__pstate_opened(struct klog_partition *p, klog__pstate_vals_t *v);
/* The page's offsets now, mapping it if it was evicted: 1, or 0 when the
 * file is not usable (or cannot be mapped: logged once). */
KLOG__HIDDEN int klog__pstate_read(struct klog_partition *p, klog__pstate_vals_t *v);
/* Writer: store the partition's offsets named by `what` (KLOG__PST_*). */
KLOG__HIDDEN void klog__pstate_publish(struct klog_partition *p, unsigned what);
/* Read-only opener's load (no other thread uses p): stop using the file
 * (damaged); a later klog__pstate_open may take it again. */
KLOG__HIDDEN void klog__pstate_distrust(struct klog_partition *p);

#endif
