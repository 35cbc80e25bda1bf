/*
 * admin.c — changing a topic after its creation: its configuration
 * (klog_topic_alter_config, Kafka's kafka-configs --alter) and its
 * partition count (klog_topic_add_partitions, kafka-topics --alter
 * --partitions).
 *
 * Both change what klog.topics records (meta.c's format, written whole and
 * atomically), so the rule is the one topic creation follows: build the
 * new topic record, make any new partition directories, write klog.topics,
 * and only once it is durable change the in-memory topic. A failure before
 * the write leaves memory and disk as they were; new partition directories
 * made by a failed attempt are removed again.
 *
 * Both run under the log's topics lock (log->mu), which the background
 * thread also takes before walking the partitions, so it never sees a
 * half-grown topic. They are not synchronised with calls that read a
 * topic's configuration or partition array without that lock (appends,
 * klog_partition_get): klog.h asks callers to make them while nothing else
 * uses the topic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

/* The topic called name, or NULL. Caller holds log->mu. */
static struct klog_topic *topic_locked(klog__log_t *log, const char *name)
{
    for (size_t i = 0; i < log->ntopics; i++)
        if (strcmp(log->topics[i]->meta.name, name) == 0)
            return log->topics[i];
    return NULL;
}

/* Write klog.topics with every topic's record, t's replaced by *m. Caller
 * holds log->mu. */
static int write_meta_with(klog__log_t *log, const struct klog_topic *t,
                           const klog__topic_meta_t *m)
{
    klog__topic_meta_t *v = klog__malloc(log->ntopics * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < log->ntopics; i++)
        v[i] = log->topics[i] == t ? *m : log->topics[i]->meta;
    int rc = klog__meta_write(log->dir, v, log->ntopics);
    free(v);
    return rc;
}

static int check_args(klog__log_t *log, const char *name)
{
    if (!log || !name)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    if (!klog_topic_name_valid(name))
        return KLOG_EBADNAME;
    return 0;
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

int klog_topic_alter_config(klog_t *log, const char *name, const klog_config_t *changes,
                            const int *remove, size_t nremove)
{
    int rc = check_args(log, name);
    if (rc)
        return rc;
    if (nremove && !remove)
        return -EINVAL;
    for (size_t i = 0; i < nremove; i++)
        if (remove[i] < 0 || remove[i] >= KLOG__CONF_SLOTS || !klog__config_is_topic_key(remove[i]))
            return KLOG_ECONFIG;
    if (changes)
        for (int k = 0; k < KLOG__CONF_SLOTS; k++)
            if (KLOG__CONF_ISSET(changes, k) && !klog__config_is_topic_key(k))
                return KLOG_ECONFIG;

    pthread_mutex_lock(&log->mu);
    struct klog_topic *t = topic_locked(log, name);
    if (!t) {
        rc = KLOG_ENOTOPIC;
        goto out;
    }
    klog__topic_meta_t m = t->meta;
    for (size_t i = 0; i < nremove && !rc; i++)
        rc = meta_set(&m, remove[i], 0, 1);
    for (int k = 0; changes && k < KLOG__CONF_SLOTS && !rc; k++)
        if (KLOG__CONF_ISSET(changes, k))
            rc = meta_set(&m, k, changes->value[k], 0);
    if (rc)
        goto out;
    rc = write_meta_with(log, t, &m);
    if (rc)
        goto out;
    /* Durable: now the topic's live configuration. */
    t->meta = m;
    for (size_t i = 0; i < nremove; i++)
        t->cfg.set[remove[i] / 64] &= ~(1ULL << (remove[i] % 64));
    for (int k = 0; changes && k < KLOG__CONF_SLOTS; k++)
        if (KLOG__CONF_ISSET(changes, k)) {
            t->cfg.value[k] = changes->value[k];
            KLOG__CONF_MARK(&t->cfg, k);
        }
out:
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* Close the partitions [from, to) of parts and remove their directories. */
static void undo_partitions(struct klog_partition **parts, int32_t from, int32_t to)
{
    for (int32_t j = from; j < to; j++) {
        if (!parts[j])
            continue;
        char *d = klog__strdup(parts[j]->dir);
        klog__partition_close(parts[j]);
        parts[j] = NULL;
        if (d)
            klog__rmtree(d);
        free(d);
    }
}

int klog_topic_add_partitions(klog_t *log, const char *name, int32_t partitions)
{
    int rc = check_args(log, name);
    if (rc)
        return rc;
    if (partitions < 1 || partitions > 100000)
        return -EINVAL;

    pthread_mutex_lock(&log->mu);
    struct klog_topic *t = topic_locked(log, name);
    struct klog_partition **parts = NULL;
    int32_t old = 0;
    if (!t) {
        rc = KLOG_ENOTOPIC;
        goto out;
    }
    old = t->nparts;
    if (partitions <= old) {
        rc = -EINVAL; /* Kafka, too, only ever adds partitions */
        goto out;
    }
    parts = klog__calloc((size_t)partitions, sizeof *parts);
    if (!parts) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(parts, t->parts, (size_t)old * sizeof *parts);
    for (int32_t j = old; j < partitions && !rc; j++) {
        rc = klog__partition_open(log, t, j, &parts[j]);
        if (!rc)
            rc = klog__partition_load(parts[j]);
    }
    if (!rc)
        rc = klog__fsync_dir(log->dir);
    klog__topic_meta_t m = t->meta;
    m.partitions = partitions;
    if (!rc)
        rc = write_meta_with(log, t, &m);
    if (rc) {
        undo_partitions(parts, old, partitions);
        goto out;
    }
    t->meta = m;
    free(t->parts);
    t->parts = parts;
    t->nparts = partitions;
    parts = NULL;
out:
    free(parts);
    pthread_mutex_unlock(&log->mu);
    return rc;
}
