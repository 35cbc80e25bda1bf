/*
 * check_logstate_wired.c — producer state, transactions and the
 * leader-epoch cache through the public API: idempotent appends
 * (duplicates at each of the 5 slots, out of order, fencing, new epochs,
 * wrap-around, expiry), snapshots across close/open (missing or corrupt:
 * same state after the rescan), markers and the last stable offset with
 * interleaved transactions, read-committed readers and leases, follower
 * appends, truncation, retention of the state files, and the epoch cache
 * (OffsetForLeaderEpoch, truncation at both ends).
 */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "storage/logstate.h"
#include "storage/partition.h"
#include "util/testutil.h"

static char *tmp;
static klog_t *lg;
static klog_partition_t *part;
static char logbuf[8192]; /* WARN and ERROR lines of the log callback */

static void on_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= KLOG_LOG_INFO && strlen(logbuf) + strlen(msg) + 2 < sizeof logbuf) {
        strcat(logbuf, msg);
        strcat(logbuf, "\n");
    }
}

#define CK_RC(expr, want)                                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        int want_ = (want);                                                                  \
        ck_assert_msg(rc_ == want_, "%s = %d (%s), want %s", #expr, rc_, klog_err_name(rc_), \
                      klog_err_name(want_));                                                 \
    } while (0)

static int64_t seg_bytes = 0; /* 0: default */

static void open_log(void)
{
    klog_config_t *cfg;
    CK_RC(klog_config_new(&cfg), 0);
    klog_config_set_logger(cfg, on_log, NULL);
    if (seg_bytes)
        CK_RC(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, seg_bytes), 0);
    int orc = klog_open(tmp, cfg, 0, &lg);
    ck_assert_msg(orc == 0, "open: %s\n%s", klog_err_name(orc), logbuf);
    klog_config_free(cfg);
    int rc = klog_partition(lg, "t", 0, &part);
    if (rc == KLOG_ENOTOPIC) {
        CK_RC(klog_topic_create(lg, "t", 1, NULL), 0);
        rc = klog_partition(lg, "t", 0, &part);
    }
    CK_RC(rc, 0);
}

static void close_log(void)
{
    CK_RC(klog_close(lg), 0);
    lg = NULL;
    part = NULL;
}

static void setup(void)
{
    tmp = tu_tmpdir("lswired");
    logbuf[0] = 0;
    seg_bytes = 0;
    open_log();
}

static void teardown(void)
{
    if (lg)
        klog_close(lg);
    lg = NULL;
    tu_rmtree(tmp);
    free(tmp);
}

static char *pdir(void)
{
    static char d[4096];
    snprintf(d, sizeof d, "%s/t-0", tmp);
    return d;
}

/* A batch of n records from producer pid/epoch starting at sequence seq. */
static void *mk(int64_t pid, int16_t epoch, int32_t seq, int n, unsigned flags, int64_t ts,
                int32_t leader_epoch, size_t *len)
{
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    ck_assert_int_eq(klog_builder_set_producer(b, pid, epoch, seq, flags), 0);
    klog_builder_set_leader_epoch(b, leader_epoch);
    for (int i = 0; i < n; i++) {
        char v[32];
        int vl = snprintf(v, sizeof v, "p%lld-s%d", (long long)pid, seq + i);
        klog_record_t r = {.timestamp = ts, .key = NULL, .key_len = KLOG_NULL_LEN,
                           .value = v, .value_len = vl};
        ck_assert_int_eq(klog_builder_add(b, &r), 0);
    }
    const void *data;
    ck_assert_int_eq(klog_builder_finish(b, &data, len), 0);
    void *copy = malloc(*len);
    memcpy(copy, data, *len);
    klog_builder_free(b);
    return copy;
}

/* Append an idempotent (or transactional) batch; returns the call's rc. */
static int idem(int64_t pid, int16_t epoch, int32_t seq, int n, unsigned flags, int64_t *base)
{
    size_t len;
    void *b = mk(pid, epoch, seq, n, flags, KLOG_TIMESTAMP_NOW, -1, &len);
    int rc = klog_append_batch(part, b, len, base);
    free(b);
    return rc;
}

static int64_t log_end(void)
{
    klog_offsets_t o;
    CK_RC(klog_partition_offsets(part, &o), 0);
    return o.log_end;
}

static int64_t lso(void)
{
    int64_t v = -7;
    CK_RC(klog_partition_lso(part, &v), 0);
    return v;
}

/* The whole state as text, to compare across reopen and rebuild. */
static char *dump_state(void)
{
    struct klog__logstate *ls = klog__partition_logstate(part);
    ck_assert_ptr_nonnull(ls);
    klog__producer_t *pv;
    klog__aborted_txn_t *av;
    klog__epoch_entry_t *ev;
    size_t np, na, ne;
    CK_RC(klog__ls_producers(ls, &pv, &np), 0);
    CK_RC(klog__ls_all_aborted(ls, &av, &na), 0);
    CK_RC(klog__ls_epochs(ls, &ev, &ne), 0);
    size_t cap = 256 + np * 512 + na * 128 + ne * 64, k = 0;
    char *s = malloc(cap);
    k += (size_t)snprintf(s + k, cap - k, "lso %lld end %lld\n", (long long)lso(),
                          (long long)log_end());
    for (size_t i = 0; i < np; i++) {
        klog__producer_t *p = &pv[i];
        k += (size_t)snprintf(s + k, cap - k, "pid %lld ep %d ce %d txn %lld ts %lld:",
                              (long long)p->producer_id, p->epoch, p->coordinator_epoch,
                              (long long)p->txn_first_offset, (long long)p->last_timestamp);
        /* Only the last batch: all a snapshot keeps (Kafka's format), so
         * a reopened state caches that one alone. */
        for (int j = p->nbatches ? p->nbatches - 1 : 0; j < p->nbatches; j++)
            /* (its timestamp: a snapshot has the producer's last one) */
            k += (size_t)snprintf(s + k, cap - k, " [%d %d %lld]", p->batches[j].last_seq,
                                  p->batches[j].offset_delta,
                                  (long long)p->batches[j].last_offset);
        k += (size_t)snprintf(s + k, cap - k, "\n");
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
    return s;
}

/* Names in the partition directory ending in suffix, sorted, one string. */
static char *files_with(const char *suffix)
{
    DIR *d = opendir(pdir());
    ck_assert_ptr_nonnull(d);
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    char *out = calloc(1, n * 40 + 1);
    for (size_t i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, " ");
        free(names[i]);
    }
    return out;
}

static void rm_suffix(const char *suffix)
{
    char *f = files_with(suffix);
    for (char *tok = strtok(f, " "); tok; tok = strtok(NULL, " ")) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", pdir(), tok);
        ck_assert_int_eq(unlink(path), 0);
    }
    free(f);
}

/* Values read by a reader from `from` with isolation iso, as one string. */
static char *read_all(int64_t from, int iso)
{
    klog_reader_t *r;
    CK_RC(klog_reader_open(part, from, &r), 0);
    CK_RC(klog_reader_set_isolation(r, iso), 0);
    char *out = calloc(1, 65536);
    klog_record_t rec;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        char v[64];
        snprintf(v, sizeof v, "%lld:%.*s ", (long long)rec.offset, (int)rec.value_len,
                 (const char *)rec.value);
        strcat(out, v);
    }
    ck_assert_int_eq(rc, 0);
    klog_reader_close(r);
    return out;
}

/* ------------------------------------------------------------ idempotence */

START_TEST(test_dup_each_slot)
{
    int64_t bases[6];
    for (int i = 0; i < 6; i++)
        CK_RC(idem(7, 0, i * 2, 2, 0, &bases[i]), 0);
    int64_t end = log_end();
    ck_assert_int_eq(end, 12);
    /* Batches 1..5 are the cached 5: each retry answers its offsets. */
    for (int i = 1; i < 6; i++) {
        int64_t b = -1;
        CK_RC(idem(7, 0, i * 2, 2, 0, &b), 0);
        ck_assert_int_eq(b, bases[i]);
        ck_assert_int_eq(log_end(), end);
    }
    /* Batch 0 fell out of the cache: a retry of it is out of order. */
    CK_RC(idem(7, 0, 0, 2, 0, NULL), KLOG_EOUTOFORDER);
    /* A retry with other sequence bounds is no duplicate either. */
    CK_RC(idem(7, 0, 8, 1, 0, NULL), KLOG_EOUTOFORDER);
    ck_assert_int_eq(log_end(), end);
    /* Reopen: the snapshot at close keeps the last batch (Kafka's format
     * holds one per producer): its retry is still found, older ones are
     * out of order, as after a Kafka broker restart. */
    close_log();
    open_log();
    int64_t b = -1;
    CK_RC(idem(7, 0, 10, 2, 0, &b), 0);
    ck_assert_int_eq(b, bases[5]);
    CK_RC(idem(7, 0, 4, 2, 0, &b), KLOG_EOUTOFORDER);
    ck_assert_int_eq(log_end(), end);
    CK_RC(idem(7, 0, 12, 1, 0, &b), 0);
    ck_assert_int_eq(b, end);
}
END_TEST

START_TEST(test_sequence_rules)
{
    CK_RC(idem(1, 0, 0, 3, 0, NULL), 0);
    CK_RC(idem(1, 0, 5, 1, 0, NULL), KLOG_EOUTOFORDER); /* gap */
    CK_RC(idem(1, 0, 2, 1, 0, NULL), KLOG_EOUTOFORDER); /* overlap */
    CK_RC(idem(1, 0, 3, 1, 0, NULL), 0);
    /* Fencing: an older epoch is refused, a newer one must start at 0. */
    CK_RC(idem(1, 1, 4, 1, 0, NULL), KLOG_EEPOCHSEQ);
    CK_RC(idem(1, 1, 0, 1, 0, NULL), 0);
    CK_RC(idem(1, 0, 4, 1, 0, NULL), KLOG_EFENCED);
    /* No sequence, and control batches, are refused from clients. */
    CK_RC(idem(1, 1, -1, 1, 0, NULL), -EINVAL);
    CK_RC(idem(1, 1, 1, 1, KLOG_ATTR_CONTROL, NULL), -EINVAL);
    CK_RC(idem(-1, -1, -1, 1, KLOG_ATTR_CONTROL, NULL), -EINVAL);
    /* Unknown producer: any first sequence (Kafka 2.5+). */
    CK_RC(idem(2, 0, 77, 1, 0, NULL), 0);
    CK_RC(idem(2, 0, 78, 1, 0, NULL), 0);
    /* Wrap-around: INT32_MAX - 1, INT32_MAX, 0, then 1. */
    CK_RC(idem(3, 0, INT32_MAX - 1, 3, 0, NULL), 0);
    int64_t b = -1, end = log_end();
    CK_RC(idem(3, 0, INT32_MAX - 1, 3, 0, &b), 0); /* its duplicate */
    ck_assert_int_eq(b, end - 3);
    CK_RC(idem(3, 0, 0, 1, 0, NULL), KLOG_EOUTOFORDER);
    CK_RC(idem(3, 0, 1, 2, 0, NULL), 0);
    /* Batches without producer id are untouched by all this. */
    klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .value = "x", .value_len = 1,
                       .key_len = KLOG_NULL_LEN};
    CK_RC(klog_append(part, &r, 1, NULL), 0);
    CK_RC(klog_append(part, &r, 1, NULL), 0);
}
END_TEST

START_TEST(test_expiry)
{
    int64_t old = klog__now_ms() - 2LL * 86400000;
    size_t len;
    void *b = mk(9, 0, 0, 2, 0, old, -1, &len);
    CK_RC(klog_append_batch(part, b, len, NULL), 0);
    free(b);
    CK_RC(idem(10, 0, 0, 1, 0, NULL), 0); /* fresh: stays */
    CK_RC(idem(9, 0, 5, 1, 0, NULL), KLOG_EOUTOFORDER);
    ck_assert_int_ge(klog_retention(lg, KLOG_TIMESTAMP_NOW), 0);
    char *s = dump_state();
    ck_assert_msg(strstr(s, "pid 9 ") == NULL, "%s", s);
    ck_assert_msg(strstr(s, "pid 10 ") != NULL, "%s", s);
    free(s);
    /* Forgotten: its next batch is a first batch again. */
    CK_RC(idem(9, 0, 5, 1, 0, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ snapshots */

START_TEST(test_snapshot_round_trip)
{
    CK_RC(idem(1, 0, 0, 2, 0, NULL), 0);
    CK_RC(idem(2, 3, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(idem(4, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(klog_append_marker(part, 4, 0, 0, 2, NULL), 0);
    CK_RC(idem(1, 0, 2, 3, 0, NULL), 0);
    char *before = dump_state();
    close_log();
    char *snaps = files_with(".snapshot");
    ck_assert_str_eq(snaps, "00000000000000000008.snapshot ");
    free(snaps);
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(after);
    /* Missing snapshot: the rescan gives the same state, and says so. */
    close_log();
    rm_suffix(".snapshot");
    logbuf[0] = 0;
    open_log();
    after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "rebuilding producer state") != NULL, "%s", logbuf);
    free(after);
    /* Corrupt snapshot: reported, deleted, same state again. */
    close_log();
    size_t len;
    uint8_t *data = tu_read_file(pdir(), "00000000000000000008.snapshot", &len);
    ck_assert_ptr_nonnull(data);
    data[len / 2] ^= 0x40;
    ck_assert_int_eq(tu_write_file(pdir(), "00000000000000000008.snapshot", data, len), 0);
    free(data);
    logbuf[0] = 0;
    open_log();
    after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "unreadable") != NULL, "%s", logbuf);
    free(after);
    free(before);
}
END_TEST

START_TEST(test_snapshots_follow_segments)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    int64_t seq = 0;
    for (int i = 0; i < 40; i++, seq += 4)
        CK_RC(idem(5, 0, (int32_t)seq, 4, 0, NULL), 0);
    klog_offsets_t o;
    CK_RC(klog_partition_offsets(part, &o), 0);
    ck_assert_int_gt(o.segments, 3);
    /* One snapshot per rolled-to segment base (none for the first). */
    klog_segment_info_t *si;
    size_t ns;
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    char want[4096] = "";
    for (size_t i = 1; i < ns; i++) {
        char one[64];
        snprintf(one, sizeof one, "%020lld.snapshot ", (long long)si[i].base_offset);
        strcat(want, one);
    }
    free(si);
    char *snaps = files_with(".snapshot");
    ck_assert_str_eq(snaps, want);
    free(snaps);
    /* DeleteRecords past two segments (some perhaps still being
     * sealed): their snapshots go with them. */
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    int64_t cut = si[2].base_offset;
    free(si);
    CK_RC(klog_delete_records(part, cut), 0);
    snaps = files_with(".snapshot");
    char first[64];
    snprintf(first, sizeof first, "%020lld.snapshot", (long long)cut);
    ck_assert_msg(strncmp(snaps, first, strlen(first)) == 0, "%s", snaps);
    free(snaps);
    char *before = dump_state();
    close_log();
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    CK_RC(idem(5, 0, (int32_t)seq, 1, 0, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ transactions */

START_TEST(test_lso_interleaved)
{
    int64_t a0, b0, c0, m;
    ck_assert_int_eq(lso(), 0);
    CK_RC(idem(100, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, &a0), 0); /* A opens at 0 */
    CK_RC(idem(200, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, &b0), 0); /* B opens at 2 */
    CK_RC(idem(300, 0, 0, 1, 0, &c0), 0);                       /* C plain at 4 */
    ck_assert_int_eq(lso(), a0);
    /* A non-transactional batch while A's transaction is open. */
    CK_RC(idem(100, 0, 2, 1, 0, NULL), KLOG_ETXNSTATE);
    CK_RC(idem(100, 0, 2, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* A at 5 */
    CK_RC(klog_append_marker(part, 100, 0, 1, 0, &m), 0);       /* commit A at 6 */
    ck_assert_int_eq(m, 6);
    ck_assert_int_eq(lso(), b0);
    /* Readers: uncommitted sees everything but markers; committed stops
     * at the LSO. */
    char *u = read_all(0, KLOG_ISOLATION_READ_UNCOMMITTED);
    ck_assert_str_eq(u, "0:p100-s0 1:p100-s1 2:p200-s0 3:p200-s1 4:p300-s0 5:p100-s2 ");
    free(u);
    char *c = read_all(0, KLOG_ISOLATION_READ_COMMITTED);
    ck_assert_str_eq(c, "0:p100-s0 1:p100-s1 ");
    free(c);
    /* Marker fencing. */
    CK_RC(klog_append_marker(part, 200, 0, 0, 5, NULL), 0); /* abort B at 7, coord 5 */
    CK_RC(klog_append_marker(part, 200, 0, 0, 4, NULL), KLOG_ECOORDFENCED);
    CK_RC(idem(200, 1, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* B epoch 1 at 8 */
    CK_RC(klog_append_marker(part, 200, 0, 0, 6, NULL), KLOG_EFENCED);
    CK_RC(klog_append_marker(part, 200, 1, 0, 6, NULL), 0); /* abort again at 9 */
    ck_assert_int_eq(lso(), log_end());
    c = read_all(0, KLOG_ISOLATION_READ_COMMITTED);
    ck_assert_str_eq(c, "0:p100-s0 1:p100-s1 4:p300-s0 5:p100-s2 ");
    free(c);
    /* The .txnindex: B's two aborted transactions with their LSOs. */
    char *s = dump_state();
    ck_assert_msg(strstr(s, "abort 200 2 7 8\n") && strstr(s, "abort 200 8 9 10\n"), "%s", s);
    free(s);
    /* Leases carry the aborted transactions of their range. */
    klog_lease_t *l;
    CK_RC(klog_lease_acquire_isolated(part, 0, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    size_t na;
    const klog_aborted_txn_t *ab = klog_lease_aborted(l, &na);
    ck_assert_uint_eq(na, 2);
    ck_assert_int_eq(ab[0].producer_id, 200);
    ck_assert_int_eq(ab[0].first_offset, 2);
    ck_assert_int_eq(ab[1].first_offset, 8);
    ck_assert_int_eq(klog_lease_next_offset(l), 10);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire_isolated(part, 8, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ab = klog_lease_aborted(l, &na);
    ck_assert_uint_eq(na, 1);
    ck_assert_int_eq(ab[0].first_offset, 8);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire(part, 0, 1 << 20, &l), 0);
    ck_assert_ptr_null(klog_lease_aborted(l, &na));
    ck_assert_uint_eq(na, 0);
    klog_lease_release(l);
}
END_TEST

START_TEST(test_read_committed_follows_lso)
{
    CK_RC(idem(1, 0, 0, 1, 0, NULL), 0);                       /* 0 */
    CK_RC(idem(2, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 1, open */
    CK_RC(idem(1, 0, 1, 1, 0, NULL), 0);                       /* 2 */
    klog_reader_t *r;
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED), 0);
    klog_record_t rec;
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 0);
    CK_RC(klog_reader_next(r, &rec), 0); /* stops at the LSO (1) */
    /* A lease stops there too; past it (below the watermark) it is empty. */
    klog_lease_t *l;
    CK_RC(klog_lease_acquire_isolated(part, 0, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ck_assert_int_eq(klog_lease_next_offset(l), 1);
    klog_lease_release(l);
    CK_RC(klog_lease_acquire_isolated(part, 2, 1 << 20, KLOG_ISOLATION_READ_COMMITTED, &l), 0);
    ck_assert_uint_eq(klog_lease_bytes(l), 0);
    klog_lease_release(l);
    CK_RC(klog_append_marker(part, 2, 0, 1, 0, NULL), 0); /* commit at 3 */
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 1);
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 2);
    CK_RC(klog_reader_next(r, &rec), 0);
    ck_assert_int_eq(klog_reader_position(r), 4); /* past the marker */
    klog_reader_close(r);
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, 5), -EINVAL);
    klog_reader_close(r);
}
END_TEST

/* Concatenate batches with explicit offsets (a leader's fetch response). */
static size_t follower_chunk(uint8_t *out, int64_t *next, int64_t pid, int16_t epoch, int32_t seq,
                             int n, unsigned flags, int32_t leader_epoch)
{
    size_t len;
    void *b = mk(pid, epoch, seq, n, flags, KLOG_TIMESTAMP_NOW, leader_epoch, &len);
    klog_batch_set_base_offset(b, *next);
    memcpy(out, b, len);
    free(b);
    *next += n;
    return len;
}

/* A marker batch as a leader would have written it, at *next. */
static size_t follower_marker(uint8_t *out, int64_t *next, int64_t pid, int16_t epoch, int commit,
                              int32_t leader_epoch)
{
    uint8_t key[4] = {0, 0, 0, (uint8_t)commit}, value[6] = {0, 0, 0, 0, 0, 1};
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    ck_assert_int_eq(klog_builder_set_producer(b, pid, epoch, -1,
                                               KLOG_ATTR_TRANSACTIONAL | KLOG_ATTR_CONTROL),
                     0);
    klog_builder_set_leader_epoch(b, leader_epoch);
    klog_record_t r = {.timestamp = KLOG_TIMESTAMP_NOW, .key = key, .key_len = 4,
                       .value = value, .value_len = 6};
    ck_assert_int_eq(klog_builder_add(b, &r), 0);
    const void *d;
    size_t len;
    ck_assert_int_eq(klog_builder_finish(b, &d, &len), 0);
    memcpy(out, d, len);
    klog_batch_set_base_offset(out, *next);
    klog_builder_free(b);
    *next += 1;
    return len;
}

START_TEST(test_follower_and_epochs)
{
    static uint8_t buf[1 << 16];
    size_t len = 0;
    int64_t next = 0;
    len += follower_chunk(buf + len, &next, 1, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, 1); /* 0-1 */
    len += follower_chunk(buf + len, &next, 2, 0, 0, 2, 0, 1);                       /* 2-3 */
    len += follower_marker(buf + len, &next, 1, 0, 0, 3);                            /* 4 */
    next = 10; /* a gap */
    len += follower_chunk(buf + len, &next, 3, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, 3); /* 10-11 */
    len += follower_chunk(buf + len, &next, 2, 0, 2, 1, 0, 5);                       /* 12 */
    CK_RC(klog_append_follower(part, buf, len), 0);
    ck_assert_int_eq(log_end(), 13);
    ck_assert_int_eq(lso(), 10); /* pid 3's transaction is open */
    /* The abort's LSO counts pid 3's transaction begun later in the same
     * append: Kafka updates the producers of a whole append before it
     * completes its transactions. */
    char *s = dump_state();
    ck_assert_msg(strstr(s, "abort 1 0 4 10\n") != NULL, "%s", s);
    ck_assert_msg(strstr(s, "epoch 1 0\nepoch 3 4\nepoch 5 12\n") != NULL, "%s", s);
    free(s);
    /* A non-transactional batch of pid 3 inside its open transaction is
     * refused, and nothing of that append is written. */
    len = 0;
    len += follower_chunk(buf + len, &next, 4, 0, 0, 1, 0, 5);
    len += follower_chunk(buf + len, &next, 3, 0, 2, 1, 0, 5);
    CK_RC(klog_append_follower(part, buf, len), KLOG_ETXNSTATE);
    ck_assert_int_eq(log_end(), 13);
    /* OffsetForLeaderEpoch, Kafka's cases. */
    int32_t e;
    int64_t off;
    CK_RC(klog_offset_for_leader_epoch(part, -1, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    CK_RC(klog_offset_for_leader_epoch(part, 5, &e, &off), 0);
    ck_assert(e == 5 && off == 13);
    CK_RC(klog_offset_for_leader_epoch(part, 4, &e, &off), 0);
    ck_assert(e == 3 && off == 12);
    CK_RC(klog_offset_for_leader_epoch(part, 1, &e, &off), 0);
    ck_assert(e == 1 && off == 4);
    CK_RC(klog_offset_for_leader_epoch(part, 0, &e, &off), 0);
    ck_assert(e == 0 && off == 0);
    CK_RC(klog_offset_for_leader_epoch(part, 6, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    /* The checkpoint file is Kafka's. */
    size_t fl;
    uint8_t *f = tu_read_file(pdir(), "leader-epoch-checkpoint", &fl);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq((char *)f, "0\n3\n1 0\n3 4\n5 12\n");
    free(f);
    /* Truncation drops the epochs above the new end, and reloads the
     * producer state: pid 3's transaction is gone with its batch. */
    CK_RC(klog_truncate(part, 10), 0);
    int64_t end = log_end();
    ck_assert_int_le(end, 10);
    ck_assert_int_eq(lso(), end);
    CK_RC(klog_offset_for_leader_epoch(part, 5, &e, &off), 0);
    ck_assert(e == -1 && off == -1);
    CK_RC(klog_offset_for_leader_epoch(part, 3, &e, &off), 0);
    ck_assert(e == 3 && off == end);
    s = dump_state();
    ck_assert_msg(strstr(s, "pid 3 ") == NULL, "%s", s);
    ck_assert_msg(strstr(s, "abort 1 0 4 10\n") != NULL, "%s", s);
    free(s);
    /* The log start moving truncates the cache from the start. */
    CK_RC(klog_delete_records(part, 3), 0);
    s = dump_state();
    ck_assert_msg(strstr(s, "epoch 1 3\nepoch 3 4\n") != NULL, "%s", s);
    free(s);
    char *before = dump_state();
    close_log();
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_truncate_reload)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    int64_t bases[30];
    for (int i = 0; i < 30; i++)
        CK_RC(idem(1, 0, i * 3, 3, 0, &bases[i]), 0);
    CK_RC(idem(2, 0, 0, 1, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
    CK_RC(klog_append_marker(part, 2, 0, 0, 0, NULL), 0);
    /* Cut into the middle: the state is as if batches 0..14 were all. */
    CK_RC(klog_truncate(part, bases[15]), 0);
    char *cut = dump_state();
    ck_assert_msg(strstr(cut, "pid 2 ") == NULL && strstr(cut, "abort") == NULL, "%s", cut);
    int64_t b;
    CK_RC(idem(1, 0, 42, 3, 0, &b), 0); /* a retry of batch 14 */
    ck_assert_int_eq(b, bases[14]);
    /* Rebuilt from scratch: the same. */
    close_log();
    rm_suffix(".snapshot");
    open_log();
    char *again = dump_state();
    ck_assert_str_eq(again, cut);
    free(cut);
    free(again);
    CK_RC(idem(1, 0, 45, 3, 0, &b), 0);
    ck_assert_int_eq(b, bases[15]);
}
END_TEST

START_TEST(test_txnindex_files)
{
    close_log();
    seg_bytes = 1024;
    open_log();
    for (int i = 0; i < 12; i++) {
        CK_RC(idem(1, (int16_t)i, 0, 8, KLOG_ATTR_TRANSACTIONAL, NULL), 0);
        CK_RC(klog_append_marker(part, 1, (int16_t)i, i % 2, 0, NULL), 0);
        CK_RC(klog_segment_roll(part), 1);
    }
    char *tx = files_with(".txnindex");
    /* Aborts (even i) each land in their own segment. */
    int cnt = 0;
    for (char *p = tx; (p = strstr(p, ".txnindex")); p++)
        cnt++;
    ck_assert_int_eq(cnt, 6);
    free(tx);
    char *before = dump_state();
    /* A damaged .txnindex is rebuilt from its segment at open. */
    close_log();
    tx = files_with(".txnindex");
    char name[64];
    memcpy(name, tx, 29);
    name[29] = 0;
    free(tx);
    ck_assert_int_eq(tu_write_file(pdir(), name, "garbage", 7), 0);
    logbuf[0] = 0;
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    ck_assert_msg(strstr(logbuf, "unreadable") != NULL, "%s", logbuf);
    free(after);
    /* Retention of whole segments takes their .txnindex along. */
    klog_segment_info_t *si;
    size_t ns;
    CK_RC(klog_segment_list(part, &si, &ns), 0);
    int64_t cut = si[4].base_offset;
    free(si);
    CK_RC(klog_delete_records(part, cut), 0);
    tx = files_with(".txnindex");
    cnt = 0;
    for (char *p = tx; (p = strstr(p, ".txnindex")); p++)
        cnt++;
    ck_assert_int_eq(cnt, 4);
    free(tx);
    free(before);
}
END_TEST

/* With KLOG_VISIBLE_FLUSHED the watermark lags the log end: a transaction
 * whose marker is not yet below it still holds the LSO (Kafka's
 * "unreplicated" transactions). */
START_TEST(test_lso_unstable_marker)
{
    close_log();
    klog_config_t *tc;
    CK_RC(klog_config_new(&tc), 0);
    CK_RC(klog_config_set(tc, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED), 0);
    open_log();
    CK_RC(klog_topic_create(lg, "f", 1, tc), 0);
    klog_config_free(tc);
    CK_RC(klog_partition(lg, "f", 0, &part), 0);
    CK_RC(idem(1, 0, 0, 2, KLOG_ATTR_TRANSACTIONAL, NULL), 0); /* 0-1 */
    CK_RC(klog_flush(part), 0);
    ck_assert_int_eq(lso(), 0);
    CK_RC(klog_append_marker(part, 1, 0, 1, 0, NULL), 0); /* 2, not visible yet */
    ck_assert_int_eq(lso(), 0);
    CK_RC(klog_flush(part), 0);
    ck_assert_int_eq(lso(), 3);
    klog_reader_t *r;
    CK_RC(klog_reader_open(part, 0, &r), 0);
    CK_RC(klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED), 0);
    klog_record_t rec;
    CK_RC(klog_reader_next(r, &rec), 1);
    CK_RC(klog_reader_next(r, &rec), 1);
    CK_RC(klog_reader_next(r, &rec), 0);
    klog_reader_close(r);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct tw {
    int64_t pid;
    int rc;
    long n;
} tw_t;

static void *txn_writer(void *arg)
{
    tw_t *w = arg;
    int32_t seq = 0;
    for (int k = 0; k < 300 && !w->rc; k++) {
        int txn = k % 3 != 0;
        w->rc = idem(w->pid, 0, seq, 2, txn ? KLOG_ATTR_TRANSACTIONAL : 0, NULL);
        seq += 2;
        if (!w->rc && txn)
            w->rc = klog_append_marker(part, w->pid, 0, k % 2, 0, NULL);
        if (!w->rc && k % 50 == 0)
            w->rc = klog_flush(part);
        w->n++;
    }
    return NULL;
}

static void *txn_reader(void *arg)
{
    tw_t *w = arg;
    klog_reader_t *r;
    w->rc = klog_reader_open(part, 0, &r);
    if (!w->rc)
        w->rc = klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED);
    klog_record_t rec;
    int idle = 0;
    while (!w->rc && idle < 2000) {
        int rc = klog_reader_next(r, &rec);
        if (rc < 0)
            w->rc = rc;
        else if (rc == 1)
            w->n++, idle = 0;
        else
            idle++, klog_reader_wait(r, 1);
        int64_t l;
        int32_t e;
        int64_t o;
        if (!w->rc && (w->rc = klog_partition_lso(part, &l)) == 0)
            w->rc = klog_offset_for_leader_epoch(part, 0, &e, &o);
        klog_lease_t *ls;
        if (!w->rc && (w->rc = klog_lease_acquire_isolated(part, 0, 4096,
                                                           KLOG_ISOLATION_READ_COMMITTED, &ls)) == 0)
            klog_lease_release(ls);
    }
    klog_reader_close(r);
    return NULL;
}

START_TEST(test_threads_txn)
{
    close_log();
    seg_bytes = 4096;
    open_log();
    tw_t w[3] = {{.pid = 11}, {.pid = 12}, {0}};
    pthread_t th[3];
    ck_assert_int_eq(pthread_create(&th[0], NULL, txn_writer, &w[0]), 0);
    ck_assert_int_eq(pthread_create(&th[1], NULL, txn_writer, &w[1]), 0);
    ck_assert_int_eq(pthread_create(&th[2], NULL, txn_reader, &w[2]), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(w[i].rc == 0, "thread %d: %s", i, klog_err_name(w[i].rc));
    ck_assert_int_eq(lso(), log_end());
    ck_assert_int_gt(w[2].n, 0);
    /* What the threads left equals a rebuild from the log. */
    char *before = dump_state();
    close_log();
    rm_suffix(".snapshot");
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}
END_TEST

Suite *logstate_threads_suite(void)
{
    Suite *s = suite_create("logstate_threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_threads_txn);
    suite_add_tcase(s, tc);
    return s;
}

Suite *logstate_wired_suite(void)
{
    Suite *s = suite_create("logstate_wired");
    TCase *tc = tcase_create("wired");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_dup_each_slot);
    tcase_add_test(tc, test_sequence_rules);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_snapshots_follow_segments);
    tcase_add_test(tc, test_lso_interleaved);
    tcase_add_test(tc, test_read_committed_follows_lso);
    tcase_add_test(tc, test_follower_and_epochs);
    tcase_add_test(tc, test_truncate_reload);
    tcase_add_test(tc, test_txnindex_files);
    tcase_add_test(tc, test_lso_unstable_marker);
    suite_add_tcase(s, tc);
    return s;
}
