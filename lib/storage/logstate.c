/*
 * logstate.c — a partition's producer state, .txnindex files and
 * leader-epoch cache as one object (logstate.h): the append hooks (check
 * before the write, commit after it), segment life (roll, deletion), the
 * log start moving, clean shutdown, and the queries readers make.
 *
 * Kafka's rules kept here:
 *   - a snapshot is taken on every roll, named by the new segment's base
 *     offset, and on clean shutdown at the log end; the snapshot named by
 *     a deleted segment's base goes with it;
 *   - an aborted transaction is appended to the .txnindex of the segment
 *     that holds its ABORT marker, with the LSO computed when the marker
 *     completed it (klog__pstate_commit);
 *   - a batch's partitionLeaderEpoch enters the epoch cache only when it
 *     is >= 0 and above the latest epoch (UnifiedLog.append).
 * The producer state does not see batches without a producer id: its end
 * offset is moved to the log end before every snapshot instead (the state
 * is the same), so such appends cost nothing here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/logstate_impl.h"

int klog__ls_new(const char *dir, const klog__logger_t *lg, int64_t expiration_ms,
                 klog__logstate_t **out)
{
    klog__logstate_t *ls = klog__calloc(1, sizeof *ls);
    if (!ls)
        return -ENOMEM;
    ls->dir = dir;
    ls->lg = lg;
    ls->stray = -1;
    int rc = klog__pstate_new(expiration_ms, 0, &ls->ps);
    if (rc) {
        free(ls);
        return rc;
    }
    pthread_mutex_init(&ls->mu, NULL);
    *out = ls;
    return 0;
}

void klog__ls_free(klog__logstate_t *ls)
{
    if (!ls)
        return;
    for (size_t i = 0; i < ls->ntx; i++)
        klog__txnidx_close(ls->tx[i].idx);
    free(ls->tx);
    klog__pstage_free(&ls->st);
    klog__pstate_free(ls->ps);
    klog__epoch_close(ls->epochs);
    pthread_mutex_destroy(&ls->mu);
    free(ls);
}

/* ------------------------------------------------------------ batches */

int klog__ls_batch_in(const uint8_t *batch, size_t len, const klog_batch_info_t *bi, int64_t base,
                      klog__pbatch_in_t *in)
{
    memset(in, 0, sizeof *in);
    in->producer_id = bi->producer_id;
    in->epoch = bi->producer_epoch;
    in->base_seq = bi->base_sequence;
    in->last_offset_delta = bi->last_offset_delta;
    in->base_offset = base;
    in->max_timestamp = bi->max_timestamp;
    in->is_transactional = (bi->attributes & KLOG_ATTR_TRANSACTIONAL) != 0;
    in->is_control = (bi->attributes & KLOG_ATTR_CONTROL) != 0;
    in->record_count = bi->record_count;
    in->coordinator_epoch = -1;
    if (!in->is_control || in->producer_id < 0 || bi->record_count == 0)
        return 0;
    /* The marker is the batch's first (only) record. */
    klog_batch_reader_t *r;
    int rc = klog_batch_reader_new(&r);
    if (rc)
        return rc;
    rc = klog_batch_reader_open(r, batch, len, 0);
    klog_record_t rec;
    if (!rc) {
        rc = klog_batch_reader_next(r, &rec);
        rc = rc == 1 ? 0 : rc == 0 ? KLOG_ECORRUPT : rc;
    }
    if (!rc)
        rc = klog__marker_decode(rec.key, rec.key_len < 0 ? 0 : (size_t)rec.key_len, rec.value,
                                 rec.value_len < 0 ? 0 : (size_t)rec.value_len,
                                 &in->marker_commit, &in->coordinator_epoch);
    klog_batch_reader_free(r);
    return rc;
}

int klog__ls_check(klog__logstate_t *ls, const klog__pbatch_in_t *in, int origin,
                   klog__pcheck_t *res)
{
    pthread_mutex_lock(&ls->mu);
    int rc = klog__pstate_check(ls->ps, &ls->st, in, origin, res);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

klog__ls_tx_t *klog__ls_tx_floor(klog__logstate_t *ls, int64_t offset)
{
    size_t lo = 0, hi = ls->ntx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ls->tx[mid].base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? &ls->tx[lo - 1] : NULL;
}

/* Commit the stage; aborted transactions whose marker is at or above
 * txn_from go to the .txnindex of the segment holding the marker. */
int klog__ls_commit_locked(klog__logstate_t *ls, int64_t txn_from, int64_t next)
{
    klog__pstate_commit(ls->ps, &ls->st, next);
    int rc = 0;
    for (size_t i = 0; i < ls->st.ndone; i++) {
        const klog__txn_done_t *d = &ls->st.done[i];
        if (!d->aborted || d->last_offset < txn_from)
            continue;
        klog__ls_tx_t *t = klog__ls_tx_floor(ls, d->last_offset);
        if (!t)
            continue; /* below every segment: cannot happen for a written marker */
        klog__aborted_txn_t a = {d->producer_id, d->first_offset, d->last_offset, d->lso};
        int r = klog__txnidx_append(t->idx, &a);
        t->dirty = 1;
        if (!r && t != &ls->tx[ls->ntx - 1]) {
            /* A rolled segment (a follower append that rolled): its index
             * was flushed at the roll, the sealer may make its data
             * durable any moment. */
            r = klog__txnidx_flush(t->idx);
            t->dirty = r != 0;
        }
        if (r && !rc)
            rc = r;
    }
    ls->st.ndone = 0;
    return rc;
}

int klog__ls_commit(klog__logstate_t *ls, int ok, int64_t seg_base, int64_t next, int64_t hw)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    if (ok)
        rc = klog__ls_commit_locked(ls, seg_base, next);
    else
        klog__pstage_reset(&ls->st);
    /* Ended transactions below the watermark are stable: keep that list
     * short even when nobody asks for the LSO. */
    if (hw >= 0)
        klog__pstate_hw_updated(ls->ps, hw);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_epoch_locked(klog__logstate_t *ls, int32_t epoch, int64_t base)
{
    if (epoch < 0 || epoch <= klog__epoch_latest(ls->epochs))
        return 0;
    int rc = klog__epoch_assign(ls->epochs, epoch, base);
    if (rc == 1)
        rc = klog__epoch_store(ls->epochs);
    return rc < 0 ? rc : 0;
}

int klog__ls_epoch(klog__logstate_t *ls, int32_t epoch, int64_t base)
{
    pthread_mutex_lock(&ls->mu);
    int rc = klog__ls_epoch_locked(ls, epoch, base);
    pthread_mutex_unlock(&ls->mu);
    if (rc)
        klog__log(ls->lg, KLOG_LOG_ERROR, "%s/%s: %s", ls->dir, KLOG__EPOCH_CHECKPOINT,
                  klog_strerror(rc));
    return rc;
}

int32_t klog__ls_latest_epoch(const klog__logstate_t *ls)
{
    return ls->epochs ? klog__epoch_latest(ls->epochs) : -1;
}

/* ------------------------------------------------------------ segments */

int klog__ls_add_locked(klog__logstate_t *ls, int64_t base)
{
    return klog__ls_add_known(ls, base, 0);
}

int klog__ls_add_known(klog__logstate_t *ls, int64_t base, int absent)
{
    if (ls->ntx == ls->captx) {
        size_t cap = ls->captx ? ls->captx * 2 : 8;
        klog__ls_tx_t *v = klog__realloc(ls->tx, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        ls->tx = v;
        ls->captx = cap;
    }
    klog__txnidx_t *idx;
    int rc = klog__txnidx_open_known(ls->dir, base, absent, &idx);
    if (rc)
        return rc;
    size_t i = ls->ntx;
    while (i > 0 && ls->tx[i - 1].base > base)
        i--;
    if (i > 0 && ls->tx[i - 1].base == base) {
        klog__txnidx_close(ls->tx[i - 1].idx);
        ls->tx[i - 1].idx = idx;
        ls->tx[i - 1].dirty = 0;
        return 0;
    }
    memmove(ls->tx + i + 1, ls->tx + i, (ls->ntx - i) * sizeof *ls->tx);
    ls->tx[i] = (klog__ls_tx_t){base, idx, 0};
    ls->ntx++;
    return 0;
}

int klog__ls_add_segment(klog__logstate_t *ls, int64_t base)
{
    pthread_mutex_lock(&ls->mu);
    int rc = klog__ls_add_locked(ls, base);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

void klog__ls_remove_tx(klog__logstate_t *ls, size_t i)
{
    klog__txnidx_close(ls->tx[i].idx);
    memmove(ls->tx + i, ls->tx + i + 1, (ls->ntx - i - 1) * sizeof *ls->tx);
    ls->ntx--;
}

/* A failed snapshot would only cost a longer replay at the next open, but
 * a failed write on this disk is reported as every other one is (the
 * caller fails the partition), as Kafka fails the log directory. */
static int snapshot_at(klog__logstate_t *ls, int64_t end, int sync)
{
    if (end > klog__pstate_end_offset(ls->ps))
        klog__pstate_set_offsets(ls->ps, end, -1);
    int rc = klog__pstate_write_snapshot(ls->ps, ls->dir, sync);
    if (rc)
        klog__log(ls->lg, KLOG_LOG_ERROR, "%s: producer snapshot at %" PRId64 " not written: %s",
                  ls->dir, end, klog_strerror(rc));
    return rc;
}

int klog__ls_roll(klog__logstate_t *ls, int64_t new_base)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    if (ls->ntx > 0 && ls->tx[ls->ntx - 1].dirty) {
        /* The rolled segment's data becomes durable when the sealer is
         * done: its aborted transactions must be by then. */
        rc = klog__txnidx_flush(ls->tx[ls->ntx - 1].idx);
        if (!rc)
            ls->tx[ls->ntx - 1].dirty = 0;
    }
    if (!rc) {
        rc = klog__ls_add_locked(ls, new_base);
        /* A leftover index at a fresh base describes nothing. */
        klog__ls_tx_t *t = klog__ls_tx_floor(ls, new_base);
        if (!rc && t && t->base == new_base && klog__txnidx_count(t->idx) > 0)
            rc = klog__txnidx_delete(t->idx);
    }
    /* Without fsyncs: a roll must not wait for the disk (it cost three
     * fsyncs, ~13 ms a roll on a busy disk), and a snapshot only saves
     * replay work at the next open, which deletes a torn one. */
    if (!rc)
        rc = snapshot_at(ls, new_base, 0);
    if (ls->stray == new_base)
        ls->stray = -1; /* it is the new segment's snapshot now */
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_reap(klog__logstate_t *ls, int64_t sealed_end)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    if (ls->stray >= 0 && ls->stray < sealed_end) {
        rc = klog__snapshot_delete(ls->dir, ls->stray);
        ls->stray = -1; /* on a failure the next open deletes it */
    }
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_drop_segments(klog__logstate_t *ls, const int64_t *bases, size_t n)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < ls->ntx; i++) {
            if (ls->tx[i].base == bases[k]) {
                int r = klog__txnidx_delete(ls->tx[i].idx);
                if (r && !rc)
                    rc = r;
                klog__ls_remove_tx(ls, i);
                break;
            }
        }
        int r = klog__snapshot_delete(ls->dir, bases[k]);
        if (r && !rc)
            rc = r;
    }
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_log_start_moved(klog__logstate_t *ls, int64_t log_start)
{
    pthread_mutex_lock(&ls->mu);
    int rc = 0;
    if (klog__epoch_truncate_start(ls->epochs, log_start) == 1)
        rc = klog__epoch_store(ls->epochs);
    int64_t *v = NULL;
    size_t n = 0;
    int r = klog__snapshot_list(ls->dir, &v, &n);
    if (!r)
        klog__pstate_log_start_moved(ls->ps, log_start, n ? v[n - 1] : -1);
    else if (!rc)
        rc = r;
    free(v);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_sync_locked(klog__logstate_t *ls)
{
    int rc = 0;
    for (size_t i = 0; i < ls->ntx && !rc; i++) {
        if (!ls->tx[i].dirty)
            continue;
        rc = klog__txnidx_flush(ls->tx[i].idx);
        if (!rc)
            ls->tx[i].dirty = 0;
    }
    return rc;
}

int klog__ls_sync(klog__logstate_t *ls)
{
    pthread_mutex_lock(&ls->mu);
    int rc = klog__ls_sync_locked(ls);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

int klog__ls_shutdown(klog__logstate_t *ls, int64_t log_end)
{
    pthread_mutex_lock(&ls->mu);
    int rc = klog__ls_sync_locked(ls);
    if (!rc)
        rc = snapshot_at(ls, log_end, 1);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}

size_t klog__ls_expire(klog__logstate_t *ls, int64_t now_ms)
{
    pthread_mutex_lock(&ls->mu);
    size_t n = klog__pstate_expire(ls->ps, now_ms);
    pthread_mutex_unlock(&ls->mu);
    return n;
}

void klog__ls_set_expiration(klog__logstate_t *ls, int64_t expiration_ms)
{
    pthread_mutex_lock(&ls->mu);
    klog__pstate_set_expiration(ls->ps, expiration_ms);
    pthread_mutex_unlock(&ls->mu);
}

/* ------------------------------------------------------------ queries */

int64_t klog__ls_lso(klog__logstate_t *ls, int64_t hw)
{
    pthread_mutex_lock(&ls->mu);
    klog__pstate_hw_updated(ls->ps, hw);
    int64_t lso = klog__pstate_lso(ls->ps, hw);
    pthread_mutex_unlock(&ls->mu);
    return lso;
}

int64_t klog__ls_txn_first(klog__logstate_t *ls, int64_t pid)
{
    pthread_mutex_lock(&ls->mu);
    const klog__producer_t *e = klog__pstate_get(ls->ps, pid);
    int64_t first = e ? e->txn_first_offset : -1;
    pthread_mutex_unlock(&ls->mu);
    return first;
}

int klog__ls_aborted(klog__logstate_t *ls, int64_t from, int64_t to, klog__aborted_txn_t **out,
                     size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&ls->mu);
    klog__ls_tx_t *t = klog__ls_tx_floor(ls, from);
    size_t i = t ? (size_t)(t - ls->tx) : 0;
    int rc = 0, complete = 0;
    for (; i < ls->ntx && !complete && !rc; i++)
        rc = klog__txnidx_collect(ls->tx[i].idx, from, to, out, n, &complete);
    pthread_mutex_unlock(&ls->mu);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void klog__ls_epoch_end(klog__logstate_t *ls, int32_t epoch, int64_t log_end, int32_t *epoch_out,
                        int64_t *offset_out)
{
    pthread_mutex_lock(&ls->mu);
    klog__epoch_end_offset(ls->epochs, epoch, log_end, epoch_out, offset_out);
    pthread_mutex_unlock(&ls->mu);
}

int klog__ls_producers(klog__logstate_t *ls, klog__producer_t **out, size_t *n)
{
    pthread_mutex_lock(&ls->mu);
    size_t cnt = klog__pstate_count(ls->ps);
    klog__producer_t *v = klog__calloc(cnt ? cnt : 1, sizeof *v);
    for (size_t i = 0; v && i < cnt; i++)
        v[i] = *klog__pstate_at(ls->ps, i);
    pthread_mutex_unlock(&ls->mu);
    if (!v)
        return -ENOMEM;
    *out = v;
    *n = cnt;
    return 0;
}

int klog__ls_all_aborted(klog__logstate_t *ls, klog__aborted_txn_t **out, size_t *n)
{
    pthread_mutex_lock(&ls->mu);
    size_t cnt = 0;
    for (size_t i = 0; i < ls->ntx; i++)
        cnt += klog__txnidx_count(ls->tx[i].idx);
    klog__aborted_txn_t *v = klog__calloc(cnt ? cnt : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < ls->ntx; i++)
        for (size_t j = 0; j < klog__txnidx_count(ls->tx[i].idx); j++)
            v[k++] = *klog__txnidx_entry(ls->tx[i].idx, j);
    pthread_mutex_unlock(&ls->mu);
    if (!v)
        return -ENOMEM;
    *out = v;
    *n = cnt;
    return 0;
}

int klog__ls_epochs(klog__logstate_t *ls, klog__epoch_entry_t **out, size_t *n)
{
    pthread_mutex_lock(&ls->mu);
    size_t cnt = ls->epochs ? klog__epoch_count(ls->epochs) : 0;
    klog__epoch_entry_t *v = klog__calloc(cnt ? cnt : 1, sizeof *v);
    for (size_t i = 0; v && i < cnt; i++)
        v[i] = *klog__epoch_at(ls->epochs, i);
    pthread_mutex_unlock(&ls->mu);
    if (!v)
        return -ENOMEM;
    *out = v;
    *n = cnt;
    return 0;
}

/* ------------------------------------------------------------ backup */

int klog__ls_backup(klog__logstate_t *ls, const char *dest, int64_t first, int64_t next)
{
    pthread_mutex_lock(&ls->mu);
    klog__buf_t b = {0};
    int64_t *v = NULL;
    size_t n = 0;
    int rc = klog__snapshot_list(ls->dir, &v, &n);
    /* Snapshots within the copy: the files never change once written. */
    for (size_t i = 0; !rc && i < n; i++) {
        if (v[i] <= first || v[i] > next)
            continue;
        char name[32];
        klog__snapshot_name(v[i], name);
        char *path = klog__asprintf("%s/%s", ls->dir, name);
        uint8_t *data = NULL;
        size_t len = 0;
        rc = path ? klog__read_file(path, (size_t)1 << 30, &data, &len) : -ENOMEM;
        free(path);
        if (rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (!rc)
            rc = klog__write_file_atomic(dest, name, data, len);
        free(data);
    }
    free(v);
    /* Each copied segment's aborted transactions below the copy's end. */
    for (size_t i = 0; !rc && i < ls->ntx && ls->tx[i].base < next; i++) {
        b.len = 0;
        const klog__txnidx_t *idx = ls->tx[i].idx;
        for (size_t j = 0; !rc && j < klog__txnidx_count(idx); j++) {
            const klog__aborted_txn_t *t = klog__txnidx_entry(idx, j);
            if (t->last_offset >= next)
                break;
            uint8_t e[KLOG__TXNIDX_ENTRY_SIZE];
            klog__txnidx_encode(t, e);
            rc = klog__buf_append(&b, e, sizeof e);
        }
        if (!rc && b.len) {
            char name[32];
            klog__txnidx_name(ls->tx[i].base, name);
            rc = klog__write_file_atomic(dest, name, b.data, b.len);
        }
    }
    /* The epoch cache as far as the copy goes. */
    size_t ne = 0, cnt = klog__epoch_count(ls->epochs);
    while (ne < cnt && klog__epoch_at(ls->epochs, ne)->start_offset < next)
        ne++;
    if (!rc && ne) {
        klog__epoch_entry_t *ev = klog__calloc(ne, sizeof *ev);
        rc = ev ? 0 : -ENOMEM;
        for (size_t i = 0; ev && i < ne; i++)
            ev[i] = *klog__epoch_at(ls->epochs, i);
        b.len = 0;
        if (!rc)
            rc = klog__epoch_format(ev, ne, &b);
        if (!rc)
            rc = klog__write_file_atomic(dest, KLOG__EPOCH_CHECKPOINT, b.data, b.len);
        free(ev);
    }
    klog__buf_free(&b);
    pthread_mutex_unlock(&ls->mu);
    return rc;
}
