/*
 * retention.c — the ways a partition's segment list shrinks: retention by
 * time and size (whole inactive segments below the watermark), DeleteRecords
 * (the log start moves; segments wholly below it go) and truncation (the
 * log end moves back: a follower's divergence). Removed segments are
 * renamed to *.deleted at once and unlinked at their last reference, so
 * readers and leases holding them keep reading.
 */
#include <errno.h>
#include <stdlib.h>

#include "storage/partition_impl.h"

/* Delete the first `k` segments (append_mu held). */
static int drop_prefix(klog__partition_t *p, size_t k)
{
    klog__seglist_t *l = p->segs;
    if (k == 0)
        return 0;
    klog__seglist_t *nl = klog__seglist_slice(l, k, l->n, NULL);
    if (!nl)
        return -ENOMEM;
    /* Order matters to readers in other processes, which see only the
     * state file and the directory: first the new log start (a reader
     * below it gets KLOG_EOFFSET, and a writer killed after this point
     * leaves it right), then the files go, then the shorter list. No
     * intermediate state shows a reader a missing segment above the log
     * start. */
    int64_t first = klog__segment_base(nl->seg[0]);
    if (atomic_load(&p->log_start) < first)
        atomic_store(&p->log_start, first);
    klog__partition_publish_offsets(p);
    for (size_t i = 0; i < k; i++) {
        klog__log(p->env->logger, KLOG_LOG_INFO, "retention: deleting %s.log",
                  klog__segment_stem(l->seg[i]));
        klog__segment_mark_deleted(l->seg[i]);
    }
    atomic_fetch_add(&l->refs, 1); /* for the hooks below */
    klog__partition_publish_list(p, nl);
    klog__partstate_dropped(p, l, k);
    klog__partstate_log_start(p);
    klog__seglist_unref(l);
    return (int)k;
}

int klog__partition_retention(klog__partition_t *p, int64_t now_ms)
{
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    int64_t rms = klog__partition_conf(p, KLOG_CONF_RETENTION_MS);
    int64_t rbytes = klog__partition_conf(p, KLOG_CONF_RETENTION_BYTES);
    if (!(klog__partition_conf(p, KLOG_CONF_CLEANUP_POLICY) & KLOG_CLEANUP_DELETE))
        rms = rbytes = -1; /* cleanup.policy=compact: only the log start deletes */
    pthread_mutex_lock(&p->append_mu);
    klog__seglist_t *l = p->segs;
    int64_t hw = atomic_load(&p->hw), start = atomic_load(&p->log_start);
    int64_t total = 0;
    if (rbytes >= 0)
        for (size_t i = 0; i < l->n; i++)
            total += klog__segment_bytes(l->seg[i], 1);
    size_t k = 0;
    while (k + 1 < l->n) { /* never the active segment */
        klog__segment_t *s = l->seg[k];
        int64_t upper = klog__segment_base(l->seg[k + 1]);
        if (upper > hw)
            break;
        int del = upper <= start;
        if (!del && rms >= 0 && now_ms - klog__segment_age_ts(s) > rms)
            del = 1;
        int64_t sz = klog__segment_bytes(s, 1);
        if (!del && rbytes >= 0 && total - rbytes - sz >= 0)
            del = 1;
        if (!del)
            break;
        total -= sz;
        k++;
    }
    int rc = drop_prefix(p, k);
    klog__partstate_expire(p, now_ms);
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

int klog_delete_records(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    pthread_mutex_lock(&p->append_mu);
    int rc = 0;
    if (offset > atomic_load(&p->hw) || offset < 0) {
        rc = KLOG_EOFFSET;
        goto out;
    }
    if (offset <= atomic_load(&p->log_start))
        goto out;
    atomic_store(&p->log_start, offset);
    klog__partition_publish_offsets(p); /* before any file goes (drop_prefix) */
    klog__seglist_t *l = p->segs;
    size_t k = 0;
    while (k + 1 < l->n && klog__segment_base(l->seg[k + 1]) <= offset)
        k++;
    rc = drop_prefix(p, k);
    if (rc >= 0)
        rc = 0;
    if (k == 0)
        klog__partstate_log_start(p); /* drop_prefix told it otherwise */
    klog__partition_publish_offsets(p);
out:
    pthread_mutex_unlock(&p->append_mu);
    if (!rc)
        rc = p->env->write_checkpoints(p->env->ctx);
    return rc;
}

/* ------------------------------------------------------------ truncate */

int klog_truncate(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    pthread_mutex_lock(&p->append_mu);
    int rc = 0;
    klog__seglist_t *l = p->segs;
    if (offset < atomic_load(&p->log_start)) {
        rc = KLOG_EOFFSET;
        goto out;
    }
    if (offset >= atomic_load(&p->log_end))
        goto out;
    /* The segment holding offset: last with base <= offset. */
    size_t k = 0;
    while (k + 1 < l->n && klog__segment_base(l->seg[k + 1]) <= offset)
        k++;
    for (size_t i = k; i < l->n; i++)
        if (klog__segment_lease_pinned(l->seg[i])) {
            rc = KLOG_EBUSY;
            goto out;
        }
    klog__segment_t *s = l->seg[k];
    klog__sealer_wait(p->env->sealer, p); /* the sealer must not hold s */
    int64_t new_end;
    int changed;
    rc = klog__segment_truncate(s, offset, &new_end, &changed);
    if (rc) {
        if (changed)
            atomic_store(&p->failed, 1);
        goto out;
    }
    klog__seglist_t *nl = klog__seglist_slice(l, 0, k + 1, NULL);
    if (!nl) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = k + 1; i < l->n; i++)
        klog__segment_mark_deleted(l->seg[i]);
    atomic_fetch_add(&p->truncations, 1);
    klog__partition_publish_list(p, nl);
    int64_t old_end = atomic_load(&p->log_end);
    atomic_store(&p->log_end, new_end);
    if (atomic_load(&p->hw) > new_end)
        atomic_store(&p->hw, new_end);
    if (atomic_load(&p->recovery_point) > new_end)
        atomic_store(&p->recovery_point, new_end);
    klog__partition_publish_offsets(p);
    rc = klog__partstate_truncated(p, old_end);
    if (!rc)
        rc = klog__fsync_dir(p->dir);
out:
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

