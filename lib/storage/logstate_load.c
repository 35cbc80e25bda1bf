/*
 * logstate_load.c — bringing a partition's log state back in line with its
 * segments: at load (LogLoader: remove stray snapshots and orphan
 * .txnindex files, rebuild the .txnindex of recovered segments, reload the
 * producer state from the newest usable snapshot and replay the batches
 * after it, truncate the epoch cache to the log) and after klog_truncate
 * (truncateAndReload + replay).
 *
 * Replay reads batch headers only, through the segment cursor; a control
 * batch's marker record is decoded. Batches are fed as KLOG__ORIGIN_REPLICA
 * (no sequence rules: the log is the truth). A batch the state refuses even
 * so (a non-transactional write inside an open transaction) is skipped
 * with a warning, as its data is already in the log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/logstate_impl.h"

#define REPLAY_CHUNK (64 * 1024)

/* Index of the last segment with base <= offset (0 if none). */
static size_t seg_floor(klog__segment_t *const *segs, size_t n, int64_t offset)
{
    size_t i = 0;
    while (i + 1 < n && klog__segment_base(segs[i + 1]) <= offset)
        i++;
    return i;
}

/* Feed one batch (header bi, at the cursor) to the state. */
static int replay_one(klog__logstate_t *ls, klog__cursor_t *cur, const klog_batch_info_t *bi,
                      int64_t txn_from, int64_t epoch_from)
{
    int rc = 0;
    if (bi->producer_id >= 0) {
        const uint8_t *data = NULL;
        if (bi->attributes & KLOG_ATTR_CONTROL) {
            rc = klog__cursor_batch(cur, bi->size, &data);
            if (rc <= 0)
                return rc == 0 ? KLOG_ECORRUPT : rc;
        }
        klog__pbatch_in_t in;
        klog__pcheck_t res;
        rc = klog__ls_batch_in(data, bi->size, bi, bi->base_offset, &in);
        if (!rc)
            rc = klog__pstate_check(ls->ps, &ls->st, &in, KLOG__ORIGIN_REPLICA, &res);
        if (rc == -ENOMEM)
            return rc;
        if (rc) {
            klog__log(ls->lg, KLOG_LOG_WARN,
                      "%s: producer state: batch at offset %" PRId64 " (producer %" PRId64
                      ") skipped: %s",
                      ls->dir, bi->base_offset, bi->producer_id, klog_strerror(rc));
            klog__pstage_reset(&ls->st);
            rc = 0;
        } else {
            rc = klog__ls_commit_locked(ls, txn_from, bi->base_offset + bi->last_offset_delta + 1);
        }
    }
    if (!rc && bi->base_offset >= epoch_from)
        rc = klog__ls_epoch_locked(ls, bi->leader_epoch, bi->base_offset);
    return rc;
}

/* Replay batches with offsets in [from, to). */
static int replay(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n, int64_t from,
                  int64_t to, int64_t txn_from, int64_t epoch_from)
{
    if (from >= to || n == 0)
        return 0;
    klog__cursor_t cur = {0};
    int rc = 0;
    for (size_t i = seg_floor(segs, n, from); i < n && !rc; i++) {
        klog__segment_t *s = segs[i];
        if (klog__segment_base(s) >= to)
            break;
        if ((rc = klog__segment_pin(s, 0)) != 0)
            break;
        int64_t limit = klog__segment_readable(s), pos = 0, bsize, bbase, blast;
        int f = klog__segment_find(s, from, limit, &pos, &bsize, &bbase, &blast);
        if (f == KLOG_ECORRUPT) {
            pos = 0; /* walk from the start instead; damage stops the walk */
            f = 1;
        }
        if (f < 0)
            rc = f;
        if (f > 0) {
            klog__cursor_init(&cur, s, pos, limit, REPLAY_CHUNK, 0);
            for (;;) {
                klog_batch_info_t bi;
                klog__cursor_seek(&cur, pos, -1);
                int k = klog__cursor_peek(&cur, &bi);
                if (k < 0 && k != KLOG_ECORRUPT) {
                    rc = k;
                    break;
                }
                if (k != KLOG__CUR_BATCH || bi.base_offset >= to)
                    break; /* the end, or damage recovery kept (reads report it) */
                if (bi.base_offset + bi.last_offset_delta >= from &&
                    (rc = replay_one(ls, &cur, &bi, txn_from, epoch_from)) != 0)
                    break;
                pos += (int64_t)bi.size;
            }
        }
        klog__segment_unpin(s);
    }
    klog__cursor_free(&cur);
    return rc;
}

/* "<20 digits><suffix>" into its offset; -1 if name is not one. */
static int64_t offset_named(const char *name, const char *suffix)
{
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    return strcmp(name + 20, suffix) == 0 ? v : -1;
}

static int push(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        int64_t *nv = klog__realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
    return 0;
}

int klog__ls_files_add(klog__ls_files_t *f, const char *name)
{
    int64_t off;
    int rc;
    if ((off = offset_named(name, KLOG__SNAPSHOT_SUFFIX)) >= 0) {
        /* Kept ascending as listed (a directory lists in no order). */
        if ((rc = push(&f->snapshots, &f->nsnapshots, &f->capsnapshots, off)) != 0)
            return rc;
        size_t i = f->nsnapshots - 1;
        for (; i > 0 && f->snapshots[i - 1] > off; i--)
            f->snapshots[i] = f->snapshots[i - 1];
        f->snapshots[i] = off;
        return 1;
    }
    if ((off = offset_named(name, KLOG__TXNIDX_SUFFIX)) >= 0)
        return (rc = push(&f->txnidx, &f->ntxnidx, &f->captxnidx, off)) != 0 ? rc : 1;
    if (strcmp(name, KLOG__EPOCH_CHECKPOINT) == 0)
        return f->epochs = 1;
    return 0;
}

void klog__ls_files_free(klog__ls_files_t *f)
{
    free(f->snapshots);
    free(f->txnidx);
    memset(f, 0, sizeof *f);
}

/* Orphan .txnindex files (no segment at their base) go; listed[i] is set
 * for each segment i that has one. */
static void remove_orphans(klog__logstate_t *ls, const klog__ls_files_t *f,
                           klog__segment_t *const *segs, size_t n, unsigned char *listed)
{
    for (size_t k = 0; k < f->ntxnidx; k++) {
        int64_t base = f->txnidx[k];
        size_t i = 0;
        while (i < n && klog__segment_base(segs[i]) != base)
            i++;
        if (i < n) {
            listed[i] = 1;
            continue;
        }
        char name[32];
        klog__txnidx_name(base, name);
        char *path = klog__asprintf("%s/%s", ls->dir, name);
        if (!path)
            continue; /* best effort: an orphan is never read, and goes next time */
        klog__log(ls->lg, KLOG_LOG_INFO, "recovery: removing orphan %s", path);
        klog__unlink(path);
        free(path);
    }
}

/* The epoch checkpoint, tried only when listed (one open fewer per
 * partition without one, most of them). */
static int open_epochs(klog__logstate_t *ls, int listed, int *rebuild)
{
    *rebuild = 0;
    int rc = klog__epoch_open(ls->dir, listed, &ls->epochs);
    if (rc != KLOG_ECORRUPT && rc != KLOG_EVERSION)
        return rc;
    klog__log(ls->lg, KLOG_LOG_WARN, "%s/%s unreadable (%s): rebuilding it from the log",
              ls->dir, KLOG__EPOCH_CHECKPOINT, klog_strerror(rc));
    char *path = klog__asprintf("%s/%s", ls->dir, KLOG__EPOCH_CHECKPOINT);
    if (!path)
        return -ENOMEM;
    rc = klog__unlink(path);
    free(path);
    if (rc && rc != -ENOENT)
        return rc;
    *rebuild = 1;
    return klog__epoch_open(ls->dir, 0, &ls->epochs);
}

/* The newest snapshot when it is at no segment's base (remove_strays kept
 * it: it is above the last base) and survives the reload (not above the
 * log end), else -1. */
static int64_t stray_kept(const int64_t *snaps, size_t nsnaps, const int64_t *bases, size_t n,
                          int64_t log_end)
{
    if (!nsnaps)
        return -1;
    int64_t last = snaps[nsnaps - 1];
    return last > (n ? bases[n - 1] : -1) && last <= log_end ? last : -1;
}

int klog__ls_load(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n, int64_t log_start,
                  int64_t log_end, int64_t rebuild_from, klog__ls_files_t *files)
{
    int64_t *bases = klog__calloc(n ? n : 1, sizeof *bases);
    unsigned char *listed = klog__calloc(n ? n : 1, 1);
    if (!bases || !listed) {
        free(bases);
        free(listed);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        bases[i] = klog__segment_base(segs[i]);
    pthread_mutex_lock(&ls->mu);
    int rc = 0, epochs_bad = 0;
    remove_orphans(ls, files, segs, n, listed);
    /* Each segment's .txnindex (read only when listed); a damaged one is
     * rebuilt with its segment. */
    for (size_t i = 0; !rc && i < n; i++) {
        rc = klog__ls_add_known(ls, bases[i], !listed[i]);
        if (rc == KLOG_ECORRUPT || rc == KLOG_EVERSION) {
            char name[32];
            klog__txnidx_name(bases[i], name);
            klog__log(ls->lg, KLOG_LOG_WARN, "%s/%s unreadable (%s): rebuilding it", ls->dir,
                      name, klog_strerror(rc));
            char *path = klog__asprintf("%s/%s", ls->dir, name);
            rc = path ? klog__unlink(path) : -ENOMEM;
            free(path);
            if (!rc)
                rc = klog__ls_add_locked(ls, bases[i]);
            if (bases[i] < rebuild_from)
                rebuild_from = bases[i];
        }
    }
    if (!rc)
        rc = open_epochs(ls, files->epochs, &epochs_bad);
    /* Segments from the one holding rebuild_from on are rebuilt. */
    int64_t rb = log_end;
    if (!rc && n && rebuild_from < log_end) {
        rb = bases[seg_floor(segs, n, rebuild_from)];
        for (size_t i = 0; !rc && i < ls->ntx; i++) {
            if (ls->tx[i].base < rb)
                continue;
            /* A .txnindex the listing did not see has no file to unlink
             * and nothing read (an unlink per recovered segment else). */
            size_t lo = 0, hi = n; /* bases ascend: find tx[i].base */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (bases[mid] < ls->tx[i].base)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < n && bases[lo] == ls->tx[i].base && !listed[lo])
                continue;
            rc = klog__txnidx_delete(ls->tx[i].idx);
        }
    }
    if (!rc)
        rc = klog__snapshot_remove_strays(ls->dir, files->snapshots, &files->nsnapshots, bases, n);
    if (!rc)
        ls->stray = stray_kept(files->snapshots, files->nsnapshots, bases, n, log_end);
    /* Kafka's rule: only snapshots above the recovered end go (those in
     * (rb, log_end] describe data recovery kept; left unread, see
     * klog__pstate_reload_listed). */
    int64_t replay_from = log_end;
    if (!rc)
        rc = klog__pstate_reload_listed(ls->ps, ls->dir, files->snapshots, files->nsnapshots,
                                        log_start, log_end, rb, klog__now_ms(), ls->lg,
                                        &replay_from);
    if (!rc && replay_from < log_end) {
        if (klog__pstate_snapshot_offset(ls->ps) <= log_start && replay_from < rb)
            klog__log(ls->lg, KLOG_LOG_INFO,
                      "%s: no producer snapshot at or below offset %" PRId64
                      ": rebuilding producer state from offset %" PRId64,
                      ls->dir, rb, replay_from);
        rc = replay(ls, segs, n, replay_from, log_end, rb, epochs_bad ? log_start : rb);
    }
    if (!rc && klog__epoch_truncate_end(ls->epochs, log_end) + 
                       klog__epoch_truncate_start(ls->epochs, log_start) > 0)
        rc = klog__epoch_store(ls->epochs);
    if (!rc) {
        if (log_end > klog__pstate_end_offset(ls->ps))
            klog__pstate_set_offsets(ls->ps, log_end, -1);
        rc = klog__ls_sync_locked(ls);
    }
    if (!rc && replay_from < log_end && klog__pstate_count(ls->ps) > 0) {
        /* After recovery a snapshot is taken so the next open need not
         * replay again (LogLoader); without fsyncs, as at a roll: the open
         * waits for no disk flush, and a torn one only costs a replay.
         * Without producers there is nothing to save: the next open
         * replays the same headers (those past the last roll's snapshot)
         * and no file is created per partition (a new inode on a busy
         * ext4 cost more than the rest of the partition's recovery). */
        rc = klog__pstate_write_snapshot(ls->ps, ls->dir, 0);
        if (!rc && ls->stray < 0 && (!n || bases[n - 1] != log_end))
            ls->stray = log_end;
    }
    pthread_mutex_unlock(&ls->mu);
    free(bases);
    free(listed);
    return rc;
}

int klog__ls_truncate(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n,
                      int64_t old_end, int64_t log_start, int64_t new_end)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    int64_t last_base = n ? klog__segment_base(segs[n - 1]) : 0;
    /* Indexes of the removed segments, and entries at or past the end. */
    while (ls->ntx > 0 && ls->tx[ls->ntx - 1].base > last_base) {
        int r = klog__txnidx_delete(ls->tx[ls->ntx - 1].idx);
        if (r && !rc)
            rc = r;
        klog__ls_remove_tx(ls, ls->ntx - 1);
    }
    if (ls->ntx > 0) {
        int r = klog__txnidx_truncate(ls->tx[ls->ntx - 1].idx, new_end);
        if (r && !rc)
            rc = r;
        ls->tx[ls->ntx - 1].dirty = 1;
    }
    if (klog__epoch_truncate_end(ls->epochs, new_end) == 1) {
        int r = klog__epoch_store(ls->epochs);
        if (r && !rc)
            rc = r;
    }
    /* The state covered the old end; reload it for the new one. */
    if (old_end > klog__pstate_end_offset(ls->ps))
        klog__pstate_set_offsets(ls->ps, old_end, -1);
    int64_t replay_from = new_end;
    int r = klog__pstate_truncate_and_reload(ls->ps, ls->dir, log_start, new_end, klog__now_ms(),
                                             ls->lg, &replay_from);
    if (!r)
        r = replay(ls, segs, n, replay_from, new_end, INT64_MAX, INT64_MAX);
    if (r && !rc)
        rc = r;
    if (!r && new_end > klog__pstate_end_offset(ls->ps))
        klog__pstate_set_offsets(ls->ps, new_end, -1);
    if (ls->stray > new_end)
        ls->stray = -1; /* the reload deleted it, with every snapshot above the end */
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_snapshot_into(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n,
                           int64_t first, int64_t next, const char *dest)
{
    if (next <= first)
        return 0;
    /* A private state and stage: the partition's own are not touched,
     * nor its .txnindex (txn_from) or epoch cache (epoch_from). */
    klog__logstate_t t = {.dir = ls->dir, .lg = ls->lg};
    int rc = klog__pstate_new(KLOG__PRODUCER_ID_EXPIRATION_MS, 0, &t.ps);
    if (rc)
        return rc;
    int64_t *v = NULL, from = first;
    size_t cnt = 0;
    rc = klog__snapshot_list(ls->dir, &v, &cnt);
    klog__pstate_reset(t.ps, first);
    klog__pstate_set_offsets(t.ps, -1, first);
    for (size_t i = cnt; !rc && i-- > 0;) {
        if (v[i] > next || v[i] <= first)
            continue;
        int r = klog__snapshot_load(t.ps, ls->dir, v[i], klog__now_ms());
        if (r == 0) {
            from = v[i];
            break;
        }
        if (r == -ENOMEM)
            rc = r;
        klog__pstate_reset(t.ps, first); /* gone or unreadable: an older one */
        klog__pstate_set_offsets(t.ps, -1, first);
    }
    free(v);
    if (!rc)
        rc = replay(&t, segs, n, from, next, INT64_MAX, INT64_MAX);
    if (!rc) {
        klog__pstate_set_offsets(t.ps, next, -1);
        rc = klog__pstate_take_snapshot(t.ps, dest);
    }
    klog__pstage_free(&t.st);
    klog__pstate_free(t.ps);
    return rc;
}
