/*
 * segment.c — one segment: "<base>.log" and its ".index", ".timeindex" and
 * libklog's ".seal", named by the 20-digit base offset.
 *
 * The .log is a plain concatenation of RecordBatch v2 batches
 * (kafka-format.md 3.2): no header, no padding. A batch is valid when its
 * size field is at least 61 - 12, its magic is 2, its CRC-32C matches, its
 * base offset is at or past the previous batch's next offset and its
 * offsets fit the segment's int32 relative range.
 *
 * Life cycle: a segment is created active (files opened for append, indexes
 * preallocated and mapped read-write). When the partition rolls it becomes
 * inactive and the background thread seals it: final time-index entry,
 * indexes trimmed to their entries, .log and indexes fsynced, then a seal
 * records (next offset, max timestamp, size, XXH3-64 of the .log, index
 * entry counts). Seals are written only after the fsync, so a seal proves
 * the bytes it describes were durable and lets open trust the segment
 * without reading it.
 *
 * Recovery rule: a segment without a valid seal whose size matches is
 * scanned from position 0 with CRC checks; indexes are rebuilt as it goes;
 * the first invalid or torn batch ends the segment and the file is
 * truncated there.
 *
 * Files open lazily: `pin` opens the .log and maps the indexes if they are
 * closed, and accounts the segment in the log's LRU; closing happens only
 * with no pins.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/storage.h"

char *klog__segment_stem(const char *dir, int64_t base)
{
    return klog__asprintf("%s/%020lld", dir, (long long)base);
}

static char *seg_path(const klog__segment_t *s, const char *ext)
{
    return klog__asprintf("%s%s%s", s->stem, ext, s->deleted ? ".deleted" : "");
}

int klog__segment_new(struct klog_partition *p, int64_t base, klog__segment_t **out)
{
    klog__segment_t *s = klog__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->stem = klog__segment_stem(p->dir, base);
    if (!s->stem) {
        free(s);
        return -ENOMEM;
    }
    atomic_init(&s->refs, 1);
    s->part = p;
    s->base = base;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = -1;
    s->oix.fd = s->tix.fd = -1;
    atomic_init(&s->size, 0);
    atomic_init(&s->next_offset, base);
    s->max_ts = -1;
    s->max_ts_off = base;
    s->first_batch_ts = -1;
    s->created_ms = klog__now_ms();
    *out = s;
    return 0;
}

void klog__segment_ref(klog__segment_t *s) { atomic_fetch_add(&s->refs, 1); }

/*
 * A recovery scan reads every byte anyway, so it leaves the seal's digest
 * behind; a segment sealed right after (a rebuilt or recovered inactive
 * segment) is not read twice. Any append drops it: appends never hash, the
 * sealer reads a rolled segment's file on the background thread instead,
 * keeping the append path to encoding and one write.
 */
void klog__segment_digest_start(klog__segment_t *s)
{
    if (!s->digest)
        s->digest = XXH3_createState();
    s->dig_valid = s->digest && XXH3_64bits_reset(s->digest) == XXH_OK;
}

void klog__segment_digest_drop(klog__segment_t *s) { s->dig_valid = 0; }

void klog__segment_digest_add(klog__segment_t *s, const void *p, size_t n)
{
    if (s->dig_valid && XXH3_64bits_update(s->digest, p, n) != XXH_OK)
        s->dig_valid = 0;
}

static void unlink_deleted(klog__segment_t *s)
{
    static const char *exts[] = {".log", ".index", ".timeindex", ".seal"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *path = seg_path(s, exts[i]);
        if (path)
            unlink(path);
        free(path);
    }
}

void klog__segment_unref(klog__segment_t *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    klog__lru_remove(s->part->log, s);
    klog__segment_close_files(s);
    if (s->deleted)
        unlink_deleted(s);
    pthread_mutex_destroy(&s->mu);
    XXH3_freeState(s->digest);
    free(s->stem);
    free(s);
}

void klog__segment_close_files(klog__segment_t *s)
{
    if (s->fd >= 0) {
        if (atomic_load(&s->unsynced))
            klog__fdatasync(s->fd); /* best effort; a later flush reopens */
        klog__close(s->fd);
        s->fd = -1;
    }
    if (s->ix_open) {
        klog__index_close(&s->oix);
        klog__index_close(&s->tix);
        s->ix_open = 0;
    }
    s->writable = 0;
}

/* Open the .log and the indexes; s->mu held. */
static int open_files(klog__segment_t *s, int writable)
{
    klog__log_t *log = s->part->log;
    int rdonly = klog__is_rdonly(log);
    if (rdonly)
        writable = 0;
    if (s->fd >= 0 && (s->writable || !writable))
        return 0;
    if (s->fd >= 0)
        klog__segment_close_files(s); /* reopen writable */
    char *lp = seg_path(s, ".log");
    char *ip = seg_path(s, ".index");
    char *tp = seg_path(s, ".timeindex");
    int rc = -ENOMEM;
    if (!lp || !ip || !tp)
        goto out;
    rc = klog__open(lp, O_NOFOLLOW | (rdonly ? O_RDONLY : (O_RDWR | (writable ? O_CREAT : 0))), 0644);
    if (rc < 0)
        goto out;
    s->fd = rc;
    size_t max_bytes = (size_t)klog__topic_conf(s->part->topic, KLOG_CONF_INDEX_MAX_BYTES);
    rc = klog__index_open(&s->oix, ip, KLOG__OFFIDX_ENTRY, s->base, max_bytes, writable,
                          writable);
    if (rc == -ENOENT) {
        /* A missing index costs only speed: lookups scan from position 0.
         * Partition load rebuilds missing indexes of writable logs. */
        memset(&s->oix, 0, sizeof s->oix);
        s->oix.fd = -1;
        s->oix.entry_size = KLOG__OFFIDX_ENTRY;
        s->oix.base = s->base;
        rc = 0;
    }
    if (rc)
        goto fail;
    rc = klog__index_open(&s->tix, tp, KLOG__TIMEIDX_ENTRY, s->base, max_bytes, writable,
                          writable);
    if (rc == -ENOENT) {
        memset(&s->tix, 0, sizeof s->tix);
        s->tix.fd = -1;
        s->tix.entry_size = KLOG__TIMEIDX_ENTRY;
        s->tix.base = s->base;
        rc = 0;
    }
    if (rc) {
        klog__index_close(&s->oix);
        goto fail;
    }
    s->ix_open = 1;
    s->writable = writable;
    goto out;
fail:
    klog__close(s->fd);
    s->fd = -1;
out:
    free(lp);
    free(ip);
    free(tp);
    return rc;
}

/* First open of a sealed segment: its indexes must agree with the seal.
 * Nobody else can hold the files (they were closed), so a damaged index is
 * rebuilt in place. s->mu held. */
static int load_meta_locked(klog__segment_t *s);

static int check_indexes(klog__segment_t *s)
{
    s->ix_checked = 1;
    if (!s->sealed && !s->expect_ix)
        return 0;
    int seal_ok = load_meta_locked(s) == 0;
    if (!seal_ok)
        s->sealed = 0; /* unreadable seal: rebuild indexes and seal */
    int ok = seal_ok && atomic_load(&s->oix.entries) == s->seal_index_entries &&
             s->oix.file_entries == s->seal_index_entries &&
             atomic_load(&s->tix.entries) == s->seal_timeindex_entries &&
             s->tix.file_entries == s->seal_timeindex_entries;
    if (ok || klog__is_rdonly(s->part->log))
        return 0;
    klog__log(&s->part->log->cfg.logger, KLOG_LOG_WARN,
              "%s: index files disagree with the seal (%u/%u entries, seal says %u/%u); "
              "rebuilding them from the .log",
              s->stem, atomic_load(&s->oix.entries), atomic_load(&s->tix.entries),
              s->seal_index_entries, s->seal_timeindex_entries);
    klog__segment_close_files(s);
    int rc = open_files(s, 1);
    int64_t truncated;
    if (!rc)
        rc = klog__segment_recover(s, 0, &truncated);
    if (!rc && (s->sealed || !seal_ok))
        rc = klog__segment_seal(s);
    if (!rc)
        atomic_fetch_add(&s->part->log->stat_rebuilt_indexes, 1);
    s->expect_ix = 0;
    return rc;
}

int klog__segment_pin(klog__segment_t *s, int writable)
{
    pthread_mutex_lock(&s->mu);
    /* Reopening for writing replaces the mappings: wait out short pins. */
    while (s->fd >= 0 && writable && !s->writable && !klog__is_rdonly(s->part->log) &&
           atomic_load(&s->pins) > 0) {
        pthread_mutex_unlock(&s->mu);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&s->mu);
    }
    int was_open = s->fd >= 0;
    int rc = open_files(s, writable);
    if (!rc && !was_open && !s->ix_checked)
        rc = check_indexes(s);
    if (!rc)
        atomic_fetch_add(&s->pins, 1);
    pthread_mutex_unlock(&s->mu);
    if (!rc)
        klog__lru_touch(s->part->log, s);
    return rc;
}

void klog__segment_unpin(klog__segment_t *s) { atomic_fetch_sub(&s->pins, 1); }

/* Readable bytes: the published size, or for read-only openers (which
 * follow another process) the file's current length. */
int64_t klog__segment_readable(klog__segment_t *s)
{
    if (klog__is_rdonly(s->part->log) && s->fd >= 0) {
        int64_t n = klog__fsize(s->fd);
        return n < 0 ? 0 : n;
    }
    if (klog__is_rdonly(s->part->log)) {
        /* Not opened yet (or closed by the LRU): the size was never
         * loaded, so ask the file system. */
        char *lp = seg_path(s, ".log");
        struct stat st;
        int64_t n = lp && stat(lp, &st) == 0 ? (int64_t)st.st_size : 0;
        free(lp);
        return n;
    }
    if (!atomic_load(&s->meta_loaded) && klog__segment_load_meta(s) != 0) {
        /* Trusted at a clean open but its seal is unreadable: the file's
         * length will do until check_indexes rebuilds the seal. */
        char *lp = seg_path(s, ".log");
        struct stat st;
        int64_t n = lp && stat(lp, &st) == 0 ? (int64_t)st.st_size : 0;
        free(lp);
        return n;
    }
    return atomic_load_explicit(&s->size, memory_order_acquire);
}

/* Read the seal into the segment's fields; s->mu held. */
static int load_meta_locked(klog__segment_t *s)
{
    if (s->meta_loaded)
        return 0;
    char *sp = seg_path(s, ".seal");
    if (!sp)
        return -ENOMEM;
    klog__seal_t seal;
    int rc = klog__seal_read(sp, &seal);
    free(sp);
    if (rc)
        return rc;
    if (seal.base_offset != s->base)
        return KLOG_ECORRUPT;
    atomic_store(&s->size, seal.log_size);
    atomic_store(&s->next_offset, seal.next_offset);
    s->max_ts = seal.max_timestamp;
    s->max_ts_off = seal.max_ts_offset;
    s->seal_index_entries = seal.index_entries;
    s->seal_timeindex_entries = seal.timeindex_entries;
    s->sealed = 1;
    s->meta_loaded = 1;
    return 0;
}

int klog__segment_load_meta(klog__segment_t *s)
{
    if (atomic_load(&s->meta_loaded))
        return 0;
    pthread_mutex_lock(&s->mu);
    int rc = load_meta_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int klog__segment_find(klog__segment_t *s, int64_t target, int64_t limit, int64_t *pos,
                       int64_t *bsize, int64_t *bbase, int64_t *blast)
{
    int64_t ioff;
    uint32_t ipos;
    klog__offidx_lookup(&s->oix, target, &ioff, &ipos);
    int64_t p = ipos;
    if (p > limit)
        p = 0; /* index ahead of what this reader may see: scan */
    uint8_t h[KLOG_BATCH_HEADER_SIZE];
    while (p + KLOG_BATCH_HEADER_SIZE <= limit) {
        ssize_t n = klog__pread_full(s->fd, h, sizeof h, (off_t)p);
        if (n < 0)
            return (int)n;
        if (n < (ssize_t)sizeof h)
            return 0;
        int64_t base = (int64_t)klog__load64(h);
        int32_t blen = (int32_t)klog__load32(h + 8);
        int64_t size = (int64_t)blen + 12;
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || h[16] != 2)
            return KLOG_ECORRUPT;
        if (p + size > limit)
            return 0;
        int64_t last = base + (int32_t)klog__load32(h + 23);
        if (last >= target) {
            *pos = p;
            *bsize = size;
            *bbase = base;
            *blast = last;
            return 1;
        }
        p += size;
    }
    return 0;
}

/*
 * Scan the .log with CRC validation, rebuilding both indexes; stop at the
 * first invalid or torn batch and truncate there.
 */
int klog__segment_recover(klog__segment_t *s, int allow_truncate, int64_t *truncated)
{
    klog__log_t *log = s->part->log;
    int64_t fsize = klog__fsize(s->fd);
    if (fsize < 0)
        return (int)fsize;
    int64_t interval = klog__topic_conf(s->part->topic, KLOG_CONF_INDEX_INTERVAL_BYTES);
    klog__index_reset(&s->oix);
    klog__index_reset(&s->tix);
    klog__segment_digest_start(s);
    s->max_ts = -1;
    s->max_ts_off = s->base;
    s->first_batch_ts = -1;
    int64_t pos = 0, next = s->base, since = 0;
    const char *why = NULL;
    klog__buf_t buf = {0};
    size_t chunk = 1 << 20;
    int64_t buf_pos = 0;
    int rc = klog__buf_reserve(&buf, chunk);
    if (rc)
        return rc;
    buf.len = 0;
    while (pos < fsize) {
        /* Make sure the 61-byte header at pos is in the buffer. */
        if (pos < buf_pos || pos + KLOG_BATCH_HEADER_SIZE > buf_pos + (int64_t)buf.len) {
            ssize_t n = klog__pread_full(s->fd, buf.data, chunk, (off_t)pos);
            if (n < 0) {
                rc = (int)n;
                goto out;
            }
            buf.len = (size_t)n;
            buf_pos = pos;
        }
        int64_t avail = buf_pos + (int64_t)buf.len - pos;
        if (avail < KLOG_BATCH_HEADER_SIZE) {
            why = "torn batch header at end of file";
            break;
        }
        const uint8_t *h = buf.data + (pos - buf_pos);
        int64_t base = (int64_t)klog__load64(h);
        int32_t blen = (int32_t)klog__load32(h + 8);
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || h[16] != 2) {
            why = "invalid batch length or magic";
            break;
        }
        int64_t size = (int64_t)blen + 12;
        if (pos + size > fsize) {
            why = "torn batch at end of file";
            break;
        }
        if (size > avail) {
            if ((size_t)size > buf.cap) {
                buf.len = 0;
                rc = klog__buf_reserve(&buf, (size_t)size);
                if (rc)
                    goto out;
            }
            ssize_t n = klog__pread_full(s->fd, buf.data, buf.cap, (off_t)pos);
            if (n < 0) {
                rc = (int)n;
                goto out;
            }
            buf.len = (size_t)n;
            buf_pos = pos;
            h = buf.data;
            if (n < size) {
                why = "torn batch at end of file";
                break;
            }
        }
        klog_batch_info_t bi;
        int vrc = klog_batch_validate(h, (size_t)size, KLOG_VALIDATE_HEADER, &bi);
        if (vrc) {
            why = klog_strerror(vrc);
            break;
        }
        int64_t last = base + bi.last_offset_delta;
        if (base < next || bi.last_offset_delta < 0 || last - s->base > INT32_MAX) {
            why = "batch offsets out of order";
            break;
        }
        if (s->first_batch_ts < 0)
            s->first_batch_ts = bi.max_timestamp;
        /* Kafka's LogSegment.recover raises the max timestamp first too. */
        if (bi.max_timestamp > s->max_ts) {
            s->max_ts = bi.max_timestamp;
            s->max_ts_off = last;
        }
        if (since > interval) {
            klog__offidx_append(&s->oix, last, (uint32_t)pos);
            klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
            since = 0;
        }
        since += size;
        next = last + 1;
        klog__segment_digest_add(s, h, (size_t)size);
        pos += size;
        atomic_fetch_add(&log->stat_scanned_bytes, size);
    }
    if (s->max_ts >= 0)
        klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
    *truncated = fsize - pos;
    if (pos < fsize && !allow_truncate) {
        /* Sealed data is never cut: report it; reads will fail there. */
        klog__log(&log->cfg.logger, KLOG_LOG_ERROR,
                  "%s.log: %s at position %lld (sealed segment; data kept, not served)", s->stem,
                  why ? why : "invalid data", (long long)pos);
        *truncated = 0;
        pos = fsize;
        klog__segment_digest_drop(s); /* the kept bytes were not all hashed */
    } else if (pos < fsize) {
        klog__log(&log->cfg.logger, KLOG_LOG_WARN,
                  "recovery: %s.log: %s at position %lld; truncating %lld bytes", s->stem,
                  why ? why : "invalid data", (long long)pos, (long long)(fsize - pos));
        rc = klog__ftruncate(s->fd, (off_t)pos);
        if (rc)
            goto out;
        atomic_fetch_add(&log->stat_truncated_bytes, fsize - pos);
    }
    atomic_store(&s->size, pos);
    atomic_store(&s->next_offset, next);
    /* Kafka's recover() (and truncateTo()) leave the append path's byte
     * counter at 0, so appends after recovery index as after a reopen. */
    s->bytes_since_index = 0;
    s->meta_loaded = 1;
    atomic_fetch_add(&log->stat_scanned_segments, 1);
    rc = 0;
out:
    klog__buf_free(&buf);
    return rc;
}

int klog__segment_seal(klog__segment_t *s)
{
    if (s->max_ts >= 0)
        klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
    int rc = klog__index_trim(&s->oix);
    if (!rc)
        rc = klog__index_trim(&s->tix);
    int64_t size = atomic_load(&s->size);
    if (!rc)
        rc = klog__ftruncate(s->fd, (off_t)size); /* drop any preallocation */
    if (!rc)
        rc = klog__fdatasync(s->fd);
    if (!rc)
        rc = klog__index_sync(&s->oix);
    if (!rc)
        rc = klog__index_sync(&s->tix);
    if (rc)
        return rc;
    atomic_store(&s->unsynced, 0);
    klog__seal_t seal = {
        .base_offset = s->base,
        .next_offset = atomic_load(&s->next_offset),
        .max_timestamp = s->max_ts,
        .max_ts_offset = s->max_ts >= 0 ? s->max_ts_off : -1,
        .log_size = size,
        .index_entries = atomic_load(&s->oix.entries),
        .timeindex_entries = atomic_load(&s->tix.entries),
    };
    if (s->dig_valid) {
        seal.log_digest = XXH3_64bits_digest(s->digest);
    } else {
        rc = klog__file_digest(s->fd, size, &seal.log_digest);
        if (rc)
            return rc;
    }
    const char *slash = strrchr(s->stem, '/');
    char *name = klog__asprintf("%s.seal", slash ? slash + 1 : s->stem);
    if (!name)
        return -ENOMEM;
    rc = klog__seal_write(s->part->dir, name, &seal);
    free(name);
    if (rc)
        return rc;
    s->sealed = 1;
    s->seal_index_entries = seal.index_entries;
    s->seal_timeindex_entries = seal.timeindex_entries;
    /* The file is now trimmed: a later append must reopen it writable. */
    s->writable = 0;
    return 0;
}

int klog__segment_unseal(klog__segment_t *s)
{
    char *sp = seg_path(s, ".seal");
    if (!sp)
        return -ENOMEM;
    int rc = unlink(sp) < 0 && errno != ENOENT ? -errno : 0;
    free(sp);
    s->sealed = 0;
    return rc;
}

int klog__segment_mark_deleted(klog__segment_t *s)
{
    static const char *exts[] = {".log", ".index", ".timeindex", ".seal"};
    int rc = 0;
    /* Under s->mu: a reader reopening the files (after the LRU closed
     * them) sees either the old names or the new ones with the flag. */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        char *from = klog__asprintf("%s%s", s->stem, exts[i]);
        char *to = klog__asprintf("%s%s.deleted", s->stem, exts[i]);
        if (!from || !to)
            rc = -ENOMEM;
        else if (rename(from, to) < 0 && errno != ENOENT && !rc)
            rc = -errno;
        free(from);
        free(to);
    }
    s->deleted = 1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}
