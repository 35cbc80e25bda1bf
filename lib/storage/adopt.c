/*
 * adopt.c — take over a log directory written by Apache Kafka.
 *
 * A Kafka log directory (one entry of a stopped broker's log.dirs) already
 * holds everything libklog reads: partition directories `<topic>-<N>` of
 * segments in Kafka's own format (.log, .index, .timeindex), and Kafka's
 * recovery-point and log-start checkpoints at the root, which are libklog's
 * checkpoints too. What it lacks is libklog's topic metadata ("klog.topics":
 * names, partition counts, configuration), which Kafka keeps in its cluster
 * metadata, not in the directory. Adopting writes that one file, derived
 * from the directory listing and the caller's configuration, then opens the
 * directory as klog_open() does.
 *
 * WHAT IS ADOPTED
 *   Every directory entry named `<topic>-<N>` with a valid topic name and a
 *   decimal N. Kafka's pending deletes (`-delete`), log-dir moves
 *   (`-future`) and strays (`-stray`) have suffixes after N and are not
 *   partitions. Kafka's internal topics (names starting with "__": the
 *   consumer offsets, the transaction state, the KRaft metadata log) are
 *   left out unless KLOG_ADOPT_INTERNAL is given. A topic's partitions must
 *   be exactly 0..N-1 (a directory from one broker of a cluster may hold
 *   only some; libklog cannot describe a topic with holes).
 *
 * WHAT IS KEPT AS IT IS
 *   Segments and indexes are used in place; nothing of Kafka's is renamed,
 *   and the only deletions are klog_open()'s: pending topic deletions
 *   ("-delete" directories, which Kafka's next start would remove too) and
 *   .deleted/.cleaned/.swap leftovers (none after a clean Kafka shutdown).
 *   Kafka's partition.metadata, leader-epoch-checkpoint,
 *   producer snapshots and .txnindex files stay beside them (libklog reads
 *   those whose state it keeps, which are in Kafka's format; a Kafka broker
 *   given the directory back still can).
 *   Kafka's clean-shutdown marker means the same to libklog as to Kafka.
 *   Opening then recovers like any libklog open: the recovery rules are
 *   partition.c's (a torn tail is cut, as Kafka's recovery would cut it).
 *
 * FAILURE
 *   Nothing is written before the directory has been scanned and every
 *   topic found valid. If the open after writing klog.topics fails, the
 *   file is removed again, so the directory is left a Kafka directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "platform/platform.h"
#include "storage/files.h"
#include "storage/config.h"

#define ADOPT_META "klog.topics"

struct found {
    klog__topic_meta_t *v;
    size_t n, cap;
    uint8_t **bits; /* per topic: partitions seen, one bit each */
};

/* "<topic>-<N>": split at the last '-'; N decimal without sign, 0..99999.
 * Returns 1 and fills name/part, or 0 when the entry is not a partition. */
static int parse_partition_dir(const char *ent, char name[KLOG__TOPIC_NAME_MAX + 1],
                               int32_t *part)
{
    const char *dash = strrchr(ent, '-');
    if (!dash || dash == ent || !dash[1])
        return 0;
    size_t nl = (size_t)(dash - ent);
    if (nl > KLOG__TOPIC_NAME_MAX)
        return 0;
    int64_t n = 0;
    for (const char *c = dash + 1; *c; c++) {
        if (*c < '0' || *c > '9' || n > 9999)
            return 0;
        n = n * 10 + (*c - '0');
    }
    if (dash[1] == '0' && dash[2])
        return 0; /* "t-01" is not Kafka's name for partition 1 */
    memcpy(name, ent, nl);
    name[nl] = '\0';
    if (!klog_topic_name_valid(name))
        return 0;
    *part = (int32_t)n;
    return 1;
}

static int add_partition(struct found *f, const char *name, int32_t part)
{
    size_t i;
    for (i = 0; i < f->n && strcmp(f->v[i].name, name); i++)
        ;
    if (i == f->n) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 8;
            klog__topic_meta_t *v = klog__realloc(f->v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            f->v = v;
            uint8_t **b = klog__realloc(f->bits, cap * sizeof *b);
            if (!b)
                return -ENOMEM;
            f->bits = b;
            f->cap = cap;
        }
        memset(&f->v[i], 0, sizeof f->v[i]);
        memcpy(f->v[i].name, name, strlen(name) + 1);
        f->bits[i] = klog__calloc(100000 / 8 + 1, 1);
        if (!f->bits[i])
            return -ENOMEM;
        f->n++;
    }
    f->bits[i][part / 8] |= (uint8_t)(1u << (part % 8));
    if (part + 1 > f->v[i].partitions)
        f->v[i].partitions = part + 1;
    return 0;
}

static void found_free(struct found *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->bits[i]);
    free(f->bits);
    free(f->v);
}

/* The topic configuration: the topic-level keys set explicitly in cfg, as
 * klog_topic_create() stores them. */
static void config_overrides(const klog_config_t *cfg, klog__topic_meta_t *m)
{
    for (int k = 0; cfg && k < KLOG__CONF_SLOTS && m->nconf < KLOG__TOPIC_CONF_MAX; k++) {
        if (KLOG__CONF_ISSET(cfg, k) && klog__config_is_topic_key(k)) {
            m->conf[m->nconf].key = k;
            m->conf[m->nconf].value = cfg->value[k];
            m->nconf++;
        }
    }
}

static int scan(const char *dir, unsigned flags, const klog_config_t *topic_cfg,
                const klog__logger_t *lg, struct found *f)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        char name[KLOG__TOPIC_NAME_MAX + 1];
        int32_t part;
        if (!parse_partition_dir(e->d_name, name, &part))
            continue;
        if (!(flags & KLOG_ADOPT_INTERNAL) && name[0] == '_' && name[1] == '_')
            continue;
        char *path = klog__asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (!path) {
            rc = -ENOMEM;
            break;
        }
        int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        free(path);
        if (isdir)
            rc = add_partition(f, name, part);
    }
    closedir(d);
    if (rc)
        return rc;
    if (f->n == 0) {
        klog__log(lg, KLOG_LOG_ERROR, "adopt %s: no partition directory (<topic>-<N>) found", dir);
        return -ENOENT;
    }
    for (size_t i = 0; i < f->n; i++) {
        for (int32_t p = 0; p < f->v[i].partitions; p++) {
            if (!(f->bits[i][p / 8] >> (p % 8) & 1)) {
                klog__log(lg, KLOG_LOG_ERROR,
                          "adopt %s: topic %s has partition %d but not partition %d",
                          dir, f->v[i].name, (int)f->v[i].partitions - 1, (int)p);
                return KLOG_ECORRUPT;
            }
        }
        config_overrides(topic_cfg, &f->v[i]);
    }
    return 0;
}

int klog_adopt(const char *dir, const klog_config_t *cfg, const klog_config_t *topic_cfg,
               unsigned flags, klog_t **out)
{
    if (!dir || !out || (flags & ~(unsigned)KLOG_ADOPT_INTERNAL))
        return -EINVAL;
    *out = NULL;
    klog__logger_t lg = {0};
    if (cfg)
        lg = cfg->logger;
    char *meta = klog__asprintf("%s/%s", dir, ADOPT_META);
    if (!meta)
        return -ENOMEM;
    struct stat st;
    int rc;
    if (stat(meta, &st) == 0) {
        klog__log(&lg, KLOG_LOG_ERROR, "adopt %s: already a libklog directory (%s exists)", dir,
                  ADOPT_META);
        rc = -EEXIST;
        goto out;
    }
    struct found f = {0};
    rc = scan(dir, flags, topic_cfg, &lg, &f);
    if (!rc)
        rc = klog__meta_write(dir, f.v, f.n);
    if (!rc) {
        for (size_t i = 0; i < f.n; i++)
            klog__log(&lg, KLOG_LOG_INFO, "adopt %s: topic %s, %d partitions", dir, f.v[i].name,
                      (int)f.v[i].partitions);
        rc = klog_open(dir, cfg, KLOG_OPEN_NOCREATE, out);
        if (rc) {
            klog__log(&lg, KLOG_LOG_ERROR, "adopt %s: open failed (%s): %s removed again", dir,
                      klog_strerror(rc), ADOPT_META);
            klog__unlink(meta);
            klog__fsync_dir(dir);
        }
    }
    found_free(&f);
out:
    free(meta);
    return rc;
}
