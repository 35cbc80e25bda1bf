/*
 * admin.c — topic administration after creation, as Kafka's tools do it for
 * a cluster: --alter (kafka-configs --alter; kafka-topics --alter
 * --partitions), --delete-records (kafka-delete-records), --retention
 * (retention applied now instead of at the next background pass) and
 * --stats (per partition figures, as mdb_stat gives for LMDB; a writer's
 * open descriptors are counted from /proc/PID/fd of the lock's holder).
 *
 * The changing modes open the log read-write, which takes its lock: they
 * need a directory no writer process holds, and kc_open_log says which
 * process holds it when one does. --stats opens read-only and runs beside
 * a writer.
 */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "klogcat.h"

static int close_log(const kc_opts_t *o, klog_t *log, int status)
{
    int rc = klog_close(log);
    if (rc < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(rc));
        return KC_EXIT_FAIL;
    }
    if (kc_output_failed())
        return KC_EXIT_FAIL;
    return status;
}

static int get_topic(const kc_opts_t *o, klog_t *log, const char *name, klog_topic_t **t)
{
    int rc = klog_topic_get(log, name, t);
    (void)o;
    if (rc < 0)
        kc_err("topic %s: %s", name, klog_strerror(rc));
    return rc;
}

/* ---------------------------------------------------------------- --alter */

static void print_topic_conf(const kc_opts_t *o, klog_topic_t *t)
{
    static const int keys[] = {KLOG_CONF_SEGMENT_BYTES,    KLOG_CONF_SEGMENT_MS,
                               KLOG_CONF_INDEX_INTERVAL_BYTES, KLOG_CONF_INDEX_MAX_BYTES,
                               KLOG_CONF_RETENTION_MS,     KLOG_CONF_RETENTION_BYTES,
                               KLOG_CONF_MAX_BATCH_BYTES,  KLOG_CONF_FLUSH_MESSAGES,
                               KLOG_CONF_FLUSH_MS,         KLOG_CONF_VISIBILITY,
                               KLOG_CONF_COMPRESSION};
    char buf[32];
    if (o->json) {
        fputs("{\"topic\":", stdout);
        kc_json_bytes(stdout, klog_topic_name(t), (int32_t)strlen(klog_topic_name(t)));
        printf(",\"partitions\":%" PRId32 ",\"config\":{", klog_topic_partition_count(t));
    } else {
        printf("topic: %s partitions: %" PRId32 "\n", klog_topic_name(t),
               klog_topic_partition_count(t));
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t v;
        if (klog_topic_config(t, keys[i], &v) < 0)
            continue;
        kc_conf_value_str(keys[i], v, buf, sizeof buf);
        if (o->json) {
            printf("%s\"%s\":", i ? "," : "", kc_conf_name(keys[i]));
            if (keys[i] == KLOG_CONF_COMPRESSION || keys[i] == KLOG_CONF_VISIBILITY)
                printf("\"%s\"", buf);
            else
                fputs(buf, stdout);
        } else {
            printf("  %s=%s\n", kc_conf_name(keys[i]), buf);
        }
    }
    if (o->json)
        fputs("}}\n", stdout);
}

int kc_alter(const kc_opts_t *o)
{
    klog_t *log = NULL;
    klog_topic_t *t;
    klog_config_t *cfg = NULL;
    int *remove = calloc(o->nconf + 1, sizeof *remove);
    size_t nremove = 0;
    int rc, status = KC_EXIT_FAIL;

    if (!remove || (rc = klog_config_new(&cfg)) < 0) {
        kc_err("out of memory");
        free(remove);
        return KC_EXIT_FAIL;
    }
    for (size_t i = 0; i < o->nconf; i++) {
        if (o->conf[i].remove) {
            remove[nremove++] = o->conf[i].key;
            continue;
        }
        rc = klog_config_set(cfg, o->conf[i].key, o->conf[i].value);
        if (rc < 0) {
            kc_err("-X %s=%" PRId64 ": %s", kc_conf_name(o->conf[i].key), o->conf[i].value,
                   klog_strerror(rc));
            status = KC_EXIT_USAGE;
            goto out;
        }
    }
    if (kc_open_log(o, KLOG_OPEN_NOCREATE, &log) < 0)
        goto out;
    if (get_topic(o, log, o->topic, &t) < 0)
        goto close;
    if (o->partitions) {
        int32_t np = klog_topic_partition_count(t);
        if (o->partitions < np) {
            kc_err("-N %" PRId32 ": topic %s has %" PRId32 " partitions; partitions can only "
                   "be added (as in Kafka)",
                   o->partitions, o->topic, np);
            goto close;
        }
        if (o->partitions > np && (rc = klog_topic_add_partitions(log, o->topic, o->partitions)) < 0) {
            kc_err("adding partitions to %s: %s", o->topic, klog_strerror(rc));
            goto close;
        }
    }
    if (o->nconf && (rc = klog_topic_alter_config(log, o->topic, cfg, remove, nremove)) < 0) {
        kc_err("altering the configuration of %s: %s", o->topic, klog_strerror(rc));
        goto close;
    }
    if (klog_topic_get(log, o->topic, &t) == 0)
        print_topic_conf(o, t);
    status = KC_EXIT_OK;
close:
    status = close_log(o, log, status);
out:
    klog_config_free(cfg);
    free(remove);
    return status;
}

/* ------------------------------------------------------- --delete-records */

/* The new log start for partition p per -o; 0 or an error printed. */
static int delete_target(const kc_opts_t *o, klog_partition_t *p, const klog_offsets_t *off,
                         int64_t *target)
{
    if (o->start == KC_START_END) {
        *target = off->high_watermark;
    } else if (o->start == KC_START_TIME) {
        int rc = klog_offset_for_time(p, o->start_value, target);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": looking up time %" PRId64 ": %s", o->topic,
                   klog_partition_id(p), o->start_value, klog_strerror(rc));
            return rc;
        }
        if (*target > off->high_watermark)
            *target = off->high_watermark;
    } else {
        *target = o->start_value;
    }
    if (*target < off->log_start)
        *target = off->log_start; /* already deleted: nothing to do */
    return 0;
}

int kc_delete_records(const kc_opts_t *o)
{
    klog_t *log = NULL;
    klog_topic_t *t;
    int status = KC_EXIT_FAIL, rc, first = 1;

    if (kc_open_log(o, KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    if (get_topic(o, log, o->topic, &t) < 0)
        return close_log(o, log, KC_EXIT_FAIL);
    int32_t np = klog_topic_partition_count(t);
    if (o->partition >= np) {
        kc_err("topic %s has %" PRId32 " partition(s); there is no partition %" PRId32,
               o->topic, np, o->partition);
        return close_log(o, log, KC_EXIT_FAIL);
    }
    if (o->json)
        fputs("{\"topic\":", stdout), kc_json_bytes(stdout, o->topic, (int32_t)strlen(o->topic)),
            fputs(",\"partitions\":[", stdout);
    for (int32_t i = o->partition >= 0 ? o->partition : 0;
         i < (o->partition >= 0 ? o->partition + 1 : np); i++) {
        klog_partition_t *p;
        klog_offsets_t off;
        int64_t target;
        if ((rc = klog_partition_get(t, i, &p)) < 0 || (rc = klog_partition_offsets(p, &off)) < 0) {
            kc_err("%s-%" PRId32 ": %s", o->topic, i, klog_strerror(rc));
            goto out;
        }
        if (delete_target(o, p, &off, &target) < 0)
            goto out;
        if (target > off.high_watermark) {
            kc_err("%s-%" PRId32 ": offset %" PRId64 " is above the high watermark %" PRId64
                   ": nothing deleted there",
                   o->topic, i, target, off.high_watermark);
            goto out;
        }
        if (target > off.log_start && (rc = klog_delete_records(p, target)) < 0) {
            kc_err("%s-%" PRId32 ": deleting records before %" PRId64 ": %s", o->topic, i,
                   target, klog_strerror(rc));
            goto out;
        }
        if (o->json)
            printf("%s{\"partition\":%" PRId32 ",\"old_log_start\":%" PRId64
                   ",\"log_start\":%" PRId64 "}",
                   first ? "" : ",", i, off.log_start, target);
        else
            printf("%s-%" PRId32 ": log start %" PRId64 " -> %" PRId64 "\n", o->topic, i,
                   off.log_start, target);
        first = 0;
    }
    status = KC_EXIT_OK;
out:
    if (o->json)
        fputs("]}\n", stdout);
    return close_log(o, log, status);
}

/* ------------------------------------------------------------ --retention */

int kc_retention(const kc_opts_t *o)
{
    klog_t *log = NULL;
    if (kc_open_log(o, KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    int n = klog_retention(log, KLOG_TIMESTAMP_NOW);
    if (n < 0) {
        kc_err("applying retention: %s", klog_strerror(n));
        return close_log(o, log, KC_EXIT_FAIL);
    }
    if (o->json)
        printf("{\"segments_deleted\":%d}\n", n);
    else
        printf("retention: %d segment(s) deleted\n", n);
    return close_log(o, log, KC_EXIT_OK);
}

/* ---------------------------------------------------------------- --stats */

typedef struct pstats {
    klog_offsets_t off;
    int64_t index_bytes; /* .index and .timeindex files */
    int64_t last_append; /* max timestamp of the newest batch; -1 when empty */
    int64_t open_fds;    /* the writer's descriptors on the partition's files;
                            -1 when no writer holds the log (or /proc says not) */
} pstats_t;

/* Descriptors process pid holds on files in directory pdir (a real path). */
static int64_t writer_fds(long pid, const char *pdir)
{
    char path[64], link[PATH_MAX + 1];
    size_t n = strlen(pdir);
    int64_t count = 0;
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char fd[PATH_MAX];
        if (e->d_name[0] == '.')
            continue;
        snprintf(fd, sizeof fd, "%s/%s", path, e->d_name);
        ssize_t k = readlink(fd, link, sizeof link - 1);
        if (k <= 0)
            continue;
        link[k] = 0;
        if ((size_t)k > n && strncmp(link, pdir, n) == 0 && link[n] == '/')
            count++;
    }
    closedir(d);
    return count;
}

static int64_t index_bytes(const char *dir, const char *topic, int32_t part)
{
    char path[4096];
    int64_t total = 0;
    snprintf(path, sizeof path, "%s/%s-%" PRId32, dir, topic, part);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t base;
        struct stat st;
        char f[4400];
        if (!kc_segment_name(e->d_name, ".index", &base) &&
            !kc_segment_name(e->d_name, ".timeindex", &base))
            continue;
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        if (stat(f, &st) == 0)
            total += st.st_size;
    }
    closedir(d);
    return total;
}

static int part_stats(const kc_opts_t *o, klog_topic_t *t, int32_t i, pstats_t *ps)
{
    klog_partition_t *p;
    int rc = klog_partition_get(t, i, &p);
    if (rc == 0)
        rc = klog_partition_offsets(p, &ps->off);
    if (rc < 0) {
        kc_err("%s-%" PRId32 ": %s", klog_topic_name(t), i, klog_strerror(rc));
        return rc;
    }
    ps->index_bytes = index_bytes(o->dir, klog_topic_name(t), i);
    ps->last_append = -1;
    ps->open_fds = -1;
    long pid = kc_lock_holder(o->dir);
    char pdir[PATH_MAX], real[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/%s-%" PRId32, o->dir, klog_topic_name(t), i);
    if (pid > 0 && realpath(pdir, real))
        ps->open_fds = writer_fds(pid, real);
    if (ps->off.high_watermark > ps->off.log_start) {
        klog_reader_t *r;
        klog_record_t rec;
        rc = klog_reader_open(p, ps->off.high_watermark - 1, &r);
        if (rc == 0 && klog_reader_next(r, &rec) == 1) {
            const klog_batch_info_t *bi = klog_reader_batch_info(r);
            ps->last_append = bi ? bi->max_timestamp : rec.timestamp;
        }
        klog_reader_close(r);
    }
    return 0;
}

int kc_stats(const kc_opts_t *o)
{
    klog_t *log = NULL;
    char **names = NULL, *one[1], **list;
    int status = KC_EXIT_FAIL, n;

    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    if (o->topic) {
        one[0] = (char *)o->topic;
        list = one, n = 1;
    } else if ((n = klog_topic_list(log, &names)) < 0) {
        kc_err("listing topics: %s", klog_strerror(n));
        return close_log(o, log, KC_EXIT_FAIL);
    } else {
        list = names;
    }
    if (o->json)
        fputs("{\"topics\":[", stdout);
    else
        printf("%-20s %5s %10s %10s %10s %10s %6s %12s %10s %14s %8s\n", "TOPIC", "PART",
               "LOG_START", "HW", "LOG_END", "RECORDS", "SEGS", "LOG_BYTES", "IDX_BYTES",
               "LAST_APPEND", "OPEN_FDS");
    for (int k = 0; k < n; k++) {
        klog_topic_t *t;
        if (get_topic(o, log, list[k], &t) < 0)
            goto out;
        int32_t np = klog_topic_partition_count(t);
        if (o->json) {
            printf("%s{\"topic\":", k ? "," : "");
            kc_json_bytes(stdout, list[k], (int32_t)strlen(list[k]));
            fputs(",\"partitions\":[", stdout);
        }
        for (int32_t i = 0; i < np; i++) {
            pstats_t ps;
            if (part_stats(o, t, i, &ps) < 0)
                goto out;
            const klog_offsets_t *f = &ps.off;
            if (o->json)
                printf("%s{\"partition\":%" PRId32 ",\"log_start\":%" PRId64
                       ",\"high_watermark\":%" PRId64 ",\"log_end\":%" PRId64
                       ",\"records\":%" PRId64 ",\"segments\":%" PRId64 ",\"log_bytes\":%" PRId64
                       ",\"index_bytes\":%" PRId64 ",\"last_append_ms\":%" PRId64
                       ",\"open_fds\":%" PRId64 "}",
                       i ? "," : "", i, f->log_start, f->high_watermark, f->log_end,
                       f->high_watermark - f->log_start, f->segments, f->bytes, ps.index_bytes,
                       ps.last_append, ps.open_fds);
            else
                printf("%-20s %5" PRId32 " %10" PRId64 " %10" PRId64 " %10" PRId64 " %10" PRId64
                       " %6" PRId64 " %12" PRId64 " %10" PRId64 " %14" PRId64 " %8" PRId64 "\n",
                       list[k], i, f->log_start, f->high_watermark, f->log_end,
                       f->high_watermark - f->log_start, f->segments, f->bytes, ps.index_bytes,
                       ps.last_append, ps.open_fds);
        }
        if (o->json)
            fputs("]}", stdout);
    }
    if (o->json)
        fputs("]}\n", stdout);
    status = KC_EXIT_OK;
out:
    free(names);
    return close_log(o, log, status);
}
