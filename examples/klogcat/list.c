/*
 * list.c — topic administration: -L lists topics and partitions with their
 * offsets and sizes (a table, or JSON with -J) from a read-only open;
 * --create and --delete change topics through a read-write open.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klogcat.h"

static void print_row(int json, const char *topic, int32_t part, const klog_offsets_t *off,
                      int first)
{
    if (json) {
        printf("%s{\"partition\":%" PRId32 ",\"log_start\":%" PRId64
               ",\"high_watermark\":%" PRId64 ",\"log_end\":%" PRId64 ",\"segments\":%" PRId64
               ",\"bytes\":%" PRId64 "}",
               first ? "" : ",", part, off->log_start, off->high_watermark, off->log_end,
               off->segments, off->bytes);
    } else {
        printf("%-24s %9" PRId32 " %12" PRId64 " %14" PRId64 " %12" PRId64 " %8" PRId64
               " %14" PRId64 "\n",
               topic, part, off->log_start, off->high_watermark, off->log_end, off->segments,
               off->bytes);
    }
}

int kc_list(const kc_opts_t *o)
{
    klog_t *log = NULL;
    char **names = NULL, **list, *one[1];
    int status = KC_EXIT_FAIL;

    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    int n = klog_topic_list(log, &names);
    if (n < 0) {
        kc_err("listing topics: %s", klog_strerror(n));
        goto out;
    }
    list = names;
    if (o->topic) { /* -L -t TOPIC: that topic alone */
        klog_topic_t *only;
        int rc = klog_topic_get(log, o->topic, &only);
        if (rc < 0) {
            kc_err("topic %s: %s", o->topic, klog_strerror(rc));
            goto out;
        }
        one[0] = (char *)klog_topic_name(only);
        list = one;
        n = 1;
    }
    if (o->json)
        printf("{\"topics\":[");
    else
        printf("%-24s %9s %12s %14s %12s %8s %14s\n", "TOPIC", "PARTITION", "LOG_START",
               "HIGH_WATERMARK", "LOG_END", "SEGMENTS", "BYTES");
    for (int i = 0; i < n; i++) {
        klog_topic_t *t;
        int rc = klog_topic_get(log, list[i], &t);
        if (rc == KLOG_ENOTOPIC)
            continue; /* deleted since the listing */
        if (rc < 0) {
            kc_err("topic %s: %s", list[i], klog_strerror(rc));
            goto out;
        }
        int32_t np = klog_topic_partition_count(t);
        if (o->json) {
            printf("%s{\"topic\":", i ? "," : "");
            kc_json_bytes(stdout, list[i], (int32_t)strlen(list[i]));
            printf(",\"partitions\":[");
        }
        for (int32_t p = 0; p < np; p++) {
            klog_partition_t *part;
            klog_offsets_t off;
            rc = klog_partition_get(t, p, &part);
            if (rc == 0)
                rc = klog_partition_offsets(part, &off);
            if (rc < 0) {
                kc_err("%s-%" PRId32 ": %s", list[i], p, klog_strerror(rc));
                goto out;
            }
            print_row(o->json, list[i], p, &off, p == 0);
        }
        if (o->json)
            printf("]}");
    }
    if (o->json)
        printf("]}\n");
    status = KC_EXIT_OK;
out:
    free(names);
    if (fflush(stdout) != 0) {
        kc_err("writing output failed");
        status = KC_EXIT_FAIL;
    }
    klog_close(log);
    return status;
}

int kc_create(const kc_opts_t *o)
{
    klog_t *log = NULL;
    klog_config_t *cfg = NULL;
    int rc = 0;
    if (o->nconf && (rc = klog_config_new(&cfg)) < 0) {
        kc_err("%s", klog_strerror(rc));
        return KC_EXIT_FAIL;
    }
    for (size_t i = 0; i < o->nconf; i++) {
        rc = klog_config_set(cfg, o->conf[i].key, o->conf[i].value);
        if (rc < 0) {
            kc_err("-X %s=%" PRId64 ": %s", kc_conf_name(o->conf[i].key), o->conf[i].value,
                   klog_strerror(rc));
            klog_config_free(cfg);
            return KC_EXIT_USAGE;
        }
    }
    if (kc_open_log(o, 0, &log) < 0) {
        klog_config_free(cfg);
        return KC_EXIT_FAIL;
    }
    rc = klog_topic_create(log, o->topic, o->partitions, cfg);
    klog_config_free(cfg);
    if (rc < 0)
        kc_err("creating topic %s: %s", o->topic, klog_strerror(rc));
    int crc = klog_close(log);
    if (rc == 0 && crc < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(crc));
        rc = crc;
    }
    return rc < 0 ? KC_EXIT_FAIL : KC_EXIT_OK;
}

int kc_delete(const kc_opts_t *o)
{
    klog_t *log = NULL;
    if (kc_open_log(o, KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    int rc = klog_topic_delete(log, o->topic);
    if (rc < 0)
        kc_err("deleting topic %s: %s", o->topic, klog_strerror(rc));
    int crc = klog_close(log);
    if (rc == 0 && crc < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(crc));
        rc = crc;
    }
    return rc < 0 ? KC_EXIT_FAIL : KC_EXIT_OK;
}
