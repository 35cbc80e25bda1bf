/*
 * log.c — the log directory: lock, checkpoints, the clean-shutdown marker
 * and the background thread; the topic list and the topic API are in
 * log_topics.c (struct klog in log_impl.h). The descriptor cache
 * (fdcache.c), the seal queue (sealer.c) and each topic (topic.c) have
 * files of their own; the log creates them and hands them to its
 * partitions (klog__partenv_t).
 *
 * Layout of a log directory (kafka-format.md 3-4):
 *   klog.lock                          exclusive flock held by the writer
 *   klog.topics                        libklog's topic metadata (files.h)
 *   recovery-point-offset-checkpoint   Kafka text checkpoint
 *   log-start-offset-checkpoint        Kafka text checkpoint
 *   .kafka_cleanshutdown               present only between a clean close
 *                                      and the next open
 *   <topic>-<p>/                       one directory per partition
 *
 * Open: take the lock, read and delete the clean-shutdown marker (a crash
 * during loading must count as unclean), read topics and checkpoints, load
 * every partition (recovery happens there), start the background thread.
 * Close: refuse while readers or leases are open; stop the thread (it seals
 * what is queued first); flush and seal every active segment written since
 * the open (the others kept their seals); write checkpoints, then the
 * marker; unlock.
 *
 * The background thread seals rolled segments (fsync + digest + seal, off
 * the append path, as Kafka flushes rolled segments asynchronously), runs
 * time-based flushes, writes checkpoints every KLOG_CONF_CHECKPOINT_MS and
 * applies retention every KLOG_CONF_RETENTION_CHECK_MS.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/checkpoints.h"
#include "storage/cleaner.h"
#include "storage/config.h"
#include "storage/log.h"
#include "storage/pstate.h"
#include "storage/sealer.h"
#include "storage/topic.h"

#define CLEAN_MARKER ".kafka_cleanshutdown"

#include "storage/log_impl.h"

int klog__is_rdonly(const klog__log_t *log) { return (log->flags & KLOG_OPEN_RDONLY) != 0; }
const klog__recovery_stats_t *klog__log_stats(const klog__log_t *log) { return &log->stats; }
struct klog__cleaner *klog__log_cleaner(const klog__log_t *log) { return log->cleaner; }
const char *klog__log_dir(const klog__log_t *log) { return log->dir; }
int klog__log_open_fds(const klog__log_t *log) { return klog__fdcache_count(log->fdcache); }

/* ------------------------------------------------------------ checkpoints */

int klog__log_write_checkpoints(klog__log_t *log)
{
    if (klog__is_rdonly(log))
        return 0;
    pthread_mutex_lock(&log->mu);
    int rc = klog__checkpoints_write(log->dir, log->topics, log->ntopics);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* ------------------------------------------------------------ background */

static void for_each_partition(klog__log_t *log, void (*fn)(klog__partition_t *, int64_t),
                               int64_t now)
{
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->ntopics; i++) {
        klog__topic_t *t = log->topics[i];
        for (int32_t j = 0; j < klog__topic_nparts(t); j++)
            fn(klog__topic_part(t, j), now);
    }
    pthread_mutex_unlock(&log->mu);
}

static void retention_fn(klog__partition_t *p, int64_t now) { klog__partition_retention(p, now); }

int klog__log_each_partition(klog__log_t *log, int (*fn)(void *ctx, klog__partition_t *p),
                             void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->ntopics && !rc; i++)
        for (int32_t j = 0; j < klog__topic_nparts(log->topics[i]) && !rc; j++)
            rc = fn(ctx, klog__topic_part(log->topics[i], j));
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* Seals first (one at a time, as they were queued); between them and at
 * least every 100 ms the timed duties. */
static void *bg_main(void *arg)
{
    klog__log_t *log = arg;
    int64_t ckpt_ms = klog__config_value(&log->cfg, NULL, KLOG_CONF_CHECKPOINT_MS);
    int64_t ret_ms = klog__config_value(&log->cfg, NULL, KLOG_CONF_RETENTION_CHECK_MS);
    int64_t last_ckpt = klog__mono_ns() / 1000000, last_ret = last_ckpt;
    for (;;) {
        int r = klog__sealer_next(log->sealer, 100);
        if (r < 0)
            break;
        if (r > 0)
            continue;
        int64_t now = klog__mono_ns() / 1000000;
        for_each_partition(log, klog__partition_tick, klog__now_ms());
        if (ckpt_ms > 0 && now - last_ckpt >= ckpt_ms) {
            klog__log_write_checkpoints(log);
            last_ckpt = now;
        }
        if (ret_ms > 0 && now - last_ret >= ret_ms) {
            for_each_partition(log, retention_fn, klog__now_ms());
            last_ret = now;
        }
    }
    return NULL;
}

void klog__log_wait_seals(klog__log_t *log) { klog__sealer_wait(log->sealer, NULL); }

int klog_producer_id_alloc(klog_t *log, int64_t *id)
{
    if (!log || !id)
        return -EINVAL;
    if (!log->pids)
        return KLOG_EREADONLY;
    return klog__pidalloc_next(log, log->pids, &log->cfg.logger, id);
}

static int write_checkpoints_cb(void *ctx) { return klog__log_write_checkpoints(ctx); }

/* ------------------------------------------------------------ open/close */

static void log_free(klog__log_t *log)
{
    klog__cleaner_free(log->cleaner);
    klog__pidalloc_free(log->pids);
    klog__sealer_free(log->sealer); /* queued segments reach their partitions */
    for (size_t i = 0; i < log->ntopics; i++)
        klog__topic_free(log->topics[i]);
    free(log->topics);
    klog__fdcache_free(log->fdcache);
    klog__fdcache_free(log->statecache);
    if (log->lock_fd >= 0)
        klog__close(log->lock_fd);
    pthread_mutex_destroy(&log->mu);
    free(log->dir);
    free(log);
}

static int load_topics(klog__log_t *log)
{
    klog__topic_meta_t *metas = NULL;
    size_t n = 0;
    int rc = klog__meta_read(log->dir, &metas, &n);
    if (rc) {
        klog__log(&log->cfg.logger, KLOG_LOG_ERROR, "%s/klog.topics: %s", log->dir,
                  klog_strerror(rc));
        return rc;
    }
    char lost[300];
    if (n == 0 && (rc = klog__meta_lost(log->dir, lost, sizeof lost)) != 0) {
        if (rc < 0)
            return rc;
        klog__log(&log->cfg.logger, KLOG_LOG_ERROR,
                  "%s/klog.topics is missing but partition %s/%s holds data: the topic list is "
                  "lost (restore klog.topics; a Kafka directory is opened with klog_adopt)", log->dir, log->dir, lost);
        return KLOG_ECORRUPT;
    }
    if (n) {
        log->topics = klog__calloc(n, sizeof *log->topics);
        if (!log->topics) {
            free(metas);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rc = klog__topic_new(&log->env, &metas[i], &log->topics[i]);
        if (rc)
            break;
        log->ntopics = i + 1;
    }
    free(metas);
    return rc;
}

static int load_partitions(klog__log_t *log)
{
    for (size_t i = 0; i < log->ntopics; i++) {
        int rc = klog__topic_load(log->topics[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Remove topic directories left by an interrupted delete. */
static int remove_if_deleted(void *ctx, const char *name)
{
    klog__log_t *log = ctx;
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, "-delete") == 0) {
        char *path = klog__asprintf("%s/%s", log->dir, name);
        if (path)
            klog__rmtree(path);
        free(path);
    }
    return 0;
}

int klog_open(const char *dir, const klog_config_t *cfg, unsigned flags, klog_t **out)
{
    if (!dir || !out || !*dir)
        return -EINVAL;
    klog__log_t *log = klog__calloc(1, sizeof *log);
    if (!log)
        return -ENOMEM;
    log->lock_fd = -1;
    log->flags = flags;
    if (cfg)
        log->cfg = *cfg;
    pthread_mutex_init(&log->mu, NULL);
    int rc;
    log->dir = klog__strdup(dir);
    if (!log->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    int rdonly = klog__is_rdonly(log);
    /* The descriptor bound: as set, else half the soft RLIMIT_NOFILE
     * (64..65536), leaving the rest to the application. */
    int64_t max_fds = klog__config_value(&log->cfg, NULL, KLOG_CONF_MAX_OPEN_FILES);
    if (!KLOG__CONF_ISSET(&log->cfg, KLOG_CONF_MAX_OPEN_FILES)) {
        int64_t lim = klog__nofile_limit();
        max_fds = lim < 0 ? 65536 : lim / 2 < 64 ? 64 : lim / 2 > 65536 ? 65536 : lim / 2;
    }
    rc = klog__segment_fdcache_new((int)max_fds, &log->fdcache);
    if (!rc)
        rc = klog__pstate_cache_new(
            (int)klog__config_value(&log->cfg, NULL, KLOG_CONF_MAX_STATE_MAPS), &log->statecache);
    if (!rc)
        rc = klog__sealer_new(&log->sealer);
    if (rc)
        goto fail;
    log->env = (klog__partenv_t){
        .logdir = log->dir,
        .log_cfg = &log->cfg,
        .logger = &log->cfg.logger,
        .fdcache = log->fdcache,
        .statecache = log->statecache,
        .stats = &log->stats,
        .sealer = log->sealer,
        .rdonly = rdonly,
        .write_checkpoints = write_checkpoints_cb,
        .ctx = log,
    };
    struct stat st;
    if ((rc = klog__stat(dir, &st)) < 0) {
        if (rc != -ENOENT || rdonly || (flags & KLOG_OPEN_NOCREATE))
            goto fail;
        rc = klog__mkdir(dir, 0755);
        if (rc)
            goto fail;
    } else if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
        goto fail;
    }
    if (!rdonly) {
        char *lp = klog__asprintf("%s/klog.lock", dir);
        if (!lp) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = klog__lock_file(lp);
        free(lp);
        if (rc < 0)
            goto fail;
        log->lock_fd = rc;
        char *mp = klog__asprintf("%s/%s", dir, CLEAN_MARKER);
        if (!mp) {
            rc = -ENOMEM;
            goto fail;
        }
        rc = klog__unlink(mp);
        if (rc == 0) {
            log->clean_open = 1;
            rc = klog__fsync_dir(dir);
        } else if (rc == -ENOENT) {
            rc = 0;
        }
        free(mp);
        if (rc)
            goto fail;
        klog__dir_list(dir, remove_if_deleted, log); /* best effort */
    }
    rc = load_topics(log);
    if (!rc && !rdonly)
        rc = klog__topics_remove_strays(dir, log->topics, log->ntopics, &log->cfg.logger);
    if (rc)
        goto fail;
    if (klog__checkpoints_apply(log->dir, log->topics, log->ntopics, &log->cfg.logger))
        log->clean_open = 0;
    if (!log->clean_open && !rdonly && log->ntopics)
        klog__log(&log->cfg.logger, KLOG_LOG_INFO,
                  "%s: no clean-shutdown marker: recovering unsealed segments", dir);
    log->env.clean = log->clean_open && !rdonly;
    rc = load_partitions(log);
    log->env.clean = 0; /* partitions created from now on start empty */
    if (rc)
        goto fail;
    if (!rdonly) {
        rc = klog__log_write_checkpoints(log);
        if (rc)
            goto fail;
        rc = klog__cleaner_new(log, log->dir, &log->cfg, &log->cleaner);
        if (!rc)
            rc = klog__pidalloc_new(&log->pids);
        if (rc)
            goto fail;
        /* The thread must never take the application's signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&log->bg, NULL, bg_main, log);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc) {
            rc = -rc;
            goto fail;
        }
        log->bg_running = 1;
    }
    *out = log;
    return 0;
fail:
    log_free(log);
    return rc;
}

static int count_users(klog__log_t *log)
{
    int n = 0;
    for (size_t i = 0; i < log->ntopics; i++)
        for (int32_t j = 0; j < klog__topic_nparts(log->topics[i]); j++)
            n += klog__partition_readers(klog__topic_part(log->topics[i], j));
    return n;
}

int klog_close(klog_t *log)
{
    if (!log)
        return 0;
    klog__cleaner_free(log->cleaner); /* a pass counts as a reader: stop it first */
    log->cleaner = NULL;
    pthread_mutex_lock(&log->mu);
    int busy = count_users(log);
    pthread_mutex_unlock(&log->mu);
    if (busy)
        return KLOG_EBUSY;
    if (log->bg_running) {
        klog__sealer_stop(log->sealer);
        pthread_join(log->bg, NULL);
        log->bg_running = 0;
    }
    int rc = 0, clean = !klog__is_rdonly(log);
    for (size_t i = 0; clean && i < log->ntopics; i++) {
        klog__topic_t *t = log->topics[i];
        for (int32_t j = 0; j < klog__topic_nparts(t); j++) {
            int r = klog__partition_shutdown(klog__topic_part(t, j));
            if (r) {
                clean = 0;
                if (!rc)
                    rc = r;
            }
        }
    }
    if (!klog__is_rdonly(log)) {
        /* Only a fully flushed and sealed log gets the marker. */
        if (clean) {
            int r = klog__log_write_checkpoints(log);
            if (!r) {
                static const char marker[] = "{\"version\":0,\"brokerEpoch\":0}";
                r = klog__write_file_atomic(log->dir, CLEAN_MARKER, marker, sizeof marker - 1);
            }
            if (r && !rc)
                rc = r;
        }
    }
    log_free(log);
    return rc;
}

int klog_sync(klog_t *log)
{
    if (!log)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->ntopics && !rc; i++)
        for (int32_t j = 0; j < klog__topic_nparts(log->topics[i]) && !rc; j++)
            rc = klog_flush(klog__topic_part(log->topics[i], j));
    pthread_mutex_unlock(&log->mu);
    klog__log_wait_seals(log);
    if (!rc)
        rc = klog__log_write_checkpoints(log);
    return rc;
}

int klog_retention(klog_t *log, int64_t now_ms)
{
    if (!log)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    if (now_ms == KLOG_TIMESTAMP_NOW)
        now_ms = klog__now_ms();
    int total = 0, rc = 0;
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->ntopics && rc >= 0; i++)
        for (int32_t j = 0; j < klog__topic_nparts(log->topics[i]) && rc >= 0; j++) {
            rc = klog__partition_retention(klog__topic_part(log->topics[i], j), now_ms);
            if (rc > 0)
                total += rc;
        }
    pthread_mutex_unlock(&log->mu);
    if (rc < 0)
        return rc;
    if (total) {
        rc = klog__log_write_checkpoints(log);
        if (rc)
            return rc;
    }
    return total;
}
