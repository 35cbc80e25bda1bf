/*
 * registry_dir.c — a registry in a directory shared by the processes of
 * one host.
 *
 * Layout under the root:
 *   topics/<topic>                         partition count (framed, below)
 *   groups/<group>/ids/<member>            ephemeral: text of its topics
 *   groups/<group>/owners/<topic>/<part>   ephemeral: the owner's id
 *   groups/<group>/offsets/<topic>/<part>  committed offset (framed)
 * Names starting with '#' are temporaries; no valid name starts with it.
 *
 * Ephemeral entries are files held by an exclusive flock(2) lock for as
 * long as they are live: the kernel drops the lock when its process dies,
 * and flock locks belong to an open file description, so two sessions in
 * one process are as separate as two processes. Protocol:
 *   create  write the content to a temporary, lock it, then link(2) it to
 *           the final name (fails if the name exists) and unlink the
 *           temporary: a visible entry is always complete and locked;
 *   probe   open the entry and try a non-blocking exclusive lock: refused
 *           means live (read its content); granted means dead — check the
 *           name still refers to the inode locked (fstat vs stat) and
 *           unlink it while holding the lock;
 *   remove  (owner) unlink while holding its lock, then close.
 * Every unlink of an entry happens under that entry's exclusive lock, so a
 * name cannot change under whoever holds it: a reaper never removes a
 * newer entry, and a creator that linked a name owns it.
 *
 * Persistent files (topics, offsets) are libklog's framing: magic (8),
 * u32 version 1, payload, u64 XXH3-64 of everything before it, all
 * big-endian; written to a unique temporary, fsynced, renamed, and the
 * directory fsynced.
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

#include "group/group.h"
#include "platform/bytes.h"

#define DIR_VERSION 1u
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
    _Atomic uint64_t seq; /* temporaries' names */
} dsess_t;

static int mkdirs(const char *path)
{
    char *p = klog__strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                rc = -errno;
            *s = '/';
        }
    if (rc == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = -errno;
    free(p);
    return rc;
}

static char *tmp_name(dsess_t *s, const char *dir, const char *name)
{
    uint64_t seq = atomic_fetch_add(&s->seq, 1);
    return klog__asprintf("%s/#%ld.%llx.%llu.%s", dir, (long)getpid(),
                          (unsigned long long)(uintptr_t)s, (unsigned long long)seq, name);
}

/* ----------------------------------------------------- persistent files */

static int write_framed(dsess_t *s, const char *dir, const char *name, const char *magic,
                        const void *payload, size_t plen)
{
    uint8_t buf[64];
    if (plen + 20 > sizeof buf)
        return -EINVAL;
    memcpy(buf, magic, 8);
    klog__store32(buf + 8, DIR_VERSION);
    memcpy(buf + 12, payload, plen);
    klog__store64(buf + 12 + plen, XXH3_64bits(buf, 12 + plen));
    size_t len = 20 + plen;
    int rc = mkdirs(dir);
    if (rc)
        return rc;
    char *tmp = tmp_name(s, dir, name);
    char *fin = klog__asprintf("%s/%s", dir, name);
    if (!tmp || !fin) {
        rc = -ENOMEM;
        goto out;
    }
    int fd = klog__open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    rc = klog__pwrite_all(fd, buf, len, 0);
    if (rc == 0)
        rc = klog__fsync(fd);
    klog__close(fd);
    if (rc == 0)
        rc = klog__rename(tmp, fin);
    if (rc)
        unlink(tmp);
    else
        rc = klog__fsync_dir(dir);
out:
    free(tmp);
    free(fin);
    return rc;
}

static int read_framed(const char *path, const char *magic, void *payload, size_t plen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = klog__read_file(path, 4096, &buf, &len);
    if (rc == -ENOENT)
        return KLOG_ENOTFOUND;
    if (rc)
        return rc;
    rc = KLOG_ECORRUPT;
    if (len < 12 || memcmp(buf, magic, 8) != 0)
        goto out;
    if (klog__load32(buf + 8) != DIR_VERSION) {
        rc = KLOG_EVERSION;
        goto out;
    }
    if (len != 20 + plen || klog__load64(buf + 12 + plen) != XXH3_64bits(buf, 12 + plen))
        goto out;
    memcpy(payload, buf + 12, plen);
    rc = 0;
out:
    free(buf);
    return rc;
}

/* ------------------------------------------------------ ephemeral files */

enum { PROBE_GONE = 0, PROBE_LIVE = 1, PROBE_DEAD = 2 };

/* Probe an entry; content of a live one into buf (NUL-terminated). */
static int probe(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? PROBE_GONE : -errno;
    int rc;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) {
            rc = -errno;
            close(fd);
            return rc;
        }
        ssize_t n = pread(fd, buf, cap - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        close(fd);
        return PROBE_LIVE;
    }
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        unlink(path);
    close(fd); /* drops the lock */
    return PROBE_DEAD;
}

/* Create dir/name holding content, locked. Returns the fd, KLOG_ECLAIMED
 * with the live holder's content in holder, or -errno. */
static int eph_create(dsess_t *s, const char *dir, const char *name, const char *content,
                      char *holder, size_t hcap)
{
    int rc = mkdirs(dir);
    if (rc)
        return rc;
    char *fin = klog__asprintf("%s/%s", dir, name);
    if (!fin)
        return -ENOMEM;
    for (int tries = 0; tries < 100; tries++) {
        char *tmp = tmp_name(s, dir, name);
        if (!tmp) {
            rc = -ENOMEM;
            break;
        }
        int fd = klog__open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            free(tmp);
            rc = fd;
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            /* A scan took it for an abandoned temporary and is removing
             * it: start again with a new one. */
            free(tmp);
            klog__close(fd);
            rc = KLOG_ECLAIMED;
            continue;
        }
        if (*content && (rc = klog__pwrite_all(fd, content, strlen(content), 0)) != 0) {
            unlink(tmp);
            free(tmp);
            klog__close(fd);
            break;
        }
        int lrc = link(tmp, fin);
        int lerr = errno;
        unlink(tmp);
        free(tmp);
        if (lrc == 0) {
            free(fin);
            return fd;
        }
        klog__close(fd);
        if (lerr == ENOENT) { /* the temporary was reaped before we locked it */
            rc = KLOG_ECLAIMED;
            continue;
        }
        if (lerr != EEXIST) {
            rc = -lerr;
            break;
        }
        int p = probe(fin, holder, hcap);
        if (p == PROBE_LIVE) {
            rc = KLOG_ECLAIMED;
            break;
        }
        if (p < 0) {
            rc = p;
            break;
        }
        rc = KLOG_ECLAIMED; /* if the loop runs out */
    }
    free(fin);
    return rc;
}

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
    int rc = write_framed(s, dir, topic, TOPIC_MAGIC, p, sizeof p);
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
    int rc = read_framed(path, TOPIC_MAGIC, p, sizeof p);
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
    int fd = eph_create(s, dir, member, topics ? topics : "", holder, CONTENT_MAX);
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted valid names in dir. With reap (directories of ephemeral entries,
 * whose temporaries are locked while in use), temporaries left by dead
 * processes are removed. *names: malloc'd array of malloc'd strings. */
static int list_dir(const char *dir, int reap, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '#' && !reap)
            continue;
        if (de->d_name[0] == '#') {
            char *p = klog__asprintf("%s/%s", dir, de->d_name);
            if (p) {
                char junk[8];
                probe(p, junk, sizeof junk); /* removes it when abandoned */
                free(p);
            }
            continue;
        }
        if (!klog__group_name_valid(de->d_name))
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = klog__realloc(*names, nc * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            *names = nn;
            cap = nc;
        }
        if (!((*names)[*n] = klog__strdup(de->d_name))) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(*names, *n, sizeof **names, cmp_str);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
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
    rc = list_dir(dir, 1, &names, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = klog__asprintf("%s/%s", dir, names[i]);
        if (!path) {
            rc = -ENOMEM;
            break;
        }
        int p = probe(path, buf, CONTENT_MAX);
        free(path);
        if (p < 0) {
            rc = p;
        } else if (p == PROBE_LIVE) {
            if (digest) {
                *digest = XXH3_64bits_withSeed(names[i], strlen(names[i]) + 1, *digest);
                *digest = XXH3_64bits_withSeed(buf, strlen(buf) + 1, *digest);
            }
            if (fn)
                rc = fn(arg, names[i], buf);
        }
    }
out:
    free_names(names, n);
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
        int fd = eph_create(s, dir, name, member, holder, sizeof holder);
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
    int p = probe(path, holder, sizeof holder);
    free(path);
    if (p < 0)
        return p;
    if (p != PROBE_LIVE)
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
    int rc = write_framed(s, dir, name, OFFSET_MAGIC, p, sizeof p);
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
    int rc = read_framed(path, OFFSET_MAGIC, p, sizeof p);
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
    rc = list_dir(dir, 0, &names, &n); /* topic temporaries are not locked */
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
    free_names(names, n);
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
    int rc = mkdirs(path);
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
