/*
 * partition_swap.c — the fourth way a partition's segment list changes
 * (after append, recovery and retention): the cleaner replaces a run of
 * sealed segments by the one segment it wrote from them.
 *
 * Under the append lock the run is checked to still be what the cleaner
 * read (same segment objects, not the active one: a truncation or a
 * retention pass in between makes the cleaner throw its output away), then
 * the old segments are renamed to *.deleted (readers, leases and pins that
 * hold them go on reading the old bytes; the files go at their last
 * reference), the .swap is renamed into place, its indexes and seal are
 * built, and the new list is published. Offsets never change: the new
 * segment starts at the first old one's base and holds a subset of their
 * batches (klog_offsets' log start and end stay as they were).
 *
 * A failure after the first rename leaves the directory in a state the
 * next open completes (the .swap and its range file are still there), so
 * the partition is failed (appends refuse until reopened), as after a
 * failed write.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "storage/cleaner.h"
#include "storage/partition_impl.h"

/* Does a replaced segment's earlier generation still hold "<stem>.log.deleted"? */
static int deleted_name_busy(const klog__segment_t *s)
{
    char *path = klog__asprintf("%s.log.deleted", klog__segment_stem(s));
    if (!path)
        return -ENOMEM;
    struct stat st;
    int rc = klog__stat(path, &st);
    free(path);
    return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int klog__partition_replace(klog__partition_t *p, klog__segment_t *const *old, size_t n,
                            klog__cleaned_t *c)
{
    int rc = 0;
    pthread_mutex_lock(&p->append_mu);
    klog__seglist_t *l = p->segs;
    size_t i = 0;
    while (i < l->n && l->seg[i] != old[0])
        i++;
    if (atomic_load(&p->failed)) {
        rc = KLOG_EFAILED;
        goto out;
    }
    if (atomic_load(&p->deleted) || i + n >= l->n) {
        rc = KLOG_EBUSY; /* gone, or now (part of) the active segment */
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        if (l->seg[i + k] != old[k] || klog__segment_is_deleted(old[k])) {
            rc = KLOG_EBUSY;
            goto out;
        }
    if ((rc = deleted_name_busy(old[0])) != 0) {
        if (rc > 0)
            rc = KLOG_EBUSY; /* a reader still holds the previous generation */
        goto out;
    }
    klog__segment_t *ns = NULL;
    klog__seglist_t *nl = klog__seglist_new(l->n - n + 1);
    if (!nl || (rc = klog__segment_new(&p->segenv, c->base, &ns)) != 0) {
        free(nl);
        rc = rc ? rc : -ENOMEM;
        goto out;
    }
    /* From here on the directory changes: any failure fails the partition
     * and the next open finishes the swap. */
    for (size_t k = 0; k < n && !rc; k++)
        rc = klog__segment_mark_deleted(old[k]);
    if (!rc)
        rc = klog__cleaned_swap_in(c);
    if (!rc)
        rc = klog__segment_index_cleaned(ns);
    if (!rc)
        rc = klog__fsync_dir(p->dir);
    if (rc) {
        atomic_store(&p->failed, 1);
        klog__log(p->env->logger, KLOG_LOG_ERROR,
                  "cleaner: swapping in %s: %s (the next open finishes the swap)",
                  klog__segment_stem(ns), klog_strerror(rc));
        klog__segment_unref(ns);
        free(nl);
        goto out;
    }
    size_t k = 0;
    for (size_t j = 0; j < i; j++) {
        klog__segment_ref(l->seg[j]);
        nl->seg[k++] = l->seg[j];
    }
    nl->seg[k++] = ns;
    for (size_t j = i + n; j < l->n; j++) {
        klog__segment_ref(l->seg[j]);
        nl->seg[k++] = l->seg[j];
    }
    klog__partition_publish_list(p, nl);
    klog__cleaned_done(c);
out:
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

int klog__partition_failed(const klog__partition_t *p) { return atomic_load(&p->failed); }
