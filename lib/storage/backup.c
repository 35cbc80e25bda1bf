/*
 * backup.c — klog_backup(): a consistent copy of a live log (see klog.h),
 * like sqlite3's .backup or mdb_copy. Per partition: the high watermark is
 * read first; each segment is pinned in turn; a sealed one is copied
 * whole (its bytes never change), the active one (or a rolled one still
 * waiting for its seal) up to the last batch below the watermark, and the
 * copy gets the indexes' entries for those bytes and a seal of its own.
 * Every segment of the copy is sealed, and its checkpoints and clean-
 * shutdown marker are written, so it opens with no recovery scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/files.h"
#include "storage/log.h"
#include "storage/partition.h"
#include "storage/segment.h"
#include "storage/topic.h"

#define CHUNK (1 << 20)

typedef struct backup {
    klog_backup_stats_t *st;
    uint8_t *buf;        /* CHUNK bytes */
    char *pdir;          /* dest/<topic>-<p> */
    klog__ckpt_entry_t *rp, *ls;
    size_t nck, capck;
} backup_t;

/* Create dest path and write len bytes of src (from 0) or of data. */
static int write_copy(backup_t *b, const char *name, int src, const uint8_t *data, int64_t len)
{
    char *path = klog__asprintf("%s/%s", b->pdir, name);
    if (!path)
        return -ENOMEM;
    int fd = klog__open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    free(path);
    if (fd < 0)
        return fd;
    int rc = 0;
    for (int64_t at = 0; at < len && !rc;) {
        size_t n = len - at > CHUNK ? CHUNK : (size_t)(len - at);
        const uint8_t *p = data ? data + at : b->buf;
        if (!data) {
            ssize_t got = klog__pread_full(src, b->buf, n, at);
            rc = got < 0 ? (int)got : (size_t)got < n ? KLOG_ECORRUPT : 0;
        }
        if (!rc)
            rc = klog__pwrite_all(fd, p, n, at);
        at += (int64_t)n;
    }
    if (!rc)
        rc = klog__fsync(fd);
    int crc = klog__close(fd);
    b->st->bytes += len;
    return rc ? rc : crc;
}

/* Copy the first len bytes of one of the segment's files (ext:
 * ".index"...): exactly len (a shorter file is KLOG_ECORRUPT), or with
 * upto at most len. */
static int copy_file(backup_t *b, klog__segment_t *s, const char *ext, int64_t len, int upto)
{
    const char *slash = strrchr(klog__segment_stem(s), '/');
    char *name = klog__asprintf("%s%s", slash + 1, ext);
    int fd = klog__segment_open_ro(s, ext), rc;
    if (!name) {
        rc = -ENOMEM;
    } else if (fd < 0) {
        rc = fd == -ENOENT ? 0 : fd; /* a missing index is rebuilt (costs a scan) */
    } else {
        int64_t n = upto ? klog__fsize(fd) : len;
        if (n > len)
            n = len;
        rc = n < 0 ? (int)n : write_copy(b, name, fd, NULL, n);
    }
    if (fd >= 0)
        klog__close(fd);
    free(name);
    return rc;
}

/* Index entries of an unsealed segment valid for the bytes copied: the
 * increasing prefix with position < cut (offset index) or offset < next
 * (time index). Written as "<stem><ext>" of the copy. */
static int copy_index(backup_t *b, klog__segment_t *s, const char *ext, int esize, int64_t cut,
                      int64_t next, uint32_t *entries)
{
    int fd = klog__segment_open_ro(s, ext);
    int64_t len = fd >= 0 ? klog__fsize(fd) : 0;
    uint8_t *ix = NULL;
    size_t n = 0;
    int rc = fd == -ENOENT ? 0 : fd < 0 ? fd : len < 0 ? (int)len : 0;
    if (!rc && len > 0 && !(ix = klog__malloc((size_t)len)))
        rc = -ENOMEM;
    if (!rc && len > 0) {
        ssize_t got = klog__pread_full(fd, ix, (size_t)len, 0);
        rc = got < 0 ? (int)got : 0;
        len = got < 0 ? 0 : got;
    }
    int64_t base = klog__segment_base(s), prev_a = -1, prev_b = -1;
    for (; !rc && (int64_t)(n + 1) * esize <= len; n++) {
        const uint8_t *e = ix + n * (size_t)esize;
        int64_t a = esize == 8 ? (int32_t)klog__load32(e) : (int64_t)klog__load64(e);
        int64_t c = (int32_t)klog__load32(e + (esize == 8 ? 4 : 8));
        if (a <= prev_a || (esize == 8 ? c <= prev_b : c < prev_b) || c < 0)
            break;
        if (esize == 8 && c == 0)
            break; /* position 0 is never indexed: the preallocated zeros */
        if (esize == 8 ? c >= cut : base + c >= next)
            break;
        prev_a = a, prev_b = c;
    }
    if (fd >= 0)
        klog__close(fd);
    if (!rc) {
        const char *slash = strrchr(klog__segment_stem(s), '/');
        char *name = klog__asprintf("%s%s", slash + 1, ext);
        rc = name ? write_copy(b, name, -1, ix ? ix : (const uint8_t *)"", (int64_t)n * esize)
                  : -ENOMEM;
        free(name);
    }
    free(ix);
    *entries = (uint32_t)n;
    return rc;
}

/* An unsealed segment: batches below hw. *stop when the watermark ends
 * the copy inside it. */
static int copy_unsealed(backup_t *b, klog__segment_t *s, int64_t hw, int64_t *next, int *stop)
{
    int64_t limit = klog__segment_readable(s), pos = 0;
    klog__seal_t seal = {.base_offset = klog__segment_base(s), .next_offset = *next,
                         .max_timestamp = -1, .max_ts_offset = -1};
    klog__cursor_t c = {0};
    klog_batch_info_t bi;
    int rc = 0, k;
    klog__cursor_init(&c, s, 0, limit, CHUNK, 0);
    while ((k = klog__cursor_peek(&c, &bi)) == KLOG__CUR_BATCH) {
        if (bi.base_offset >= hw) {
            *stop = 1;
            break;
        }
        int64_t last = bi.base_offset + bi.last_offset_delta;
        seal.next_offset = last + 1;
        if (bi.max_timestamp > seal.max_timestamp)
            seal.max_timestamp = bi.max_timestamp, seal.max_ts_offset = last;
        pos += (int64_t)bi.size;
        klog__cursor_seek(&c, pos, -1);
    }
    klog__cursor_free(&c);
    if (k < 0)
        return k;
    if (k != KLOG__CUR_BATCH && pos < limit)
        *stop = 1; /* bytes the writer is adding */
    if (pos == 0)
        return 0; /* nothing below the watermark: no segment in the copy */
    const char *slash = strrchr(klog__segment_stem(s), '/');
    char *name = klog__asprintf("%s.log", slash + 1);
    if (!name)
        return -ENOMEM;
    rc = write_copy(b, name, klog__segment_fd(s), NULL, pos);
    if (!rc) {
        char *path = klog__asprintf("%s/%s", b->pdir, name);
        int fd = path ? klog__open(path, O_RDONLY, 0) : -ENOMEM;
        rc = fd < 0 ? fd : klog__file_digest(fd, pos, &seal.log_digest);
        if (fd >= 0)
            klog__close(fd);
        free(path);
    }
    if (!rc)
        rc = copy_index(b, s, ".index", 8, pos, seal.next_offset, &seal.index_entries);
    if (!rc)
        rc = copy_index(b, s, ".timeindex", 12, pos, seal.next_offset, &seal.timeindex_entries);
    seal.log_size = pos;
    if (!rc) {
        char *sname = klog__asprintf("%s.seal", slash + 1);
        rc = sname ? klog__seal_write(b->pdir, sname, &seal) : -ENOMEM;
        free(sname);
    }
    free(name);
    *next = seal.next_offset;
    return rc;
}

static int copy_segment(backup_t *b, klog__segment_t *s, int64_t hw, int64_t *next, int *stop)
{
    klog__seal_t seal;
    uint8_t raw[KLOG__SEAL_SIZE];
    int sealed = 0;
    int sfd = klog__segment_open_ro(s, ".seal");
    if (sfd >= 0) {
        ssize_t n = klog__pread_full(sfd, raw, sizeof raw, 0);
        klog__close(sfd);
        sealed = n == (ssize_t)sizeof raw && klog__seal_decode(raw, sizeof raw, &seal) == 0;
    }
    int rc = klog__segment_pin(s, 0);
    if (rc < 0)
        return klog__segment_is_deleted(s) ? 0 : rc; /* removed by retention meanwhile */
    if (sealed) {
        const char *slash = strrchr(klog__segment_stem(s), '/');
        char *name = klog__asprintf("%s.seal", slash + 1);
        /* As sealed: the active segment keeps its seal from a clean open
         * until the writer's first append, which removes it and then adds
         * bytes and index entries (only after those the seal counts). */
        rc = copy_file(b, s, ".log", seal.log_size, 0);
        if (!rc)
            rc = copy_file(b, s, ".index", (int64_t)seal.index_entries * 8, 1);
        if (!rc)
            rc = copy_file(b, s, ".timeindex", (int64_t)seal.timeindex_entries * 12, 1);
        if (!rc)
            rc = name ? write_copy(b, name, -1, raw, sizeof raw) : -ENOMEM;
        free(name);
        *next = seal.next_offset;
    } else {
        rc = copy_unsealed(b, s, hw, next, stop);
    }
    klog__segment_unpin(s);
    b->st->segments++;
    return rc;
}

static int add_ckpt(backup_t *b, const char *topic, int32_t id, int64_t rp, int64_t ls)
{
    if (b->nck == b->capck) {
        size_t cap = b->capck ? b->capck * 2 : 16;
        klog__ckpt_entry_t *r = klog__realloc(b->rp, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        b->rp = r;
        klog__ckpt_entry_t *l = klog__realloc(b->ls, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        b->ls = l, b->capck = cap;
    }
    b->rp[b->nck] = (klog__ckpt_entry_t){(char *)topic, id, rp};
    b->ls[b->nck++] = (klog__ckpt_entry_t){(char *)topic, id, ls};
    return 0;
}

static int copy_partition(backup_t *b, const char *dest, const char *topic, int32_t id,
                          klog__partition_t *p, klog_backup_fn cb, void *ctx)
{
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    int64_t hw = klog__partition_hw(p), ls = klog__partition_log_start(p);
    free(b->pdir);
    b->pdir = klog__asprintf("%s/%s-%" PRId32, dest, topic, id);
    if (!b->pdir)
        return -ENOMEM;
    if ((rc = klog__mkdir(b->pdir, 0755)) != 0)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    int64_t next = l->n ? klog__segment_base(l->seg[0]) : ls, first = next;
    int stop = 0;
    for (size_t i = 0; i < l->n && !rc && !stop; i++) {
        klog__segment_t *s = l->seg[i];
        if (i > 0 && klog__segment_base(s) >= hw)
            break;
        if (klog__segment_base(s) > next)
            next = klog__segment_base(s);
        rc = copy_segment(b, s, hw, &next, &stop);
    }
    if (!rc) /* producer snapshots, .txnindex, epoch cache: no replay at open */
        rc = klog__partition_state_backup(p, b->pdir, l, first, next);
    klog__seglist_unref(l);
    if (!rc)
        rc = klog__fsync_dir(b->pdir);
    if (!rc)
        rc = add_ckpt(b, topic, id, next, ls < next ? ls : next);
    b->st->partitions++;
    if (!rc && cb)
        cb(ctx, topic, id, ls < next ? ls : next, next);
    return rc;
}

int klog_backup(klog_t *log, const char *dest, klog_backup_fn cb, void *ctx,
                klog_backup_stats_t *stats)
{
    klog_backup_stats_t dummy;
    if (!log || !dest)
        return -EINVAL;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    backup_t b = {.st = stats};
    char **names = NULL;
    klog__topic_meta_t *metas = NULL;
    int n = klog_topic_list(log, &names), rc = n < 0 ? n : 0;
    if (!rc && !(b.buf = klog__malloc(CHUNK)))
        rc = -ENOMEM;
    if (!rc && !(metas = klog__calloc((size_t)n + 1, sizeof *metas)))
        rc = -ENOMEM;
    if (!rc)
        rc = klog__mkdir(dest, 0755);
    int nm = 0;
    for (int i = 0; i < n && !rc; i++) {
        klog_topic_t *t;
        if (klog_topic_get(log, names[i], &t) < 0)
            continue; /* deleted meanwhile */
        metas[nm++] = *klog__topic_meta(t);
        for (int32_t k = 0; k < klog__topic_nparts(t) && !rc; k++)
            rc = copy_partition(&b, dest, names[i], k, klog__topic_part(t, k), cb, ctx);
    }
    if (!rc)
        rc = klog__meta_write(dest, metas, (size_t)nm);
    if (!rc)
        rc = klog__ckpt_write(dest, "recovery-point-offset-checkpoint", b.rp, b.nck);
    if (!rc)
        rc = klog__ckpt_write(dest, "log-start-offset-checkpoint", b.ls, b.nck);
    if (!rc) {
        static const char marker[] = "{\"version\":0,\"brokerEpoch\":0}";
        rc = klog__write_file_atomic(dest, ".kafka_cleanshutdown", marker, sizeof marker - 1);
    }
    free(metas);
    free(names);
    free(b.buf);
    free(b.pdir);
    free(b.rp);
    free(b.ls);
    return rc;
}
