/*
 * kbroker_rdk_client.c — a librdkafka client for kbroker's tests and
 * benchmark. Not built by the Makefile (it needs -lrdkafka): the scripts
 * compile it with `cc ... $(pkg-config --cflags --libs rdkafka)`.
 *
 *   produce BROKER TOPIC PARTITION COUNT [VALUE_SIZE]
 *       Produce COUNT messages key "k<i>", value "v<i>" padded with '.' to
 *       VALUE_SIZE bytes (if given), acks=all. Checks every delivery report:
 *       no error, and offsets consecutive in production order (the
 *       broker's base_offset + index). Prints "first=F last=L msgs/s=R".
 *   consume BROKER TOPIC PARTITION OFFSET COUNT [quiet]
 *       assign() the partition at OFFSET (group.id set, no commits), read
 *       until COUNT messages or partition EOF, print "offset\tkey\tvalue"
 *       per message (unless quiet) and "consumed=N msgs/s=R" on stderr.
 * Exit status 0 on success, 1 on any error; every wait is bounded.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t expect_next = -1;
static long delivered, failed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
    if (expect_next >= 0 && m->offset != expect_next) {
        if (failed++ < 5)
            fprintf(stderr, "delivery offset %" PRId64 ", expected %" PRId64 "\n", m->offset,
                    expect_next);
    }
    if (delivered == 0)
        printf("first=%" PRId64 " ", m->offset);
    expect_next = m->offset + 1;
    delivered++;
}

static rd_kafka_conf_t *base_conf(const char *broker)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", broker, err, sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err)) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        exit(1);
    }
}

static int produce(const char *broker, const char *topic, int32_t part, long count, long vsize)
{
    char err[512];
    rd_kafka_conf_t *conf = base_conf(broker);
    set(conf, "acks", "all");
    set(conf, "message.timeout.ms", "30000");
    set(conf, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *val = malloc((size_t)vsize + 64);
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "k%ld", i);
        int vl = snprintf(val, 64, "v%ld", i);
        if (vl < vsize) {
            memset(val + vl, '.', (size_t)(vsize - vl));
            vl = (int)vsize;
        }
        for (int tries = 0;; tries++) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                RD_KAFKA_V_KEY(key, (size_t)kl), RD_KAFKA_V_VALUE(val, (size_t)vl),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!e)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 3000) {
                fprintf(stderr, "producev: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 10);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 60000);
    double dt = now_s() - t0;
    free(val);
    rd_kafka_destroy(rk);
    printf("last=%" PRId64 " msgs/s=%.0f\n", expect_next - 1, count / dt);
    if (fe || failed || delivered != count) {
        fprintf(stderr, "flush %s, %ld delivered of %ld, %ld errors\n", rd_kafka_err2str(fe),
                delivered, count, failed);
        return 1;
    }
    return 0;
}

static int consume(const char *broker, const char *topic, int32_t part, int64_t off, long count,
                   int quiet)
{
    char err[512];
    rd_kafka_conf_t *conf = base_conf(broker);
    set(conf, "group.id", "kbroker-test");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "true");
    set(conf, "fetch.wait.max.ms", "50");
    set(conf, "check.crcs", "true");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, part)->offset = off;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        fprintf(stderr, "assign: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    long n = 0;
    int rc = 0;
    double t0 = now_s(), deadline = t0 + 120;
    while (n < count && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err) {
            fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            rc = 1;
            break;
        }
        if (!quiet)
            printf("%" PRId64 "\t%.*s\t%.*s\n", m->offset, (int)m->key_len, (const char *)m->key,
                   (int)m->len, (const char *)m->payload);
        n++;
        rd_kafka_message_destroy(m);
    }
    double dt = now_s() - t0;
    fprintf(stderr, "consumed=%ld msgs/s=%.0f\n", n, n / dt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && !strcmp(argv[1], "produce"))
        return produce(argv[2], argv[3], atoi(argv[4]), atol(argv[5]),
                       argc > 6 ? atol(argv[6]) : 0);
    if (argc >= 7 && !strcmp(argv[1], "consume"))
        return consume(argv[2], argv[3], atoi(argv[4]), atoll(argv[5]), atol(argv[6]),
                       argc > 7 && !strcmp(argv[7], "quiet"));
    fprintf(stderr, "usage: %s produce BROKER TOPIC PART COUNT [VALUE_SIZE]\n"
                    "       %s consume BROKER TOPIC PART OFFSET COUNT [quiet]\n",
            argv[0], argv[0]);
    return 2;
}
