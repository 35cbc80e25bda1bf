/*
 * fuzz_index.c — loading .index and .timeindex files of arbitrary bytes.
 *
 * Input: [u8 flags][u8 base selector][file bytes]. flags bit 0: time index
 * (12-byte entries) instead of offset index (8-byte); bit 1: open writable
 * (the active segment's way: preallocated to 4 KiB, mapped read-write);
 * bit 2: also append an entry after loading. The file is written to a
 * temporary path and opened with klog__index_open; then lookups for a set
 * of targets (and the entries one by one) must respect what the loader
 * promises: the entry count is a prefix of the file, entries strictly
 * increase, and a lookup answers an entry at or below its target (or the
 * base). Nothing may read outside the mapping (ASan).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > (1 << 16))
        return 0;
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/klog-fuzz-index-%ld", dir, (long)getpid());
    }
    static const int64_t bases[] = {0, 1, 1000, (int64_t)1 << 40, INT64_MAX - ((int64_t)1 << 32)};
    unsigned flags = data[0];
    int64_t base = bases[data[1] % 5];
    int tidx = flags & 1, writable = (flags & 2) != 0;
    int esize = tidx ? KLOG__TIMEIDX_ENTRY : KLOG__OFFIDX_ENTRY;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (size > 2 && write(fd, data + 2, size - 2) != (ssize_t)(size - 2))
        abort();
    close(fd);
    klog__index_t ix;
    int rc = klog__index_open(&ix, path, esize, base, 4096, writable, 0);
    if (rc) {
        if (rc > 0)
            abort();
        unlink(path);
        return 0;
    }
    uint32_t n = atomic_load(&ix.entries);
    if (n > klog__index_file_entries(&ix) && !writable)
        abort();
    if ((size_t)n * (size_t)esize > ix.map_len)
        abort();
    int64_t prev_off = INT64_MIN, prev_ts = INT64_MIN;
    uint32_t prev_pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (tidx) {
            int64_t ts, off;
            klog__timeidx_entry(&ix, i, &ts, &off);
            if (ts <= prev_ts || off < prev_off || off < base)
                abort();
            prev_ts = ts;
            prev_off = off;
        } else {
            int64_t off;
            uint32_t pos;
            klog__offidx_entry(&ix, i, &off, &pos);
            if ((i > 0 && off <= prev_off) || pos <= prev_pos || off < base)
                abort();
            prev_off = off;
            prev_pos = pos;
        }
    }
    static const int64_t targets[] = {INT64_MIN, -1, 0, 1, 7, 1000, 1700000000000LL,
                                      INT32_MAX, (int64_t)1 << 40, INT64_MAX};
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        int64_t t = targets[k];
        if (tidx) {
            int64_t off = klog__timeidx_lookup(&ix, t);
            if (off < base)
                abort();
        } else {
            int64_t off;
            uint32_t pos;
            klog__offidx_lookup(&ix, t, &off, &pos);
            if (off != base && (off > t || off < base))
                abort();
            if (off == base && pos != 0 && n == 0)
                abort();
        }
    }
    if (writable && (flags & 4) && !klog__index_full(&ix) && prev_ts < INT64_MAX &&
        prev_off < INT64_MAX && prev_pos < UINT32_MAX) {
        if (tidx)
            rc = klog__timeidx_append(&ix, prev_ts == INT64_MIN ? 0 : prev_ts + 1,
                                      prev_off == INT64_MIN ? base : prev_off);
        else
            rc = klog__offidx_append(&ix, prev_off == INT64_MIN ? base + 1 : prev_off + 1,
                                     prev_pos + 1);
        uint32_t now = atomic_load(&ix.entries);
        if (rc > 0 || (rc == 0 && now != n && now != n + 1) || (rc < 0 && now != n))
            abort();
        klog__index_truncate_offset(&ix, base + 1);
        if (atomic_load(&ix.entries) > now)
            abort();
        if (klog__index_trim(&ix) > 0)
            abort();
    }
    klog__index_close(&ix);
    unlink(path);
    return 0;
}
