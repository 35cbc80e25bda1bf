/*
 * index.c — Kafka's memory-mapped offset and time indexes.
 *
 * Byte layout (kafka-format.md 3.3, 3.4), big-endian, no header:
 *   .index      8-byte entries  [u32 offset - base][u32 .log position]
 *   .timeindex 12-byte entries  [i64 timestamp][u32 offset - base]
 * Entries are sparse: one each time index.interval.bytes have been
 * appended. An offset entry (o, p) promises that every batch before
 * position p ends below offset o; a time entry (t, o) promises that no
 * record at or before offset o has a timestamp above t.
 *
 * Validity: offset entries strictly increase in both offset and position
 * (a position is never 0: the first batch of a segment never gets an
 * entry); time entries strictly increase in timestamp, offsets never
 * decrease. The entry count of a file is the longest valid prefix, so a
 * preallocated file's zero tail, or a file zero-filled by a crash, is
 * never mistaken for entries (Kafka's KAFKA-10207 / KAFKA-12734 pain).
 *
 * The active segment's index is preallocated to index.max.bytes (a sparse
 * file) and mapped once; appends store the entry then publish the count
 * with a release store, so readers binary-search without locks. Trimming
 * shrinks the file to exactly its entries but keeps the mapping: nothing
 * ever reads past the published count.
 *
 * Full disks: a shared mapping that touches a page without disk blocks on
 * a full file system kills the process with SIGBUS (a store on any file
 * system; on tmpfs even a load). So the mapping is only ever touched where
 * blocks exist: opening counts the valid entries with pread, up to the
 * file's first hole, and every store first reserves blocks (fallocate) a
 * chunk ahead, or failing that its own 8 or 12 bytes, through the I/O
 * seam. A file's length says nothing about its blocks (a crash leaves the
 * sparse preallocation behind), so each open starts reserving from 0
 * again. When no block can be had the entry is skipped (the index is
 * sparse anyway) and the append goes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/bytes.h"
#include "storage/index.h"

/* State of the longest-valid-prefix scan, carried across chunks. */
typedef struct scan {
    int64_t prev_ts;
    uint32_t prev_rel, prev_pos;
} scan_t;

/* How many of the n entries at m (entries first.. of the file) continue
 * the valid prefix. */
static uint32_t count_valid(int entry_size, const uint8_t *m, uint32_t first, uint32_t n,
                            scan_t *sc)
{
    if (entry_size == KLOG__OFFIDX_ENTRY) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t rel = klog__load32(m + (size_t)i * 8);
            uint32_t pos = klog__load32(m + (size_t)i * 8 + 4);
            if (rel > INT32_MAX || pos > INT32_MAX || pos <= sc->prev_pos ||
                (first + i > 0 && rel <= sc->prev_rel))
                return i;
            sc->prev_rel = rel;
            sc->prev_pos = pos;
        }
        return n;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t ts = (int64_t)klog__load64(m + (size_t)i * 12);
        uint32_t rel = klog__load32(m + (size_t)i * 12 + 8);
        if (ts <= sc->prev_ts || rel > INT32_MAX || rel < sc->prev_rel)
            return i;
        sc->prev_ts = ts;
        sc->prev_rel = rel;
    }
    return n;
}

/*
 * The valid prefix of the first `limit` entries, read with pread and never
 * through the mapping: a crash leaves the active index a sparse file, and
 * touching a hole through a shared mapping on a full file system is SIGBUS
 * (tmpfs allocates a page even on a read fault). Entries never lie in a
 * hole (they are written contiguously from 0, into reserved blocks), so the
 * scan stops at the first hole: a zero-filled hole is not even one
 * timestamp-0 entry, and every entry counted is backed by allocated blocks.
 */
static int scan_valid(int fd, int entry_size, uint32_t limit, uint32_t *out)
{
    *out = 0;
    int64_t hole = klog__seek_hole(fd, 0);
    if (hole >= 0 && (uint64_t)hole / (uint64_t)entry_size < limit)
        limit = (uint32_t)((uint64_t)hole / (uint64_t)entry_size);
    if (limit == 0)
        return 0;
    uint32_t chunk = limit < 4096 ? limit : 4096;
    uint8_t *buf = klog__malloc((size_t)chunk * (size_t)entry_size);
    if (!buf)
        return -ENOMEM;
    scan_t sc = {.prev_ts = -1};
    uint32_t done = 0;
    int rc = 0;
    while (done < limit) {
        uint32_t want = limit - done < chunk ? limit - done : chunk;
        ssize_t got = klog__pread_full(fd, buf, (size_t)want * (size_t)entry_size,
                                       (off_t)done * entry_size);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        uint32_t have = (uint32_t)((size_t)got / (size_t)entry_size);
        uint32_t ok = count_valid(entry_size, buf, done, have, &sc);
        done += ok;
        if (ok < want)
            break; /* an invalid entry, or the file ended early */
    }
    free(buf);
    *out = done;
    return rc;
}

int klog__index_open(klog__index_t *ix, const char *path, int entry_size, int64_t base,
                     size_t max_bytes, int writable, int create)
{
    memset(ix, 0, sizeof *ix);
    ix->fd = -1;
    ix->entry_size = entry_size;
    ix->base = base;
    int flags = O_NOFOLLOW | (writable ? O_RDWR : O_RDONLY); /* a symlink is foreign */
    if (create)
        flags |= O_CREAT;
    int fd = klog__open(path, flags, 0644);
    if (fd < 0)
        return fd;
    int rc;
    int64_t len = klog__fsize(fd);
    if (len < 0) {
        rc = (int)len;
        goto fail;
    }
    size_t cap = max_bytes / (size_t)entry_size * (size_t)entry_size;
    uint32_t file_entries = (uint32_t)((uint64_t)len / (uint64_t)entry_size);
    size_t map_len = (size_t)len;
    if (writable) {
        if ((size_t)len < cap) {
            rc = klog__ftruncate(fd, (off_t)cap);
            if (rc)
                goto fail;
            map_len = cap;
        }
        ix->max_entries = (uint32_t)(map_len / (size_t)entry_size);
    } else {
        ix->max_entries = file_entries;
    }
    uint32_t valid;
    rc = scan_valid(fd, entry_size, file_entries < ix->max_entries ? file_entries : ix->max_entries,
                    &valid);
    if (rc)
        goto fail;
    /* Which blocks a file left by a crash has is not known (its length is
     * not its allocation): the first store reserves again from 0, which
     * costs nothing where blocks exist. */
    ix->reserved = 0;
    if (map_len > 0) {
        void *m;
        rc = klog__mmap(fd, map_len, writable, &m);
        if (rc)
            goto fail;
        ix->map = m;
        ix->map_len = map_len;
    }
    ix->fd = fd;
    atomic_store(&ix->entries, ix->map ? valid : 0);
    ix->file_entries = file_entries;
    return 0;
fail:
    klog__close(fd);
    ix->fd = -1;
    return rc;
}

void klog__index_close(klog__index_t *ix)
{
    if (ix->map)
        klog__munmap(ix->map, ix->map_len);
    if (ix->fd >= 0)
        klog__close(ix->fd);
    ix->map = NULL;
    ix->map_len = 0;
    ix->fd = -1;
}

uint32_t klog__index_file_entries(const klog__index_t *ix) { return ix->file_entries; }

int klog__index_full(const klog__index_t *ix)
{
    uint32_t n = atomic_load(&ix->entries);
    if (ix->entry_size == KLOG__OFFIDX_ENTRY)
        return n >= ix->max_entries;
    /* The time index keeps its last slot for the entry written at roll. */
    return ix->max_entries == 0 || n >= ix->max_entries - 1;
}

void klog__offidx_entry(const klog__index_t *ix, uint32_t i, int64_t *off, uint32_t *pos)
{
    const uint8_t *e = ix->map + (size_t)i * KLOG__OFFIDX_ENTRY;
    *off = ix->base + klog__load32(e);
    *pos = klog__load32(e + 4);
}

void klog__timeidx_entry(const klog__index_t *ix, uint32_t i, int64_t *ts, int64_t *off)
{
    const uint8_t *e = ix->map + (size_t)i * KLOG__TIMEIDX_ENTRY;
    *ts = (int64_t)klog__load64(e);
    *off = ix->base + klog__load32(e + 8);
}

int klog__reserve_blocks(int fd, int64_t from, int64_t len)
{
    int rc = klog__fallocate(fd, (off_t)from, (off_t)len);
    if (rc != -EOPNOTSUPP)
        return rc;
    /* No fallocate: write the range's own bytes back (zeros where it is a
     * hole or past the end), which allocates without changing content. */
    uint8_t buf[4096];
    for (int64_t at = from; at < from + len; at += (int64_t)sizeof buf) {
        int64_t n = from + len - at < (int64_t)sizeof buf ? from + len - at : (int64_t)sizeof buf;
        ssize_t got = klog__pread_full(fd, buf, (size_t)n, (off_t)at);
        if (got < 0)
            return (int)got;
        memset(buf + got, 0, (size_t)(n - got));
        rc = klog__pwrite_all(fd, buf, (size_t)n, (off_t)at);
        if (rc)
            return rc;
    }
    return 0;
}

/* Make sure the bytes of entry n are backed by disk blocks: a chunk ahead
 * when the disk has room, else just the entry's own bytes (a full disk
 * after a crash still has the blocks the entries were written into). */
static int reserve_entry(klog__index_t *ix, uint32_t n)
{
    size_t at = (size_t)n * (size_t)ix->entry_size, end = at + (size_t)ix->entry_size;
    if (end <= ix->reserved)
        return 0;
    size_t chunk = 64 * 1024, to = (end + chunk - 1) / chunk * chunk;
    if (to > ix->map_len)
        to = ix->map_len;
    int rc = klog__reserve_blocks(ix->fd, (int64_t)ix->reserved, (int64_t)(to - ix->reserved));
    if (rc == -ENOSPC || rc == -EDQUOT) {
        /* Entries below n are written already, so backed: the prefix
         * stays reserved once entry n is. */
        to = end;
        rc = klog__reserve_blocks(ix->fd, (int64_t)at, (int64_t)(end - at));
    }
    if (rc)
        return rc;
    ix->reserved = to;
    return 0;
}

int klog__offidx_append(klog__index_t *ix, int64_t offset, uint32_t pos)
{
    uint32_t n = atomic_load_explicit(&ix->entries, memory_order_relaxed);
    int64_t rel = offset - ix->base;
    if (rel < 0 || rel > INT32_MAX || pos > INT32_MAX)
        return KLOG_EOFFSET;
    if (n >= ix->max_entries || !ix->map)
        return -ENOSPC;
    if (n > 0) {
        int64_t lo;
        uint32_t lp;
        klog__offidx_entry(ix, n - 1, &lo, &lp);
        if (offset <= lo || pos <= lp)
            return 0; /* not an advance: nothing to record */
    } else if (pos == 0) {
        return 0;
    }
    int rc = reserve_entry(ix, n);
    if (rc)
        return rc;
    uint8_t *e = ix->map + (size_t)n * KLOG__OFFIDX_ENTRY;
    klog__store32(e, (uint32_t)rel);
    klog__store32(e + 4, pos);
    atomic_store_explicit(&ix->entries, n + 1, memory_order_release);
    return 0;
}

int klog__timeidx_append(klog__index_t *ix, int64_t ts, int64_t offset)
{
    uint32_t n = atomic_load_explicit(&ix->entries, memory_order_relaxed);
    int64_t rel = offset - ix->base;
    if (rel < 0 || rel > INT32_MAX)
        return KLOG_EOFFSET;
    int64_t last_ts = -1, last_off = ix->base;
    if (n > 0)
        klog__timeidx_entry(ix, n - 1, &last_ts, &last_off);
    if (ts <= last_ts)
        return 0; /* Kafka skips entries that do not raise the timestamp */
    if (offset < last_off)
        return KLOG_EOFFSET;
    if (n >= ix->max_entries || !ix->map)
        return -ENOSPC;
    int rc = reserve_entry(ix, n);
    if (rc)
        return rc;
    uint8_t *e = ix->map + (size_t)n * KLOG__TIMEIDX_ENTRY;
    klog__store64(e, (uint64_t)ts);
    klog__store32(e + 8, (uint32_t)rel);
    atomic_store_explicit(&ix->entries, n + 1, memory_order_release);
    return 0;
}

void klog__offidx_lookup(const klog__index_t *ix, int64_t target, int64_t *off, uint32_t *pos)
{
    uint32_t n = atomic_load_explicit(&ix->entries, memory_order_acquire);
    *off = ix->base;
    *pos = 0;
    /* Largest entry with offset <= target. */
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t o;
        uint32_t p;
        klog__offidx_entry(ix, mid, &o, &p);
        if (o <= target)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        klog__offidx_entry(ix, lo - 1, off, pos);
}

int64_t klog__timeidx_lookup(const klog__index_t *ix, int64_t ts)
{
    uint32_t n = atomic_load_explicit(&ix->entries, memory_order_acquire);
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t t, o;
        klog__timeidx_entry(ix, mid, &t, &o);
        if (t <= ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return ix->base;
    int64_t t, o;
    klog__timeidx_entry(ix, lo - 1, &t, &o);
    return o;
}

void klog__index_truncate_offset(klog__index_t *ix, int64_t offset)
{
    uint32_t n = atomic_load(&ix->entries);
    while (n > 0) {
        int64_t o, t;
        uint32_t p;
        if (ix->entry_size == KLOG__OFFIDX_ENTRY)
            klog__offidx_entry(ix, n - 1, &o, &p);
        else
            klog__timeidx_entry(ix, n - 1, &t, &o);
        if (o < offset)
            break;
        n--;
    }
    atomic_store(&ix->entries, n);
}

void klog__index_reset(klog__index_t *ix) { atomic_store(&ix->entries, 0); }

int klog__index_trim(klog__index_t *ix)
{
    if (ix->fd < 0)
        return 0;
    uint32_t n = atomic_load(&ix->entries);
    int rc = klog__ftruncate(ix->fd, (off_t)n * ix->entry_size);
    if (!rc) {
        ix->file_entries = n;
        ix->max_entries = n; /* the mapping now reaches past EOF: no more appends */
        ix->reserved = (size_t)n * (size_t)ix->entry_size;
    }
    return rc;
}

int klog__index_sync(klog__index_t *ix)
{
    if (ix->fd < 0)
        return 0;
    return klog__fsync(ix->fd);
}
