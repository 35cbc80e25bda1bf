/*
 * verify.c — `klogcat verify DIR [-t TOPIC]`: check a log directory from
 * its files alone (no open, so it also runs beside a writer or on a copy).
 *
 * For every partition directory <topic>-<p> and every segment, oldest
 * first: the CRC and header of every batch (klog_batch_validate with
 * KLOG_VALIDATE_HEADER); batch offsets increasing across batches and
 * segments (a gap is a warning, since follower appends may leave one; a
 * decrease or overlap is a problem); the .index (relative offsets and
 * positions strictly increasing, each position the start of a batch, the
 * entry's offset at or after that batch's base and above every earlier
 * batch); the .timeindex (timestamps strictly increasing, offsets
 * non-decreasing and inside the segment); the .seal (log size, XXH3-64
 * digest, next offset, max timestamp, index entry counts); klog.topics
 * against the partition directories; and the recovery-point and log-start
 * checkpoints against what the segments hold.
 * Each problem is printed as FILE:POSITION: problem; then a summary.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "klogcat.h"
#include "kcfiles.h"

typedef struct seg {
    int64_t base;
    int64_t log_bytes;
} seg_t;

typedef struct part {
    char *topic;
    int32_t id;
    char *dir;        /* DIR/<topic>-<id> */
    seg_t *segs;      /* sorted by base */
    size_t nsegs;
    int64_t first;    /* first batch offset found, -1 none */
    int64_t next;     /* next offset after the last batch, -1 none */
} part_t;

typedef struct bref {
    int64_t pos, base, last;
} bref_t;

typedef struct verifier {
    const kc_opts_t *o;
    long problems, warnings;
    long segs_done, segs_total;
    int64_t bytes_done, bytes_total, batches;
    int tty;
    int progress_shown;
    int64_t last_progress_ns;
    bref_t *b; /* batches of the segment being checked */
    size_t nb, capb;
} verifier_t;

/* ------------------------------------------------------------ reporting */

static void clear_progress(verifier_t *v)
{
    if (v->progress_shown) {
        fputs("\r\033[K", stderr);
        v->progress_shown = 0;
    }
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Progress on a terminal, at most every 200 ms, so runs shorter than that
 * never show one. */
static void progress(verifier_t *v)
{
    if (!v->tty)
        return;
    int64_t now = mono_ns();
    if (now - v->last_progress_ns < 200000000)
        return;
    v->last_progress_ns = now;
    fprintf(stderr, "\rverify: segment %ld/%ld, %.1f/%.1f MiB", v->segs_done, v->segs_total,
            (double)v->bytes_done / 1048576.0, (double)v->bytes_total / 1048576.0);
    v->progress_shown = 1;
}

static void report(verifier_t *v, int warning, const char *file, int64_t pos, const char *fmt,
                   va_list ap)
{
    clear_progress(v);
    printf("%s:%" PRId64 ": %s", file, pos, warning ? "warning: " : "");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    if (warning)
        v->warnings++;
    else
        v->problems++;
}

static void problem(verifier_t *v, const char *file, int64_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warning(verifier_t *v, const char *file, int64_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(verifier_t *v, const char *file, int64_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(v, 0, file, pos, fmt, ap);
    va_end(ap);
}

static void warning(verifier_t *v, const char *file, int64_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(v, 1, file, pos, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ discovery */

static char *path_join(const char *a, const char *b, const char *suffix)
{
    size_t n = strlen(a) + strlen(b) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", a, b, suffix);
    return p;
}

static char *seg_path(const part_t *p, int64_t base, const char *suffix)
{
    char name[32];
    snprintf(name, sizeof name, "%020" PRId64, base);
    return path_join(p->dir, name, suffix);
}

static int file_exists(const char *path, int64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (size)
        *size = st.st_size;
    return 1;
}

static int cmp_seg(const void *a, const void *b)
{
    int64_t x = ((const seg_t *)a)->base, y = ((const seg_t *)b)->base;
    return x < y ? -1 : x > y;
}

static int cmp_part(const void *a, const void *b)
{
    const part_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Split "<topic>-<p>" into topic and partition; 1 when it is one. */
static int part_dir_name(const char *name, char *topic, size_t cap, int32_t *id)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || (size_t)(dash - name) >= cap)
        return 0;
    int64_t v;
    if (dash[1] == '+' || dash[1] == '-' || kc_parse_i64(dash + 1, &v) < 0 || v < 0 ||
        v > INT32_MAX || (dash[1] == '0' && dash[2]))
        return 0;
    memcpy(topic, name, (size_t)(dash - name));
    topic[dash - name] = 0;
    if (!klog_topic_name_valid(topic))
        return 0;
    *id = (int32_t)v;
    return 1;
}

/* List the segments of p; orphan index/seal files are warnings. */
static int list_segments(verifier_t *v, part_t *p)
{
    DIR *d = opendir(p->dir);
    struct dirent *e;
    size_t cap = 0;
    if (!d) {
        problem(v, p->dir, 0, "cannot read directory: %s", strerror(errno));
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        int64_t base;
        if (!kc_segment_name(e->d_name, ".log", &base))
            continue;
        if (p->nsegs == cap) {
            cap = cap ? cap * 2 : 8;
            seg_t *ns = realloc(p->segs, cap * sizeof *ns);
            if (!ns) {
                closedir(d);
                return -ENOMEM;
            }
            p->segs = ns;
        }
        p->segs[p->nsegs].base = base;
        p->segs[p->nsegs].log_bytes = 0;
        char *lp = seg_path(p, base, ".log");
        if (!lp) {
            closedir(d);
            return -ENOMEM;
        }
        file_exists(lp, &p->segs[p->nsegs].log_bytes);
        free(lp);
        p->nsegs++;
    }
    rewinddir(d);
    qsort(p->segs, p->nsegs, sizeof *p->segs, cmp_seg);
    while ((e = readdir(d)) != NULL) {
        static const char *const sfx[] = {".index", ".timeindex", ".seal"};
        for (size_t k = 0; k < 3; k++) {
            int64_t base;
            if (!kc_segment_name(e->d_name, sfx[k], &base))
                continue;
            seg_t key = {.base = base};
            if (!bsearch(&key, p->segs, p->nsegs, sizeof key, cmp_seg)) {
                char *fp = path_join(p->dir, e->d_name, "");
                warning(v, fp ? fp : e->d_name, 0, "no matching .log (orphan file)");
                free(fp);
            }
        }
    }
    closedir(d);
    return 0;
}

static int find_partitions(verifier_t *v, part_t **out, size_t *n)
{
    const char *dir = v->o->dir;
    DIR *d = opendir(dir);
    struct dirent *e;
    part_t *parts = NULL;
    size_t np = 0, cap = 0;
    if (!d) {
        kc_err("%s: %s", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char topic[256];
        int32_t id;
        if (!part_dir_name(e->d_name, topic, sizeof topic, &id))
            continue;
        if (v->o->topic && strcmp(topic, v->o->topic) != 0)
            continue;
        char *pd = path_join(dir, e->d_name, "");
        struct stat st;
        if (!pd || stat(pd, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(pd);
            continue;
        }
        if (np == cap) {
            cap = cap ? cap * 2 : 16;
            part_t *nparts = realloc(parts, cap * sizeof *nparts);
            if (!nparts) {
                free(pd);
                break;
            }
            parts = nparts;
        }
        memset(&parts[np], 0, sizeof parts[np]);
        parts[np].topic = strdup(topic);
        parts[np].id = id;
        parts[np].dir = pd;
        parts[np].first = parts[np].next = -1;
        np++;
    }
    closedir(d);
    qsort(parts, np, sizeof *parts, cmp_part);
    *out = parts;
    *n = np;
    return 0;
}

/* ------------------------------------------------------------ segments */

static int add_bref(verifier_t *v, int64_t pos, int64_t base, int64_t last)
{
    if (v->nb == v->capb) {
        size_t cap = v->capb ? v->capb * 2 : 1024;
        bref_t *nb = realloc(v->b, cap * sizeof *nb);
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

typedef struct segstate {
    int64_t next;         /* next offset after the last batch (base if none) */
    int64_t scanned;      /* bytes of whole batches */
    int64_t max_ts, max_ts_off;
} segstate_t;

/* Scan the .log: batches, CRCs, offsets. prev_last: last offset of the
 * partition's previous batch, or -1. */
static void check_log(verifier_t *v, part_t *p, const seg_t *s, int64_t *prev_last,
                      segstate_t *st)
{
    char *path = seg_path(p, s->base, ".log");
    kc_logscan_t ls;
    kc_batch_t b;
    int rc = 0;

    st->next = s->base;
    st->scanned = 0;
    st->max_ts = st->max_ts_off = -1;
    v->nb = 0;
    if (!path || (rc = kc_logscan_open(&ls, path)) < 0) {
        problem(v, path ? path : p->dir, 0, "cannot open: %s", path ? strerror(-rc) : "no memory");
        free(path);
        return;
    }
    while ((rc = kc_logscan_next(&ls, &b)) == KC_SCAN_BATCH) {
        const klog_batch_info_t *bi = &b.info;
        v->batches++;
        v->bytes_done += (int64_t)b.size;
        if (b.rc == KLOG_ECRC) {
            problem(v, path, b.pos, "batch CRC mismatch (stored %08" PRIx32 ", computed %08" PRIx32
                    ")", bi->crc, b.crc_computed);
        } else if (b.rc < 0) {
            problem(v, path, b.pos, "invalid batch: %s", klog_strerror(b.rc));
            if (b.data[16] != 2)
                continue; /* the offset fields mean nothing */
        }
        int64_t last = bi->base_offset + bi->last_offset_delta;
        if (bi->last_offset_delta < 0) {
            problem(v, path, b.pos, "negative lastOffsetDelta %" PRId32, bi->last_offset_delta);
            last = bi->base_offset;
        }
        if (bi->base_offset < s->base)
            problem(v, path, b.pos, "batch base offset %" PRId64 " is below the segment's %" PRId64,
                    bi->base_offset, s->base);
        else if (last - s->base > INT32_MAX)
            problem(v, path, b.pos, "last offset %" PRId64 " is too far above the segment base",
                    last);
        if (*prev_last >= 0 && bi->base_offset <= *prev_last)
            problem(v, path, b.pos,
                    "offsets go backwards: batch starts at %" PRId64 " but offsets up to %" PRId64
                    " came before",
                    bi->base_offset, *prev_last);
        else if (*prev_last >= 0 && bi->base_offset > *prev_last + 1)
            warning(v, path, b.pos, "offset gap: %" PRId64 "..%" PRId64 " missing",
                    *prev_last + 1, bi->base_offset - 1);
        if (p->first < 0)
            p->first = bi->base_offset;
        if (last > *prev_last)
            *prev_last = last;
        if (last + 1 > st->next)
            st->next = last + 1;
        if (b.rc == 0 && bi->max_timestamp > st->max_ts) {
            st->max_ts = bi->max_timestamp;
            st->max_ts_off = last;
        }
        if (add_bref(v, b.pos, bi->base_offset, last) < 0) {
            problem(v, path, b.pos, "out of memory");
            break;
        }
        if ((v->batches & 1023) == 0)
            progress(v);
    }
    if (rc == KC_SCAN_TORN || rc == KC_SCAN_BADLEN)
        problem(v, path, ls.pos, "%s", ls.why);
    else if (rc == KC_SCAN_IOERR)
        problem(v, path, ls.pos, "read error: %s", strerror(-ls.err));
    st->scanned = ls.pos;
    v->bytes_done += s->log_bytes - ls.pos;
    kc_logscan_close(&ls);
    free(path);
}

/* Read an index file of `esize`-byte entries beside segment s: reports a
 * read failure, a trailing partial entry and unused zero slots of an
 * inactive segment. Returns the entries in use (0 when absent or
 * unreadable); *path_out and *buf_out are the caller's to free. */
static size_t load_index(verifier_t *v, part_t *p, const seg_t *s, const char *ext, size_t esize,
                         const char *what, int is_last, int sealed, char **path_out,
                         uint8_t **buf_out)
{
    char *path = seg_path(p, s->base, ext);
    uint8_t *buf = NULL;
    size_t len;
    *path_out = path;
    *buf_out = NULL;
    if (!path || !file_exists(path, NULL))
        return 0;
    int rc = kc_read_whole(path, &buf, &len);
    if (rc < 0) {
        problem(v, path, 0, "cannot read: %s", strerror(-rc));
        return 0;
    }
    *buf_out = buf;
    if (len % esize)
        problem(v, path, (int64_t)(len - len % esize), "%zu trailing bytes (entries are %zu bytes)",
                len % esize, esize);
    size_t used = kc_index_used(buf, len, esize);
    if (used < len / esize && !is_last && !sealed)
        warning(v, path, (int64_t)(used * esize), "%zu unused zero slots in an inactive segment's %s",
                len / esize - used, what);
    return used;
}

/* .index entries against the batches check_log found (v->b). */
static void check_index(verifier_t *v, part_t *p, const seg_t *s, const segstate_t *st,
                        int is_last, int sealed)
{
    char *path;
    uint8_t *buf;
    size_t used = load_index(v, p, s, ".index", 8, "index", is_last, sealed, &path, &buf);
    int64_t prev_rel = -1, prev_pos = -1;
    for (size_t i = 0; i < used; i++) {
        int64_t at = (int64_t)i * 8;
        int64_t rel = (int32_t)kc_be32(buf + at);
        int64_t pos = kc_be32(buf + at + 4);
        int64_t off = s->base + rel;
        if (rel < 0 || rel <= prev_rel) {
            problem(v, path, at, "relative offset %" PRId64 " not above the previous entry's %" PRId64,
                    rel, prev_rel);
            continue;
        }
        if (pos <= prev_pos) {
            problem(v, path, at, "position %" PRId64 " not above the previous entry's %" PRId64, pos,
                    prev_pos);
            continue;
        }
        prev_rel = rel, prev_pos = pos;
        if (pos >= st->scanned) {
            problem(v, path, at, "position %" PRId64 " is past the last whole batch (%" PRId64
                    " bytes)", pos, st->scanned);
            continue;
        }
        long k = find_batch(v, pos);
        if (k < 0) {
            problem(v, path, at, "position %" PRId64 " is not the start of a batch", pos);
            continue;
        }
        if (off < v->b[k].base)
            problem(v, path, at, "offset %" PRId64 " is below the batch at position %" PRId64
                    " (offsets %" PRId64 "..%" PRId64 ")", off, pos, v->b[k].base, v->b[k].last);
        else if (k > 0 && v->b[k - 1].last >= off)
            problem(v, path, at, "offset %" PRId64 " is already in the batch before position %" PRId64
                    " (offsets up to %" PRId64 ")", off, pos, v->b[k - 1].last);
        else if (off >= st->next)
            problem(v, path, at, "offset %" PRId64 " is past the segment's last offset %" PRId64,
                    off, st->next - 1);
    }
    free(buf);
    free(path);
}

static void check_timeindex(verifier_t *v, part_t *p, const seg_t *s, const segstate_t *st,
                            int is_last, int sealed)
{
    char *path;
    uint8_t *buf;
    size_t used =
        load_index(v, p, s, ".timeindex", 12, "time index", is_last, sealed, &path, &buf);
    int64_t prev_ts = INT64_MIN, prev_rel = -1;
    for (size_t i = 0; i < used; i++) {
        int64_t at = (int64_t)i * 12;
        int64_t ts = (int64_t)kc_be64(buf + at);
        int64_t rel = (int32_t)kc_be32(buf + at + 8);
        int64_t off = s->base + rel;
        if (i > 0 && ts <= prev_ts)
            problem(v, path, at, "timestamp %" PRId64 " not above the previous entry's %" PRId64, ts,
                    prev_ts);
        if (rel < prev_rel)
            problem(v, path, at, "offset %" PRId64 " below the previous entry's %" PRId64, off,
                    s->base + prev_rel);
        if (rel < 0 || off >= st->next)
            problem(v, path, at, "offset %" PRId64 " is outside the segment (%" PRId64 "..%" PRId64
                    ")", off, s->base, st->next - 1);
        if (ts > st->max_ts)
            problem(v, path, at, "timestamp %" PRId64 " is above every batch's max timestamp (%" PRId64
                    ")", ts, st->max_ts);
        prev_ts = ts, prev_rel = rel;
    }
    free(buf);
    free(path);
}

/* Returns 1 when the segment has a seal (valid or not). */
static int seal_exists(const part_t *p, const seg_t *s)
{
    char *path = seg_path(p, s->base, ".seal");
    int e = path && file_exists(path, NULL);
    free(path);
    return e;
}

static void check_seal(verifier_t *v, part_t *p, const seg_t *s, const segstate_t *st)
{
    char *path = seg_path(p, s->base, ".seal");
    char *lpath = seg_path(p, s->base, ".log");
    char *ipath = seg_path(p, s->base, ".index");
    char *tpath = seg_path(p, s->base, ".timeindex");
    kc_seal_t seal;
    int64_t isize = 0, tsize = 0;
    if (!path || !lpath || !ipath || !tpath)
        goto out;
    int rc = kc_seal_read(path, &seal);
    if (rc < 0) {
        problem(v, path, 0, "unreadable seal: %s", klog_strerror(rc));
        goto out;
    }
    if (seal.base_offset != s->base)
        problem(v, path, 16, "base offset %" PRId64 " differs from the file name's %" PRId64,
                seal.base_offset, s->base);
    if (seal.next_offset != st->next)
        problem(v, path, 24, "next offset %" PRId64 " but the .log's batches end at %" PRId64,
                seal.next_offset, st->next);
    if (seal.max_timestamp != st->max_ts || seal.max_ts_offset != st->max_ts_off)
        problem(v, path, 32, "max timestamp %" PRId64 " at offset %" PRId64 " but the .log has %"
                PRId64 " at %" PRId64, seal.max_timestamp, seal.max_ts_offset, st->max_ts,
                st->max_ts_off);
    if (seal.log_size != s->log_bytes) {
        problem(v, path, 48, "log size %" PRId64 " but the .log has %" PRId64 " bytes",
                seal.log_size, s->log_bytes);
    }
    if (seal.log_size <= s->log_bytes) {
        int fd = open(lpath, O_RDONLY | O_CLOEXEC);
        uint64_t digest;
        if (fd < 0) {
            problem(v, lpath, 0, "cannot open: %s", strerror(errno));
        } else {
            rc = kc_file_digest(fd, seal.log_size, &digest);
            close(fd);
            if (rc < 0)
                problem(v, lpath, 0, "cannot digest: %s", klog_strerror(rc));
            else if (digest != seal.log_digest)
                problem(v, path, 56, "XXH3-64 digest of the .log is %016" PRIx64 ", sealed as %016"
                        PRIx64, digest, seal.log_digest);
        }
    }
    if (file_exists(ipath, &isize) && (uint64_t)isize != (uint64_t)seal.index_entries * 8)
        problem(v, path, 64, "%" PRIu32 " index entries but the .index has %" PRId64 " bytes",
                seal.index_entries, isize);
    if (file_exists(tpath, &tsize) && (uint64_t)tsize != (uint64_t)seal.timeindex_entries * 12)
        problem(v, path, 68, "%" PRIu32 " time index entries but the .timeindex has %" PRId64
                " bytes", seal.timeindex_entries, tsize);
out:
    free(path);
    free(lpath);
    free(ipath);
    free(tpath);
}

static void check_partition(verifier_t *v, part_t *p)
{
    int64_t prev_last = -1;
    for (size_t i = 0; i < p->nsegs; i++) {
        const seg_t *s = &p->segs[i];
        int is_last = i + 1 == p->nsegs;
        int sealed = seal_exists(p, s);
        segstate_t st;
        if (i > 0 && s->base <= prev_last) {
            char *path = seg_path(p, s->base, ".log");
            problem(v, path ? path : p->dir, 0,
                    "segment base offset %" PRId64 " overlaps the previous segment (up to %" PRId64
                    ")", s->base, prev_last);
            free(path);
        }
        check_log(v, p, s, &prev_last, &st);
        check_index(v, p, s, &st, is_last, sealed);
        check_timeindex(v, p, s, &st, is_last, sealed);
        if (sealed) {
            check_seal(v, p, s, &st);
        } else if (!is_last) {
            char *path = seg_path(p, s->base, ".log");
            warning(v, path ? path : p->dir, 0, "inactive segment has no .seal");
            free(path);
        }
        if (st.next > p->next)
            p->next = st.next;
        v->segs_done++;
        progress(v);
    }
    if (p->next < 0 && p->nsegs > 0)
        p->next = p->segs[p->nsegs - 1].base;
}

/* ------------------------------------------------------------ log root */

static part_t *lookup_part(part_t *parts, size_t n, const char *topic, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i].id == id && strcmp(parts[i].topic, topic) == 0)
            return &parts[i];
    return NULL;
}

/* recovery-point-offset-checkpoint and log-start-offset-checkpoint. */
static void check_checkpoint(verifier_t *v, part_t *parts, size_t n, const char *name,
                             int is_start)
{
    char *path = path_join(v->o->dir, name, "");
    uint8_t *buf = NULL;
    size_t len, nlines = 0, *lines = NULL;
    char why[160];
    kc_ckpt_t c = {0};
    if (!path || !file_exists(path, NULL))
        goto out;
    if (kc_read_whole(path, &buf, &len) < 0)
        goto out;
    lines = calloc(len + 2, sizeof *lines);
    if (!lines)
        goto out;
    int64_t at = kc_ckpt_lint(buf, len, lines, len + 2, &nlines, why, sizeof why);
    int rc = kc_ckpt_read(v->o->dir, name, &c);
    if (rc < 0 || at >= 0) {
        problem(v, path, at >= 0 ? at : 0, "%s%s%s", at >= 0 ? why : "",
                at >= 0 && rc < 0 ? ": " : "", rc < 0 ? klog_strerror(rc) : "");
        goto out;
    }
    for (size_t i = 0; i < c.count; i++) {
        const kc_ckpt_entry_t *e = &c.entries[i];
        int64_t pos = i + 2 < nlines ? (int64_t)lines[i + 2] : 0;
        if (v->o->topic && strcmp(e->topic, v->o->topic) != 0)
            continue;
        part_t *p = lookup_part(parts, n, e->topic, e->partition);
        if (!p) {
            warning(v, path, pos, "entry for %s-%" PRId32 ", which has no directory", e->topic,
                    e->partition);
            continue;
        }
        if (p->next >= 0 && e->offset > p->next)
            problem(v, path, pos, "%s %" PRId64 " of %s-%" PRId32 " is above its log end %" PRId64,
                    is_start ? "log start" : "recovery point", e->offset, e->topic, e->partition,
                    p->next);
    }
out:
    kc_ckpt_free(&c);
    free(lines);
    free(buf);
    free(path);
}

/* klog.topics against the partition directories found. */
static void check_topics(verifier_t *v, part_t *parts, size_t n)
{
    char *path = path_join(v->o->dir, "klog.topics", "");
    kc_topic_meta_t *meta = NULL;
    size_t nm = 0;
    if (!path)
        return;
    int rc = kc_meta_read(v->o->dir, &meta, &nm);
    if (rc < 0) {
        problem(v, path, 0, "unreadable topic metadata: %s", klog_strerror(rc));
        free(path);
        return;
    }
    for (size_t i = 0; i < nm; i++) {
        if (v->o->topic && strcmp(meta[i].name, v->o->topic) != 0)
            continue;
        for (int32_t id = 0; id < meta[i].partitions; id++)
            if (!lookup_part(parts, n, meta[i].name, id))
                warning(v, path, 0, "partition %s-%" PRId32 " has no directory", meta[i].name, id);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (i < nm && strcmp(meta[i].name, parts[k].topic) != 0)
            i++;
        if (i == nm || parts[k].id >= meta[i].partitions)
            warning(v, parts[k].dir, 0, "not a partition of a topic in klog.topics");
    }
    free(meta);
    free(path);
}

int kc_verify(const kc_opts_t *o)
{
    verifier_t v = {.o = o, .tty = isatty(STDERR_FILENO)};
    part_t *parts = NULL;
    size_t np = 0;
    struct stat st;

    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        kc_err("%s: %s", o->dir, errno ? strerror(errno) : "not a directory");
        return KC_EXIT_FAIL;
    }
    if (find_partitions(&v, &parts, &np) < 0)
        return KC_EXIT_FAIL;
    if (o->topic && np == 0)
        problem(&v, o->dir, 0, "no partition directories for topic %s", o->topic);
    for (size_t i = 0; i < np; i++) {
        if (list_segments(&v, &parts[i]) < 0) {
            kc_err("out of memory");
            break;
        }
        v.segs_total += (long)parts[i].nsegs;
        for (size_t k = 0; k < parts[i].nsegs; k++)
            v.bytes_total += parts[i].segs[k].log_bytes;
    }
    v.last_progress_ns = mono_ns();
    for (size_t i = 0; i < np; i++)
        check_partition(&v, &parts[i]);
    check_topics(&v, parts, np);
    check_checkpoint(&v, parts, np, "recovery-point-offset-checkpoint", 0);
    check_checkpoint(&v, parts, np, "log-start-offset-checkpoint", 1);
    clear_progress(&v);

    size_t ntopics = 0;
    for (size_t i = 0; i < np; i++)
        if (i == 0 || strcmp(parts[i].topic, parts[i - 1].topic) != 0)
            ntopics++;
    printf("verify: %zu topic(s), %zu partition(s), %ld segment(s), %" PRId64 " batches, %" PRId64
           " bytes: %ld problem(s), %ld warning(s)\n",
           ntopics, np, v.segs_total, v.batches, v.bytes_total, v.problems, v.warnings);
    for (size_t i = 0; i < np; i++) {
        free(parts[i].topic);
        free(parts[i].dir);
        free(parts[i].segs);
    }
    free(parts);
    free(v.b);
    if (fflush(stdout) != 0)
        return KC_EXIT_FAIL;
    return v.problems ? KC_EXIT_FAIL : KC_EXIT_OK;
}
