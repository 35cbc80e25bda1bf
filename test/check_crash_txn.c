/*
 * check_crash_txn.c — the kill -9 test with idempotent and transactional
 * appends. A child appends, with an fsync per append, a mix of plain
 * batches, idempotent batches of a few producers (now and then retrying
 * its last batch, which must come back with the original offsets and
 * write nothing), transactional batches and COMMIT/ABORT markers, each
 * stamped with a partition leader epoch that grows per round; at start it
 * aborts the transactions a killed predecessor left open. The parent kills
 * it at a random moment, reopens the log and requires that the producer
 * state, the last stable offset, the aborted-transaction lists and the
 * leader-epoch cache equal those rebuilt from scratch: a copy of the
 * directory without any snapshot, .txnindex, leader-epoch-checkpoint or
 * recovery-point checkpoint, opened and rebuilt from the log alone.
 *
 * 20 rounds in `make check`; $KLOG_STRESS_ROUNDS overrides, $KLOG_TEST_SEED
 * fixes the random choices (printed with any failure).
 */
#include <check.h>
#include <dirent.h>
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
#include "storage/logstate.h"
#include "storage/partition.h"
#include "util/testutil.h"
#include "util/tu_records.h"

char *recovery_tmpdir(const char *tag); /* check_recovery.c */

#define TXN_TOPIC "txn"
#define FRESH_EVERY 5
#define NPROD 4

static int txn_open(const char *dir, klog_t **log)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    static const int64_t conf[][2] = {
        {KLOG_CONF_FLUSH_MESSAGES, 1},
        {KLOG_CONF_SEGMENT_BYTES, 2048},
        {KLOG_CONF_INDEX_INTERVAL_BYTES, 256},
    };
    for (size_t i = 0; i < sizeof conf / sizeof conf[0] && !rc; i++)
        rc = klog_config_set(cfg, (int)conf[i][0], conf[i][1]);
    if (!rc)
        rc = klog_open(dir, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

/* One batch of n records; pid -1 for a plain one. */
static int append_one(klog_partition_t *p, klog_builder_t *b, int64_t pid, int16_t epoch,
                      int32_t seq, int n, unsigned flags, int32_t leader_epoch, int64_t *base)
{
    klog_builder_reset(b);
    int rc = klog_builder_set_producer(b, pid, epoch, seq, flags);
    klog_builder_set_leader_epoch(b, leader_epoch);
    for (int i = 0; i < n && !rc; i++) {
        char v[48];
        int vl = snprintf(v, sizeof v, "%lld/%lld", (long long)pid, (long long)seq + i);
        klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                           .value = v, .value_len = vl};
        rc = klog_builder_add(b, &r);
    }
    const void *data;
    size_t len;
    if (!rc)
        rc = klog_builder_finish(b, &data, &len);
    if (!rc)
        rc = klog_append_batch(p, data, len, base);
    return rc;
}

typedef struct prod {
    int64_t pid;
    int16_t epoch;
    int32_t seq;      /* next sequence */
    int in_txn;
    int64_t last_base; /* of the last batch, for a retry */
    int32_t last_seq;
    int last_n;
    unsigned last_flags;
} prod_t;

static void txn_child(const char *dir, int fd, uint64_t seed, int32_t round)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    klog_t *log;
    klog_partition_t *p;
    if (txn_open(dir, &log) || klog_partition(log, TXN_TOPIC, 0, &p))
        _exit(10);
    /* Transactions a killed child left open: abort them. */
    klog__producer_t *pv;
    size_t np;
    if (klog__ls_producers(klog__partition_logstate(p), &pv, &np))
        _exit(11);
    for (size_t i = 0; i < np; i++)
        if (pv[i].txn_first_offset >= 0 &&
            klog_append_marker(p, pv[i].producer_id, pv[i].epoch, 0, 0, NULL))
            _exit(12);
    free(pv);
    klog_builder_t *b;
    if (klog_builder_new(KLOG_COMPRESSION_NONE, &b))
        _exit(13);
    prod_t pr[NPROD];
    for (int i = 0; i < NPROD; i++)
        pr[i] = (prod_t){.pid = 1000 * (int64_t)round + i, .last_base = -1};
    for (long k = 0;; k++) {
        int what = (int)tu_rng_below(&rng, 10);
        prod_t *x = &pr[tu_rng_below(&rng, NPROD)];
        int n = 1 + (int)tu_rng_below(&rng, 4);
        int64_t base = -1;
        int rc = 0;
        if (what == 0) {
            rc = append_one(p, b, -1, -1, -1, n, 0, round, &base);
        } else if (what == 1 && x->last_base >= 0) {
            /* A retry: answered with the original offsets, not written. */
            klog_offsets_t o0, o1;
            if (klog_partition_offsets(p, &o0))
                _exit(14);
            rc = append_one(p, b, x->pid, x->epoch, x->last_seq, x->last_n, x->last_flags,
                            round, &base);
            if (!rc && (base != x->last_base || klog_partition_offsets(p, &o1) ||
                        o1.log_end != o0.log_end))
                _exit(15);
        } else if (what == 2 && x->in_txn) {
            rc = klog_append_marker(p, x->pid, x->epoch, (int)tu_rng_below(&rng, 2), 0, &base);
            x->in_txn = 0;
        } else if (what == 3 && !x->in_txn && x->seq > 0) {
            x->epoch++; /* a producer restart: new epoch, sequence 0 */
            x->seq = 0;
            x->last_base = -1;
        } else {
            unsigned flags = x->in_txn || tu_rng_below(&rng, 2) ? KLOG_ATTR_TRANSACTIONAL : 0;
            rc = append_one(p, b, x->pid, x->epoch, x->seq, n, flags, round, &base);
            if (!rc) {
                x->last_base = base;
                x->last_seq = x->seq;
                x->last_n = n;
                x->last_flags = flags;
                x->seq += n;
                x->in_txn |= flags != 0;
            }
        }
        if (rc)
            _exit(16);
        if (base >= 0 && write(fd, &base, sizeof base) != (ssize_t)sizeof base)
            _exit(17);
        if (tu_rng_below(&rng, 150) == 0) {
            if (klog_close(log))
                _exit(18);
            if (txn_open(dir, &log) || klog_partition(log, TXN_TOPIC, 0, &p))
                _exit(19);
        }
    }
}

/* The state of the partition as text (NULL and *why on failure). */
static char *dump(const char *dir, char **why)
{
    klog_t *log;
    klog_partition_t *p;
    int rc = txn_open(dir, &log);
    if (rc || (rc = klog_partition(log, TXN_TOPIC, 0, &p)) != 0) {
        *why = klog__asprintf("open %s: %s", dir, klog_strerror(rc));
        if (!rc)
            klog_close(log);
        return NULL;
    }
    struct klog__logstate *ls = klog__partition_logstate(p);
    klog__producer_t *pv = NULL;
    klog__aborted_txn_t *av = NULL;
    klog__epoch_entry_t *ev = NULL;
    size_t np = 0, na = 0, ne = 0;
    klog_offsets_t o;
    int64_t lso = -1;
    if (klog__ls_producers(ls, &pv, &np) || klog__ls_all_aborted(ls, &av, &na) ||
        klog__ls_epochs(ls, &ev, &ne) || klog_partition_offsets(p, &o) ||
        klog_partition_lso(p, &lso))
        *why = klog__asprintf("reading the state failed");
    size_t cap = 128 + np * 160 + na * 96 + ne * 48, k = 0;
    char *s = malloc(cap);
    k += (size_t)snprintf(s + k, cap - k, "end %lld lso %lld\n", (long long)o.log_end,
                          (long long)lso);
    for (size_t i = 0; i < np; i++) {
        const klog__producer_t *x = &pv[i];
        const klog__pbatch_t *lb = x->nbatches ? &x->batches[x->nbatches - 1] : NULL;
        k += (size_t)snprintf(s + k, cap - k, "pid %lld ep %d ce %d txn %lld seq %d off %lld\n",
                              (long long)x->producer_id, x->epoch, x->coordinator_epoch,
                              (long long)x->txn_first_offset, lb ? lb->last_seq : -9,
                              lb ? (long long)lb->last_offset : -9LL);
    }
    for (size_t i = 0; i < na; i++)
        k += (size_t)snprintf(s + k, cap - k, "abort %lld %lld %lld %lld\n",
                              (long long)av[i].producer_id, (long long)av[i].first_offset,
                              (long long)av[i].last_offset, (long long)av[i].lso);
    for (size_t i = 0; i < ne; i++)
        k += (size_t)snprintf(s + k, cap - k, "epoch %d %lld\n", ev[i].epoch,
                              (long long)ev[i].start_offset);
    free(pv);
    free(av);
    free(ev);
    rc = klog_close(log);
    if (rc && !*why)
        *why = klog__asprintf("close: %s", klog_strerror(rc));
    return s;
}

/* A copy of dir with every derived state file removed. */
static char *scratch_copy(const char *dir)
{
    char *copy = klog__asprintf("%s.scratch", dir);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -a '%s' '%s' && rm -f '%s'/*/*.snapshot '%s'/*/*.txnindex "
             "'%s'/*/leader-epoch-checkpoint '%s'/recovery-point-offset-checkpoint",
             copy, dir, copy, copy, copy, copy, copy);
    ck_assert_int_eq(system(cmd), 0);
    return copy;
}

static int64_t txn_round(const char *dir, uint64_t seed, int32_t round, long delay_us)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        txn_child(dir, fds[1], seed, round);
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
    int64_t acked = -1, v;
    while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
        acked = v > acked ? v : acked;
    close(fds[0]);
    return acked;
}

START_TEST(test_crash_txn)
{
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 20;
    uint64_t seed = tu_test_seed((uint64_t)time(NULL) ^ (uint64_t)getpid());
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    char *dir = NULL;
    int checked = 0;
    for (long round = 0; round < rounds; round++) {
        if (round % FRESH_EVERY == 0) {
            if (dir) {
                tu_rmtree(dir);
                free(dir);
            }
            dir = recovery_tmpdir("crashtxn");
            klog_t *log;
            ck_assert_int_eq(txn_open(dir, &log), 0);
            ck_assert_int_eq(klog_topic_create(log, TXN_TOPIC, 1, NULL), 0);
            ck_assert_int_eq(klog_close(log), 0);
        }
        long delay_us = tu_rng_below(&rng, 8) == 0 ? (long)tu_rng_below(&rng, 3000)
                                                   : 5000 + (long)tu_rng_below(&rng, 80000);
        int64_t acked = txn_round(dir, tu_rng_next(&rng), (int32_t)round + 1, delay_us);
        char *why = NULL;
        char *a = dump(dir, &why);
        ck_assert_msg(why == NULL, "seed %llu round %ld: %s", (unsigned long long)seed, round,
                      why ? why : "");
        char *copy = scratch_copy(dir);
        char *b = dump(copy, &why);
        ck_assert_msg(why == NULL, "seed %llu round %ld (scratch): %s",
                      (unsigned long long)seed, round, why ? why : "");
        ck_assert_msg(strcmp(a, b) == 0,
                      "seed %llu round %ld (kill after %ld us, acked up to %lld): state after "
                      "recovery\n%s\ndiffers from the one rebuilt from scratch\n%s",
                      (unsigned long long)seed, round, delay_us, (long long)acked, a, b);
        checked += acked >= 0;
        free(a);
        free(b);
        tu_rmtree(copy);
        free(copy);
    }
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "crashtxn: %ld rounds (%d with appends), seed %llu\n", rounds, checked,
                (unsigned long long)seed);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *crashtxn_suite(void)
{
    Suite *s = suite_create("crashtxn");
    TCase *tc = tcase_create("kill9txn");
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    long rounds = env && atol(env) > 0 ? atol(env) : 20;
    tcase_set_timeout(tc, (double)(60 + rounds * 3));
    tcase_add_test(tc, test_crash_txn);
    suite_add_tcase(s, tc);
    return s;
}
