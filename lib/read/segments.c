/*
 * segments.c — the public segment API (klog.h "segments"): list a
 * partition's segments, pin one whole (as a lease pins what it covers), look
 * offsets and timestamps up in its indexes. Rolling on demand is the append
 * path's (storage/append.c).
 *
 * A pin holds a reference, a pin and a lease pin on the segment and counts
 * as a reader of the partition, so retention defers its unlink, truncation
 * over it fails with KLOG_EBUSY, the descriptor cache leaves it open and
 * klog_close() refuses. Its index descriptors are opened read-only for the
 * pin (the library maps the indexes and keeps no descriptor for them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/partition.h"

struct klog_segment_pin {
    klog__partition_t *p;
    klog__segment_t *s;
    klog_segment_files_t files;
};

static const char *const exts[4] = {".log", ".index", ".timeindex", ".seal"};

int klog_segment_list(klog_partition_t *p, klog_segment_info_t **out, size_t *count)
{
    if (!p || !out || !count)
        return -EINVAL;
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    size_t n = l ? l->n : 0, bytes = n * sizeof(klog_segment_info_t);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            bytes += strlen(klog__segment_stem(l->seg[i])) + strlen(exts[k]) + 1;
    klog_segment_info_t *v = klog__malloc(bytes ? bytes : 1);
    if (!v) {
        klog__seglist_unref(l);
        return -ENOMEM;
    }
    char *str = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        klog__segment_t *s = l->seg[i];
        klog_segment_info_t *e = &v[i];
        klog__segment_load_meta(s); /* sealed: counts from the seal (else as loaded) */
        e->base_offset = klog__segment_base(s);
        e->next_offset = klog__segment_next_offset(s);
        e->size = klog__segment_bytes(s, 1);
        e->max_timestamp = klog__segment_max_ts(s);
        e->first_timestamp = e->size > 0 ? klog__segment_first_ts(s) : -1;
        e->active = i + 1 == n;
        /* The active segment keeps a clean close's seal only until its next
         * append: not final. */
        e->sealed = !e->active && klog__segment_is_sealed(s);
        const char **paths[4] = {&e->log_path, &e->index_path, &e->timeindex_path, &e->seal_path};
        for (int k = 0; k < 4; k++) {
            size_t len = strlen(klog__segment_stem(s));
            memcpy(str, klog__segment_stem(s), len);
            strcpy(str + len, exts[k]);
            *paths[k] = str;
            str += len + strlen(exts[k]) + 1;
        }
    }
    klog__seglist_unref(l);
    *out = v;
    *count = n;
    return 0;
}

int klog_segment_pin(klog_partition_t *p, int64_t base_offset, klog_segment_pin_t **out)
{
    if (!p || !out)
        return -EINVAL;
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    size_t i = 0;
    while (l && i < l->n && klog__segment_base(l->seg[i]) != base_offset)
        i++;
    if (!l || i == l->n) {
        klog__seglist_unref(l);
        return KLOG_EOFFSET;
    }
    klog__segment_t *s = l->seg[i];
    int active = i + 1 == l->n, rdonly = klog__partition_rdonly(p);
    klog__segment_ref(s);
    klog__seglist_unref(l);
    klog__segment_load_meta(s); /* sealed: its counts from the seal */
    /* A rolled segment waiting for its seal is sealed first: the sealer
     * reopens files for writing and must not wait for a long-held pin. The
     * active one is pinned as the append path opens it, for the same
     * reason. */
    if (!active && !rdonly && !klog__segment_is_sealed(s))
        klog__partition_wait_sealed(p);
    struct klog_segment_pin *sp = klog__calloc(1, sizeof *sp);
    rc = sp ? klog__segment_pin(s, active && !rdonly) : -ENOMEM;
    if (rc) {
        free(sp);
        klog__segment_unref(s);
        return rc;
    }
    sp->p = p;
    sp->s = s;
    klog__segment_lease_pin(s);
    klog__partition_readers_add(p, 1);
    klog_segment_files_t *f = &sp->files;
    f->base_offset = base_offset;
    f->sealed = !active && klog__segment_is_sealed(s);
    f->log_fd = klog__segment_fd(s);
    /* Size before next offset: a batch counted in the size is complete. */
    f->log_size = klog__segment_readable(s);
    f->next_offset = klog__segment_next_offset(s);
    klog__segment_index_bytes(s, &f->index_size, &f->timeindex_size);
    f->index_fd = klog__segment_open_ro(s, ".index");
    f->timeindex_fd = klog__segment_open_ro(s, ".timeindex");
    for (int k = 0; k < 2; k++) {
        int *fd = k ? &f->timeindex_fd : &f->index_fd;
        if (*fd == -ENOENT) {
            *fd = -1; /* a missing index costs only speed */
        } else if (*fd < 0) {
            rc = *fd;
            *fd = -1;
            klog_segment_unpin(sp);
            return rc;
        }
    }
    if (f->index_fd < 0)
        f->index_size = 0;
    if (f->timeindex_fd < 0)
        f->timeindex_size = 0;
    *out = sp;
    return 0;
}

const klog_segment_files_t *klog_segment_pin_files(const klog_segment_pin_t *sp)
{
    return sp ? &sp->files : NULL;
}

int klog_segment_lookup_offset(const klog_segment_pin_t *sp, int64_t offset, int64_t *entry_offset,
                               int64_t *position)
{
    if (!sp || !entry_offset || !position)
        return -EINVAL;
    uint32_t pos;
    klog__segment_offidx_floor(sp->s, offset, entry_offset, &pos);
    *position = pos;
    return 0;
}

int klog_segment_lookup_time(const klog_segment_pin_t *sp, int64_t timestamp,
                             int64_t *entry_timestamp, int64_t *entry_offset)
{
    if (!sp || !entry_timestamp || !entry_offset)
        return -EINVAL;
    klog__segment_timeidx_floor_entry(sp->s, timestamp, entry_timestamp, entry_offset);
    return 0;
}

void klog_segment_unpin(klog_segment_pin_t *sp)
{
    if (!sp)
        return;
    if (sp->files.index_fd >= 0)
        klog__close(sp->files.index_fd);
    if (sp->files.timeindex_fd >= 0)
        klog__close(sp->files.timeindex_fd);
    klog__segment_lease_unpin(sp->s);
    klog__segment_unpin(sp->s);
    klog__segment_unref(sp->s);
    klog__partition_readers_add(sp->p, -1);
    free(sp);
}
