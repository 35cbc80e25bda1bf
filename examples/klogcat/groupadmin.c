/*
 * groupadmin.c — consumer-group administration, as kafka-consumer-groups
 * does it: --groups (list), --describe (committed offset, lag and owner per
 * partition, and the live members), --reset-offsets (earliest, latest, an
 * offset, a time, or a shift) and --delete-group.
 *
 * Everything goes through the registry's operations table (klog.h:
 * member_list, owner, fetch, commit) except what the table has no
 * operation for: listing groups and deleting a group's offsets. Those read
 * and remove the directory registry's documented layout (klog.h,
 * klog_registry_dir_new: groups/<group>/...), so they exist for dir:PATH
 * registries only. Changing offsets is refused while the group has live
 * members, which would overwrite them at their next commit.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "klogcat.h"

typedef struct members {
    const kc_opts_t *o;
    int count;
    int print; /* 1 table, 2 JSON */
} members_t;

static int visit_member(void *arg, const char *member, const char *topics)
{
    members_t *m = arg;
    if (m->print == 2) {
        printf("%s{\"member\":", m->count ? "," : "");
        kc_json_bytes(stdout, member, (int32_t)strlen(member));
        fputs(",\"topics\":", stdout);
        kc_json_bytes(stdout, topics, (int32_t)strlen(topics));
        putchar('}');
    } else if (m->print == 1) {
        printf("member %s topics %s\n", member, topics);
    }
    m->count++;
    return 0;
}

/* Live members of group (printing them per print); count or an error. */
static int live_members(const klog_registry_ops_t *ops, const kc_opts_t *o, const char *group,
                        int print)
{
    members_t m = {.o = o, .print = print};
    int rc = ops->member_list(ops->ctx, group, visit_member, &m);
    if (rc < 0 && rc != KLOG_ENOTFOUND) {
        kc_err("group %s: listing members: %s", group, klog_strerror(rc));
        return rc;
    }
    return m.count;
}

static int refuse_if_live(const klog_registry_ops_t *ops, const kc_opts_t *o)
{
    int n = live_members(ops, o, o->group, 0);
    if (n < 0)
        return n;
    if (n > 0) {
        kc_err("group %s has %d live member(s): stop them first (they would overwrite the "
               "offsets at their next commit)",
               o->group, n);
        return -1;
    }
    return 0;
}

/* ----------------------------------------------------------------- --groups */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int kc_groups(const kc_opts_t *o)
{
    klog_registry_t *reg = NULL;
    char path[4096], **names = NULL;
    size_t n = 0, cap = 0;
    int status = KC_EXIT_FAIL;

    if (kc_open_registry(o->registry, &reg) < 0)
        return KC_EXIT_FAIL;
    const klog_registry_ops_t *ops = klog_registry_ops(reg);
    snprintf(path, sizeof path, "%s/groups", o->registry + 4);
    DIR *d = opendir(path);
    if (!d && errno != ENOENT) {
        kc_err("%s: %s", path, strerror(errno));
        goto out;
    }
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (!klog_topic_name_valid(e->d_name))
            continue;
        if (n == cap) {
            char **v = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *v);
            if (!v)
                break;
            names = v;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    if (o->json)
        fputs("{\"groups\":[", stdout);
    else
        printf("%-30s %s\n", "GROUP", "MEMBERS");
    for (size_t i = 0; i < n; i++) {
        int m = live_members(ops, o, names[i], 0);
        if (m < 0)
            goto out;
        if (o->json) {
            printf("%s{\"group\":", i ? "," : "");
            kc_json_bytes(stdout, names[i], (int32_t)strlen(names[i]));
            printf(",\"members\":%d}", m);
        } else {
            printf("%-30s %d\n", names[i], m);
        }
    }
    if (o->json)
        fputs("]}\n", stdout);
    status = kc_output_failed() ? KC_EXIT_FAIL : KC_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    klog_registry_free(reg);
    return status;
}

/* --------------------------------------------------------------- --describe */

/* Is name among the -t topics? */
static int named(const kc_opts_t *o, const char *name)
{
    for (size_t i = 0; i < o->ntopics; i++)
        if (strcmp(o->topics[i], name) == 0)
            return 1;
    return 0;
}

static int describe_topic(const kc_opts_t *o, const klog_registry_ops_t *ops, klog_topic_t *t,
                          int *rows)
{
    const char *topic = klog_topic_name(t);
    int32_t np = klog_topic_partition_count(t);
    for (int32_t i = 0; i < np; i++) {
        klog_partition_t *p;
        klog_offsets_t off;
        int64_t committed = -1;
        char owner[256] = "";
        int rc = klog_partition_get(t, i, &p);
        if (rc == 0)
            rc = klog_partition_offsets(p, &off);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": %s", topic, i, klog_strerror(rc));
            return rc;
        }
        rc = ops->fetch(ops->ctx, o->group, topic, i, &committed);
        if (rc == KLOG_ENOTFOUND)
            committed = -1;
        else if (rc < 0) {
            kc_err("group %s, %s-%" PRId32 ": %s", o->group, topic, i, klog_strerror(rc));
            return rc;
        }
        rc = ops->owner(ops->ctx, o->group, topic, i, owner, sizeof owner);
        if (rc < 0)
            owner[0] = 0;
        if (committed < 0 && !owner[0] && !named(o, topic))
            continue;
        int64_t lag = committed >= 0 ? off.high_watermark - committed : -1;
        if (o->json) {
            printf("%s{\"topic\":", *rows ? "," : "");
            kc_json_bytes(stdout, topic, (int32_t)strlen(topic));
            printf(",\"partition\":%" PRId32 ",\"committed\":", i);
            if (committed >= 0)
                printf("%" PRId64 ",\"lag\":%" PRId64, committed, lag);
            else
                fputs("null,\"lag\":null", stdout);
            printf(",\"log_start\":%" PRId64 ",\"high_watermark\":%" PRId64 ",\"owner\":",
                   off.log_start, off.high_watermark);
            kc_json_bytes(stdout, owner, owner[0] ? (int32_t)strlen(owner) : KLOG_NULL_LEN);
            putchar('}');
        } else {
            char c[24] = "-", l[24] = "-";
            if (committed >= 0) {
                snprintf(c, sizeof c, "%" PRId64, committed);
                snprintf(l, sizeof l, "%" PRId64, lag);
            }
            printf("%-20s %9" PRId32 " %12s %12" PRId64 " %14" PRId64 " %10s %s\n", topic, i,
                   c, off.log_start, off.high_watermark, l, owner[0] ? owner : "-");
        }
        (*rows)++;
    }
    return 0;
}

int kc_describe(const kc_opts_t *o)
{
    klog_t *log = NULL;
    klog_registry_t *reg = NULL;
    char **names = NULL;
    int status = KC_EXIT_FAIL, n, rows = 0;

    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    if (kc_open_registry(o->registry, &reg) < 0)
        goto out;
    const klog_registry_ops_t *ops = klog_registry_ops(reg);
    n = klog_topic_list(log, &names);
    if (n < 0) {
        kc_err("listing topics: %s", klog_strerror(n));
        goto out;
    }
    for (size_t i = 0; i < o->ntopics; i++) {
        klog_topic_t *t;
        int rc = klog_topic_get(log, o->topics[i], &t);
        if (rc < 0) {
            kc_err("topic %s: %s", o->topics[i], klog_strerror(rc));
            goto out;
        }
    }
    if (o->json) {
        fputs("{\"group\":", stdout);
        kc_json_bytes(stdout, o->group, (int32_t)strlen(o->group));
        fputs(",\"partitions\":[", stdout);
    } else {
        printf("%-20s %9s %12s %12s %14s %10s %s\n", "TOPIC", "PARTITION", "COMMITTED",
               "LOG_START", "HIGH_WATERMARK", "LAG", "OWNER");
    }
    for (int k = 0; k < n; k++) {
        klog_topic_t *t;
        if (o->ntopics && !named(o, names[k]))
            continue;
        if (klog_topic_get(log, names[k], &t) < 0)
            continue; /* deleted since the listing */
        if (describe_topic(o, ops, t, &rows) < 0)
            goto out;
    }
    if (o->json)
        fputs("],\"members\":[", stdout);
    int m = live_members(ops, o, o->group, o->json ? 2 : 1);
    if (m < 0)
        goto out;
    if (o->json)
        fputs("]}\n", stdout);
    else if (m == 0)
        printf("no live members\n");
    status = KC_EXIT_OK;
out:
    free(names);
    klog_registry_free(reg);
    if (log && klog_close(log) < 0)
        status = KC_EXIT_FAIL;
    if (kc_output_failed())
        status = KC_EXIT_FAIL;
    return status;
}

/* ---------------------------------------------------------- --reset-offsets */

/* The new committed offset of one partition; 0 or an error printed. */
static int reset_target(const kc_opts_t *o, klog_partition_t *p, const klog_offsets_t *off,
                        int64_t committed, int64_t *target)
{
    if (o->has_shift) {
        int64_t from = committed >= 0 ? committed : off->log_start;
        /* from >= 0: a negative shift cannot overflow; clamp a positive one. */
        *target = o->shift > 0 && from > INT64_MAX - o->shift ? INT64_MAX : from + o->shift;
    } else if (o->start == KC_START_BEGINNING) {
        *target = off->log_start;
    } else if (o->start == KC_START_END) {
        *target = off->high_watermark;
    } else if (o->start == KC_START_TIME) {
        int rc = klog_offset_for_time(p, o->start_value, target);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": looking up time %" PRId64 ": %s", klog_partition_topic(p),
                   klog_partition_id(p), o->start_value, klog_strerror(rc));
            return rc;
        }
    } else {
        *target = o->start_value;
    }
    if (*target < off->log_start)
        *target = off->log_start;
    if (*target > off->high_watermark)
        *target = off->high_watermark;
    return 0;
}

int kc_reset_offsets(const kc_opts_t *o)
{
    klog_t *log = NULL;
    klog_registry_t *reg = NULL;
    int status = KC_EXIT_FAIL, rows = 0;

    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    if (kc_open_registry(o->registry, &reg) < 0)
        goto out;
    const klog_registry_ops_t *ops = klog_registry_ops(reg);
    if (refuse_if_live(ops, o) != 0)
        goto out;
    if (o->json)
        fputs("{\"group\":", stdout), kc_json_bytes(stdout, o->group, (int32_t)strlen(o->group)),
            fputs(",\"partitions\":[", stdout);
    for (size_t k = 0; k < o->ntopics; k++) {
        klog_topic_t *t;
        int rc = klog_topic_get(log, o->topics[k], &t);
        if (rc < 0) {
            kc_err("topic %s: %s", o->topics[k], klog_strerror(rc));
            goto out;
        }
        int32_t np = klog_topic_partition_count(t);
        if (o->partition >= np) {
            kc_err("topic %s has %" PRId32 " partition(s); there is no partition %" PRId32,
                   o->topics[k], np, o->partition);
            goto out;
        }
        for (int32_t i = o->partition >= 0 ? o->partition : 0;
             i < (o->partition >= 0 ? o->partition + 1 : np); i++) {
            klog_partition_t *p;
            klog_offsets_t off;
            int64_t committed = -1, target;
            if ((rc = klog_partition_get(t, i, &p)) < 0 ||
                (rc = klog_partition_offsets(p, &off)) < 0) {
                kc_err("%s-%" PRId32 ": %s", o->topics[k], i, klog_strerror(rc));
                goto out;
            }
            rc = ops->fetch(ops->ctx, o->group, o->topics[k], i, &committed);
            if (rc < 0 && rc != KLOG_ENOTFOUND) {
                kc_err("group %s, %s-%" PRId32 ": %s", o->group, o->topics[k], i,
                       klog_strerror(rc));
                goto out;
            }
            if (rc == KLOG_ENOTFOUND)
                committed = -1;
            if (reset_target(o, p, &off, committed, &target) < 0)
                goto out;
            rc = ops->commit(ops->ctx, o->group, o->topics[k], i, target);
            if (rc < 0) {
                kc_err("group %s, %s-%" PRId32 ": committing %" PRId64 ": %s", o->group,
                       o->topics[k], i, target, klog_strerror(rc));
                goto out;
            }
            if (o->json) {
                printf("%s{\"topic\":", rows ? "," : "");
                kc_json_bytes(stdout, o->topics[k], (int32_t)strlen(o->topics[k]));
                printf(",\"partition\":%" PRId32 ",\"old\":", i);
                if (committed >= 0)
                    printf("%" PRId64, committed);
                else
                    fputs("null", stdout);
                printf(",\"new\":%" PRId64 "}", target);
            } else if (committed >= 0) {
                printf("%s-%" PRId32 ": %" PRId64 " -> %" PRId64 "\n", o->topics[k], i,
                       committed, target);
            } else {
                printf("%s-%" PRId32 ": - -> %" PRId64 "\n", o->topics[k], i, target);
            }
            rows++;
        }
    }
    status = KC_EXIT_OK;
out:
    if (o->json && status == KC_EXIT_OK)
        fputs("]}\n", stdout);
    klog_registry_free(reg);
    if (log && klog_close(log) < 0)
        status = KC_EXIT_FAIL;
    if (kc_output_failed())
        status = KC_EXIT_FAIL;
    return status;
}

/* ----------------------------------------------------------- --delete-group */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

int kc_delete_group(const kc_opts_t *o)
{
    klog_registry_t *reg = NULL;
    char path[4096];
    struct stat st;
    int status = KC_EXIT_FAIL;

    if (kc_open_registry(o->registry, &reg) < 0)
        return KC_EXIT_FAIL;
    const klog_registry_ops_t *ops = klog_registry_ops(reg);
    snprintf(path, sizeof path, "%s/groups/%s", o->registry + 4, o->group);
    if (stat(path, &st) != 0) {
        kc_err("group %s: %s", o->group, klog_strerror(KLOG_ENOTFOUND));
        goto out;
    }
    /* member_list also removes the entries dead members left. */
    if (refuse_if_live(ops, o) != 0)
        goto out;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        kc_err("deleting %s: %s", path, strerror(errno));
        goto out;
    }
    if (o->json)
        fputs("{\"deleted\":", stdout), kc_json_bytes(stdout, o->group, (int32_t)strlen(o->group)),
            fputs("}\n", stdout);
    else
        printf("group %s deleted\n", o->group);
    status = kc_output_failed() ? KC_EXIT_FAIL : KC_EXIT_OK;
out:
    klog_registry_free(reg);
    return status;
}
