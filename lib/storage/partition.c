/*
 * partition.c — one partition's shared state: the segment list, the
 * watermarks and their waiters (condition variable and the pollable
 * eventfd, created, written and closed here only), offsets, and the
 * partition's open, shutdown and close. What read-only openers in other
 * processes see of the writer's offsets goes through the state page
 * (pstate.c).
 *
 * The rest of the partition module: recover.c (load, refresh), append.c
 * (appends, rolls, group commit), retention.c (retention, DeleteRecords,
 * truncation).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/partition_impl.h"

#define STATE_MAGIC "KLOGSTAT"

int64_t klog__partition_conf(const klog__partition_t *p, int key)
{
    return klog__config_value(p->tcfg, p->env->log_cfg, key);
}

/* ------------------------------------------------------------ seglist */

klog__seglist_t *klog__seglist_new(size_t n)
{
    klog__seglist_t *l = klog__calloc(1, sizeof *l + n * sizeof l->seg[0]);
    if (l) {
        atomic_init(&l->refs, 1);
        l->n = n;
    }
    return l;
}

void klog__seglist_unref(klog__seglist_t *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        klog__segment_unref(l->seg[i]);
    free(l);
}

klog__seglist_t *klog__partition_segments(struct klog_partition *p)
{
    pthread_mutex_lock(&p->list_mu);
    klog__seglist_t *l = p->segs;
    if (l)
        atomic_fetch_add(&l->refs, 1);
    pthread_mutex_unlock(&p->list_mu);
    return l;
}

void klog__partition_install_list(klog__partition_t *p, klog__seglist_t *nl, int announce)
{
    pthread_mutex_lock(&p->list_mu);
    klog__seglist_t *old = p->segs;
    p->segs = nl;
    pthread_mutex_unlock(&p->list_mu);
    /* Only the writer announces list changes (read-only openers map the
     * state page read-only). */
    if (announce && !p->env->rdonly)
        klog__pstate_publish(p, KLOG__PST_GEN);
    klog__seglist_unref(old);
}

void klog__partition_publish_list(klog__partition_t *p, klog__seglist_t *nl)
{
    klog__partition_install_list(p, nl, 1);
}

/* A copy of l with segments [from, to) and optionally `extra` appended. */
klog__seglist_t *klog__seglist_slice(const klog__seglist_t *l, size_t from, size_t to,
                                     klog__segment_t *extra)
{
    klog__seglist_t *nl = klog__seglist_new(to - from + (extra ? 1 : 0));
    if (!nl)
        return NULL;
    size_t k = 0;
    for (size_t i = from; i < to; i++) {
        klog__segment_ref(l->seg[i]);
        nl->seg[k++] = l->seg[i];
    }
    if (extra)
        nl->seg[k] = extra; /* the caller's reference moves into the list */
    return nl;
}

/* ------------------------------------------------------------ watermark */

static void notify(klog__partition_t *p)
{
    if (atomic_load(&p->waiters) > 0) {
        pthread_mutex_lock(&p->wait_mu);
        pthread_cond_broadcast(&p->wait_cv);
        pthread_mutex_unlock(&p->wait_mu);
    }
    int efd = atomic_load(&p->event_fd);
    if (efd >= 0)
        klog__eventfd_signal(efd);
}

void klog__partition_set_hw(klog__partition_t *p, int64_t hw)
{
    int64_t cur = atomic_load(&p->hw);
    while (hw > cur && !atomic_compare_exchange_weak(&p->hw, &cur, hw))
        ;
    if (!p->env->rdonly)
        klog__pstate_publish(p, KLOG__PST_END | KLOG__PST_HW);
    notify(p);
}

int64_t klog__partition_hw(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    if (p->env->rdonly && klog__pstate_read(p, &v))
        return v.hw;
    return atomic_load_explicit(&p->hw, memory_order_acquire);
}

int64_t klog__partition_log_start(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    if (p->env->rdonly && klog__pstate_read(p, &v))
        return v.log_start;
    return atomic_load(&p->log_start);
}

void klog__partition_publish_offsets(klog__partition_t *p)
{
    if (!p->env->rdonly)
        klog__pstate_publish(p, KLOG__PST_OFFSETS);
}

int klog__partition_state_check(klog__partition_t *p, int64_t published_end,
                                int64_t scanned_end)
{
    klog__pstate_vals_t v;
    if (!p->env->rdonly || !klog__pstate_opened(p, &v))
        return 0;
    if (published_end <= scanned_end)
        return 0;
    klog__log(p->env->logger, KLOG_LOG_ERROR,
              "%s/klog.state: offsets (log start %lld, watermark %lld, log end %lld) contradict "
              "the segments (data ends at %lld): damaged, not trusted",
              p->dir, (long long)v.log_start, (long long)v.hw, (long long)published_end,
              (long long)scanned_end);
    klog__pstate_distrust(p);
    return 1;
}

void klog__partition_publish_log_end(klog__partition_t *p)
{
    if (!p->env->rdonly)
        klog__pstate_publish(p, KLOG__PST_END);
}

uint64_t klog__partition_generation(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    return klog__pstate_read(p, &v) ? v.generation : 0;
}

int64_t klog__partition_state_hw(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    return klog__pstate_read(p, &v) ? v.hw : atomic_load(&p->hw);
}

int64_t klog__partition_state_log_start(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    return klog__pstate_read(p, &v) ? v.log_start : atomic_load(&p->log_start);
}

/* ------------------------------------------------------------ accessors */

int klog__partition_loaded(const klog__partition_t *p) { return p->loaded; }
const char *klog__partition_dir(const klog__partition_t *p) { return p->dir; }
int64_t klog__partition_log_end(klog__partition_t *p)
{
    klog__pstate_vals_t v;
    if (p->env->rdonly && klog__pstate_read(p, &v))
        return v.log_end;
    return atomic_load(&p->log_end);
}
int64_t klog__partition_recovery_point(klog__partition_t *p)
{
    return atomic_load(&p->recovery_point);
}
unsigned klog__partition_truncations(klog__partition_t *p) { return atomic_load(&p->truncations); }
const atomic_uint *klog__partition_truncation_counter(klog__partition_t *p)
{
    return &p->truncations;
}
void klog__partition_readers_add(klog__partition_t *p, int delta)
{
    atomic_fetch_add(&p->readers, delta);
}
int klog__partition_readers(klog__partition_t *p) { return atomic_load(&p->readers); }
int klog__partition_rdonly(const klog__partition_t *p) { return p->env->rdonly; }
const klog__logger_t *klog__partition_logger(const klog__partition_t *p) { return p->env->logger; }
long klog__partition_fsyncs(klog__partition_t *p) { return atomic_load(&p->fsyncs); }
klog__pstats_t *klog__partition_stats(klog__partition_t *p) { return &p->stats; }
void klog__partition_wait_sealed(klog__partition_t *p)
{
    if (p->env->sealer)
        klog__sealer_wait(p->env->sealer, p);
}

void klog__partition_set_checkpoints(klog__partition_t *p, int64_t recovery_point,
                                     int64_t log_start)
{
    atomic_store(&p->recovery_point, recovery_point);
    atomic_store(&p->log_start, log_start);
}

void klog__partition_mark_deleted(klog__partition_t *p)
{
    atomic_store(&p->deleted, 1);
    pthread_mutex_lock(&p->wait_mu);
    pthread_cond_broadcast(&p->wait_cv);
    pthread_mutex_unlock(&p->wait_mu);
}

/* ------------------------------------------------------------ open */

int klog__partition_open(const klog__partenv_t *env, const char *topic,
                         const klog_config_t *topic_cfg, int32_t id, klog__partition_t **out)
{
    klog__partition_t *p = klog__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->env = env;
    p->topic = topic;
    p->tcfg = topic_cfg;
    p->id = id;
    p->state_log_start = -1;
    klog__pstate_init(&p->pst, env->statecache);
    p->dir = klog__asprintf("%s/%s-%d", env->logdir, topic, (int)id);
    if (!p->dir) {
        free(p);
        return -ENOMEM;
    }
    p->segenv = (klog__segenv_t){
        .dir = p->dir,
        .fdcache = env->fdcache,
        .logger = env->logger,
        .stats = env->stats,
        .rdonly = env->rdonly,
        .index_max_bytes = klog__partition_conf(p, KLOG_CONF_INDEX_MAX_BYTES),
        .index_interval = klog__partition_conf(p, KLOG_CONF_INDEX_INTERVAL_BYTES),
    };
    pthread_mutex_init(&p->append_mu, NULL);
    pthread_mutex_init(&p->list_mu, NULL);
    pthread_mutex_init(&p->sync_mu, NULL);
    pthread_cond_init(&p->sync_cv, NULL);
    pthread_mutex_init(&p->wait_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->event_fd, -1);
    p->last_flush_ms = klog__now_ms();
    int rc = klog__partstate_open(p);
    if (rc) {
        klog__partition_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ offsets */

int klog_partition_offsets(klog_partition_t *p, klog_offsets_t *out)
{
    if (!p || !out)
        return -EINVAL;
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    out->log_start = klog__partition_log_start(p);
    out->high_watermark = klog__partition_hw(p);
    out->log_end = klog__partition_log_end(p);
    out->recovery_point = atomic_load(&p->recovery_point);
    out->segments = l ? (int64_t)l->n : 0;
    out->bytes = 0;
    for (size_t i = 0; l && i < l->n; i++)
        out->bytes += klog__segment_bytes(l->seg[i], 0);
    klog__seglist_unref(l);
    return 0;
}

const char *klog_partition_topic(const klog_partition_t *p) { return p->topic; }
int32_t klog_partition_id(const klog_partition_t *p) { return p->id; }

int klog_set_high_watermark(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (p->env->rdonly)
        return KLOG_EREADONLY;
    if (offset < atomic_load(&p->hw) || offset > atomic_load(&p->log_end))
        return KLOG_EOFFSET;
    klog__partition_set_hw(p, offset);
    return 0;
}

int klog_partition_wait(klog_partition_t *p, int64_t offset, int timeout_ms)
{
    if (!p)
        return -EINVAL;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : klog__mono_ns() + (int64_t)timeout_ms * 1000000;
    if (p->env->rdonly) {
        /* Another process writes: poll its published watermark. */
        int64_t sleep_us = 200;
        for (;;) {
            klog__pstate_vals_t v;
            if (klog__pstate_read(p, &v)) {
                if (v.hw > offset)
                    return 1;
            } else {
                int rc = klog__pstate_open(p);
                if (rc)
                    return rc;
                if (klog__pstate_read(p, &v))
                    continue;
            }
            int64_t now = klog__mono_ns();
            if (now >= deadline)
                return 0;
            int64_t left_us = (deadline - now) / 1000;
            int64_t us = sleep_us < left_us ? sleep_us : left_us;
            struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
            nanosleep(&ts, NULL);
            if (sleep_us < 5000)
                sleep_us *= 2;
        }
    }
    if (atomic_load(&p->hw) > offset)
        return 1;
    if (timeout_ms == 0)
        return 0;
    pthread_mutex_lock(&p->wait_mu);
    atomic_fetch_add(&p->waiters, 1);
    int ready = 0;
    for (;;) {
        if (atomic_load(&p->hw) > offset) {
            ready = 1;
            break;
        }
        if (atomic_load(&p->deleted) || p->closing)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&p->wait_cv, &p->wait_mu);
        } else {
            int64_t now = klog__mono_ns();
            if (now >= deadline)
                break;
            struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
            pthread_cond_timedwait(&p->wait_cv, &p->wait_mu, &ts);
        }
    }
    atomic_fetch_sub(&p->waiters, 1);
    pthread_mutex_unlock(&p->wait_mu);
    return ready;
}

int klog_partition_pollfd(klog_partition_t *p, int *fd)
{
    if (!p || !fd)
        return -EINVAL;
    if (p->env->rdonly)
        return -ENOTSUP;
    pthread_mutex_lock(&p->wait_mu);
    int efd = atomic_load(&p->event_fd);
    if (efd < 0) {
        efd = klog__eventfd();
        if (efd < 0) {
            pthread_mutex_unlock(&p->wait_mu);
            return efd;
        }
        atomic_store(&p->event_fd, efd);
    }
    pthread_mutex_unlock(&p->wait_mu);
    *fd = efd;
    return 0;
}

/* ------------------------------------------------------------ close */

/* Clean shutdown: flush, then seal the active segment so the next open
 * trusts it without scanning. */
int klog__partition_shutdown(klog__partition_t *p)
{
    if (!p->loaded || p->env->rdonly)
        return 0;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    int rc = klog_flush(p);
    if (!rc)
        rc = klog__partstate_shutdown(p); /* snapshot at the log end */
    klog__seglist_t *l = p->segs;
    /* Still sealed: nothing was appended since the open trusted it. */
    if (!rc && l && l->n && !klog__segment_is_sealed(l->seg[l->n - 1]))
        rc = klog__segment_seal(l->seg[l->n - 1]);
    return rc;
}

void klog__partition_close(klog__partition_t *p)
{
    if (!p)
        return;
    p->closing = 1;
    pthread_mutex_lock(&p->wait_mu);
    pthread_cond_broadcast(&p->wait_cv);
    pthread_mutex_unlock(&p->wait_mu);
    klog__seglist_unref(p->segs);
    p->segs = NULL;
    klog__partstate_close(p);
    klog__pstate_close(p);
    if (atomic_load(&p->event_fd) >= 0)
        klog__close(atomic_load(&p->event_fd));
    pthread_mutex_destroy(&p->append_mu);
    pthread_mutex_destroy(&p->list_mu);
    pthread_mutex_destroy(&p->sync_mu);
    pthread_cond_destroy(&p->sync_cv);
    pthread_mutex_destroy(&p->wait_mu);
    pthread_cond_destroy(&p->wait_cv);
    free(p->dir);
    free(p);
}
