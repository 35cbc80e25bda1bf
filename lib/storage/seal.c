/*
 * seal.c — segment seals and file digests.
 *
 * When a segment rolls, the partition trims and fsyncs its indexes and
 * writes "<20-digit base offset>.seal" beside the .log. The seal is what lets
 * open trust a sealed segment without reading it: its facts are checked
 * against the directory (sizes, the next segment's base offset) instead of
 * scanning batches. Kafka ignores the file (it only looks at .log, .index,
 * .timeindex, .txnindex and a few others).
 *
 * LAYOUT (KLOG__SEAL_SIZE = 80 bytes, all integers big-endian)
 *   offset size field
 *        0    8 magic "KLOGSEAL"
 *        8    4 u32 format version, 1
 *       12    4 reserved, zero
 *       16    8 i64 base_offset        first offset of the segment (its name)
 *       24    8 i64 next_offset        last offset + 1 of its last batch
 *       32    8 i64 max_timestamp      largest batch maxTimestamp, -1 if none
 *       40    8 i64 max_ts_offset      last offset of the batch holding it, -1
 *       48    8 i64 log_size           bytes of the .log
 *       56    8 u64 log_digest         XXH3-64 of those log_size bytes
 *       64    4 u32 index_entries      entries in the trimmed .index
 *       68    4 u32 timeindex_entries  entries in the trimmed .timeindex
 *       72    8 u64 XXH3-64 (seed 0) of bytes [0, 72)
 *   The 64-bit fields sit on 8-byte boundaries only for readability: every
 *   access goes through the load/store helpers of bytes.h.
 *
 * WHAT IS VALID
 *   Exactly 80 bytes, the magic, version 1 (another version is
 *   KLOG_EVERSION: a newer libklog wrote it, and it may even have another
 *   size, so the version is checked before the length and the checksum),
 *   the checksum, zero reserved bytes, and facts that can describe a Kafka
 *   segment: 0 <= base_offset <= next_offset, next_offset - base_offset
 *   fits the int32 relative offsets of the indexes (+1), log_size >= 0, and
 *   either no timestamp (max_timestamp and max_ts_offset both -1) or
 *   max_ts_offset inside [base_offset, next_offset). Anything else is
 *   KLOG_ECORRUPT. The checksum makes a torn or bit-flipped seal an error
 *   rather than a wrong fact; the consistency checks catch a seal that was
 *   written from wrong numbers.
 *
 * The digest of the .log is not checked here (that needs the .log): it is
 * for verify/scrub, computed with klog__file_digest() in 1 MiB preads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/files.h"

#define SEAL_MAGIC "KLOGSEAL"
#define SEAL_VERSION 1u
#define SEAL_BODY (KLOG__SEAL_SIZE - 8) /* bytes covered by the checksum */
#define DIGEST_CHUNK (1u << 20)

_Static_assert(KLOG__SEAL_SIZE == 80, "seal layout below assumes 80 bytes");

void klog__seal_encode(const klog__seal_t *s, uint8_t *buf)
{
    memcpy(buf, SEAL_MAGIC, 8);
    klog__store32(buf + 8, SEAL_VERSION);
    klog__store32(buf + 12, 0);
    klog__store64(buf + 16, (uint64_t)s->base_offset);
    klog__store64(buf + 24, (uint64_t)s->next_offset);
    klog__store64(buf + 32, (uint64_t)s->max_timestamp);
    klog__store64(buf + 40, (uint64_t)s->max_ts_offset);
    klog__store64(buf + 48, (uint64_t)s->log_size);
    klog__store64(buf + 56, s->log_digest);
    klog__store32(buf + 64, s->index_entries);
    klog__store32(buf + 68, s->timeindex_entries);
    klog__store64(buf + SEAL_BODY, XXH3_64bits(buf, SEAL_BODY));
}

/* The facts a seal states must be able to describe a segment. */
static int seal_consistent(const klog__seal_t *s)
{
    if (s->base_offset < 0 || s->next_offset < s->base_offset || s->log_size < 0)
        return 0;
    if (s->next_offset - s->base_offset > (int64_t)INT32_MAX + 1)
        return 0;
    if (s->max_timestamp == -1 || s->max_ts_offset == -1)
        return s->max_timestamp == -1 && s->max_ts_offset == -1;
    return s->max_ts_offset >= s->base_offset && s->max_ts_offset < s->next_offset;
}

int klog__seal_decode(const uint8_t *buf, size_t len, klog__seal_t *out)
{
    klog__seal_t s;
    if (len < 12 || memcmp(buf, SEAL_MAGIC, 8) != 0)
        return KLOG_ECORRUPT;
    if (klog__load32(buf + 8) != SEAL_VERSION)
        return KLOG_EVERSION;
    if (len != KLOG__SEAL_SIZE || klog__load64(buf + SEAL_BODY) != XXH3_64bits(buf, SEAL_BODY) ||
        klog__load32(buf + 12) != 0)
        return KLOG_ECORRUPT;
    s.base_offset = (int64_t)klog__load64(buf + 16);
    s.next_offset = (int64_t)klog__load64(buf + 24);
    s.max_timestamp = (int64_t)klog__load64(buf + 32);
    s.max_ts_offset = (int64_t)klog__load64(buf + 40);
    s.log_size = (int64_t)klog__load64(buf + 48);
    s.log_digest = klog__load64(buf + 56);
    s.index_entries = klog__load32(buf + 64);
    s.timeindex_entries = klog__load32(buf + 68);
    if (!seal_consistent(&s))
        return KLOG_ECORRUPT;
    *out = s;
    return 0;
}

int klog__seal_write(const char *dir, const char *name, const klog__seal_t *s)
{
    uint8_t buf[KLOG__SEAL_SIZE];
    /* Refuse to persist a seal that our own reader would reject. */
    if (!seal_consistent(s))
        return -EINVAL;
    klog__seal_encode(s, buf);
    return klog__write_file_atomic(dir, name, buf, sizeof buf);
}

int klog__seal_read(const char *path, klog__seal_t *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    /* Read a little more than a seal so a longer file is seen as such. */
    int rc = klog__read_file(path, 4096, &buf, &len);
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    rc = klog__seal_decode(buf, len, out);
    free(buf);
    return rc;
}

int klog__file_digest(int fd, int64_t size, uint64_t *digest)
{
    if (size < 0)
        return -EINVAL;
    size_t chunk = (uint64_t)size < DIGEST_CHUNK ? (size_t)size : DIGEST_CHUNK;
    uint8_t *buf = klog__malloc(chunk);
    if (!buf)
        return -ENOMEM;
    XXH3_state_t *st = XXH3_createState();
    int rc = -ENOMEM;
    if (!st)
        goto fail_state;
    XXH3_64bits_reset(st);
    for (int64_t off = 0; off < size;) {
        size_t want = (uint64_t)(size - off) < chunk ? (size_t)(size - off) : chunk;
        ssize_t n = klog__pread_full(fd, buf, want, (off_t)off);
        if (n < 0) {
            rc = (int)n;
            goto fail_read;
        }
        if ((size_t)n < want) {
            rc = KLOG_ECORRUPT; /* the file is shorter than the caller says */
            goto fail_read;
        }
        XXH3_64bits_update(st, buf, want);
        off += (int64_t)want;
    }
    *digest = XXH3_64bits_digest(st);
    rc = 0;
fail_read:
    XXH3_freeState(st);
fail_state:
    free(buf);
    return rc;
}
