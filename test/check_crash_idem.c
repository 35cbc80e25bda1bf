/*
 * check_crash_idem.c — the kill -9 test with the idempotent producer: a
 * child process produces through klog_producer_t with
 * KLOG_CONF_ENABLE_IDEMPOTENCE = 1 and durable delivery to two partitions
 * (record k of a partition says "k" and is meant for offset k), reports
 * every record the durable callback confirmed through a pipe, now and then
 * replaces its producer (a new producer id, sequences from 0) or closes
 * and reopens the log, and is killed with SIGKILL at a random moment. The
 * parent reopens the log and requires, for each partition:
 *   - every record once, in order: record at offset o says "o" (none
 *     stored twice, none lost before a confirmed one);
 *   - every confirmed record present;
 *   - every batch stamped by a producer id, and per id sequences from 0
 *     without gap or repeat (+ records per batch), epoch 0;
 *   - an id never comes back once a later id wrote (ids unique across
 *     kill -9: klog_producer_id_alloc), which the next child relies on
 *     when it starts a new producer at sequence 0 on the recovered state.
 * $KLOG_STRESS_ROUNDS overrides the 12 rounds; $KLOG_TEST_SEED fixes the
 * random choices (printed with any failure).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_records.h"

char *recovery_tmpdir(const char *tag); /* check_recovery.c */

#define TOPIC "idem"
#define NPART 2
#define FRESH_EVERY 4
#define MAXPIDS 256

static int idem_open(const char *dir, klog_t **log)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    if (!(rc = klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 4096)) &&
        !(rc = klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 256)))
        rc = klog_open(dir, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

/* ------------------------------------------------------------ child */

static int ack_fd;

static void on_durable(void *ctx, const klog_record_t *rec, int32_t part, int64_t off, int err,
                       void *op)
{
    (void)ctx;
    if (err || off != (int64_t)(intptr_t)op || !rec->value || rec->value_len < 1)
        _exit(20);
    int64_t msg[2] = {part, off};
    if (write(ack_fd, msg, sizeof msg) != (ssize_t)sizeof msg) /* atomic: < PIPE_BUF */
        _exit(21);
}

static klog_producer_t *child_producer(klog_t *log, tu_rng_t *rng)
{
    klog_config_t *c;
    klog_producer_t *p;
    if (klog_config_new(&c) || klog_config_set(c, KLOG_CONF_ENABLE_IDEMPOTENCE, 1) ||
        klog_config_set(c, KLOG_CONF_DURABLE_DELIVERY, 1) ||
        klog_config_set(c, KLOG_CONF_LINGER_MS, 1) ||
        klog_config_set(c, KLOG_CONF_BATCH_RECORDS, 1 + (int64_t)tu_rng_below(rng, 8)) ||
        klog_producer_new(log, c, &p))
        _exit(12);
    klog_config_free(c);
    klog_producer_set_delivery(p, NULL, on_durable, NULL);
    return p;
}

static void child(const char *dir, int fd, uint64_t seed)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    ack_fd = fd;
    klog_t *log;
    if (idem_open(dir, &log))
        _exit(10);
    int64_t next[NPART];
    for (int32_t k = 0; k < NPART; k++) {
        klog_partition_t *p;
        klog_offsets_t of;
        if (klog_partition(log, TOPIC, k, &p) || klog_partition_offsets(p, &of))
            _exit(11);
        next[k] = of.log_end;
    }
    klog_producer_t *pr = child_producer(log, &rng);
    for (;;) {
        int32_t k = (int32_t)tu_rng_below(&rng, NPART);
        char v[32];
        int n = snprintf(v, sizeof v, "%lld", (long long)next[k]);
        klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                           .value = v, .value_len = n};
        if (klog_produce(pr, TOPIC, k, &r, (void *)(intptr_t)next[k]))
            _exit(13);
        next[k]++;
        uint32_t d = tu_rng_below(&rng, 400);
        if (d == 0) { /* a new producer: new id, sequences from 0 */
            if (klog_producer_close(pr))
                _exit(14);
            pr = child_producer(log, &rng);
        } else if (d == 1) { /* a clean close and reopen */
            if (klog_producer_close(pr) || klog_close(log) || idem_open(dir, &log))
                _exit(15);
            pr = child_producer(log, &rng);
        }
    }
}

/* ------------------------------------------------------------ parent */

/* Verify the reopened log; NULL or a malloc'd reason. */
static char *verify(const char *dir, const int64_t *acked)
{
    klog_t *log;
    int rc = idem_open(dir, &log);
    if (rc)
        return klog__asprintf("reopen: %s", klog_strerror(rc));
    char *why = NULL;
    klog_reader_t *r = NULL;
    for (int32_t k = 0; k < NPART && !why; k++) {
        klog_partition_t *p;
        klog_offsets_t of;
        if ((rc = klog_partition(log, TOPIC, k, &p)) || (rc = klog_partition_offsets(p, &of)) ||
            (rc = klog_reader_open(p, 0, &r))) {
            why = klog__asprintf("partition %d: %s", k, klog_strerror(rc));
            break;
        }
        if (of.log_end <= acked[k]) {
            why = klog__asprintf("partition %d: end %lld, confirmed up to %lld", k,
                                 (long long)of.log_end, (long long)acked[k]);
            break;
        }
        int64_t pids[MAXPIDS];
        int npids = 0;
        int32_t want_seq = 0;
        int64_t last_base = -1;
        klog_record_t rec;
        for (int64_t o = 0; o < of.log_end && !why; o++) {
            if ((rc = klog_reader_next(r, &rec)) != 1) {
                why = klog__asprintf("partition %d: read at %lld: %d", k, (long long)o, rc);
                break;
            }
            char v[32] = {0};
            memcpy(v, rec.value, rec.value_len < 31 ? (size_t)rec.value_len : 31);
            if (rec.offset != o || strtoll(v, NULL, 10) != o) {
                why = klog__asprintf("partition %d: offset %lld holds record \"%s\" (twice "
                                     "stored or lost)", k, (long long)o, v);
                break;
            }
            const klog_batch_info_t *bi = klog_reader_batch_info(r);
            if (bi->base_offset == last_base)
                continue; /* the same batch */
            last_base = bi->base_offset;
            if (bi->producer_id < 0 || bi->producer_epoch != 0) {
                why = klog__asprintf("partition %d: batch at %lld: producer %lld epoch %d", k,
                                     (long long)o, (long long)bi->producer_id,
                                     bi->producer_epoch);
                break;
            }
            if (npids == 0 || pids[npids - 1] != bi->producer_id) {
                for (int i = 0; i < npids; i++)
                    if (pids[i] == bi->producer_id)
                        why = klog__asprintf("partition %d: producer id %lld back at %lld", k,
                                             (long long)bi->producer_id, (long long)o);
                if (npids == MAXPIDS)
                    why = klog__asprintf("more than %d producer ids", MAXPIDS);
                if (why)
                    break;
                pids[npids++] = bi->producer_id;
                want_seq = 0;
            }
            if (bi->base_sequence != want_seq) {
                why = klog__asprintf("partition %d: batch at %lld: sequence %d, want %d", k,
                                     (long long)o, bi->base_sequence, want_seq);
                break;
            }
            want_seq += bi->record_count;
        }
        if (!why && (rc = klog_reader_next(r, &rec)) != 0)
            why = klog__asprintf("partition %d: records past the end (%d)", k, rc);
        klog_reader_close(r);
        r = NULL;
    }
    klog_reader_close(r);
    rc = klog_close(log);
    if (rc && !why)
        why = klog__asprintf("close: %s", klog_strerror(rc));
    return why;
}

static void round_run(const char *dir, uint64_t seed, long delay_us, int64_t *acked)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, fds[1], seed);
    }
    close(fds[1]);
    struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child exited with %d",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    int64_t msg[2];
    ssize_t n;
    while ((n = read(fds[0], msg, sizeof msg)) == (ssize_t)sizeof msg) {
        ck_assert(msg[0] >= 0 && msg[0] < NPART);
        if (msg[1] > acked[msg[0]])
            acked[msg[0]] = msg[1];
    }
    ck_assert_int_eq(n, 0);
    close(fds[0]);
}

START_TEST(test_crash_idempotent_producer)
{
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 12;
    uint64_t seed = tu_test_seed((uint64_t)time(NULL) ^ (uint64_t)getpid());
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    char *dir = NULL;
    int64_t acked[NPART];
    long total = 0;
    for (long round = 0; round < rounds; round++) {
        if (round % FRESH_EVERY == 0) {
            if (dir) {
                tu_rmtree(dir);
                free(dir);
            }
            dir = recovery_tmpdir("crashidem");
            klog_t *log;
            ck_assert_int_eq(idem_open(dir, &log), 0);
            ck_assert_int_eq(klog_topic_create(log, TOPIC, NPART, NULL), 0);
            ck_assert_int_eq(klog_close(log), 0);
            for (int k = 0; k < NPART; k++)
                acked[k] = -1;
        }
        long delay_us = tu_rng_below(&rng, 8) == 0 ? (long)tu_rng_below(&rng, 3000)
                                                   : 5000 + (long)tu_rng_below(&rng, 80000);
        round_run(dir, tu_rng_next(&rng), delay_us, acked);
        char *why = verify(dir, acked);
        ck_assert_msg(why == NULL, "seed %llu round %ld (kill after %ld us): %s",
                      (unsigned long long)seed, round, delay_us, why ? why : "");
        for (int k = 0; k < NPART; k++)
            total += acked[k] + 1;
    }
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "crash_idem: %ld rounds, %ld confirmed records checked, seed %llu\n",
                rounds, total, (unsigned long long)seed);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *crash_idem_suite(void)
{
    Suite *s = suite_create("crash_idem");
    TCase *tc = tcase_create("kill9");
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 12;
    tcase_set_timeout(tc, (double)(60 + rounds * 3));
    tcase_add_test(tc, test_crash_idempotent_producer);
    suite_add_tcase(s, tc);
    return s;
}
