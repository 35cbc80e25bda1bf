/*
 * topic_ids.c — topic ids (Kafka's 16-byte topic UUIDs), kept where Kafka
 * keeps them: the partition.metadata file of each partition directory,
 *
 *     "version: 0\ntopic_id: <22 characters of base64url, no padding>"
 *
 * with no trailing newline (kafka-format.md section 4). A directory adopted
 * from Kafka already has one and its id is reused; otherwise the first time
 * the broker serves a topic (Metadata, or when it creates one) it draws a
 * random id and writes it to every partition directory lacking the file
 * (written to a temporary name, fsynced, renamed). A deleted topic's
 * directories go with it, so a topic re-created under the same name gets a
 * new id, as in Kafka. Ids stay stable across restarts because they are
 * read back from the files.
 *
 * The ids are cached by topic name; a deletion forgets the entry
 * (kb_topic_id_forget) and a grown partition count writes the file into the
 * new directories on the next lookup. libklog leaves partition.metadata
 * alone (it only reads and writes its own files in a partition directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "kbroker.h"

struct kb_topic_id {
    char name[256];
    uint8_t id[16];
    int32_t nparts; /* partition directories known to hold the file */
};

struct kb_topic_ids {
    struct kb_topic_id *v;
    size_t n, cap;
};

static const char tid_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void kb_uuid_format(const uint8_t id[16], char out[23])
{
    size_t o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        if (i + 1 < 16)
            v |= (uint32_t)id[i + 1] << 8;
        if (i + 2 < 16)
            v |= id[i + 2];
        out[o++] = tid_b64url[(v >> 18) & 63];
        out[o++] = tid_b64url[(v >> 12) & 63];
        if (i + 1 < 16)
            out[o++] = tid_b64url[(v >> 6) & 63];
        if (i + 2 < 16)
            out[o++] = tid_b64url[v & 63];
    }
    out[o] = '\0';
}

static int tid_b64val(char c)
{
    const char *p = c ? strchr(tid_b64url, c) : NULL;
    if (!p && c == '+')
        return 62; /* the standard alphabet, should a file use it */
    if (!p && c == '/')
        return 63;
    return p ? (int)(p - tid_b64url) : -1;
}

int kb_uuid_parse(const char *s, size_t n, uint8_t id[16])
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n != 22)
        return -1;
    uint32_t acc = 0;
    int bits = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = tid_b64val(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < 16)
                id[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == 16 ? 0 : -1;
}

/* Kafka's Uuid.randomUuid: never zero, never the reserved id 1, and never
 * one whose string form starts with '-' (it would read as a CLI flag). */
static int tid_random(uint8_t id[16])
{
    for (;;) {
        size_t got = 0;
        while (got < 16) {
            ssize_t k = getrandom(id + got, 16 - got, 0);
            if (k < 0 && errno != EINTR)
                return -1;
            if (k > 0)
                got += (size_t)k;
        }
        id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4, as Java's */
        id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
        char s[23];
        kb_uuid_format(id, s);
        if (s[0] != '-')
            return 0;
    }
}

/* Read <dir>/partition.metadata. Returns 1 (id set), 0 (no file) or -1. */
static int tid_read(const char *dir, uint8_t id[16])
{
    char path[4096], buf[256];
    snprintf(path, sizeof path, "%s/partition.metadata", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    const char *t = strstr(buf, "topic_id:");
    if (strncmp(buf, "version: 0", 10) != 0 || !t)
        return -1;
    t += 9;
    while (*t == ' ')
        t++;
    size_t len = strcspn(t, "\r\n");
    return kb_uuid_parse(t, len, id) == 0 ? 1 : -1;
}

static int tid_write(const char *dir, const uint8_t id[16])
{
    char path[4096], tmp[4096], body[64], s[23];
    kb_uuid_format(id, s);
    int len = snprintf(body, sizeof body, "version: 0\ntopic_id: %s", s);
    snprintf(path, sizeof path, "%s/partition.metadata", dir);
    snprintf(tmp, sizeof tmp, "%s/partition.metadata.tmp", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int ok = write(fd, body, (size_t)len) == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

static struct kb_topic_id *tid_find(struct kb_topic_ids *ids, const char *name)
{
    for (size_t i = 0; ids && i < ids->n; i++)
        if (strcmp(ids->v[i].name, name) == 0)
            return &ids->v[i];
    return NULL;
}

/* The id of a topic of nparts partitions: the first partition.metadata
 * found, else a new one; then every directory lacking the file gets it. */
static int tid_establish(struct kb_broker *b, const char *name, int32_t from, int32_t nparts,
                     uint8_t id[16], int have)
{
    char dir[3072];
    for (int32_t p = 0; !have && p < nparts; p++) {
        snprintf(dir, sizeof dir, "%s/%s-%d", b->cfg.dir, name, (int)p);
        int rc = tid_read(dir, id);
        if (rc < 0)
            kb_log(b, "%s/partition.metadata: unreadable, left alone", dir);
        have = rc > 0;
    }
    if (!have && tid_random(id) != 0)
        return -1;
    for (int32_t p = from; p < nparts; p++) {
        uint8_t other[16];
        snprintf(dir, sizeof dir, "%s/%s-%d", b->cfg.dir, name, (int)p);
        if (tid_read(dir, other) == 0 && tid_write(dir, id) != 0) {
            kb_log(b, "%s/partition.metadata: cannot write: %s", dir, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int kb_topic_id(struct kb_broker *b, const char *name, uint8_t id[16])
{
    klog_topic_t *t;
    if (klog_topic_get(b->log, name, &t) != 0)
        return -1;
    int32_t nparts = klog_topic_partition_count(t);
    if (!b->topic_ids && !(b->topic_ids = calloc(1, sizeof *b->topic_ids)))
        return -1;
    struct kb_topic_ids *ids = b->topic_ids;
    struct kb_topic_id *e = tid_find(ids, name);
    if (e && e->nparts >= nparts) {
        memcpy(id, e->id, 16);
        return 0;
    }
    if (!e) {
        if (ids->n == ids->cap) {
            size_t cap = ids->cap ? ids->cap * 2 : 16;
            struct kb_topic_id *v = realloc(ids->v, cap * sizeof *v);
            if (!v)
                return -1;
            ids->v = v;
            ids->cap = cap;
        }
        uint8_t fresh[16];
        if (tid_establish(b, name, 0, nparts, fresh, 0) != 0)
            return -1;
        e = &ids->v[ids->n++];
        snprintf(e->name, sizeof e->name, "%s", name);
        memcpy(e->id, fresh, 16);
    } else if (tid_establish(b, name, e->nparts, nparts, e->id, 1) != 0) {
        return -1;
    }
    e->nparts = nparts;
    memcpy(id, e->id, 16);
    return 0;
}

int kb_topic_by_id(struct kb_broker *b, const uint8_t id[16], char name[256])
{
    struct kb_topic_id *e = NULL;
    for (size_t i = 0; b->topic_ids && i < b->topic_ids->n; i++)
        if (memcmp(b->topic_ids->v[i].id, id, 16) == 0)
            e = &b->topic_ids->v[i];
    if (e && klog_topic_get(b->log, e->name, &(klog_topic_t *){0}) == 0) {
        snprintf(name, 256, "%s", e->name);
        return 0;
    }
    /* Not cached: tid_establish every topic's id (the first time only). */
    char **names = NULL;
    int cnt = klog_topic_list(b->log, &names);
    int found = -1;
    for (int i = 0; i < cnt; i++) {
        uint8_t other[16];
        if (found < 0 && kb_topic_id(b, names[i], other) == 0 && memcmp(other, id, 16) == 0) {
            snprintf(name, 256, "%s", names[i]);
            found = 0;
        }
    }
    free(names);
    return found;
}

void kb_topic_id_forget(struct kb_broker *b, const char *name)
{
    struct kb_topic_ids *ids = b->topic_ids;
    struct kb_topic_id *e = tid_find(ids, name);
    if (e)
        *e = ids->v[--ids->n];
}

void kb_topic_ids_free(struct kb_broker *b)
{
    if (b->topic_ids)
        free(b->topic_ids->v);
    free(b->topic_ids);
    b->topic_ids = NULL;
}
