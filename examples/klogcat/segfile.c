/*
 * segfile.c — direct, distrustful reading of the files in a log directory
 * for `dump` and `verify`: batches of a .log one at a time (every length is
 * checked against the file before it is used, so a corrupt file is reported,
 * never over-read), whole small files, segment file names, the used part of
 * preallocated indexes, and a lint that locates the first malformed byte of
 * a Kafka checkpoint file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klogcat.h"

int kc_logscan_open(kc_logscan_t *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(s->fd, &st) < 0) {
        int e = -errno;
        close(s->fd);
        s->fd = -1;
        return e;
    }
    s->size = st.st_size;
    return 0;
}

void kc_logscan_close(kc_logscan_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
}

/* Read exactly len bytes at off: 0, 1 when the file ended first, or -errno. */
static int read_at(int fd, void *buf, size_t len, int64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + (int64_t)done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 1;
        done += (size_t)n;
    }
    return 0;
}

int kc_logscan_next(kc_logscan_t *s, kc_batch_t *b)
{
    int64_t left = s->size - s->pos;
    uint8_t head[12];
    int rc;

    if (left <= 0)
        return KC_SCAN_END;
    if (left < (int64_t)sizeof head) {
        snprintf(s->why, sizeof s->why,
                 "%" PRId64 " trailing bytes, too short for a batch header", left);
        return KC_SCAN_TORN;
    }
    rc = read_at(s->fd, head, sizeof head, s->pos);
    if (rc < 0) {
        s->err = rc;
        return KC_SCAN_IOERR;
    }
    if (rc > 0) {
        snprintf(s->why, sizeof s->why, "file shrank while being read");
        return KC_SCAN_TORN;
    }
    int32_t blen = (int32_t)kc_be32(head + 8);
    if (blen < KLOG_BATCH_HEADER_SIZE - 12) {
        snprintf(s->why, sizeof s->why,
                 "batch length field %" PRId32 " is invalid (a batch takes at least %d bytes)",
                 blen, KLOG_BATCH_HEADER_SIZE);
        return KC_SCAN_BADLEN;
    }
    int64_t total = (int64_t)blen + 12;
    if (total > left) {
        snprintf(s->why, sizeof s->why,
                 "batch of %" PRId64 " bytes runs past the end of the file (%" PRId64
                 " bytes left)",
                 total, left);
        return KC_SCAN_TORN;
    }
    if ((size_t)total > s->cap) {
        uint8_t *nb = realloc(s->buf, (size_t)total);
        if (!nb) {
            s->err = -ENOMEM;
            return KC_SCAN_IOERR;
        }
        s->buf = nb;
        s->cap = (size_t)total;
    }
    rc = read_at(s->fd, s->buf, (size_t)total, s->pos);
    if (rc < 0) {
        s->err = rc;
        return KC_SCAN_IOERR;
    }
    if (rc > 0) {
        snprintf(s->why, sizeof s->why, "file shrank while being read");
        return KC_SCAN_TORN;
    }

    memset(b, 0, sizeof *b);
    b->pos = s->pos;
    b->size = (size_t)total;
    b->data = s->buf;
    /* Decode the header first so the fields are there even when the CRC
     * (or magic) is wrong, then validate for the verdict. */
    klog_batch_header(s->buf, b->size, &b->info);
    b->rc = klog_batch_validate(s->buf, b->size, KLOG_VALIDATE_HEADER, NULL);
    b->crc_computed = klog_crc32c(0, s->buf + 21, b->size - 21);
    s->pos += total;
    return KC_SCAN_BATCH;
}

int kc_read_whole(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb, cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

int kc_segment_name(const char *name, const char *suffix, int64_t *base)
{
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        if (v > (INT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (name[i] - '0');
    }
    if (strcmp(name + 20, suffix) != 0)
        return 0;
    *base = v;
    return 1;
}

size_t kc_index_used(const uint8_t *buf, size_t len, size_t entry_size)
{
    size_t n = len / entry_size;
    while (n > 0) {
        const uint8_t *e = buf + (n - 1) * entry_size;
        size_t k = 0;
        while (k < entry_size && e[k] == 0)
            k++;
        if (k < entry_size)
            break;
        n--;
    }
    return n;
}

/* One whitespace-separated field of a checkpoint line. */
static const uint8_t *next_field(const uint8_t *p, const uint8_t *end, const uint8_t **fend)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const uint8_t *q = p;
    while (q < end && *q != ' ' && *q != '\t')
        q++;
    *fend = q;
    return p;
}

static int field_i64(const uint8_t *p, const uint8_t *q, int64_t *v)
{
    char tmp[32];
    if (q <= p || (size_t)(q - p) >= sizeof tmp)
        return -1;
    memcpy(tmp, p, (size_t)(q - p));
    tmp[q - p] = 0;
    return kc_parse_i64(tmp, v);
}

int64_t kc_ckpt_lint(const uint8_t *buf, size_t len, size_t *line_pos, size_t max_lines,
                     size_t *nlines, char *why, size_t whylen)
{
    size_t pos = 0, line = 0;
    int64_t declared = -1, entries = 0;
    *nlines = 0;
    if (len == 0)
        return -1;
    while (pos < len) {
        const uint8_t *p = buf + pos, *end = memchr(p, '\n', len - pos);
        size_t next = end ? (size_t)(end - buf) + 1 : len;
        if (!end)
            end = buf + len;
        if (line < max_lines)
            line_pos[line] = pos;
        const uint8_t *f, *fe;
        int64_t v;
        if (line == 0 || line == 1) {
            f = next_field(p, end, &fe);
            if (field_i64(f, fe, &v) < 0 || next_field(fe, end, &fe) != end) {
                snprintf(why, whylen, "line %zu: expected one integer (%s)", line + 1,
                         line == 0 ? "version" : "entry count");
                return (int64_t)pos;
            }
            if (line == 0 && v != 0) {
                snprintf(why, whylen, "unsupported version %" PRId64 " (expected 0)", v);
                return (int64_t)pos;
            }
            if (line == 1) {
                if (v < 0) {
                    snprintf(why, whylen, "negative entry count %" PRId64, v);
                    return (int64_t)pos;
                }
                declared = v;
            }
        } else {
            const uint8_t *f2, *fe2, *f3, *fe3, *f4, *fe4;
            char topic[256];
            int64_t part, off;
            f = next_field(p, end, &fe);
            f2 = next_field(fe, end, &fe2);
            f3 = next_field(fe2, end, &fe3);
            f4 = next_field(fe3, end, &fe4);
            if (fe == f || fe2 == f2 || fe3 == f3 || f4 != end) {
                snprintf(why, whylen, "line %zu: expected 3 fields: topic partition offset",
                         line + 1);
                return (int64_t)pos;
            }
            size_t tl = (size_t)(fe - f);
            if (tl >= sizeof topic)
                tl = sizeof topic - 1;
            memcpy(topic, f, tl);
            topic[tl] = 0;
            if (!klog_topic_name_valid(topic)) {
                snprintf(why, whylen, "line %zu: invalid topic name", line + 1);
                return (int64_t)pos;
            }
            if (field_i64(f2, fe2, &part) < 0 || part < 0 || part > INT32_MAX) {
                snprintf(why, whylen, "line %zu: invalid partition", line + 1);
                return (int64_t)(f2 - buf);
            }
            if (field_i64(f3, fe3, &off) < 0) {
                snprintf(why, whylen, "line %zu: invalid offset", line + 1);
                return (int64_t)(f3 - buf);
            }
            entries++;
            if (entries > declared) {
                snprintf(why, whylen, "line %zu: more entries than the declared %" PRId64,
                         line + 1, declared);
                return (int64_t)pos;
            }
        }
        line++;
        pos = next;
    }
    *nlines = line;
    if (line < 2) {
        snprintf(why, whylen, "file ends before the entry count line");
        return (int64_t)len;
    }
    if (entries != declared) {
        snprintf(why, whylen, "%" PRId64 " entries but %" PRId64 " declared", entries, declared);
        return (int64_t)len;
    }
    return -1;
}
