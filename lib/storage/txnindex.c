/*
 * txnindex.c — a segment's aborted-transaction index, byte for byte as
 * Kafka's TransactionIndex (kafka-format.md 3.5, section 7).
 *
 * LAYOUT
 *   "<20-digit base offset>.txnindex" beside the segment's .log: a plain
 *   sequence of 34-byte entries, big-endian, no header, no checksum, no
 *   preallocation:
 *     offset size field
 *          0    2 int16 version, 0
 *          2    8 int64 producerId
 *         10    8 int64 firstOffset       first offset of the transaction
 *         18    8 int64 lastOffset        offset of its ABORT marker
 *         26    8 int64 lastStableOffset  the partition's LSO at the abort
 *   The file exists only once a transaction was aborted in the segment
 *   (Kafka creates it lazily, and so do we).
 *
 * WHAT IS VALID
 *   A whole number of entries, version 0 (a higher one is KLOG_EVERSION, as
 *   Kafka refuses it too), producerId >= 0, 0 <= firstOffset <= lastOffset,
 *   lastStableOffset >= 0, lastOffset strictly increasing (Kafka's append
 *   rule) and >= the segment's base offset (Kafka's sanityCheck). Kafka's
 *   reader ignores a partial trailing entry and would append after it,
 *   misaligning every later entry; we call it KLOG_ECORRUPT instead, which
 *   makes the loader recover the segment and rebuild the index from its
 *   ABORT markers. The entries are small and rare, so the whole index is
 *   kept in memory and the file is only ever appended to or truncated.
 *
 * INVARIANT
 *   The file holds exactly the in-memory entries, in order, as long as no
 *   call has failed; a failed append cuts the file back to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/txnindex.h"

#define TXNIDX_MAX_FILE (1u << 30)

struct klog__txnidx {
    char *path;
    int64_t base_offset;
    int fd; /* -1 until the file exists and is needed */
    klog__aborted_txn_t *v;
    size_t n, cap;
};

void klog__txnidx_encode(const klog__aborted_txn_t *t, uint8_t *p)
{
    klog__store16(p, 0);
    klog__store64(p + 2, (uint64_t)t->producer_id);
    klog__store64(p + 10, (uint64_t)t->first_offset);
    klog__store64(p + 18, (uint64_t)t->last_offset);
    klog__store64(p + 26, (uint64_t)t->lso);
}

/* Can t follow prev (NULL: first) in an index based at base? */
static int entry_valid(const klog__aborted_txn_t *t, const klog__aborted_txn_t *prev, int64_t base)
{
    if (t->producer_id < 0 || t->first_offset < 0 || t->first_offset > t->last_offset ||
        t->lso < 0 || t->last_offset < base)
        return 0;
    return !prev || t->last_offset > prev->last_offset;
}

int klog__txnidx_decode(const uint8_t *buf, size_t len, int64_t base_offset,
                        klog__aborted_txn_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len % KLOG__TXNIDX_ENTRY_SIZE != 0)
        return KLOG_ECORRUPT;
    size_t cnt = len / KLOG__TXNIDX_ENTRY_SIZE;
    klog__aborted_txn_t *v = klog__calloc(cnt ? cnt : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        const uint8_t *p = buf + i * KLOG__TXNIDX_ENTRY_SIZE;
        int16_t version = (int16_t)klog__load16(p);
        if (version != 0) {
            rc = version > 0 ? KLOG_EVERSION : KLOG_ECORRUPT;
            break;
        }
        v[i].producer_id = (int64_t)klog__load64(p + 2);
        v[i].first_offset = (int64_t)klog__load64(p + 10);
        v[i].last_offset = (int64_t)klog__load64(p + 18);
        v[i].lso = (int64_t)klog__load64(p + 26);
        if (!entry_valid(&v[i], i ? &v[i - 1] : NULL, base_offset)) {
            rc = KLOG_ECORRUPT;
            break;
        }
    }
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

void klog__txnidx_name(int64_t base_offset, char *name)
{
    snprintf(name, 32, "%020" PRId64 KLOG__TXNIDX_SUFFIX, base_offset);
}

int klog__txnidx_open(const char *dir, int64_t base_offset, klog__txnidx_t **out)
{
    return klog__txnidx_open_known(dir, base_offset, 0, out);
}

int klog__txnidx_open_known(const char *dir, int64_t base_offset, int absent,
                            klog__txnidx_t **out)
{
    char name[32];
    if (base_offset < 0)
        return -EINVAL;
    klog__txnidx_name(base_offset, name);
    klog__txnidx_t *idx = klog__calloc(1, sizeof *idx);
    if (!idx)
        return -ENOMEM;
    idx->fd = -1;
    idx->base_offset = base_offset;
    idx->path = klog__asprintf("%s/%s", dir, name);
    if (!idx->path) {
        free(idx);
        return -ENOMEM;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = absent ? -ENOENT : klog__read_file(idx->path, TXNIDX_MAX_FILE, &buf, &len);
    if (rc == -ENOENT) {
        *out = idx;
        return 0;
    }
    if (rc == -EFBIG)
        rc = KLOG_ECORRUPT;
    if (!rc) {
        rc = klog__txnidx_decode(buf, len, base_offset, &idx->v, &idx->n);
        idx->cap = idx->n;
        free(buf);
    }
    if (rc) {
        klog__txnidx_close(idx);
        return rc;
    }
    *out = idx;
    return 0;
}

void klog__txnidx_close(klog__txnidx_t *idx)
{
    if (!idx)
        return;
    if (idx->fd >= 0)
        klog__close(idx->fd);
    free(idx->path);
    free(idx->v);
    free(idx);
}

/* Open the file for writing, creating it. */
static int ensure_fd(klog__txnidx_t *idx)
{
    if (idx->fd >= 0)
        return 0;
    int fd = klog__open(idx->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    idx->fd = fd;
    return 0;
}

int klog__txnidx_append(klog__txnidx_t *idx, const klog__aborted_txn_t *t)
{
    uint8_t buf[KLOG__TXNIDX_ENTRY_SIZE];
    if (!entry_valid(t, idx->n ? &idx->v[idx->n - 1] : NULL, idx->base_offset))
        return -EINVAL;
    if (idx->n == idx->cap) {
        size_t ncap = idx->cap ? idx->cap * 2 : 4;
        klog__aborted_txn_t *nv = klog__realloc(idx->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        idx->v = nv;
        idx->cap = ncap;
    }
    int rc = ensure_fd(idx);
    if (rc)
        return rc;
    klog__txnidx_encode(t, buf);
    off_t at = (off_t)(idx->n * KLOG__TXNIDX_ENTRY_SIZE);
    rc = klog__pwrite_all(idx->fd, buf, sizeof buf, at);
    if (rc) {
        klog__ftruncate(idx->fd, at); /* best effort: no half entry left */
        return rc;
    }
    idx->v[idx->n++] = *t;
    return 0;
}

int klog__txnidx_flush(klog__txnidx_t *idx)
{
    return idx->fd >= 0 ? klog__fsync(idx->fd) : 0;
}

int klog__txnidx_truncate(klog__txnidx_t *idx, int64_t offset)
{
    size_t k = 0;
    while (k < idx->n && idx->v[k].last_offset < offset)
        k++;
    if (k == idx->n)
        return 0;
    int rc = ensure_fd(idx);
    if (!rc)
        rc = klog__ftruncate(idx->fd, (off_t)(k * KLOG__TXNIDX_ENTRY_SIZE));
    if (!rc)
        idx->n = k;
    return rc;
}

int klog__txnidx_delete(klog__txnidx_t *idx)
{
    if (idx->fd >= 0) {
        klog__close(idx->fd);
        idx->fd = -1;
    }
    idx->n = 0;
    int rc = klog__unlink(idx->path);
    return rc == -ENOENT ? 0 : rc;
}

size_t klog__txnidx_count(const klog__txnidx_t *idx) { return idx->n; }

const klog__aborted_txn_t *klog__txnidx_entry(const klog__txnidx_t *idx, size_t i)
{
    return i < idx->n ? &idx->v[i] : NULL;
}

int klog__txn_collect(const klog__aborted_txn_t *v, size_t count, int64_t fetch_offset,
                      int64_t upper_bound, klog__aborted_txn_t **out, size_t *n, int *complete)
{
    *complete = 0;
    for (size_t i = 0; i < count; i++) {
        const klog__aborted_txn_t *t = &v[i];
        if (t->last_offset >= fetch_offset && t->first_offset < upper_bound) {
            /* Capacity is 4, 8, 16...: grow when *n reaches it. */
            size_t c = *n;
            if (c == 0 || (c >= 4 && (c & (c - 1)) == 0)) {
                size_t ncap = c ? c * 2 : 4;
                klog__aborted_txn_t *nv = klog__realloc(*out, ncap * sizeof *nv);
                if (!nv)
                    return -ENOMEM;
                *out = nv;
            }
            (*out)[(*n)++] = *t;
        }
        if (t->lso >= upper_bound) {
            *complete = 1;
            return 0;
        }
    }
    return 0;
}

int klog__txnidx_collect(const klog__txnidx_t *idx, int64_t fetch_offset, int64_t upper_bound,
                         klog__aborted_txn_t **out, size_t *n, int *complete)
{
    return klog__txn_collect(idx->v, idx->n, fetch_offset, upper_bound, out, n, complete);
}
