/*
 * mirror_out.c — `klogmirror out`: ship a local libklog topic to a Kafka
 * cluster, continuously, every record exactly once and in order.
 *
 * Local partition N goes to partition N of the destination topic (which
 * must exist with at least as many partitions and be written by this mirror
 * alone). librdkafka's idempotent producer (acks=all, at most 5 requests in
 * flight, sequence numbers per partition) keeps each partition's records in
 * order with no duplicate from its own retries. Every record gets one more
 * header, MIRROR_OFFSET_HEADER, its local offset; that header is the
 * mirror's durable position: at start, the last record of each destination
 * partition names the last local offset the cluster holds, and shipping
 * resumes right after it. A position saved anywhere else could lag the
 * cluster (a kill -9 after the cluster acknowledged, before the save), and
 * resuming from it would duplicate records; the cluster's own tail cannot.
 *
 * The local log is opened read-only (KLOG_OPEN_RDONLY), so the application
 * writing it keeps running; the mirror follows its high watermark.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "klog.h"
#include "klogmirror.h"

static const char usage_out[] =
    "Usage: klogmirror out -d DIR -b HOST:PORT -t TOPIC [-T DEST] [-e] [-q]\n"
    "                      [-X PROPERTY=VALUE]...\n"
    "Ship local topic TOPIC of the libklog log DIR (opened read-only, beside\n"
    "its writer) to topic DEST (default TOPIC) of the Kafka cluster at -b,\n"
    "local partition N to partition N, until SIGINT/SIGTERM. Each record keeps\n"
    "its key, value, headers and timestamp and gets the header klog.offset\n"
    "(its local offset, decimal); at start the last record of each\n"
    "destination partition says where to resume, so a restart after any\n"
    "crash neither loses nor duplicates a record. DEST must exist and be\n"
    "written by this mirror only.\n"
    "  -e                 exit once every record is shipped and acknowledged\n"
    "  -X PROPERTY=VALUE  librdkafka producer property (repeatable)\n"
    "  -q                 no progress lines on standard error\n";

struct out_part {
    klog_partition_t *part;
    klog_reader_t *reader;
    int64_t next; /* first local offset not yet handed to the producer */
};

static int64_t n_acked;
static int delivery_failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (!delivery_failed)
            fprintf(stderr, "klogmirror out: delivery to partition %d failed: %s\n",
                    (int)m->partition, rd_kafka_err2str(m->err));
        delivery_failed = 1;
        mirror_stop = 1;
    } else {
        n_acked++;
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        fprintf(stderr, "klogmirror out: fatal producer error: %s\n", buf);
        delivery_failed = 1;
        mirror_stop = 1;
    } else if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        fprintf(stderr, "klogmirror out: %s\n", reason);
    }
}

/* Where partition p resumes: one past the klog.offset of the destination
 * partition's last record, or -1 when it is empty. */
static int resume_point(const char *brokers, const char *dest, int32_t p, int64_t *next)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "klogmirror out: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "klogmirror out: %s\n", err);
        return -1;
    }
    int rc = -1;
    int64_t lo, hi;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, dest, p, &lo, &hi, 30000);
    rd_kafka_topic_t *rkt = NULL;
    if (e) {
        fprintf(stderr, "klogmirror out: offsets of %s/%d: %s\n", dest, (int)p, rd_kafka_err2str(e));
        goto out;
    }
    if (hi <= lo) {
        *next = -1;
        rc = 0;
        goto out;
    }
    rkt = rd_kafka_topic_new(rk, dest, NULL);
    if (!rkt || rd_kafka_consume_start(rkt, p, hi - 1) != 0) {
        fprintf(stderr, "klogmirror out: cannot read %s/%d\n", dest, (int)p);
        goto out;
    }
    for (int tries = 0; tries < 60 && rc != 0; tries++) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, p, 1000);
        if (!m)
            continue;
        if (!m->err && m->offset == hi - 1) {
            rd_kafka_headers_t *h = NULL;
            const void *v = NULL;
            size_t vlen = 0;
            char num[32];
            if (rd_kafka_message_headers(m, &h) || !h ||
                rd_kafka_header_get_last(h, MIRROR_OFFSET_HEADER, &v, &vlen) || !v ||
                vlen == 0 || vlen >= sizeof num) {
                fprintf(stderr,
                        "klogmirror out: the last record of %s/%d (offset %" PRId64
                        ") has no " MIRROR_OFFSET_HEADER " header: not written by this mirror\n",
                        dest, (int)p, hi - 1);
                rd_kafka_message_destroy(m);
                break;
            }
            memcpy(num, v, vlen);
            num[vlen] = 0;
            *next = strtoll(num, NULL, 10) + 1;
            rc = 0;
        } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "klogmirror out: reading %s/%d: %s\n", dest, (int)p,
                    rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consume_stop(rkt, p);
out:
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

/* Hand one record to the producer; waits while its queue is full. */
static int ship(rd_kafka_t *rk, const char *dest, int32_t p, const klog_record_t *r)
{
    static const char empty[1];
    char num[24];
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->header_count + 1);
    for (uint32_t i = 0; i < r->header_count; i++) {
        const klog_header_t *kh = &r->headers[i];
        const void *v = kh->value_len < 0 ? NULL : kh->value_len == 0 ? empty : kh->value;
        rd_kafka_header_add(h, kh->key, kh->key_len, v, kh->value_len < 0 ? 0 : kh->value_len);
    }
    int n = snprintf(num, sizeof num, "%" PRId64, r->offset);
    rd_kafka_header_add(h, MIRROR_OFFSET_HEADER, -1, num, n);
    const void *k = r->key_len < 0 ? NULL : r->key_len == 0 ? empty : r->key;
    const void *v = r->value_len < 0 ? NULL : r->value_len == 0 ? empty : r->value;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(dest), RD_KAFKA_V_PARTITION(p),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(k, r->key_len < 0 ? 0 : (size_t)r->key_len),
            RD_KAFKA_V_VALUE((void *)v, r->value_len < 0 ? 0 : (size_t)r->value_len),
            RD_KAFKA_V_TIMESTAMP(r->timestamp), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (!e)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || mirror_stop) {
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                fprintf(stderr, "klogmirror out: produce: %s\n", rd_kafka_err2str(e));
            rd_kafka_headers_destroy(h);
            return -1;
        }
        rd_kafka_poll(rk, 50);
    }
}

int mirror_out_main(int argc, char **argv)
{
    const char *dir = NULL, *brokers = NULL, *topic = NULL, *dest = NULL;
    int once = 0, quiet = 0, c;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "d:b:t:T:eqX:h", lo, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'T': dest = optarg; break;
        case 'e': once = 1; break;
        case 'q': quiet = 1; break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "klogmirror out: -X needs PROPERTY=VALUE\n");
                return 2;
            }
            *eq = 0;
            if (rd_kafka_conf_set(conf, optarg, eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "klogmirror out: %s\n", err);
                return 2;
            }
            break;
        }
        case 'h': fputs(usage_out, stdout); rd_kafka_conf_destroy(conf); return 0;
        default: fputs(usage_out, stderr); rd_kafka_conf_destroy(conf); return 2;
        }
    }
    if (!dir || !brokers || !topic || optind != argc) {
        fputs(usage_out, stderr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    if (!dest)
        dest = topic;
    /* Idempotence is what makes the resume point exact: it is not an option. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "acks", "all", err, sizeof err)) {
        fprintf(stderr, "klogmirror out: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);

    klog_t *log = NULL;
    klog_topic_t *t = NULL;
    int rc = klog_open(dir, NULL, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log);
    if (rc == 0)
        rc = klog_topic_get(log, topic, &t);
    if (rc) {
        fprintf(stderr, "klogmirror out: %s topic %s: %s\n", dir, topic, klog_strerror(rc));
        rd_kafka_conf_destroy(conf);
        klog_close(log);
        return 1;
    }
    int32_t np = klog_topic_partition_count(t);
    struct out_part *ps = calloc((size_t)np, sizeof *ps);
    int status = 1;
    rd_kafka_t *rk = NULL;
    if (!ps)
        goto done;
    for (int32_t p = 0; p < np; p++) {
        klog_offsets_t off;
        if ((rc = klog_partition_get(t, p, &ps[p].part)) || (rc = klog_partition_offsets(ps[p].part, &off))) {
            fprintf(stderr, "klogmirror out: partition %d: %s\n", (int)p, klog_strerror(rc));
            goto done;
        }
        if (resume_point(brokers, dest, p, &ps[p].next))
            goto done;
        if (ps[p].next < 0)
            ps[p].next = off.log_start;
        if (ps[p].next < off.log_start) {
            fprintf(stderr, "klogmirror out: %s/%d: the cluster holds records up to %" PRId64
                    " but the local log starts at %" PRId64 ": records were deleted before they"
                    " were mirrored\n", topic, (int)p, ps[p].next - 1, off.log_start);
            goto done;
        }
        if ((rc = klog_reader_open(ps[p].part, ps[p].next, &ps[p].reader))) {
            fprintf(stderr, "klogmirror out: %s/%d at %" PRId64 ": %s\n", topic, (int)p,
                    ps[p].next, klog_strerror(rc));
            goto done;
        }
        if (!quiet)
            fprintf(stderr, "klogmirror out: %s/%d -> %s/%d resumes at local offset %" PRId64 "\n",
                    topic, (int)p, dest, (int)p, ps[p].next);
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    conf = NULL;
    if (!rk) {
        fprintf(stderr, "klogmirror out: %s\n", err);
        goto done;
    }
    int64_t shipped = 0;
    int idle_rounds = 0;
    while (!mirror_stop) {
        int moved = 0;
        for (int32_t p = 0; p < np && !mirror_stop; p++) {
            klog_record_t r;
            for (int i = 0; i < 1000; i++) {
                rc = klog_reader_next(ps[p].reader, &r);
                if (rc <= 0)
                    break;
                if (ship(rk, dest, p, &r))
                    goto done;
                ps[p].next = r.offset + 1;
                shipped++;
                moved = 1;
            }
            if (rc < 0) {
                fprintf(stderr, "klogmirror out: reading %s/%d at %" PRId64 ": %s\n", topic,
                        (int)p, ps[p].next, klog_strerror(rc));
                goto done;
            }
        }
        rd_kafka_poll(rk, 0);
        if (moved) {
            idle_rounds = 0;
            continue;
        }
        if (once) {
            /* Caught up: wait for every acknowledgement, then look again. */
            rd_kafka_flush(rk, 60000);
            if (++idle_rounds >= 2 && rd_kafka_outq_len(rk) == 0)
                break;
        } else {
            rd_kafka_poll(rk, 50);
        }
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "klogmirror out: %d records not acknowledged in 60 s\n", rd_kafka_outq_len(rk));
        goto done;
    }
    if (!delivery_failed) {
        status = 0;
        if (!quiet)
            fprintf(stderr, "klogmirror out: %" PRId64 " records shipped, %" PRId64 " acknowledged\n",
                    shipped, n_acked);
    }
done:
    if (rk)
        rd_kafka_destroy(rk);
    if (conf)
        rd_kafka_conf_destroy(conf);
    for (int32_t p = 0; ps && p < np; p++)
        klog_reader_close(ps[p].reader);
    free(ps);
    klog_close(log);
    return status;
}
