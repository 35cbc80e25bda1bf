/*
 * partstate.c — the partition side of its log state (logstate.h): the
 * small hooks append.c, recover.c, retention.c and partition.c call (so
 * those paths stay as they were), and the public calls built on the state:
 * transaction markers, the last stable offset, OffsetForLeaderEpoch, and
 * what readers and leases ask (LSO, aborted transactions).
 *
 * Read-only opens keep no log state (p->ls == NULL): their readers see no
 * transactions (read_committed is refused there) and the epoch lookups
 * answer -ENOTSUP.
 */
#include <errno.h>
#include <stdlib.h>

#include "storage/partition_impl.h"

int klog__partstate_open(klog__partition_t *p)
{
    p->epoch_latest = -1;
    if (p->env->rdonly)
        return 0;
    return klog__ls_new(p->dir, p->env->logger,
                        klog__partition_conf(p, KLOG_CONF_PRODUCER_ID_EXPIRATION_MS), &p->ls);
}

void klog__partstate_close(klog__partition_t *p)
{
    klog__ls_free(p->ls);
    p->ls = NULL;
}

int klog__partstate_load(klog__partition_t *p, klog__seglist_t *l, int64_t ckpt_rp,
                         klog__ls_files_t *files)
{
    if (!p->ls)
        return 0;
    int64_t start = atomic_load(&p->log_start), end = atomic_load(&p->log_end);
    /* Rebuilt from the first segment neither the checkpointed flush nor a
     * seal made durable: the load's recovery point stops at the first
     * segment it scanned, past the sealed ones above the checkpoint, whose
     * .txnindex the sealer synced before their seal (seal_rolled). Their
     * producer state comes from the snapshot their successor's roll wrote;
     * a torn one is skipped for an older one and a longer replay. Without
     * a checkpointed recovery point (0: the checkpoint file is gone, and
     * derived files may be too) everything is rebuilt, as Kafka does. */
    int64_t rp = atomic_load(&p->recovery_point);
    int64_t from = ckpt_rp > 0 && rp > ckpt_rp ? rp : ckpt_rp;
    int rc = klog__ls_load(p->ls, l->seg, l->n, start, end, from < end ? from : end, files);
    if (rc)
        klog__log(p->env->logger, KLOG_LOG_ERROR, "%s: loading producer state: %s", p->dir,
                  klog_strerror(rc));
    p->epoch_latest = klog__ls_latest_epoch(p->ls);
    return rc;
}

/* ------------------------------------------------------------ appends */

int klog__partstate_check(klog__partition_t *p, const uint8_t *batch, size_t len,
                          const klog_batch_info_t *bi, int64_t base, int origin,
                          klog__pcheck_t *res)
{
    res->duplicate = 0;
    if ((bi->attributes & KLOG_ATTR_CONTROL) && origin == KLOG__ORIGIN_CLIENT)
        return -EINVAL; /* only klog_append_marker and followers write markers */
    if (bi->producer_id < 0 || !p->ls)
        return 0;
    klog__pbatch_in_t in;
    int rc = klog__ls_batch_in(batch, len, bi, base, &in);
    if (!rc)
        rc = klog__ls_check(p->ls, &in, origin, res);
    if (rc)
        klog__ls_commit(p->ls, 0, 0, 0, -1); /* forget what earlier batches staged */
    return rc ? rc : res->duplicate;
}

int klog__partstate_after(klog__partition_t *p, const klog_batch_info_t *bi, int64_t base,
                          int write_rc, int commit)
{
    if (!p->ls)
        return write_rc;
    int rc = write_rc;
    if (commit) {
        klog__seglist_t *l = p->segs;
        int r = klog__ls_commit(p->ls, write_rc == 0, klog__segment_base(l->seg[l->n - 1]),
                                base + bi->last_offset_delta + 1, atomic_load(&p->hw));
        if (r && !rc) {
            /* The batch is in the log but its .txnindex entry may not be:
             * as for a failed .log write, the partition stops here and the
             * next open rebuilds the index. */
            klog__log(p->env->logger, KLOG_LOG_ERROR, "%s: .txnindex append failed: %s", p->dir,
                      klog_strerror(r));
            atomic_store(&p->failed, 1);
            rc = r;
        }
    }
    if (write_rc == 0 && bi->leader_epoch > p->epoch_latest) {
        int r = klog__ls_epoch(p->ls, bi->leader_epoch, base); /* logged */
        p->epoch_latest = klog__ls_latest_epoch(p->ls);
        if (r && !rc) {
            /* Written, but the checkpoint is not: as a failed fsync, the
             * partition stops (the next open rebuilds what it can). */
            atomic_store(&p->failed, 1);
            rc = r;
        }
    }
    return rc;
}

int klog__partstate_rolled(klog__partition_t *p, int64_t base)
{
    if (!p->ls)
        return 0;
    int rc = klog__ls_roll(p->ls, base);
    if (rc) {
        klog__log(p->env->logger, KLOG_LOG_ERROR, "%s: roll: .txnindex: %s", p->dir,
                  klog_strerror(rc));
        atomic_store(&p->failed, 1);
    }
    return rc;
}

void klog__partstate_dropped(klog__partition_t *p, const klog__seglist_t *old, size_t k)
{
    if (!p->ls || k == 0)
        return;
    int64_t *bases = klog__calloc(k, sizeof *bases);
    int rc = -ENOMEM;
    if (bases) {
        for (size_t i = 0; i < k; i++)
            bases[i] = klog__segment_base(old->seg[i]);
        rc = klog__ls_drop_segments(p->ls, bases, k);
        free(bases);
    }
    if (rc) /* leftovers are removed as strays and orphans at the next open */
        klog__log(p->env->logger, KLOG_LOG_WARN, "%s: deleting segment state files: %s", p->dir,
                  klog_strerror(rc));
}

void klog__partstate_log_start(klog__partition_t *p)
{
    if (!p->ls)
        return;
    int rc = klog__ls_log_start_moved(p->ls, atomic_load(&p->log_start));
    if (rc)
        klog__log(p->env->logger, KLOG_LOG_WARN, "%s: log start moved: %s", p->dir,
                  klog_strerror(rc));
}

int klog__partstate_truncated(klog__partition_t *p, int64_t old_end)
{
    if (!p->ls)
        return 0;
    klog__seglist_t *l = p->segs;
    int rc = klog__ls_truncate(p->ls, l->seg, l->n, old_end, atomic_load(&p->log_start),
                               atomic_load(&p->log_end));
    p->epoch_latest = klog__ls_latest_epoch(p->ls);
    if (rc) {
        klog__log(p->env->logger, KLOG_LOG_ERROR, "%s: truncate: producer state: %s", p->dir,
                  klog_strerror(rc));
        atomic_store(&p->failed, 1);
    }
    return rc;
}

int klog__partstate_sync(klog__partition_t *p) { return p->ls ? klog__ls_sync(p->ls) : 0; }

void klog__partstate_sealed(klog__partition_t *p, int64_t sealed_end)
{
    int rc = p->ls ? klog__ls_reap(p->ls, sealed_end) : 0;
    if (rc) /* the next open deletes it */
        klog__log(p->env->logger, KLOG_LOG_WARN, "%s: deleting a stray producer snapshot: %s",
                  p->dir, klog_strerror(rc));
}

int klog__partstate_shutdown(klog__partition_t *p)
{
    if (!p->ls)
        return 0;
    pthread_mutex_lock(&p->append_mu);
    int rc = klog__ls_shutdown(p->ls, atomic_load(&p->log_end));
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

void klog__partstate_expire(klog__partition_t *p, int64_t now_ms)
{
    if (!p->ls)
        return;
    /* The topic's setting as it is now (klog_topic_alter_config). */
    klog__ls_set_expiration(p->ls, klog__partition_conf(p, KLOG_CONF_PRODUCER_ID_EXPIRATION_MS));
    klog__ls_expire(p->ls, now_ms);
}

klog__logstate_t *klog__partition_logstate(klog__partition_t *p) { return p->ls; }

int klog__partition_state_backup(klog__partition_t *p, const char *dest, klog__seglist_t *l,
                                 int64_t first, int64_t next)
{
    if (!p->ls)
        return 0;
    int rc = klog__ls_backup(p->ls, dest, first, next);
    if (!rc) /* the state at the copy's end, so it opens with no replay */
        rc = klog__ls_snapshot_into(p->ls, l->seg, l->n, first, next, dest);
    return rc;
}

/* ------------------------------------------------------------ read side */

int64_t klog__partition_lso(klog__partition_t *p)
{
    int64_t hw = klog__partition_hw(p);
    return p->ls ? klog__ls_lso(p->ls, hw) : hw;
}

int klog__partition_aborted(klog__partition_t *p, int64_t from, int64_t to,
                            klog_aborted_txn_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!p->ls || from >= to)
        return 0;
    klog__aborted_txn_t *v;
    size_t cnt;
    int rc = klog__ls_aborted(p->ls, from, to, &v, &cnt);
    if (rc || cnt == 0) {
        free(v);
        return rc;
    }
    klog_aborted_txn_t *o = klog__calloc(cnt, sizeof *o);
    for (size_t i = 0; o && i < cnt; i++)
        o[i] = (klog_aborted_txn_t){v[i].producer_id, v[i].first_offset, v[i].last_offset};
    free(v);
    if (!o)
        return -ENOMEM;
    *out = o;
    *n = cnt;
    return 0;
}

/* ------------------------------------------------------------ public */

int klog_partition_lso(klog_partition_t *p, int64_t *lso)
{
    if (!p || !lso)
        return -EINVAL;
    if (!p->ls)
        return -ENOTSUP;
    *lso = klog__partition_lso(p);
    return 0;
}

int klog_partition_txn_open(klog_partition_t *p, int64_t producer_id, int64_t *first_offset)
{
    if (!p || !first_offset || producer_id < 0)
        return -EINVAL;
    if (!p->ls)
        return -ENOTSUP;
    *first_offset = klog__ls_txn_first(p->ls, producer_id);
    return 0;
}

int klog_partition_aborted(klog_partition_t *p, int64_t from, int64_t to,
                           klog_aborted_txn_t **out, size_t *count)
{
    if (!p || !out || !count)
        return -EINVAL;
    *out = NULL;
    *count = 0;
    if (!p->ls)
        return -ENOTSUP;
    return klog__partition_aborted(p, from, to, out, count);
}

int klog_offset_for_leader_epoch(klog_partition_t *p, int32_t epoch, int32_t *end_epoch,
                                 int64_t *end_offset)
{
    if (!p || !end_epoch || !end_offset)
        return -EINVAL;
    if (!p->ls)
        return -ENOTSUP;
    pthread_mutex_lock(&p->append_mu); /* the log end and the cache agree */
    klog__ls_epoch_end(p->ls, epoch, atomic_load(&p->log_end), end_epoch, end_offset);
    pthread_mutex_unlock(&p->append_mu);
    return 0;
}

int klog_append_marker(klog_partition_t *p, int64_t producer_id, int16_t producer_epoch,
                       int commit, int32_t coordinator_epoch, int64_t *offset)
{
    if (!p || producer_id < 0 || producer_epoch < 0 || (commit != 0 && commit != 1))
        return -EINVAL;
    if (!p->ls)
        return KLOG_EREADONLY;
    uint8_t key[KLOG__MARKER_KEY_SIZE], value[KLOG__MARKER_VALUE_SIZE];
    klog__marker_encode(commit, coordinator_epoch, key, value);
    klog_record_t rec = {
        .timestamp = KLOG_TIMESTAMP_NOW,
        .key = key,
        .key_len = KLOG__MARKER_KEY_SIZE,
        .value = value,
        .value_len = KLOG__MARKER_VALUE_SIZE,
    };
    klog_builder_t *b;
    int rc = klog_builder_new(KLOG_COMPRESSION_NONE, &b);
    if (rc)
        return rc;
    rc = klog_builder_set_producer(b, producer_id, producer_epoch, -1,
                                   KLOG_ATTR_TRANSACTIONAL | KLOG_ATTR_CONTROL);
    /* Markers carry the leader epoch as every batch the leader writes. */
    pthread_mutex_lock(&p->append_mu);
    klog_builder_set_leader_epoch(b, p->epoch_latest);
    pthread_mutex_unlock(&p->append_mu);
    if (!rc)
        rc = klog_builder_add(b, &rec);
    const void *batch;
    size_t len;
    if (!rc)
        rc = klog_builder_finish(b, &batch, &len);
    if (!rc)
        rc = klog__partition_append_origin(p, batch, len, offset, KLOG__ORIGIN_COORDINATOR);
    klog_builder_free(b);
    return rc;
}
