/*
 * fdcache.h — the log-wide LRU of open descriptors (segment files and their
 * index mappings), bounded by KLOG_CONF_MAX_OPEN_FILES.
 *
 * The cache knows nothing of segments: an owner embeds a klog__fdcache_link_t,
 * touches it with the number of descriptors it holds open, and the cache
 * evicts cold links through the callback given at creation. The callback
 * runs with the cache's lock held and must not block (owners trylock and
 * refuse while their files are pinned).
 */
#ifndef KLOG_STORAGE_FDCACHE_H
#define KLOG_STORAGE_FDCACHE_H

#include "platform/platform.h"

typedef struct klog__fdcache klog__fdcache_t;

typedef struct klog__fdcache_link {
    struct klog__fdcache_link *prev, *next; /* cache lock */
    int fds;                                /* descriptors accounted, 0 when not in the cache */
} klog__fdcache_link_t;

/* Try to close the owner's descriptors: the number released (the link's
 * fds), or 0 when the owner is busy. */
typedef int (*klog__fdcache_evict_fn)(klog__fdcache_link_t *link);

/* max_fds: bound on accounted descriptors (at least 1). -ENOMEM. */
KLOG__HIDDEN int klog__fdcache_new(int max_fds, klog__fdcache_evict_fn evict,
                                   klog__fdcache_t **out);
KLOG__HIDDEN void klog__fdcache_free(klog__fdcache_t *c);
/* Mark link most recently used, holding fds descriptors; evict cold links
 * (never link itself) while the total exceeds the bound. */
KLOG__HIDDEN void klog__fdcache_touch(klog__fdcache_t *c, klog__fdcache_link_t *link, int fds);
/* Close cold unpinned owners until `fds` descriptors are freed (an open
 * failed with EMFILE/ENFILE); returns how many were. */
KLOG__HIDDEN int klog__fdcache_shed(klog__fdcache_t *c, int fds);
/* Forget link (its owner closed its descriptors or is going away). */
KLOG__HIDDEN void klog__fdcache_remove(klog__fdcache_t *c, klog__fdcache_link_t *link);
/* Descriptors accounted now (tests and statistics). */
KLOG__HIDDEN int klog__fdcache_count(klog__fdcache_t *c);

#endif
