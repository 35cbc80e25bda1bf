/*
 * stats.c — klog_partition_stats() and klog_stats(): the counters each
 * partition keeps (klog__pstats_t, bumped from the append path, the flush,
 * the roll and leases) read with relaxed atomics, plus what the partition
 * and the log already track (fsync count, offsets, readers, the descriptor
 * cache, recovery work). Nothing here takes a lock the append path takes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/cleaner.h"
#include "storage/log.h"
#include "storage/partition.h"
#include "storage/stats.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), memory_order_relaxed)

void klog__stats_appended(klog__pstats_t *s, size_t len, int64_t records)
{
    ADD(s->appends, 1);
    ADD(s->append_bytes, (int64_t)len);
    ADD(s->append_records, records);
}

void klog__stats_fsynced(klog__pstats_t *s, int64_t since_ns)
{
    int64_t d = klog__mono_ns() - since_ns;
    if (d < 0)
        d = 0;
    ADD(s->fsync_ns, d);
    int64_t max = LOAD(s->fsync_max_ns);
    while (d > max && !atomic_compare_exchange_weak(&s->fsync_max_ns, &max, d))
        ;
}

void klog__stats_rolled(klog__pstats_t *s) { ADD(s->rolls, 1); }

void klog__stats_lease(klog__partition_t *p, int delta)
{
    klog__pstats_t *s = klog__partition_stats(p);
    ADD(s->leases, delta);
    if (delta > 0)
        ADD(s->leases_total, delta);
}

int klog_partition_stats(klog_partition_t *p, klog_partition_stats_t *out)
{
    if (!p || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    klog_offsets_t o;
    int rc = klog_partition_offsets(p, &o);
    if (rc)
        return rc;
    klog__pstats_t *s = klog__partition_stats(p);
    out->appends = LOAD(s->appends);
    out->append_bytes = LOAD(s->append_bytes);
    out->append_records = LOAD(s->append_records);
    out->fsyncs = klog__partition_fsyncs(p);
    out->fsync_ns = LOAD(s->fsync_ns);
    out->fsync_max_ns = LOAD(s->fsync_max_ns);
    out->rolls = LOAD(s->rolls);
    out->leases = LOAD(s->leases);
    out->leases_total = LOAD(s->leases_total);
    out->readers = klog__partition_readers(p);
    out->segments = o.segments;
    out->bytes = o.bytes;
    out->log_start = o.log_start;
    out->log_end = o.log_end;
    out->high_watermark = o.high_watermark;
    out->recovery_point = o.recovery_point;
    return 0;
}

static void add_partition(klog_stats_t *out, const klog_partition_stats_t *ps)
{
    out->partitions++;
    out->appends += ps->appends;
    out->append_bytes += ps->append_bytes;
    out->append_records += ps->append_records;
    out->fsyncs += ps->fsyncs;
    out->fsync_ns += ps->fsync_ns;
    if (ps->fsync_max_ns > out->fsync_max_ns)
        out->fsync_max_ns = ps->fsync_max_ns;
    out->rolls += ps->rolls;
    out->leases += ps->leases;
    out->leases_total += ps->leases_total;
    out->readers += ps->readers;
    out->segments += ps->segments;
    out->bytes += ps->bytes;
}

int klog_stats(klog_t *log, klog_stats_t *out)
{
    if (!log || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    char **names;
    int n = klog_topic_list(log, &names);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        klog_topic_t *t;
        if (klog_topic_get(log, names[i], &t))
            continue; /* deleted since the list was taken */
        out->topics++;
        int32_t np = klog_topic_partition_count(t);
        for (int32_t j = 0; j < np; j++) {
            klog_partition_t *p;
            klog_partition_stats_t ps;
            if (klog_partition_get(t, j, &p) == 0 && klog_partition_stats(p, &ps) == 0)
                add_partition(out, &ps);
        }
    }
    free(names);
    const klog__recovery_stats_t *r = klog__log_stats(log);
    out->open_files = klog__log_open_fds(log);
    out->recovered_segments = LOAD(r->scanned_segments);
    out->recovered_bytes = LOAD(r->scanned_bytes);
    out->recovery_truncated_bytes = LOAD(r->truncated_bytes);
    out->rebuilt_indexes = LOAD(r->rebuilt_indexes);
    out->compactions = klog__cleaner_passes(klog__log_cleaner(log));
    return 0;
}
