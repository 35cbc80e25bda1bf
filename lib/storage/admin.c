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
 * Both run through klog__log_update_topic (log.c), under the log's topics
 * lock, which the background thread also takes before walking the
 * partitions, so it never sees a half-grown topic; the topic itself stages,
 * commits and undoes (topic.c), publishing a grown partition array and new
 * settings so that threads appending and reading meanwhile see the old or
 * the new state, never a mix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/config.h"
#include "storage/log.h"
#include "storage/topic.h"

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

/* ------------------------------------------------------------ configuration */

struct alter {
    const klog_config_t *changes;
    const int *remove;
    size_t nremove;
};

static int alter_stage(klog__topic_t *t, void *arg, klog__topic_meta_t *m)
{
    const struct alter *a = arg;
    return klog__topic_stage_config(t, a->changes, a->remove, a->nremove, m);
}

static void alter_commit(klog__topic_t *t, void *arg, const klog__topic_meta_t *m)
{
    (void)arg;
    klog__topic_commit_config(t, m);
}

static void alter_undo(klog__topic_t *t, void *arg)
{
    (void)t;
    (void)arg;
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
    struct alter a = {changes, remove, nremove};
    klog__topic_update_t u = {alter_stage, alter_commit, alter_undo, &a};
    return klog__log_update_topic(log, name, &u);
}

/* ------------------------------------------------------------ partitions */

struct grow {
    int32_t partitions;
    klog__partition_t **staged;
};

static int grow_stage(klog__topic_t *t, void *arg, klog__topic_meta_t *m)
{
    struct grow *g = arg;
    int rc = klog__topic_stage_grow(t, g->partitions, &g->staged, m);
    if (rc)
        g->staged = NULL; /* already undone */
    return rc;
}

static void grow_commit(klog__topic_t *t, void *arg, const klog__topic_meta_t *m)
{
    struct grow *g = arg;
    klog__topic_commit_grow(t, g->staged, m);
}

static void grow_undo(klog__topic_t *t, void *arg)
{
    struct grow *g = arg;
    klog__topic_undo_grow(t, g->staged, g->partitions);
}

int klog_topic_add_partitions(klog_t *log, const char *name, int32_t partitions)
{
    int rc = check_args(log, name);
    if (rc)
        return rc;
    if (partitions < 1 || partitions > 100000)
        return -EINVAL;
    struct grow g = {partitions, NULL};
    klog__topic_update_t u = {grow_stage, grow_commit, grow_undo, &g};
    return klog__log_update_topic(log, name, &u);
}
