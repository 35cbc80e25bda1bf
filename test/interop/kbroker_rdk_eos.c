/*
 * kbroker_rdk_eos.c — librdkafka idempotent and transactional producers and
 * a read_committed checker, for test/t_kbroker_idem.sh and
 * test/t_kbroker_txn.sh. Not built by the Makefile (it needs -lrdkafka):
 * the scripts compile it with `cc ... $(pkg-config --cflags --libs rdkafka)`.
 *
 * Record values are decimal sequence numbers; record s goes to partition
 * s % PARTS, so each partition must hold its numbers in increasing order.
 *
 *   idem BROKER TOPIC PARTS COUNT
 *       enable.idempotence=true, acks=all, retrying without limit (the
 *       broker may be killed and restarted meanwhile). Prints "progress N"
 *       every 10000 deliveries and "delivered N" at the end; exit 1 on any
 *       failed delivery.
 *   txn BROKER TOPIC PARTS COUNT STRIDE TXNID GROUP
 *       transactional.id=TXNID: transactions of STRIDE records each; the
 *       even-numbered ones commit, with send_offsets_to_transaction of
 *       offset (txn number + 1) on GROUP's partition "src"[0]; the odd
 *       ones abort. Prints "committed N aborted M".
 *   open BROKER TOPIC PARTS FIRST N TXNID TIMEOUT_MS
 *       begin a transaction (transaction.timeout.ms=TIMEOUT_MS), produce
 *       records FIRST..FIRST+N-1 and flush them, print "open", then wait
 *       up to 60 s for stdin to close; then try to commit and print
 *       "commit: <error name>" (NO_ERROR if it committed).
 *   fence BROKER TOPIC PARTS FIRST N TXNID
 *       producer A begins a transaction with records FIRST..FIRST+N-1,
 *       producer B inits the same TXNID (which must abort A's open
 *       transaction and fence A); A's commit must fail as fenced, B then
 *       commits records FIRST+N..FIRST+2N-1. Prints "fenced".
 *   check BROKER TOPIC PARTS COUNT STRIDE
 *       read every partition from the start with isolation.level
 *       read_committed up to partition EOF; the values read must be
 *       exactly those s < COUNT with STRIDE == 0 or (s / STRIDE) even,
 *       each once, in increasing order per partition on partition
 *       s % PARTS. Prints "checked N".
 *   committed BROKER GROUP
 *       print the committed offset of GROUP on "src"[0] ("committed O").
 * Every wait is bounded.
 */
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long delivered, failed;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s\n", what, why);
    exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err))
        die(k, err);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        return; /* an aborted transaction's */
    if (m->err) {
        if (failed++ < 5)
            fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    if (++delivered % 10000 == 0 && !opaque) {
        printf("progress %ld\n", delivered);
        fflush(stdout);
    }
}

static rd_kafka_t *producer(const char *broker, const char *txnid, const char *timeout_ms,
                            int quiet)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", broker);
    set(conf, "log_level", "3");
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "5");
    set(conf, "message.timeout.ms", "0"); /* never give up: the broker comes back */
    set(conf, "reconnect.backoff.max.ms", "200");
    if (txnid) {
        set(conf, "transactional.id", txnid);
        set(conf, "transaction.timeout.ms", timeout_ms ? timeout_ms : "60000");
        set(conf, "message.timeout.ms", timeout_ms ? timeout_ms : "30000");
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, quiet ? (void *)1 : NULL);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        die("rd_kafka_new", err);
    return rk;
}

static void send_one(rd_kafka_t *rk, const char *topic, long parts, long s)
{
    char val[32];
    int vl = snprintf(val, sizeof val, "%ld", s);
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(s % parts)),
            RD_KAFKA_V_VALUE(val, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (!e)
            break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 60000)
            die("producev", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
}

static int idem(const char *broker, const char *topic, long parts, long count)
{
    rd_kafka_t *rk = producer(broker, NULL, NULL, 0);
    for (long s = 0; s < count; s++)
        send_one(rk, topic, parts, s);
    for (int i = 0; i < 600 && rd_kafka_outq_len(rk) > 0; i++)
        rd_kafka_flush(rk, 1000);
    char err[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(rk, err, sizeof err);
    rd_kafka_destroy(rk);
    printf("delivered %ld\n", delivered);
    if (fe || failed || delivered != count) {
        fprintf(stderr, "fatal %s, %ld delivered of %ld, %ld failed\n",
                fe ? err : "none", delivered, count, failed);
        return 1;
    }
    return 0;
}

static void txn_ok(rd_kafka_error_t *e, const char *what)
{
    if (!e)
        return;
    fprintf(stderr, "%s: %s (%s)\n", what, rd_kafka_error_string(e), rd_kafka_error_name(e));
    exit(1);
}

static void send_offsets(rd_kafka_t *rk, const char *group, int64_t off)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "src", 0)->offset = off;
    rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata_new(group);
    txn_ok(rd_kafka_send_offsets_to_transaction(rk, l, md, 30000), "send_offsets_to_transaction");
    rd_kafka_consumer_group_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(l);
}

static int txn(const char *broker, const char *topic, long parts, long count, long stride,
               const char *txnid, const char *group)
{
    rd_kafka_t *rk = producer(broker, txnid, NULL, 1);
    txn_ok(rd_kafka_init_transactions(rk, 30000), "init_transactions");
    long committed = 0, aborted = 0;
    for (long t = 0; t * stride < count; t++) {
        txn_ok(rd_kafka_begin_transaction(rk), "begin_transaction");
        for (long s = t * stride; s < (t + 1) * stride && s < count; s++)
            send_one(rk, topic, parts, s);
        if (t % 2 == 0) {
            send_offsets(rk, group, t + 1);
            txn_ok(rd_kafka_commit_transaction(rk, 30000), "commit_transaction");
            committed++;
        } else {
            txn_ok(rd_kafka_abort_transaction(rk, 30000), "abort_transaction");
            aborted++;
        }
    }
    rd_kafka_destroy(rk);
    printf("committed %ld aborted %ld\n", committed, aborted);
    return failed ? 1 : 0;
}

static int open_txn(const char *broker, const char *topic, long parts, long first, long n,
                    const char *txnid, const char *timeout_ms)
{
    rd_kafka_t *rk = producer(broker, txnid, timeout_ms, 1);
    txn_ok(rd_kafka_init_transactions(rk, 30000), "init_transactions");
    txn_ok(rd_kafka_begin_transaction(rk), "begin_transaction");
    for (long s = first; s < first + n; s++)
        send_one(rk, topic, parts, s);
    rd_kafka_flush(rk, 30000);
    printf("open\n");
    fflush(stdout);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    char buf[64];
    for (int i = 0; i < 600; i++) {
        rd_kafka_poll(rk, 0);
        if (poll(&p, 1, 100) > 0 && read(0, buf, sizeof buf) <= 0)
            break;
    }
    rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 10000);
    printf("commit: %s\n", e ? rd_kafka_error_name(e) : "NO_ERROR");
    if (e)
        rd_kafka_error_destroy(e);
    rd_kafka_destroy(rk);
    return 0;
}

static int fence(const char *broker, const char *topic, long parts, long first, long n,
                 const char *txnid)
{
    rd_kafka_t *a = producer(broker, txnid, NULL, 1);
    txn_ok(rd_kafka_init_transactions(a, 30000), "A init_transactions");
    txn_ok(rd_kafka_begin_transaction(a), "A begin_transaction");
    for (long s = first; s < first + n; s++)
        send_one(a, topic, parts, s);
    rd_kafka_flush(a, 30000);
    rd_kafka_t *b = producer(broker, txnid, NULL, 1);
    txn_ok(rd_kafka_init_transactions(b, 30000), "B init_transactions");
    rd_kafka_error_t *e = rd_kafka_commit_transaction(a, 10000);
    if (!e)
        die("A commit_transaction", "succeeded although fenced");
    char err[512];
    int fatal = rd_kafka_fatal_error(a, err, sizeof err) == RD_KAFKA_RESP_ERR__FENCED ||
                rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED ||
                rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
    if (!fatal)
        die("A commit_transaction: not fenced", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    rd_kafka_destroy(a);
    txn_ok(rd_kafka_begin_transaction(b), "B begin_transaction");
    for (long s = first + n; s < first + 2 * n; s++)
        send_one(b, topic, parts, s);
    txn_ok(rd_kafka_commit_transaction(b, 30000), "B commit_transaction");
    rd_kafka_destroy(b);
    printf("fenced\n");
    return 0;
}

static rd_kafka_t *consumer(const char *broker, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", broker);
    set(conf, "log_level", "3");
    set(conf, "group.id", group);
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.partition.eof", "true");
    set(conf, "isolation.level", "read_committed");
    set(conf, "fetch.wait.max.ms", "50");
    set(conf, "check.crcs", "true");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        die("rd_kafka_new", err);
    return rk;
}

static int check(const char *broker, const char *topic, long parts, long count, long stride)
{
    rd_kafka_t *rk = consumer(broker, "kbroker-eos-check");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)parts);
    for (long p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, (int32_t)p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, l))
        die("assign", "failed");
    rd_kafka_topic_partition_list_destroy(l);
    unsigned char *seen = calloc((size_t)count, 1);
    long *last = malloc((size_t)parts * sizeof *last);
    for (long p = 0; p < parts; p++)
        last[p] = -1;
    long eofs = 0, got = 0, bad = 0;
    double t0 = (double)time(NULL);
    while (eofs < parts && (double)time(NULL) - t0 < 120) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            die("consume", rd_kafka_message_errstr(m));
        } else {
            char buf[32];
            size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
            memcpy(buf, m->payload, n);
            buf[n] = '\0';
            long s = strtol(buf, NULL, 10);
            int want = s >= 0 && s < count && (stride == 0 || (s / stride) % 2 == 0);
            if (!want || seen[s] || s % parts != m->partition || s <= last[m->partition]) {
                if (bad++ < 5)
                    fprintf(stderr, "record %ld at %s[%d]@%" PRId64 ": %s\n", s, topic,
                            m->partition, m->offset,
                            !want ? "not expected" : seen[s] ? "twice" : "out of order");
            } else {
                seen[s] = 1;
                got++;
            }
            if (s >= 0 && s % parts == m->partition)
                last[m->partition] = s;
        }
        rd_kafka_message_destroy(m);
    }
    long want = 0;
    for (long s = 0; s < count; s++)
        if (stride == 0 || (s / stride) % 2 == 0) {
            want++;
            if (!seen[s] && bad++ < 10)
                fprintf(stderr, "record %ld missing\n", s);
        }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    printf("checked %ld\n", got);
    if (bad || got != want || eofs < parts) {
        fprintf(stderr, "%ld records of %ld wanted, %ld bad, %ld of %ld partitions at EOF\n", got,
                want, bad, eofs, parts);
        return 1;
    }
    return 0;
}

static int committed(const char *broker, const char *group)
{
    rd_kafka_t *rk = consumer(broker, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "src", 0);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, 30000);
    if (e)
        die("committed", rd_kafka_err2str(e));
    printf("committed %" PRId64 "\n", l->elems[0].offset);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && !strcmp(argv[1], "idem"))
        return idem(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
    if (argc >= 9 && !strcmp(argv[1], "txn"))
        return txn(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]), argv[7],
                   argv[8]);
    if (argc >= 9 && !strcmp(argv[1], "open"))
        return open_txn(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]), argv[7],
                        argv[8]);
    if (argc >= 8 && !strcmp(argv[1], "fence"))
        return fence(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]), argv[7]);
    if (argc >= 7 && !strcmp(argv[1], "check"))
        return check(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atol(argv[6]));
    if (argc >= 4 && !strcmp(argv[1], "committed"))
        return committed(argv[2], argv[3]);
    fprintf(stderr, "usage: see the comment at the top of kbroker_rdk_eos.c\n");
    return 2;
}
