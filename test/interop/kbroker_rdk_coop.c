/*
 * kbroker_rdk_coop.c — librdkafka's high-level consumer with a chosen
 * partition.assignment.strategy against kbroker, for t_kbroker_coop.sh. Not
 * built by the Makefile (it needs -lrdkafka): the script compiles it.
 *
 *   kbroker_rdk_coop BROKER GROUP TOPIC STRATEGY IDLE_MS STOPFILE
 *       subscribe() to TOPIC in GROUP with STRATEGY (cooperative-sticky,
 *       range, roundrobin), auto.offset.reset=earliest, no auto-commit.
 *       Each message is printed as "rec PARTITION OFFSET VALUE" and then
 *       committed synchronously (before the next poll, so a partition that
 *       moves carries its exact position). A commit a rebalance overtook
 *       (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, as
 *       Kafka answers it too) prints "uncommitted PARTITION OFFSET VALUE":
 *       the next owner may read that record again. Every rebalance prints
 *       "assigned P,..." or "revoked P,..." (the incremental sets with
 *       cooperative-sticky, the whole assignment with the eager ones) and
 *       "protocol NAME" (rd_kafka_rebalance_protocol). Runs until STOPFILE
 *       exists and nothing arrived for IDLE_MS, then prints "leaving" and
 *       closes (leaving the group). Gives up after 120 s.
 * Exit status 0, or 1 on any error (printed on stderr).
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failed;

static int set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

static void print_parts(const char *what, const rd_kafka_topic_partition_list_t *l)
{
    printf("%s ", what);
    if (l->cnt == 0)
        printf("-");
    for (int i = 0; i < l->cnt; i++)
        printf("%s%" PRId32, i ? "," : "", l->elems[i].partition);
    printf("\n");
    fflush(stdout);
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    printf("protocol %s\n", rd_kafka_rebalance_protocol(rk));
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t re = 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        print_parts("assigned", parts);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            re = rd_kafka_assign(rk, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        print_parts("revoked", parts);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            re = rd_kafka_assign(rk, NULL);
    } else {
        fprintf(stderr, "rebalance error: %s\n", rd_kafka_err2str(err));
        rd_kafka_assign(rk, NULL);
        failed = 1;
    }
    if (e) {
        fprintf(stderr, "incremental (un)assign: %s\n", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        failed = 1;
    }
    if (re) {
        fprintf(stderr, "assign: %s\n", rd_kafka_err2str(re));
        failed = 1;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s BROKER GROUP TOPIC STRATEGY IDLE_MS STOPFILE\n", argv[0]);
        return 1;
    }
    int64_t idle = atol(argv[5]);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", argv[1]) || set(conf, "group.id", argv[2]) ||
        set(conf, "partition.assignment.strategy", argv[4]) ||
        set(conf, "auto.offset.reset", "earliest") || set(conf, "enable.auto.commit", "false") ||
        set(conf, "session.timeout.ms", "6000") || set(conf, "heartbeat.interval.ms", "300") ||
        set(conf, "fetch.wait.max.ms", "50") || set(conf, "log_level", "3"))
        return 1;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
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
    int64_t start = now_ms(), last = start;
    while (!failed) {
        if (now_ms() - start > 120000) {
            fprintf(stderr, "still running after 120 s\n");
            failed = 1;
            break;
        }
        if (now_ms() - last > idle && access(argv[6], F_OK) == 0)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            printf("rec %" PRId32 " %" PRId64 " %.*s\n", m->partition, m->offset, (int)m->len,
                   (const char *)m->payload);
            fflush(stdout);
            e = rd_kafka_commit_message(rk, m, 0);
            if (e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
                e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
                /* A rebalance overtook the commit (as with Kafka): the
                 * record may be read again by whoever owns it next. */
                printf("uncommitted %" PRId32 " %" PRId64 " %.*s (%s)\n", m->partition,
                       m->offset, (int)m->len, (const char *)m->payload, rd_kafka_err2name(e));
                fflush(stdout);
            } else if (e) {
                fprintf(stderr, "commit: %s\n", rd_kafka_err2str(e));
                failed = 1;
            }
            last = now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    printf("leaving\n");
    fflush(stdout);
    e = rd_kafka_consumer_close(rk);
    if (e) {
        fprintf(stderr, "close: %s\n", rd_kafka_err2str(e));
        failed = 1;
    }
    rd_kafka_destroy(rk);
    return failed;
}
