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
 * closed, and accounts the segment's descriptor in the log's descriptor
 * cache (fdcache.h), which closes cold, unpinned segments through
 * evict(); closing happens only with no pins.
 *
 * This file owns the life cycle, files, pins and seal metadata; segwrite.c
 * the write side (append, seal, truncate) and cursor.c the header walker
 * and recovery scan (they share segment_impl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "storage/segment_impl.h"

char *klog__segment_path(const klog__segment_t *s, const char *ext)
{
    return klog__asprintf("%s%s%s", s->stem, ext, s->deleted ? ".deleted" : "");
}

int klog__segment_new(const klog__segenv_t *env, int64_t base, klog__segment_t **out)
{
    klog__segment_t *s = klog__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->stem = klog__asprintf("%s/%020lld", env->dir, (long long)base);
    if (!s->stem) {
        free(s);
        return -ENOMEM;
    }
    atomic_init(&s->refs, 1);
    s->env = env;
    s->base = base;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = -1;
    s->oix.fd = s->tix.fd = -1;
    atomic_init(&s->size, 0);
    atomic_init(&s->next_offset, base);
    s->max_ts = -1;
    s->max_ts_off = base;
    s->first_batch_ts = -1;
    s->damage_pos = -1;
    s->split_pos = -1;
    s->created_ms = klog__now_ms();
    *out = s;
    return 0;
}

void klog__segment_ref(klog__segment_t *s) { atomic_fetch_add(&s->refs, 1); }

static const char *const seg_exts[] = {".log", ".index", ".timeindex", ".seal"};

static void unlink_deleted(klog__segment_t *s)
{
    for (size_t i = 0; i < sizeof seg_exts / sizeof seg_exts[0]; i++) {
        char *path = klog__segment_path(s, seg_exts[i]);
        if (path)
            klog__unlink(path); /* best effort: open removes leftovers */
        free(path);
    }
}

void klog__segment_unref(klog__segment_t *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    klog__fdcache_remove(s->env->fdcache, &s->lru);
    klog__segment_close_files(s);
    if (s->deleted)
        unlink_deleted(s);
    pthread_mutex_destroy(&s->mu);
    XXH3_freeState(s->digest);
    free(s->stem);
    free(s);
}

/* sync: fdatasync unsynced data first (best effort). The LRU closes
 * without: `unsynced` stays set, so the next flush reopens the file and
 * fsyncs it (the kernel keeps the dirty pages and reports a writeback
 * error to that fsync), and no append waits for a disk flush because
 * appends spread over more partitions than the bound. */
static void close_files(klog__segment_t *s, int sync)
{
    if (s->fd >= 0) {
        if (sync && atomic_load(&s->unsynced))
            klog__fdatasync(s->fd);
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

void klog__segment_close_files(klog__segment_t *s) { close_files(s, 1); }

/* Open the .log and the indexes; s->mu held. */
int klog__segment_open_files(klog__segment_t *s, int writable)
{
    int rdonly = s->env->rdonly;
    if (rdonly)
        writable = 0;
    if (s->fd >= 0 && (s->writable || !writable))
        return 0;
    if (s->fd >= 0)
        klog__segment_close_files(s); /* reopen writable */
    char *lp = klog__segment_path(s, ".log");
    char *ip = klog__segment_path(s, ".index");
    char *tp = klog__segment_path(s, ".timeindex");
    int rc = -ENOMEM;
    if (!lp || !ip || !tp)
        goto out;
    rc = klog__open(lp, O_NOFOLLOW | (rdonly ? O_RDONLY : (O_RDWR | (writable ? O_CREAT : 0))),
                    0644);
    if (rc < 0)
        goto out;
    s->fd = rc;
    if (rdonly) {
        /* Another process may replace the file under this name (a
         * compaction swap): this object stands for the file it first
         * opened; a different one is "gone" (the reader finds its
         * position again in the writer's new list). */
        struct stat fst;
        rc = klog__fstat(s->fd, &fst);
        if (!rc && s->file_id_set && (fst.st_dev != s->file_dev || fst.st_ino != s->file_ino))
            rc = -ENOENT;
        if (rc) {
            klog__close(s->fd);
            s->fd = -1;
            goto out;
        }
        s->file_dev = fst.st_dev, s->file_ino = fst.st_ino, s->file_id_set = 1;
    }
    size_t max_bytes = (size_t)s->env->index_max_bytes;
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
    if (ok || s->env->rdonly)
        return 0;
    klog__log(s->env->logger, KLOG_LOG_WARN,
              "%s: index files disagree with the seal (%u/%u entries, seal says %u/%u); "
              "rebuilding them from the .log",
              s->stem, atomic_load(&s->oix.entries), atomic_load(&s->tix.entries),
              s->seal_index_entries, s->seal_timeindex_entries);
    klog__segment_close_files(s);
    int rc = klog__segment_open_files(s, 1);
    int64_t truncated;
    if (!rc)
        rc = klog__segment_scan(s, 0, &truncated);
    if (!rc && (s->sealed || !seal_ok))
        rc = klog__segment_seal_pinned(s);
    if (!rc)
        atomic_fetch_add(&s->env->stats->rebuilt_indexes, 1);
    s->expect_ix = 0;
    return rc;
}

int klog__segment_pin(klog__segment_t *s, int writable)
{
    if (atomic_load(&s->lazy)) {
        int rc = klog__segment_ensure_meta(s);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&s->mu);
    /* Reopening for writing replaces the mappings: wait out short pins. */
    while (s->fd >= 0 && writable && !s->writable && !s->env->rdonly &&
           atomic_load(&s->pins) > 0) {
        pthread_mutex_unlock(&s->mu);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&s->mu);
    }
    int was_open = s->fd >= 0;
    int rc = klog__segment_open_files(s, writable);
    if ((rc == -EMFILE || rc == -ENFILE) && klog__fdcache_shed(s->env->fdcache, 3) > 0)
        rc = klog__segment_open_files(s, writable); /* the LRU made room */
    if (!rc && !was_open && !s->ix_checked)
        rc = check_indexes(s);
    if (!rc)
        atomic_fetch_add(&s->pins, 1);
    /* Descriptors held: the .log's and each index's (kept for trim,
     * fsync and block reservation beside the mapping). */
    int fds = 1 + (s->oix.fd >= 0) + (s->tix.fd >= 0);
    pthread_mutex_unlock(&s->mu);
    if (!rc)
        klog__fdcache_touch(s->env->fdcache, &s->lru, fds);
    return rc;
}

void klog__segment_unpin(klog__segment_t *s) { atomic_fetch_sub(&s->pins, 1); }

/* Descriptor cache eviction: close a cold segment nobody has pinned. Runs
 * under the cache's lock, so it must not wait for s->mu. */
static int evict(klog__fdcache_link_t *link)
{
    klog__segment_t *s = (klog__segment_t *)((char *)link - offsetof(klog__segment_t, lru));
    if (pthread_mutex_trylock(&s->mu) != 0)
        return 0;
    int n = 0;
    if (atomic_load(&s->pins) == 0) {
        close_files(s, 0);
        n = link->fds;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

int klog__segment_fdcache_new(int max_fds, klog__fdcache_t **out)
{
    return klog__fdcache_new(max_fds, evict, out);
}

static int64_t path_size(const klog__segment_t *s)
{
    char *lp = klog__segment_path(s, ".log");
    struct stat st;
    int64_t n = lp && klog__stat(lp, &st) == 0 ? (int64_t)st.st_size : 0;
    free(lp);
    return n;
}

int klog__segment_gone(klog__segment_t *s)
{
    if (!s->env->rdonly || s->fd >= 0)
        return 0;
    char *lp = klog__segment_path(s, ".log");
    struct stat st;
    int rc = lp ? klog__stat(lp, &st) : -ENOMEM;
    free(lp);
    return rc == -ENOENT || (rc == 0 && s->file_id_set &&
                             (st.st_dev != s->file_dev || st.st_ino != s->file_ino));
}

int klog__segment_same_file(klog__segment_t *s)
{
    if (!s->file_id_set)
        return 1; /* never opened here: it opens whatever file is there */
    char *lp = klog__segment_path(s, ".log");
    struct stat st;
    int rc = lp ? klog__stat(lp, &st) : -ENOMEM;
    free(lp);
    return rc == 0 && st.st_dev == s->file_dev && st.st_ino == s->file_ino;
}

/* Readable bytes: the published size, or for read-only openers (which
 * follow another process) the file's current length. */
int64_t klog__segment_readable(klog__segment_t *s)
{
    if (s->env->rdonly && s->fd >= 0) {
        int64_t n = klog__fsize(s->fd);
        return n < 0 ? 0 : n;
    }
    if (s->env->rdonly) {
        /* Not opened yet (or closed by the LRU): the size was never
         * loaded, so ask the file system. */
        return path_size(s);
    }
    if (atomic_load(&s->lazy))
        klog__segment_ensure_meta(s);
    if (!atomic_load(&s->meta_loaded) && klog__segment_load_meta(s) != 0) {
        /* Trusted at a clean open but its seal is unreadable: the file's
         * length will do until check_indexes rebuilds the seal. */
        return path_size(s);
    }
    return atomic_load_explicit(&s->size, memory_order_acquire);
}

/* Read the seal into the segment's fields; s->mu held. */
static int load_meta_locked(klog__segment_t *s)
{
    if (s->meta_loaded)
        return 0;
    char *sp = klog__segment_path(s, ".seal");
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
    s->seal_digest = seal.log_digest;
    s->seal_digest_size = seal.log_size;
    s->seal_digest_ok = 1;
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

int klog__segment_unseal(klog__segment_t *s)
{
    char *sp = klog__segment_path(s, ".seal");
    if (!sp)
        return -ENOMEM;
    int rc = klog__unlink(sp);
    if (rc == -ENOENT)
        rc = 0;
    free(sp);
    s->sealed = 0;
    return rc;
}

int klog__segment_mark_deleted(klog__segment_t *s)
{
    int rc = 0;
    /* Under s->mu: a reader reopening the files (after the LRU closed
     * them) sees either the old names or the new ones with the flag. */
    pthread_mutex_lock(&s->mu);
    /* The flag first: a seal written meanwhile (the sealer does not take
     * s->mu) is either renamed below or removed by its writer. */
    __atomic_store_n(&s->deleted, 1, __ATOMIC_SEQ_CST);
    /* The seal goes first: a crash between renames then leaves an unsealed
     * .log (scanned, kept), never a seal without its .log (missing data). */
    for (size_t k = sizeof seg_exts / sizeof seg_exts[0]; k-- > 0;) {
        char *from = klog__asprintf("%s%s", s->stem, seg_exts[k]);
        char *to = klog__asprintf("%s%s.deleted", s->stem, seg_exts[k]);
        if (!from || !to)
            rc = -ENOMEM;
        else {
            int r = klog__rename(from, to);
            if (r && r != -ENOENT && !rc)
                rc = r;
        }
        free(from);
        free(to);
    }
    s->deleted = 1;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ------------------------------------------------------------ accessors */

int64_t klog__segment_base(const klog__segment_t *s) { return s->base; }
const char *klog__segment_stem(const klog__segment_t *s) { return s->stem; }
int klog__segment_fd(const klog__segment_t *s) { return s->fd; }
int64_t klog__segment_next_offset(const klog__segment_t *s)
{
    if (atomic_load(&s->lazy))
        klog__segment_ensure_meta((klog__segment_t *)s);
    return atomic_load(&s->next_offset);
}
/* Read by the cleaner and the segment list while the sealer sets it. */
int klog__segment_is_sealed(const klog__segment_t *s)
{
    return __atomic_load_n(&s->sealed, __ATOMIC_ACQUIRE);
}
int64_t klog__segment_damage(const klog__segment_t *s) { return s->damage_pos; }
int64_t klog__segment_split_pos(const klog__segment_t *s) { return s->split_pos; }
int klog__segment_is_deleted(const klog__segment_t *s) { return s->deleted; }
void klog__segment_lease_pin(klog__segment_t *s) { atomic_fetch_add(&s->lease_pins, 1); }
void klog__segment_lease_unpin(klog__segment_t *s) { atomic_fetch_sub(&s->lease_pins, 1); }
int klog__segment_lease_pinned(const klog__segment_t *s) { return atomic_load(&s->lease_pins) > 0; }
void klog__segment_restart_clock(klog__segment_t *s) { s->created_ms = klog__now_ms(); }
void klog__segment_mark_new(klog__segment_t *s) { s->meta_loaded = 1; }

int64_t klog__segment_bytes(klog__segment_t *s, int load_seal)
{
    if (s->env->rdonly)
        return path_size(s);
    if (atomic_load(&s->lazy))
        klog__segment_ensure_meta(s);
    if (atomic_load(&s->meta_loaded) || (load_seal && klog__segment_load_meta(s) == 0))
        return atomic_load(&s->size);
    return path_size(s);
}

int64_t klog__segment_max_ts(klog__segment_t *s)
{
    if (atomic_load(&s->lazy))
        klog__segment_ensure_meta(s);
    return klog__segment_load_meta(s) == 0 ? s->max_ts : -1;
}

int64_t klog__segment_age_ts(klog__segment_t *s)
{
    int64_t ts = klog__segment_max_ts(s);
    if (ts >= 0)
        return ts;
    char *lp = klog__segment_path(s, ".log");
    struct stat st;
    if (lp && klog__stat(lp, &st) == 0)
        ts = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    free(lp);
    return ts;
}

void klog__segment_offidx_floor(klog__segment_t *s, int64_t target, int64_t *off, uint32_t *pos)
{
    klog__offidx_lookup(&s->oix, target, off, pos);
}

int64_t klog__segment_offidx_pos_floor(klog__segment_t *s, int64_t from, int64_t bound)
{
    const klog__index_t *ix = &s->oix;
    uint32_t n = atomic_load_explicit(&ix->entries, memory_order_acquire);
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t o;
        uint32_t p;
        klog__offidx_entry(ix, mid, &o, &p);
        if ((int64_t)p <= bound)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return from;
    int64_t o;
    uint32_t p;
    klog__offidx_entry(ix, lo - 1, &o, &p);
    return (int64_t)p > from ? (int64_t)p : from;
}

int64_t klog__segment_timeidx_floor(klog__segment_t *s, int64_t ts)
{
    return klog__timeidx_lookup(&s->tix, ts);
}

void klog__segment_timeidx_floor_entry(klog__segment_t *s, int64_t ts, int64_t *ets, int64_t *eoff)
{
    const klog__index_t *ix = &s->tix;
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
    *ets = -1;
    *eoff = s->base;
    if (lo > 0)
        klog__timeidx_entry(ix, lo - 1, ets, eoff);
}

void klog__segment_index_bytes(klog__segment_t *s, int64_t *index, int64_t *timeindex)
{
    *index = (int64_t)atomic_load(&s->oix.entries) * KLOG__OFFIDX_ENTRY;
    *timeindex = (int64_t)atomic_load(&s->tix.entries) * KLOG__TIMEIDX_ENTRY;
}

int klog__segment_open_ro(klog__segment_t *s, const char *ext)
{
    pthread_mutex_lock(&s->mu);
    char *path = klog__segment_path(s, ext);
    int fd = path ? klog__open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0) : -ENOMEM;
    pthread_mutex_unlock(&s->mu);
    free(path);
    return fd;
}
