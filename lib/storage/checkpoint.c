/*
 * checkpoint.c — Kafka's offset checkpoint files, read and written exactly
 * as Kafka's CheckpointFile does (kafka-format.md section 4).
 *
 * LAYOUT
 *   A UTF-8 text file of '\n'-terminated lines:
 *
 *     0                          format version (always 0 for these files)
 *     2                          number of entry lines that follow
 *     foo 0 5                    <topic> <partition> <offset>
 *     bar 3 10
 *
 *   recovery-point-offset-checkpoint and log-start-offset-checkpoint both
 *   use it. We write exactly this: single spaces, '\n' after every line,
 *   entries in the order the caller gives.
 *
 * WHAT IS VALID (the reader mirrors Kafka's, plus libklog's own limits)
 *   - An empty file, or a file that ends after the version line, has no
 *     entries (Kafka returns an empty list in both cases).
 *   - Lines end at "\n", "\r\n" or "\r", as Java's BufferedReader.readLine
 *     splits them; the last line may lack its terminator.
 *   - The version and count lines are bare integers as Integer.parseInt
 *     reads them: optional '+' or '-', ASCII digits, int32 range. A version
 *     that parses but is not 0 is KLOG_EVERSION; anything unparsable is
 *     KLOG_ECORRUPT.
 *   - An entry line splits on runs of whitespace (Java's "\\s+") into
 *     exactly three fields. Like String.split, a leading separator makes an
 *     empty first field (so the line is malformed) and trailing separators
 *     are ignored. Blank lines are malformed.
 *   - The topic must be a valid topic name (klog_topic_name_valid); the
 *     partition an int32 >= 0 and the offset an int64 >= 0. Kafka does not
 *     check these, but it never writes anything else, and refusing them here
 *     means callers never see a name that could escape the log directory or
 *     an offset that makes no sense.
 *   - The number of entry lines must equal the count line.
 *   Any violation gives KLOG_ECORRUPT; callers treat an unreadable
 *   checkpoint like Kafka's LogManager does, as absent (full recovery).
 *
 * A (topic, partition) that appears twice keeps its last value, as Kafka's
 * conversion of the entry list to a map does; klog__ckpt_lookup() scans
 * from the end to give the same answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/files.h"

/* Checkpoints hold one line per partition; this bounds what we read into
 * memory (far above 100,000 partitions with maximal 249-byte names). */
#define CKPT_MAX_FILE (1u << 30)


/* ------------------------------------------------------------ text lines
 * Shared with the other checkpoint-format file, leader-epoch-checkpoint
 * (epoch.c); declared in files.h. */

int klog__ckpt_next_line(klog__lines_t *r, const uint8_t **s, size_t *n)
{
    if (r->p >= r->end)
        return 0;
    const uint8_t *q = r->p;
    while (q < r->end && *q != '\n' && *q != '\r')
        q++;
    *s = r->p;
    *n = (size_t)(q - r->p);
    if (q < r->end && *q == '\r' && q + 1 < r->end && q[1] == '\n')
        q += 2;
    else if (q < r->end)
        q++;
    r->p = q;
    return 1;
}

/* Java's \s minus the line terminators, which never occur inside a line. */
static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* Parse a decimal integer the way Integer.parseInt/Long.parseLong do
 * (optional sign, at least one ASCII digit, nothing else) into [lo, hi].
 * 0 or -1. */
int klog__ckpt_parse_int(const uint8_t *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return -1;
    /* Accumulate as a negative number so INT64_MIN is representable. */
    int64_t v = 0;
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

int klog__ckpt_split(const uint8_t *s, size_t n, int nf, const uint8_t **f, size_t *fl)
{
    size_t i = 0;
    for (int k = 0; k < nf; k++) {
        if (i >= n || is_space(s[i]))
            return -1; /* missing field, or an empty one (leading separator) */
        f[k] = s + i;
        while (i < n && !is_space(s[i]))
            i++;
        fl[k] = (size_t)(s + i - f[k]);
        while (i < n && is_space(s[i]))
            i++;
    }
    return i == n ? 0 : -1; /* one field too many */
}

void klog__ckpt_free(klog__ckpt_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->entries[i].topic);
    free(c->entries);
    c->entries = NULL;
    c->count = 0;
}

/* Append one entry, growing the array geometrically. */
static int ckpt_push(klog__ckpt_t *c, size_t *cap, const uint8_t *topic, size_t tlen,
                     int32_t partition, int64_t offset)
{
    if (c->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        klog__ckpt_entry_t *e = klog__realloc(c->entries, ncap * sizeof *e);
        if (!e)
            return -ENOMEM;
        c->entries = e;
        *cap = ncap;
    }
    char *t = klog__malloc(tlen + 1);
    if (!t)
        return -ENOMEM;
    memcpy(t, topic, tlen);
    t[tlen] = 0;
    c->entries[c->count].topic = t;
    c->entries[c->count].partition = partition;
    c->entries[c->count].offset = offset;
    c->count++;
    return 0;
}

int klog__ckpt_parse(const uint8_t *buf, size_t len, klog__ckpt_t *out)
{
    klog__lines_t r = {buf, buf + len};
    const uint8_t *s;
    size_t n, cap = 0;
    int64_t version, expected;
    int rc = 0;

    out->entries = NULL;
    out->count = 0;
    if (!klog__ckpt_next_line(&r, &s, &n))
        return 0; /* empty file */
    if (klog__ckpt_parse_int(s, n, INT32_MIN, INT32_MAX, &version))
        return KLOG_ECORRUPT;
    if (version != 0)
        return KLOG_EVERSION;
    if (!klog__ckpt_next_line(&r, &s, &n))
        return 0; /* Kafka: no count line means no entries */
    if (klog__ckpt_parse_int(s, n, 0, INT32_MAX, &expected))
        return KLOG_ECORRUPT;

    while (klog__ckpt_next_line(&r, &s, &n)) {
        const uint8_t *f[3];
        size_t fl[3];
        int64_t part, off;
        if ((uint64_t)out->count >= (uint64_t)expected || klog__ckpt_split(s, n, 3, f, fl) ||
            fl[0] > KLOG__TOPIC_NAME_MAX || klog__ckpt_parse_int(f[1], fl[1], 0, INT32_MAX, &part) ||
            klog__ckpt_parse_int(f[2], fl[2], 0, INT64_MAX, &off)) {
            rc = KLOG_ECORRUPT;
            goto fail;
        }
        rc = ckpt_push(out, &cap, f[0], fl[0], (int32_t)part, off);
        if (rc)
            goto fail;
        /* The copy is NUL-terminated: a NUL inside the field shows up as a
         * length mismatch, so the name check sees every byte. */
        const char *t = out->entries[out->count - 1].topic;
        if (strlen(t) != fl[0] || !klog_topic_name_valid(t)) {
            rc = KLOG_ECORRUPT;
            goto fail;
        }
    }
    if ((uint64_t)out->count != (uint64_t)expected) {
        rc = KLOG_ECORRUPT;
        goto fail;
    }
    return 0;

fail:
    klog__ckpt_free(out);
    return rc;
}

int klog__ckpt_read(const char *dir, const char *name, klog__ckpt_t *out)
{
    out->entries = NULL;
    out->count = 0;
    char *path = klog__asprintf("%s/%s", dir, name);
    if (!path)
        return -ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = klog__read_file(path, CKPT_MAX_FILE, &buf, &len);
    free(path);
    if (rc == -EFBIG)
        return KLOG_ECORRUPT; /* no real checkpoint is that large */
    if (rc)
        return rc; /* -ENOENT when missing: out is already empty */
    rc = klog__ckpt_parse(buf, len, out);
    free(buf);
    return rc;
}

int klog__ckpt_write(const char *dir, const char *name, const klog__ckpt_entry_t *entries,
                     size_t count)
{
    klog__buf_t b = {0};
    char line[KLOG__TOPIC_NAME_MAX + 48];
    int rc, n;

    if (count > INT32_MAX)
        return -EINVAL;
    n = snprintf(line, sizeof line, "0\n%zu\n", count);
    rc = klog__buf_append(&b, line, (size_t)n);
    for (size_t i = 0; !rc && i < count; i++) {
        const klog__ckpt_entry_t *e = &entries[i];
        /* Never write what our own reader (or Kafka) would refuse. */
        if (!klog_topic_name_valid(e->topic) || e->partition < 0 || e->offset < 0) {
            rc = -EINVAL;
            break;
        }
        n = snprintf(line, sizeof line, "%s %" PRId32 " %" PRId64 "\n", e->topic, e->partition,
                     e->offset);
        rc = klog__buf_append(&b, line, (size_t)n);
    }
    if (!rc)
        rc = klog__write_file_atomic(dir, name, b.data, b.len);
    klog__buf_free(&b);
    return rc;
}

int64_t klog__ckpt_lookup(const klog__ckpt_t *c, const char *topic, int32_t partition,
                          int64_t dflt)
{
    for (size_t i = c->count; i-- > 0;)
        if (c->entries[i].partition == partition && strcmp(c->entries[i].topic, topic) == 0)
            return c->entries[i].offset;
    return dflt;
}
