/*
 * kcfiles.c — klogcat's readers of seals, checkpoints and klog.topics
 * (kcfiles.h). Every length is checked before it is used; arbitrary bytes
 * give an error, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "kcfiles.h"
#include "klogcat.h"

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* The whole file at path (at most max bytes: -EFBIG beyond), NUL-terminated. */
static int read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            free(buf);
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1) { /* grew while we read */
            if (cap > max) {
                free(buf);
                close(fd);
                return -EFBIG;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------------ seals */

int kc_seal_read(const char *path, kc_seal_t *out)
{
    uint8_t *b;
    size_t len;
    int rc = read_all(path, 4096, &b, &len);
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    kc_seal_t s;
    rc = KLOG_ECORRUPT;
    if (len < 12 || memcmp(b, "KLOGSEAL", 8) != 0)
        goto out;
    rc = KLOG_EVERSION;
    if (kc_be32(b + 8) != 1)
        goto out;
    rc = KLOG_ECORRUPT;
    if (len != KC_SEAL_SIZE || kc_be64(b + 72) != XXH3_64bits(b, 72) || kc_be32(b + 12) != 0)
        goto out;
    s.base_offset = (int64_t)kc_be64(b + 16);
    s.next_offset = (int64_t)kc_be64(b + 24);
    s.max_timestamp = (int64_t)kc_be64(b + 32);
    s.max_ts_offset = (int64_t)kc_be64(b + 40);
    s.log_size = (int64_t)kc_be64(b + 48);
    s.log_digest = kc_be64(b + 56);
    s.index_entries = kc_be32(b + 64);
    s.timeindex_entries = kc_be32(b + 68);
    /* The facts must be able to describe a segment. */
    if (s.base_offset < 0 || s.next_offset < s.base_offset || s.log_size < 0 ||
        s.next_offset - s.base_offset > (int64_t)INT32_MAX + 1)
        goto out;
    if (s.max_timestamp == -1 || s.max_ts_offset == -1) {
        if (s.max_timestamp != -1 || s.max_ts_offset != -1)
            goto out;
    } else if (s.max_ts_offset < s.base_offset || s.max_ts_offset >= s.next_offset) {
        goto out;
    }
    *out = s;
    rc = 0;
out:
    free(b);
    return rc;
}

int kc_file_digest(int fd, int64_t size, uint64_t *digest)
{
    if (size < 0)
        return -EINVAL;
    static uint8_t buf[1 << 20];
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return -ENOMEM;
    XXH3_64bits_reset(st);
    int rc = 0;
    for (int64_t off = 0; off < size && !rc;) {
        size_t want = size - off < (int64_t)sizeof buf ? (size_t)(size - off) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        else if (n == 0)
            rc = KLOG_ECORRUPT; /* the file is shorter than the seal says */
        else {
            XXH3_64bits_update(st, buf, (size_t)n);
            off += n;
        }
    }
    if (!rc)
        *digest = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return rc;
}

/* ------------------------------------------------------------ checkpoints */

/* The next line (Java's readLine: "\n", "\r\n" or "\r"); 0 at the end. */
static int next_line(const uint8_t **pp, const uint8_t *end, const uint8_t **s, size_t *n)
{
    const uint8_t *p = *pp, *q = p;
    if (p >= end)
        return 0;
    while (q < end && *q != '\n' && *q != '\r')
        q++;
    *s = p;
    *n = (size_t)(q - p);
    if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
        q += 2;
    else if (q < end)
        q++;
    *pp = q;
    return 1;
}

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

/* Integer.parseInt / Long.parseLong into [lo, hi]: 0 or -1. */
static int parse_int(const uint8_t *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return -1;
    int64_t v = 0; /* accumulated negative, so INT64_MIN fits */
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

void kc_ckpt_free(kc_ckpt_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->entries[i].topic);
    free(c->entries);
    c->entries = NULL;
    c->count = 0;
}

static int ckpt_parse(const uint8_t *p, const uint8_t *end, kc_ckpt_t *out)
{
    const uint8_t *s;
    size_t n, cap = 0;
    int64_t version, expected;
    if (!next_line(&p, end, &s, &n))
        return 0; /* empty file */
    if (parse_int(s, n, INT32_MIN, INT32_MAX, &version))
        return KLOG_ECORRUPT;
    if (version != 0)
        return KLOG_EVERSION;
    if (!next_line(&p, end, &s, &n))
        return 0; /* no count line: no entries */
    if (parse_int(s, n, 0, INT32_MAX, &expected))
        return KLOG_ECORRUPT;
    while (next_line(&p, end, &s, &n)) {
        /* Exactly three fields separated by runs of whitespace. */
        const uint8_t *f[3];
        size_t fl[3], i = 0;
        int bad = (uint64_t)out->count >= (uint64_t)expected;
        for (int k = 0; k < 3 && !bad; k++) {
            if (i >= n || is_space(s[i])) {
                bad = 1;
                break;
            }
            f[k] = s + i;
            while (i < n && !is_space(s[i]))
                i++;
            fl[k] = (size_t)(s + i - f[k]);
            while (i < n && is_space(s[i]))
                i++;
        }
        int64_t part, off;
        if (bad || i != n || fl[0] > KC_TOPIC_NAME_MAX ||
            parse_int(f[1], fl[1], 0, INT32_MAX, &part) ||
            parse_int(f[2], fl[2], 0, INT64_MAX, &off))
            return KLOG_ECORRUPT;
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            kc_ckpt_entry_t *e = realloc(out->entries, ncap * sizeof *e);
            if (!e)
                return -ENOMEM;
            out->entries = e;
            cap = ncap;
        }
        char *t = malloc(fl[0] + 1);
        if (!t)
            return -ENOMEM;
        memcpy(t, f[0], fl[0]);
        t[fl[0]] = 0;
        out->entries[out->count++] = (kc_ckpt_entry_t){t, (int32_t)part, off};
        if (strlen(t) != fl[0] || !klog_topic_name_valid(t))
            return KLOG_ECORRUPT;
    }
    return (uint64_t)out->count == (uint64_t)expected ? 0 : KLOG_ECORRUPT;
}

int kc_ckpt_read(const char *dir, const char *name, kc_ckpt_t *out)
{
    out->entries = NULL;
    out->count = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *buf;
    size_t len;
    int rc = read_all(path, 1u << 30, &buf, &len);
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    rc = ckpt_parse(buf, buf + len, out);
    free(buf);
    if (rc)
        kc_ckpt_free(out);
    return rc;
}

/* --------------------------------------------------------- klog.topics */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int meta_decode(const uint8_t *buf, size_t len, kc_topic_meta_t *t, uint32_t count)
{
    const uint8_t *p = buf + 16, *end = buf + len - 8;
    for (uint32_t i = 0; i < count; i++) {
        if (end - p < 2)
            return KLOG_ECORRUPT;
        size_t nl = be16(p);
        p += 2;
        if (nl < 1 || nl > KC_TOPIC_NAME_MAX || (size_t)(end - p) < nl + 6)
            return KLOG_ECORRUPT;
        memcpy(t[i].name, p, nl);
        t[i].name[nl] = 0;
        p += nl;
        if (strlen(t[i].name) != nl || !klog_topic_name_valid(t[i].name))
            return KLOG_ECORRUPT;
        t[i].partitions = (int32_t)kc_be32(p);
        t[i].nconf = be16(p + 4);
        p += 6;
        if (t[i].partitions < 1 || t[i].partitions > 100000 || t[i].nconf > KC_TOPIC_CONF_MAX ||
            (size_t)(end - p) < t[i].nconf * 12u)
            return KLOG_ECORRUPT;
        for (uint32_t k = 0; k < t[i].nconf; k++, p += 12) {
            t[i].conf[k].key = (int32_t)kc_be32(p);
            t[i].conf[k].value = (int64_t)kc_be64(p + 4);
        }
    }
    if (p != end)
        return KLOG_ECORRUPT; /* bytes between the last topic and the checksum */
    if (count < 2)
        return 0;
    const char **names = malloc(count * sizeof *names);
    if (!names)
        return -ENOMEM;
    for (uint32_t i = 0; i < count; i++)
        names[i] = t[i].name;
    qsort(names, count, sizeof *names, cmp_name);
    int dup = 0;
    for (uint32_t i = 1; i < count && !dup; i++)
        dup = strcmp(names[i - 1], names[i]) == 0;
    free(names);
    return dup ? KLOG_ECORRUPT : 0;
}

int kc_meta_read(const char *dir, kc_topic_meta_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/klog.topics", dir);
    uint8_t *buf;
    size_t len;
    int rc = read_all(path, 256u << 20, &buf, &len);
    if (rc == -ENOENT)
        return 0; /* a new log directory: no topics yet */
    if (rc == -EFBIG)
        return KLOG_ECORRUPT;
    if (rc)
        return rc;
    kc_topic_meta_t *t = NULL;
    uint32_t count = 0;
    rc = KLOG_ECORRUPT;
    if (len < 12 || memcmp(buf, "KLOGTOPS", 8) != 0)
        goto out;
    rc = KLOG_EVERSION;
    if (kc_be32(buf + 8) != 1)
        goto out;
    rc = KLOG_ECORRUPT;
    if (len < 24 || kc_be64(buf + len - 8) != XXH3_64bits(buf, len - 8))
        goto out;
    count = kc_be32(buf + 12);
    if (count > (len - 24) / 9) /* the smallest topic takes 9 bytes */
        goto out;
    if (count == 0) {
        rc = len == 24 ? 0 : KLOG_ECORRUPT;
        goto out;
    }
    t = calloc(count, sizeof *t);
    rc = t ? meta_decode(buf, len, t, count) : -ENOMEM;
out:
    free(buf);
    if (rc || !count) {
        free(t);
        return rc;
    }
    *out = t;
    *n = count;
    return 0;
}
