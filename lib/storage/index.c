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
 * file) and mapped once; disk blocks are reserved (fallocate) a chunk ahead
 * of the entries, so a full disk makes an append skip an index entry (the
 * index is sparse anyway) instead of killing the process with SIGBUS; appends store the entry then publish the count
 * with a release store, so readers binary-search without locks. Trimming
 * shrinks the file to exactly its entries but keeps the mapping: nothing
 * ever reads past the published count.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "platform/bytes.h"
#include "storage/index.h"

static uint32_t count_valid(const klog__index_t *ix, uint32_t n)
{
    const uint8_t *m = ix->map;
    if (ix->entry_size == KLOG__OFFIDX_ENTRY) {
        uint32_t prev_rel = 0, prev_pos = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t rel = klog__load32(m + (size_t)i * 8);
            uint32_t pos = klog__load32(m + (size_t)i * 8 + 4);
            if (rel > INT32_MAX || pos > INT32_MAX || pos <= prev_pos ||
                (i > 0 && rel <= prev_rel))
                return i;
            prev_rel = rel;
            prev_pos = pos;
        }
        return n;
    }
    int64_t prev_ts = -1;
    uint32_t prev_rel = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t ts = (int64_t)klog__load64(m + (size_t)i * 12);
        uint32_t rel = klog__load32(m + (size_t)i * 12 + 8);
        if (ts <= prev_ts || rel > INT32_MAX || rel < prev_rel)
            return i;
        prev_ts = ts;
        prev_rel = rel;
    }
    return n;
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
    ix->fd = fd;
    ix->reserved = (size_t)len;
    if (map_len > 0) {
        void *m;
        rc = klog__mmap(fd, map_len, writable, &m);
        if (rc)
            goto fail;
        ix->map = m;
        ix->map_len = map_len;
    }
    uint32_t scan = file_entries < ix->max_entries ? file_entries : ix->max_entries;
    atomic_store(&ix->entries, ix->map ? count_valid(ix, scan) : 0);
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
    static const uint8_t zeros[4096];
    for (int64_t at = from; at < from + len; at += (int64_t)sizeof zeros) {
        int64_t n = from + len - at < (int64_t)sizeof zeros ? from + len - at : (int64_t)sizeof zeros;
        rc = klog__pwrite_all(fd, zeros, (size_t)n, (off_t)at);
        if (rc)
            return rc;
    }
    return 0;
}

/* Make sure the bytes of entry n are backed by disk blocks. */
static int reserve_entry(klog__index_t *ix, uint32_t n)
{
    size_t end = ((size_t)n + 1) * (size_t)ix->entry_size;
    if (end <= ix->reserved)
        return 0;
    size_t chunk = 64 * 1024, to = (end + chunk - 1) / chunk * chunk;
    if (to > ix->map_len)
        to = ix->map_len;
    int rc = klog__reserve_blocks(ix->fd, (int64_t)ix->reserved, (int64_t)(to - ix->reserved));
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
