/*
 * meta.c — topic metadata ("klog.topics" at the log root) and the topic
 * name rule.
 *
 * Kafka keeps topics in ZooKeeper or KRaft; a library has no controller, so
 * the list of topics, their partition counts and their configuration
 * overrides live in one small file that is rewritten whole (tmp, fsync,
 * rename, fsync dir) whenever a topic is created, deleted or altered. The
 * file is small (a few hundred bytes per topic), so rewriting it is cheap
 * and a reader never sees a half-written one.
 *
 * LAYOUT (integers big-endian)
 *     8  magic "KLOGTOPS"
 *     4  u32 format version, 1 (2: the same, written when a topic compacts
 *        without time retention, so older libraries refuse it)
 *     4  u32 topic count
 *   per topic, in the order the caller gave:
 *     2  u16 name length L (1..249)
 *     L  name bytes (klog_topic_name_valid; no NUL)
 *     4  i32 partitions (1..100000)
 *     2  u16 nconf (0..KLOG__TOPIC_CONF_MAX)
 *     nconf x { 4 i32 key, 8 i64 value }
 *     8  u64 XXH3-64 (seed 0) of every byte before it
 *
 * WHAT IS VALID
 *   The magic; version 1 or 2 (another is KLOG_EVERSION, checked before
 *   anything else because a newer layout may differ everywhere after it);
 *   the checksum; then every length inside the buffer, every field within
 *   the ranges above, no two topics with the same name, and no byte left
 *   between the last topic and the checksum. Anything else is
 *   KLOG_ECORRUPT. The checksum is verified before the body is parsed, but
 *   the parser does not rely on it: every read is bounds-checked and every
 *   allocation is bounded by the input size, so arbitrary bytes are safe.
 *
 * Configuration keys and values are stored as given: their meaning and
 * ranges belong to the configuration layer, which validates them on load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/files.h"

#define META_MAGIC "KLOGTOPS"
#define META_VERSION 1u
/* Version 2 has the same layout; it is written only when a topic's
 * cleanup.policy lacks "delete" (compaction only), so that a library from
 * before compaction refuses the file (KLOG_EVERSION) instead of applying
 * time retention to a topic that must keep its keys. */
#define META_VERSION_COMPACT 2u
#define META_FILE "klog.topics"
#define META_HEAD 16u          /* magic, version, count */
#define META_TRAILER 8u        /* XXH3-64 */
#define META_TOPIC_MIN 9u      /* u16 len, >= 1 name byte, i32, u16 */
#define META_CONF_SIZE 12u     /* i32 key, i64 value */
#define META_PARTITIONS_MAX 100000
#define META_MAX_FILE (256u << 20)

int klog_topic_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n == KLOG__TOPIC_NAME_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    return 1;
}

static int topic_cmp(const void *a, const void *b)
{
    const klog__topic_meta_t *x = *(const klog__topic_meta_t *const *)a;
    const klog__topic_meta_t *y = *(const klog__topic_meta_t *const *)b;
    return strcmp(x->name, y->name);
}

/* 1 if two topics share a name, 0 if not, -ENOMEM. Sorting pointers keeps
 * this O(n log n) for any input a fuzzer can make. */
static int has_duplicates(const klog__topic_meta_t *t, size_t n)
{
    if (n < 2)
        return 0;
    const klog__topic_meta_t **v = klog__malloc(n * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = &t[i];
    qsort(v, n, sizeof *v, topic_cmp);
    int dup = 0;
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(v[i - 1]->name, v[i]->name) == 0;
    free(v);
    return dup;
}

/* Is the topic something the format can hold and the decoder accepts? */
static int topic_ok(const klog__topic_meta_t *t)
{
    return memchr(t->name, 0, sizeof t->name) && klog_topic_name_valid(t->name) &&
           t->partitions >= 1 && t->partitions <= META_PARTITIONS_MAX &&
           t->nconf <= KLOG__TOPIC_CONF_MAX;
}

int klog__meta_encode(const klog__topic_meta_t *topics, size_t n, klog__buf_t *out)
{
    size_t size = META_HEAD + META_TRAILER;
    if (n > UINT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!topic_ok(&topics[i]))
            return -EINVAL;
        size += 2 + strlen(topics[i].name) + 4 + 2 + topics[i].nconf * META_CONF_SIZE;
    }
    int rc = has_duplicates(topics, n);
    if (rc)
        return rc < 0 ? rc : -EINVAL;
    rc = klog__buf_reserve(out, size);
    if (rc)
        return rc;

    uint32_t version = META_VERSION;
    for (size_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < topics[i].nconf; k++)
            if (topics[i].conf[k].key == KLOG_CONF_CLEANUP_POLICY &&
                !(topics[i].conf[k].value & KLOG_CLEANUP_DELETE))
                version = META_VERSION_COMPACT;
    uint8_t *start = out->data + out->len, *p = start;
    memcpy(p, META_MAGIC, 8);
    klog__store32(p + 8, version);
    klog__store32(p + 12, (uint32_t)n);
    p += META_HEAD;
    for (size_t i = 0; i < n; i++) {
        const klog__topic_meta_t *t = &topics[i];
        size_t len = strlen(t->name);
        klog__store16(p, (uint16_t)len);
        memcpy(p + 2, t->name, len);
        p += 2 + len;
        klog__store32(p, (uint32_t)t->partitions);
        klog__store16(p + 4, (uint16_t)t->nconf);
        p += 6;
        for (uint32_t k = 0; k < t->nconf; k++) {
            klog__store32(p, (uint32_t)t->conf[k].key);
            klog__store64(p + 4, (uint64_t)t->conf[k].value);
            p += META_CONF_SIZE;
        }
    }
    klog__store64(p, XXH3_64bits(start, (size_t)(p - start)));
    out->len += size;
    return 0;
}

/* Parse one topic at *p (bounds end); advances *p. 0 or KLOG_ECORRUPT. */
static int decode_topic(const uint8_t **pp, const uint8_t *end, klog__topic_meta_t *t)
{
    const uint8_t *p = *pp;
    if ((size_t)(end - p) < 2)
        return KLOG_ECORRUPT;
    size_t len = klog__load16(p);
    p += 2;
    if (len < 1 || len > KLOG__TOPIC_NAME_MAX || (size_t)(end - p) < len + 6)
        return KLOG_ECORRUPT;
    memcpy(t->name, p, len);
    t->name[len] = 0;
    p += len;
    /* strlen catches a NUL inside the name, which the check would miss. */
    if (strlen(t->name) != len || !klog_topic_name_valid(t->name))
        return KLOG_ECORRUPT;
    t->partitions = (int32_t)klog__load32(p);
    t->nconf = klog__load16(p + 4);
    p += 6;
    if (t->partitions < 1 || t->partitions > META_PARTITIONS_MAX ||
        t->nconf > KLOG__TOPIC_CONF_MAX || (size_t)(end - p) < t->nconf * META_CONF_SIZE)
        return KLOG_ECORRUPT;
    for (uint32_t k = 0; k < t->nconf; k++) {
        t->conf[k].key = (int32_t)klog__load32(p);
        t->conf[k].value = (int64_t)klog__load64(p + 4);
        p += META_CONF_SIZE;
    }
    *pp = p;
    return 0;
}

int klog__meta_decode(const uint8_t *buf, size_t len, klog__topic_meta_t **out, size_t *n)
{
    klog__topic_meta_t *t = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (len < 12 || memcmp(buf, META_MAGIC, 8) != 0)
        return KLOG_ECORRUPT;
    uint32_t version = klog__load32(buf + 8);
    if (version != META_VERSION && version != META_VERSION_COMPACT)
        return KLOG_EVERSION;
    if (len < META_HEAD + META_TRAILER)
        return KLOG_ECORRUPT;
    const uint8_t *p = buf + META_HEAD, *end = buf + len - META_TRAILER;
    if (klog__load64(end) != XXH3_64bits(buf, len - META_TRAILER))
        return KLOG_ECORRUPT;
    uint32_t count = klog__load32(buf + 12);
    /* Bound the allocation by what the bytes could possibly hold. */
    if (count > (size_t)(end - p) / META_TOPIC_MIN)
        return KLOG_ECORRUPT;
    if (count == 0)
        return p == end ? 0 : KLOG_ECORRUPT;
    t = klog__calloc(count, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        rc = decode_topic(&p, end, &t[i]);
        if (rc)
            goto fail;
    }
    if (p != end) {
        rc = KLOG_ECORRUPT; /* bytes between the last topic and the checksum */
        goto fail;
    }
    rc = has_duplicates(t, count);
    if (rc) {
        rc = rc < 0 ? rc : KLOG_ECORRUPT;
        goto fail;
    }
    *out = t;
    *n = count;
    return 0;
fail:
    free(t);
    return rc;
}

int klog__meta_read(const char *dir, klog__topic_meta_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char *path = klog__asprintf("%s/%s", dir, META_FILE);
    if (!path)
        return -ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = klog__read_file(path, META_MAX_FILE, &buf, &len);
    free(path);
    if (rc == -ENOENT)
        return 0; /* a new log directory: no topics yet */
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    rc = klog__meta_decode(buf, len, out, n);
    free(buf);
    return rc;
}

int klog__meta_write(const char *dir, const klog__topic_meta_t *topics, size_t n)
{
    klog__buf_t b = {0};
    int rc = klog__meta_encode(topics, n, &b);
    if (!rc)
        rc = klog__write_file_atomic(dir, META_FILE, b.data, b.len);
    klog__buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ a lost list */

typedef struct lost_scan {
    const char *dir;
    char *name;
    size_t cap;
    int found;
} lost_scan_t;

static int has_data(void *ctx, const char *name)
{
    lost_scan_t *ls = ctx;
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 4, ".log") != 0)
        return 0;
    char *path = klog__asprintf("%s/%s", ls->dir, name);
    if (!path)
        return -ENOMEM;
    struct stat st;
    if (klog__stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        ls->found = 1;
    free(path);
    return 0;
}

static int part_dir(void *ctx, const char *name)
{
    lost_scan_t *ls = ctx;
    const char *dash = strrchr(name, '-');
    if (ls->found || !dash || dash == name || !dash[1])
        return 0;
    for (const char *d = dash + 1; *d; d++)
        if (*d < '0' || *d > '9')
            return 0;
    char *path = klog__asprintf("%s/%s", ls->dir, name);
    if (!path)
        return -ENOMEM;
    struct stat st;
    int rc = 0;
    if (klog__stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        lost_scan_t sub = {path, NULL, 0, 0};
        rc = klog__dir_list(path, has_data, &sub);
        if (!rc && sub.found) {
            ls->found = 1;
            snprintf(ls->name, ls->cap, "%s", name);
        }
    }
    free(path);
    return rc == -ENOENT ? 0 : rc;
}

int klog__meta_lost(const char *dir, char *name, size_t cap)
{
    char *path = klog__asprintf("%s/%s", dir, META_FILE);
    if (!path)
        return -ENOMEM;
    struct stat st;
    int rc = klog__stat(path, &st);
    free(path);
    if (rc != -ENOENT)
        return rc < 0 ? rc : 0;
    lost_scan_t ls = {dir, name, cap, 0};
    rc = klog__dir_list(dir, part_dir, &ls);
    return rc ? rc : ls.found;
}
