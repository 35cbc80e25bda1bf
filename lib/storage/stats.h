/*
 * stats.h — the per-partition counters behind klog_partition_stats() and
 * klog_stats() (stats.c owns them). Each partition embeds one
 * klog__pstats_t; the append path, the flush and the roll bump it with one
 * call each, leases with klog__stats_lease() (partition.h).
 */
#ifndef KLOG_STORAGE_STATS_H
#define KLOG_STORAGE_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

typedef struct klog__pstats {
    _Atomic int64_t appends;
    _Atomic int64_t append_bytes;
    _Atomic int64_t append_records;
    _Atomic int64_t fsync_ns;
    _Atomic int64_t fsync_max_ns;
    _Atomic int64_t rolls;
    _Atomic int64_t leases;
    _Atomic int64_t leases_total;
} klog__pstats_t;

/* One write of len bytes holding records records was appended. */
KLOG__HIDDEN void klog__stats_appended(klog__pstats_t *s, size_t len, int64_t records);
/* A data fsync round that started at since_ns (klog__mono_ns()) ended. */
KLOG__HIDDEN void klog__stats_fsynced(klog__pstats_t *s, int64_t since_ns);
/* A new active segment. */
KLOG__HIDDEN void klog__stats_rolled(klog__pstats_t *s);

#endif
