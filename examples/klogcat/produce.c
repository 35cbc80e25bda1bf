/*
 * produce.c — -P: append records read from standard input or files.
 *
 * Input, as kcat reads it: standard input is one record per -D delimiter
 * (newline by default; key before the -K delimiter, or -k for every
 * record); each FILE argument is one record, byte for byte, unless -l
 * splits files the same way. Records are gathered into one batch builder
 * per partition (compressed with -z, else the topic's compression.type) and
 * appended with klog_append_batch when a batch reaches 1000 records or
 * about 1 MiB (never more than the topic's max batch bytes nor its
 * segment.bytes: a batch must fit in one segment), when input would block
 * (so interactive input is not held back), and at the end. Without -p, keyed
 * records go to XXH3-64(key) mod partitions and keyless records to one
 * partition per batch, round-robin from a random start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "klogcat.h"

#define BATCH_MAX_RECORDS 1000
#define BATCH_MAX_BYTES ((size_t)1 << 20)
#define PENDING_MAX_BYTES ((size_t)64 << 20) /* all partitions together */

typedef struct producer {
    const kc_opts_t *o;
    klog_topic_t *topic;
    int32_t nparts;
    klog_partition_t **parts;  /* per partition, looked up lazily */
    klog_builder_t **builders; /* per partition, created lazily */
    size_t budget;             /* uncompressed record bytes per batch */
    size_t limit;              /* largest batch the topic accepts */
    size_t pending;            /* record bytes in all builders */
    int32_t rr;                /* partition of the current keyless batch */
    int codec;                 /* -z, or the topic's compression.type */
    int64_t left;              /* -c: records still to produce; -1 = no limit */
    int64_t records, bytes;    /* appended so far (progress) */
} producer_t;

static int flush_partition(producer_t *pr, int32_t p)
{
    klog_builder_t *b = pr->builders[p];
    const void *batch;
    size_t len = 0;
    if (!b || klog_builder_count(b) == 0)
        return 0;
    size_t n = klog_builder_count(b);
    pr->pending -= klog_builder_size(b);
    int rc = klog_builder_finish(b, &batch, &len);
    if (rc == 0 && !pr->parts[p])
        rc = klog_partition_get(pr->topic, p, &pr->parts[p]);
    if (rc == 0)
        rc = klog_append_batch(pr->parts[p], batch, len, NULL);
    klog_builder_reset(b);
    if (rc < 0) {
        kc_progress_end();
        if (rc == KLOG_ETOOLARGE)
            kc_err("appending %zu record(s) to %s-%" PRId32 ": %s (batch of %zu bytes)", n,
                   pr->o->topic, p, klog_strerror(rc), len);
        else
            kc_err("appending %zu record(s) to %s-%" PRId32 ": %s", n, pr->o->topic, p,
                   klog_strerror(rc));
        return rc;
    }
    if (pr->o->partition < 0 && p == pr->rr)
        pr->rr = (pr->rr + 1) % pr->nparts;
    pr->records += (int64_t)n;
    pr->bytes += (int64_t)len;
    kc_progress(pr->o, 0, "%s: %" PRId64 " records appended (%.1f MiB)", pr->o->topic,
                pr->records, (double)pr->bytes / 1048576.0);
    return 0;
}

static int flush_all(producer_t *pr)
{
    for (int32_t p = 0; p < pr->nparts; p++) {
        int rc = flush_partition(pr, p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int add_record(producer_t *pr, const void *key, int32_t klen, const void *val,
                      size_t vlen)
{
    const kc_opts_t *o = pr->o;
    int32_t p;
    int rc;

    if (vlen > INT32_MAX) {
        kc_err("record of %zu bytes is too large", vlen);
        return KLOG_ETOOLARGE;
    }
    if (pr->left == 0)
        return 0; /* -c reached: the rest of the input is ignored */
    if (o->key && klen < 0)
        key = o->key, klen = (int32_t)strlen(o->key);
    if (o->null_empty && klen == 0)
        klen = KLOG_NULL_LEN;
    int null_value = o->null_empty && vlen == 0;
    if (o->tee) {
        fwrite(val, 1, vlen, stdout);
        fwrite(o->msg_delim, 1, o->msg_delim_len, stdout);
    }
    if (o->partition >= 0)
        p = o->partition;
    else if (klen >= 0)
        p = (int32_t)(XXH3_64bits(key, (size_t)klen) % (uint64_t)pr->nparts);
    else
        p = pr->rr;

    if (!pr->builders[p]) {
        rc = klog_builder_new(pr->codec, &pr->builders[p]);
        if (rc < 0) {
            kc_err("%s", klog_strerror(rc));
            return rc;
        }
    }
    /* Generous estimate of the record's encoded size: 21 bytes of fixed
     * overhead, lengths, and 10 bytes per header. */
    size_t est = 21 + 10 + (klen > 0 ? (size_t)klen : 0) + vlen;
    for (size_t i = 0; i < o->header_count; i++)
        est += 10 + (size_t)o->headers[i].key_len + (size_t)o->headers[i].value_len;
    klog_builder_t *b = pr->builders[p];
    if (klog_builder_count(b) > 0 && klog_builder_size(b) + est > pr->budget) {
        rc = flush_partition(pr, p);
        if (rc < 0)
            return rc;
        if (o->partition < 0 && klen < 0) { /* keyless: the batch moved on */
            p = pr->rr;
            if (!pr->builders[p] && (rc = klog_builder_new(pr->codec, &pr->builders[p])) < 0) {
                kc_err("%s", klog_strerror(rc));
                return rc;
            }
            b = pr->builders[p];
        }
    }

    klog_record_t rec = {
        .timestamp = KLOG_TIMESTAMP_NOW,
        .key = key,
        .key_len = klen,
        .value = null_value ? NULL : val,
        .value_len = null_value ? KLOG_NULL_LEN : (int32_t)vlen,
        .headers = o->headers,
        .header_count = (uint32_t)o->header_count,
    };
    size_t before = klog_builder_size(b);
    rc = klog_builder_add(b, &rec);
    if (rc < 0) {
        kc_err("encoding record: %s", klog_strerror(rc));
        return rc;
    }
    pr->pending += klog_builder_size(b) - before;
    if (pr->left > 0)
        pr->left--;
    if (klog_builder_count(b) == 1 && klog_builder_size(b) + KLOG_BATCH_HEADER_SIZE > pr->limit) {
        kc_err("a record of %zu bytes cannot fit in one batch of %s (at most %zu bytes: "
               "max.message.bytes and segment.bytes)",
               vlen, o->topic, pr->limit);
        return KLOG_ETOOLARGE;
    }
    if (klog_builder_count(b) >= BATCH_MAX_RECORDS || klog_builder_size(b) >= pr->budget)
        return flush_partition(pr, p);
    if (pr->pending > PENDING_MAX_BYTES)
        return flush_all(pr);
    return 0;
}

/* ------------------------------------------------------------ line input */

typedef struct linereader {
    int fd;
    const char *name;
    uint8_t *buf;
    size_t start, end, cap;
    int eof;
} linereader_t;

static int would_block(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

/* Next line without its '\n' (a last line without one counts): 1, 0 at
 * the end, or -errno. Pending batches are appended before blocking. */
static int next_line(linereader_t *r, producer_t *pr, const uint8_t **line, size_t *len)
{
    const char *delim = pr->o->msg_delim;
    size_t dlen = pr->o->msg_delim_len;
    for (;;) {
        uint8_t *nl = r->end - r->start >= dlen
                          ? memmem(r->buf + r->start, r->end - r->start, delim, dlen)
                          : NULL;
        if (nl) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - (r->buf + r->start));
            r->start = (size_t)(nl - r->buf) + dlen;
            return 1;
        }
        if (r->eof) {
            if (r->end == r->start)
                return 0;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            return 1;
        }
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap) {
            size_t ncap = r->cap ? r->cap * 2 : 65536;
            uint8_t *nb = realloc(r->buf, ncap);
            if (!nb) {
                kc_err("reading %s: line too long for memory", r->name);
                return -ENOMEM;
            }
            r->buf = nb, r->cap = ncap;
        }
        if (would_block(r->fd)) {
            int rc = flush_all(pr);
            if (rc < 0)
                return rc;
        }
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            kc_err("reading %s: %s", r->name, strerror(e));
            return -e;
        }
        if (n == 0)
            r->eof = 1;
        r->end += (size_t)n;
    }
}

static int produce_lines(producer_t *pr, int fd, const char *name)
{
    const char *delim = pr->o->key_delim;
    size_t dlen = pr->o->key_delim_len;
    linereader_t r = {.fd = fd, .name = name};
    const uint8_t *line = NULL;
    size_t len = 0;
    int rc = 0;

    while (pr->left != 0 && (rc = next_line(&r, pr, &line, &len)) == 1) {
        const uint8_t *key = NULL, *val = line;
        int32_t klen = KLOG_NULL_LEN;
        size_t vlen = len;
        if (delim) {
            const uint8_t *d = memmem(line, len, delim, dlen);
            if (d) {
                key = line;
                klen = (int32_t)(d - line);
                val = d + dlen;
                vlen = len - (size_t)(d - line) - dlen;
            }
        }
        if ((rc = add_record(pr, key, klen, val, vlen)) < 0)
            break;
    }
    free(r.buf);
    return rc;
}

static int produce_file(producer_t *pr, const char *path)
{
    uint8_t *data;
    size_t len = 0;
    int rc;
    if (pr->left == 0)
        return 0;
    if (strcmp(path, "-") == 0) {
        rc = kc_read_whole("/dev/stdin", &data, &len);
    } else {
        rc = kc_read_whole(path, &data, &len);
    }
    if (rc < 0) {
        kc_err("%s: %s", path, klog_strerror(rc));
        return rc;
    }
    rc = add_record(pr, NULL, KLOG_NULL_LEN, data, len);
    free(data);
    return rc;
}

static int open_input(const char *path)
{
    if (strcmp(path, "-") == 0)
        return STDIN_FILENO;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        kc_err("%s: %s", path, strerror(errno));
    return fd;
}

int kc_produce(const kc_opts_t *o)
{
    producer_t pr = {.o = o};
    klog_t *log = NULL;
    int64_t maxb, segb;
    int rc, status = KC_EXIT_FAIL;

    if (kc_open_log(o, KLOG_OPEN_NOCREATE, &log) < 0)
        return KC_EXIT_FAIL;
    rc = klog_topic_get(log, o->topic, &pr.topic);
    if (rc < 0) {
        kc_err("topic %s: %s%s", o->topic, klog_strerror(rc),
               rc == KLOG_ENOTOPIC ? " (create it with --create)" : "");
        goto out;
    }
    pr.nparts = klog_topic_partition_count(pr.topic);
    if (o->partition >= pr.nparts) {
        kc_err("topic %s has %" PRId32 " partition(s); there is no partition %" PRId32,
               o->topic, pr.nparts, o->partition);
        goto out;
    }
    if (klog_topic_config(pr.topic, KLOG_CONF_MAX_BATCH_BYTES, &maxb) < 0 || maxb <= 0)
        maxb = 1048588;
    /* Records may take what the batch header leaves, minus what the codec
     * can add to incompressible data (a stored block costs 4 bytes per
     * 64 KiB in Kafka's LZ4 framing; be generous for every codec). */
    if (klog_topic_config(pr.topic, KLOG_CONF_SEGMENT_BYTES, &segb) == 0 && segb > 0 &&
        segb < maxb)
        maxb = segb; /* a batch never spans segments */
    pr.limit = (size_t)maxb;
    int64_t codec = o->codec;
    if (codec < 0 && klog_topic_config(pr.topic, KLOG_CONF_COMPRESSION, &codec) < 0)
        codec = KLOG_COMPRESSION_NONE;
    pr.codec = (int)codec;
    pr.left = o->count;
    size_t limit = (size_t)maxb < BATCH_MAX_BYTES ? (size_t)maxb : BATCH_MAX_BYTES;
    pr.budget = limit > 1024 ? limit - KLOG_BATCH_HEADER_SIZE : limit / 2;
    if (pr.codec != KLOG_COMPRESSION_NONE)
        pr.budget -= pr.budget / 1024 + 256;

    pr.parts = calloc((size_t)pr.nparts, sizeof *pr.parts);
    pr.builders = calloc((size_t)pr.nparts, sizeof *pr.builders);
    if (!pr.parts || !pr.builders) {
        kc_err("out of memory");
        goto out;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pr.rr = (int32_t)((uint64_t)(ts.tv_nsec ^ getpid()) % (uint64_t)pr.nparts);

    rc = 0;
    if (o->nargs > 0 && !o->split_files) {
        for (int i = 0; i < o->nargs && rc >= 0; i++)
            rc = produce_file(&pr, o->args[i]);
    } else if (o->nargs == 0) {
        rc = produce_lines(&pr, STDIN_FILENO, "standard input");
    } else {
        for (int i = 0; i < o->nargs && rc >= 0; i++) {
            int fd = open_input(o->args[i]);
            if (fd < 0) {
                rc = -1;
                break;
            }
            rc = produce_lines(&pr, fd, o->args[i]);
            if (fd != STDIN_FILENO)
                close(fd);
        }
    }
    if (rc >= 0)
        rc = flush_all(&pr);
    if (rc >= 0) {
        status = KC_EXIT_OK;
        kc_progress(o, 1, "%s: %" PRId64 " records appended (%.1f MiB), done", o->topic,
                    pr.records, (double)pr.bytes / 1048576.0);
    }
    kc_progress_end();
    if (o->tee && fflush(stdout) != 0) {
        kc_err("writing standard output: %s", strerror(errno));
        status = KC_EXIT_FAIL;
    }
out:
    if (pr.builders)
        for (int32_t p = 0; p < pr.nparts; p++)
            klog_builder_free(pr.builders[p]);
    free(pr.builders);
    free(pr.parts);
    rc = klog_close(log);
    if (rc < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(rc));
        status = KC_EXIT_FAIL;
    }
    return status;
}
