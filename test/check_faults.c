/*
 * check_faults.c — fault injection at scale (issue 9).
 *
 * One scripted workload (open, create three topics, appends that roll
 * segments, explicit flushes, per-append fsync, retention, DeleteRecords,
 * close, reopen, read everything, append again, close) is run once with a
 * fault armed that never fires, to count the calls of every kind the
 * platform seam sees. Then, for every kind of call (open, write, fsync,
 * mmap, rename, alloc, truncate, read) and up to SAMPLES values of N spread
 * over that count, the workload runs again with "the Nth call of that kind
 * fails" armed (ENOSPC, EIO, EMFILE, ENOMEM, torn writes, and every fifth
 * case sticky: every later call fails too, like a full disk).
 *
 * Each case checks what a user can observe:
 *   - every call returns (no crash, no hang: the Check timeout bounds it);
 *     a failing call returns an error code, never a half-success;
 *   - a partition whose append or flush failed on a write or an fsync
 *     refuses every further append with KLOG_EFAILED until reopened;
 *   - once the fault is cleared the log opens (recovering), and every
 *     partition holds a gap-free run of exactly the records the workload
 *     wrote at those offsets, reaching at least every record acknowledged
 *     as durable (klog_flush returned 0 after it, a FLUSH_MESSAGES=1 append
 *     returned 0, or klog_close returned 0) and no further than what was
 *     attempted; the recovered log accepts appends and closes cleanly;
 *   - under ASan, nothing leaks on any of these paths.
 *   - a read-only reader in a second process (tu_rdwatch.h), reopening
 *     and reading all through the case, only ever sees the records the
 *     workload wrote at their offsets and log starts that never go back.
 * The number of faults injected is printed at the end of the sweep.
 *
 * The background thread (sealing rolled segments) makes call counts vary
 * slightly between runs; the sweep only needs them approximately.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_rdwatch.h"
#include "util/tu_records.h"

#define SAMPLES 40  /* values of N per kind of call */
#define ROUNDS 24   /* append rounds per workload */
#define NPART 4

static const char *const op_names[KLOG__FAULT_NOPS] = {
    "open", "write", "fsync", "mmap", "rename", "alloc", "truncate", "read",
    "unlink", "dirlist", "stat", "mkdir"};

/* Partitions of the workload: topic, partition, and what it exercises. */
static const struct {
    const char *topic;
    int32_t id;
} parts[NPART] = {{"a", 0}, {"a", 1}, {"d", 0}, {"r", 0}};
#define P_DURABLE 2   /* topic "d": FLUSH_MESSAGES = 1 */
#define P_RETAINED 3  /* topic "r": retention by size and DeleteRecords */

/* What the workload knows about one partition. */
typedef struct {
    int created;        /* its topic's creation returned 0 */
    int64_t acked;      /* end of the records whose append returned 0 */
    int64_t durable;    /* end of the records acknowledged as durable */
    int64_t attempted;  /* end of every append tried */
    int must_fail;      /* an append/flush failed on write/fsync: EFAILED until reopen */
} pstate_t;

typedef struct {
    pstate_t p[NPART];
    int op;             /* armed fault kind, -1 for the counting run */
    int err;
    long nth;
    int sticky;
    int errors_seen;    /* calls that returned an error */
    char ctx[96];       /* "op=write n=12 err=EIO" for failure messages */
} wl_t;

static long total_faults, total_cases, lost_acked_cases, silent_cases;
static long watch_total[3]; /* the second-process readers: passes, records, errors */

static char *fault_tmpdir(void)
{
    /* tmpfs when there is one: fsyncs are counted, not relied upon. */
    struct stat st;
    if (!getenv("KLOG_TEST_DISK") && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        char *path = strdup("/dev/shm/klog-faults-XXXXXX");
        if (path && mkdtemp(path))
            return path;
        free(path);
    }
    return tu_tmpdir("faults");
}

/* ------------------------------------------------------------ records */

/* The record partition i holds at offset o: key and value name both. */
static size_t rec_key(int i, int64_t o, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap, "k%d-%lld", i, (long long)o);
}

static size_t rec_val(int i, int64_t o, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "v%d-%lld:", i, (long long)o);
    size_t len = (size_t)n + (size_t)((o * 7 + i) % 90);
    if (len >= cap)
        len = cap - 1;
    for (size_t k = (size_t)n; k < len; k++)
        buf[k] = (char)('a' + ((size_t)(o + i) * 3 + k) % 26);
    return len;
}

static int64_t rec_ts(int i, int64_t o) { return 1700000000000LL + o * 13 + i; }

/* Records per batch appended at o (a function of o, so a retry at the
 * same offset writes the same records). */
static size_t batch_n(int64_t o) { return 1 + (size_t)(o % 3); }

static int rec_matches(int i, const klog_record_t *r, int64_t o)
{
    char k[32], v[128];
    size_t kl = rec_key(i, o, k, sizeof k), vl = rec_val(i, o, v, sizeof v);
    return r->offset == o && r->key_len == (int32_t)kl && memcmp(r->key, k, kl) == 0 &&
           r->value_len == (int32_t)vl && memcmp(r->value, v, vl) == 0 &&
           r->timestamp == rec_ts(i, o) && r->header_count == 0;
}

/* ------------------------------------------------------------ workload */

static void verbose_logger(void *ctx, int level, const char *msg)
{
    (void)ctx;
    printf("  klog[%d]: %s\n", level, msg);
}

static int open_cfg(const char *dir, klog_t **out)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg); /* may fail under an alloc fault */
    if (rc)
        return rc;
    klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 1024);
    klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 128);
    klog_config_set(cfg, KLOG_CONF_INDEX_MAX_BYTES, 4096);
    klog_config_set(cfg, KLOG_CONF_RETENTION_MS, -1);
    klog_config_set(cfg, KLOG_CONF_CHECKPOINT_MS, 3600000);
    klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0);
    if (getenv("KLOG_TEST_VERBOSE"))
        klog_config_set_logger(cfg, verbose_logger, NULL);
    rc = klog_open(dir, cfg, 0, out);
    klog_config_free(cfg);
    return rc;
}

static int is_injected(const wl_t *w, int rc)
{
    return w->op >= 0 && rc == -w->err && klog__fault_fired() > 0;
}

static void note_error(wl_t *w, int i, int rc)
{
    w->errors_seen++;
    /* A write or fsync that failed under an append or a flush poisons the
     * partition (design.md "Errors and bad input"). */
    if ((w->op == KLOG__FAULT_WRITE || w->op == KLOG__FAULT_FSYNC) && is_injected(w, rc))
        w->p[i].must_fail = 1;
}

static void append_one(wl_t *w, int i, klog_partition_t *p)
{
    pstate_t *s = &w->p[i];
    int64_t o = s->acked;
    size_t n = batch_n(o);
    klog_record_t recs[3];
    char keys[3][32], vals[3][128];
    for (size_t k = 0; k < n; k++) {
        int64_t ro = o + (int64_t)k;
        memset(&recs[k], 0, sizeof recs[k]);
        recs[k].key = keys[k];
        recs[k].key_len = (int32_t)rec_key(i, ro, keys[k], sizeof keys[k]);
        recs[k].value = vals[k];
        recs[k].value_len = (int32_t)rec_val(i, ro, vals[k], sizeof vals[k]);
        recs[k].timestamp = rec_ts(i, ro);
    }
    if (o + (int64_t)n > s->attempted)
        s->attempted = o + (int64_t)n;
    int64_t base = -1;
    int rc = klog_append(p, recs, n, &base);
    if (s->must_fail)
        ck_assert_msg(rc == KLOG_EFAILED, "[%s] %s-%d: append after a failed write/fsync: %s",
                      w->ctx, parts[i].topic, parts[i].id, klog_err_name(rc));
    if (rc == 0) {
        ck_assert_msg(base == o, "[%s] %s-%d: append landed at %lld, expected %lld", w->ctx,
                      parts[i].topic, parts[i].id, (long long)base, (long long)o);
        s->acked = o + (int64_t)n;
        if (i == P_DURABLE)
            s->durable = s->acked;
    } else {
        ck_assert_msg(rc < 0, "[%s] append returned %d", w->ctx, rc);
        note_error(w, i, rc);
    }
}

static void flush_one(wl_t *w, int i, klog_partition_t *p)
{
    int64_t acked = w->p[i].acked;
    int rc = klog_flush(p);
    if (rc == 0) {
        if (!w->p[i].must_fail) /* a failed partition's flush proves nothing new */
            w->p[i].durable = acked;
    } else {
        note_error(w, i, rc);
    }
}

static int get_parts(klog_t *log, wl_t *w, klog_partition_t **pp)
{
    int n = 0;
    for (int i = 0; i < NPART; i++) {
        pp[i] = NULL;
        if (w->p[i].created && klog_partition(log, parts[i].topic, parts[i].id, &pp[i]) == 0)
            n++;
    }
    return n;
}

/* Drain a reader (under faults: whatever it returns, it must return). */
static void read_all(wl_t *w, klog_partition_t *p)
{
    klog_reader_t *r;
    int rc = klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r);
    if (rc) {
        w->errors_seen++;
        return;
    }
    klog_record_t rec;
    for (int k = 0; k < 100000 && (rc = klog_reader_next(r, &rec)) == 1; k++)
        ;
    if (rc < 0)
        w->errors_seen++;
    klog_reader_close(r);
}

static void workload(const char *dir, wl_t *w)
{
    klog_t *log;
    klog_partition_t *pp[NPART];
    if (open_cfg(dir, &log)) {
        w->errors_seen++;
        return;
    }
    /* Topics: "a" (2 partitions, flushed by hand), "d" (fsync every
     * append), "r" (size retention, DeleteRecords). */
    klog_config_t *tc = NULL;
    int rc = klog_topic_create(log, "a", 2, NULL);
    if (rc == 0)
        w->p[0].created = w->p[1].created = 1;
    else
        w->errors_seen++;
    if (klog_config_new(&tc) == 0) {
        klog_config_set(tc, KLOG_CONF_FLUSH_MESSAGES, 1);
        if (klog_topic_create(log, "d", 1, tc) == 0)
            w->p[P_DURABLE].created = 1;
        else
            w->errors_seen++;
        klog_config_free(tc);
    }
    if (klog_config_new(&tc) == 0) {
        klog_config_set(tc, KLOG_CONF_RETENTION_BYTES, 2048);
        if (klog_topic_create(log, "r", 1, tc) == 0)
            w->p[P_RETAINED].created = 1;
        else
            w->errors_seen++;
        klog_config_free(tc);
    }
    get_parts(log, w, pp);
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < NPART; i++)
            if (pp[i])
                append_one(w, i, pp[i]);
        if (round % 8 == 7)
            for (int i = 0; i < NPART; i++)
                if (pp[i] && i != P_DURABLE)
                    flush_one(w, i, pp[i]);
    }
    if (klog_retention(log, KLOG_TIMESTAMP_NOW) < 0)
        w->errors_seen++;
    if (pp[P_RETAINED] && w->p[P_RETAINED].acked > 4) {
        klog_offsets_t of;
        if (klog_partition_offsets(pp[P_RETAINED], &of) == 0 &&
            klog_delete_records(pp[P_RETAINED], of.log_start + 1) != 0)
            w->errors_seen++;
    }
    rc = klog_close(log);
    if (rc == 0) {
        for (int i = 0; i < NPART; i++)
            w->p[i].durable = w->p[i].acked;
    } else {
        w->errors_seen++;
    }

    /* Reopen (recovering whatever the fault left), read, append, close. */
    if (open_cfg(dir, &log)) {
        w->errors_seen++;
        return;
    }
    for (int i = 0; i < NPART; i++)
        w->p[i].must_fail = 0;
    get_parts(log, w, pp);
    for (int i = 0; i < NPART; i++) {
        if (!pp[i])
            continue;
        klog_offsets_t of;
        /* Appends continue from what recovery found: an append that
         * failed after its write may have left its records (verify()
         * checks they are the ones attempted). */
        if (klog_partition_offsets(pp[i], &of) == 0) {
            if (of.log_end < w->p[i].acked)
                lost_acked_cases++;
            w->p[i].acked = of.log_end;
        }
        read_all(w, pp[i]);
        append_one(w, i, pp[i]);
    }
    rc = klog_close(log);
    if (rc == 0) {
        for (int i = 0; i < NPART; i++)
            w->p[i].durable = w->p[i].acked;
    } else {
        w->errors_seen++;
    }
}

/* ------------------------------------------------------------ verification */

/* With no fault armed: the log opens, holds what it must, takes appends. */
static void verify(const char *dir, wl_t *w)
{
    klog_t *log;
    int rc = open_cfg(dir, &log);
    ck_assert_msg(rc == 0, "[%s] reopen after the fault: %s", w->ctx, klog_err_name(rc));
    for (int i = 0; i < NPART; i++) {
        pstate_t *s = &w->p[i];
        klog_partition_t *p;
        rc = klog_partition(log, parts[i].topic, parts[i].id, &p);
        if (s->created)
            ck_assert_msg(rc == 0, "[%s] topic %s lost: %s", w->ctx, parts[i].topic,
                          klog_err_name(rc));
        if (rc)
            continue; /* never created (the creation failed and did not persist) */
        klog_offsets_t of;
        ck_assert_int_eq(klog_partition_offsets(p, &of), 0);
        ck_assert_msg(of.log_end >= s->durable,
                      "[%s] %s-%d: log end %lld below the durable end %lld", w->ctx,
                      parts[i].topic, parts[i].id, (long long)of.log_end, (long long)s->durable);
        ck_assert_msg(of.log_end <= s->attempted,
                      "[%s] %s-%d: log end %lld past everything appended (%lld)", w->ctx,
                      parts[i].topic, parts[i].id, (long long)of.log_end,
                      (long long)s->attempted);
        if (i != P_RETAINED)
            ck_assert_msg(of.log_start == 0, "[%s] %s-%d: log start %lld", w->ctx,
                          parts[i].topic, parts[i].id, (long long)of.log_start);
        if (of.log_end < s->acked)
            lost_acked_cases++;
        /* Every record from log start to log end, exactly, then the end. */
        klog_reader_t *r;
        rc = klog_reader_open(p, of.log_start, &r);
        ck_assert_msg(rc == 0, "[%s] reader_open: %s", w->ctx, klog_err_name(rc));
        klog_record_t rec;
        int64_t o = of.log_start;
        while ((rc = klog_reader_next(r, &rec)) == 1) {
            if (o == of.log_start && i == P_RETAINED && rec.offset < o)
                continue; /* a batch straddling the log start */
            ck_assert_msg(rec_matches(i, &rec, o),
                          "[%s] %s-%d: record at %lld is not what was written at %lld", w->ctx,
                          parts[i].topic, parts[i].id, (long long)rec.offset, (long long)o);
            o++;
            ck_assert_int_le(o, of.log_end);
        }
        ck_assert_msg(rc == 0 && o == of.log_end,
                      "[%s] %s-%d: read stopped at %lld (%s), log end %lld", w->ctx,
                      parts[i].topic, parts[i].id, (long long)o, klog_err_name(rc),
                      (long long)of.log_end);
        klog_reader_close(r);
        /* The recovered partition takes appends again. */
        s->acked = of.log_end;
        s->must_fail = 0;
        append_one(w, i, p);
        ck_assert_msg(s->acked > of.log_end, "[%s] %s-%d: append after recovery failed",
                      w->ctx, parts[i].topic, parts[i].id);
    }
    rc = klog_close(log);
    ck_assert_msg(rc == 0, "[%s] close after recovery: %s", w->ctx, klog_err_name(rc));
}

/* ------------------------------------------------------------ the sweep */

static void run_case(int op, long nth, int err, size_t short_bytes, int sticky)
{
    /* KLOG_FAULTSWEEP_ONLY=op:n replays one case (e.g. under gdb). */
    const char *only = getenv("KLOG_FAULTSWEEP_ONLY");
    char want[48];
    snprintf(want, sizeof want, "%s:%ld", op_names[op], nth);
    if (only && strcmp(only, want) != 0)
        return;
    char *dir = fault_tmpdir();
    wl_t w;
    memset(&w, 0, sizeof w);
    w.op = op;
    w.err = err;
    w.nth = nth;
    w.sticky = sticky;
    snprintf(w.ctx, sizeof w.ctx, "op=%s n=%ld err=%s%s%s", op_names[op], nth,
             klog_err_name(-err), short_bytes ? " torn" : "", sticky ? " sticky" : "");
    /* A read-only reader in a second process follows the whole case. */
    static const tu_rdwatch_part_t wparts[NPART] = {{"a", 0}, {"a", 1}, {"d", 0}, {"r", 0}};
    tu_rdwatch_t watch;
    tu_rdwatch_start(&watch, dir, wparts, NPART, rec_matches);
    klog__fault_arm(op, nth, err, short_bytes, sticky);
    workload(dir, &w);
    long fired = klog__fault_fired();
    klog__fault_clear();
    total_faults += fired;
    total_cases++;
    if (fired > 0 && w.errors_seen == 0) {
        silent_cases++;
        if (getenv("KLOG_TEST_VERBOSE"))
            printf("faultsweep: [%s] absorbed\n", w.ctx);
    }
    if (fired > 0 && (op == KLOG__FAULT_WRITE || op == KLOG__FAULT_FSYNC))
        ck_assert_msg(w.errors_seen > 0, "[%s] a write/fsync failed and no call said so",
                      w.ctx);
    verify(dir, &w);
    char msg[256];
    long counts[3];
    int watched = tu_rdwatch_stop(&watch, msg, sizeof msg, counts);
    ck_assert_msg(watched == 0, "[%s] read-only reader in another process: %s", w.ctx, msg);
    for (int k = 0; k < 3; k++)
        watch_total[k] += counts[k];
    tu_rmtree(dir);
    free(dir);
}

/* The errors a call of each kind can meet, rotated over the cases. */
static int pick_err(int op, int k)
{
    static const int open_errs[] = {EIO, EMFILE, ENOSPC, EACCES};
    static const int io_errs[] = {EIO, ENOSPC};
    static const int path_errs[] = {EIO, EACCES};
    static const int dir_errs[] = {EIO, EMFILE, ENOMEM};
    switch (op) {
    case KLOG__FAULT_OPEN: return open_errs[k % 4];
    case KLOG__FAULT_MMAP:
    case KLOG__FAULT_ALLOC: return ENOMEM;
    case KLOG__FAULT_FSYNC:
    case KLOG__FAULT_READ: return EIO;
    case KLOG__FAULT_UNLINK:
    case KLOG__FAULT_STAT: return path_errs[k % 2];
    case KLOG__FAULT_DIR: return dir_errs[k % 3];
    case KLOG__FAULT_MKDIR: return k % 2 ? EACCES : ENOSPC;
    default: return io_errs[k % 2];
    }
}

static void sweep(int op)
{
    /* Count the calls of this kind in one fault-free run. */
    char *dir = fault_tmpdir();
    wl_t w;
    memset(&w, 0, sizeof w);
    w.op = -1;
    snprintf(w.ctx, sizeof w.ctx, "counting run");
    klog__fault_arm(op, 1L << 40, EIO, 0, 0);
    workload(dir, &w);
    long calls = klog__fault_calls(op);
    klog__fault_clear();
    ck_assert_int_eq(w.errors_seen, 0);
    verify(dir, &w);
    tu_rmtree(dir);
    free(dir);
    ck_assert_msg(calls > 0, "the workload makes no %s call", op_names[op]);

    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(0x9a17u + (uint64_t)op));
    long cases = calls < SAMPLES ? calls : SAMPLES;
    long before = total_faults, silent_before = silent_cases;
    for (long k = 0; k < cases; k++) {
        /* Evenly spread with jitter; always the first and the last call. */
        long nth = calls <= SAMPLES ? k + 1 : 1 + k * (calls - 1) / (SAMPLES - 1);
        if (calls > SAMPLES && k > 0 && k < cases - 1)
            nth += (long)tu_rng_below(&rng, (uint64_t)((calls - 1) / (SAMPLES - 1)));
        int err = pick_err(op, (int)k);
        size_t torn = op == KLOG__FAULT_WRITE && k % 3 == 2 ? 1 + tu_rng_below(&rng, 120) : 0;
        run_case(op, nth, err, torn, k % 5 == 4);
    }
    printf("faultsweep: %-8s %5ld calls, %2ld cases, %3ld faults injected, "
           "%ld cases where no call reported one (absorbed: retried, or only a log message)\n",
           op_names[op], calls, cases, total_faults - before, silent_cases - silent_before);
    fflush(stdout);
}

START_TEST(test_sweep)
{
    sweep(_i);
    printf("faultsweep: %s total so far in this process: %ld cases, %ld faults, "
           "%ld recoveries shorter than the acknowledged (non-durable) end; read-only readers "
           "in a second process: %ld passes, %ld records checked, %ld reads ended by errors\n",
           op_names[_i], total_cases, total_faults, lost_acked_cases, watch_total[0],
           watch_total[1], watch_total[2]);
}
END_TEST

Suite *faultsweep_suite(void)
{
    Suite *s = suite_create("faultsweep");
    TCase *tc = tcase_create("sweep");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_sweep, 0, KLOG__FAULT_NOPS);
    suite_add_tcase(s, tc);
    return s;
}
