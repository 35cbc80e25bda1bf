/*
 * rdk_peer.c — the librdkafka client of bench/kafka_peer.sh: the same
 * program drives kbroker and the Apache Kafka broker, so the two are
 * measured with one client, one configuration and one payload. Built by
 * the Makefile only when librdkafka's development files are found
 * (pkg-config rdkafka); it does not use libklog.
 *
 *   create BROKER TOPIC PARTITIONS
 *   delete BROKER TOPIC
 *       CreateTopics / DeleteTopics through the admin API (replication 1);
 *       create returns once the metadata shows a leader for every partition.
 *   produce BROKER TOPIC PARTITIONS COUNT SIZE ACKS
 *       COUNT records of SIZE bytes, round robin over the partitions, acks
 *       ACKS (1 or all), librdkafka's default batching (linger.ms 5, no
 *       compression). Every delivery report is checked. Prints
 *       "msgs=N secs=S msgs/s=R MB/s=M", timed from the first produce call
 *       to the last delivery report.
 *   consume BROKER TOPIC PARTITIONS COUNT SIZE
 *       assign() every partition from the beginning and read COUNT records,
 *       checking each one's size and that its sequence number (first 8
 *       bytes) grows within its partition (stops at the first that does
 *       not). Prints the same line, timed
 *       from the first record received to the last.
 *   latency BROKER TOPIC COUNT SIZE ACKS RATE
 *       One producer (linger.ms 0) and one consumer in this process on a
 *       fresh one-partition topic: COUNT records at RATE per second, each
 *       carrying its send time; the consumer's receive time minus it is
 *       the produce-to-consume latency. Warm-up records go first until one
 *       comes back. The loop sleeps in the consumer's poll (1 ms at most)
 *       between sends, so it does not spin on a CPU the broker needs. Prints "n=N p50_us=A p99_us=B max_us=C".
 * Every wait is bounded; exit status 0 on success, 1 on any error.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEADLINE_S 300.0

static long delivered, failed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(const char *broker)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", broker) || conf_set(conf, "log_level", "3") ||
        conf_set(conf, "broker.address.family", "v4")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    rd_kafka_t *rk;
    if (!conf)
        return NULL;
    rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ < 5)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    delivered++;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Until the broker's metadata shows the topic with a leader for each of
 * its partitions (at most 30 s): a client started next finds it ready. */
static int wait_leaders(rd_kafka_t *rk, const char *topic, int partitions)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    double deadline = now_s() + 30;
    int ok = 0;
    while (rkt && !ok && now_s() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ok = md->topic_cnt == 1 && !md->topics[0].err &&
                 md->topics[0].partition_cnt == partitions;
            for (int p = 0; ok && p < partitions; p++)
                ok = !md->topics[0].partitions[p].err && md->topics[0].partitions[p].leader >= 0;
            rd_kafka_metadata_destroy(md);
        }
        if (!ok) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (!ok)
        fprintf(stderr, "create %s: no leader for every partition in 30 s\n", topic);
    return ok ? 0 : -1;
}

/* Create (and wait for its leaders) or delete one topic; waits at most
 * 30 s for the result. */
static int admin(const char *broker, const char *topic, int partitions, int create)
{
    char err[512];
    int rc = 1;
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, base_conf(broker));
    if (!rk)
        return 1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_DeleteTopic_t *dt = NULL;
    if (create) {
        nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
        if (!nt) {
            fprintf(stderr, "NewTopic: %s\n", err);
            goto out;
        }
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    } else {
        dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        fprintf(stderr, "%s %s: no answer in 30 s\n", create ? "create" : "delete", topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s %s: %s\n", create ? "create" : "delete", topic,
                rd_kafka_event_error_string(ev));
    } else {
        const rd_kafka_topic_result_t **res;
        size_t n = 0;
        if (create)
            res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        else
            res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (rd_kafka_topic_result_error(res[i])) {
                fprintf(stderr, "%s %s: %s\n", create ? "create" : "delete",
                        rd_kafka_topic_result_name(res[i]), rd_kafka_topic_result_error_string(res[i]));
                rc = 1;
            }
        }
        if (n != 1)
            rc = 1;
    }
    rd_kafka_event_destroy(ev);
    if (create && rc == 0 && wait_leaders(rk, topic, partitions))
        rc = 1;
out:
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static rd_kafka_t *new_producer(const char *broker, const char *acks, const char *linger)
{
    rd_kafka_conf_t *conf = base_conf(broker);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    if (conf_set(conf, "acks", acks) || conf_set(conf, "queue.buffering.max.messages", "500000") ||
        conf_set(conf, "queue.buffering.max.kbytes", "524288") ||
        (linger && conf_set(conf, "linger.ms", linger))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return new_client(RD_KAFKA_PRODUCER, conf);
}

static void print_rate(long n, size_t size, double secs)
{
    if (secs <= 0)
        secs = 1e-9;
    printf("msgs=%ld secs=%.3f msgs/s=%.0f MB/s=%.2f\n", n, secs, (double)n / secs,
           (double)n * (double)size / secs / 1e6);
}

static int produce(const char *broker, const char *topic, int parts, long count, size_t size,
                   const char *acks)
{
    rd_kafka_t *rk = new_producer(broker, acks, NULL);
    if (!rk)
        return 1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    unsigned char *buf = malloc(size);
    int rc = 1;
    if (!buf || !rkt)
        goto out;
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)('a' + (i * 7 + i / 13) % 26);
    /* The topic's metadata first, so that timing starts with a known leader. */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "metadata of %s failed\n", topic);
        goto out;
    }
    rd_kafka_metadata_destroy(md);
    double t0 = now_s(), deadline = t0 + DEADLINE_S;
    for (long i = 0; i < count && !failed;) {
        put_u64(buf, (uint64_t)i);
        if (rd_kafka_produce(rkt, (int32_t)(i % parts), RD_KAFKA_MSG_F_COPY, buf, size, NULL, 0,
                             NULL) == 0) {
            i++;
            continue;
        }
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        rd_kafka_poll(rk, 5);
        if (now_s() > deadline) {
            fprintf(stderr, "produce: not done in %.0f s\n", DEADLINE_S);
            goto out;
        }
    }
    while (delivered + failed < count && now_s() < deadline)
        rd_kafka_poll(rk, 5);
    double t1 = now_s();
    if (delivered != count || failed) {
        fprintf(stderr, "produce: %ld of %ld delivered, %ld failed\n", delivered, count, failed);
        goto out;
    }
    print_rate(count, size, t1 - t0);
    rc = 0;
out:
    free(buf);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    return rc;
}

static rd_kafka_t *new_consumer(const char *broker, const char *topic, int parts)
{
    rd_kafka_conf_t *conf = base_conf(broker);
    if (!conf)
        return NULL;
    if (conf_set(conf, "group.id", "klog-peer-bench") || conf_set(conf, "enable.auto.commit", "false") ||
        conf_set(conf, "fetch.wait.max.ms", "100")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(tp, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    if (err) {
        fprintf(stderr, "assign: %s\n", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static int consume(const char *broker, const char *topic, int parts, long count, size_t size)
{
    rd_kafka_t *rk = new_consumer(broker, topic, parts);
    if (!rk)
        return 1;
    int64_t *last = calloc((size_t)parts, sizeof *last);
    long got = 0, bad = 0;
    double t0 = 0, t1 = 0, deadline = now_s() + DEADLINE_S;
    for (int p = 0; last && p < parts; p++)
        last[p] = -1;
    while (last && got < count && !bad && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && bad++ < 5)
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        } else if (m->len != size || m->partition < 0 || m->partition >= parts ||
                   (int64_t)get_u64(m->payload) <= last[m->partition]) {
            if (bad++ < 5)
                fprintf(stderr, "consume: unexpected record at %d/%" PRId64 "\n", m->partition,
                        m->offset);
        } else {
            last[m->partition] = (int64_t)get_u64(m->payload);
            if (got++ == 0)
                t0 = now_s();
            t1 = now_s();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(last);
    if (got != count || bad) {
        fprintf(stderr, "consume: %ld of %ld records, %ld bad\n", got, count, bad);
        return 1;
    }
    /* One record's interval short of the count: the clock starts at the first. */
    print_rate(count - 1, size, t1 - t0);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int latency(const char *broker, const char *topic, long count, size_t size, const char *acks,
                   double rate)
{
    if (size < 16 || rate <= 0)
        return 1;
    rd_kafka_t *pr = new_producer(broker, acks, "0");
    rd_kafka_t *co = pr ? new_consumer(broker, topic, 1) : NULL;
    rd_kafka_topic_t *rkt = co ? rd_kafka_topic_new(pr, topic, NULL) : NULL;
    unsigned char *buf = malloc(size);
    double *lat = malloc((size_t)count * sizeof *lat);
    long sent = 0, got = 0, bad = 0, warm = 0;
    int rc = 1;
    if (!rkt || !buf || !lat)
        goto out;
    memset(buf, 'x', size);
    /* Warm-up: records with sequence number 2^63 | i until one comes back. */
    double deadline = now_s() + 60;
    int warmed = 0;
    while (!warmed && now_s() < deadline) {
        put_u64(buf, (UINT64_C(1) << 63) | (uint64_t)warm++);
        rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, buf, size, NULL, 0, NULL);
        rd_kafka_poll(pr, 0);
        double until = now_s() + 0.05;
        while (!warmed && now_s() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(co, 10);
            if (m) {
                warmed = !m->err;
                rd_kafka_message_destroy(m);
            }
        }
    }
    if (!warmed) {
        fprintf(stderr, "latency: no warm-up record came back in 60 s\n");
        goto out;
    }
    double t0 = now_s(), interval = 1.0 / rate;
    deadline = t0 + (double)count / rate + 60;
    while (got < count && now_s() < deadline && bad < 5) {
        double t = now_s();
        if (sent < count && t >= t0 + (double)sent * interval) {
            put_u64(buf, (uint64_t)sent);
            memcpy(buf + 8, &t, sizeof t);
            if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, buf, size, NULL, 0, NULL) == 0)
                sent++;
            rd_kafka_poll(pr, 0);
        }
        /* Waits at most 1 ms (a record arriving ends it): no busy loop
         * taking a CPU from the broker; a record may go out up to 1 ms
         * late, its latency is from when it did. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(co, 1);
        if (!m) {
            rd_kafka_poll(pr, 0);
            continue;
        }
        if (!m->err && m->len == size) {
            uint64_t seq = get_u64(m->payload);
            if (!(seq >> 63)) {
                double ts;
                memcpy(&ts, (const unsigned char *)m->payload + 8, sizeof ts);
                if ((long)seq != got)
                    bad++;
                else
                    lat[got++] = (now_s() - ts) * 1e6;
            }
        } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "latency consume: %s\n", rd_kafka_message_errstr(m));
            bad++;
        }
        rd_kafka_message_destroy(m);
    }
    if (got != count || failed || bad) {
        fprintf(stderr, "latency: %ld of %ld back, %ld failed, %ld bad\n", got, count, failed, bad);
        goto out;
    }
    qsort(lat, (size_t)count, sizeof *lat, cmp_double);
    printf("n=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f\n", count, lat[(count - 1) / 2],
           lat[(long)((double)(count - 1) * 0.99)], lat[count - 1]);
    rc = 0;
out:
    free(buf);
    free(lat);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (co) {
        rd_kafka_consumer_close(co);
        rd_kafka_destroy(co);
    }
    if (pr) {
        rd_kafka_flush(pr, 10000);
        rd_kafka_destroy(pr);
    }
    return rc;
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bad number '%s' (%ld..%ld)\n", s, lo, hi);
        exit(1);
    }
    return v;
}

static const char *acks_of(const char *s)
{
    if (strcmp(s, "1") && strcmp(s, "all")) {
        fprintf(stderr, "acks must be 1 or all, not '%s'\n", s);
        exit(1);
    }
    return s;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (!strcmp(cmd, "create") && argc == 5)
        return admin(argv[2], argv[3], (int)num(argv[4], 1, 1000), 1);
    if (!strcmp(cmd, "delete") && argc == 4)
        return admin(argv[2], argv[3], 0, 0);
    if (!strcmp(cmd, "produce") && argc == 8)
        return produce(argv[2], argv[3], (int)num(argv[4], 1, 1000), num(argv[5], 1, 100000000),
                       (size_t)num(argv[6], 8, 1000000), acks_of(argv[7]));
    if (!strcmp(cmd, "consume") && argc == 7)
        return consume(argv[2], argv[3], (int)num(argv[4], 1, 1000), num(argv[5], 2, 100000000),
                       (size_t)num(argv[6], 8, 1000000));
    if (!strcmp(cmd, "latency") && argc == 8)
        return latency(argv[2], argv[3], num(argv[4], 1, 10000000), (size_t)num(argv[5], 16, 1000000),
                       acks_of(argv[6]), (double)num(argv[7], 1, 1000000));
    fprintf(stderr,
            "usage: rdk_peer create BROKER TOPIC PARTITIONS | delete BROKER TOPIC\n"
            "     | produce BROKER TOPIC PARTITIONS COUNT SIZE ACKS\n"
            "     | consume BROKER TOPIC PARTITIONS COUNT SIZE\n"
            "     | latency BROKER TOPIC COUNT SIZE ACKS RATE\n");
    return 2;
}
