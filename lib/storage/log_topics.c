/*
 * log_topics.c — the log's list of topics and the topic API: klog.topics
 * is rewritten (atomically, files.h) before any change becomes live, so
 * the file is the commit point of creating, deleting and changing topics;
 * read-only openers pick up topics the writer created since they opened.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage/log_impl.h"

/* ------------------------------------------------------------ topics */

/* Write klog.topics with every topic's record; with t, *m stands for t's. */
static int write_meta_with(klog__log_t *log, const klog__topic_t *t,
                           const klog__topic_meta_t *m)
{
    klog__topic_meta_t *v = NULL;
    if (log->ntopics) {
        v = klog__malloc(log->ntopics * sizeof *v);
        if (!v)
            return -ENOMEM;
    }
    for (size_t i = 0; i < log->ntopics; i++)
        v[i] = log->topics[i] == t ? *m : *klog__topic_meta(log->topics[i]);
    int rc = klog__meta_write(log->dir, v, log->ntopics);
    free(v);
    return rc;
}

static int write_meta(klog__log_t *log) { return write_meta_with(log, NULL, NULL); }

static klog__topic_t *find_topic(klog__log_t *log, const char *name, size_t *idx)
{
    for (size_t i = 0; i < log->ntopics; i++)
        if (strcmp(klog__topic_get_name(log->topics[i]), name) == 0) {
            if (idx)
                *idx = i;
            return log->topics[i];
        }
    return NULL;
}

int klog__log_update_topic(klog__log_t *log, const char *name, const klog__topic_update_t *u)
{
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    pthread_mutex_lock(&log->mu);
    klog__topic_t *t = find_topic(log, name, NULL);
    klog__topic_meta_t m;
    int rc = t ? u->stage(t, u->arg, &m) : KLOG_ENOTOPIC;
    if (!rc) {
        rc = write_meta_with(log, t, &m);
        if (rc)
            u->undo(t, u->arg);
        else
            u->commit(t, u->arg, &m); /* durable: now the live topic */
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
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
    int rc = klog__topic_meta_build(name, partitions, topic_cfg, &m);
    if (rc)
        return rc;
    pthread_mutex_lock(&log->mu);
    klog__topic_t *t = NULL;
    if (find_topic(log, name, NULL)) {
        rc = KLOG_ETOPICEXISTS;
        goto out;
    }
    rc = klog__topic_new(&log->env, &m, &t);
    if (rc)
        goto out;
    for (int32_t j = 0; j < klog__topic_nparts(t) && !rc; j++)
        rc = klog__partition_load(klog__topic_part(t, j));
    if (!rc)
        rc = klog__fsync_dir(log->dir);
    if (rc)
        goto out;
    klog__topic_t **v = klog__realloc(log->topics, (log->ntopics + 1) * sizeof *v);
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
    if (t) /* undo: remove the directories this attempt created */
        klog__topic_discard(t);
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
    klog__topic_t *t = find_topic(log, name, &idx);
    if (!t) {
        rc = KLOG_ENOTOPIC;
        goto out;
    }
    for (int32_t j = 0; j < klog__topic_nparts(t); j++)
        if (klog__partition_readers(klog__topic_part(t, j)) > 0) {
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
    klog__topic_mark_deleted(t);
    pthread_mutex_unlock(&log->mu);
    klog__log_wait_seals(log);
    pthread_mutex_lock(&log->mu);
    klog__topic_remove(t);
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
        klog__topic_t *t;
        rc = klog__topic_new(&log->env, &metas[i], &t);
        for (int32_t j = 0; !rc && j < klog__topic_nparts(t); j++)
            rc = klog__partition_load(klog__topic_part(t, j));
        klog__topic_t **v = rc ? NULL : klog__realloc(log->topics, (log->ntopics + 1) * sizeof *v);
        if (!v) {
            if (!rc) {
                rc = -ENOMEM;
                klog__topic_free(t);
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
        bytes += strlen(klog__topic_get_name(log->topics[i])) + 1;
    char **v = klog__malloc(bytes);
    if (!v) {
        pthread_mutex_unlock(&log->mu);
        return -ENOMEM;
    }
    char *str = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *name = klog__topic_get_name(log->topics[i]);
        size_t len = strlen(name) + 1;
        memcpy(str, name, len);
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
    klog__topic_t *t = find_topic(log, name, NULL);
    if (!t && klog__is_rdonly(log) && refresh_topics(log) == 0)
        t = find_topic(log, name, NULL);
    pthread_mutex_unlock(&log->mu);
    if (!t)
        return KLOG_ENOTOPIC;
    *out = t;
    return 0;
}

int klog_partition(klog_t *log, const char *topic, int32_t partition, klog_partition_t **out)
{
    klog_topic_t *t;
    int rc = klog_topic_get(log, topic, &t);
    return rc ? rc : klog_partition_get(t, partition, out);
}
