/*
 * oracle_gen — write libklog logs of every kind for Apache Kafka to read
 * (test/interop/kafka_*.sh), and print what Kafka must find in them.
 *
 *   oracle_gen write DIR TOPIC PART FIRST COUNT GEN [-z CODEC] [-b N]
 *                    [-s SEGBYTES] [-i INTERVAL] [-f] [-e EPOCH] [-P PID]
 *                    [-K] [-F FORMAT]
 *       Append records FIRST .. FIRST+COUNT-1 of generation GEN (see rec()),
 *       N per batch (default 7). The topic is created when absent (with
 *       -z/-s/-i as its configuration). klog_append assigns the offsets, so
 *       FIRST must be the log end; with -f the batches are built here
 *       with their offsets, leader epoch EPOCH and producer id PID (epoch 0,
 *       sequences from FIRST) and stored with klog_append_follower. -K ends
 *       the process with SIGKILL right after the last append (no close, no
 *       flush: a crash). Prints each record written, in FORMAT.
 *   oracle_gen batches FILE FIRST COUNT GEN [-z CODEC] [-b N]
 *       Write records FIRST .. FIRST+COUNT-1 to FILE as a producer sends
 *       them: concatenated batches of N records, base offset 0 each.
 *   oracle_gen expect FIRST COUNT GEN [-F FORMAT]
 *       Print records as `write` would, writing nothing.
 *   oracle_gen truncate DIR TOPIC PART OFFSET
 *   oracle_gen open DIR                 open (recovering) and close
 *   oracle_gen read DIR TOPIC PART [-F FORMAT]
 *       Print every record of the partition as libklog reads it, except
 *       control records (transaction markers), which Kafka's consumers
 *       never return either.
 *
 * FORMATs: `dls` (default) is the record line of Kafka's DumpLogSegments
 * with --deep-iteration --print-data-log; `canon` is
 *   offset ts key value headers
 * with key/value as `-` (null) or hex (`=` empty) and headers as
 * `[k:v,...]` in hex (the Java consumer prints the same); `kcat` is
 * kcat -f '%o %T %K %k %S %s %h\n'.
 * Exit status: 0, 1 on a library error (printed), 2 on usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"

enum fmt { FMT_DLS, FMT_CANON, FMT_KCAT };

/* One record of generation gen at offset o: a pure function, so every
 * scenario knows what a reader must find. Printable text (kcat's and the
 * DumpLogSegments string decoder's output is then exact), with null keys,
 * null and empty values, null header values, sizes that spread index
 * entries, and timestamps that sometimes go back (the time index keeps the
 * maximum). */
struct grec {
    klog_record_t r;
    klog_header_t h[2];
    char key[32], hv[32], val[700];
};

static void rec(int64_t o, int gen, struct grec *g)
{
    memset(g, 0, sizeof *g);
    g->r.offset = o;
    g->r.timestamp = 1700000000000 + o * 10 - (o % 7 == 3 ? 5000 : 0);
    if (o % 5 == 0) {
        g->r.key_len = KLOG_NULL_LEN;
    } else {
        g->r.key_len = snprintf(g->key, sizeof g->key, "k%lld-g%d", (long long)o, gen);
        g->r.key = g->key;
    }
    if (o % 17 == 3) {
        g->r.value_len = KLOG_NULL_LEN;
    } else if (o % 11 == 4) {
        g->r.value_len = 0;
        g->r.value = g->val;
    } else {
        int n = snprintf(g->val, sizeof g->val, "v%lld/g%d:", (long long)o, gen);
        int want = n + (int)((o * 37) % 600);
        for (int i = n; i < want; i++)
            g->val[i] = "abcdefghijklmnop"[(i / 5 + o) % 16];
        g->r.value_len = want;
        g->r.value = g->val;
    }
    if (o % 3 == 1) {
        snprintf(g->hv, sizeof g->hv, "x%lld", (long long)o);
        g->h[0] = (klog_header_t){"h1", 2, g->hv, (int32_t)strlen(g->hv)};
        g->r.header_count = 1;
    } else if (o % 3 == 2) {
        g->h[0] = (klog_header_t){"h1", 2, "a", 1};
        g->h[1] = (klog_header_t){"trace", 5, NULL, KLOG_NULL_LEN};
        g->r.header_count = 2;
    }
    g->r.headers = g->h;
}

static void put_hex(FILE *f, const void *p, int32_t len)
{
    if (len < 0) {
        fputc('-', f);
        return;
    }
    if (len == 0)
        fputc('=', f);
    for (int32_t i = 0; i < len; i++)
        fprintf(f, "%02x", ((const unsigned char *)p)[i]);
}

/* sequence: the record's producer sequence (-1 without a producer). */
static void print_rec(FILE *f, enum fmt fmt, const klog_record_t *r, int64_t sequence)
{
    if (fmt == FMT_CANON) {
        fprintf(f, "%lld %lld ", (long long)r->offset, (long long)r->timestamp);
        put_hex(f, r->key, r->key_len);
        fputc(' ', f);
        put_hex(f, r->value, r->value_len);
        fputs(" [", f);
        for (uint32_t i = 0; i < r->header_count; i++) {
            fputs(i ? "," : "", f);
            put_hex(f, r->headers[i].key, r->headers[i].key_len);
            fputc(':', f);
            put_hex(f, r->headers[i].value, r->headers[i].value_len);
        }
        fputs("]\n", f);
        return;
    }
    if (fmt == FMT_KCAT) {
        /* kcat prints a null key or value as nothing, sizes -1; headers as
         * k=v joined by ',', a null header value as NULL */
        fprintf(f, "%lld %lld %d %.*s %d %.*s ", (long long)r->offset, (long long)r->timestamp,
                (int)r->key_len, r->key_len > 0 ? (int)r->key_len : 0, (const char *)r->key,
                (int)r->value_len, r->value_len > 0 ? (int)r->value_len : 0,
                (const char *)r->value);
        for (uint32_t i = 0; i < r->header_count; i++) {
            const klog_header_t *h = &r->headers[i];
            fprintf(f, "%s%.*s=%.*s", i ? "," : "", (int)h->key_len, h->key,
                    h->value_len >= 0 ? (int)h->value_len : 4,
                    h->value_len >= 0 ? (const char *)h->value : "NULL");
        }
        fputc('\n', f);
        return;
    }
    fprintf(f, "| offset: %lld CreateTime: %lld keySize: %d valueSize: %d sequence: %lld headerKeys: [",
            (long long)r->offset, (long long)r->timestamp, (int)r->key_len, (int)r->value_len,
            (long long)sequence);
    for (uint32_t i = 0; i < r->header_count; i++)
        fprintf(f, "%s%.*s", i ? "," : "", (int)r->headers[i].key_len, r->headers[i].key);
    fputc(']', f);
    if (r->key_len >= 0)
        fprintf(f, " key: %.*s", (int)r->key_len, (const char *)r->key);
    if (r->value_len >= 0)
        fprintf(f, " payload: %.*s", (int)r->value_len, (const char *)r->value);
    fputc('\n', f);
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "oracle_gen: %s: %s\n", what, klog_strerror(rc));
    return 1;
}

static int usage(void)
{
    fputs("usage: oracle_gen write DIR TOPIC PART FIRST COUNT GEN [-z CODEC] [-b N]\n"
          "                  [-s SEGBYTES] [-i INTERVAL] [-f] [-e EPOCH] [-P PID] [-K] [-F FMT]\n"
          "       oracle_gen batches FILE FIRST COUNT GEN [-z CODEC] [-b N]\n"
          "       oracle_gen expect FIRST COUNT GEN [-F FMT]\n"
          "       oracle_gen truncate DIR TOPIC PART OFFSET\n"
          "       oracle_gen open DIR\n"
          "       oracle_gen read DIR TOPIC PART [-F FMT]\n",
          stderr);
    return 2;
}

struct opts {
    int codec, batch, follower, crash;
    int64_t segbytes, interval, pid;
    int32_t epoch;
    enum fmt fmt;
};

static int parse_opts(int argc, char **argv, int i, struct opts *o)
{
    *o = (struct opts){.batch = 7, .segbytes = -1, .interval = -1, .pid = -1, .epoch = -1};
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-f")) {
            o->follower = 1;
        } else if (!strcmp(a, "-K")) {
            o->crash = 1;
        } else if (!v) {
            return -1;
        } else if (!strcmp(a, "-z")) {
            o->codec = klog_compression_parse(v);
            if (o->codec < 0)
                return -1;
            i++;
        } else if (!strcmp(a, "-F")) {
            o->fmt = !strcmp(v, "canon") ? FMT_CANON : !strcmp(v, "kcat") ? FMT_KCAT : FMT_DLS;
            i++;
        } else {
            long long n = atoll(v);
            if (!strcmp(a, "-b") && n > 0 && n < 100000)
                o->batch = (int)n;
            else if (!strcmp(a, "-s"))
                o->segbytes = n;
            else if (!strcmp(a, "-i"))
                o->interval = n;
            else if (!strcmp(a, "-e"))
                o->epoch = (int32_t)n;
            else if (!strcmp(a, "-P"))
                o->pid = n;
            else
                return -1;
            i++;
        }
    }
    return 0;
}

static int open_partition(const char *dir, const char *topic, int32_t part,
                          const struct opts *o, klog_t **log, klog_partition_t **p)
{
    int rc = klog_open(dir, NULL, 0, log);
    if (rc)
        return die("open", rc);
    klog_topic_t *t;
    if (klog_topic_get(*log, topic, &t) == KLOG_ENOTOPIC) {
        klog_config_t *cfg;
        if (klog_config_new(&cfg))
            return die("config", -ENOMEM);
        rc = klog_config_set(cfg, KLOG_CONF_COMPRESSION, o->codec);
        if (!rc && o->segbytes > 0)
            rc = klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, o->segbytes);
        if (!rc && o->interval >= 0)
            rc = klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, o->interval);
        if (!rc)
            rc = klog_topic_create(*log, topic, part + 1, cfg);
        klog_config_free(cfg);
        if (rc)
            return die("topic create", rc);
    }
    rc = klog_partition(*log, topic, part, p);
    return rc ? die("partition", rc) : 0;
}

static void store_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* A follower batch: built here, then given the offsets, leader epoch and
 * producer fields a leader would have stamped (the producer fields are under
 * the CRC, so it is recomputed). */
static int follower_batch(const klog_record_t *recs, size_t n, const struct opts *o,
                          void **out, size_t *len)
{
    int rc = klog_batch_encode(recs, n, o->codec, out, len);
    if (rc)
        return rc;
    uint8_t *b = *out;
    klog_batch_set_base_offset(b, recs[0].offset);
    klog_batch_set_leader_epoch(b, o->epoch);
    if (o->pid >= 0) {
        store_be(b + 43, (uint64_t)o->pid, 8);
        store_be(b + 51, 0, 2);
        store_be(b + 53, (uint64_t)recs[0].offset, 4);
        store_be(b + 17, klog_crc32c(0, b + 21, *len - 21), 4);
    }
    return 0;
}

static int cmd_write(int argc, char **argv)
{
    struct opts o;
    if (argc < 8 || parse_opts(argc, argv, 8, &o))
        return usage();
    const char *dir = argv[2], *topic = argv[3];
    int32_t part = atoi(argv[4]);
    int64_t first = atoll(argv[5]), count = atoll(argv[6]);
    int gen = atoi(argv[7]);
    klog_t *log;
    klog_partition_t *p;
    if (open_partition(dir, topic, part, &o, &log, &p))
        return 1;
    struct grec *g = calloc((size_t)o.batch, sizeof *g);
    klog_record_t *recs = calloc((size_t)o.batch, sizeof *recs);
    if (!g || !recs)
        return die("alloc", -ENOMEM);
    for (int64_t off = first; off < first + count; off += o.batch) {
        size_t n = (size_t)(first + count - off < o.batch ? first + count - off : o.batch);
        for (size_t i = 0; i < n; i++) {
            rec(off + (int64_t)i, gen, &g[i]);
            recs[i] = g[i].r;
        }
        int rc;
        if (o.follower) {
            void *b;
            size_t len;
            rc = follower_batch(recs, n, &o, &b, &len);
            if (!rc)
                rc = klog_append_follower(p, b, len);
            free(b);
        } else {
            int64_t base;
            rc = klog_append(p, recs, n, &base);
            if (!rc && base != off) {
                fprintf(stderr, "oracle_gen: appended at %lld, expected %lld\n",
                        (long long)base, (long long)off);
                klog_close(log);
                return 1;
            }
        }
        if (rc) {
            klog_close(log);
            return die("append", rc);
        }
        for (size_t i = 0; i < n; i++)
            print_rec(stdout, o.fmt, &recs[i],
                      o.follower && o.pid >= 0 ? off + (int64_t)i : -1);
    }
    fflush(stdout);
    if (o.crash)
        raise(SIGKILL);
    free(g);
    free(recs);
    int rc = klog_close(log);
    return rc ? die("close", rc) : 0;
}

static int cmd_batches(int argc, char **argv)
{
    struct opts o;
    if (argc < 6 || parse_opts(argc, argv, 6, &o))
        return usage();
    int64_t first = atoll(argv[3]), count = atoll(argv[4]);
    int gen = atoi(argv[5]);
    FILE *f = fopen(argv[2], "wb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    struct grec *g = calloc((size_t)o.batch, sizeof *g);
    klog_record_t *recs = calloc((size_t)o.batch, sizeof *recs);
    if (!g || !recs)
        return die("alloc", -ENOMEM);
    for (int64_t off = first; off < first + count; off += o.batch) {
        size_t n = (size_t)(first + count - off < o.batch ? first + count - off : o.batch);
        for (size_t i = 0; i < n; i++) {
            rec(off + (int64_t)i, gen, &g[i]);
            recs[i] = g[i].r;
        }
        void *b;
        size_t len;
        int rc = klog_batch_encode(recs, n, o.codec, &b, &len);
        if (rc)
            return die("encode", rc);
        if (fwrite(b, 1, len, f) != len) {
            perror(argv[2]);
            return 1;
        }
        free(b);
    }
    free(g);
    free(recs);
    return fclose(f) ? (perror(argv[2]), 1) : 0;
}

static int cmd_expect(int argc, char **argv)
{
    struct opts o;
    if (argc < 5 || parse_opts(argc, argv, 5, &o))
        return usage();
    int64_t first = atoll(argv[2]), count = atoll(argv[3]);
    struct grec g;
    for (int64_t off = first; off < first + count; off++) {
        rec(off, atoi(argv[4]), &g);
        print_rec(stdout, o.fmt, &g.r, -1);
    }
    return 0;
}

static int cmd_truncate(int argc, char **argv)
{
    struct opts o;
    if (argc != 6 || parse_opts(argc, argv, 6, &o))
        return usage();
    klog_t *log;
    klog_partition_t *p;
    if (open_partition(argv[2], argv[3], atoi(argv[4]), &o, &log, &p))
        return 1;
    int rc = klog_truncate(p, atoll(argv[5]));
    if (rc)
        return die("truncate", rc);
    rc = klog_close(log);
    return rc ? die("close", rc) : 0;
}

static void logger(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= KLOG_LOG_INFO)
        fprintf(stderr, "klog: %s\n", msg);
}

static int cmd_open(int argc, char **argv)
{
    if (argc != 3)
        return usage();
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        return die("config", -ENOMEM);
    klog_config_set_logger(cfg, logger, NULL);
    klog_t *log;
    int rc = klog_open(argv[2], cfg, KLOG_OPEN_NOCREATE, &log);
    klog_config_free(cfg);
    if (rc)
        return die("open", rc);
    rc = klog_close(log);
    return rc ? die("close", rc) : 0;
}

static int cmd_read(int argc, char **argv)
{
    struct opts o;
    if (argc < 5 || parse_opts(argc, argv, 5, &o))
        return usage();
    klog_t *log;
    int rc = klog_open(argv[2], NULL, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log);
    if (rc)
        return die("open", rc);
    klog_partition_t *p;
    klog_reader_t *r;
    rc = klog_partition(log, argv[3], atoi(argv[4]), &p);
    if (!rc)
        rc = klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r);
    if (rc)
        return die("reader", rc);
    klog_record_t rr;
    int64_t control = 0;
    while ((rc = klog_reader_next(r, &rr)) == 1) {
        const klog_batch_info_t *bi = klog_reader_batch_info(r);
        if (bi->attributes & KLOG_ATTR_CONTROL) {
            control++; /* transaction markers: Kafka's consumers never show them */
            continue;
        }
        int64_t seq = bi->base_sequence < 0 ? -1
                      : (int64_t)(((uint32_t)bi->base_sequence + (uint32_t)(rr.offset - bi->base_offset)) & 0x7fffffff);
        print_rec(stdout, o.fmt, &rr, seq);
    }
    klog_reader_close(r);
    if (rc < 0)
        return die("read", rc);
    if (control)
        fprintf(stderr, "oracle_gen: %lld control records skipped\n", (long long)control);
    rc = klog_close(log);
    return rc ? die("close", rc) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "write"))
        return cmd_write(argc, argv);
    if (!strcmp(argv[1], "batches"))
        return cmd_batches(argc, argv);
    if (!strcmp(argv[1], "expect"))
        return cmd_expect(argc, argv);
    if (!strcmp(argv[1], "truncate"))
        return cmd_truncate(argc, argv);
    if (!strcmp(argv[1], "open"))
        return cmd_open(argc, argv);
    if (!strcmp(argv[1], "read"))
        return cmd_read(argc, argv);
    return usage();
}
