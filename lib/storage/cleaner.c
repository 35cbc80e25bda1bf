/*
 * cleaner.c — the log's cleaner (Kafka's LogCleaner and
 * LogCleanerManager): which partition to clean, one pass at a time, the
 * background thread, the I/O limit, and "cleaner-offset-checkpoint".
 *
 * CHECKPOINT: Kafka's checkpoint text at the log root (version 0, one
 *   "<topic> <partition> <first dirty offset>" line per partition), written
 *   atomically after each pass. A missing or unreadable file means every
 *   partition is dirty from its log start, which is safe (a pass over
 *   already-clean data only costs time).
 * CHOICE (grabFilthiestCompactedLog): among partitions whose topic has
 *   cleanup.policy "compact", the one with the highest dirty ratio above
 *   min.cleanable.dirty.ratio, or with dirty bytes older than
 *   max.compaction.lag.ms. A partition whose data failed its checks is
 *   skipped until the log is reopened (Kafka's uncleanable partitions).
 * LOCKING: the log's topics lock is held only while choosing (the chosen
 *   partition is counted as a reader, so a topic delete refuses with
 *   KLOG_EBUSY until the pass ends); pass_mu serialises passes; mu guards
 *   the checkpoint table and the thread's state. Lock order: the log's
 *   topics lock, then mu.
 */
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/cleaner.h"
#include "storage/config.h"
#include "storage/files.h"
#include "storage/log.h"

#define CKPT_NAME "cleaner-offset-checkpoint"

typedef struct entry {
    char *topic;
    int32_t partition;
    int64_t first_dirty;
    int uncleanable;
} entry_t;

struct klog__cleaner {
    klog__log_t *log;
    char *dir;
    const klog__logger_t *lg;
    int64_t map_bytes, io_max, backoff_ms;

    pthread_mutex_t pass_mu; /* one pass at a time */
    pthread_mutex_t mu;      /* entries, stop, the throttle clock */
    pthread_cond_t cv;
    entry_t *v;
    size_t n, cap;
    int stop;
    pthread_t thread;
    int running;
    int64_t io_start_ns, io_bytes;
    _Atomic long passes; /* passes that cleaned something (klog_stats) */
};

/* ------------------------------------------------------------ the table */

static entry_t *find(klog__cleaner_t *c, const char *topic, int32_t part, int create)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].partition == part && strcmp(c->v[i].topic, topic) == 0)
            return &c->v[i];
    if (!create)
        return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        entry_t *nv = klog__realloc(c->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        c->v = nv;
        c->cap = cap;
    }
    char *t = klog__strdup(topic);
    if (!t)
        return NULL;
    c->v[c->n] = (entry_t){t, part, 0, 0};
    return &c->v[c->n++];
}

static int64_t first_dirty_of(klog__cleaner_t *c, const char *topic, int32_t part, int *bad)
{
    pthread_mutex_lock(&c->mu);
    entry_t *e = find(c, topic, part, 0);
    int64_t v = e ? e->first_dirty : 0;
    *bad = e ? e->uncleanable : 0;
    pthread_mutex_unlock(&c->mu);
    return v;
}

/* Write the checkpoint: entries of partitions that still exist (looked up
 * without mu: the lookup takes the log's topics lock). Under pass_mu. */
static int write_checkpoint(klog__cleaner_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    klog__ckpt_entry_t *out = klog__calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        out[i] = (klog__ckpt_entry_t){klog__strdup(c->v[i].topic), c->v[i].partition,
                                      c->v[i].first_dirty};
        if (!out[i].topic)
            n = i;
    }
    pthread_mutex_unlock(&c->mu);
    if (!out)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        klog_partition_t *p;
        if (klog_partition(c->log, out[i].topic, out[i].partition, &p) == 0)
            out[k++] = out[i];
        else
            free(out[i].topic);
    }
    int rc = klog__ckpt_write(c->dir, CKPT_NAME, out, k);
    for (size_t i = 0; i < k; i++)
        free(out[i].topic);
    free(out);
    return rc;
}

static int read_checkpoint(klog__cleaner_t *c)
{
    klog__ckpt_t ck = {0};
    int rc = klog__ckpt_read(c->dir, CKPT_NAME, &ck);
    if (rc == -ENOENT)
        return 0;
    if (rc) {
        klog__log(c->lg, KLOG_LOG_WARN, "%s/%s: %s: every compacted partition is dirty from its "
                  "log start", c->dir, CKPT_NAME, klog_strerror(rc));
        return 0;
    }
    for (size_t i = 0; i < ck.count && !rc; i++) {
        entry_t *e = find(c, ck.entries[i].topic, ck.entries[i].partition, 1);
        if (!e)
            rc = -ENOMEM;
        else
            e->first_dirty = ck.entries[i].offset;
    }
    klog__ckpt_free(&ck);
    return rc;
}

/* ------------------------------------------------------------ throttle */

static int throttle(void *ctx, int64_t bytes)
{
    klog__cleaner_t *c = ctx;
    pthread_mutex_lock(&c->mu);
    int stop = c->stop;
    if (!stop && c->io_max > 0) {
        c->io_bytes += bytes;
        int64_t want_ns = (int64_t)((double)c->io_bytes / (double)c->io_max * 1e9);
        int64_t now = klog__mono_ns(), elapsed = now - c->io_start_ns;
        if (want_ns > elapsed) {
            int64_t wait = want_ns - elapsed;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait / 1000000000);
            ts.tv_nsec += (long)(wait % 1000000000);
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
                ;
            stop = c->stop;
        }
        if (elapsed > 1000000000LL) { /* a fresh window each second */
            c->io_start_ns = klog__mono_ns();
            c->io_bytes = 0;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return stop;
}

/* ------------------------------------------------------------ choosing */

typedef struct pick {
    klog__cleaner_t *c;
    const char *topic;  /* a named partition, or NULL: the filthiest */
    int32_t partition;
    int64_t now;
    klog__partition_t *best;
    int best_ratio, best_must, found, policy_ok;
} pick_t;

static int pick_one(void *ctx, klog__partition_t *p)
{
    pick_t *k = ctx;
    const char *topic = klog_partition_topic(p);
    int32_t id = klog_partition_id(p);
    int compact = (klog__partition_conf(p, KLOG_CONF_CLEANUP_POLICY) & KLOG_CLEANUP_COMPACT) != 0;
    if (k->topic) {
        if (id != k->partition || strcmp(topic, k->topic) != 0)
            return 0;
        k->found = 1;
        k->policy_ok = compact;
        if (compact) {
            klog__partition_readers_add(p, 1);
            k->best = p;
        }
        return 1;
    }
    int bad;
    int64_t fd = first_dirty_of(k->c, topic, id, &bad);
    if (!compact || bad)
        return 0;
    int ratio, must;
    int64_t dirty;
    klog__clean_assess(p, fd, k->now, &ratio, &must, &dirty);
    int64_t min = klog__partition_conf(p, KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO);
    if (dirty <= 0 || (!must && ratio <= min))
        return 0;
    if (k->best && (k->best_must > must || (k->best_must == must && k->best_ratio >= ratio)))
        return 0;
    if (k->best)
        klog__partition_readers_add(k->best, -1);
    klog__partition_readers_add(p, 1);
    k->best = p;
    k->best_ratio = ratio;
    k->best_must = must;
    return 0;
}

/* ------------------------------------------------------------ a pass */

static void report(klog__cleaner_t *c, const klog_compact_stats_t *st)
{
    klog__log(c->lg, KLOG_LOG_INFO,
              "cleaner: %s-%d: offsets %" PRId64 " to %" PRId64 " cleaned: %" PRId64
              " segments into %" PRId64 ", %" PRId64 " bytes read, %" PRId64
              " written, %" PRId64 " of %" PRId64 " records removed, %" PRId64
              " empty batches kept, map %" PRId64 "/%" PRId64 " keys, %" PRId64 " us",
              st->topic, st->partition, st->first_dirty, st->end_offset - 1, st->segments_read,
              st->segments_written, st->bytes_read, st->bytes_written, st->records_removed,
              st->records_read, st->empty_batches, st->map_entries, st->map_capacity,
              st->duration_us);
}

/* Clean p (counted as a reader by the caller, released here). */
static int run_pass(klog__cleaner_t *c, klog__partition_t *p, klog_compact_stats_t *st)
{
    const char *topic = klog_partition_topic(p);
    int32_t id = klog_partition_id(p);
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&c->pass_mu);
    int bad;
    klog__clean_job_t job = {
        .p = p,
        .first_dirty = first_dirty_of(c, topic, id, &bad),
        .now_ms = klog__now_ms(),
        .throttle = throttle,
        .ctx = c,
        .st = st,
    };
    int64_t t0 = klog__mono_ns();
    pthread_mutex_lock(&c->mu);
    c->io_start_ns = t0;
    c->io_bytes = 0;
    pthread_mutex_unlock(&c->mu);
    job.map_bytes = c->map_bytes;
    int rc = klog__clean_partition(&job);
    st->duration_us = (klog__mono_ns() - t0) / 1000;
    if (rc == 1) {
        snprintf(st->topic, sizeof st->topic, "%s", topic);
        st->partition = id;
        pthread_mutex_lock(&c->mu);
        entry_t *e = find(c, topic, id, 1);
        if (e)
            e->first_dirty = job.first_dirty;
        pthread_mutex_unlock(&c->mu);
        report(c, st);
        atomic_fetch_add(&c->passes, 1);
        int w = write_checkpoint(c);
        if (w)
            klog__log(c->lg, KLOG_LOG_WARN, "cleaner: writing %s/%s: %s", c->dir, CKPT_NAME,
                      klog_strerror(w));
    } else if (rc == KLOG_ECORRUPT || rc == KLOG_ECRC) {
        pthread_mutex_lock(&c->mu);
        entry_t *e = find(c, topic, id, 1);
        if (e)
            e->uncleanable = 1;
        pthread_mutex_unlock(&c->mu);
    } else if (rc < 0 && rc != KLOG_ECLOSED) {
        klog__log(c->lg, rc == KLOG_EBUSY ? KLOG_LOG_INFO : KLOG_LOG_ERROR,
                  "cleaner: %s-%d: %s", topic, id, klog_strerror(rc));
    }
    pthread_mutex_unlock(&c->pass_mu);
    klog__partition_readers_add(p, -1);
    return rc;
}

long klog__cleaner_passes(klog__cleaner_t *c) { return c ? atomic_load(&c->passes) : 0; }

int klog_compact(klog_t *log, const char *topic, int32_t partition, klog_compact_stats_t *stats)
{
    klog_compact_stats_t local;
    klog_compact_stats_t *st = stats ? stats : &local;
    if (!log)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    if (topic && !klog_topic_name_valid(topic))
        return KLOG_EBADNAME;
    klog__cleaner_t *c = klog__log_cleaner(log);
    if (!c)
        return KLOG_ECLOSED;
    pick_t k = {.c = c, .topic = topic, .partition = partition, .now = klog__now_ms()};
    klog__log_each_partition(log, pick_one, &k);
    if (topic && !k.found) {
        klog_topic_t *t;
        return klog_topic_get(log, topic, &t) ? KLOG_ENOTOPIC : KLOG_ENOPARTITION;
    }
    if (topic && !k.policy_ok)
        return KLOG_ECONFIG;
    if (!k.best)
        return 0;
    int rc = run_pass(c, k.best, st);
    if (rc != 1)
        memset(st, 0, sizeof *st); /* nothing was cleaned */
    return rc;
}

/* ------------------------------------------------------------ the thread */

static void *cleaner_main(void *arg)
{
    klog__cleaner_t *c = arg;
    int idle = 1;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (idle && !c->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(c->backoff_ms / 1000);
            ts.tv_nsec += (long)(c->backoff_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        int stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        pick_t k = {.c = c, .now = klog__now_ms()};
        klog__log_each_partition(c->log, pick_one, &k);
        idle = 1;
        if (k.best) {
            klog_compact_stats_t st;
            idle = run_pass(c, k.best, &st) != 1;
        }
    }
    return NULL;
}

int klog__cleaner_new(klog__log_t *log, const char *dir, const klog_config_t *cfg,
                      klog__cleaner_t **out)
{
    klog__cleaner_t *c = klog__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->log = log;
    c->lg = &cfg->logger;
    c->map_bytes = klog__config_value(cfg, NULL, KLOG_CONF_CLEANER_DEDUPE_BYTES);
    c->io_max = klog__config_value(cfg, NULL, KLOG_CONF_CLEANER_IO_MAX_BYTES);
    c->backoff_ms = klog__config_value(cfg, NULL, KLOG_CONF_CLEANER_BACKOFF_MS);
    pthread_mutex_init(&c->pass_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->dir = klog__strdup(dir);
    int rc = c->dir ? read_checkpoint(c) : -ENOMEM;
    if (!rc && klog__config_value(cfg, NULL, KLOG_CONF_CLEANER_ENABLE)) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = -pthread_create(&c->thread, NULL, cleaner_main, c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        c->running = rc == 0;
    }
    if (rc) {
        klog__cleaner_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void klog__cleaner_free(klog__cleaner_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->running)
        pthread_join(c->thread, NULL);
    /* A klog_compact() caller still in a pass sees stop at its next batch. */
    pthread_mutex_lock(&c->pass_mu);
    pthread_mutex_unlock(&c->pass_mu);
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].topic);
    free(c->v);
    free(c->dir);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->pass_mu);
    free(c);
}
