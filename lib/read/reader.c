/*
 * reader.c — the record iterator over one partition.
 *
 * A reader holds a reference to a segment-list snapshot and a position
 * (segment, byte position, next offset). It reads the .log in large
 * chunks with pread into a buffer it owns and decodes batch by batch with
 * a klog_batch_reader, so records are views into that buffer (or into the
 * batch reader's decompression buffer) valid until the next call.
 *
 * Visibility: a batch is returned only when its last offset is below the
 * high watermark, and only bytes below the segment's published size are
 * read, so a reader never sees a torn or unacknowledged batch. Records
 * below the requested offset inside the first batch are skipped (Kafka's
 * fetch returns whole batches; consumers skip, and so do we).
 *
 * Positioning uses the segment list (binary search on base offsets), then
 * the offset index (binary search), then a short scan of batch headers.
 * Reaching the end of the snapshot refreshes it, so readers follow rolls,
 * and retention that removes the reader's position surfaces as KLOG_EOFFSET.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/partition.h"

#define CHUNK (256 * 1024)

struct klog_reader {
    struct klog_partition *p;
    klog__seglist_t *list;
    size_t si;          /* segment index in list */
    int64_t pos;        /* byte position of the next batch in that segment */
    int64_t next;       /* next offset to return */
    int positioned;     /* pos valid for next */
    klog__cursor_t cur; /* walks segment si (its buffer holds read-ahead bytes) */
    klog_batch_reader_t *br;
    int in_batch;
    int64_t batch_last;
    unsigned truncations; /* the partition's count when positioned */
    const atomic_uint *trunc_counter; /* the partition's count, checked per record */
    int returned;         /* a record came from the batch in br */
    int64_t prev_last;    /* last offset of the batch before pos in segment si
                             (at least the segment's base - 1) */
    int isolation;        /* KLOG_ISOLATION_* */
    klog_aborted_txn_t *ab; /* read committed: aborted transactions over */
    size_t nab;             /* [ab_from, ab_to) */
    int64_t ab_from, ab_to;
    klog__segment_t *lim_seg; /* read-only opener: the segment lim was read for */
    int64_t lim;              /* its length then */
};

static int resolve(struct klog_reader *r, int64_t *offset)
{
    struct klog_partition *p = r->p;
    int64_t start = klog__partition_log_start(p), hw = klog__partition_hw(p);
    if (*offset == KLOG_OFFSET_BEGINNING)
        *offset = start;
    else if (*offset == KLOG_OFFSET_END)
        *offset = hw;
    if (*offset < start || *offset > hw)
        return KLOG_EOFFSET;
    return 0;
}

static void drop_list(struct klog_reader *r)
{
    klog__seglist_unref(r->list);
    r->list = NULL;
    r->cur.seg = NULL;
    r->lim_seg = NULL;
    klog__cursor_invalidate(&r->cur);
}

/* Index of the segment that may hold offset: last with base <= offset. */
static size_t seg_for(const klog__seglist_t *l, int64_t offset)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (klog__segment_base(l->seg[mid]) <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

/* Place the reader at the batch holding r->next. */
/* Read-only openers: a segment of our list vanished (the writer's
 * retention, DeleteRecords or truncation removed it). The writer publishes
 * the new log start before any file goes, so a position below it is out of
 * range; otherwise our list was stale: KLOG__RETRY to find the position
 * again. Never a silent skip, never -ENOENT. */
#define KLOG__RETRY 1
static int segment_lost(struct klog_reader *r)
{
    r->positioned = 0;
    r->in_batch = 0;
    int rc = klog__partition_refresh(r->p);
    if (rc)
        return rc;
    if (r->next < klog__partition_log_start(r->p) || r->next > klog__partition_log_end(r->p))
        return KLOG_EOFFSET;
    return KLOG__RETRY;
}

static int position_once(struct klog_reader *r);

static int position(struct klog_reader *r)
{
    for (int tries = 0;; tries++) {
        int rc = position_once(r);
        if (rc != -ENOENT || !klog__partition_rdonly(r->p))
            return rc;
        rc = segment_lost(r);
        if (rc != KLOG__RETRY || tries == 8)
            return rc == KLOG__RETRY ? -ENOENT : rc;
    }
}

static int position_once(struct klog_reader *r)
{
    int rc = klog__partition_refresh(r->p);
    if (rc)
        return rc;
    drop_list(r);
    r->truncations = klog__partition_truncations(r->p);
    r->list = klog__partition_segments(r->p);
    /* Checked after taking the snapshot: retention and DeleteRecords
     * publish the log start before the shorter list, so a position that
     * is gone is never mistaken for the first segment's start. */
    if (r->next < klog__partition_log_start(r->p))
        return KLOG_EOFFSET;
    if (!r->list || r->list->n == 0)
        return 0; /* nothing yet: stay unpositioned */
    r->si = seg_for(r->list, r->next);
    r->in_batch = 0;
    for (; r->si < r->list->n; r->si++) {
        klog__segment_t *s = r->list->seg[r->si];
        rc = klog__segment_pin(s, 0);
        if (rc)
            return rc;
        int64_t bpos, bsize, bbase, blast, limit = klog__segment_readable(s);
        int found = klog__segment_find(s, r->next, limit, &bpos, &bsize, &bbase, &blast);
        r->prev_last = klog__segment_base(s) - 1;
        if (found == KLOG_ECORRUPT) {
            /* A damaged batch header or offsets on the way. Walk from the
             * segment's start batch by batch instead, checking every
             * offset: next_batch() stops at the damage and reports the
             * file and byte position. */
            klog__segment_unpin(s);
            r->pos = 0;
            r->positioned = 1;
            return 0;
        }
        klog__segment_unpin(s);
        if (found < 0)
            return found;
        if (found) {
            r->pos = bpos;
            r->positioned = 1;
            return 0;
        }
        if (r->si + 1 == r->list->n) {
            /* Past the end of the last segment: wait there. */
            r->pos = klog__segment_readable(s);
            r->positioned = 1;
            return 0;
        }
    }
    return 0;
}

int klog_reader_open(klog_partition_t *p, int64_t offset, klog_reader_t **out)
{
    if (!p || !out)
        return -EINVAL;
    struct klog_reader *r = klog__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->p = p;
    int rc = klog__partition_refresh(p);
    if (!rc)
        rc = klog_batch_reader_new(&r->br);
    if (!rc)
        rc = resolve(r, &offset);
    if (rc) {
        klog_batch_reader_free(r->br);
        free(r);
        return rc;
    }
    klog__partition_readers_add(p, 1);
    r->next = offset;
    r->trunc_counter = klog__partition_truncation_counter(p);
    *out = r;
    return 0;
}

int klog_reader_seek(klog_reader_t *r, int64_t offset)
{
    if (!r)
        return -EINVAL;
    int rc = klog__partition_refresh(r->p);
    if (!rc)
        rc = resolve(r, &offset);
    if (rc)
        return rc;
    r->next = offset;
    r->positioned = 0;
    r->in_batch = 0;
    drop_list(r);
    return 0;
}

int64_t klog_reader_position(const klog_reader_t *r) { return r->next; }

const klog_batch_info_t *klog_reader_batch_info(const klog_reader_t *r)
{
    return r && r->returned ? klog_batch_reader_info(r->br) : NULL;
}

static int corrupt(struct klog_reader *r, klog__segment_t *s, int err)
{
    klog__log(klog__partition_logger(r->p), KLOG_LOG_ERROR, "read: %s.log position %lld: %s",
              klog__segment_stem(s), (long long)r->pos, klog_strerror(err));
    return err;
}

int klog_reader_set_isolation(klog_reader_t *r, int isolation)
{
    if (!r || (isolation != KLOG_ISOLATION_READ_UNCOMMITTED &&
               isolation != KLOG_ISOLATION_READ_COMMITTED))
        return -EINVAL;
    if (isolation == KLOG_ISOLATION_READ_COMMITTED && klog__partition_rdonly(r->p))
        return -ENOTSUP;
    r->isolation = isolation;
    return 0;
}

/* Read committed: is the transactional batch (producer pid, first offset
 * base) part of an aborted transaction? lso bounds the fetch. */
static int aborted_batch(struct klog_reader *r, int64_t pid, int64_t base, int64_t lso)
{
    if (base < r->ab_from || base >= r->ab_to) {
        free(r->ab);
        r->ab = NULL;
        r->nab = 0;
        int rc = klog__partition_aborted(r->p, base, lso, &r->ab, &r->nab);
        if (rc)
            return rc;
        r->ab_from = base;
        r->ab_to = lso;
    }
    for (size_t i = 0; i < r->nab; i++)
        if (r->ab[i].producer_id == pid && r->ab[i].first_offset <= base &&
            base < r->ab[i].last_offset)
            return 1;
    return 0;
}

/* Bytes of s this reader may read. A read-only opener asks the file
 * system (a system call), so it keeps the length it saw until it reaches
 * it: once per segment and per catching up, not once per batch. *fresh:
 * the length was read just now. */
static int64_t readable(struct klog_reader *r, klog__segment_t *s, int *fresh)
{
    *fresh = 1;
    if (!klog__partition_rdonly(r->p))
        return klog__segment_readable(s);
    if (r->lim_seg == s && r->pos + 12 <= r->lim) {
        *fresh = 0;
        return r->lim;
    }
    r->lim = klog__segment_readable(s);
    r->lim_seg = s;
    return r->lim;
}

/* Load the next batch whose records reach r->next. 1 loaded, 0 none yet.
 * Kept out of line (once per batch): inlined into klog_reader_next it
 * made the per-record path save and restore every callee-saved register. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int next_batch(struct klog_reader *r)
{
    int committed = r->isolation == KLOG_ISOLATION_READ_COMMITTED;
    int64_t hw = committed ? klog__partition_lso(r->p) : klog__partition_hw(r->p);
    if (r->next >= hw)
        return 0;
    if (!r->positioned || !r->list) {
        int rc = position(r);
        if (rc || !r->positioned)
            return rc;
    }
    /* A reader already positioned reads on from the segments its snapshot
     * holds even when retention removed them since (they are unlinked at
     * its last reference); only finding a position again can fail. */
    for (;;) {
        klog__segment_t *s = r->list->seg[r->si];
        int fresh;
        int64_t limit = readable(r, s, &fresh);
        int sealed = r->si + 1 < r->list->n; /* a later segment exists */
        if (r->pos + 12 > limit) {
            if (sealed && klog__segment_gone(s)) {
                int rc = segment_lost(r);
                if (rc != KLOG__RETRY)
                    return rc;
                rc = position(r);
                if (rc || !r->positioned)
                    return rc;
                continue;
            }
            if (sealed) {
                if (r->pos != limit)
                    return corrupt(r, s, KLOG_ECORRUPT); /* bytes that are no batch */
                r->si++;
                r->pos = 0;
                r->prev_last = klog__segment_base(r->list->seg[r->si]) - 1;
                continue;
            }
            /* End of the snapshot: the log may have rolled since. */
            klog__seglist_t *l = klog__partition_segments(r->p);
            int rolled = l && l->n > 0 && l->seg[l->n - 1] != s;
            klog__seglist_unref(l);
            int rc = klog__partition_refresh(r->p);
            if (rc)
                return rc;
            if (!rolled && !klog__partition_rdonly(r->p))
                return 0;
            r->positioned = 0;
            rc = position(r);
            if (rc || !r->positioned)
                return rc;
            if (r->list->seg[r->si] == s && r->pos + 12 > klog__segment_readable(s))
                return 0;
            continue;
        }
        if (r->cur.seg != s)
            klog__cursor_init(&r->cur, s, r->pos, limit, CHUNK, 1);
        else
            klog__cursor_seek(&r->cur, r->pos, limit);
        klog_batch_info_t bi;
        int rc = klog__cursor_peek(&r->cur, &bi);
        if (!fresh && (rc == KLOG__CUR_END || rc == KLOG__CUR_PARTIAL)) {
            r->lim_seg = NULL; /* the file may have grown since: look again */
            continue;
        }
        if (rc == KLOG_ECORRUPT)
            return corrupt(r, s, KLOG_ECORRUPT);
        if (rc < 0)
            return rc;
        if (rc == KLOG__CUR_END) {
            /* Bytes below the end that hold no whole header: the writer
             * publishes whole batches, so in a sealed segment or in the
             * writer's own process this is damage. */
            if (sealed || !klog__partition_rdonly(r->p))
                return corrupt(r, s, KLOG_ECORRUPT);
            return 0;
        }
        int64_t size = (int64_t)bi.size;
        int64_t last = bi.base_offset + bi.last_offset_delta;
        /* baseOffset lies outside the CRC: offsets must increase and stay
         * inside the segment (below the next one's base and, in the writer,
         * at most the segment's own last offset). */
        int64_t bound = INT64_MAX;
        if (sealed) {
            bound = klog__segment_base(r->list->seg[r->si + 1]) - 1;
            /* (next_offset is the base until the seal is loaded: unknown) */
            int64_t own = klog__segment_next_offset(s) - 1;
            if (!klog__partition_rdonly(r->p) && own >= klog__segment_base(s) && own < bound)
                bound = own;
        }
        if (bi.base_offset <= r->prev_last || bi.last_offset_delta < 0 || last > bound)
            return corrupt(r, s, KLOG_ECORRUPT);
        if (last >= hw)
            return 0; /* not visible yet */
        if (rc == KLOG__CUR_PARTIAL) {
            /* Below the watermark, or in a sealed segment, a batch that
             * runs past the end is damage, not an unfinished write. */
            return corrupt(r, s, KLOG_ECORRUPT);
        }
        if (sealed || !klog__partition_rdonly(r->p)) {
            /* Look ahead: the next batch must start above this one, and
             * the last batch of a sealed segment end at the segment's last
             * offset. Catches a raised baseOffset before it is served. */
            klog_batch_info_t nb;
            int k = klog__cursor_peek_at(&r->cur, r->pos + size, &nb);
            if (k < 0 && k != KLOG_ECORRUPT)
                return k;
            if (k > 0 && nb.base_offset <= last)
                return corrupt(r, s, KLOG_ECORRUPT);
            if (k == KLOG__CUR_END && sealed && r->pos + size == limit &&
                !klog__partition_rdonly(r->p) && last != bound)
                return corrupt(r, s, KLOG_ECORRUPT);
        }
        r->prev_last = last;
        if (last < r->next) {
            r->pos += size;
            continue;
        }
        int skip = (bi.attributes & KLOG_ATTR_CONTROL) != 0; /* markers: never records */
        if (!skip && committed && (bi.attributes & KLOG_ATTR_TRANSACTIONAL) &&
            bi.producer_id >= 0) {
            skip = aborted_batch(r, bi.producer_id, bi.base_offset, hw);
            if (skip < 0)
                return skip;
        }
        if (skip) {
            r->pos += size;
            r->next = last + 1;
            continue;
        }
        const uint8_t *h;
        rc = klog__cursor_batch(&r->cur, bi.size, &h);
        if (rc <= 0)
            return rc;
        rc = klog_batch_reader_open(r->br, h, (size_t)size, KLOG_VALIDATE_HEADER);
        if (rc)
            return corrupt(r, s, rc);
        r->in_batch = 1;
        r->batch_last = last;
        r->pos += size;
        return 1;
    }
}

/* Everything but a record handed straight from the batch in hand:
 * truncation under us, the end of a batch, errors, the next batch.
 * `rc` is what klog_batch_reader_next already returned for this call (a
 * record below r->next, the batch's end or an error), or 2 for none. */
static int next_slow(struct klog_reader *r, klog_record_t *rec, int rc)
{
    for (;;) {
        if (rc == 2 && (r->positioned || r->in_batch) &&
            atomic_load(r->trunc_counter) != r->truncations) {
            /* The log was truncated under us: the batch in hand and our
             * byte position may be gone or reused. Find the position again;
             * past the new end is out of range, as a Kafka fetch beyond the
             * log end is. */
            r->positioned = 0;
            r->in_batch = 0;
            drop_list(r);
            r->truncations = klog__partition_truncations(r->p);
            r->ab_from = r->ab_to = 0; /* aborted transactions may be gone */
            if (r->next > klog__partition_log_end(r->p))
                return KLOG_EOFFSET;
        }
        if (r->in_batch) {
            if (rc == 2)
                rc = klog_batch_reader_next(r->br, rec);
            if (rc == 1) {
                rc = 2;
                if (rec->offset < r->next)
                    continue;
                r->next = rec->offset + 1;
                r->returned = 1;
                return 1;
            }
            r->in_batch = 0;
            if (rc < 0) {
                klog__segment_t *s = r->list->seg[r->si];
                klog__log(klog__partition_logger(r->p), KLOG_LOG_ERROR,
                          "read: %s.log batch ending at position %lld: %s", klog__segment_stem(s),
                          (long long)r->pos, klog_strerror(rc));
                return rc;
            }
            rc = 2;
            if (r->batch_last + 1 > r->next)
                r->next = r->batch_last + 1;
            continue;
        }
        rc = next_batch(r);
        if (rc <= 0)
            return rc;
        rc = 2;
    }
}

int klog_reader_next(klog_reader_t *r, klog_record_t *rec)
{
    if (!r || !rec)
        return -EINVAL;
    /* The per-record path: the next record of the batch in hand, one call
     * into the batch reader and three tests. */
    if (KLOG__LIKELY(r->in_batch && atomic_load(r->trunc_counter) == r->truncations)) {
        int rc = klog_batch_reader_next(r->br, rec);
        if (KLOG__LIKELY(rc == 1 && rec->offset >= r->next)) {
            r->next = rec->offset + 1;
            r->returned = 1;
            return 1;
        }
        return next_slow(r, rec, rc);
    }
    return next_slow(r, rec, 2);
}

int klog_reader_wait(klog_reader_t *r, int timeout_ms)
{
    if (!r)
        return -EINVAL;
    return klog_partition_wait(r->p, r->next, timeout_ms);
}

void klog_reader_close(klog_reader_t *r)
{
    if (!r)
        return;
    drop_list(r);
    klog__cursor_free(&r->cur);
    klog_batch_reader_free(r->br);
    klog__partition_readers_add(r->p, -1);
    free(r->ab);
    free(r);
}
