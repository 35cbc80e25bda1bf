/*
 * segwrite.c — the write side of one segment: appending batches, the roll
 * test, fsync, sealing, truncation, and the load-time decisions about an
 * existing segment (trust its seal, rebuild its indexes, scan it).
 *
 * Appends and truncation run under the partition's append lock; sealing
 * runs on the sealer's thread for rolled segments (which no append touches
 * again) and at load and close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "storage/segment_impl.h"

/*
 * A recovery scan reads every byte anyway, so it leaves the seal's digest
 * behind; a segment sealed right after (a rebuilt or recovered inactive
 * segment) is not read twice. Any append drops it: appends never hash, the
 * sealer reads a rolled segment's file on the background thread instead,
 * keeping the append path to encoding and one write.
 */
void klog__segment_digest_start(klog__segment_t *s)
{
    s->seal_digest_ok = 0; /* a scan: the file may change */
    if (!s->digest)
        s->digest = XXH3_createState();
    s->dig_valid = s->digest && XXH3_64bits_reset(s->digest) == XXH_OK;
}

void klog__segment_digest_drop(klog__segment_t *s)
{
    s->dig_valid = 0;
    s->seal_digest_ok = 0;
}

void klog__segment_digest_add(klog__segment_t *s, const void *p, size_t n)
{
    if (s->dig_valid && XXH3_64bits_update(s->digest, p, n) != XXH_OK)
        s->dig_valid = 0;
}

/* A scan's digest waits for the segment's seal as the digest an open took
 * from a seal does (seal_digest_ok, cleared by any append or scan): a log
 * of many partitions would otherwise hold a hash state (~1.5 KiB with its
 * alignment) per scanned segment until its first append. */
void klog__segment_digest_keep(klog__segment_t *s, int64_t size)
{
    if (s->dig_valid) {
        s->seal_digest = XXH3_64bits_digest(s->digest);
        s->seal_digest_size = size;
        s->seal_digest_ok = 1;
    }
    s->dig_valid = 0;
    XXH3_freeState(s->digest);
    s->digest = NULL;
}

/* ------------------------------------------------------------ append */

int klog__segment_should_roll(klog__segment_t *s, int64_t size, int64_t last, int64_t max_ts,
                              int64_t segment_bytes, int64_t segment_ms)
{
    /* Kafka's LogSegment.shouldRoll, condition by condition. The offset
     * test comes first and holds for an empty segment too: a batch whose
     * last offset is more than INT32_MAX above the base cannot be indexed
     * here (relative offsets are 32-bit) and would make the seal fail. */
    if (last - s->base > INT32_MAX)
        return 1;
    int64_t cur = atomic_load(&s->size);
    if (cur > segment_bytes - size)
        return 1;
    /* An empty segment never rolls on a full index (tiny
     * segment.index.bytes): the new one would be based at the same offset
     * (Kafka's KAFKA-6388 case). */
    if (cur == 0)
        return 0;
    if (klog__index_full(&s->oix) || klog__index_full(&s->tix))
        return 1;
    /* timeWaitedForRoll: the incoming batch's max timestamp minus the
     * first batch's when the first batch has one (even if the incoming
     * batch has none: then the difference is negative and time does not
     * roll), else wall-clock time since the segment was created. */
    if (s->first_batch_ts >= 0)
        return max_ts >= 0 && max_ts - s->first_batch_ts > segment_ms; /* (no overflow) */
    return klog__now_ms() - s->created_ms > segment_ms;
}

/* The first write after a clean open (or a truncation) removes the seal
 * the active segment kept while it was unchanged. The removal reaches the
 * disk with the next flush (klog__segment_sync fsyncs the directory
 * first): a seal that came back after a power loss would cut data a flush
 * had made durable (trim_past_seal). */
int klog__segment_begin_write(klog__segment_t *s)
{
    if (s->sealed || s->dirty_seal) {
        int rc = klog__segment_unseal(s);
        if (rc)
            return rc;
        s->dirty_seal = 0;
        atomic_store(&s->dir_unsynced, 1);
    }
    return 0;
}

void klog__segment_mark_dir_unsynced(klog__segment_t *s) { atomic_store(&s->dir_unsynced, 1); }

int klog__segment_append(klog__segment_t *s, struct iovec *iov, int iovcnt, size_t len,
                         int64_t last, int64_t max_ts, int64_t max_ts_off)
{
    int64_t pos = atomic_load(&s->size);
    int rc = klog__pwritev_all(s->fd, iov, iovcnt, (off_t)pos);
    if (rc) {
        /* Remove whatever part landed; the partition is failed either way. */
        klog__ftruncate(s->fd, (off_t)pos);
        klog__log(s->env->logger, KLOG_LOG_ERROR, "append: %s.log: write failed: %s", s->stem,
                  klog_strerror(rc));
        return rc;
    }
    atomic_store(&s->unsynced, 1);
    /* The seal's digest is taken off the append path (the sealer reads the
     * rolled file on the other core); a digest left by a recovery scan no
     * longer covers the file. */
    klog__segment_digest_drop(s);
    if (pos == 0)
        s->first_batch_ts = max_ts; /* Kafka's rollingBasedTimestamp */
    /* As Kafka's LogSegment.append: the max timestamp takes this batch in
     * before the index check, so a time entry written now covers it. */
    if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
        s->max_ts_off = max_ts_off;
    }
    if (s->bytes_since_index > s->env->index_interval) {
        klog__offidx_append(&s->oix, last, (uint32_t)pos);
        klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
        s->bytes_since_index = 0;
    }
    s->bytes_since_index += (int64_t)len;
    atomic_store(&s->next_offset, last + 1);
    atomic_store_explicit(&s->size, pos + (int64_t)len, memory_order_release);
    return 0;
}

/* Data and, first, the directory entry when a roll created the file or an
 * append removed its seal since the last directory fsync (deferred from the
 * roll to here: a roll costs no fsync, a flush one more only after a roll). */
int klog__segment_sync(klog__segment_t *s)
{
    if (atomic_exchange(&s->dir_unsynced, 0)) {
        int rc = klog__fsync_dir(s->env->dir);
        if (rc) {
            atomic_store(&s->dir_unsynced, 1);
            return rc;
        }
    }
    if (!atomic_load(&s->unsynced))
        return 0;
    atomic_store(&s->unsynced, 0);
    int rc = klog__segment_pin(s, 0);
    if (!rc) {
        rc = klog__fdatasync(s->fd);
        klog__segment_unpin(s);
    }
    if (rc)
        atomic_store(&s->unsynced, 1);
    return rc;
}

/* ------------------------------------------------------------ seal */

int klog__segment_seal_pinned(klog__segment_t *s)
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
    if (s->seal_digest_ok && s->seal_digest_size == size) {
        /* Trusted by its seal at open, or wholly scanned, and unchanged
         * since (every append, scan and truncation clears the flag): a
         * clean close of a log only read, or a seal right after a scan,
         * does not hash the file again. */
        seal.log_digest = s->seal_digest;
    } else {
        rc = klog__file_digest(s->fd, size, &seal.log_digest);
        if (rc)
            return rc;
    }
    const char *slash = strrchr(s->stem, '/');
    char *name = klog__asprintf("%s.seal", slash ? slash + 1 : s->stem);
    if (!name)
        return -ENOMEM;
    rc = klog__seal_write(s->env->dir, name, &seal);
    free(name);
    if (rc)
        return rc;
    atomic_store(&s->dir_unsynced, 0); /* the seal's write fsynced the directory */
    if (__atomic_load_n(&s->deleted, __ATOMIC_SEQ_CST)) {
        /* Deleted while the sealer worked on it (mark_deleted sets the
         * flag before it renames): a seal under the old name would be an
         * orphan, missing data at the next open. Whichever of us comes
         * second removes or renames it. */
        char *path = klog__asprintf("%s.seal", s->stem);
        if (path)
            klog__unlink(path);
        free(path);
        return 0;
    }
    __atomic_store_n(&s->sealed, 1, __ATOMIC_RELEASE); /* klog__segment_is_sealed */
    s->seal_index_entries = seal.index_entries;
    s->seal_timeindex_entries = seal.timeindex_entries;
    /* The file is now trimmed: a later append must reopen it writable. */
    s->writable = 0;
    return 0;
}

int klog__segment_seal(klog__segment_t *s)
{
    int rc = klog__segment_pin(s, 1);
    if (!rc) {
        rc = klog__segment_seal_pinned(s);
        klog__segment_unpin(s);
    }
    return rc;
}

/* ------------------------------------------------------------ truncate */

int klog__segment_truncate(klog__segment_t *s, int64_t offset, int64_t *new_end, int *changed)
{
    *changed = 0;
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    int64_t pos = 0, bsize, bbase = offset, blast;
    int64_t limit = atomic_load(&s->size);
    int found = klog__segment_find(s, offset, limit, &pos, &bsize, &bbase, &blast);
    if (found < 0) {
        klog__segment_unpin(s);
        return found;
    }
    if (!found) {
        pos = limit;
        bbase = offset;
    }
    if (s->sealed)
        klog__segment_unseal(s);
    *changed = 1; /* a failure from here on leaves the segment in doubt */
    rc = klog__ftruncate(s->fd, (off_t)pos);
    if (rc) {
        klog__segment_unpin(s);
        return rc;
    }
    int64_t end = bbase < offset ? bbase : offset;
    klog__index_truncate_offset(&s->oix, end);
    klog__index_truncate_offset(&s->tix, end);
    atomic_store(&s->size, pos);
    /* Re-derive the segment's max timestamp and counters from its data. */
    int64_t truncated = 0;
    rc = klog__segment_scan(s, 1, &truncated);
    klog__segment_unpin(s);
    if (rc)
        return rc;
    if (atomic_load(&s->next_offset) < end)
        atomic_store(&s->next_offset, end);
    s->created_ms = klog__now_ms();
    atomic_store(&s->unsynced, 1);
    *new_end = end;
    return 0;
}

/* ------------------------------------------------------------ load */

/* A sealed .log that grew past its seal (bytes appended after sealing,
 * by a crash of some other writer or by hand): the seal checksums itself,
 * so a seal that decodes says where the sealed data ends. Only the excess
 * goes; the segment and those after it stay. When the sealed prefix no
 * longer has the seal's digest, its damage is kept as it is (sealed data is
 * never cut away): reads of the damaged batch and verify report it.
 * 1 trimmed, 0 not (the segment is then scanned as damaged). */
static int trim_past_seal(klog__segment_t *s, const char *lp, int64_t fsize)
{
    char *sp = klog__asprintf("%s.seal", s->stem);
    klog__seal_t seal;
    int ok = sp && klog__seal_read(sp, &seal) == 0;
    free(sp);
    int fd = ok ? klog__open(lp, O_RDWR | O_NOFOLLOW, 0) : -1;
    uint64_t digest;
    ok = fd >= 0 && klog__file_digest(fd, seal.log_size, &digest) == 0;
    int intact = ok && digest == seal.log_digest;
    ok = ok && klog__ftruncate(fd, (off_t)seal.log_size) == 0 && klog__fdatasync(fd) == 0;
    if (fd >= 0)
        klog__close(fd);
    if (ok) {
        klog__log(s->env->logger, intact ? KLOG_LOG_WARN : KLOG_LOG_ERROR,
                  intact ? "recovery: %s.log: %lld bytes past its sealed end removed (sealed data intact)"
                         : "recovery: %s.log: %lld bytes past its sealed end removed; the sealed data "
                           "does not match its seal's digest and is kept as it is (reads report the damage)",
                  s->stem, (long long)(fsize - seal.log_size));
        atomic_fetch_add(&s->env->stats->truncated_bytes, fsize - seal.log_size);
    }
    return ok;
}

int klog__segment_check_seal(klog__segment_t *s)
{
    int rc = klog__segment_load_meta(s);
    if (rc == KLOG_ECORRUPT || rc == KLOG_EVERSION || rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    char *lp = klog__asprintf("%s.log", s->stem);
    if (!lp)
        return -ENOMEM;
    struct stat st;
    rc = klog__stat(lp, &st);
    int ok = rc == 0 && st.st_size == atomic_load(&s->size);
    if (rc == 0 && !ok && st.st_size > atomic_load(&s->size))
        ok = trim_past_seal(s, lp, st.st_size);
    free(lp);
    if (rc && rc != -ENOENT)
        return rc; /* an I/O error must fail the open, not turn into a rescan */
    if (!ok) {
        s->meta_loaded = 0;
        s->sealed = 0;
    }
    return ok;
}

/* No fsync here: after a kill -9 the bytes are in the page cache and need
 * none, after a power loss the scan saw what the disk has. Either way the
 * partition's recovery point stays at or below this segment's base until a
 * flush or its seal (the sealer's fsync) covers it: the segment is marked
 * unsynced, so that flush includes it. */
/* Name what a kept damaged segment can no longer serve. */
void klog__segment_report_lost(klog__segment_t *s, int64_t next_base)
{
    int64_t at = klog__segment_damage(s);
    if (at < 0)
        return;
    int64_t from = atomic_load(&s->next_offset), to = next_base - 1;
    if (from <= to)
        klog__log(s->env->logger, KLOG_LOG_ERROR,
                  "recovery: %s.log: damaged at position %lld: offsets %lld to %lld lost "
                  "(data kept, reads there fail with KLOG_ECORRUPT/KLOG_ECRC)",
                  s->stem, (long long)at, (long long)from, (long long)to);
    else
        klog__log(s->env->logger, KLOG_LOG_ERROR,
                  "recovery: %s.log: damaged at position %lld past its last batch (data kept)",
                  s->stem, (long long)at);
}

/* ------------------------------------------------------------ lazy trust */

static pthread_mutex_t lazy_mu = PTHREAD_MUTEX_INITIALIZER;

void klog__segment_trust(klog__segment_t *s, int64_t next_base)
{
    s->sealed = 1; /* its seal says so; read when first needed */
    s->lazy_next_base = next_base;
    atomic_store(&s->lazy, 1);
}

/*
 * The checks a clean open left to the segment's first use, the same an
 * unclean open makes: the seal must decode and match the .log's size (bytes
 * past it are removed, trim_past_seal); otherwise the segment was durable
 * (it had a seal), so it is rebuilt from the .log keeping any damage, the
 * offsets lost are named and later segments stay. One segment at a time
 * (a rare, first-use path); the flag drops first, so the rebuild's own pins
 * and questions pass straight through.
 */
int klog__segment_ensure_meta(klog__segment_t *s)
{
    if (!atomic_load(&s->lazy))
        return 0;
    pthread_mutex_lock(&lazy_mu);
    int rc = 0;
    if (atomic_exchange(&s->lazy, 0)) {
        int ok = klog__segment_check_seal(s);
        if (ok < 0) {
            rc = ok;
            klog__log(s->env->logger, KLOG_LOG_ERROR, "%s.seal: %s", s->stem, klog_strerror(rc));
            atomic_store(&s->lazy, 1); /* an I/O error: asked again next time */
        } else if (!ok && !__atomic_load_n(&s->deleted, __ATOMIC_SEQ_CST)) {
            rc = klog__segment_rebuild(s, "seal does not match the .log");
            if (!rc)
                klog__segment_report_lost(s, s->lazy_next_base);
        }
    }
    pthread_mutex_unlock(&lazy_mu);
    return rc;
}

/*
 * The scan first reads through a read-only pin and rewrites nothing: after
 * a kill -9 the .log is whole and its indexes are what the writer put
 * there, so the files stay as they are and the segment is reopened
 * writable only by its next append (or its seal). Only when the scan finds
 * a tail to cut, a batch to split off, or an index entry that differs
 * from what a rebuild would write (missing, torn, zero-filled, a crash
 * between the .log write and the index store) does a second, rebuilding
 * scan run through a writable pin.
 */
int klog__segment_recover(klog__segment_t *s, int64_t *truncated)
{
    *truncated = 0;
    int rc = klog__segment_pin(s, 0);
    if (rc)
        return rc;
    int whole = klog__segment_scan_verify(s);
    klog__segment_unpin(s);
    if (whole < 0)
        return whole;
    if (!whole) {
        if ((rc = klog__segment_pin(s, 1)) != 0)
            return rc;
        rc = klog__segment_scan(s, 1, truncated);
        klog__segment_unpin(s);
    }
    if (!rc && (atomic_load(&s->size) > 0 || *truncated > 0))
        atomic_store(&s->unsynced, 1);
    if (!rc)
        klog__log(s->env->logger, KLOG_LOG_INFO,
                  "recovery: %s.log scanned: %lld valid bytes, %lld truncated, indexes %s",
                  s->stem, (long long)atomic_load(&s->size), (long long)*truncated,
                  whole ? "as the scan would build them" : "rebuilt");
    return rc;
}

int klog__segment_rebuild(klog__segment_t *s, const char *why)
{
    klog__log(s->env->logger, KLOG_LOG_WARN, "recovery: %s: %s; rebuilding indexes", s->stem,
              why);
    int64_t truncated = 0;
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    rc = klog__segment_scan(s, 0, &truncated);
    if (!rc)
        rc = klog__segment_seal_pinned(s);
    klog__segment_unpin(s);
    if (!rc) {
        atomic_fetch_add(&s->env->stats->rebuilt_indexes, 1);
        s->ix_checked = 1;
        /* The mapping was made writable for the rebuild: reopen read-only. */
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->pins) == 0)
            klog__segment_close_files(s);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* A segment the cleaner just swapped in (cleaner_swap.c): its .log is
 * whole and fsynced; build its indexes and seal as a rebuild does, without
 * reporting it as recovery. */
int klog__segment_index_cleaned(klog__segment_t *s)
{
    int64_t truncated = 0;
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    rc = klog__segment_scan(s, 0, &truncated);
    if (!rc && klog__segment_damage(s) >= 0)
        rc = KLOG_ECORRUPT;
    if (!rc)
        rc = klog__segment_seal_pinned(s);
    klog__segment_unpin(s);
    if (!rc) {
        s->ix_checked = 1;
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->pins) == 0)
            klog__segment_close_files(s);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* The seal stays while nothing changes the segment: the first append
 * removes it (klog__segment_begin_write), and a close after no appends
 * finds it sealed and does nothing (no fsync, no digest, no seal write). */
int klog__segment_reopen_active(klog__segment_t *s)
{
    s->expect_ix = 1; /* check its indexes when first opened */
    s->meta_loaded = 1;
    s->dirty_seal = 0;
    return 0;
}

int klog__segment_create(klog__segment_t *s)
{
    /* A leftover empty file at this base (an earlier failed roll) is reused. */
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    int64_t len = klog__fsize(s->fd);
    klog__segment_unpin(s);
    if (len < 0)
        return (int)len;
    return len > 0 ? KLOG_ECORRUPT : 0; /* never roll onto a non-empty segment */
}
