/*
 * index.h — the offset and time index files of one segment (index.c).
 * Private to the storage layer.
 */
#ifndef KLOG_STORAGE_INDEX_H
#define KLOG_STORAGE_INDEX_H

#include <stdatomic.h>

#include "platform/platform.h"

/*
 * One mmap'd index file: .index (8-byte entries: u32 relative offset,
 * u32 position) or .timeindex (12-byte entries: i64 timestamp, u32
 * relative offset). Big-endian, no header (kafka-format.md 3.3-3.8).
 */
typedef struct klog__index {
    int fd;
    uint8_t *map;
    size_t map_len;        /* bytes mapped */
    _Atomic uint32_t entries; /* valid entries (published with release) */
    uint32_t max_entries;  /* capacity of the preallocated file */
    uint32_t file_entries; /* file length / entry size */
    size_t reserved;       /* bytes from 0 with disk blocks reserved (writable) */
    int entry_size;        /* 8 or 12 */
    int64_t base;          /* segment base offset */
} klog__index_t;

#define KLOG__OFFIDX_ENTRY 8
#define KLOG__TIMEIDX_ENTRY 12

/* Open (or create) path. writable: preallocate the file to max_bytes and
 * map read-write (the active segment); else map the file as it is. The
 * entry count is the longest valid prefix (strictly increasing entries),
 * which also discards a zero-filled tail. */
KLOG__HIDDEN int klog__index_open(klog__index_t *ix, const char *path, int entry_size, int64_t base,
                                  size_t max_bytes, int writable, int create);
KLOG__HIDDEN void klog__index_close(klog__index_t *ix);
/* Entries the file claims (file length / entry size) vs the valid prefix:
 * different means damaged. */
KLOG__HIDDEN uint32_t klog__index_file_entries(const klog__index_t *ix);
KLOG__HIDDEN int klog__index_full(const klog__index_t *ix);
KLOG__HIDDEN int klog__offidx_append(klog__index_t *ix, int64_t offset, uint32_t pos);
KLOG__HIDDEN int klog__timeidx_append(klog__index_t *ix, int64_t ts, int64_t offset);
/* Largest entry with offset <= target: (offset, position); else (base, 0). */
KLOG__HIDDEN void klog__offidx_lookup(const klog__index_t *ix, int64_t target, int64_t *off,
                                      uint32_t *pos);
/* Largest entry with timestamp <= ts: its offset; else base. */
KLOG__HIDDEN int64_t klog__timeidx_lookup(const klog__index_t *ix, int64_t ts);
KLOG__HIDDEN void klog__offidx_entry(const klog__index_t *ix, uint32_t i, int64_t *off,
                                     uint32_t *pos);
KLOG__HIDDEN void klog__timeidx_entry(const klog__index_t *ix, uint32_t i, int64_t *ts,
                                      int64_t *off);
/* Drop entries whose offset is >= offset (truncation). */
KLOG__HIDDEN void klog__index_truncate_offset(klog__index_t *ix, int64_t offset);
KLOG__HIDDEN void klog__index_reset(klog__index_t *ix);
/* Reserve disk blocks for [from, from + len) of fd: fallocate, or writing
 * zeros where fallocate is unsupported. 0 or -errno (-ENOSPC). */
KLOG__HIDDEN int klog__reserve_blocks(int fd, int64_t from, int64_t len);
/* Set the file length to exactly entries * entry_size (mapping kept). */
KLOG__HIDDEN int klog__index_trim(klog__index_t *ix);
KLOG__HIDDEN int klog__index_sync(klog__index_t *ix);

#endif
