/*
 * checkpoints.c — the log's two Kafka checkpoint files (kafka-format.md
 * section 4): recovery-point-offset-checkpoint and
 * log-start-offset-checkpoint, read into every partition at open and
 * written from them. The text format itself is checkpoint.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/checkpoints.h"

#define RP_CKPT "recovery-point-offset-checkpoint"
#define LS_CKPT "log-start-offset-checkpoint"

/* Sort a checkpoint by (topic, partition, position) so lookups are binary
 * searches: opening 10,000 partitions must not cost 10^8 comparisons. */
static int cmp_ckpt(const void *a, const void *b)
{
    const klog__ckpt_entry_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int64_t ckpt_find(const klog__ckpt_t *c, const char *topic, int32_t part, int64_t dflt)
{
    klog__ckpt_entry_t key = {(char *)topic, part, 0};
    size_t lo = 0, hi = c->count;
    /* Last of equal entries: Kafka keeps the last duplicate. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_ckpt(&c->entries[mid], &key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && cmp_ckpt(&c->entries[lo - 1], &key) == 0)
        return c->entries[lo - 1].offset;
    return dflt;
}

/* Stable merge sort (entries keep file order among duplicates). On
 * allocation failure the entries stay unsorted and lookups degrade to the
 * linear klog__ckpt_lookup. */
static int ckpt_sort(klog__ckpt_t *c)
{
    size_t n = c->count;
    if (n < 2)
        return 1;
    klog__ckpt_entry_t *tmp = klog__malloc(n * sizeof *tmp), *a = c->entries, *b = tmp;
    if (!tmp)
        return 0;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = cmp_ckpt(&a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        klog__ckpt_entry_t *t = a;
        a = b;
        b = t;
    }
    if (a != c->entries)
        memcpy(c->entries, a, n * sizeof *a);
    free(tmp);
    return 1;
}

static int64_t ckpt_get(const klog__ckpt_t *c, int sorted, const char *topic, int32_t part)
{
    return sorted ? ckpt_find(c, topic, part, 0) : klog__ckpt_lookup(c, topic, part, 0);
}

int klog__checkpoints_apply(const char *dir, klog__topic_t *const *topics, size_t ntopics,
                            const klog__logger_t *lg)
{
    int unreadable = 0;
    klog__ckpt_t rp = {0}, ls = {0};
    int rc = klog__ckpt_read(dir, RP_CKPT, &rp);
    if (rc && rc != -ENOENT) {
        klog__log(lg, KLOG_LOG_WARN, "%s/%s unreadable (%s): full recovery",
                  dir, RP_CKPT, klog_strerror(rc));
        klog__ckpt_free(&rp);
        unreadable = 1;
    }
    rc = klog__ckpt_read(dir, LS_CKPT, &ls);
    if (rc && rc != -ENOENT)
        klog__log(lg, KLOG_LOG_WARN, "%s/%s unreadable (%s): ignored", dir,
                  LS_CKPT, klog_strerror(rc));
    int rs = ckpt_sort(&rp), lss = ckpt_sort(&ls);
    for (size_t i = 0; i < ntopics; i++) {
        klog__topic_t *t = topics[i];
        const char *name = klog__topic_get_name(t);
        for (int32_t j = 0; j < klog__topic_nparts(t); j++)
            klog__partition_set_checkpoints(klog__topic_part(t, j), ckpt_get(&rp, rs, name, j),
                                            ckpt_get(&ls, lss, name, j));
    }
    klog__ckpt_free(&rp);
    klog__ckpt_free(&ls);
    return unreadable;
}

int klog__checkpoints_write(const char *dir, klog__topic_t *const *topics, size_t ntopics)
{
    size_t n = 0;
    for (size_t i = 0; i < ntopics; i++)
        n += (size_t)klog__topic_nparts(topics[i]);
    klog__ckpt_entry_t *rp = klog__calloc(n ? n : 1, sizeof *rp);
    klog__ckpt_entry_t *ls = klog__calloc(n ? n : 1, sizeof *ls);
    int rc = -ENOMEM;
    size_t k = 0, kl = 0;
    if (!rp || !ls)
        goto out;
    for (size_t i = 0; i < ntopics; i++) {
        klog__topic_t *t = topics[i];
        for (int32_t j = 0; j < klog__topic_nparts(t); j++) {
            klog__partition_t *p = klog__topic_part(t, j);
            if (!klog__partition_loaded(p))
                continue;
            rp[k].topic = (char *)klog__topic_get_name(t);
            rp[k].partition = j;
            rp[k].offset = klog__partition_recovery_point(p);
            k++;
            int64_t start = klog__partition_log_start(p);
            klog__seglist_t *l = klog__partition_segments(p);
            int64_t first = l && l->n ? klog__segment_base(l->seg[0]) : 0;
            klog__seglist_unref(l);
            if (start > first) { /* Kafka writes only these */
                ls[kl] = rp[k - 1];
                ls[kl].offset = start;
                kl++;
            }
        }
    }
    rc = klog__ckpt_write(dir, RP_CKPT, rp, k);
    if (!rc)
        rc = klog__ckpt_write(dir, LS_CKPT, ls, kl);
out:
    free(rp);
    free(ls);
    return rc;
}

