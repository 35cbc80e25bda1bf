/*
 * append.c — the append path, rolling and the flush policy (group commit).
 *
 * Append: encode outside any lock; under append_mu assign the base offset,
 * roll if needed, one pwritev at the active segment's end, index entries
 * every index.interval.bytes, then publish size, log end and watermark
 * (release stores) and wake waiters. A failed write or fsync marks the
 * partition failed: appends are refused until the log is reopened, since
 * neither can be retried safely.
 *
 * Group commit: klog_flush() takes the log end it must cover; one caller
 * at a time runs the fdatasync while others wait on sync_cv, and every
 * waiter whose target the finished fsync covered returns without its own.
 *
 * A rolled segment goes to the sealer; when it is sealed (sealed() below,
 * on the sealer's thread) the recovery point moves past it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"
#include "storage/partition_impl.h"

/* klog__partition_conf, inlined: each append makes its look-ups with
 * constant keys. */
static inline int64_t conf(const klog__partition_t *p, int key)
{
    return klog__config_value(p->tcfg, p->env->log_cfg, key);
}

/* ------------------------------------------------------------ roll */

/* The sealer finished s: everything below the next segment is durable
 * once every earlier segment is sealed too. */
static void sealed(void *ctx, klog__segment_t *s, int rc)
{
    klog__partition_t *p = ctx;
    if (rc) {
        klog__log(p->env->logger, KLOG_LOG_ERROR, "seal %s: %s", klog__segment_stem(s),
                  klog_strerror(rc));
        atomic_store(&p->failed, 1);
        return;
    }
    klog__seglist_t *l = klog__partition_segments(p);
    for (size_t i = 0; l && i + 1 < l->n; i++) {
        if (l->seg[i] == s) {
            int64_t upto = klog__segment_base(l->seg[i + 1]);
            int64_t cur = atomic_load(&p->recovery_point);
            int all = 1;
            for (size_t j = 0; j < i; j++)
                all &= klog__segment_is_sealed(l->seg[j]);
            if (all && upto > cur)
                atomic_store(&p->recovery_point, upto);
            break;
        }
    }
    klog__seglist_unref(l);
}

/* Seal a rolled segment. Its .txnindex entries (the aborted transactions
 * whose markers it holds: none are added once it rolled) are made durable
 * first: once sealed, the recovery point moves past it, and a load after a
 * crash rebuilds producer state and .txnindex files only from the first
 * segment neither a flush nor a seal covered (klog__partstate_load). */
static void seal_rolled(void *ctx, klog__segment_t *s)
{
    klog__partition_t *p = ctx;
    int rc = klog__partstate_sync(p);
    if (!rc)
        rc = klog__segment_seal(s);
    if (!rc)
        klog__partstate_sealed(p, klog__segment_next_offset(s));
    sealed(p, s, rc);
}

void klog__partition_queue_seal(klog__partition_t *p, klog__segment_t *s)
{
    klog__segment_ref(s);
    klog__sealer_queue(p->env->sealer, s, seal_rolled, p);
}

static int create_segment(klog__partition_t *p, int64_t base, klog__segment_t **out)
{
    klog__segment_t *s;
    int rc = klog__segment_new(&p->segenv, base, &s);
    if (rc)
        return rc;
    klog__segment_mark_new(s);
    rc = klog__segment_create(s);
    if (rc) {
        klog__segment_unref(s);
        return rc;
    }
    /* Its directory entry reaches the disk with the first flush that
     * covers data in it (klog__segment_sync) or the old segment's seal,
     * whichever comes first: a roll itself fsyncs nothing. */
    klog__segment_mark_dir_unsynced(s);
    *out = s;
    return 0;
}

/* Roll to a new active segment at `base`; append_mu held. */
static int roll(klog__partition_t *p, klog__seglist_t *l, int64_t base)
{
    klog__segment_t *old = l->seg[l->n - 1], *s;
    int rc = create_segment(p, base, &s);
    if (rc)
        return rc;
    klog__seglist_t *nl = klog__seglist_slice(l, 0, l->n, s);
    if (!nl) {
        klog__segment_mark_deleted(s);
        klog__segment_unref(s);
        return -ENOMEM;
    }
    klog__partition_publish_list(p, nl);
    klog__stats_rolled(&p->stats);
    if (klog__sealer_backlogged(p->env->sealer)) {
        /* The sealer is behind by the bound: this roll seals its own
         * partition's rolled segments, oldest first, before going on. */
        klog__sealer_seal_own(p->env->sealer, p);
        seal_rolled(p, old);
    } else {
        klog__partition_queue_seal(p, old);
    }
    return klog__partstate_rolled(p, base);
}

/* segment_bytes: the caller's read of KLOG_CONF_SEGMENT_BYTES for this
 * append (one configuration look-up less per append). */
static int should_roll(klog__partition_t *p, klog__segment_t *s, int64_t size, int64_t last,
                       int64_t max_ts, int64_t segment_bytes)
{
    return klog__segment_should_roll(s, size, last, max_ts, segment_bytes,
                                     conf(p, KLOG_CONF_SEGMENT_MS));
}

int klog_segment_roll(klog_partition_t *p)
{
    if (!p)
        return -EINVAL;
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    if (atomic_load(&p->deleted))
        return KLOG_ENOTOPIC;
    pthread_mutex_lock(&p->append_mu);
    klog__seglist_t *l = p->segs;
    int rc = 0;
    if (klog__segment_bytes(l->seg[l->n - 1], 0) > 0) {
        rc = roll(p, l, atomic_load(&p->log_end));
        if (!rc)
            rc = 1;
    }
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

/* ------------------------------------------------------------ append */

/* What one write carries: offsets [first, last], `count` records, the max
 * timestamp and the last offset of the batch that first reached it; and
 * the segment.bytes the append was checked against. */
typedef struct wspan {
    int64_t first, last, max_ts, max_ts_off, count;
    int64_t segment_bytes;
} wspan_t;

/*
 * Write one or more whole batches (len bytes, as Kafka's one
 * LogSegment.append: one roll decision, at most one index entry). hdr,
 * when non-NULL, replaces the first 8 bytes (the base offset) of data.
 * append_mu held.
 */
static int write_locked(klog__partition_t *p, const uint8_t *hdr, const uint8_t *data,
                        size_t len, const wspan_t *w)
{
    int64_t first = w->first, last = w->last, max_ts = w->max_ts;
    klog__seglist_t *l = p->segs; /* stable: only append_mu holders replace it */
    klog__segment_t *s = l->seg[l->n - 1];
    /* Pin first: the roll test reads the mapped indexes. */
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    if (should_roll(p, s, (int64_t)len, last, max_ts, w->segment_bytes)) {
        klog__segment_unpin(s);
        int64_t end = atomic_load(&p->log_end);
        rc = roll(p, l, first > end ? first : end);
        if (rc)
            return rc;
        l = p->segs;
        s = l->seg[l->n - 1];
        rc = klog__segment_pin(s, 1);
        if (rc)
            return rc;
    }
    rc = klog__segment_begin_write(s);
    if (rc)
        goto out;
    struct iovec iov[2];
    int iovcnt = 0;
    if (hdr) {
        iov[iovcnt++] = (struct iovec){(void *)hdr, 8};
        iov[iovcnt++] = (struct iovec){(void *)(data + 8), len - 8};
    } else {
        iov[iovcnt++] = (struct iovec){(void *)data, len};
    }
    rc = klog__segment_append(s, iov, iovcnt, len, last, max_ts, w->max_ts_off);
    if (rc) {
        atomic_store(&p->failed, 1);
        goto out;
    }
    atomic_store_explicit(&p->log_end, last + 1, memory_order_release);
    atomic_fetch_add(&p->appended_msgs, w->count);
    klog__stats_appended(&p->stats, len, w->count);
out:
    klog__segment_unpin(s);
    return rc;
}

static int check_writable(klog__partition_t *p)
{
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    if (atomic_load(&p->deleted))
        return KLOG_ENOTOPIC;
    return 0;
}

/* After an append (rc: its outcome): visibility and the flush policy,
 * outside append_mu. The log end reaches klog.state here, after the data,
 * in the same pin as the watermark (the page's stores only raise them, so
 * a racing publish of an older end cannot undo a newer one); a failed
 * append publishes what it wrote before the failure. */
static int after_append(klog__partition_t *p, int rc)
{
    if (rc) {
        klog__partition_publish_log_end(p);
        return rc;
    }
    int64_t every = conf(p, KLOG_CONF_FLUSH_MESSAGES);
    int flushed_vis = conf(p, KLOG_CONF_VISIBILITY) == KLOG_VISIBLE_FLUSHED;
    if (every > 0 &&
        atomic_load(&p->appended_msgs) - atomic_load(&p->flushed_msgs) >= every)
        return klog_flush(p);
    if (!flushed_vis)
        klog__partition_set_hw(p, atomic_load(&p->log_end)); /* with the end */
    else
        klog__partition_publish_log_end(p);
    return 0;
}

/* One batch: `batch`, or when `own` (the same bytes, the library's own
 * buffer) its base offset stamped in place and the batch written in one
 * pwrite instead of a pwritev of the stamp and the rest (a single-buffer
 * write is about 15% cheaper in the kernel at batch 1: bench_paper's
 * paper.raw.pwritev2.b1). */
static int append_batch(klog__partition_t *p, const uint8_t *batch, uint8_t *own, size_t len,
                        int64_t *base_out, int origin)
{
    int rc = check_writable(p);
    if (rc)
        return rc;
    klog_batch_info_t bi; /* klog_batch_header's checks, without its copy */
    rc = klog__batch_peek(batch, len, &bi);
    if (rc)
        return rc;
    if (bi.size > len)
        return KLOG_ETRUNCATED;
    if (bi.size != len)
        return KLOG_EBATCHSIZE;
    int64_t maxb = conf(p, KLOG_CONF_MAX_BATCH_BYTES);
    int64_t segb = conf(p, KLOG_CONF_SEGMENT_BYTES);
    if ((int64_t)len > maxb || (int64_t)len > segb)
        return KLOG_ETOOLARGE;
    if (bi.last_offset_delta < 0)
        return KLOG_EOFFSETDELTA;
    uint8_t hdr[8];
    pthread_mutex_lock(&p->append_mu);
    int64_t base = atomic_load(&p->log_end);
    /* Producer state, markers, epochs: batches without any cost one test. */
    int slow = (bi.producer_id >= 0) | ((bi.attributes & KLOG_ATTR_CONTROL) != 0) |
               (bi.leader_epoch > p->epoch_latest);
    if (slow) {
        klog__pcheck_t res;
        rc = klog__partstate_check(p, batch, len, &bi, base, origin, &res);
        if (rc) {
            pthread_mutex_unlock(&p->append_mu);
            if (rc == 1 && base_out)
                *base_out = res.first_offset; /* a retry: already stored there */
            return rc == 1 ? 0 : rc;
        }
    }
    klog__store64(own ? own : hdr, (uint64_t)base);
    int64_t last = base + bi.last_offset_delta;
    wspan_t w = {base, last, bi.max_timestamp, last, bi.record_count, segb};
    rc = write_locked(p, own ? NULL : hdr, batch, len, &w);
    if (slow)
        rc = klog__partstate_after(p, &bi, base, rc, bi.producer_id >= 0);
    pthread_mutex_unlock(&p->append_mu);
    if (!rc && base_out)
        *base_out = base;
    return after_append(p, rc);
}

/* A caller's batch up to this size is copied to the stack and written in
 * one pwrite: below ~2 KiB the copy costs less than pwritev's iovec
 * import saves (0.16 us a call at 1 KiB, 0.12 us at 4 KiB, where copying
 * 4 KiB costs about 0.1 us). */
#define SMALL_BATCH_COPY 2048

int klog__partition_append_origin(klog__partition_t *p, const uint8_t *batch, size_t len,
                                  int64_t *base_out, int origin)
{
    if (batch && len <= SMALL_BATCH_COPY) {
        uint8_t copy[SMALL_BATCH_COPY];
        memcpy(copy, batch, len);
        return append_batch(p, copy, copy, len, base_out, origin);
    }
    return append_batch(p, batch, NULL, len, base_out, origin);
}

int klog__partition_append_encoded(klog__partition_t *p, uint8_t *batch, size_t len,
                                   int64_t *base_out)
{
    return append_batch(p, batch, batch, len, base_out, KLOG__ORIGIN_CLIENT);
}

int klog_append_batch(klog_partition_t *p, const void *batch, size_t len, int64_t *base_offset)
{
    if (!p || !batch)
        return -EINVAL;
    int rc = klog_batch_validate(batch, len, KLOG_VALIDATE_HEADER | KLOG_VALIDATE_RECORDS, NULL);
    if (rc)
        return rc;
    return klog__partition_append_origin(p, batch, len, base_offset, KLOG__ORIGIN_CLIENT);
}

/* Per-thread builder cache: klog_append encodes without allocating. The
 * key's destructor frees a thread's builders when it exits. */
typedef struct tl_builders {
    klog_builder_t *b[5];
} tl_builders_t;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_free(void *v)
{
    tl_builders_t *t = v;
    for (int i = 0; i < 5; i++)
        klog_builder_free(t->b[i]);
    free(t);
}

static void tl_init(void) { pthread_key_create(&tl_key, tl_free); }

static tl_builders_t *tl_get(void)
{
    pthread_once(&tl_once, tl_init);
    tl_builders_t *t = pthread_getspecific(tl_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (t && pthread_setspecific(tl_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

int klog_append(klog_partition_t *p, const klog_record_t *recs, size_t n, int64_t *base_offset)
{
    if (!p || (!recs && n))
        return -EINVAL;
    if (n == 0)
        return KLOG_EEMPTY;
    int rc = check_writable(p);
    if (rc)
        return rc;
    int codec = (int)conf(p, KLOG_CONF_COMPRESSION);
    tl_builders_t *tl = tl_get();
    if (!tl)
        return -ENOMEM;
    klog_builder_t *b = tl->b[codec];
    if (!b) {
        rc = klog_builder_new(codec, &b);
        if (rc)
            return rc;
        tl->b[codec] = b;
    }
    /* Every return below resets the builder: it is empty here. */
    uint8_t *batch;
    size_t len = 0;
    rc = klog__builder_add_many(b, recs, n);
    if (rc)
        goto out;
    rc = klog__builder_finish_own(b, &batch, &len);
    if (rc)
        goto out;
    rc = klog__partition_append_encoded(p, batch, len, base_offset);
out:
    klog_builder_reset(b);
    if (len > (8u << 20)) {
        /* Do not keep a huge buffer alive per thread. */
        klog_builder_free(b);
        tl->b[codec] = NULL;
    }
    return rc;
}

/* The longest run of whole batches from data[off] whose offsets span at
 * most INT32_MAX (so one segment based at the run's first offset can index
 * them all); its length in bytes, and *w filled. The batches were
 * validated. */
static size_t follower_run(const uint8_t *b, size_t len, size_t off, wspan_t *w)
{
    size_t start = off;
    *w = (wspan_t){-1, -1, -1, -1, 0, w->segment_bytes};
    while (off < len) {
        klog_batch_info_t bi;
        klog_batch_header(b + off, len - off, &bi);
        int64_t last = bi.base_offset + bi.last_offset_delta;
        if (w->first < 0)
            w->first = bi.base_offset;
        else if (last - w->first > INT32_MAX)
            break;
        w->last = last;
        if (bi.max_timestamp > w->max_ts) {
            w->max_ts = bi.max_timestamp;
            w->max_ts_off = last;
        }
        w->count += bi.record_count;
        off += bi.size;
    }
    return off - start;
}

static size_t bi0_size(const uint8_t *b, size_t len)
{
    klog_batch_info_t bi;
    klog_batch_header(b, len, &bi); /* validated before */
    return bi.size;
}

int klog_append_follower(klog_partition_t *p, const void *batches, size_t len)
{
    if (!p || (!batches && len))
        return -EINVAL;
    int rc = check_writable(p);
    if (rc)
        return rc;
    if (len == 0)
        return KLOG_EEMPTY;
    /* Validate everything first: all or nothing. */
    const uint8_t *b = batches;
    size_t off = 0;
    int64_t prev_next = -1, first = -1;
    while (off < len) {
        klog_batch_info_t bi;
        rc = klog_batch_validate(b + off, len - off, KLOG_VALIDATE_HEADER, &bi);
        if (rc == 0 && bi.size < len - off) {
            /* validate() wants exactly one batch; re-check the slice. */
            rc = klog_batch_validate(b + off, bi.size, KLOG_VALIDATE_HEADER, &bi);
        } else if (rc == KLOG_EBATCHSIZE || rc == KLOG_ETRUNCATED) {
            klog_batch_info_t hi;
            if (klog_batch_header(b + off, len - off, &hi) == 0 && hi.size < len - off)
                rc = klog_batch_validate(b + off, hi.size, KLOG_VALIDATE_HEADER, &bi);
        }
        if (rc)
            return rc;
        if (bi.last_offset_delta < 0 || bi.base_offset < 0 ||
            (prev_next >= 0 && bi.base_offset < prev_next))
            return KLOG_ESEQUENCE;
        if (first < 0)
            first = bi.base_offset;
        prev_next = bi.base_offset + bi.last_offset_delta + 1;
        off += bi.size;
    }
    int64_t maxb = conf(p, KLOG_CONF_SEGMENT_BYTES);
    if ((int64_t)len > maxb)
        return KLOG_ETOOLARGE;
    pthread_mutex_lock(&p->append_mu);
    if (first < atomic_load(&p->log_end)) {
        pthread_mutex_unlock(&p->append_mu);
        return KLOG_ESEQUENCE;
    }
    /* Producer state first, for every batch: all or nothing. */
    int staged = 0;
    for (off = 0; off < len && !rc; off += bi0_size(b + off, len - off)) {
        klog_batch_info_t bi;
        klog_batch_header(b + off, len - off, &bi);
        if (bi.producer_id < 0 && !(bi.attributes & KLOG_ATTR_CONTROL))
            continue;
        klog__pcheck_t res;
        rc = klog__partstate_check(p, b + off, bi.size, &bi, bi.base_offset,
                                   KLOG__ORIGIN_REPLICA, &res);
        staged |= bi.producer_id >= 0;
    }
    if (rc) {
        pthread_mutex_unlock(&p->append_mu);
        return rc;
    }
    /* As a Kafka follower: the fetched chunk is one append (one roll
     * decision, at most one index entry, as (the chunk's last offset, its
     * first byte)), so a libklog follower's .index and .timeindex equal a
     * Kafka follower's for the same fetches. Only a chunk whose offsets
     * span more than INT32_MAX is split, each part rolling to a segment
     * based at its first offset. */
    off = 0;
    while (off < len && !rc) {
        wspan_t w = {.segment_bytes = maxb};
        size_t n = follower_run(b, len, off, &w);
        rc = write_locked(p, NULL, b + off, n, &w);
        /* Then, batch by batch: epochs as each begins; the producer-state
         * stage is committed with the last batch (or dropped on failure). */
        for (size_t o = off; o < off + n; o += bi0_size(b + o, len - o)) {
            klog_batch_info_t bi;
            klog_batch_header(b + o, len - o, &bi);
            if (staged && (rc || o + bi.size >= len)) {
                rc = klog__partstate_after(p, &bi, bi.base_offset, rc, 1);
                staged = 0;
            } else if (bi.leader_epoch > p->epoch_latest) {
                rc = klog__partstate_after(p, &bi, bi.base_offset, rc, 0);
            }
            if (rc)
                break;
        }
        off += n;
    }
    pthread_mutex_unlock(&p->append_mu);
    return after_append(p, rc);
}

/* ------------------------------------------------------------ flush */

int klog_flush(klog_partition_t *p)
{
    if (!p)
        return -EINVAL;
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    int64_t target = atomic_load(&p->log_end);
    int64_t msgs = atomic_load(&p->appended_msgs);
    int rc = 0;
    pthread_mutex_lock(&p->sync_mu);
    for (;;) {
        if (atomic_load(&p->failed)) {
            rc = KLOG_EFAILED;
            break;
        }
        if (atomic_load(&p->recovery_point) >= target)
            break;
        if (p->syncing) {
            pthread_cond_wait(&p->sync_cv, &p->sync_mu);
            continue;
        }
        p->syncing = 1;
        pthread_mutex_unlock(&p->sync_mu);

        /* Everything written before this point is covered by the fsyncs. */
        int64_t end = atomic_load(&p->log_end);
        int64_t end_msgs = atomic_load(&p->appended_msgs);
        int64_t t0 = klog__mono_ns();
        klog__seglist_t *l = klog__partition_segments(p);
        for (size_t i = 0; i < l->n && !rc; i++)
            rc = klog__segment_sync(l->seg[i]);
        klog__seglist_unref(l);
        if (!rc)
            rc = klog__partstate_sync(p); /* .txnindex entries of that data */
        atomic_fetch_add(&p->fsyncs, 1);
        klog__stats_fsynced(&p->stats, t0);

        pthread_mutex_lock(&p->sync_mu);
        p->syncing = 0;
        if (rc) {
            atomic_store(&p->failed, 1);
            klog__log(p->env->logger, KLOG_LOG_ERROR, "flush: %s: fsync failed: %s", p->dir,
                      klog_strerror(rc));
        } else {
            int64_t cur = atomic_load(&p->recovery_point);
            if (end > cur)
                atomic_store(&p->recovery_point, end);
            if (end_msgs > atomic_load(&p->flushed_msgs))
                atomic_store(&p->flushed_msgs, end_msgs);
            p->last_flush_ms = klog__now_ms();
        }
        pthread_cond_broadcast(&p->sync_cv);
        if (rc)
            break;
    }
    pthread_mutex_unlock(&p->sync_mu);
    (void)msgs;
    if (!rc) {
        if (conf(p, KLOG_CONF_VISIBILITY) == KLOG_VISIBLE_FLUSHED)
            klog__partition_set_hw(p, atomic_load(&p->recovery_point));
        else
            klog__partition_set_hw(p, atomic_load(&p->log_end));
    }
    return rc;
}

void klog__partition_tick(klog__partition_t *p, int64_t now_ms)
{
    int64_t ms = conf(p, KLOG_CONF_FLUSH_MS);
    if (ms <= 0 || atomic_load(&p->failed))
        return;
    if (atomic_load(&p->log_end) > atomic_load(&p->recovery_point) &&
        now_ms - p->last_flush_ms >= ms)
        klog_flush(p);
}

