/*
 * log.c — the log directory: lock, topics, checkpoints, the clean-shutdown
 * marker, the LRU of open segment files, and the background thread.
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
 * Close: refuse while readers or leases are open; stop the thread; flush and
 * seal every active segment; write checkpoints, then the marker; unlock.
 *
 * The background thread seals rolled segments (fsync + digest + seal, off
 * the append path, as Kafka flushes rolled segments asynchronously), runs
 * time-based flushes, writes checkpoints every KLOG_CONF_CHECKPOINT_MS and
 * applies retention every KLOG_CONF_RETENTION_CHECK_MS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"

#define CLEAN_MARKER ".kafka_cleanshutdown"
#define RP_CKPT "recovery-point-offset-checkpoint"
#define LS_CKPT "log-start-offset-checkpoint"

int klog__is_rdonly(const klog__log_t *log) { return (log->flags & KLOG_OPEN_RDONLY) != 0; }

/* ------------------------------------------------------------ LRU */

static void lru_unlink(klog__log_t *log, klog__segment_t *s)
{
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        log->lru_head = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        log->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
    s->in_lru = 0;
    log->lru_count--;
}

void klog__lru_touch(klog__log_t *log, klog__segment_t *s)
{
    pthread_mutex_lock(&log->lru_mu);
    if (log->lru_head == s) {
        pthread_mutex_unlock(&log->lru_mu);
        return;
    }
    if (s->in_lru)
        lru_unlink(log, s);
    s->lru_next = log->lru_head;
    s->lru_prev = NULL;
    if (log->lru_head)
        log->lru_head->lru_prev = s;
    log->lru_head = s;
    if (!log->lru_tail)
        log->lru_tail = s;
    s->in_lru = 1;
    log->lru_count++;
    /* Evict from the cold end: segments nobody has pinned. */
    klog__segment_t *c = log->lru_tail;
    while (log->lru_count > log->lru_max && c) {
        klog__segment_t *prev = c->lru_prev;
        if (c != s && pthread_mutex_trylock(&c->mu) == 0) {
            if (atomic_load(&c->pins) == 0) {
                klog__segment_close_files(c);
                lru_unlink(log, c);
            }
            pthread_mutex_unlock(&c->mu);
        }
        c = prev;
    }
    pthread_mutex_unlock(&log->lru_mu);
}

void klog__lru_remove(klog__log_t *log, klog__segment_t *s)
{
    pthread_mutex_lock(&log->lru_mu);
    if (s->in_lru)
        lru_unlink(log, s);
    pthread_mutex_unlock(&log->lru_mu);
}

/* ------------------------------------------------------------ topics */

static void topic_free(struct klog_topic *t)
{
    if (!t)
        return;
    for (int32_t i = 0; i < t->nparts; i++)
        klog__partition_close(t->parts[i]);
    free(t->parts);
    free(t);
}

static int topic_new(klog__log_t *log, const klog__topic_meta_t *m, struct klog_topic **out)
{
    struct klog_topic *t = klog__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->log = log;
    t->meta = *m;
    for (uint32_t i = 0; i < m->nconf; i++) {
        int key = m->conf[i].key;
        if (key >= 0 && key < KLOG__CONF_SLOTS && klog__config_is_topic_key(key)) {
            t->cfg.value[key] = m->conf[i].value;
            KLOG__CONF_MARK(&t->cfg, key);
        }
    }
    t->parts = klog__calloc((size_t)m->partitions, sizeof *t->parts);
    if (!t->parts) {
        free(t);
        return -ENOMEM;
    }
    for (int32_t i = 0; i < m->partitions; i++) {
        int rc = klog__partition_open(log, t, i, &t->parts[i]);
        if (rc) {
            topic_free(t);
            return rc;
        }
        t->nparts = i + 1;
    }
    *out = t;
    return 0;
}

static int write_meta(klog__log_t *log)
{
    klog__topic_meta_t *v = NULL;
    if (log->ntopics) {
        v = klog__malloc(log->ntopics * sizeof *v);
        if (!v)
            return -ENOMEM;
    }
    for (size_t i = 0; i < log->ntopics; i++)
        v[i] = log->topics[i]->meta;
    int rc = klog__meta_write(log->dir, v, log->ntopics);
    free(v);
    return rc;
}

static struct klog_topic *find_topic(klog__log_t *log, const char *name, size_t *idx)
{
    for (size_t i = 0; i < log->ntopics; i++)
        if (strcmp(log->topics[i]->meta.name, name) == 0) {
            if (idx)
                *idx = i;
            return log->topics[i];
        }
    return NULL;
}

/* ------------------------------------------------------------ checkpoints */

/* Sort a checkpoint by (topic, partition, position) so lookups are binary
 * searches: opening 10,000 partitions must not cost 10^8 comparisons. */
static int cmp_ckpt(const void *a, const void *b)
{
    const klog__ckpt_entry_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int64_t ckpt_find(const klog__ckpt_t *c, const char *topic, int32_t part, int64_t dflt)
{
    klog__ckpt_entry_t key = {(char *)topic, part, 0};
    size_t lo = 0, hi = c->count;
    /* Last of equal entries: Kafka keeps the last duplicate. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_ckpt(&c->entries[mid], &key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && cmp_ckpt(&c->entries[lo - 1], &key) == 0)
        return c->entries[lo - 1].offset;
    return dflt;
}

/* Stable merge sort (entries keep file order among duplicates). On
 * allocation failure the entries stay unsorted and lookups degrade to the
 * linear klog__ckpt_lookup. */
static int ckpt_sort(klog__ckpt_t *c)
{
    size_t n = c->count;
    if (n < 2)
        return 1;
    klog__ckpt_entry_t *tmp = klog__malloc(n * sizeof *tmp), *a = c->entries, *b = tmp;
    if (!tmp)
        return 0;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = cmp_ckpt(&a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        klog__ckpt_entry_t *t = a;
        a = b;
        b = t;
    }
    if (a != c->entries)
        memcpy(c->entries, a, n * sizeof *a);
    free(tmp);
    return 1;
}

static int64_t ckpt_get(const klog__ckpt_t *c, int sorted, const char *topic, int32_t part)
{
    return sorted ? ckpt_find(c, topic, part, 0) : klog__ckpt_lookup(c, topic, part, 0);
}

static int apply_checkpoints(klog__log_t *log)
{
    klog__ckpt_t rp = {0}, ls = {0};
    int rc = klog__ckpt_read(log->dir, RP_CKPT, &rp);
    if (rc && rc != -ENOENT) {
        klog__log(&log->cfg.logger, KLOG_LOG_WARN, "%s/%s unreadable (%s): full recovery",
                  log->dir, RP_CKPT, klog_strerror(rc));
        klog__ckpt_free(&rp);
        log->clean_open = 0;
    }
    rc = klog__ckpt_read(log->dir, LS_CKPT, &ls);
    if (rc && rc != -ENOENT)
        klog__log(&log->cfg.logger, KLOG_LOG_WARN, "%s/%s unreadable (%s): ignored", log->dir,
                  LS_CKPT, klog_strerror(rc));
    int rs = ckpt_sort(&rp), lss = ckpt_sort(&ls);
    for (size_t i = 0; i < log->ntopics; i++) {
        struct klog_topic *t = log->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            struct klog_partition *p = t->parts[j];
            atomic_store(&p->recovery_point, ckpt_get(&rp, rs, t->meta.name, j));
            atomic_store(&p->log_start, ckpt_get(&ls, lss, t->meta.name, j));
        }
    }
    klog__ckpt_free(&rp);
    klog__ckpt_free(&ls);
    return 0;
}

int klog__log_write_checkpoints(klog__log_t *log)
{
    if (klog__is_rdonly(log))
        return 0;
    pthread_mutex_lock(&log->mu);
    size_t n = 0;
    for (size_t i = 0; i < log->ntopics; i++)
        n += (size_t)log->topics[i]->nparts;
    klog__ckpt_entry_t *rp = klog__calloc(n ? n : 1, sizeof *rp);
    klog__ckpt_entry_t *ls = klog__calloc(n ? n : 1, sizeof *ls);
    int rc = -ENOMEM;
    size_t k = 0, kl = 0;
    if (!rp || !ls)
        goto out;
    for (size_t i = 0; i < log->ntopics; i++) {
        struct klog_topic *t = log->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            struct klog_partition *p = t->parts[j];
            if (!p->loaded)
                continue;
            rp[k].topic = t->meta.name;
            rp[k].partition = j;
            rp[k].offset = atomic_load(&p->recovery_point);
            k++;
            int64_t start = atomic_load(&p->log_start);
            klog__seglist_t *l = klog__partition_segments(p);
            int64_t first = l && l->n ? l->seg[0]->base : 0;
            klog__seglist_unref(l);
            if (start > first) { /* Kafka writes only these */
                ls[kl] = rp[k - 1];
                ls[kl].offset = start;
                kl++;
            }
        }
    }
    rc = klog__ckpt_write(log->dir, RP_CKPT, rp, k);
    if (!rc)
        rc = klog__ckpt_write(log->dir, LS_CKPT, ls, kl);
out:
    pthread_mutex_unlock(&log->mu);
    free(rp);
    free(ls);
    return rc;
}

/* ------------------------------------------------------------ background */

void klog__log_queue_seal(klog__log_t *log, klog__segment_t *s)
{
    pthread_mutex_lock(&log->bg_mu);
    if (log->seal_qn == log->seal_qcap) {
        size_t cap = log->seal_qcap ? log->seal_qcap * 2 : 16;
        klog__segment_t **q = realloc(log->seal_q, cap * sizeof *q);
        if (!q) {
            /* Unsealed segments are merely rescanned by the next open. */
            pthread_mutex_unlock(&log->bg_mu);
            klog__segment_unref(s);
            return;
        }
        log->seal_q = q;
        log->seal_qcap = cap;
    }
    log->seal_q[log->seal_qn++] = s;
    pthread_cond_broadcast(&log->bg_cv);
    pthread_mutex_unlock(&log->bg_mu);
}

static void seal_one(klog__log_t *log, klog__segment_t *s)
{
    if (s->deleted)
        return;
    int rc = klog__segment_pin(s, 1);
    if (!rc) {
        rc = klog__segment_seal(s);
        klog__segment_unpin(s);
    }
    if (rc) {
        klog__log(&log->cfg.logger, KLOG_LOG_ERROR, "seal %s: %s", s->stem, klog_strerror(rc));
        atomic_store(&s->part->failed, 1);
        return;
    }
    /* Everything below the next segment is durable now. */
    klog__seglist_t *l = klog__partition_segments(s->part);
    for (size_t i = 0; l && i + 1 < l->n; i++) {
        if (l->seg[i] == s) {
            int64_t upto = l->seg[i + 1]->base;
            int64_t cur = atomic_load(&s->part->recovery_point);
            /* Only when every earlier segment is sealed too. */
            int all = 1;
            for (size_t j = 0; j < i; j++)
                all &= l->seg[j]->sealed;
            if (all && upto > cur)
                atomic_store(&s->part->recovery_point, upto);
            break;
        }
    }
    klog__seglist_unref(l);
}

static void for_each_partition(klog__log_t *log, void (*fn)(struct klog_partition *, int64_t),
                               int64_t now)
{
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < log->ntopics; i++) {
        struct klog_topic *t = log->topics[i];
        for (int32_t j = 0; j < t->nparts; j++)
            fn(t->parts[j], now);
    }
    pthread_mutex_unlock(&log->mu);
}

static void retention_fn(struct klog_partition *p, int64_t now)
{
    klog__partition_retention(p, now);
}

static void *bg_main(void *arg)
{
    klog__log_t *log = arg;
    int64_t ckpt_ms = klog__config_value(&log->cfg, NULL, KLOG_CONF_CHECKPOINT_MS);
    int64_t ret_ms = klog__config_value(&log->cfg, NULL, KLOG_CONF_RETENTION_CHECK_MS);
    int64_t last_ckpt = klog__mono_ns() / 1000000, last_ret = last_ckpt;
    pthread_mutex_lock(&log->bg_mu);
    while (!log->bg_stop || log->seal_qn) {
        if (log->seal_qn) {
            klog__segment_t *s = log->seal_q[0];
            memmove(log->seal_q, log->seal_q + 1, (log->seal_qn - 1) * sizeof *log->seal_q);
            log->seal_qn--;
            log->seal_busy = 1;
            pthread_mutex_unlock(&log->bg_mu);
            seal_one(log, s);
            klog__segment_unref(s);
            pthread_mutex_lock(&log->bg_mu);
            log->seal_busy = 0;
            pthread_cond_broadcast(&log->seal_done_cv);
            continue;
        }
        if (log->bg_stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&log->bg_cv, &log->bg_mu, &ts);
        if (log->bg_stop || log->seal_qn)
            continue;
        pthread_mutex_unlock(&log->bg_mu);
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
        pthread_mutex_lock(&log->bg_mu);
    }
    pthread_mutex_unlock(&log->bg_mu);
    return NULL;
}

void klog__log_wait_seals(klog__log_t *log, struct klog_partition *p)
{
    pthread_mutex_lock(&log->bg_mu);
    for (;;) {
        int pending = log->seal_busy && (!p || 1);
        for (size_t i = 0; !pending && i < log->seal_qn; i++)
            pending = !p || log->seal_q[i]->part == p;
        if (!pending)
            break;
        pthread_cond_wait(&log->seal_done_cv, &log->bg_mu);
    }
    pthread_mutex_unlock(&log->bg_mu);
}

/* ------------------------------------------------------------ open/close */

static void log_free(klog__log_t *log)
{
    for (size_t i = 0; i < log->ntopics; i++)
        topic_free(log->topics[i]);
    free(log->topics);
    free(log->seal_q);
    if (log->lock_fd >= 0)
        klog__close(log->lock_fd);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->lru_mu);
    pthread_mutex_destroy(&log->bg_mu);
    pthread_cond_destroy(&log->bg_cv);
    pthread_cond_destroy(&log->seal_done_cv);
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
    if (n) {
        log->topics = klog__calloc(n, sizeof *log->topics);
        if (!log->topics) {
            free(metas);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rc = topic_new(log, &metas[i], &log->topics[i]);
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
        struct klog_topic *t = log->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            int rc = klog__partition_load(t->parts[j]);
            if (rc) {
                klog__log(&log->cfg.logger, KLOG_LOG_ERROR, "loading %s: %s", t->parts[j]->dir,
                          klog_strerror(rc));
                return rc;
            }
        }
    }
    return 0;
}

/* Remove topic directories left by an interrupted delete. */
static void remove_deleted_dirs(klog__log_t *log)
{
    DIR *d = opendir(log->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 7 && strcmp(e->d_name + n - 7, "-delete") == 0) {
            char *path = klog__asprintf("%s/%s", log->dir, e->d_name);
            if (path)
                klog__rmtree(path);
            free(path);
        }
    }
    closedir(d);
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
    log->lru_max = (int)klog__config_value(&log->cfg, NULL, KLOG_CONF_MAX_OPEN_FILES);
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->lru_mu, NULL);
    pthread_mutex_init(&log->bg_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->bg_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&log->seal_done_cv, NULL);
    int rc;
    log->dir = klog__strdup(dir);
    if (!log->dir) {
        rc = -ENOMEM;
        goto fail;
    }
    int rdonly = klog__is_rdonly(log);
    struct stat st;
    if (stat(dir, &st) < 0) {
        rc = -errno;
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
        if (unlink(mp) == 0) {
            log->clean_open = 1;
            rc = klog__fsync_dir(dir);
        } else {
            rc = errno == ENOENT ? 0 : -errno;
        }
        free(mp);
        if (rc)
            goto fail;
        remove_deleted_dirs(log);
    }
    rc = load_topics(log);
    if (rc)
        goto fail;
    apply_checkpoints(log);
    if (!log->clean_open && !rdonly && log->ntopics)
        klog__log(&log->cfg.logger, KLOG_LOG_INFO,
                  "%s: no clean-shutdown marker: recovering unsealed segments", dir);
    rc = load_partitions(log);
    if (rc)
        goto fail;
    if (!rdonly) {
        rc = klog__log_write_checkpoints(log);
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
        for (int32_t j = 0; j < log->topics[i]->nparts; j++)
            n += atomic_load(&log->topics[i]->parts[j]->readers);
    return n;
}

int klog_close(klog_t *log)
{
    if (!log)
        return 0;
    pthread_mutex_lock(&log->mu);
    int busy = count_users(log);
    pthread_mutex_unlock(&log->mu);
    if (busy)
        return KLOG_EBUSY;
    if (log->bg_running) {
        pthread_mutex_lock(&log->bg_mu);
        log->bg_stop = 1;
        pthread_cond_broadcast(&log->bg_cv);
        pthread_mutex_unlock(&log->bg_mu);
        pthread_join(log->bg, NULL);
        log->bg_running = 0;
    }
    int rc = 0, clean = !klog__is_rdonly(log);
    for (size_t i = 0; clean && i < log->ntopics; i++) {
        struct klog_topic *t = log->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            int r = klog__partition_shutdown(t->parts[j]);
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
        for (int32_t j = 0; j < log->topics[i]->nparts && !rc; j++)
            rc = klog_flush(log->topics[i]->parts[j]);
    pthread_mutex_unlock(&log->mu);
    klog__log_wait_seals(log, NULL);
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
        for (int32_t j = 0; j < log->topics[i]->nparts && rc >= 0; j++) {
            rc = klog__partition_retention(log->topics[i]->parts[j], now_ms);
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

/* ------------------------------------------------------------ topic API */

int klog_topic_create(klog_t *log, const char *name, int32_t partitions,
                      const klog_config_t *topic_cfg)
{
    if (!log || !name)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    if (!klog_topic_name_valid(name))
        return KLOG_EBADNAME;
    if (partitions < 0 || partitions > 100000)
        return -EINVAL;
    if (partitions == 0)
        partitions = (int32_t)klog__config_value(&log->cfg, NULL, KLOG_CONF_DEFAULT_PARTITIONS);
    klog__topic_meta_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", name);
    m.partitions = partitions;
    if (topic_cfg) {
        for (int k = 0; k < KLOG__CONF_SLOTS; k++) {
            if (!KLOG__CONF_ISSET(topic_cfg, k))
                continue;
            if (!klog__config_is_topic_key(k))
                return KLOG_ECONFIG;
            m.conf[m.nconf].key = k;
            m.conf[m.nconf].value = topic_cfg->value[k];
            m.nconf++;
        }
    }
    pthread_mutex_lock(&log->mu);
    int rc;
    struct klog_topic *t = NULL;
    if (find_topic(log, name, NULL)) {
        rc = KLOG_ETOPICEXISTS;
        goto out;
    }
    rc = topic_new(log, &m, &t);
    if (rc)
        goto out;
    for (int32_t j = 0; j < t->nparts && !rc; j++)
        rc = klog__partition_load(t->parts[j]);
    if (!rc)
        rc = klog__fsync_dir(log->dir);
    if (rc)
        goto out;
    struct klog_topic **v = klog__realloc(log->topics, (log->ntopics + 1) * sizeof *v);
    if (!v) {
        rc = -ENOMEM;
        goto out;
    }
    log->topics = v;
    log->topics[log->ntopics++] = t;
    rc = write_meta(log);
    if (rc) {
        log->ntopics--;
        goto out;
    }
    t = NULL;
out:
    if (t) {
        /* Undo: remove the directories this attempt created. */
        for (int32_t j = 0; j < t->nparts; j++) {
            char *d = klog__strdup(t->parts[j]->dir);
            klog__partition_close(t->parts[j]);
            t->parts[j] = NULL;
            if (d)
                klog__rmtree(d);
            free(d);
        }
        t->nparts = 0;
        topic_free(t);
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int klog_topic_delete(klog_t *log, const char *name)
{
    if (!log || !name)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    if (!klog_topic_name_valid(name))
        return KLOG_EBADNAME;
    pthread_mutex_lock(&log->mu);
    size_t idx;
    int rc = 0;
    struct klog_topic *t = find_topic(log, name, &idx);
    if (!t) {
        rc = KLOG_ENOTOPIC;
        goto out;
    }
    for (int32_t j = 0; j < t->nparts; j++)
        if (atomic_load(&t->parts[j]->readers) > 0) {
            rc = KLOG_EBUSY;
            goto out;
        }
    memmove(log->topics + idx, log->topics + idx + 1,
            (log->ntopics - idx - 1) * sizeof *log->topics);
    log->ntopics--;
    rc = write_meta(log);
    if (rc) {
        memmove(log->topics + idx + 1, log->topics + idx,
                (log->ntopics - idx) * sizeof *log->topics);
        log->topics[idx] = t;
        log->ntopics++;
        goto out;
    }
    t->deleted = 1;
    pthread_mutex_unlock(&log->mu);
    klog__log_wait_seals(log, NULL);
    pthread_mutex_lock(&log->mu);
    for (int32_t j = 0; j < t->nparts; j++) {
        struct klog_partition *p = t->parts[j];
        char *from = klog__strdup(p->dir);
        char *to = klog__asprintf("%s.%016llx-delete", p->dir, (unsigned long long)klog__mono_ns());
        klog__partition_close(p);
        t->parts[j] = NULL;
        if (from && to && rename(from, to) == 0)
            klog__rmtree(to);
        else if (from)
            klog__rmtree(from);
        free(from);
        free(to);
    }
    t->nparts = 0;
    topic_free(t);
    klog__fsync_dir(log->dir);
out:
    pthread_mutex_unlock(&log->mu);
    if (!rc)
        rc = klog__log_write_checkpoints(log);
    return rc;
}

/* Read-only openers: pick up topics the writer created after we opened.
 * log->mu held. */
static int refresh_topics(klog__log_t *log)
{
    klog__topic_meta_t *metas = NULL;
    size_t n = 0;
    int rc = klog__meta_read(log->dir, &metas, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (find_topic(log, metas[i].name, NULL))
            continue;
        struct klog_topic *t;
        rc = topic_new(log, &metas[i], &t);
        for (int32_t j = 0; !rc && j < t->nparts; j++)
            rc = klog__partition_load(t->parts[j]);
        struct klog_topic **v = rc ? NULL : klog__realloc(log->topics,
                                                          (log->ntopics + 1) * sizeof *v);
        if (!v) {
            if (!rc) {
                rc = -ENOMEM;
                topic_free(t);
            }
            break;
        }
        log->topics = v;
        log->topics[log->ntopics++] = t;
    }
    free(metas);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int klog_topic_list(klog_t *log, char ***names)
{
    if (!log || !names)
        return -EINVAL;
    pthread_mutex_lock(&log->mu);
    if (klog__is_rdonly(log))
        refresh_topics(log); /* best effort: list what we have */
    size_t n = log->ntopics, bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(log->topics[i]->meta.name) + 1;
    char **v = klog__malloc(bytes);
    if (!v) {
        pthread_mutex_unlock(&log->mu);
        return -ENOMEM;
    }
    char *str = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(log->topics[i]->meta.name) + 1;
        memcpy(str, log->topics[i]->meta.name, len);
        v[i] = str;
        str += len;
    }
    v[n] = NULL;
    pthread_mutex_unlock(&log->mu);
    qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    return (int)n;
}

int klog_topic_get(klog_t *log, const char *name, klog_topic_t **out)
{
    if (!log || !name || !out)
        return -EINVAL;
    if (!klog_topic_name_valid(name))
        return KLOG_EBADNAME;
    pthread_mutex_lock(&log->mu);
    struct klog_topic *t = find_topic(log, name, NULL);
    if (!t && klog__is_rdonly(log) && refresh_topics(log) == 0)
        t = find_topic(log, name, NULL);
    pthread_mutex_unlock(&log->mu);
    if (!t)
        return KLOG_ENOTOPIC;
    *out = t;
    return 0;
}

const char *klog_topic_name(const klog_topic_t *t) { return t->meta.name; }
int32_t klog_topic_partition_count(const klog_topic_t *t) { return t->nparts; }

int klog_topic_config(const klog_topic_t *t, int key, int64_t *value)
{
    if (!t || !value)
        return -EINVAL;
    int64_t d;
    if (klog__config_default(key, &d))
        return KLOG_ECONFIG;
    *value = klog__topic_conf(t, key);
    return 0;
}

int klog_partition_get(klog_topic_t *t, int32_t partition, klog_partition_t **out)
{
    if (!t || !out)
        return -EINVAL;
    if (partition < 0 || partition >= t->nparts)
        return KLOG_ENOPARTITION;
    *out = t->parts[partition];
    return 0;
}

int klog_partition(klog_t *log, const char *topic, int32_t partition, klog_partition_t **out)
{
    klog_topic_t *t;
    int rc = klog_topic_get(log, topic, &t);
    return rc ? rc : klog_partition_get(t, partition, out);
}
