/*
 * check_crash_multi.c — the kill -9 crash test over several partitions
 * (issue 9): two topics of three partitions each, tiny segments (rolls,
 * seals, index-full rolls, a small descriptor LRU), retention and
 * DeleteRecords, and two reader threads verifying every record they see
 * while the writer appends.
 *
 *   topic "mdur"    KLOG_CONF_FLUSH_MESSAGES = 1 (every append is fsynced
 *                   before it returns), time retention
 *   topic "mflush"  no flush policy: the writer calls klog_flush() now and
 *                   then (and klog_sync() more rarely), LZ4, size retention
 *
 * The child reports everything the parent needs through a pipe, in 16-byte
 * messages (atomic: smaller than PIPE_BUF, so reader threads may write
 * too): the end of each append before it starts (nothing beyond that may
 * exist after a crash), each acknowledged durable offset (after an fsyncing
 * append, klog_flush, klog_sync or a clean close), the bound of a log-start
 * move before klog_delete_records / klog_retention starts and the new log
 * start once it returned, the offsets it found on opening, and any record a
 * reader thread found wrong. The parent kills it with SIGKILL at a random
 * moment (one kill in eight early, during open and recovery; one round in
 * four kills a second child soon after it starts recovering what the first
 * left), reopens the log and checks for every partition:
 *   - reported log start <= log start <= the highest bound announced;
 *   - every acknowledged record at or above the log start is there, and
 *     nothing beyond the end of the last append started;
 *   - offsets are gap-free from the log start to the log end, each record's
 *     key, value and timestamp matching its partition and offset;
 *   - the high watermark is the log end.
 * A reader in a second process (KLOG_OPEN_RDONLY) runs beside every child
 * of a directory, across all the kills, verifying every record it sees as
 * the reader threads do and that no log start it sees moves backwards.
 * The offsets a second child reports on opening are checked the same way
 * (so a loss is not masked by the second child writing the same records
 * again).
 *
 * 10 rounds in `make check`; $KLOG_STRESS_ROUNDS overrides (`make stress`).
 * $KLOG_TEST_SEED fixes the random choices; the seed is printed with any
 * failure. $KLOG_TEST_VERBOSE prints the figures.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define MC_TOPICS 2
#define MC_PARTS 3
#define MC_NTP (MC_TOPICS * MC_PARTS)
#define MC_READERS 2
#define MC_FRESH_EVERY 10
#define MC_T0 1700000000000LL
#define MC_VALCAP 160

static const char *const mc_topic[MC_TOPICS] = {"mdur", "mflush"};

/* Pipe messages. */
enum {
    MC_WRITE = 1,    /* v: exclusive end of the append about to start */
    MC_ACK,          /* v: highest offset acknowledged as durable */
    MC_START_BOUND,  /* v: the log start may move up to v from now on */
    MC_START,        /* v: the log start after a move returned */
    MC_OPEN_START,   /* v: log start found on opening */
    MC_OPEN_END,     /* v: log end found on opening */
    MC_READ,         /* v: records a reader thread verified since its last report */
    MC_BAD,          /* v: offset; aux: what a reader thread found wrong */
    MC_ERR           /* v: error code; aux: which call failed */
};

struct mc_msg {
    int16_t type, tp;
    int32_t aux;
    int64_t v;
};

/* ------------------------------------------------------------ records */

static int mc_tp_topic(int tp) { return tp / MC_PARTS; }
static int32_t mc_tp_part(int tp) { return tp % MC_PARTS; }

static size_t mc_value(int tp, int64_t off, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "m%d-%lld|", tp, (long long)off);
    size_t len = (size_t)n + (size_t)((off * 13 + tp * 5) % 97);
    if (len > cap)
        len = cap;
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + (off * 31 + (int64_t)i + tp) % 26);
    return len;
}

/* Key: "k<offset>" on every third offset, else null. */
static int32_t mc_key(int64_t off, char *buf, size_t cap)
{
    if (off % 3 != 0)
        return KLOG_NULL_LEN;
    return (int32_t)snprintf(buf, cap, "k%lld", (long long)off);
}

/* 0 when rec is the record of tp at its offset, else a reason code. */
static int mc_check_record(int tp, const klog_record_t *rec)
{
    char v[MC_VALCAP], k[32];
    size_t vl = mc_value(tp, rec->offset, v, sizeof v);
    int32_t kl = mc_key(rec->offset, k, sizeof k);
    if (rec->value_len != (int32_t)vl || !rec->value || memcmp(rec->value, v, vl) != 0)
        return 1;
    if (rec->key_len != kl || (kl > 0 && memcmp(rec->key, k, (size_t)kl) != 0))
        return 2;
    if (rec->timestamp != MC_T0 + rec->offset)
        return 3;
    if (rec->header_count != 0)
        return 4;
    return 0;
}

/* ------------------------------------------------------------ opening */

static int mc_open(const char *dir, klog_t **log)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    /* Retention only when asked (the child reports log-start moves), and
     * few descriptors for 6 partitions of tiny segments: the LRU works. */
    if (!(rc = klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0)) &&
        !(rc = klog_config_set(cfg, KLOG_CONF_MAX_OPEN_FILES, 8)))
        rc = klog_open(dir, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

static int mc_create(const char *dir)
{
    static const int64_t conf[MC_TOPICS][6][2] = {
        {{KLOG_CONF_FLUSH_MESSAGES, 1},
         {KLOG_CONF_SEGMENT_BYTES, 4096},
         {KLOG_CONF_INDEX_INTERVAL_BYTES, 256},
         {KLOG_CONF_INDEX_MAX_BYTES, 128}, /* 16 entries: index-full rolls */
         {KLOG_CONF_RETENTION_MS, 3000},  /* timestamps are MC_T0 + offset */
         {KLOG_CONF_RETENTION_BYTES, -1}},
        {{KLOG_CONF_FLUSH_MESSAGES, 0},
         {KLOG_CONF_SEGMENT_BYTES, 4096},
         {KLOG_CONF_INDEX_INTERVAL_BYTES, 512},
         {KLOG_CONF_COMPRESSION, KLOG_COMPRESSION_LZ4},
         {KLOG_CONF_RETENTION_MS, -1},
         {KLOG_CONF_RETENTION_BYTES, 12288}},
    };
    klog_t *log;
    int rc = mc_open(dir, &log);
    if (rc)
        return rc;
    for (int t = 0; t < MC_TOPICS && !rc; t++) {
        klog_config_t *cfg;
        if ((rc = klog_config_new(&cfg)))
            break;
        for (size_t i = 0; i < 6 && !rc; i++)
            rc = klog_config_set(cfg, (int)conf[t][i][0], conf[t][i][1]);
        if (!rc)
            rc = klog_topic_create(log, mc_topic[t], MC_PARTS, cfg);
        klog_config_free(cfg);
    }
    int rc2 = klog_close(log);
    return rc ? rc : rc2;
}

/* ------------------------------------------------------------ child */

struct mc_child {
    klog_t *log;
    klog_partition_t *p[MC_NTP];
    int fd;
    int rdonly;     /* the read-only reader process: tags its MC_READ */
    atomic_int stop;
};

struct mc_reader_arg {
    struct mc_child *c;
    uint64_t seed;
};

static void mc_send(int fd, int type, int tp, int32_t aux, int64_t v)
{
    struct mc_msg m = {(int16_t)type, (int16_t)tp, aux, v};
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(3);
}

static void mc_die(struct mc_child *c, int where, int rc)
{
    mc_send(c->fd, MC_ERR, 0, where, rc);
    _exit(20);
}

/* Reader thread: iterate every partition, verifying each record. */
static void *mc_reader(void *arg)
{
    struct mc_reader_arg *a = arg;
    struct mc_child *c = a->c;
    tu_rng_t rng;
    tu_rng_seed(&rng, a->seed);
    klog_reader_t *r[MC_NTP] = {0};
    int64_t expect[MC_NTP], seen_start[MC_NTP];
    long unreported = 0;
    for (int tp = 0; tp < MC_NTP; tp++) {
        int rc = klog_reader_open(c->p[tp], KLOG_OFFSET_BEGINNING, &r[tp]);
        if (rc) {
            mc_send(c->fd, MC_BAD, tp, 100 - rc, -1);
            goto out;
        }
        expect[tp] = klog_reader_position(r[tp]);
        seen_start[tp] = 0;
    }
    while (!atomic_load(&c->stop)) {
        int got = 0;
        int first = (int)tu_rng_below(&rng, MC_NTP);
        for (int i = 0; i < MC_NTP; i++) {
            int tp = (first + i) % MC_NTP;
            for (int k = 0; k < 64; k++) {
                klog_record_t rec;
                int rc = klog_reader_next(r[tp], &rec);
                if (rc == 0)
                    break;
                if (rc == KLOG_EOFFSET) { /* retention took the position */
                    if ((rc = klog_reader_seek(r[tp], KLOG_OFFSET_BEGINNING))) {
                        mc_send(c->fd, MC_BAD, tp, 200 - rc, expect[tp]);
                        goto out;
                    }
                    expect[tp] = klog_reader_position(r[tp]);
                    continue;
                }
                if (rc < 0) {
                    mc_send(c->fd, MC_BAD, tp, 300 - rc, expect[tp]);
                    goto out;
                }
                klog_offsets_t of;
                if (klog_partition_offsets(c->p[tp], &of)) {
                    mc_send(c->fd, MC_BAD, tp, 10, rec.offset);
                    goto out;
                }
                /* Consecutive offsets; a forward jump only over records
                 * that DeleteRecords or retention removed. */
                if (rec.offset != expect[tp] &&
                    !(rec.offset > expect[tp] && rec.offset <= of.log_start)) {
                    mc_send(c->fd, MC_BAD, tp, 11, rec.offset);
                    goto out;
                }
                if (rec.offset >= of.high_watermark) {
                    mc_send(c->fd, MC_BAD, tp, 12, rec.offset);
                    goto out;
                }
                /* The log start never moves backwards, across the
                 * writer's crashes and recoveries too. */
                if (of.log_start < seen_start[tp]) {
                    mc_send(c->fd, MC_BAD, tp, 13, of.log_start);
                    goto out;
                }
                seen_start[tp] = of.log_start;
                int why = mc_check_record(tp, &rec);
                if (why) {
                    mc_send(c->fd, MC_BAD, tp, why, rec.offset);
                    goto out;
                }
                expect[tp] = rec.offset + 1;
                got = 1;
                if (++unreported == 256) {
                    mc_send(c->fd, MC_READ, tp, c->rdonly, unreported);
                    unreported = 0;
                }
            }
        }
        if (!got)
            klog_reader_wait(r[tu_rng_below(&rng, MC_NTP)], 2);
    }
out:
    for (int tp = 0; tp < MC_NTP; tp++)
        klog_reader_close(r[tp]);
    if (unreported)
        mc_send(c->fd, MC_READ, 0, c->rdonly, unreported);
    return NULL;
}

static void mc_child_open(struct mc_child *c, const char *dir, int64_t *next)
{
    int rc = mc_open(dir, &c->log);
    if (rc)
        mc_die(c, 1, rc);
    for (int tp = 0; tp < MC_NTP; tp++) {
        klog_offsets_t of;
        if ((rc = klog_partition(c->log, mc_topic[mc_tp_topic(tp)], mc_tp_part(tp), &c->p[tp])) ||
            (rc = klog_partition_offsets(c->p[tp], &of)))
            mc_die(c, 2, rc);
        next[tp] = of.log_end;
        mc_send(c->fd, MC_OPEN_START, tp, 0, of.log_start);
        mc_send(c->fd, MC_OPEN_END, tp, 0, of.log_end);
    }
}

static void mc_readers_start(struct mc_child *c, pthread_t *th, struct mc_reader_arg *args,
                             tu_rng_t *rng)
{
    atomic_store(&c->stop, 0);
    for (int i = 0; i < MC_READERS; i++) {
        args[i].c = c;
        args[i].seed = tu_rng_next(rng);
        if (pthread_create(&th[i], NULL, mc_reader, &args[i]))
            mc_die(c, 3, -errno);
    }
}

static void mc_readers_stop(struct mc_child *c, pthread_t *th)
{
    atomic_store(&c->stop, 1);
    for (int i = 0; i < MC_READERS; i++)
        pthread_join(th[i], NULL);
}

/* Append, flush, move log starts, close and reopen, until killed. */
static void mc_child(const char *dir, int fd, uint64_t seed)
{
    struct mc_child c;
    memset(&c, 0, sizeof c);
    c.fd = fd;
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    int64_t next[MC_NTP];
    mc_child_open(&c, dir, next);
    pthread_t th[MC_READERS];
    struct mc_reader_arg args[MC_READERS];
    mc_readers_start(&c, th, args, &rng);
    char vals[8][MC_VALCAP], keys[8][32];
    for (;;) {
        int tp = (int)tu_rng_below(&rng, MC_NTP);
        klog_partition_t *p = c.p[tp];
        klog_record_t recs[8];
        size_t n = 1 + (size_t)tu_rng_below(&rng, 8);
        for (size_t i = 0; i < n; i++) {
            int64_t off = next[tp] + (int64_t)i;
            memset(&recs[i], 0, sizeof recs[i]);
            recs[i].key_len = mc_key(off, keys[i], sizeof keys[i]);
            recs[i].key = recs[i].key_len > 0 ? keys[i] : NULL;
            recs[i].value_len = (int32_t)mc_value(tp, off, vals[i], sizeof vals[i]);
            recs[i].value = vals[i];
            recs[i].timestamp = MC_T0 + off;
        }
        mc_send(fd, MC_WRITE, tp, 0, next[tp] + (int64_t)n);
        int64_t base;
        int rc = klog_append(p, recs, n, &base);
        if (rc)
            mc_die(&c, 4, rc);
        if (base != next[tp])
            mc_die(&c, 5, (int)(base - next[tp]));
        next[tp] += (int64_t)n;
        if (mc_tp_topic(tp) == 0) {
            mc_send(fd, MC_ACK, tp, 0, next[tp] - 1); /* fsynced before returning */
        } else if (tu_rng_below(&rng, 6) == 0) {
            if ((rc = klog_flush(p)))
                mc_die(&c, 6, rc);
            mc_send(fd, MC_ACK, tp, 0, next[tp] - 1);
        }
        uint64_t dice = tu_rng_below(&rng, 1000);
        if (dice < 4) {
            /* klog_sync: every partition durable. */
            if ((rc = klog_sync(c.log)))
                mc_die(&c, 7, rc);
            for (int i = 0; i < MC_NTP; i++)
                if (next[i] > 0)
                    mc_send(fd, MC_ACK, i, 0, next[i] - 1);
        } else if (dice < 12) {
            /* DeleteRecords somewhere in [log start, log end]. */
            int d = (int)tu_rng_below(&rng, MC_NTP);
            klog_offsets_t of;
            if ((rc = klog_partition_offsets(c.p[d], &of)))
                mc_die(&c, 8, rc);
            int64_t to = of.log_start + (int64_t)tu_rng_below(&rng, (uint64_t)(next[d] - of.log_start) + 1);
            mc_send(fd, MC_START_BOUND, d, 0, to);
            if ((rc = klog_delete_records(c.p[d], to)))
                mc_die(&c, 9, rc);
            if ((rc = klog_partition_offsets(c.p[d], &of)))
                mc_die(&c, 10, rc);
            if (of.log_start != to)
                mc_die(&c, 11, (int)(of.log_start - to));
            mc_send(fd, MC_START, d, 0, of.log_start);
        } else if (dice < 22) {
            /* Retention (time on "mdur", size on "mflush"): never at or
             * above the high watermark, here the log end. */
            int64_t now = 0;
            for (int i = 0; i < MC_NTP; i++) {
                mc_send(fd, MC_START_BOUND, i, 0, next[i]);
                if (mc_tp_topic(i) == 0 && next[i] > now)
                    now = next[i];
            }
            if ((rc = klog_retention(c.log, MC_T0 + now)) < 0)
                mc_die(&c, 12, rc);
            for (int i = 0; i < MC_NTP; i++) {
                klog_offsets_t of;
                if ((rc = klog_partition_offsets(c.p[i], &of)))
                    mc_die(&c, 13, rc);
                mc_send(fd, MC_START, i, 0, of.log_start);
            }
        } else if (dice < 24) {
            /* A clean close and reopen, so kills also land in sealing,
             * checkpointing and loading. */
            mc_readers_stop(&c, th);
            if ((rc = klog_close(c.log)))
                mc_die(&c, 14, rc);
            for (int i = 0; i < MC_NTP; i++)
                if (next[i] > 0)
                    mc_send(fd, MC_ACK, i, 0, next[i] - 1);
            int64_t again[MC_NTP];
            mc_child_open(&c, dir, again);
            for (int i = 0; i < MC_NTP; i++)
                if (again[i] != next[i])
                    mc_die(&c, 15, (int)(again[i] - next[i]));
            mc_readers_start(&c, th, args, &rng);
        }
    }
}

/* ------------------------------------------------------------ parent */

/* What the parent knows of one partition. */
struct mc_part {
    int64_t acked;     /* highest acknowledged durable offset, -1 none */
    int64_t written;   /* highest end of an append started */
    int64_t start_rep; /* highest log start reported */
    int64_t start_max; /* highest log start announced as possible */
    int64_t open_start;
};

struct mc_state {
    struct mc_part part[MC_NTP];
    long reads;      /* records reader threads verified */
    long rd_reads;   /* of which by the read-only reader process */
    char *why;       /* first failure */
};

static void mc_fail(struct mc_state *s, char *why)
{
    if (!s->why)
        s->why = why;
    else
        free(why);
}

/* The promises on one partition's offsets after a crash. */
static char *mc_check_offsets(const struct mc_part *m, int tp, int64_t start, int64_t end)
{
    int64_t smax = m->start_max > m->start_rep ? m->start_max : m->start_rep;
    if (start < m->start_rep || start > smax || end < start || end > m->written ||
        (m->acked >= start && end <= m->acked))
        return klog__asprintf("partition %d: log start %lld end %lld; start reported %lld, "
                              "bound %lld, acknowledged up to %lld, written below %lld",
                              tp, (long long)start, (long long)end, (long long)m->start_rep,
                              (long long)m->start_max, (long long)m->acked,
                              (long long)m->written);
    return NULL;
}

static void mc_handle(struct mc_state *s, const struct mc_msg *m)
{
    if (m->type == MC_ERR) {
        mc_fail(s, klog__asprintf("child: call %d failed: %lld %s", (int)m->aux, (long long)m->v,
                                  klog_strerror((int)m->v)));
        return;
    }
    if (m->tp < 0 || m->tp >= MC_NTP) {
        mc_fail(s, klog__asprintf("bad message %d/%d", m->type, m->tp));
        return;
    }
    struct mc_part *p = &s->part[m->tp];
    switch (m->type) {
    case MC_WRITE:
        if (m->v > p->written)
            p->written = m->v;
        break;
    case MC_ACK:
        if (m->v > p->acked)
            p->acked = m->v;
        break;
    case MC_START_BOUND:
        if (m->v > p->start_max)
            p->start_max = m->v;
        break;
    case MC_START:
        if (m->v > p->start_rep)
            p->start_rep = m->v;
        break;
    case MC_OPEN_START:
        p->open_start = m->v;
        break;
    case MC_OPEN_END: {
        char *why = mc_check_offsets(p, m->tp, p->open_start, m->v);
        if (why)
            mc_fail(s, klog__asprintf("on the child's open: %s", why));
        free(why);
        break;
    }
    case MC_READ:
        s->reads += (long)m->v;
        if (m->aux == 1)
            s->rd_reads += (long)m->v;
        break;
    case MC_BAD:
        mc_fail(s, klog__asprintf("reader thread: partition %d offset %lld: check %d failed",
                                  m->tp, (long long)m->v, (int)m->aux));
        break;
    default:
        mc_fail(s, klog__asprintf("bad message type %d", m->type));
    }
}

static int64_t mc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Consume whole messages from fd into s; returns 0 at EOF, 1 otherwise. */
static int mc_pump(int fd, struct mc_state *s, uint8_t *buf, size_t *have)
{
    ssize_t n = read(fd, buf + *have, 4096 - *have);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (n == 0)
        return 0;
    *have += (size_t)n;
    size_t i = 0;
    for (; i + sizeof(struct mc_msg) <= *have; i += sizeof(struct mc_msg)) {
        struct mc_msg m;
        memcpy(&m, buf + i, sizeof m);
        mc_handle(s, &m);
    }
    memmove(buf, buf + i, *have - i);
    *have -= i;
    return 1;
}

/* One child: run it for delay_us, reading its reports, then SIGKILL it. */
static void mc_run_child(const char *dir, uint64_t seed, long delay_us, struct mc_state *s)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        mc_child(dir, fds[1], seed);
        _exit(2);
    }
    close(fds[1]);
    uint8_t buf[4096];
    size_t have = 0;
    int64_t deadline = mc_now_ns() + (int64_t)delay_us * 1000;
    for (;;) {
        int64_t left = deadline - mc_now_ns();
        if (left <= 0)
            break;
        struct pollfd pfd = {fds[0], POLLIN, 0};
        struct timespec ts = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        int pr = ppoll(&pfd, 1, &ts, NULL);
        if (pr > 0 && !mc_pump(fds[0], s, buf, &have))
            break; /* the child closed the pipe: it ended */
    }
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    while (mc_pump(fds[0], s, buf, &have))
        ;
    close(fds[0]);
    ck_assert_msg(have == 0, "torn message on the pipe");
    /* A child that stopped by itself failed (it appends forever). */
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
        mc_fail(s, klog__asprintf("child exited with %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1));
}

/* ------------------------------------------------------------ read-only reader */

/* A reader in another process (KLOG_OPEN_RDONLY) for the life of one log
 * directory, across every kill and recovery of the writers: the same
 * checks as the reader threads on every record and log start it sees,
 * reported through its own pipe (issue 21: the kill -9 suite runs with
 * read-only readers in a second process). */
struct mc_rdproc {
    pid_t pid;
    int fd;
    uint8_t buf[4096];
    size_t have;
};

static struct mc_child *mc_rd_child;
static void mc_rd_term(int sig)
{
    (void)sig;
    if (mc_rd_child)
        atomic_store(&mc_rd_child->stop, 1);
}

static void mc_rd_start(const char *dir, uint64_t seed, struct mc_rdproc *rp)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        static struct mc_child c;
        memset(&c, 0, sizeof c);
        c.fd = fds[1];
        c.rdonly = 1;
        mc_rd_child = &c;
        signal(SIGTERM, mc_rd_term);
        int rc = klog_open(dir, NULL, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &c.log);
        if (rc)
            mc_die(&c, 40, rc);
        for (int tp = 0; tp < MC_NTP; tp++)
            if ((rc = klog_partition(c.log, mc_topic[mc_tp_topic(tp)], mc_tp_part(tp), &c.p[tp])))
                mc_die(&c, 41, rc);
        struct mc_reader_arg a = {&c, seed};
        mc_reader(&a);
        klog_close(c.log);
        _exit(0);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    rp->pid = pid;
    rp->fd = fds[0];
    rp->have = 0;
}

/* What it reported so far (non-blocking). */
static void mc_rd_poll(struct mc_rdproc *rp, struct mc_state *s)
{
    struct pollfd pfd = {rp->fd, POLLIN, 0};
    while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN) && mc_pump(rp->fd, s, rp->buf, &rp->have))
        ;
}

static void mc_rd_stop(struct mc_rdproc *rp, struct mc_state *s)
{
    kill(rp->pid, SIGTERM);
    int fl = fcntl(rp->fd, F_GETFL);
    fcntl(rp->fd, F_SETFL, fl & ~O_NONBLOCK);
    while (mc_pump(rp->fd, s, rp->buf, &rp->have))
        ;
    close(rp->fd);
    int st;
    while (waitpid(rp->pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        mc_fail(s, klog__asprintf("read-only reader process ended with %d",
                                  WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st)));
}

/* Reopen and check every partition; on success reset s to what is now
 * durable. Returns NULL or a malloc'd reason; *checked counts records read. */
static char *mc_verify(const char *dir, struct mc_state *s, long *checked)
{
    klog_t *log;
    char *why = NULL;
    int rc = mc_open(dir, &log);
    if (rc)
        return klog__asprintf("reopen: %s", klog_strerror(rc));
    klog_offsets_t ofs[MC_NTP];
    for (int tp = 0; tp < MC_NTP && !why; tp++) {
        klog_partition_t *p;
        klog_offsets_t of;
        klog_reader_t *r = NULL;
        if ((rc = klog_partition(log, mc_topic[mc_tp_topic(tp)], mc_tp_part(tp), &p)) ||
            (rc = klog_partition_offsets(p, &of))) {
            why = klog__asprintf("partition %d: %s", tp, klog_strerror(rc));
            break;
        }
        ofs[tp] = of;
        if ((why = mc_check_offsets(&s->part[tp], tp, of.log_start, of.log_end)))
            break;
        if (of.high_watermark != of.log_end) {
            why = klog__asprintf("partition %d: high watermark %lld, log end %lld", tp,
                                 (long long)of.high_watermark, (long long)of.log_end);
            break;
        }
        if ((rc = klog_reader_open(p, of.log_start, &r))) {
            why = klog__asprintf("partition %d: reader at %lld: %s", tp, (long long)of.log_start,
                                 klog_strerror(rc));
            break;
        }
        klog_record_t rec;
        for (int64_t o = of.log_start; o < of.log_end && !why; o++) {
            rc = klog_reader_next(r, &rec);
            if (rc != 1)
                why = klog__asprintf("partition %d: read at %lld of [%lld, %lld): %d %s", tp,
                                     (long long)o, (long long)of.log_start,
                                     (long long)of.log_end, rc, klog_strerror(rc));
            else if (rec.offset != o)
                why = klog__asprintf("partition %d: offset %lld where %lld was due", tp,
                                     (long long)rec.offset, (long long)o);
            else if ((rc = mc_check_record(tp, &rec)))
                why = klog__asprintf("partition %d: record %lld damaged (check %d)", tp,
                                     (long long)o, rc);
            else
                (*checked)++;
        }
        if (!why && (rc = klog_reader_next(r, &rec)) != 0)
            why = klog__asprintf("partition %d: records past the log end (%d)", tp, rc);
        klog_reader_close(r);
    }
    rc = klog_close(log);
    if (rc && !why)
        why = klog__asprintf("close: %s", klog_strerror(rc));
    if (!why)
        for (int tp = 0; tp < MC_NTP; tp++) {
            /* A clean close made all of it durable, log start included. */
            struct mc_part *m = &s->part[tp];
            m->acked = ofs[tp].log_end - 1;
            m->written = ofs[tp].log_end;
            m->start_rep = m->start_max = ofs[tp].log_start;
        }
    return why;
}

static long mc_rounds(void)
{
    const char *env = getenv("KLOG_STRESS_ROUNDS");
    return env && atol(env) > 0 ? atol(env) : 10;
}

START_TEST(test_crash_multi_kill9)
{
    long rounds = mc_rounds();
    uint64_t seed = tu_test_seed((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16));
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    char *dir = NULL;
    struct mc_state s;
    memset(&s, 0, sizeof s);
    long kills = 0, acked = 0, checked = 0;
    int64_t t0 = mc_now_ns();
    struct mc_rdproc rp;
    int rp_on = 0;
    for (long round = 0; round < rounds; round++) {
        if (round % MC_FRESH_EVERY == 0) {
            if (rp_on) {
                mc_rd_stop(&rp, &s);
                ck_assert_msg(s.why == NULL, "seed %llu: %s", (unsigned long long)seed, s.why);
            }
            if (dir) {
                tu_rmtree(dir);
                free(dir);
            }
            dir = recovery_tmpdir("crashmulti");
            ck_assert_int_eq(mc_create(dir), 0);
            mc_rd_start(dir, tu_rng_next(&rng), &rp);
            rp_on = 1;
            for (int tp = 0; tp < MC_NTP; tp++) {
                s.part[tp].acked = -1;
                s.part[tp].written = s.part[tp].start_rep = s.part[tp].start_max = 0;
            }
        }
        int64_t before[MC_NTP];
        for (int tp = 0; tp < MC_NTP; tp++)
            before[tp] = s.part[tp].acked;
        /* One round in four: a second child starts on what the first left
         * and is killed soon, often while recovering. */
        int children = tu_rng_below(&rng, 4) == 0 ? 2 : 1;
        long delays[2];
        for (int c = 0; c < children; c++) {
            long delay_us = tu_rng_below(&rng, 8) == 0 || c == 1
                                ? (long)tu_rng_below(&rng, 5000)
                                : 2000 + (long)tu_rng_below(&rng, 60000);
            delays[c] = delay_us;
            mc_run_child(dir, tu_rng_next(&rng), delay_us, &s);
            kills++;
            ck_assert_msg(s.why == NULL, "seed %llu round %ld child %d (kill after %ld us): %s",
                          (unsigned long long)seed, round, c, delay_us, s.why ? s.why : "");
        }
        for (int tp = 0; tp < MC_NTP; tp++)
            acked += (long)(s.part[tp].acked - before[tp]);
        mc_rd_poll(&rp, &s);
        ck_assert_msg(s.why == NULL, "seed %llu round %ld: %s", (unsigned long long)seed, round,
                      s.why ? s.why : "");
        char *why = mc_verify(dir, &s, &checked);
        ck_assert_msg(why == NULL, "seed %llu round %ld (%d kills, last after %ld us): %s",
                      (unsigned long long)seed, round, children, delays[children - 1],
                      why ? why : "");
    }
    if (rp_on)
        mc_rd_stop(&rp, &s);
    ck_assert_msg(s.why == NULL, "seed %llu: %s", (unsigned long long)seed, s.why ? s.why : "");
    ck_assert_msg(s.rd_reads > 0, "the read-only reader process verified no record");
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr,
                "crashmulti: %ld rounds, %ld kills, %ld acknowledged records, %ld records "
                "checked after reopening, %ld verified by concurrent readers (%ld by a read-only "
                "reader in another process), %.1f s, seed %llu\n",
                rounds, kills, acked, checked, s.reads, s.rd_reads, (double)(mc_now_ns() - t0) / 1e9,
                (unsigned long long)seed);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *crashmulti_suite(void)
{
    Suite *s = suite_create("crashmulti");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, (double)(60 + mc_rounds() * 3));
    tcase_add_test(tc, test_crash_multi_kill9);
    suite_add_tcase(s, tc);
    return s;
}
