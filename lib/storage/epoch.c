/*
 * epoch.c — the leader-epoch cache of a partition and its
 * `leader-epoch-checkpoint` file, as Kafka's LeaderEpochFileCache and
 * LeaderEpochCheckpointFile keep them (kafka-format.md section 4).
 *
 * LAYOUT
 *   A UTF-8 text file in the partition directory, '\n' after every line:
 *
 *     0            format version
 *     2            number of entry lines
 *     0 0          <epoch> <start offset>, ascending
 *     3 1200
 *
 *   Written with klog__write_file_atomic (".tmp", fsync, rename, fsync
 *   directory), as Kafka's CheckpointFile writes it.
 *
 * WHAT IS VALID (the reader mirrors Kafka's CheckpointFile)
 *   An empty file, or one ending after the version line, has no entries.
 *   Lines end at "\n", "\r\n" or "\r" (Java's readLine); the version and
 *   count lines are bare decimal integers (optional sign, int32); a version
 *   other than 0 is KLOG_EVERSION. Each entry line splits on runs of
 *   whitespace into exactly two fields, an int32 epoch and an int64 offset,
 *   both >= 0 (Kafka's assign throws on negatives); the number of entry lines
 *   must equal the count. Anything else is KLOG_ECORRUPT. Entries that
 *   break monotonicity are not an error: loading assigns them one by one,
 *   which drops the ones a later entry contradicts, exactly as Kafka does.
 *
 * INVARIANT
 *   Entries are strictly increasing in both epoch and start offset.
 *   klog__epoch_assign keeps it by removing, from the end, every entry that
 *   a new one contradicts before appending it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/epoch.h"
#include "storage/files.h"

#define EPOCH_MAX_FILE (64u << 20)

struct klog__epoch_cache {
    char *dir;
    klog__epoch_entry_t *v;
    size_t n, cap;
};

/* ---------------------------------------------------------------- text */

int klog__epoch_parse(const uint8_t *buf, size_t len, klog__epoch_entry_t **out, size_t *n)
{
    klog__lines_t r = {buf, buf + len};
    const uint8_t *s;
    size_t sl, cnt = 0, cap = 0;
    int64_t version, expected;
    klog__epoch_entry_t *v = NULL;

    *out = NULL;
    *n = 0;
    if (!klog__ckpt_next_line(&r, &s, &sl))
        return 0;
    if (klog__ckpt_parse_int(s, sl, INT32_MIN, INT32_MAX, &version))
        return KLOG_ECORRUPT;
    if (version != 0)
        return KLOG_EVERSION;
    if (!klog__ckpt_next_line(&r, &s, &sl))
        return 0;
    if (klog__ckpt_parse_int(s, sl, 0, INT32_MAX, &expected))
        return KLOG_ECORRUPT;
    while (klog__ckpt_next_line(&r, &s, &sl)) {
        const uint8_t *f[2];
        size_t fl[2];
        int64_t epoch, off;
        if ((int64_t)cnt >= expected || klog__ckpt_split(s, sl, 2, f, fl) ||
            klog__ckpt_parse_int(f[0], fl[0], 0, INT32_MAX, &epoch) ||
            klog__ckpt_parse_int(f[1], fl[1], 0, INT64_MAX, &off))
            goto corrupt;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            klog__epoch_entry_t *nv = klog__realloc(v, ncap * sizeof *nv);
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[cnt].epoch = (int32_t)epoch;
        v[cnt].start_offset = off;
        cnt++;
    }
    if ((int64_t)cnt != expected)
        goto corrupt;
    *out = v;
    *n = cnt;
    return 0;
corrupt:
    free(v);
    return KLOG_ECORRUPT;
}

int klog__epoch_format(const klog__epoch_entry_t *v, size_t n, klog__buf_t *out)
{
    char line[48];
    int len = snprintf(line, sizeof line, "0\n%zu\n", n);
    int rc = klog__buf_append(out, line, (size_t)len);
    for (size_t i = 0; !rc && i < n; i++) {
        if (v[i].epoch < 0 || v[i].start_offset < 0)
            return -EINVAL; /* never write what a reader would refuse */
        len = snprintf(line, sizeof line, "%" PRId32 " %" PRId64 "\n", v[i].epoch,
                       v[i].start_offset);
        rc = klog__buf_append(out, line, (size_t)len);
    }
    return rc;
}

/* ---------------------------------------------------------------- cache */

int klog__epoch_assign(klog__epoch_cache_t *c, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0 || start_offset < 0)
        return -EINVAL;
    if (c->n) {
        const klog__epoch_entry_t *last = &c->v[c->n - 1];
        if (last->epoch == epoch && start_offset >= last->start_offset)
            return 0; /* Kafka's isUpdateNeeded */
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        klog__epoch_entry_t *nv = klog__realloc(c->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        c->v = nv;
        c->cap = ncap;
    }
    while (c->n && (c->v[c->n - 1].epoch >= epoch || c->v[c->n - 1].start_offset >= start_offset))
        c->n--;
    c->v[c->n].epoch = epoch;
    c->v[c->n].start_offset = start_offset;
    c->n++;
    return 1;
}

int klog__epoch_truncate_end(klog__epoch_cache_t *c, int64_t end_offset)
{
    if (end_offset < 0 || c->n == 0 || c->v[c->n - 1].start_offset < end_offset)
        return 0;
    while (c->n && c->v[c->n - 1].start_offset >= end_offset)
        c->n--;
    return 1;
}

int klog__epoch_truncate_start(klog__epoch_cache_t *c, int64_t start_offset)
{
    size_t k = 0;
    if (start_offset < 0)
        return 0;
    while (k < c->n && c->v[k].start_offset <= start_offset)
        k++;
    if (k == 0)
        return 0;
    /* The last removed epoch now starts where the log does. */
    int32_t epoch = c->v[k - 1].epoch;
    memmove(c->v + 1, c->v + k, (c->n - k) * sizeof *c->v);
    c->n -= k - 1;
    c->v[0].epoch = epoch;
    c->v[0].start_offset = start_offset;
    return 1;
}

void klog__epoch_clear(klog__epoch_cache_t *c) { c->n = 0; }

void klog__epoch_end_offset(const klog__epoch_cache_t *c, int32_t requested, int64_t log_end,
                            int32_t *epoch_out, int64_t *offset_out)
{
    *epoch_out = -1;
    *offset_out = -1;
    if (requested == -1 || c->n == 0)
        return;
    if (c->v[c->n - 1].epoch == requested) {
        *epoch_out = requested;
        *offset_out = log_end;
        return;
    }
    size_t hi = 0; /* first entry with epoch > requested */
    while (hi < c->n && c->v[hi].epoch <= requested)
        hi++;
    if (hi == c->n)
        return; /* above every known epoch */
    *epoch_out = hi == 0 ? requested : c->v[hi - 1].epoch;
    *offset_out = c->v[hi].start_offset;
}

int32_t klog__epoch_latest(const klog__epoch_cache_t *c)
{
    return c->n ? c->v[c->n - 1].epoch : -1;
}

int32_t klog__epoch_for_offset(const klog__epoch_cache_t *c, int64_t offset)
{
    int32_t prev = -1;
    for (size_t i = 0; i < c->n && c->v[i].start_offset <= offset; i++)
        prev = c->v[i].epoch;
    return prev;
}

size_t klog__epoch_count(const klog__epoch_cache_t *c) { return c->n; }

const klog__epoch_entry_t *klog__epoch_at(const klog__epoch_cache_t *c, size_t i)
{
    return i < c->n ? &c->v[i] : NULL;
}

/* ---------------------------------------------------------------- files */

int klog__epoch_open(const char *dir, int listed, klog__epoch_cache_t **out)
{
    klog__epoch_cache_t *c = klog__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->dir = klog__strdup(dir);
    char *path = klog__asprintf("%s/%s", dir, KLOG__EPOCH_CHECKPOINT);
    uint8_t *buf = NULL;
    size_t len = 0, n = 0;
    klog__epoch_entry_t *v = NULL;
    int rc = -ENOMEM;
    if (!c->dir || !path)
        goto fail;
    rc = listed ? klog__read_file(path, EPOCH_MAX_FILE, &buf, &len) : -ENOENT;
    if (rc == -ENOENT) {
        free(path);
        *out = c;
        return 0;
    }
    if (rc == -EFBIG)
        rc = KLOG_ECORRUPT;
    if (rc)
        goto fail;
    rc = klog__epoch_parse(buf, len, &v, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        int r = klog__epoch_assign(c, v[i].epoch, v[i].start_offset);
        rc = r < 0 ? r : 0;
    }
    free(v);
    free(buf);
    if (rc)
        goto fail;
    free(path);
    *out = c;
    return 0;
fail:
    free(path);
    klog__epoch_close(c);
    return rc;
}

void klog__epoch_close(klog__epoch_cache_t *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c->v);
    free(c);
}

int klog__epoch_store(const klog__epoch_cache_t *c)
{
    klog__buf_t b = {0};
    int rc = klog__epoch_format(c->v, c->n, &b);
    if (!rc)
        rc = klog__write_file_atomic(c->dir, KLOG__EPOCH_CHECKPOINT, b.data, b.len);
    klog__buf_free(&b);
    return rc;
}
