/*
 * dir_entries.c — the files the directory registry (registry_dir.c) is
 * made of, and the protocol that keeps them safe between processes.
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
 * Temporaries are named "#<pid>.<tag>.<seq>.<name>"; no valid name starts
 * with '#', so listings skip them (and, in directories of ephemeral
 * entries, reap those whose process died).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "group/dir_entries.h"
#include "group/group.h"
#include "platform/bytes.h"

#define DIR_VERSION 1u

int klog__dreg_mkdirs(const char *path)
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

static _Atomic uint64_t tmp_seq; /* temporaries' names, process-wide */

static char *tmp_name(const void *tag, const char *dir, const char *name)
{
    uint64_t seq = atomic_fetch_add(&tmp_seq, 1);
    return klog__asprintf("%s/#%ld.%llx.%llu.%s", dir, (long)getpid(),
                          (unsigned long long)(uintptr_t)tag, (unsigned long long)seq, name);
}

/* ----------------------------------------------------- persistent files */

int klog__dreg_write_framed(const void *tag, const char *dir, const char *name, const char *magic,
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
    int rc = klog__dreg_mkdirs(dir);
    if (rc)
        return rc;
    char *tmp = tmp_name(tag, dir, name);
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

int klog__dreg_read_framed(const char *path, const char *magic, void *payload, size_t plen)
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

/* Probe an entry; content of a live one into buf (NUL-terminated). */
int klog__dreg_probe(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? KLOG__PROBE_GONE : -errno;
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
        return KLOG__PROBE_LIVE;
    }
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        unlink(path);
    close(fd); /* drops the lock */
    return KLOG__PROBE_DEAD;
}

/* Create dir/name holding content, locked. Returns the fd, KLOG_ECLAIMED
 * with the live holder's content in holder, or -errno. */
int klog__dreg_eph_create(const void *tag, const char *dir, const char *name, const char *content,
                          char *holder, size_t hcap)
{
    int rc = klog__dreg_mkdirs(dir);
    if (rc)
        return rc;
    char *fin = klog__asprintf("%s/%s", dir, name);
    if (!fin)
        return -ENOMEM;
    for (int tries = 0; tries < 100; tries++) {
        char *tmp = tmp_name(tag, dir, name);
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
        int p = klog__dreg_probe(fin, holder, hcap);
        if (p == KLOG__PROBE_LIVE) {
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted valid names in dir. With reap (directories of ephemeral entries,
 * whose temporaries are locked while in use), temporaries left by dead
 * processes are removed. *names: malloc'd array of malloc'd strings. */
int klog__dreg_list_dir(const char *dir, int reap, char ***names, size_t *n)
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
                klog__dreg_probe(p, junk, sizeof junk); /* removes it when abandoned */
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

void klog__dreg_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
