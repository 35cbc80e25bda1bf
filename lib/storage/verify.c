/*
 * verify.c — klog_verify(): an integrity check of an open log's files
 * (see klog.h). Read-only: it pins each segment, walks it with the segment
 * cursor and reads the index, seal and checkpoint files through the I/O
 * seam, never writing.
 *
 * Live logs: `live` is set when a writer runs (this handle is read-write,
 * or klog.lock is held by another process). Then each partition is checked
 * below the high watermark read when its check starts: batches at or
 * above it, index entries past the bytes checked and unsealed segments'
 * index tails are the writer's work in progress and are skipped. The last
 * segment's seal is trusted only if it is still there, unchanged, after
 * the check (a writer's first append after a clean open removes it
 * before changing a byte); otherwise what was found is dropped and the
 * segment checked again as unsealed (vreport.c holds the problems
 * meanwhile). Without a writer the whole active segment is read, and what
 * recovery would cut from its end (above the recovery point) is reported
 * as recoverable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/files.h"
#include "storage/log.h"
#include "storage/partition.h"
#include "storage/segment.h"
#include "storage/vreport.h"

typedef struct bref {
    int64_t pos, base, last;
} bref_t;

typedef struct verifier {
    klog__vreport_t rep; /* where problems go */
    klog_verify_stats_t *st;
    int live;
    char *path;     /* the file being reported on (scratch) */
    bref_t *b;      /* batches of the segment being checked */
    size_t nb, capb;
} verifier_t;

#define report(v, ...) klog__vreport(&(v)->rep, __VA_ARGS__)

/* What the walk of one segment's .log found. */
typedef struct segscan {
    int64_t next;       /* last offset + 1 of its last batch (base when none) */
    int64_t checked;    /* bytes of whole batches walked */
    int64_t max_ts, max_ts_off;
    int tail;           /* the walk stopped early (writer's bytes or torn tail) */
} segscan_t;

/* "<stem><ext>" in v->path (NULL when out of memory). */
static const char *seg_path(verifier_t *v, klog__segment_t *s, const char *ext)
{
    free(v->path);
    v->path = klog__asprintf("%s%s", klog__segment_stem(s), ext);
    return v->path ? v->path : klog__segment_stem(s);
}

static int add_bref(verifier_t *v, int64_t pos, int64_t base, int64_t last)
{
    if (v->nb == v->capb) {
        size_t cap = v->capb ? v->capb * 2 : 1024;
        bref_t *nb = klog__realloc(v->b, cap * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        v->b = nb, v->capb = cap;
    }
    v->b[v->nb++] = (bref_t){pos, base, last};
    return 0;
}

/* Index of the batch starting at pos, or -1. */
static long find_batch(const verifier_t *v, int64_t pos)
{
    size_t lo = 0, hi = v->nb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->b[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->nb && v->b[lo].pos == pos ? (long)lo : -1;
}

/* A batch that cannot be read at pos ends the walk. In the active segment
 * of a log no writer holds, above the recovery point, recovery cuts it and
 * everything after: recoverable. Anywhere else it is damage. */
static void bad_batch(verifier_t *v, klog__segment_t *s, int is_last, int64_t pos, int64_t size,
                      int64_t off, int64_t rp, const char *what)
{
    const char *path = seg_path(v, s, ".log");
    if (is_last && !v->live && off >= rp)
        report(v, KLOG_VERIFY_RECOVERABLE, path, pos, size - pos,
               "%s; the next read-write open truncates %" PRId64 " bytes", what,
               size - pos);
    else
        report(v, KLOG_VERIFY_DAMAGE, path, pos, 0, "%s", what);
}

/* Walk the .log (pinned, size bytes): headers, CRCs, offsets.
 * prev_last: the partition's last offset so far (-1 none). */
static int scan_log(verifier_t *v, klog__segment_t *s, int64_t size, int is_last, int64_t hw,
                    int64_t rp, int64_t *prev_last, segscan_t *r)
{
    int64_t base = klog__segment_base(s);
    klog__cursor_t c = {0};
    int64_t pos = 0;
    int rc = 0;
    char why[160];
    v->nb = 0;
    r->next = base, r->max_ts = r->max_ts_off = -1, r->tail = 0;
    klog__cursor_init(&c, s, 0, size, 1 << 20, 0);
    for (;;) {
        klog_batch_info_t bi;
        const uint8_t *data;
        klog__cursor_seek(&c, pos, -1);
        int k = klog__cursor_peek(&c, &bi);
        int64_t off = *prev_last >= 0 ? *prev_last + 1 : base;
        if (k < 0 && k != KLOG_ECORRUPT) {
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), pos, 0, "read error: %s",
                   klog_strerror(k));
            break;
        }
        if (v->live && k > 0 && bi.base_offset >= hw) {
            r->tail = 1; /* the writer's, above the watermark */
            break;
        }
        if (k == KLOG__CUR_END) {
            if (pos < size && !(v->live && is_last)) {
                r->tail = 1;
                bad_batch(v, s, is_last, pos, size, off, rp, "torn batch header at the end");
            }
            break;
        }
        if (k == KLOG_ECORRUPT || k == KLOG__CUR_PARTIAL) {
            r->tail = 1;
            if (k == KLOG__CUR_PARTIAL && v->live && is_last)
                break;
            if (k == KLOG_ECORRUPT)
                snprintf(why, sizeof why, "invalid batch length or magic");
            else
                snprintf(why, sizeof why, "batch of %zu bytes runs past the end (%" PRId64
                         " bytes)", bi.size, size - pos);
            bad_batch(v, s, is_last, pos, size, off, rp, why);
            break;
        }
        rc = klog__cursor_batch(&c, bi.size, &data);
        if (rc <= 0) {
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), pos, 0, "read error: %s",
                   rc ? klog_strerror(rc) : "file shorter than its size");
            rc = 0;
            break;
        }
        v->st->batches++;
        int vr = klog_batch_validate(data, bi.size, KLOG_VALIDATE_HEADER, &bi);
        if (vr == KLOG_ECRC) {
            snprintf(why, sizeof why, "batch CRC mismatch (stored %08" PRIx32 ", computed %08"
                     PRIx32 ")", bi.crc, klog_crc32c(0, data + 21, bi.size - 21));
            if (is_last && !v->live && off >= rp) {
                r->tail = 1;
                bad_batch(v, s, is_last, pos, size, off, rp, why);
                break;
            }
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), pos, 0, "%s", why);
        } else if (vr < 0) {
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), pos, 0, "invalid batch: %s",
                   klog_strerror(vr));
        }
        const char *path = seg_path(v, s, ".log");
        int64_t last = bi.base_offset + bi.last_offset_delta;
        if (bi.last_offset_delta < 0) {
            report(v, KLOG_VERIFY_DAMAGE, path, pos, 0, "negative lastOffsetDelta %" PRId32,
                   bi.last_offset_delta);
            last = bi.base_offset;
        }
        if (bi.base_offset < base)
            report(v, KLOG_VERIFY_DAMAGE, path, pos, 0,
                   "batch base offset %" PRId64 " is below the segment's %" PRId64,
                   bi.base_offset, base);
        else if (last - base > INT32_MAX)
            report(v, KLOG_VERIFY_DAMAGE, path, pos, 0,
                   "last offset %" PRId64 " is too far above the segment base", last);
        if (*prev_last >= 0 && bi.base_offset <= *prev_last)
            report(v, KLOG_VERIFY_DAMAGE, path, pos, 0,
                   "offsets go backwards: batch starts at %" PRId64 " but offsets up to %" PRId64
                   " came before", bi.base_offset, *prev_last);
        else if (*prev_last >= 0 && bi.base_offset > *prev_last + 1)
            report(v, KLOG_VERIFY_WARNING, path, pos, 0,
                   "offset gap: %" PRId64 "..%" PRId64 " missing", *prev_last + 1,
                   bi.base_offset - 1);
        if (last > *prev_last)
            *prev_last = last;
        if (last + 1 > r->next)
            r->next = last + 1;
        if (vr == 0 && bi.max_timestamp > r->max_ts)
            r->max_ts = bi.max_timestamp, r->max_ts_off = last;
        if ((rc = add_bref(v, pos, bi.base_offset, last)) < 0)
            break;
        pos += (int64_t)bi.size;
    }
    r->checked = pos;
    v->st->bytes += pos;
    klog__cursor_free(&c);
    return rc;
}

/* Read a whole index file of the segment: *n whole entries (*buf NULL
 * and *n 0 when absent or deleted meanwhile); a trailing partial entry of
 * a sealed one is damage. */
static int read_index(verifier_t *v, klog__segment_t *s, const char *ext, size_t esize,
                      int sealed, uint8_t **buf, size_t *n)
{
    *buf = NULL, *n = 0;
    int fd = klog__segment_open_ro(s, ext);
    if (fd == -ENOENT)
        return 0;
    int64_t len = fd < 0 ? fd : klog__fsize(fd);
    ssize_t got = (ssize_t)len;
    if (len > 0)
        got = (*buf = klog__malloc((size_t)len)) ? klog__pread_full(fd, *buf, (size_t)len, 0)
                                                 : -ENOMEM;
    if (fd >= 0)
        klog__close(fd);
    if (got == -ENOMEM)
        return -ENOMEM;
    if (got < 0) {
        report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ext), 0, 0, "cannot read: %s",
               klog_strerror((int)got));
        return 0;
    }
    *n = (size_t)got / esize;
    if ((size_t)got % esize && sealed)
        report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ext), (int64_t)(*n * esize), 0,
               "%zu trailing bytes (entries are %zu bytes)", (size_t)got % esize, esize);
    return 0;
}

static int check_offidx(verifier_t *v, klog__segment_t *s, const segscan_t *r, int sealed,
                        int is_last)
{
    uint8_t *buf;
    size_t n;
    int rc = read_index(v, s, ".index", 8, sealed, &buf, &n);
    int64_t base = klog__segment_base(s);
    int tail_ok = r->tail || (is_last && v->live);
    int strict = sealed || (!is_last && !v->live);
    int64_t prev_rel = -1, prev_pos = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t at = (int64_t)i * 8;
        int64_t rel = (int32_t)klog__load32(buf + at), pos = klog__load32(buf + at + 4);
        int64_t off = base + rel;
        const char *path = seg_path(v, s, ".index");
        /* Position 0 is never indexed (a segment's first append never
         * is, in Kafka and here): a zero entry is the unused, preallocated
         * tail, also as the first entry of a crashed active segment. */
        if (rel == 0 && pos == 0) {
            if (sealed)
                report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                       "%zu zeroed entries at the end of a sealed index", n - i);
            break; /* the unused, preallocated tail */
        }
        if (rel < 0 || rel <= prev_rel || pos <= prev_pos) {
            if (strict)
                report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                       "entry (%" PRId64 ", %" PRId64 ") not above the previous (%" PRId64
                       ", %" PRId64 ")", rel, pos, prev_rel, prev_pos);
            if (!sealed)
                break; /* end of the valid prefix the loader uses */
            continue;
        }
        prev_rel = rel, prev_pos = pos;
        if (pos >= r->checked) {
            if (!tail_ok)
                report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                       "position %" PRId64 " is past the last whole batch (%" PRId64 " bytes)",
                       pos, r->checked);
            continue;
        }
        long k = find_batch(v, pos);
        if (k < 0)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "position %" PRId64 " is not the start of a batch", pos);
        else if (off < v->b[k].base)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "offset %" PRId64 " is below the batch at position %" PRId64 " (offsets %"
                   PRId64 "..%" PRId64 ")", off, pos, v->b[k].base, v->b[k].last);
        else if (k > 0 && v->b[k - 1].last >= off)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "offset %" PRId64 " is already in the batch before position %" PRId64
                   " (offsets up to %" PRId64 ")", off, pos, v->b[k - 1].last);
        else if (off > v->b[k].last)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "offset %" PRId64 " is past the batch at position %" PRId64
                   " (offsets up to %" PRId64 ")", off, pos, v->b[k].last);
    }
    free(buf);
    return rc;
}

static int check_timeidx(verifier_t *v, klog__segment_t *s, const segscan_t *r, int sealed,
                         int is_last)
{
    uint8_t *buf;
    size_t n;
    int rc = read_index(v, s, ".timeindex", 12, sealed, &buf, &n);
    int64_t base = klog__segment_base(s);
    int tail_ok = r->tail || (is_last && v->live);
    int strict = sealed || (!is_last && !v->live);
    int64_t prev_ts = INT64_MIN, prev_rel = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t at = (int64_t)i * 12;
        int64_t ts = (int64_t)klog__load64(buf + at), rel = (int32_t)klog__load32(buf + at + 8);
        int64_t off = base + rel;
        const char *path = seg_path(v, s, ".timeindex");
        /* (0, base) is a real first entry only when the segment holds a
         * batch at its base (timestamps may be 0). */
        if (ts == 0 && rel == 0 && (i > 0 || r->next == base)) {
            if (sealed)
                report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                       "%zu zeroed entries at the end of a sealed time index", n - i);
            break;
        }
        int wrong = i > 0 && (ts <= prev_ts || rel < prev_rel);
        if (wrong && !sealed) {
            if (strict)
                report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                       "entry (%" PRId64 ", %" PRId64 ") not above the previous (%" PRId64
                       ", %" PRId64 ")", ts, off, prev_ts, base + prev_rel);
            break;
        }
        if (tail_ok && off >= r->next)
            break; /* for batches past the bytes checked */
        if (ts < 0)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0, "negative timestamp %" PRId64, ts);
        else if (i > 0 && ts <= prev_ts)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "timestamp %" PRId64 " not above the previous entry's %" PRId64, ts, prev_ts);
        if (i > 0 && rel < prev_rel)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "offset %" PRId64 " below the previous entry's %" PRId64, off,
                   base + prev_rel);
        if (rel < 0 || off >= r->next)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "offset %" PRId64 " is outside the segment (%" PRId64 "..%" PRId64 ")", off,
                   base, r->next - 1);
        else if (ts > r->max_ts)
            report(v, KLOG_VERIFY_DAMAGE, path, at, 0,
                   "timestamp %" PRId64 " is above every batch's max timestamp (%" PRId64 ")",
                   ts, r->max_ts);
        prev_ts = ts, prev_rel = rel;
    }
    free(buf);
    return rc;
}

static void check_seal(verifier_t *v, klog__segment_t *s, const klog__seal_t *seal,
                       const segscan_t *r, int64_t fsize)
{
    const char *path = seg_path(v, s, ".seal");
    int64_t base = klog__segment_base(s);
    if (seal->base_offset != base)
        report(v, KLOG_VERIFY_DAMAGE, path, 16, 0,
               "base offset %" PRId64 " differs from the file name's %" PRId64, seal->base_offset,
               base);
    if (seal->next_offset != r->next)
        report(v, KLOG_VERIFY_DAMAGE, path, 24, 0,
               "next offset %" PRId64 " but the .log's batches end at %" PRId64,
               seal->next_offset, r->next);
    if (seal->max_timestamp != r->max_ts || seal->max_ts_offset != r->max_ts_off)
        report(v, KLOG_VERIFY_DAMAGE, path, 32, 0,
               "max timestamp %" PRId64 " at offset %" PRId64 " but the .log has %" PRId64
               " at %" PRId64, seal->max_timestamp, seal->max_ts_offset, r->max_ts,
               r->max_ts_off);
    if (seal->log_size != fsize)
        report(v, KLOG_VERIFY_DAMAGE, path, 48, 0,
               "log size %" PRId64 " but the .log has %" PRId64 " bytes", seal->log_size, fsize);
    if (seal->log_size <= fsize) {
        uint64_t d;
        int rc = klog__file_digest(klog__segment_fd(s), seal->log_size, &d);
        path = seg_path(v, s, ".seal");
        if (rc < 0)
            report(v, KLOG_VERIFY_DAMAGE, path, 56, 0, "cannot digest the .log: %s",
                   klog_strerror(rc));
        else if (d != seal->log_digest)
            report(v, KLOG_VERIFY_DAMAGE, path, 56, 0,
                   "XXH3-64 digest of the .log is %016" PRIx64 ", sealed as %016" PRIx64, d,
                   seal->log_digest);
    }
}

/* Entry counts of the seal against the index files (read after it). */
static void check_seal_counts(verifier_t *v, klog__segment_t *s, const klog__seal_t *seal)
{
    static const char *const ext[2] = {".index", ".timeindex"};
    for (int k = 0; k < 2; k++) {
        int fd = klog__segment_open_ro(s, ext[k]);
        if (fd < 0)
            continue;
        int64_t n = klog__fsize(fd);
        klog__close(fd);
        uint64_t want = k ? (uint64_t)seal->timeindex_entries * 12
                          : (uint64_t)seal->index_entries * 8;
        if (n >= 0 && (uint64_t)n != want)
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".seal"), k ? 68 : 64, 0,
                   "%" PRIu64 " %s entries but the %s has %" PRId64 " bytes",
                   want / (k ? 12 : 8), k ? "time index" : "index", ext[k], n);
    }
}

/* The segment's seal file: its bytes (at most KLOG__SEAL_SIZE + 1) in b,
 * -ENOENT when it cannot be opened (then the segment is checked as
 * unsealed), or the read's -errno. */
static ssize_t read_seal(klog__segment_t *s, uint8_t *b)
{
    int fd = klog__segment_open_ro(s, ".seal");
    if (fd < 0)
        return -ENOENT;
    ssize_t n = klog__pread_full(fd, b, KLOG__SEAL_SIZE + 1, 0);
    klog__close(fd);
    return n;
}

/* The check of one segment, as sealed by *seal or (NULL) unsealed. */
static int check_segment_as(verifier_t *v, klog__segment_t *s, int is_last, int64_t hw,
                            int64_t rp, int64_t *prev_last, const klog__seal_t *seal)
{
    int sealed = seal != NULL;
    int rc = klog__segment_pin(s, 0);
    if (rc < 0) {
        /* Deleted meanwhile (by retention here, or by a writer elsewhere). */
        if (!klog__segment_is_deleted(s) && !(v->live && rc == -ENOENT))
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), 0, 0, "cannot open: %s",
                   klog_strerror(rc));
        return rc == -ENOMEM ? rc : 0;
    }
    int64_t size = sealed || !v->live ? klog__fsize(klog__segment_fd(s))
                                      : klog__segment_readable(s);
    segscan_t r;
    if (size < 0) {
        report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), 0, 0, "cannot stat: %s",
               klog_strerror((int)size));
        size = 0;
    }
    /* A sealed segment is final: walk it whole, even above a watermark read
     * before its roll. */
    rc = scan_log(v, s, size, is_last && !sealed, sealed ? INT64_MAX : hw, rp, prev_last, &r);
    if (!rc)
        rc = check_offidx(v, s, &r, sealed, is_last && !sealed);
    if (!rc)
        rc = check_timeidx(v, s, &r, sealed, is_last && !sealed);
    if (!rc && sealed) {
        check_seal(v, s, seal, &r, size);
        check_seal_counts(v, s, seal);
    } else if (!rc && !is_last && !v->live) {
        report(v, KLOG_VERIFY_WARNING, seg_path(v, s, ".log"), 0, 0,
               "inactive segment has no .seal");
    }
    klog__segment_unpin(s);
    v->st->segments++;
    return rc;
}

static int check_segment(verifier_t *v, klog__segment_t *s, int is_last, int64_t hw, int64_t rp,
                         int64_t *prev_last)
{
    /* The seal first: once it exists the segment and its trimmed indexes
     * are final, so what follows is read against it. */
    klog__seal_t seal;
    uint8_t b[KLOG__SEAL_SIZE + 1], again[KLOG__SEAL_SIZE + 1];
    ssize_t n = read_seal(s, b);
    if (n == -ENOENT)
        return check_segment_as(v, s, is_last, hw, rp, prev_last, NULL);
    int rc = n < 0 ? (int)n : klog__seal_decode(b, (size_t)n, &seal);
    if (rc < 0) {
        report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".seal"), 0, 0, "unreadable seal: %s",
               klog_strerror(rc));
        return check_segment_as(v, s, is_last, hw, rp, prev_last, NULL);
    }
    if (!(v->live && is_last))
        return check_segment_as(v, s, is_last, hw, rp, prev_last, &seal);
    /* Except the active segment's, which a writer keeps from a clean open
     * until its first write removes it (klog__segment_begin_write), before
     * any byte changes: the check stands only if the same seal is still
     * there after it. Otherwise the files changed under it, and the
     * segment is checked again as the writer's unsealed one. */
    int64_t last = *prev_last;
    klog__vreport_hold(&v->rep);
    rc = check_segment_as(v, s, is_last, hw, rp, prev_last, &seal);
    int same = read_seal(s, again) == n && memcmp(again, b, (size_t)n) == 0;
    klog__vreport_settle(&v->rep, same || rc);
    if (same || rc)
        return rc;
    *prev_last = last;
    return check_segment_as(v, s, is_last, hw, rp, prev_last, NULL);
}

static int check_partition(verifier_t *v, klog__partition_t *p)
{
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    int64_t hw = klog__partition_hw(p);
    int64_t rp = klog__partition_recovery_point(p);
    klog__seglist_t *l = klog__partition_segments(p);
    int64_t prev_last = -1;
    v->st->partitions++;
    for (size_t i = 0; i < l->n && !rc; i++) {
        klog__segment_t *s = l->seg[i];
        int64_t base = klog__segment_base(s);
        if (v->live && base >= hw && i > 0)
            break; /* rolled after the watermark was read */
        if (i > 0 && base <= prev_last)
            report(v, KLOG_VERIFY_DAMAGE, seg_path(v, s, ".log"), 0, 0,
                   "segment base offset %" PRId64 " overlaps the previous segment (up to %"
                   PRId64 ")", base, prev_last);
        rc = check_segment(v, s, i + 1 == l->n, hw, rp, &prev_last);
    }
    klog__seglist_unref(l);
    return rc;
}

/* recovery-point-offset-checkpoint and log-start-offset-checkpoint. */
static int check_checkpoint(verifier_t *v, klog_t *log, const char *name)
{
    char *path = klog__asprintf("%s/%s", klog__log_dir(log), name);
    uint8_t *buf = NULL;
    size_t len = 0;
    klog__ckpt_t c = {0};
    if (!path)
        return -ENOMEM;
    int rc = klog__read_file(path, 64 << 20, &buf, &len);
    if (rc == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc == 0)
        rc = klog__ckpt_parse(buf, len, &c);
    if (rc == -ENOMEM)
        goto out;
    if (rc < 0) {
        report(v, KLOG_VERIFY_DAMAGE, path, 0, 0, "unreadable checkpoint: %s",
               klog_strerror(rc));
        rc = 0;
        goto out;
    }
    size_t at = 0, line = 0;
    for (size_t i = 0; i < c.count; i++) {
        const klog__ckpt_entry_t *e = &c.entries[i];
        while (line < i + 2 && at < len) /* entries start on line 3 */
            if (buf[at++] == '\n')
                line++;
        klog_partition_t *p;
        if (klog_partition(log, e->topic, e->partition, &p) < 0) {
            report(v, KLOG_VERIFY_WARNING, path, (int64_t)at, 0,
                   "entry for %s-%" PRId32 ", which is not a partition of the log", e->topic,
                   e->partition);
            continue;
        }
        int64_t end = klog__partition_log_end(p); /* read after the file */
        if (e->offset > end)
            report(v, KLOG_VERIFY_DAMAGE, path, (int64_t)at, 0,
                   "%s %" PRId64 " of %s-%" PRId32 " is above its log end %" PRId64,
                   name[0] == 'r' ? "recovery point" : "log start", e->offset, e->topic,
                   e->partition, end);
    }
out:
    klog__ckpt_free(&c);
    free(buf);
    free(path);
    return rc;
}

static int check_topic(verifier_t *v, klog_topic_t *t, int32_t partition)
{
    int32_t n = klog_topic_partition_count(t);
    int rc = 0;
    klog__vreport_where(&v->rep, klog_topic_name(t), -1);
    for (int32_t i = partition < 0 ? 0 : partition; i < n && !rc; i++) {
        klog_partition_t *p;
        if ((rc = klog_partition_get(t, i, &p)) < 0)
            break;
        klog__vreport_where(&v->rep, klog_topic_name(t), i);
        rc = check_partition(v, p);
        if (partition >= 0)
            break;
    }
    klog__vreport_where(&v->rep, NULL, -1);
    return rc;
}

int klog_verify(klog_t *log, const char *topic, int32_t partition, klog_verify_fn cb, void *ctx,
                klog_verify_stats_t *stats)
{
    klog_verify_stats_t dummy;
    klog_topic_t *t;
    int rc;
    if (!log || partition < -1 || (partition >= 0 && !topic))
        return -EINVAL;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    verifier_t v = {.st = stats, .live = 1};
    klog__vreport_init(&v.rep, cb, ctx, stats);
    if (klog__is_rdonly(log)) {
        char *lock = klog__asprintf("%s/klog.lock", klog__log_dir(log));
        if (!lock)
            return -ENOMEM;
        v.live = klog__lock_held(lock) != 0; /* unknown counts as live: no false damage */
        free(lock);
    }
    if (topic) {
        if ((rc = klog_topic_get(log, topic, &t)) < 0)
            return rc;
        if (partition >= klog_topic_partition_count(t))
            return KLOG_ENOPARTITION;
        rc = check_topic(&v, t, partition);
    } else {
        char **names;
        int n = klog_topic_list(log, &names);
        if (n < 0)
            return n;
        rc = 0;
        for (int i = 0; i < n && !rc; i++)
            if (klog_topic_get(log, names[i], &t) == 0)
                rc = check_topic(&v, t, -1);
        free(names);
        if (!rc)
            rc = check_checkpoint(&v, log, "recovery-point-offset-checkpoint");
        if (!rc)
            rc = check_checkpoint(&v, log, "log-start-offset-checkpoint");
    }
    free(v.path);
    free(v.b);
    klog__vreport_free(&v.rep);
    return rc;
}
