/*
 * kbroker_rdk_group.c — librdkafka's high-level (group) consumer against
 * kbroker, for t_kbroker_groups.sh. Not built by the Makefile (it needs
 * -lrdkafka): the script compiles it with pkg-config.
 *
 *   kbroker_rdk_group BROKER GROUP TOPIC COUNT
 *       subscribe() to TOPIC in GROUP (auto.offset.reset=earliest, no
 *       auto-commit), consume COUNT messages, commit them synchronously
 *       (rd_kafka_commit of the consumed positions), close. Prints one
 *       "partition offset value" line per message. Fails if COUNT messages
 *       do not arrive within 60 s.
 * Exit status 0 on success, 1 on any error.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s BROKER GROUP TOPIC COUNT\n", argv[0]);
        return 1;
    }
    long want = atol(argv[4]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[1]) || set(conf, "group.id", argv[2]) ||
        set(conf, "auto.offset.reset", "earliest") || set(conf, "enable.auto.commit", "false") ||
        set(conf, "session.timeout.ms", "6000") || set(conf, "fetch.wait.max.ms", "50") ||
        set(conf, "log_level", "3"))
        return 1;
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, argv[3], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
        return 1;
    }
    long got = 0;
    int status = 0;
    time_t deadline = time(NULL) + 60;
    while (got < want && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            printf("%" PRId32 " %" PRId64 " %.*s\n", m->partition, m->offset, (int)m->len,
                   (const char *)m->payload);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    if (got < want) {
        fprintf(stderr, "consumed %ld of %ld messages in 60 s\n", got, want);
        status = 1;
    }
    e = rd_kafka_commit(rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        fprintf(stderr, "commit: %s\n", rd_kafka_err2str(e));
        status = 1;
    }
    e = rd_kafka_consumer_close(rk);
    if (e) {
        fprintf(stderr, "close: %s\n", rd_kafka_err2str(e));
        status = 1;
    }
    rd_kafka_destroy(rk);
    return status;
}
