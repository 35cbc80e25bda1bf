/*
 * strays.c — partition directories no topic owns, found at a read-write
 * open. A directory "<topic>-<N>" that is not partition N of a topic in
 * klog.topics was left by an interrupted klog_topic_delete (killed after
 * klog.topics was rewritten, before its directories went) or by an
 * interrupted klog_topic_create / klog_topic_add_partitions (killed after
 * the directories were made, before klog.topics named them). Either way
 * klog.topics, the commit point, says the partition does not exist: the
 * deletion is finished (or the creation undone) here, so a later topic of
 * the same name starts empty instead of bringing old records back.
 *
 * Only directories holding nothing but files libklog keeps in a partition
 * are removed; anything else is left alone and reported. A Kafka
 * partition (it holds partition.metadata and no klog.state: one libklog
 * opened holds both) and Kafka's internal topics ("__" names, which
 * klog_adopt leaves out unless asked) are never touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/topic.h"

typedef struct strays {
    const char *dir;
    klog__topic_t *const *topics;
    size_t n;
    const klog__logger_t *lg;
    int foreign; /* set by only_partition_files */
    int has_state, has_kafka_meta; /* klog.state, partition.metadata seen */
} strays_t;

/* Is `name` "<valid topic>-<decimal>"? Sets *topic_len and *part. */
static int parse_partition_dir(const char *name, size_t *topic_len, long *part)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || strlen(dash + 1) > 9)
        return 0;
    long v = 0;
    for (const char *c = dash + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return 0;
        v = v * 10 + (*c - '0');
    }
    size_t tl = (size_t)(dash - name);
    char topic[256];
    if (tl >= sizeof topic)
        return 0;
    memcpy(topic, name, tl);
    topic[tl] = 0;
    if (!klog_topic_name_valid(topic))
        return 0;
    *topic_len = tl;
    *part = v;
    return 1;
}

static int owned(const strays_t *st, const char *name, size_t tl, long part)
{
    for (size_t i = 0; i < st->n; i++) {
        const char *t = klog__topic_get_name(st->topics[i]);
        if (strlen(t) == tl && memcmp(t, name, tl) == 0)
            return part < klog__topic_nparts(st->topics[i]);
    }
    return 0;
}

/* Files a partition directory may hold: segment files (20 digits and an
 * extension, possibly with a .deleted/.cleaned/.swap/.tmp suffix), the
 * state file and Kafka's per-partition files. */
static int partition_file(const char *name)
{
    static const char *const fixed[] = {"klog.state", "leader-epoch-checkpoint",
                                        "leader-epoch-checkpoint.tmp"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i]) == 0)
            return 1;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return name[20] == '.';
}

static int only_partition_files(void *ctx, const char *name)
{
    strays_t *st = ctx;
    if (strcmp(name, "klog.state") == 0)
        st->has_state = 1;
    else if (strcmp(name, "partition.metadata") == 0)
        st->has_kafka_meta = 1;
    else if (strcmp(name, ".") && strcmp(name, "..") && !partition_file(name))
        st->foreign = 1;
    return 0;
}

static int check_one(void *ctx, const char *name)
{
    strays_t *st = ctx;
    size_t tl;
    long part;
    if (!parse_partition_dir(name, &tl, &part) || owned(st, name, tl, part) ||
        strncmp(name, "__", 2) == 0)
        return 0;
    char *path = klog__asprintf("%s/%s", st->dir, name);
    struct stat sb;
    if (!path || klog__stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        free(path);
        return 0;
    }
    st->foreign = st->has_state = st->has_kafka_meta = 0;
    /* partition.metadata alone is Kafka's partition; beside klog.state it
     * is libklog's (adopted, or a server on libklog keeping topic ids). */
    if (klog__dir_list(path, only_partition_files, st) != 0 || st->foreign ||
        (st->has_kafka_meta && !st->has_state)) {
        klog__log(st->lg, KLOG_LOG_WARN,
                  "%s: no topic in klog.topics owns this partition directory, but it holds "
                  "files libklog does not write: left alone",
                  path);
        free(path);
        return 0;
    }
    char *to = klog__asprintf("%s.%016llx-delete", path, (unsigned long long)klog__mono_ns());
    klog__log(st->lg, KLOG_LOG_WARN,
              "%s: no topic in klog.topics owns it (an interrupted topic deletion or "
              "creation): removing it",
              path);
    if (to && klog__rename(path, to) == 0)
        klog__rmtree(to);
    else
        klog__rmtree(path);
    free(to);
    free(path);
    return 0;
}

int klog__topics_remove_strays(const char *dir, klog__topic_t *const *topics, size_t n,
                               const klog__logger_t *lg)
{
    strays_t st = {.dir = dir, .topics = topics, .n = n, .lg = lg};
    int rc = klog__dir_list(dir, check_one, &st);
    return rc ? rc : klog__fsync_dir(dir);
}
