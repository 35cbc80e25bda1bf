/*
 * pstate_snapshot.c — producer state snapshots, "<20-digit offset>.snapshot"
 * in the partition directory, byte for byte as Kafka's ProducerStateManager
 * writes them (kafka-format.md 3.6). The offset in the name is the next
 * offset the snapshot covers: replaying the log from there rebuilds the rest.
 *
 * LAYOUT (big-endian)
 *   offset size field
 *        0    2 int16 version, 1
 *        2    4 uint32 CRC-32C (Castagnoli) of bytes [6, end)
 *        6    4 int32 entry count
 *       10   46 entries, each:
 *                 0 8 producerId         8 2 epoch
 *                10 4 lastSequence      14 8 lastOffset
 *                22 4 offsetDelta       26 8 timestamp
 *                34 4 coordinatorEpoch  38 8 currentTxnFirstOffset (-1 none)
 *   Only the last batch of each producer is kept (Kafka does the same), so
 *   after a reload duplicates are recognised against that batch only until
 *   five new ones have been appended.
 *
 * WHAT IS VALID
 *   Version 1 (another is KLOG_EVERSION; Kafka calls it corrupt, and both
 *   just cost a rescan), the CRC, a count >= 0 with exactly count entries and
 *   no trailing bytes (Kafka tolerates trailing bytes under the CRC; it never
 *   writes any), and entries Kafka could have written: producerId >= 0,
 *   epoch >= -1, currentTxnFirstOffset >= -1, and either no batch
 *   (lastOffset -1 with lastSequence -1 and offsetDelta 0, as Kafka writes a
 *   producer known only from a marker) or lastOffset >= offsetDelta >= 0 and
 *   lastSequence >= -1. A producer id listed twice is KLOG_ECORRUPT when
 *   loaded. Everything else is KLOG_ECORRUPT; the decoder never reads
 *   outside its buffer. Decoding then encoding gives back the same bytes.
 *
 * FILES
 *   Written through klog__write_file_atomic (name.tmp, fsync, rename, fsync
 *   directory), so a crash leaves the old set of snapshots or the new one,
 *   never a torn file under the real name; Kafka's own listing (and ours)
 *   ignores the ".tmp". A snapshot that fails to decode on reload is
 *   reported, deleted and the next older one tried, as Kafka does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/producer_state.h"

#define SNAPSHOT_VERSION 1
#define SNAPSHOT_MAX_FILE (1u << 30)

static void put_entry(uint8_t *p, const klog__producer_t *e)
{
    const klog__pbatch_t *b = e->nbatches ? &e->batches[e->nbatches - 1] : NULL;
    klog__store64(p, (uint64_t)e->producer_id);
    klog__store16(p + 8, (uint16_t)e->epoch);
    klog__store32(p + 10, (uint32_t)(b ? b->last_seq : -1));
    klog__store64(p + 14, (uint64_t)(b ? b->last_offset : -1));
    klog__store32(p + 22, (uint32_t)(b ? b->offset_delta : 0));
    klog__store64(p + 26, (uint64_t)e->last_timestamp);
    klog__store32(p + 34, (uint32_t)e->coordinator_epoch);
    klog__store64(p + 38, (uint64_t)e->txn_first_offset);
}

static int finish(klog__buf_t *out, size_t start, size_t n)
{
    uint8_t *h = out->data + start;
    klog__store16(h, SNAPSHOT_VERSION);
    klog__store32(h + 6, (uint32_t)n);
    size_t len = KLOG__SNAPSHOT_HEADER_SIZE + n * KLOG__SNAPSHOT_ENTRY_SIZE;
    klog__store32(h + 2, klog_crc32c(0, h + 6, len - 6));
    out->len = start + len;
    return 0;
}

static int begin(klog__buf_t *out, size_t n, size_t *start)
{
    if (n > (size_t)INT32_MAX || n > (SNAPSHOT_MAX_FILE - KLOG__SNAPSHOT_HEADER_SIZE) /
                                         KLOG__SNAPSHOT_ENTRY_SIZE)
        return -EINVAL;
    int rc = klog__buf_reserve(out, KLOG__SNAPSHOT_HEADER_SIZE + n * KLOG__SNAPSHOT_ENTRY_SIZE);
    if (rc)
        return rc;
    *start = out->len;
    return 0;
}

int klog__snapshot_encode(const klog__producer_t *entries, size_t n, klog__buf_t *out)
{
    size_t start;
    int rc = begin(out, n, &start);
    if (rc)
        return rc;
    uint8_t *p = out->data + start + KLOG__SNAPSHOT_HEADER_SIZE;
    for (size_t i = 0; i < n; i++)
        put_entry(p + i * KLOG__SNAPSHOT_ENTRY_SIZE, &entries[i]);
    return finish(out, start, n);
}

int klog__snapshot_encode_state(const klog__pstate_t *ps, klog__buf_t *out)
{
    size_t n = klog__pstate_count(ps), start;
    int rc = begin(out, n, &start);
    if (rc)
        return rc;
    uint8_t *p = out->data + start + KLOG__SNAPSHOT_HEADER_SIZE;
    for (size_t i = 0; i < n; i++)
        put_entry(p + i * KLOG__SNAPSHOT_ENTRY_SIZE, klog__pstate_at(ps, i));
    return finish(out, start, n);
}

/* One 46-byte entry into e; 0 or KLOG_ECORRUPT. */
static int get_entry(const uint8_t *p, klog__producer_t *e)
{
    int32_t last_seq = (int32_t)klog__load32(p + 10);
    int64_t last_offset = (int64_t)klog__load64(p + 14);
    int32_t delta = (int32_t)klog__load32(p + 22);
    memset(e, 0, sizeof *e);
    e->producer_id = (int64_t)klog__load64(p);
    e->epoch = (int16_t)klog__load16(p + 8);
    e->last_timestamp = (int64_t)klog__load64(p + 26);
    e->coordinator_epoch = (int32_t)klog__load32(p + 34);
    e->txn_first_offset = (int64_t)klog__load64(p + 38);
    if (e->producer_id < 0 || e->epoch < -1 || e->txn_first_offset < -1)
        return KLOG_ECORRUPT;
    if (last_offset == -1)
        return last_seq == -1 && delta == 0 ? 0 : KLOG_ECORRUPT;
    if (last_offset < 0 || delta < 0 || delta > last_offset || last_seq < -1)
        return KLOG_ECORRUPT;
    e->nbatches = 1;
    e->batches[0].last_seq = last_seq;
    e->batches[0].offset_delta = delta;
    e->batches[0].last_offset = last_offset;
    e->batches[0].timestamp = e->last_timestamp;
    return 0;
}

int klog__snapshot_decode(const uint8_t *buf, size_t len, klog__producer_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len < 2)
        return KLOG_ECORRUPT;
    if ((int16_t)klog__load16(buf) != SNAPSHOT_VERSION)
        return KLOG_EVERSION;
    if (len < KLOG__SNAPSHOT_HEADER_SIZE || klog__load32(buf + 2) != klog_crc32c(0, buf + 6, len - 6))
        return KLOG_ECORRUPT;
    int32_t count = (int32_t)klog__load32(buf + 6);
    if (count < 0 || (len - KLOG__SNAPSHOT_HEADER_SIZE) % KLOG__SNAPSHOT_ENTRY_SIZE != 0 ||
        (len - KLOG__SNAPSHOT_HEADER_SIZE) / KLOG__SNAPSHOT_ENTRY_SIZE != (size_t)count)
        return KLOG_ECORRUPT;
    klog__producer_t *v = klog__calloc(count ? (size_t)count : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (int32_t i = 0; i < count; i++) {
        if (get_entry(buf + KLOG__SNAPSHOT_HEADER_SIZE + (size_t)i * KLOG__SNAPSHOT_ENTRY_SIZE,
                      &v[i])) {
            free(v);
            return KLOG_ECORRUPT;
        }
    }
    *out = v;
    *n = (size_t)count;
    return 0;
}

/* ---------------------------------------------------------------- files */

void klog__snapshot_name(int64_t offset, char *name)
{
    snprintf(name, 32, "%020" PRId64 KLOG__SNAPSHOT_SUFFIX, offset);
}

int64_t klog__snapshot_offset_of(const char *name)
{
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        if (v > (INT64_MAX - (name[i] - '0')) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return strcmp(name + 20, KLOG__SNAPSHOT_SUFFIX) == 0 ? v : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct snap_listing {
    int64_t *v;
    size_t n, cap;
} snap_listing_t;

static int list_one(void *ctx, const char *name)
{
    snap_listing_t *ls = ctx;
    int64_t off = klog__snapshot_offset_of(name);
    if (off < 0)
        return 0;
    if (ls->n == ls->cap) {
        size_t ncap = ls->cap ? ls->cap * 2 : 8;
        int64_t *nv = klog__realloc(ls->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        ls->v = nv;
        ls->cap = ncap;
    }
    ls->v[ls->n++] = off;
    return 0;
}

int klog__snapshot_list(const char *dir, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    snap_listing_t ls = {0};
    int rc = klog__dir_list(dir, list_one, &ls); /* the I/O seam's listing */
    if (rc) {
        free(ls.v);
        return rc;
    }
    if (ls.n)
        qsort(ls.v, ls.n, sizeof *ls.v, cmp_i64);
    *out = ls.v;
    *n = ls.n;
    return 0;
}

int klog__snapshot_delete(const char *dir, int64_t offset)
{
    char name[32];
    klog__snapshot_name(offset, name);
    char *path = klog__asprintf("%s/%s", dir, name);
    if (!path)
        return -ENOMEM;
    int rc = klog__unlink(path);
    free(path);
    return rc == -ENOENT ? 0 : rc;
}

int klog__pstate_take_snapshot(klog__pstate_t *ps, const char *dir)
{
    return klog__pstate_write_snapshot(ps, dir, 1);
}

int klog__pstate_write_snapshot(klog__pstate_t *ps, const char *dir, int sync)
{
    int64_t end = klog__pstate_end_offset(ps);
    if (end <= klog__pstate_snapshot_offset(ps))
        return 0; /* nothing new since the last one (Kafka skips it too) */
    klog__buf_t b = {0};
    char name[32];
    int rc = klog__snapshot_encode_state(ps, &b);
    if (!rc) {
        klog__snapshot_name(end, name);
        rc = sync ? klog__write_file_atomic(dir, name, b.data, b.len)
                  : klog__write_file_replace(dir, name, b.data, b.len);
    }
    klog__buf_free(&b);
    if (!rc)
        klog__pstate_set_offsets(ps, -1, end);
    return rc;
}

int klog__snapshot_load(klog__pstate_t *ps, const char *dir, int64_t offset, int64_t now_ms)
{
    char name[32];
    klog__snapshot_name(offset, name);
    char *path = klog__asprintf("%s/%s", dir, name);
    if (!path)
        return -ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0, n = 0;
    klog__producer_t *v = NULL;
    int rc = klog__read_file(path, SNAPSHOT_MAX_FILE, &buf, &len);
    free(path);
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    rc = klog__snapshot_decode(buf, len, &v, &n);
    free(buf);
    klog__pstate_reset(ps, offset);
    for (size_t i = 0; !rc && i < n; i++)
        if (!klog__pstate_is_expired(ps, &v[i], now_ms))
            rc = klog__pstate_load_entry(ps, &v[i]);
    free(v);
    if (rc) {
        klog__pstate_reset(ps, offset);
        return rc;
    }
    klog__pstate_set_offsets(ps, offset, offset);
    return 0;
}

int klog__snapshot_delete_before(const char *dir, int64_t before)
{
    int64_t *v;
    size_t n;
    int rc = klog__snapshot_list(dir, &v, &n);
    for (size_t i = 0; !rc && i < n && v[i] < before; i++)
        rc = klog__snapshot_delete(dir, v[i]);
    free(v);
    return rc;
}

/* Drop v[i] from the ascending list v[0..*n). */
static void list_drop(int64_t *v, size_t *n, size_t i)
{
    memmove(v + i, v + i + 1, (*n - i - 1) * sizeof *v);
    (*n)--;
}

int klog__snapshot_remove_strays(const char *dir, int64_t *v, size_t *n, const int64_t *bases,
                                 size_t nbases)
{
    int64_t max_base = -1;
    size_t stray = SIZE_MAX; /* index in v of the newest unmatched one so far */
    int rc = 0;
    for (size_t i = 0; i < nbases; i++)
        if (bases[i] > max_base)
            max_base = bases[i];
    for (size_t i = 0; !rc && i < *n;) {
        int matched = 0;
        for (size_t k = 0; k < nbases && !matched; k++)
            matched = bases[k] == v[i];
        if (matched) {
            i++;
            continue;
        }
        /* Only the newest unmatched one may be a clean shutdown's. */
        if (stray != SIZE_MAX) {
            if ((rc = klog__snapshot_delete(dir, v[stray])) != 0)
                break;
            list_drop(v, n, stray);
            i--;
        }
        stray = i++;
    }
    if (!rc && stray != SIZE_MAX && max_base >= 0 && v[stray] < max_base &&
        (rc = klog__snapshot_delete(dir, v[stray])) == 0)
        list_drop(v, n, stray);
    return rc;
}

int klog__pstate_truncate_and_reload(klog__pstate_t *ps, const char *dir, int64_t log_start,
                                     int64_t log_end, int64_t now_ms, const klog__logger_t *lg,
                                     int64_t *replay_from)
{
    int64_t *v;
    size_t n;
    int rc = klog__snapshot_list(dir, &v, &n);
    if (rc)
        return rc;
    rc = klog__pstate_reload_listed(ps, dir, v, n, log_start, log_end, log_end, now_ms, lg,
                                    replay_from);
    free(v);
    return rc;
}

int klog__pstate_reload_listed(klog__pstate_t *ps, const char *dir, int64_t *v, size_t n,
                               int64_t log_start, int64_t log_end, int64_t load_max,
                               int64_t now_ms, const klog__logger_t *lg, int64_t *replay_from)
{
    size_t keep = 0;
    int rc = 0;
    /* Snapshots outside (log_start, log_end] describe data that is gone. */
    for (size_t i = 0; i < n; i++) {
        if (v[i] > log_end || v[i] <= log_start) {
            if ((rc = klog__snapshot_delete(dir, v[i])) != 0)
                goto out;
        } else if (v[i] <= load_max) {
            v[keep++] = v[i]; /* the candidates; those above load_max stay unread */
        }
    }
    if (load_max == klog__pstate_end_offset(ps)) {
        klog__pstate_log_start_moved(ps, log_start, keep ? v[keep - 1] : -1);
        goto out;
    }
    klog__pstate_reset(ps, log_start);
    klog__pstate_set_offsets(ps, -1, log_start);
    while (keep > 0) {
        int64_t off = v[--keep];
        rc = klog__snapshot_load(ps, dir, off, now_ms);
        if (rc == 0)
            break;
        if (rc != KLOG_ECORRUPT && rc != KLOG_EVERSION)
            goto out;
        klog__log(lg, KLOG_LOG_WARN,
                  "%s: producer snapshot %020" PRId64 ".snapshot unreadable (%s), deleted;"
                  " rebuilding from the log",
                  dir, off, klog_strerror(rc));
        klog__pstate_reset(ps, log_start);
        klog__pstate_set_offsets(ps, -1, log_start);
        if ((rc = klog__snapshot_delete(dir, off)) != 0)
            goto out;
    }
out:
    if (!rc)
        *replay_from = klog__pstate_end_offset(ps);
    return rc;
}
