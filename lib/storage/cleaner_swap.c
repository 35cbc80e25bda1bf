/*
 * cleaner_swap.c — the files of one cleaned group and the crash protocol
 * around them (Kafka's LogCleaner + LogLoader, kafka-format.md 5 and 6).
 *
 * FILES (in the partition directory; B = base offset of the first segment
 * of the group, which is the cleaned segment's name)
 *   <B>.log.cleaned   the output being written (Kafka's name)
 *   <B>.log.swap      the same, complete and fsynced (Kafka's name)
 *   <B>.cleanrange    libklog's own, 36 bytes: magic "KLOGCRNG", u32
 *                     version 1, i64 B, i64 E, u64 XXH3-64 of the 28 bytes
 *                     before it: the swap replaces every segment whose base
 *                     lies in [B, E). Kafka infers E from the swap's last
 *                     offset, which undercounts when the group's last
 *                     segments lost every batch; the range file says it.
 *
 * PROTOCOL (each step durable before the next)
 *   1. write <B>.log.cleaned, fsync;
 *   2. write <B>.cleanrange (tmp, fsync, rename, fsync dir);
 *   3. rename .cleaned -> .swap, fsync dir;
 *   4. rename the replaced segments' files to *.deleted (partition_swap.c);
 *   5. rename .swap -> <B>.log; build its indexes and seal; fsync dir;
 *   6. unlink <B>.cleanrange.
 * OPEN AFTER A CRASH (klog__cleaner_recover_dir, before the listing)
 *   .cleaned present          -> before 3: remove it and the range file
 *                                (the old segments are intact); as in
 *                                Kafka, a .swap at or above a .cleaned's
 *                                base is an interrupted split: removed;
 *   .swap present             -> after 3: remove the files of every segment
 *                                with base in [B, E), rename .swap -> .log;
 *   only the range file left  -> after 5: <B>.log is the new segment; any
 *                                segment in (B, E) still present is a
 *                                replaced one whose rename was lost:
 *                                remove it; then the range file.
 * Either the group's old segments or the new one survive, never both and
 * never neither. Every file operation goes through the I/O seam.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "codec/codec.h"
#include "platform/bytes.h"
#include "storage/cleaner.h"

#define RANGE_MAGIC "KLOGCRNG"
#define RANGE_VERSION 1u
#define RANGE_SIZE 36

static char *path_of(const char *dir, int64_t base, const char *ext)
{
    return klog__asprintf("%s/%020" PRId64 "%s", dir, base, ext);
}

static int unlink_of(const char *dir, int64_t base, const char *ext)
{
    char *p = path_of(dir, base, ext);
    if (!p)
        return -ENOMEM;
    int rc = klog__unlink(p);
    free(p);
    return rc == -ENOENT ? 0 : rc;
}

static int rename_of(const char *dir, int64_t base, const char *from, const char *to)
{
    char *a = path_of(dir, base, from), *b = path_of(dir, base, to);
    int rc = a && b ? klog__rename(a, b) : -ENOMEM;
    free(a);
    free(b);
    return rc;
}

/* ------------------------------------------------------------ writing */

int klog__cleaned_open(klog__cleaned_t *c, const char *dir, int64_t base, int64_t range_end)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->base = base;
    c->range_end = range_end;
    c->dir = klog__strdup(dir);
    if (!c->dir)
        return -ENOMEM;
    char *p = path_of(dir, base, ".log.cleaned");
    if (!p)
        return -ENOMEM;
    int fd = klog__open(p, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    free(p);
    if (fd < 0)
        return fd;
    c->fd = fd;
    return 0;
}

#define WRITE_CHUNK (256u << 10)

static int flush_buf(klog__cleaned_t *c)
{
    if (!c->buf.len)
        return 0;
    int rc = klog__pwrite_all(c->fd, c->buf.data, c->buf.len, (off_t)c->size);
    if (!rc)
        c->size += (int64_t)c->buf.len;
    c->buf.len = 0;
    return rc;
}

int klog__cleaned_write(klog__cleaned_t *c, const void *p, size_t n)
{
    if (c->buf.len + n > WRITE_CHUNK) {
        int rc = flush_buf(c);
        if (rc)
            return rc;
        if (n >= WRITE_CHUNK) {
            rc = klog__pwrite_all(c->fd, p, n, (off_t)c->size);
            if (!rc)
                c->size += (int64_t)n;
            return rc;
        }
    }
    return klog__buf_append(&c->buf, p, n);
}

int klog__cleaned_to_swap(klog__cleaned_t *c)
{
    int rc = flush_buf(c);
    if (!rc)
        rc = klog__fsync(c->fd);
    int rc2 = klog__close(c->fd);
    c->fd = -1;
    if (rc || (rc = rc2) != 0)
        return rc;
    uint8_t buf[RANGE_SIZE];
    memcpy(buf, RANGE_MAGIC, 8);
    klog__store32(buf + 8, RANGE_VERSION);
    klog__store64(buf + 12, (uint64_t)c->base);
    klog__store64(buf + 20, (uint64_t)c->range_end);
    klog__store64(buf + 28, XXH3_64bits(buf, 28));
    char name[40];
    snprintf(name, sizeof name, "%020" PRId64 ".cleanrange", c->base);
    rc = klog__write_file_atomic(c->dir, name, buf, sizeof buf);
    if (!rc)
        rc = rename_of(c->dir, c->base, ".log.cleaned", ".log.swap");
    if (!rc)
        rc = klog__fsync_dir(c->dir);
    return rc;
}

void klog__cleaned_discard(klog__cleaned_t *c)
{
    if (!c->dir)
        return;
    if (c->fd >= 0)
        klog__close(c->fd);
    c->fd = -1;
    unlink_of(c->dir, c->base, ".log.cleaned");
    unlink_of(c->dir, c->base, ".log.swap");
    unlink_of(c->dir, c->base, ".cleanrange");
}

int klog__cleaned_swap_in(klog__cleaned_t *c)
{
    return rename_of(c->dir, c->base, ".log.swap", ".log");
}

void klog__cleaned_done(klog__cleaned_t *c) { unlink_of(c->dir, c->base, ".cleanrange"); }

void klog__cleaned_free(klog__cleaned_t *c)
{
    klog__buf_free(&c->buf);
    if (c->fd >= 0)
        klog__close(c->fd);
    c->fd = -1;
    free(c->dir);
    c->dir = NULL;
}

/* ------------------------------------------------------------ recovery */

enum { K_SWAP = 1, K_CLEANED = 2, K_RANGE = 4, K_SEG = 8 };

typedef struct entry {
    int64_t base;
    unsigned kinds;
} entry_t;

typedef struct scan {
    entry_t *v;
    size_t n, cap;
} scan_t;

static int parse_base(const char *name, int64_t *base, const char **ext)
{
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    char digits[21];
    memcpy(digits, name, 20);
    digits[20] = 0;
    unsigned long long v = strtoull(digits, NULL, 10);
    if (v > INT64_MAX)
        return 0;
    *base = (int64_t)v;
    *ext = name + 20;
    return 1;
}

static int list_one(void *ctx, const char *name)
{
    scan_t *s = ctx;
    int64_t base;
    const char *ext;
    if (!parse_base(name, &base, &ext))
        return 0;
    unsigned k = strcmp(ext, ".log.swap") == 0      ? K_SWAP
                 : strcmp(ext, ".log.cleaned") == 0 ? K_CLEANED
                 : strcmp(ext, ".cleanrange") == 0  ? K_RANGE
                 : (strcmp(ext, ".log") == 0 || strcmp(ext, ".index") == 0 ||
                    strcmp(ext, ".timeindex") == 0 || strcmp(ext, ".seal") == 0)
                     ? K_SEG
                     : 0;
    if (!k)
        return 0;
    size_t i;
    for (i = 0; i < s->n && s->v[i].base != base; i++)
        ;
    if (i == s->n) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 16;
            entry_t *nv = klog__realloc(s->v, cap * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            s->v = nv;
            s->cap = cap;
        }
        s->v[s->n++] = (entry_t){base, 0};
    }
    s->v[i].kinds |= k;
    return 0;
}

/* E from the range file, -1 when absent or unreadable. */
static int64_t read_range(const char *dir, int64_t base)
{
    char *p = path_of(dir, base, ".cleanrange");
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t end = -1;
    if (p && klog__read_file(p, 64, &buf, &len) == 0 && len == RANGE_SIZE &&
        memcmp(buf, RANGE_MAGIC, 8) == 0 && klog__load32(buf + 8) == RANGE_VERSION &&
        klog__load64(buf + 28) == XXH3_64bits(buf, 28) &&
        (int64_t)klog__load64(buf + 12) == base && (int64_t)klog__load64(buf + 20) > base)
        end = (int64_t)klog__load64(buf + 20);
    free(buf);
    free(p);
    return end;
}

/* Kafka's rule without a range file: the swap's last offset + 1 (*next
 * stays -1 when the file holds bytes but no whole batch: not a swap). */
static int swap_next_offset(const char *dir, int64_t base, int64_t *next)
{
    char *p = path_of(dir, base, ".log.swap");
    if (!p)
        return -ENOMEM;
    int fd = klog__open(p, O_RDONLY | O_CLOEXEC, 0);
    free(p);
    if (fd < 0)
        return fd;
    int64_t size = klog__fsize(fd), pos = 0;
    *next = size > 0 ? -1 : base + 1;
    while (pos + KLOG_BATCH_HEADER_SIZE <= size) {
        uint8_t h[KLOG_BATCH_HEADER_SIZE];
        klog_batch_info_t bi;
        if (klog__pread_full(fd, h, sizeof h, pos) != (ssize_t)sizeof h ||
            klog__batch_peek(h, sizeof h, &bi) != 0 || pos + (int64_t)bi.size > size)
            break;
        *next = bi.base_offset + bi.last_offset_delta + 1;
        pos += (int64_t)bi.size;
    }
    klog__close(fd);
    return 0;
}

static int remove_segment(const char *dir, int64_t base, const klog__logger_t *lg)
{
    static const char *exts[] = {".seal", ".timeindex", ".index", ".log"};
    klog__log(lg, KLOG_LOG_INFO, "recovery: %s/%020" PRId64 ".log was replaced by a cleaned "
              "segment: removing it", dir, base);
    for (size_t i = 0; i < 4; i++) {
        int rc = unlink_of(dir, base, exts[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int klog__cleaner_recover_dir(const char *dir, const klog__logger_t *lg)
{
    scan_t s = {0};
    int rc = klog__dir_list(dir, list_one, &s);
    if (rc == -ENOENT)
        rc = 0;
    int changed = 0;
    /* Kafka's rule: a swap at or above the smallest .cleaned is from an
     * interrupted split, not a finished cleaning; it goes. */
    int64_t min_cleaned = INT64_MAX;
    for (size_t i = 0; i < s.n; i++)
        if ((s.v[i].kinds & K_CLEANED) && s.v[i].base < min_cleaned)
            min_cleaned = s.v[i].base;
    for (size_t i = 0; !rc && i < s.n; i++) {
        entry_t *e = &s.v[i];
        if (!(e->kinds & (K_SWAP | K_CLEANED | K_RANGE)))
            continue;
        changed = 1;
        int64_t end = (e->kinds & K_SWAP) ? read_range(dir, e->base) : -1;
        if ((e->kinds & K_SWAP) && end < 0 && e->base < min_cleaned &&
            (rc = swap_next_offset(dir, e->base, &end)) != 0)
            break;
        if ((e->kinds & K_SWAP) && (end < 0 || e->base >= min_cleaned)) {
            klog__log(lg, KLOG_LOG_WARN,
                      "recovery: %s/%020" PRId64 ".log.swap is not a complete cleaned "
                      "segment: removing it", dir, e->base);
            if ((rc = unlink_of(dir, e->base, ".log.swap")) != 0)
                break;
            e->kinds &= ~(unsigned)(K_SWAP | K_RANGE); /* its range file names nothing */
        }
        if (e->kinds & K_SWAP) {
            klog__log(lg, KLOG_LOG_WARN,
                      "recovery: %s/%020" PRId64 ".log.swap: finishing an interrupted "
                      "compaction of offsets %" PRId64 " to %" PRId64, dir, e->base, e->base,
                      end - 1);
            for (size_t j = 0; !rc && j < s.n; j++)
                if ((s.v[j].kinds & K_SEG) && s.v[j].base >= e->base && s.v[j].base < end)
                    rc = remove_segment(dir, s.v[j].base, lg);
            if (!rc)
                rc = rename_of(dir, e->base, ".log.swap", ".log");
            if (!rc)
                rc = klog__fsync_dir(dir);
        } else if (e->kinds & K_CLEANED) {
            klog__log(lg, KLOG_LOG_INFO,
                      "recovery: %s/%020" PRId64 ".log.cleaned: rolling back an interrupted "
                      "compaction", dir, e->base);
            rc = unlink_of(dir, e->base, ".log.cleaned");
        } else if (e->kinds & K_RANGE) {
            end = read_range(dir, e->base);
            for (size_t j = 0; !rc && end > 0 && j < s.n; j++)
                if ((s.v[j].kinds & K_SEG) && s.v[j].base > e->base && s.v[j].base < end)
                    rc = remove_segment(dir, s.v[j].base, lg);
        }
        if (!rc)
            rc = unlink_of(dir, e->base, ".cleanrange");
    }
    if (!rc && changed)
        rc = klog__fsync_dir(dir);
    free(s.v);
    return rc;
}
