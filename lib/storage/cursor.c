/*
 * cursor.c — the segment cursor (segment.h), the one code that walks batch
 * headers in a .log, and what is built on it: the offset lookup
 * (klog__segment_find), the recovery scan and the read-only tail walk.
 *
 * A header is parsed only by the codec (klog__batch_peek); the cursor adds
 * the file: where the bytes come from (a buffer refilled with pread, or 61
 * bytes at a time) and where they stop (the limit the caller may see).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "storage/segment_impl.h"

void klog__cursor_init(klog__cursor_t *c, klog__segment_t *s, int64_t pos, int64_t limit,
                       size_t chunk, int pins)
{
    c->seg = s;
    c->pos = pos;
    c->limit = limit;
    c->chunk = chunk;
    c->pins = pins;
    c->buf.len = 0;
    c->buf_pos = 0;
}

void klog__cursor_seek(klog__cursor_t *c, int64_t pos, int64_t limit)
{
    c->pos = pos;
    if (limit >= 0)
        c->limit = limit;
}

void klog__cursor_invalidate(klog__cursor_t *c) { c->buf.len = 0; }

void klog__cursor_free(klog__cursor_t *c)
{
    klog__buf_free(&c->buf);
    c->buf.len = 0;
}

static ssize_t cursor_pread(klog__cursor_t *c, void *dst, size_t len, int64_t pos)
{
    if (c->pins) {
        int rc = klog__segment_pin(c->seg, 0);
        if (rc)
            return rc;
    }
    ssize_t n = klog__pread_full(c->seg->fd, dst, len, (off_t)pos);
    if (c->pins)
        klog__segment_unpin(c->seg);
    return n;
}

/* Bytes [pos, pos + need) at hand: a pointer to them, or NULL with *rc
 * 0 (the file is shorter) or -errno. need <= limit - pos. */
static const uint8_t *have(klog__cursor_t *c, int64_t need, int *rc)
{
    *rc = 0;
    if (c->chunk == 0) {
        ssize_t n = cursor_pread(c, c->hdr, (size_t)need, c->pos);
        if (n < need) {
            *rc = n < 0 ? (int)n : 0;
            return NULL;
        }
        return c->hdr;
    }
    if (c->buf.len && c->pos >= c->buf_pos && c->pos + need <= c->buf_pos + (int64_t)c->buf.len)
        return c->buf.data + (c->pos - c->buf_pos);
    int64_t want = need > (int64_t)c->chunk ? need : (int64_t)c->chunk;
    if (c->pos + want > c->limit)
        want = c->limit - c->pos;
    c->buf.len = 0;
    int r = klog__buf_reserve(&c->buf, (size_t)want);
    if (r) {
        *rc = r;
        return NULL;
    }
    ssize_t n = cursor_pread(c, c->buf.data, (size_t)want, c->pos);
    if (n < 0) {
        *rc = (int)n;
        return NULL;
    }
    c->buf.len = (size_t)n;
    c->buf_pos = c->pos;
    return n >= need ? c->buf.data : NULL;
}

int klog__cursor_peek(klog__cursor_t *c, klog_batch_info_t *bi)
{
    if (c->pos + KLOG_BATCH_HEADER_SIZE > c->limit)
        return KLOG__CUR_END;
    int rc;
    const uint8_t *h = have(c, KLOG_BATCH_HEADER_SIZE, &rc);
    if (!h)
        return rc < 0 ? rc : KLOG__CUR_END;
    if (klog__batch_peek(h, KLOG_BATCH_HEADER_SIZE, bi) != 0)
        return KLOG_ECORRUPT;
    return c->pos + (int64_t)bi->size > c->limit ? KLOG__CUR_PARTIAL : KLOG__CUR_BATCH;
}

int klog__cursor_peek_at(klog__cursor_t *c, int64_t pos, klog_batch_info_t *bi)
{
    if (pos + KLOG_BATCH_HEADER_SIZE > c->limit)
        return KLOG__CUR_END;
    const uint8_t *h;
    if (c->buf.len && pos >= c->buf_pos &&
        pos + KLOG_BATCH_HEADER_SIZE <= c->buf_pos + (int64_t)c->buf.len) {
        h = c->buf.data + (pos - c->buf_pos);
    } else {
        ssize_t n = cursor_pread(c, c->hdr, KLOG_BATCH_HEADER_SIZE, pos);
        if (n < 0)
            return (int)n;
        if (n < KLOG_BATCH_HEADER_SIZE)
            return KLOG__CUR_END;
        h = c->hdr;
    }
    if (klog__batch_peek(h, KLOG_BATCH_HEADER_SIZE, bi) != 0)
        return KLOG_ECORRUPT;
    return pos + (int64_t)bi->size > c->limit ? KLOG__CUR_PARTIAL : KLOG__CUR_BATCH;
}

int klog__cursor_batch(klog__cursor_t *c, size_t size, const uint8_t **data)
{
    if (c->chunk == 0)
        return -EINVAL;
    if (c->pos + (int64_t)size > c->limit)
        return 0;
    int rc;
    const uint8_t *p = have(c, (int64_t)size, &rc);
    if (!p)
        return rc;
    *data = p;
    return 1;
}

/* ------------------------------------------------------------ lookup */

int klog__segment_find(klog__segment_t *s, int64_t target, int64_t limit, int64_t *pos,
                       int64_t *bsize, int64_t *bbase, int64_t *blast)
{
    int64_t ioff;
    uint32_t ipos;
    klog__offidx_lookup(&s->oix, target, &ioff, &ipos);
    int64_t p = ipos;
    if (p > limit)
        p = 0; /* index ahead of what this reader may see: scan */
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, p, limit, 0, 0);
    /* Offsets are checked on the way (a baseOffset is outside the CRC):
     * they increase, stay in the segment, and the batches from an index
     * entry's position reach its offset exactly (Kafka indexes the last
     * offset of the batches appended together at that position). */
    int hit = p == 0;
    int64_t prev = p == 0 ? s->base - 1 : -1;
    for (;;) {
        klog_batch_info_t bi;
        int k = klog__cursor_peek(&c, &bi);
        if (k != KLOG__CUR_BATCH)
            return k < 0 ? k : 0;
        int64_t last = bi.base_offset + bi.last_offset_delta;
        if (bi.base_offset <= prev || bi.last_offset_delta < 0)
            return KLOG_ECORRUPT;
        if (!hit) {
            if (last > ioff)
                return KLOG_ECORRUPT;
            hit = last == ioff;
        }
        prev = last;
        if (last >= target) {
            *pos = c.pos;
            *bsize = (int64_t)bi.size;
            *bbase = bi.base_offset;
            *blast = last;
            return 1;
        }
        klog__cursor_seek(&c, c.pos + (int64_t)bi.size, -1);
    }
}

/* ------------------------------------------------------------ recovery scan */

/* How a scan ends: cut a bad tail (recovery), keep it (sealed data), or
 * only check (klog__segment_scan_verify: the .log and indexes untouched). */
enum { SCAN_KEEP, SCAN_CUT, SCAN_VERIFY };

/*
 * What SCAN_VERIFY asks of the index files as opened (their valid prefix):
 * that each entry is one the append path or a rebuild could have written
 * for these batches, wherever appending resumed (the spacing of entries
 * only matters for speed): an offset entry is (last offset, position) of
 * a batch, a time entry the running (max timestamp, its offset) after some
 * batch, and no entry is left over past the data.
 */
typedef struct ixcheck {
    const klog__index_t *oix, *tix;
    uint32_t oi, ti, on, tn;
    int bad;
} ixcheck_t;

/* After the batch at pos (last offset `last`), the running max taken in. */
static void ixcheck_batch(ixcheck_t *k, const klog__segment_t *s, int64_t pos, int64_t last)
{
    if (k->oi < k->on) {
        int64_t o;
        uint32_t p;
        klog__offidx_entry(k->oix, k->oi, &o, &p);
        if ((int64_t)p < pos || ((int64_t)p == pos && o != last))
            k->bad = 1; /* not at a batch, or not that batch's last offset */
        else if ((int64_t)p == pos)
            k->oi++;
    }
    if (k->ti < k->tn) {
        int64_t t, o;
        klog__timeidx_entry(k->tix, k->ti, &t, &o);
        if (t == s->max_ts && o == s->max_ts_off)
            k->ti++;
        else if (t <= s->max_ts)
            k->bad = 1; /* the running max passed it without matching */
    }
}

/*
 * Scan the .log with CRC validation, rebuilding both indexes;
 * stop at the first invalid or torn batch and truncate there (SCAN_CUT),
 * or keep the bytes and report them (SCAN_KEEP: sealed data is never cut).
 * SCAN_VERIFY writes no index and checks the segment's own (ixcheck);
 * it returns 0 at a bad tail, a batch to split off or an index entry that
 * fails the check, before changing anything but the segment's counters,
 * and 1 when the whole file scanned and the index files may stay.
 */
static int scan_into(klog__segment_t *s, int mode, int64_t *truncated)
{
    int build = mode != SCAN_VERIFY;
    const klog__segenv_t *env = s->env;
    int64_t fsize = klog__fsize(s->fd);
    if (fsize < 0)
        return (int)fsize;
    int64_t interval = env->index_interval;
    if (build) {
        klog__index_reset(&s->oix);
        klog__index_reset(&s->tix);
    }
    klog__segment_digest_start(s);
    s->max_ts = -1;
    s->max_ts_off = s->base;
    s->first_batch_ts = -1;
    s->split_pos = -1;
    int64_t pos = 0, next = s->base, since = 0, scanned = 0;
    const char *why = NULL;
    int rc = 0;
    ixcheck_t chk = {&s->oix, &s->tix, 0, 0, 0, 0, 0};
    if (mode == SCAN_VERIFY) {
        if (s->oix.fd < 0 || s->tix.fd < 0)
            return 0; /* an index file is missing: the rebuild writes it */
        chk.on = atomic_load(&s->oix.entries);
        chk.tn = atomic_load(&s->tix.entries);
    }
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, 0, fsize, 1 << 20, 0);
    while (pos < fsize) {
        klog_batch_info_t bi;
        klog__cursor_seek(&c, pos, -1);
        int k = klog__cursor_peek(&c, &bi);
        if (k == KLOG__CUR_END) {
            why = "torn batch header at end of file";
            break;
        }
        if (k == KLOG_ECORRUPT) {
            why = "invalid batch length or magic";
            break;
        }
        if (k < 0) {
            rc = k;
            goto out;
        }
        const uint8_t *h = NULL;
        if (k == KLOG__CUR_BATCH)
            k = klog__cursor_batch(&c, bi.size, &h);
        else
            k = 0;
        if (k < 0) {
            rc = k;
            goto out;
        }
        if (k == 0) {
            why = "torn batch at end of file";
            break;
        }
        int64_t size = (int64_t)bi.size;
        int vrc = klog_batch_validate(h, bi.size, KLOG_VALIDATE_HEADER, &bi);
        if (vrc) {
            why = klog_strerror(vrc);
            break;
        }
        int64_t base = bi.base_offset;
        int64_t last = base + bi.last_offset_delta;
        if (base < next || bi.last_offset_delta < 0) {
            why = "batch offsets out of order";
            break;
        }
        if (last - s->base > INT32_MAX) {
            /* Valid data this segment cannot index (old Kafka wrote such
             * segments, KAFKA-6264): not damage; the loader moves it and
             * what follows into a segment of its own. */
            s->split_pos = pos;
            break;
        }
        if (pos == 0) /* the first batch's, as Kafka's loadFirstBatchTimestamp */
            s->first_batch_ts = bi.max_timestamp;
        /* Kafka's LogSegment.recover raises the max timestamp first too. */
        if (bi.max_timestamp > s->max_ts) {
            s->max_ts = bi.max_timestamp;
            s->max_ts_off = last;
        }
        if (since > interval) {
            if (build) {
                klog__offidx_append(&s->oix, last, (uint32_t)pos);
                klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
            }
            since = 0;
        }
        since += size;
        if (mode == SCAN_VERIFY)
            ixcheck_batch(&chk, s, pos, last);
        next = last + 1;
        klog__segment_digest_add(s, h, (size_t)size);
        pos += size;
        scanned += size;
    }
    if (mode == SCAN_VERIFY &&
        (pos < fsize || s->split_pos >= 0 || chk.bad || chk.oi < chk.on || chk.ti < chk.tn)) {
        s->split_pos = -1; /* the rebuilding scan finds it again */
        goto out;          /* rc 0: not whole */
    }
    if (s->max_ts >= 0 && build) /* SCAN_VERIFY: the files keep what they have */
        klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
    *truncated = fsize - pos;
    s->damage_pos = -1;
    if (s->split_pos >= 0) {
        *truncated = 0; /* the bytes from split_pos stay until they are moved */
    } else if (pos < fsize && mode == SCAN_KEEP) {
        s->damage_pos = pos;
        /* Sealed data is never cut: report it; reads will fail there. */
        klog__log(env->logger, KLOG_LOG_ERROR,
                  "%s.log: %s at position %lld (sealed segment; data kept, not served)", s->stem,
                  why ? why : "invalid data", (long long)pos);
        *truncated = 0;
        pos = fsize;
        klog__segment_digest_drop(s); /* the kept bytes were not all hashed */
    } else if (pos < fsize) {
        klog__log(env->logger, KLOG_LOG_WARN,
                  "recovery: %s.log: %s at position %lld; truncating %lld bytes", s->stem,
                  why ? why : "invalid data", (long long)pos, (long long)(fsize - pos));
        rc = klog__ftruncate(s->fd, (off_t)pos);
        if (rc)
            goto out;
        atomic_fetch_add(&env->stats->truncated_bytes, fsize - pos);
    }
    atomic_fetch_add(&env->stats->scanned_bytes, scanned);
    atomic_store(&s->size, pos);
    atomic_store(&s->next_offset, next);
    /* Kafka's recover() (and truncateTo()) leave the append path's byte
     * counter at 0, so appends after recovery index as after a reopen. */
    s->bytes_since_index = 0;
    s->meta_loaded = 1;
    atomic_fetch_add(&env->stats->scanned_segments, 1);
    klog__segment_digest_keep(s, pos);
    rc = 1;
out:
    klog__cursor_free(&c);
    return rc;
}

int klog__segment_scan(klog__segment_t *s, int allow_truncate, int64_t *truncated)
{
    int rc = scan_into(s, allow_truncate ? SCAN_CUT : SCAN_KEEP, truncated);
    return rc < 0 ? rc : 0;
}

int klog__segment_scan_verify(klog__segment_t *s)
{
    int64_t truncated = 0;
    return scan_into(s, SCAN_VERIFY, &truncated);
}

int64_t klog__segment_first_ts(klog__segment_t *s)
{
    if (klog__segment_pin(s, 0) != 0)
        return -1;
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, 0, klog__segment_readable(s), 0, 0);
    klog_batch_info_t bi;
    int k = klog__cursor_peek(&c, &bi);
    klog__segment_unpin(s);
    return k == KLOG__CUR_BATCH ? bi.base_timestamp : -1;
}

/* Walk the batch headers of s from pos (prev: the offset before it) to the
 * first thing that is no whole header; *end and *next: where that is and
 * the offset after the last batch. 1 when a batch ending at exactly
 * `reach` was passed (reach < 0: not asked). */
static int walk_tail(klog__segment_t *s, int64_t pos, int64_t limit, size_t chunk, int64_t reach,
                     int64_t *end, int64_t *next)
{
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, pos, limit, chunk, 0);
    klog_batch_info_t bi;
    int hit = 0;
    while (klog__cursor_peek(&c, &bi) == KLOG__CUR_BATCH) {
        *next = bi.base_offset + bi.last_offset_delta + 1;
        hit |= *next - 1 == reach;
        klog__cursor_seek(&c, c.pos + (int64_t)bi.size, -1);
    }
    klog__cursor_free(&c);
    *end = c.pos;
    return hit;
}

/*
 * Read-only openers learn the log end from the writer's state file, or,
 * when there is none, by walking the batch headers of the last segment:
 * from its offset index's last entry when the batches there reach that
 * entry's offset exactly (as the append path writes entries), else from
 * the start, 1 MiB a read. A segment of any size costs a few headers.
 */
int klog__segment_scan_tail(klog__segment_t *s)
{
    int rc = klog__segment_pin(s, 0);
    if (rc)
        return rc;
    int64_t limit = klog__segment_readable(s), end = 0, next = s->base;
    int64_t ioff;
    uint32_t ipos;
    klog__offidx_lookup(&s->oix, INT64_MAX, &ioff, &ipos);
    if (ipos == 0 || ipos >= limit || ioff < s->base ||
        !walk_tail(s, ipos, limit, 0, ioff, &end, &next)) {
        next = s->base;
        walk_tail(s, 0, limit, 1 << 20, -1, &end, &next);
    }
    klog__segment_unpin(s);
    atomic_store(&s->size, end);
    atomic_store(&s->next_offset, next);
    return 0;
}

/* ------------------------------------------------------------ overflow split */

/*
 * The last scan stopped at split_pos: a valid batch whose last offset this
 * segment cannot index. Copy the bytes from there to the end of the file
 * into a new .log named after that batch's base offset, fsync it and the
 * directory, then cut this file at split_pos. A crash before the cut
 * leaves both copies; the next load finds the same batch here and rewrites
 * the new file from it (O_TRUNC) before cutting, so nothing is lost or
 * doubled. Kafka splits such segments (LogLoader.splitOverflowedSegment);
 * the new file is scanned next and may split again. Needs a writable pin.
 */
int klog__segment_split_tail(klog__segment_t *s, int64_t *new_base)
{
    int64_t pos = s->split_pos, fsize = klog__fsize(s->fd);
    if (pos < 0 || fsize < 0)
        return pos < 0 ? -EINVAL : (int)fsize;
    klog__cursor_t c = {0};
    klog_batch_info_t bi;
    klog__cursor_init(&c, s, pos, fsize, 0, 0);
    int k = klog__cursor_peek(&c, &bi);
    klog__cursor_free(&c);
    if (k != KLOG__CUR_BATCH)
        return k < 0 ? k : KLOG_ECORRUPT;
    char *path = klog__asprintf("%s/%020lld.log", s->env->dir, (long long)bi.base_offset);
    uint8_t *buf = klog__malloc(1 << 20);
    int fd = path && buf ? klog__open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                         : -ENOMEM;
    int rc = fd < 0 ? fd : 0;
    for (int64_t at = pos; !rc && at < fsize;) {
        size_t n = fsize - at < (1 << 20) ? (size_t)(fsize - at) : (size_t)1 << 20;
        ssize_t got = klog__pread_full(s->fd, buf, n, (off_t)at);
        rc = got < 0 ? (int)got : got != (ssize_t)n ? -EIO : 0;
        if (!rc)
            rc = klog__pwrite_all(fd, buf, n, (off_t)(at - pos));
        at += (int64_t)n;
    }
    if (!rc)
        rc = klog__fdatasync(fd);
    if (fd >= 0)
        klog__close(fd);
    if (!rc)
        rc = klog__fsync_dir(s->env->dir);
    if (!rc)
        rc = klog__ftruncate(s->fd, (off_t)pos);
    if (!rc)
        rc = klog__fdatasync(s->fd);
    if (!rc) {
        klog__log(s->env->logger, KLOG_LOG_WARN,
                  "recovery: %s.log: the batch at position %lld (offset %lld) is more than "
                  "INT32_MAX offsets above the segment's base: %lld bytes moved to %s",
                  s->stem, (long long)pos, (long long)bi.base_offset,
                  (long long)(fsize - pos), path);
        s->split_pos = -1;
        *new_base = bi.base_offset;
    }
    free(buf);
    free(path);
    return rc;
}
