/*
 * registry_dir.c — a registry in a directory shared by the processes of
 * one host.
 *
 * Layout under the root:
 *   topics/<topic>                         partition count (framed)
 *   groups/<group>/ids/<member>            ephemeral: text of its topics
 *   groups/<group>/owners/<topic>/<part>   ephemeral: the owner's id
 *   groups/<group>/offsets/<topic>/<part>  committed offset (framed)
 * Names starting with '#' are temporaries; no valid name starts with it.
 *
 * The entries' files and the protocol that makes them safe between
 * processes (flock-held ephemeral entries, framed persistent files) are
 * dir_entries.c's; this file is the registry operations over them and the
 * session: what it holds, and how it notices changes.
 *
 * Change detection: death does not touch any file, so the change counter
 * is a digest of what a scan sees — the sorted live members with their
 * topics, and each topic file's inode and mtime. wait() re-scans every few
 * milliseconds until the digest differs or the time is up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "group/dir_entries.h"
#include "group/group.h"
#include "platform/bytes.h"

#define TOPIC_MAGIC "KLOGRTOP"
#define OFFSET_MAGIC "KLOGROFF"
#define CONTENT_MAX 65536

typedef struct held {
    struct held *next;
    char *path;
    char *member; /* member id it stands for */
    int fd;
} held_t;

typedef struct dsess {
    char *root;
    pthread_mutex_t mu;
    held_t *held;
} dsess_t;

static held_t *held_find(dsess_t *s, const char *path)
{
    for (held_t *h = s->held; h; h = h->next)
        if (strcmp(h->path, path) == 0)
            return h;
    return NULL;
}

static int held_add(dsess_t *s, char *path, const char *member, int fd)
{
    held_t *h = klog__calloc(1, sizeof *h);
    if (!h || !(h->member = klog__strdup(member))) {
        free(h);
        return -ENOMEM;
    }
    h->path = path;
    h->fd = fd;
    h->next = s->held;
    s->held = h;
    return 0;
}

/* Remove and unlink a held entry (under its lock). */
static void held_drop(dsess_t *s, const char *path)
{
    for (held_t **pp = &s->held; *pp; pp = &(*pp)->next) {
        held_t *h = *pp;
        if (strcmp(h->path, path) == 0) {
            *pp = h->next;
            unlink(h->path);
            klog__close(h->fd);
            free(h->path);
            free(h->member);
            free(h);
            return;
        }
    }
}

/* ------------------------------------------------------------ operations */

static int d_topic_publish(void *ctx, const char *topic, int32_t partitions)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partitions < 0)
        return -EINVAL;
    char *dir = klog__asprintf("%s/topics", s->root);
    if (!dir)
        return -ENOMEM;
    uint8_t p[4];
    klog__store32(p, (uint32_t)partitions);
    int rc = klog__dreg_write_framed(s, dir, topic, TOPIC_MAGIC, p, sizeof p);
    free(dir);
    return rc;
}

static int d_topic_partitions(void *ctx, const char *topic, int32_t *partitions)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char *path = klog__asprintf("%s/topics/%s", s->root, topic);
    if (!path)
        return -ENOMEM;
    uint8_t p[4];
    int rc = klog__dreg_read_framed(path, TOPIC_MAGIC, p, sizeof p);
    free(path);
    if (rc == 0) {
        int32_t v = (int32_t)klog__load32(p);
        if (v < 0)
            return KLOG_ECORRUPT;
        *partitions = v;
    }
    return rc;
}

static int d_member_register(void *ctx, const char *group, const char *member, const char *topics)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    if (topics && strlen(topics) >= CONTENT_MAX)
        return -EINVAL;
    char *dir = klog__asprintf("%s/groups/%s/ids", s->root, group);
    char *path = klog__asprintf("%s/groups/%s/ids/%s", s->root, group, member);
    char *holder = klog__malloc(CONTENT_MAX);
    int rc = -ENOMEM;
    if (!dir || !path || !holder)
        goto out;
    pthread_mutex_lock(&s->mu);
    /* Re-registering replaces the entry (a short absence is a change). */
    if (held_find(s, path))
        held_drop(s, path);
    int fd = klog__dreg_eph_create(s, dir, member, topics ? topics : "", holder, CONTENT_MAX);
    if (fd >= 0) {
        rc = held_add(s, path, member, fd);
        if (rc == 0)
            path = NULL;
        else
            unlink(path), klog__close(fd);
    } else {
        rc = fd;
    }
    pthread_mutex_unlock(&s->mu);
out:
    free(dir);
    free(path);
    free(holder);
    return rc;
}

static int d_member_unregister(void *ctx, const char *group, const char *member)
{
    dsess_t *s = ctx;
    char *path = klog__asprintf("%s/groups/%s/ids/%s", s->root, group, member);
    if (!path)
        return -ENOMEM;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    if (held_find(s, path)) {
        held_drop(s, path);
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    free(path);
    return rc;
}

/* Walk live members (sorted); fn may be NULL (digest only). */
static int walk_members(dsess_t *s, const char *group, klog_registry_visit_fn fn, void *arg,
                        uint64_t *digest)
{
    char *dir = klog__asprintf("%s/groups/%s/ids", s->root, group);
    char *buf = klog__malloc(CONTENT_MAX);
    char **names = NULL;
    size_t n = 0;
    int rc = -ENOMEM;
    if (!dir || !buf)
        goto out;
    rc = klog__dreg_list_dir(dir, 1, &names, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = klog__asprintf("%s/%s", dir, names[i]);
        if (!path) {
            rc = -ENOMEM;
            break;
        }
        int p = klog__dreg_probe(path, buf, CONTENT_MAX);
        free(path);
        if (p < 0) {
            rc = p;
        } else if (p == KLOG__PROBE_LIVE) {
            if (digest) {
                *digest = XXH3_64bits_withSeed(names[i], strlen(names[i]) + 1, *digest);
                *digest = XXH3_64bits_withSeed(buf, strlen(buf) + 1, *digest);
            }
            if (fn)
                rc = fn(arg, names[i], buf);
        }
    }
out:
    klog__dreg_free_names(names, n);
    free(dir);
    free(buf);
    return rc;
}

static int d_member_list(void *ctx, const char *group, klog_registry_visit_fn fn, void *arg)
{
    if (!klog__group_name_valid(group))
        return KLOG_EBADNAME;
    return walk_members(ctx, group, fn, arg, NULL);
}

static char *owner_dir(dsess_t *s, const char *group, const char *topic)
{
    return klog__asprintf("%s/groups/%s/owners/%s", s->root, group, topic);
}

static int d_claim(void *ctx, const char *group, const char *topic, int32_t partition,
                   const char *member)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic) ||
        !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char name[16];
    snprintf(name, sizeof name, "%d", (int)partition);
    char *dir = owner_dir(s, group, topic);
    char *path = klog__asprintf("%s/groups/%s/owners/%s/%s", s->root, group, topic, name);
    char holder[256];
    int rc = -ENOMEM;
    if (!dir || !path)
        goto out;
    pthread_mutex_lock(&s->mu);
    held_t *h = held_find(s, path);
    if (h) {
        rc = strcmp(h->member, member) == 0 ? 0 : KLOG_ECLAIMED;
    } else {
        int fd = klog__dreg_eph_create(s, dir, name, member, holder, sizeof holder);
        if (fd >= 0) {
            rc = held_add(s, path, member, fd);
            if (rc == 0)
                path = NULL;
            else
                unlink(path), klog__close(fd);
        } else {
            rc = fd;
        }
    }
    pthread_mutex_unlock(&s->mu);
out:
    free(dir);
    free(path);
    return rc;
}

static int d_release(void *ctx, const char *group, const char *topic, int32_t partition,
                     const char *member)
{
    dsess_t *s = ctx;
    char *path = klog__asprintf("%s/groups/%s/owners/%s/%d", s->root, group, topic, (int)partition);
    if (!path)
        return -ENOMEM;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    held_t *h = held_find(s, path);
    if (h && strcmp(h->member, member) == 0) {
        held_drop(s, path);
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    free(path);
    return rc;
}

static int d_owner(void *ctx, const char *group, const char *topic, int32_t partition, char *buf,
                   size_t cap)
{
    dsess_t *s = ctx;
    char *path = klog__asprintf("%s/groups/%s/owners/%s/%d", s->root, group, topic, (int)partition);
    if (!path)
        return -ENOMEM;
    char holder[256];
    int p = klog__dreg_probe(path, holder, sizeof holder);
    free(path);
    if (p < 0)
        return p;
    if (p != KLOG__PROBE_LIVE)
        return KLOG_ENOTFOUND;
    size_t n = strlen(holder);
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(buf, holder, n + 1);
    return 0;
}

static int d_commit(void *ctx, const char *group, const char *topic, int32_t partition,
                    int64_t offset)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char *dir = klog__asprintf("%s/groups/%s/offsets/%s", s->root, group, topic);
    if (!dir)
        return -ENOMEM;
    char name[16];
    snprintf(name, sizeof name, "%d", (int)partition);
    uint8_t p[8];
    klog__store64(p, (uint64_t)offset);
    int rc = klog__dreg_write_framed(s, dir, name, OFFSET_MAGIC, p, sizeof p);
    free(dir);
    return rc;
}

static int d_fetch(void *ctx, const char *group, const char *topic, int32_t partition,
                   int64_t *offset)
{
    dsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char *path =
        klog__asprintf("%s/groups/%s/offsets/%s/%d", s->root, group, topic, (int)partition);
    if (!path)
        return -ENOMEM;
    uint8_t p[8];
    int rc = klog__dreg_read_framed(path, OFFSET_MAGIC, p, sizeof p);
    free(path);
    if (rc == 0)
        *offset = (int64_t)klog__load64(p);
    return rc;
}

static int d_changes(void *ctx, const char *group, uint64_t *counter)
{
    dsess_t *s = ctx;
    uint64_t st = 0x6b6c6f67; /* chained digest of everything scanned */
    int rc = walk_members(s, group, NULL, NULL, &st);
    if (rc)
        return rc;
    char *dir = klog__asprintf("%s/topics", s->root);
    if (!dir)
        return -ENOMEM;
    char **names = NULL;
    size_t n = 0;
    rc = klog__dreg_list_dir(dir, 0, &names, &n); /* topic temporaries are not locked */
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = klog__asprintf("%s/%s", dir, names[i]);
        struct stat sb;
        if (path && stat(path, &sb) == 0) {
            uint64_t v[3] = {(uint64_t)sb.st_ino, (uint64_t)sb.st_mtim.tv_sec,
                             (uint64_t)sb.st_mtim.tv_nsec};
            st = XXH3_64bits_withSeed(names[i], strlen(names[i]) + 1, st);
            st = XXH3_64bits_withSeed(v, sizeof v, st);
        }
        free(path);
    }
    klog__dreg_free_names(names, n);
    free(dir);
    *counter = st;
    return rc;
}

static int d_wait(void *ctx, const char *group, uint64_t seen, int timeout_ms)
{
    int64_t end = klog__mono_ns() + (int64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
    for (;;) {
        uint64_t c;
        int rc = d_changes(ctx, group, &c);
        if (rc)
            return rc;
        if (c != seen)
            return 1;
        int64_t left = end - klog__mono_ns();
        if (timeout_ms >= 0 && left <= 0)
            return 0;
        int64_t nap = 5000000;
        if (timeout_ms >= 0 && left < nap)
            nap = left;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = nap};
        nanosleep(&ts, NULL);
    }
}

static void d_destroy(void *ctx)
{
    dsess_t *s = ctx;
    while (s->held)
        held_drop(s, s->held->path);
    pthread_mutex_destroy(&s->mu);
    free(s->root);
    free(s);
}

int klog_registry_dir_new(const char *path, klog_registry_t **out)
{
    if (!path || !*path || !out)
        return -EINVAL;
    int rc = klog__dreg_mkdirs(path);
    if (rc)
        return rc;
    dsess_t *s = klog__calloc(1, sizeof *s);
    if (!s || !(s->root = klog__strdup(path))) {
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    klog_registry_ops_t ops = {
        .size = sizeof ops,
        .ctx = s,
        .topic_publish = d_topic_publish,
        .topic_partitions = d_topic_partitions,
        .member_register = d_member_register,
        .member_unregister = d_member_unregister,
        .member_list = d_member_list,
        .claim = d_claim,
        .release = d_release,
        .owner = d_owner,
        .commit = d_commit,
        .fetch = d_fetch,
        .changes = d_changes,
        .wait = d_wait,
        .destroy = d_destroy,
    };
    return klog__registry_wrap(&ops, out);
}
