/*
 * topic.c — a topic: name, partition count and explicit settings from
 * klog.topics (files.h), and its partitions. The public topic calls that
 * need no log-wide lock live here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/config.h"
#include "storage/topic.h"

struct klog_topic {
    klog__topic_meta_t meta;
    klog_config_t cfg;             /* explicit topic settings */
    const klog__partenv_t *env;
    /* Growth publishes a new array, then the new count (atomic stores, both
     * under the log's topics lock); klog_partition_get() and the counts load
     * them atomically in the other order, so a count is never read with an
     * array shorter than it. Replaced arrays are kept until the topic is
     * freed: a thread that loaded one may still index it. */
    klog__partition_t **parts;
    int32_t nparts;
    klog__partition_t ***retired;
    size_t nretired;
};

int klog__topic_meta_build(const char *name, int32_t partitions, const klog_config_t *cfg,
                           klog__topic_meta_t *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->partitions = partitions;
    for (int k = 0; cfg && k < KLOG__CONF_SLOTS; k++) {
        if (!KLOG__CONF_ISSET(cfg, k))
            continue;
        if (!klog__config_is_topic_key(k))
            return KLOG_ECONFIG;
        m->conf[m->nconf].key = k;
        m->conf[m->nconf].value = cfg->value[k];
        m->nconf++;
    }
    return 0;
}

void klog__topic_free(klog__topic_t *t)
{
    if (!t)
        return;
    for (int32_t i = 0; i < t->nparts; i++)
        klog__partition_close(t->parts[i]);
    free(t->parts);
    for (size_t i = 0; i < t->nretired; i++)
        free(t->retired[i]);
    free(t->retired);
    free(t);
}

int klog__topic_new(const klog__partenv_t *env, const klog__topic_meta_t *m, klog__topic_t **out)
{
    klog__topic_t *t = klog__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->env = env;
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
        int rc = klog__partition_open(env, t->meta.name, &t->cfg, i, &t->parts[i]);
        if (rc) {
            klog__topic_free(t);
            return rc;
        }
        t->nparts = i + 1;
    }
    *out = t;
    return 0;
}

int klog__topic_load(klog__topic_t *t)
{
    for (int32_t j = 0; j < t->nparts; j++) {
        int rc = klog__partition_load(t->parts[j]);
        if (rc) {
            klog__log(t->env->logger, KLOG_LOG_ERROR, "loading %s: %s",
                      klog__partition_dir(t->parts[j]), klog_strerror(rc));
            return rc;
        }
    }
    return 0;
}

void klog__topic_discard(klog__topic_t *t)
{
    for (int32_t j = 0; j < t->nparts; j++) {
        char *d = klog__strdup(klog__partition_dir(t->parts[j]));
        klog__partition_close(t->parts[j]);
        t->parts[j] = NULL;
        if (d)
            klog__rmtree(d);
        free(d);
    }
    t->nparts = 0;
    klog__topic_free(t);
}

void klog__topic_mark_deleted(klog__topic_t *t)
{
    for (int32_t j = 0; j < t->nparts; j++)
        klog__partition_mark_deleted(t->parts[j]);
}

void klog__topic_remove(klog__topic_t *t)
{
    for (int32_t j = 0; j < t->nparts; j++) {
        klog__partition_t *p = t->parts[j];
        const char *dir = klog__partition_dir(p);
        char *from = klog__strdup(dir);
        char *to = klog__asprintf("%s.%016llx-delete", dir, (unsigned long long)klog__mono_ns());
        klog__partition_close(p);
        t->parts[j] = NULL;
        if (from && to && klog__rename(from, to) == 0)
            klog__rmtree(to);
        else if (from)
            klog__rmtree(from);
        free(from);
        free(to);
    }
    t->nparts = 0;
    klog__topic_free(t);
}

/* ------------------------------------------------------------ change
 * A topic changes in two steps around the durable write of klog.topics
 * (log.c): stage builds the new record (and, for growth, opens and loads
 * the new partitions) without touching the live topic; commit makes the
 * staged state live; undo throws it away. */

/* Rebuild the explicit settings from the record's override list. */
static void cfg_from_meta(klog_config_t *cfg, const klog__topic_meta_t *m)
{
    memset(cfg, 0, sizeof *cfg);
    for (uint32_t i = 0; i < m->nconf; i++) {
        int key = m->conf[i].key;
        if (key >= 0 && key < KLOG__CONF_SLOTS && klog__config_is_topic_key(key)) {
            cfg->value[key] = m->conf[i].value;
            KLOG__CONF_MARK(cfg, key);
        }
    }
}

/* Set (or with remove, drop) key in a topic record's override list. */
static int meta_set(klog__topic_meta_t *m, int key, int64_t value, int remove)
{
    for (uint32_t i = 0; i < m->nconf; i++) {
        if (m->conf[i].key != key)
            continue;
        if (remove) {
            m->conf[i] = m->conf[m->nconf - 1];
            m->nconf--;
        } else {
            m->conf[i].value = value;
        }
        return 0;
    }
    if (remove)
        return 0;
    if (m->nconf >= KLOG__TOPIC_CONF_MAX)
        return KLOG_ECONFIG;
    m->conf[m->nconf].key = key;
    m->conf[m->nconf].value = value;
    m->nconf++;
    return 0;
}

int klog__topic_stage_config(const klog__topic_t *t, const klog_config_t *changes,
                             const int *remove, size_t nremove, klog__topic_meta_t *m)
{
    *m = t->meta;
    int rc = 0;
    for (size_t i = 0; i < nremove && !rc; i++)
        rc = meta_set(m, remove[i], 0, 1);
    for (int k = 0; changes && k < KLOG__CONF_SLOTS && !rc; k++)
        if (KLOG__CONF_ISSET(changes, k))
            rc = meta_set(m, k, changes->value[k], 0);
    return rc;
}

/* Readers (klog__config_value) load the set bits and values atomically
 * while this runs: values are stored before their bits are set, and a key
 * that stays set is never cleared on the way, so a reader sees each key's
 * old or new value, never a passing fallback to the default. */
void klog__topic_commit_config(klog__topic_t *t, const klog__topic_meta_t *m)
{
    klog_config_t next;
    cfg_from_meta(&next, m);
    for (int k = 0; k < KLOG__CONF_SLOTS; k++)
        if (KLOG__CONF_ISSET(&next, k))
            __atomic_store_n(&t->cfg.value[k], next.value[k], __ATOMIC_RELAXED);
    for (size_t w = 0; w < sizeof next.set / sizeof next.set[0]; w++)
        __atomic_store_n(&t->cfg.set[w], next.set[w], __ATOMIC_RELEASE);
    t->meta = *m;
}

int klog__topic_stage_grow(klog__topic_t *t, int32_t partitions, klog__partition_t ***staged,
                           klog__topic_meta_t *m)
{
    if (partitions <= t->nparts)
        return -EINVAL; /* Kafka, too, only ever adds partitions */
    /* Room to retire the current array, so that commit cannot fail. */
    klog__partition_t ***r = klog__realloc(t->retired, (t->nretired + 1) * sizeof *r);
    if (!r)
        return -ENOMEM;
    t->retired = r;
    klog__partition_t **parts = klog__calloc((size_t)partitions, sizeof *parts);
    if (!parts)
        return -ENOMEM;
    memcpy(parts, t->parts, (size_t)t->nparts * sizeof *parts);
    int rc = 0;
    for (int32_t j = t->nparts; j < partitions && !rc; j++) {
        rc = klog__partition_open(t->env, t->meta.name, &t->cfg, j, &parts[j]);
        if (!rc)
            rc = klog__partition_load(parts[j]);
    }
    if (!rc) /* the new directories exist before klog.topics names them */
        rc = klog__fsync_dir(t->env->logdir);
    *staged = parts;
    *m = t->meta;
    m->partitions = partitions;
    if (rc)
        klog__topic_undo_grow(t, parts, partitions);
    return rc;
}

void klog__topic_commit_grow(klog__topic_t *t, klog__partition_t **staged,
                             const klog__topic_meta_t *m)
{
    t->retired[t->nretired++] = t->parts;
    __atomic_store_n(&t->parts, staged, __ATOMIC_RELEASE);
    __atomic_store_n(&t->nparts, m->partitions, __ATOMIC_RELEASE);
    t->meta = *m;
}

void klog__topic_undo_grow(klog__topic_t *t, klog__partition_t **staged, int32_t partitions)
{
    for (int32_t j = t->nparts; staged && j < partitions; j++) {
        if (!staged[j])
            continue;
        char *d = klog__strdup(klog__partition_dir(staged[j]));
        klog__partition_close(staged[j]);
        if (d)
            klog__rmtree(d);
        free(d);
    }
    free(staged);
}

const klog__topic_meta_t *klog__topic_meta(const klog__topic_t *t) { return &t->meta; }
const char *klog__topic_get_name(const klog__topic_t *t) { return t->meta.name; }
int32_t klog__topic_nparts(const klog__topic_t *t)
{
    return __atomic_load_n(&t->nparts, __ATOMIC_ACQUIRE);
}
klog__partition_t *klog__topic_part(const klog__topic_t *t, int32_t i)
{
    return __atomic_load_n(&t->parts, __ATOMIC_ACQUIRE)[i];
}

/* ------------------------------------------------------------ public */

const char *klog_topic_name(const klog_topic_t *t) { return t->meta.name; }
int32_t klog_topic_partition_count(const klog_topic_t *t) { return klog__topic_nparts(t); }

int klog_topic_config(const klog_topic_t *t, int key, int64_t *value)
{
    if (!t || !value)
        return -EINVAL;
    int64_t d;
    if (klog__config_default(key, &d))
        return KLOG_ECONFIG;
    *value = klog__config_value(&t->cfg, t->env->log_cfg, key);
    return 0;
}

int klog_partition_get(klog_topic_t *t, int32_t partition, klog_partition_t **out)
{
    if (!t || !out)
        return -EINVAL;
    if (partition < 0 || partition >= klog__topic_nparts(t))
        return KLOG_ENOPARTITION;
    *out = klog__topic_part(t, partition);
    return 0;
}
