/*
 * lease.c — zero-copy read leases: (fd, position, length) spans of whole
 * batches, pinned until released, plus sendfile and copy helpers.
 *
 * Building the spans never reads record data. In each segment the start is
 * the batch holding the requested offset (offset index + header scan); the
 * end is found from the other side: the offset index maps byte positions
 * to batch starts, so the last index entry at or below the byte budget
 * gives a batch boundary without walking every batch, and a short header
 * walk from there (at most index.interval.bytes plus one batch) finds the
 * exact end. The end never passes the batch holding the high watermark.
 *
 * Each segment a lease covers is referenced and pinned (pins and
 * lease_pins): the descriptor LRU cannot close it, truncation over it fails
 * with KLOG_EBUSY, and retention's unlink waits for the last reference.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/partition.h"

struct klog_lease {
    klog__partition_t *p;
    klog_span_t *spans;
    klog__segment_t **segs; /* pinned, one per span */
    size_t n, cap;
    size_t bytes;
    int64_t next;
    size_t cur;       /* sendfile progress: span index */
    size_t cur_done;  /* bytes of spans[cur] already sent */
    klog_aborted_txn_t *aborted; /* read committed: over [offset, next) */
    size_t naborted;
};

static int add_span(struct klog_lease *l, klog__segment_t *s, int64_t pos, int64_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        klog_span_t *sp = klog__realloc(l->spans, cap * sizeof *sp);
        if (!sp)
            return -ENOMEM;
        l->spans = sp;
        klog__segment_t **sg = klog__realloc(l->segs, cap * sizeof *sg);
        if (!sg)
            return -ENOMEM;
        l->segs = sg;
        l->cap = cap;
    }
    klog__segment_ref(s);
    klog__segment_lease_pin(s);
    l->segs[l->n] = s; /* the caller's pin moves into the lease */
    l->spans[l->n] = (klog_span_t){klog__segment_fd(s), pos, (size_t)len};
    l->n++;
    l->bytes += (size_t)len;
    return 0;
}

/*
 * Lease from segment s, starting at the batch holding *next. Returns 1 if
 * the lease is complete (budget or watermark reached), 0 to go on with the
 * next segment, or an error. s is pinned by the caller; the pin is either
 * handed to the lease or released here.
 */
static int lease_segment(struct klog_lease *l, klog__segment_t *s, int64_t *next, int64_t hw,
                         size_t max_bytes)
{
    int64_t limit = klog__segment_readable(s);
    int64_t start, bsize, bbase, blast;
    int rc = klog__segment_find(s, *next, limit, &start, &bsize, &bbase, &blast);
    if (rc <= 0) {
        klog__segment_unpin(s);
        return rc;
    }
    if (blast >= hw) {
        klog__segment_unpin(s);
        return 1;
    }
    /* Batches at or past the watermark's batch are not visible. */
    int64_t hpos, hsize, hbase, hlast;
    int hrc = klog__segment_find(s, hw, limit, &hpos, &hsize, &hbase, &hlast);
    if (hrc < 0) {
        klog__segment_unpin(s);
        return hrc;
    }
    int64_t stop = hrc ? hpos : limit;
    size_t left = max_bytes > l->bytes ? max_bytes - l->bytes : 0;
    if (l->n > 0 && (size_t)bsize > left) {
        /* Only an empty lease takes a batch larger than the budget. */
        *next = bbase > *next ? bbase : *next;
        klog__segment_unpin(s);
        return 1;
    }
    /* Compare in size_t: a budget near SIZE_MAX must not wrap to a
     * negative bound. */
    int64_t bound = stop > start && left < (size_t)(stop - start) ? start + (int64_t)left : stop;
    int64_t p = klog__segment_offidx_pos_floor(s, start, bound), last = blast;
    int done = 0;
    if (p == start)
        p = start + bsize; /* the first batch always goes in */
    else
        last = -1;         /* unknown until a header is read */
    /* Walk the remaining batch headers up to the bound. */
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, p, limit, 0, 0);
    while (p < stop) {
        klog_batch_info_t bi;
        klog__cursor_seek(&c, p, -1);
        int k = klog__cursor_peek(&c, &bi);
        if (k < 0 && k != KLOG_ECORRUPT) {
            klog__segment_unpin(s);
            return k;
        }
        if (k != KLOG__CUR_BATCH && k != KLOG__CUR_PARTIAL) {
            klog__log(klog__partition_logger(l->p), KLOG_LOG_ERROR,
                      "lease: %s.log position %lld: invalid batch header", klog__segment_stem(s),
                      (long long)p);
            klog__segment_unpin(s);
            return KLOG_ECORRUPT;
        }
        if (p + (int64_t)bi.size > bound) {
            done = 1;
            *next = bi.base_offset;
            break;
        }
        last = bi.base_offset + bi.last_offset_delta;
        p += (int64_t)bi.size;
    }
    if (!done) {
        if (last < 0) {
            /* Ended exactly on an index entry: the batch there is excluded,
             * so its base offset is where the next fetch starts. */
            klog_batch_info_t bi;
            klog__cursor_seek(&c, p, -1);
            int k = klog__cursor_peek(&c, &bi);
            if (k == KLOG__CUR_BATCH || k == KLOG__CUR_PARTIAL)
                *next = bi.base_offset;
            done = 1;
        } else {
            *next = last + 1;
        }
        if (p >= stop && hrc)
            done = 1; /* reached the watermark's batch */
        if (l->bytes + (size_t)(p - start) >= max_bytes)
            done = 1;
    }
    rc = add_span(l, s, start, p - start);
    if (rc) {
        klog__segment_unpin(s);
        return rc;
    }
    if (*next > hw)
        *next = hw;
    return done;
}

static int acquire_once(klog_partition_t *p, int64_t offset, size_t max_bytes, int committed,
                        klog_lease_t **out);

int klog_lease_acquire(klog_partition_t *p, int64_t offset, size_t max_bytes, klog_lease_t **out)
{
    return klog_lease_acquire_isolated(p, offset, max_bytes, KLOG_ISOLATION_READ_UNCOMMITTED,
                                       out);
}

int klog_lease_acquire_isolated(klog_partition_t *p, int64_t offset, size_t max_bytes,
                                int isolation, klog_lease_t **out)
{
    if (!p || !out || (isolation != KLOG_ISOLATION_READ_UNCOMMITTED &&
                       isolation != KLOG_ISOLATION_READ_COMMITTED))
        return -EINVAL;
    int committed = isolation == KLOG_ISOLATION_READ_COMMITTED;
    if (committed && klog__partition_rdonly(p))
        return -ENOTSUP;
    /* Read-only openers: a segment that vanished between our list and its
     * open was removed by the writer, which publishes the new log start
     * first: below it is out of range; otherwise the list was stale. */
    for (int tries = 0;; tries++) {
        int rc = acquire_once(p, offset, max_bytes, committed, out);
        if (rc != -ENOENT || !klog__partition_rdonly(p) || tries == 8)
            return rc;
        rc = klog__partition_refresh(p);
        if (rc)
            return rc;
        if (offset < klog__partition_log_start(p) || offset > klog__partition_hw(p))
            return KLOG_EOFFSET;
    }
}

static int acquire_once(klog_partition_t *p, int64_t offset, size_t max_bytes, int committed,
                        klog_lease_t **out)
{
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    int64_t start = klog__partition_log_start(p), hw = klog__partition_hw(p);
    if (offset < start || offset > hw)
        return KLOG_EOFFSET;
    if (committed) {
        /* The fetch's upper bound is the last stable offset; at or past
         * it the lease is empty (Kafka: bound < start <= LEO). */
        int64_t lso = klog__partition_lso(p);
        hw = lso > offset ? lso : offset;
    }
    struct klog_lease *l = klog__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->p = p;
    l->next = offset;
    klog__partition_readers_add(p, 1);
    klog__stats_lease(p, 1);
    klog__seglist_t *list = klog__partition_segments(p);
    size_t si = 0;
    while (list && si + 1 < list->n && klog__segment_base(list->seg[si + 1]) <= offset)
        si++;
    int64_t next = offset;
    for (; list && si < list->n && next < hw; si++) {
        klog__segment_t *s = list->seg[si];
        rc = klog__segment_pin(s, 0);
        if (rc)
            break;
        rc = lease_segment(l, s, &next, hw, max_bytes);
        if (rc)
            break;
    }
    klog__seglist_unref(list);
    if (rc < 0) {
        klog_lease_release(l);
        return rc;
    }
    l->next = next > offset ? next : offset;
    if (committed && l->next > offset) {
        rc = klog__partition_aborted(p, offset, l->next, &l->aborted, &l->naborted);
        if (rc) {
            klog_lease_release(l);
            return rc;
        }
    }
    *out = l;
    return 0;
}

const klog_aborted_txn_t *klog_lease_aborted(const klog_lease_t *l, size_t *count)
{
    if (count)
        *count = l ? l->naborted : 0;
    return l && l->naborted ? l->aborted : NULL;
}

const klog_span_t *klog_lease_spans(const klog_lease_t *l, size_t *count)
{
    if (count)
        *count = l ? l->n : 0;
    return l ? l->spans : NULL;
}

size_t klog_lease_bytes(const klog_lease_t *l) { return l ? l->bytes : 0; }
int64_t klog_lease_next_offset(const klog_lease_t *l) { return l ? l->next : -1; }

int klog_lease_sendfile(klog_lease_t *l, int out_fd, size_t *sent)
{
    if (!l)
        return -EINVAL;
    size_t total = 0;
    int rc = 1;
    while (l->cur < l->n) {
        klog_span_t *sp = &l->spans[l->cur];
        if (l->cur_done == sp->len) {
            l->cur++;
            l->cur_done = 0;
            continue;
        }
        off_t pos = (off_t)(sp->pos + (int64_t)l->cur_done);
        ssize_t n = klog__sendfile(out_fd, sp->fd, &pos, sp->len - l->cur_done);
        if (n < 0) {
            rc = n == -EAGAIN ? 0 : (int)n;
            break;
        }
        if (n == 0) {
            rc = -EIO; /* the file is shorter than the lease: cannot happen while pinned */
            break;
        }
        l->cur_done += (size_t)n;
        total += (size_t)n;
    }
    if (sent)
        *sent = total;
    return rc;
}

int klog_lease_copy(const klog_lease_t *l, void *buf, size_t cap)
{
    if (!l || (!buf && l->bytes))
        return -EINVAL;
    if (cap < l->bytes)
        return -ENOBUFS;
    uint8_t *dst = buf;
    for (size_t i = 0; i < l->n; i++) {
        ssize_t n = klog__pread_full(l->spans[i].fd, dst, l->spans[i].len, (off_t)l->spans[i].pos);
        if (n < 0)
            return (int)n;
        if ((size_t)n != l->spans[i].len)
            return -EIO;
        dst += n;
    }
    return 0;
}

void klog_lease_release(klog_lease_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        klog__segment_lease_unpin(l->segs[i]);
        klog__segment_unpin(l->segs[i]);
        klog__segment_unref(l->segs[i]);
    }
    klog__partition_readers_add(l->p, -1);
    free(l->aborted);
    klog__stats_lease(l->p, -1);
    free(l->spans);
    free(l->segs);
    free(l);
}
