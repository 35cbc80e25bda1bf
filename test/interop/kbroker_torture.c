/*
 * kbroker_torture.c — the librdkafka clients of test/t_kbroker_torture.sh
 * (issue 21 item 14: kbroker tortured as Jepsen would). Not built by the
 * Makefile (it needs -lrdkafka): the script compiles it.
 *
 *   produce BROKER TOPIC COUNT ACKLOG RATE [plain]
 *       At RATE records per second (0: as fast as it can), an idempotent
 *       producer (enable.idempotence=true, acks=all; "plain"
 *       turns idempotence off) sends values "v0" .. "v<COUNT-1>" with keys
 *       "k<i>" (spread over the partitions by key), retrying through broker
 *       restarts. Every acknowledged delivery is appended to ACKLOG as
 *       "PARTITION OFFSET VALUE" and flushed before the next report.
 *       Exit 0 when every message was acknowledged, 1 otherwise (a failed
 *       delivery or a fatal error is printed).
 *   consume BROKER GROUP TOPIC LOG
 *       A group member (subscribe, manual commits) that appends every
 *       record it is given to LOG as "PARTITION OFFSET VALUE", and every
 *       100 records (and on SIGTERM, before it leaves) commits the
 *       positions it has delivered, synchronously; each acknowledged
 *       commit is appended as "commit PARTITION OFFSET". Runs until
 *       SIGTERM (exit 0) or a fatal error (exit 1).
 *   committed BROKER GROUP TOPIC PARTITIONS
 *       Print the group's committed offset of each partition,
 *       "PARTITION OFFSET" (-1001 when none).
 * Every wait is bounded.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static FILE *out_log;
static long acked, failed;

static rd_kafka_conf_t *base_conf(const char *broker)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", broker, err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", "10000", err, sizeof err) ||
        rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "500", err, sizeof err)) {
        fprintf(stderr, "conf: %s\n", err);
        exit(2);
    }
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err)) {
        fprintf(stderr, "conf %s: %s\n", k, err);
        exit(2);
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (failed++ < 10)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    fprintf(out_log, "%" PRId32 " %" PRId64 " %.*s\n", m->partition, m->offset, (int)m->len,
            (const char *)m->payload);
    fflush(out_log);
    acked++;
}

static int fatal(rd_kafka_t *rk)
{
    char why[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, why, sizeof why);
    if (e)
        fprintf(stderr, "fatal error: %s: %s\n", rd_kafka_err2name(e), why);
    return e != 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int produce(const char *broker, const char *topic, long count, long rate, int idempotent)
{
    double t0 = now_s();
    rd_kafka_conf_t *conf = base_conf(broker);
    set(conf, "enable.idempotence", idempotent ? "true" : "false");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "message.timeout.ms", "240000");
    set(conf, "retry.backoff.ms", "100");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "producer: %s\n", err);
        return 1;
    }
    for (long i = 0; i < count && !fatal(rk); i++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof k, "k%ld", i), vl = snprintf(v, sizeof v, "v%ld", i);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(k, (size_t)kl),
                RD_KAFKA_V_VALUE(v, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 50);
        }
        rd_kafka_poll(rk, 0);
        while (rate > 0 && now_s() - t0 < (double)i / (double)rate)
            rd_kafka_poll(rk, 5);
    }
    rd_kafka_flush(rk, 250000);
    int bad = fatal(rk) || failed || acked != count;
    if (bad)
        fprintf(stderr, "acknowledged %ld of %ld, %ld failed, %d in queue\n", acked, count,
                failed, rd_kafka_outq_len(rk));
    rd_kafka_destroy(rk);
    return bad;
}

/* Commit the positions delivered so far; log what the broker acknowledged. */
static void commit_positions(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts;
    if (rd_kafka_assignment(rk, &parts))
        return;
    if (parts->cnt > 0 && rd_kafka_position(rk, parts) == 0) {
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(c, parts->elems[i].topic,
                                                  parts->elems[i].partition)
                    ->offset = parts->elems[i].offset;
        if (c->cnt > 0) {
            rd_kafka_resp_err_t e = rd_kafka_commit(rk, c, 0);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                for (int i = 0; i < c->cnt; i++)
                    if (!c->elems[i].err)
                        fprintf(out_log, "commit %" PRId32 " %" PRId64 "\n",
                                c->elems[i].partition, c->elems[i].offset);
                fflush(out_log);
            }
        }
        rd_kafka_topic_partition_list_destroy(c);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static rd_kafka_t *consumer(const char *broker, const char *group)
{
    rd_kafka_conf_t *conf = base_conf(broker);
    set(conf, "group.id", group);
    set(conf, "enable.auto.commit", "false");
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "session.timeout.ms", "6000");
    set(conf, "heartbeat.interval.ms", "500");
    set(conf, "fetch.wait.max.ms", "100");
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "consumer: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static int consume(const char *broker, const char *group, const char *topic)
{
    rd_kafka_t *rk = consumer(broker, group);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, sub)) {
        fprintf(stderr, "subscribe failed\n");
        return 1;
    }
    rd_kafka_topic_partition_list_destroy(sub);
    long n = 0;
    while (!stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) { /* idle: what was given is on record, and committed */
            if (n % 100) {
                fflush(out_log);
                commit_positions(rk);
                n += 100 - n % 100;
            }
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && n < 1000000)
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            fprintf(out_log, "%" PRId32 " %" PRId64 " %.*s\n", m->partition, m->offset,
                    (int)m->len, (const char *)m->payload);
            if (++n % 100 == 0) {
                fflush(out_log);
                commit_positions(rk);
            }
        }
        rd_kafka_message_destroy(m);
        if (fatal(rk))
            return 1;
    }
    fflush(out_log);
    commit_positions(rk);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

static int committed(const char *broker, const char *group, const char *topic, int nparts)
{
    rd_kafka_t *rk = consumer(broker, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 30000);
    if (e) {
        fprintf(stderr, "committed: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    for (int i = 0; i < l->cnt; i++)
        printf("%" PRId32 " %" PRId64 "\n", l->elems[i].partition, l->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    if (argc >= 7 && strcmp(argv[1], "produce") == 0) {
        if (!(out_log = fopen(argv[5], "a")))
            return 2;
        return produce(argv[2], argv[3], atol(argv[4]), atol(argv[6]),
                       !(argc > 7 && !strcmp(argv[7], "plain")));
    }
    if (argc == 6 && strcmp(argv[1], "consume") == 0) {
        if (!(out_log = fopen(argv[5], "a")))
            return 2;
        return consume(argv[2], argv[3], argv[4]);
    }
    if (argc == 6 && strcmp(argv[1], "committed") == 0)
        return committed(argv[2], argv[3], argv[4], atoi(argv[5]));
    fprintf(stderr, "usage: see kbroker_torture.c\n");
    return 2;
}
