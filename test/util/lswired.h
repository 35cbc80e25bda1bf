/*
 * util/lswired.h — the fixture of the wired log-state suites
 * (check_logstate_wired.c, check_logstate_txn.c): a log in a temporary
 * directory with topic "t", producer batches through the public API, and
 * the partition's producer state, aborted transactions and epochs as text
 * (dump_state) to compare across reopen and rebuild. Included once per
 * suite file: everything is static.
 */
#ifndef KLOG_TEST_LSWIRED_H
#define KLOG_TEST_LSWIRED_H
#include <check.h>
#include <dirent.h>
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

static inline void on_log(void *ctx, int level, const char *msg)
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

static inline void open_log(void)
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

static inline void close_log(void)
{
    CK_RC(klog_close(lg), 0);
    lg = NULL;
    part = NULL;
}

static inline void setup(void)
{
    tmp = tu_tmpdir("lswired");
    logbuf[0] = 0;
    seg_bytes = 0;
    open_log();
}

static inline void teardown(void)
{
    if (lg)
        klog_close(lg);
    lg = NULL;
    tu_rmtree(tmp);
    free(tmp);
}

static inline char *pdir(void)
{
    static char d[4096];
    snprintf(d, sizeof d, "%s/t-0", tmp);
    return d;
}

/* A batch of n records from producer pid/epoch starting at sequence seq. */
static inline void *mk(int64_t pid, int16_t epoch, int32_t seq, int n, unsigned flags, int64_t ts,
                int32_t leader_epoch, size_t *len)
{
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    ck_assert_int_eq(klog_builder_set_producer(b, pid, epoch, seq, flags), 0);
    klog_builder_set_leader_epoch(b, leader_epoch);
    for (int i = 0; i < n; i++) {
        char v[32];
        int vl = snprintf(v, sizeof v, "p%lld-s%lld", (long long)pid, (long long)seq + i);
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
static inline int idem(int64_t pid, int16_t epoch, int32_t seq, int n, unsigned flags, int64_t *base)
{
    size_t len;
    void *b = mk(pid, epoch, seq, n, flags, KLOG_TIMESTAMP_NOW, -1, &len);
    int rc = klog_append_batch(part, b, len, base);
    free(b);
    return rc;
}

static inline int64_t log_end(void)
{
    klog_offsets_t o;
    CK_RC(klog_partition_offsets(part, &o), 0);
    return o.log_end;
}

static inline int64_t lso(void)
{
    int64_t v = -7;
    CK_RC(klog_partition_lso(part, &v), 0);
    return v;
}

/* The whole state as text, to compare across reopen and rebuild. */
static inline char *dump_state(void)
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

/* The partition's state after a close and an open equals the state now. */
static inline void ck_state_survives_reopen(void)
{
    char *before = dump_state();
    close_log();
    open_log();
    char *after = dump_state();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}

/* Names in the partition directory ending in suffix, sorted, one string. */
static inline char *files_with(const char *suffix)
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

static inline void rm_suffix(const char *suffix)
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
static inline char *read_all(int64_t from, int iso)
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

#endif
