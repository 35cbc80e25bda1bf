/*
 * check_recovery.c — durability, recovery, bounded resources and read-only
 * openers in other processes (storage engine II).
 *
 * Every record a test writes carries a payload derived from its offset
 * (rec_value(), rec_ts()), so any read can check that what came back is
 * what went in, at the right offset. Tests that need a process to die
 * without closing the log fork() a child that _exit()s; tests that need a
 * second process (read-only follower, lowered RLIMIT_NOFILE) fork one that
 * reports success through its exit status. Children never call ck_assert.
 *
 * Internals are read through the storage headers (log.h, partition.h) (fsyncs, recovery stats,
 * LRU count) and faults are injected through the platform seam.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "storage/log.h"
#include "storage/partition.h"
#include "util/testutil.h"

#define T0 1700000000000LL
#define TOPIC "t"

static char *tmp;

/* Recovery tests count fsyncs instead of relying on them and kill
 * processes rather than machines (the page cache survives), so they run
 * on tmpfs when there is one: real fsyncs on a busy disk would make the
 * suite slow without making it stronger. KLOG_TEST_DISK=1 keeps $TMPDIR. */
char *recovery_tmpdir(const char *tag);
char *recovery_tmpdir(const char *tag)
{
    struct stat st;
    if (!getenv("KLOG_TEST_DISK") && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        char *path = klog__asprintf("/dev/shm/klog-%s-XXXXXX", tag);
        if (path && mkdtemp(path))
            return path;
        free(path);
    }
    return tu_tmpdir(tag);
}

static void setup(void) { tmp = recovery_tmpdir("recovery"); }
static void teardown(void)
{
    klog__fault_clear();
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/* ------------------------------------------------------------ records */

/* The value stored at offset off: a prefix naming it and a filler whose
 * length and letters depend on it. */
static size_t rec_value(int64_t off, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "value-%lld:", (long long)off);
    size_t len = (size_t)n + (size_t)(off % 41);
    if (len >= cap)
        len = cap - 1;
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + (off + (int64_t)i) % 26);
    buf[len] = 0;
    return len;
}

static int64_t rec_ts(int64_t off) { return T0 + off * 10; }

/* Append n records as one batch; the batch must land at `expect`.
 * Returns klog_append's code (or -1000 when the offset is wrong). */
static int append_at(klog_partition_t *p, int64_t expect, size_t n)
{
    char vals[16][128], keys[16][32];
    klog_record_t recs[16];
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n; i++) {
        int64_t off = expect + (int64_t)i;
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].key_len = snprintf(keys[i], sizeof keys[i], "k%lld", (long long)off);
        recs[i].key = keys[i];
        recs[i].value_len = (int32_t)rec_value(off, vals[i], sizeof vals[i]);
        recs[i].value = vals[i];
        recs[i].timestamp = rec_ts(off);
    }
    int64_t base = -1;
    int rc = klog_append(p, recs, n, &base);
    if (rc == 0 && base != expect)
        return -1000;
    return rc;
}

/* Append single-record batches [from, to). */
static void append_range(klog_partition_t *p, int64_t from, int64_t to)
{
    for (int64_t o = from; o < to; o++) {
        int rc = append_at(p, o, 1);
        ck_assert_msg(rc == 0, "append at %lld: %s", (long long)o, klog_strerror(rc));
    }
}

/* Check one record against what rec_value/rec_ts put at its offset. */
static int rec_ok(const klog_record_t *r, int64_t expect, char *why, size_t whylen)
{
    char v[128], k[32];
    size_t vl = rec_value(expect, v, sizeof v);
    int kl = snprintf(k, sizeof k, "k%lld", (long long)expect);
    if (r->offset != expect) {
        snprintf(why, whylen, "offset %lld, expected %lld", (long long)r->offset,
                 (long long)expect);
        return 0;
    }
    if (r->value_len != (int32_t)vl || memcmp(r->value, v, vl) != 0 || r->key_len != kl ||
        memcmp(r->key, k, (size_t)kl) != 0) {
        snprintf(why, whylen, "record %lld: key/value differ", (long long)expect);
        return 0;
    }
    if (r->timestamp != rec_ts(expect)) {
        snprintf(why, whylen, "record %lld: timestamp %lld", (long long)expect,
                 (long long)r->timestamp);
        return 0;
    }
    return 1;
}

/*
 * Read [from, to) and require exactly those records, then the end
 * (klog_reader_next returning 0). 1 when all is well, else 0 and why.
 */
static int read_range(klog_partition_t *p, int64_t from, int64_t to, char *why, size_t whylen)
{
    klog_reader_t *r;
    int rc = klog_reader_open(p, from, &r);
    if (rc) {
        snprintf(why, whylen, "reader_open(%lld): %s", (long long)from, klog_strerror(rc));
        return 0;
    }
    int ok = 1;
    klog_record_t rec;
    for (int64_t o = from; o < to && ok; o++) {
        rc = klog_reader_next(r, &rec);
        if (rc != 1) {
            snprintf(why, whylen, "reader_next at %lld: %d (%s)", (long long)o, rc,
                     klog_strerror(rc));
            ok = 0;
        } else {
            ok = rec_ok(&rec, o, why, whylen);
        }
    }
    if (ok && (rc = klog_reader_next(r, &rec)) != 0) {
        snprintf(why, whylen, "reader_next after %lld: %d (offset %lld), expected the end",
                 (long long)to, rc, rc == 1 ? (long long)rec.offset : -1LL);
        ok = 0;
    }
    klog_reader_close(r);
    return ok;
}

#define CHECK_RANGE(p, from, to)                                 \
    do {                                                         \
        char why_[256] = "";                                     \
        int ok_ = read_range((p), (from), (to), why_, sizeof why_); \
        ck_assert_msg(ok_, "%s", why_);                          \
    } while (0)

/* ------------------------------------------------------------ log set-up */

static atomic_long recovery_msgs;
/* Error-level messages of the current test, for checks on what was named. */
static char logged_errors[8192];
static pthread_mutex_t logged_mu = PTHREAD_MUTEX_INITIALIZER;
static void count_logger(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (strstr(msg, "recover") || strstr(msg, "rebuild") || strstr(msg, "scanned"))
        atomic_fetch_add(&recovery_msgs, 1);
    if (level == KLOG_LOG_ERROR) {
        pthread_mutex_lock(&logged_mu);
        size_t n = strlen(logged_errors);
        snprintf(logged_errors + n, sizeof logged_errors - n, "%s\n", msg);
        pthread_mutex_unlock(&logged_mu);
    }
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "klog[%d]: %s\n", level, msg);
}

/* Open dir with (key, value) pairs ending in key 0 applied to the log
 * configuration (topics inherit it). */
static int open_log_rc(const char *dir, const int64_t *kv, unsigned flags, klog_t **out)
{
    klog_config_t *cfg;
    ck_assert_int_eq(klog_config_new(&cfg), 0);
    for (; kv && kv[0]; kv += 2)
        ck_assert_int_eq(klog_config_set(cfg, (int)kv[0], kv[1]), 0);
    klog_config_set_logger(cfg, count_logger, NULL);
    int rc = klog_open(dir, cfg, flags, out);
    klog_config_free(cfg);
    return rc;
}

static klog_t *open_log(const char *dir, const int64_t *kv)
{
    klog_t *log = NULL;
    int rc = open_log_rc(dir, kv, 0, &log);
    ck_assert_msg(rc == 0, "klog_open(%s): %s", dir, klog_strerror(rc));
    return log;
}

static klog_partition_t *part(klog_t *log, int create)
{
    klog_partition_t *p;
    if (create)
        ck_assert_int_eq(klog_topic_create(log, TOPIC, 1, NULL), 0);
    ck_assert_int_eq(klog_partition(log, TOPIC, 0, &p), 0);
    return p;
}

static klog_offsets_t offsets(klog_partition_t *p)
{
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
    return o;
}

static long fsyncs(klog_partition_t *p) { return klog__partition_fsyncs(p); }

static char *pdir(const char *dir) { return klog__asprintf("%s/" TOPIC "-0", dir); }

static char *seg_file(const char *dir, int64_t base, const char *ext)
{
    return klog__asprintf("%s/" TOPIC "-0/%020lld%s", dir, (long long)base, ext);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Base offsets of the partition's segments, in order; returns count. */
static int seg_bases(klog_partition_t *p, int64_t *v, int max)
{
    klog__seglist_t *l = klog__partition_segments(p);
    int n = 0;
    for (size_t i = 0; l && i < l->n && n < max; i++)
        v[n++] = klog__segment_base(l->seg[i]);
    klog__seglist_unref(l);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    char *slash = strrchr(path, '/');
    char *d = strndup(path, (size_t)(slash - path));
    uint8_t *b = tu_read_file(d, slash + 1, len);
    free(d);
    return b;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = slurp(from, &n);
    ck_assert_msg(b != NULL, "read %s", from);
    FILE *f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

/* Copy a log directory (two levels: root files and partition dirs). */
static void copy_tree(const char *from, const char *to)
{
    mkdir(to, 0755);
    DIR *d = opendir(from);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *a = klog__asprintf("%s/%s", from, e->d_name);
        char *b = klog__asprintf("%s/%s", to, e->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(a, &st), 0);
        if (S_ISDIR(st.st_mode))
            copy_tree(a, b);
        else
            copy_file(a, b);
        free(a);
        free(b);
    }
    closedir(d);
}

/* Reap a child; its exit status, or 128 + signal. */
static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ============================================================ flush policy */

START_TEST(test_flush_every_append)
{
    const int64_t kv[] = {KLOG_CONF_FLUSH_MESSAGES, 1, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    long f0 = fsyncs(p);
    int64_t o = 0;
    for (int i = 0; i < 20; i++) {
        size_t n = 1 + (size_t)(i % 3);
        ck_assert_int_eq(append_at(p, o, n), 0);
        o += (int64_t)n;
        klog_offsets_t of = offsets(p);
        ck_assert_int_eq(of.log_end, o);
        ck_assert_int_eq(of.recovery_point, o);
        ck_assert_int_eq(of.high_watermark, o);
        ck_assert_int_eq(fsyncs(p) - f0, i + 1);
    }
    klog_offsets_t of = offsets(p);
    CHECK_RANGE(p, 0, of.log_end);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* FLUSH_MESSAGES = N with flushed visibility: nothing visible or durable
 * until N records are written, then everything at once. */
START_TEST(test_flush_every_n)
{
    const int64_t kv[] = {KLOG_CONF_FLUSH_MESSAGES, 5, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    long f0 = fsyncs(p);
    klog_reader_t *r;
    klog_record_t rec;
    ck_assert_int_eq(klog_reader_open(p, 0, &r), 0);
    for (int round = 0; round < 3; round++) {
        int64_t base = round * 5;
        for (int64_t o = base; o < base + 4; o++) {
            ck_assert_int_eq(append_at(p, o, 1), 0);
            klog_offsets_t of = offsets(p);
            ck_assert_int_eq(of.log_end, o + 1);
            ck_assert_int_eq(of.high_watermark, base);
            ck_assert_int_eq(of.recovery_point, base);
            ck_assert_int_eq(klog_reader_next(r, &rec), 0);
            ck_assert_int_eq(klog_partition_wait(p, base, 0), 0);
        }
        ck_assert_int_eq(fsyncs(p) - f0, round);
        ck_assert_int_eq(append_at(p, base + 4, 1), 0);
        klog_offsets_t of = offsets(p);
        ck_assert_int_eq(of.high_watermark, base + 5);
        ck_assert_int_eq(of.recovery_point, base + 5);
        ck_assert_int_eq(fsyncs(p) - f0, round + 1);
        for (int64_t o = base; o < base + 5; o++) {
            char why[200];
            ck_assert_int_eq(klog_reader_next(r, &rec), 1);
            ck_assert_msg(rec_ok(&rec, o, why, sizeof why), "%s", why);
        }
        ck_assert_int_eq(klog_reader_next(r, &rec), 0);
    }
    /* A batch of 7 crosses the threshold by itself. */
    ck_assert_int_eq(append_at(p, 15, 7), 0);
    ck_assert_int_eq(offsets(p).high_watermark, 22);
    klog_reader_close(r);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* Same count policy with written visibility: readers see the log end at
 * once while the recovery point lags. */
START_TEST(test_flush_every_n_written)
{
    const int64_t kv[] = {KLOG_CONF_FLUSH_MESSAGES, 5, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    for (int64_t o = 0; o < 12; o++) {
        ck_assert_int_eq(append_at(p, o, 1), 0);
        klog_offsets_t of = offsets(p);
        ck_assert_int_eq(of.high_watermark, o + 1);
        ck_assert_int_eq(of.log_end, o + 1);
        ck_assert_int_eq(of.recovery_point, (o + 1) / 5 * 5);
        CHECK_RANGE(p, 0, o + 1);
    }
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* No flush policy, flushed visibility: nothing becomes visible until an
 * explicit flush. */
START_TEST(test_flush_never_until_flush)
{
    const int64_t kv[] = {KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 10);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, 10);
    ck_assert_int_eq(of.high_watermark, 0);
    ck_assert_int_eq(of.recovery_point, 0);
    CHECK_RANGE(p, 0, 0);
    ck_assert_int_eq(klog_flush(p), 0);
    of = offsets(p);
    ck_assert_int_eq(of.high_watermark, 10);
    ck_assert_int_eq(of.recovery_point, 10);
    CHECK_RANGE(p, 0, 10);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* FLUSH_MS: the background flush makes data durable and, under flushed
 * visibility, visible; the watermark never runs ahead of the recovery
 * point. Waits on the watermark, never on the clock. */
START_TEST(test_flush_ms)
{
    const int64_t kv[] = {KLOG_CONF_FLUSH_MS, 20, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    long f0 = fsyncs(p);
    for (int round = 0; round < 3; round++) {
        int64_t base = round * 4;
        for (int64_t o = base; o < base + 4; o++) {
            ck_assert_int_eq(append_at(p, o, 1), 0);
            klog_offsets_t of = offsets(p);
            ck_assert_int_le(of.high_watermark, of.recovery_point);
        }
        ck_assert_int_eq(klog_partition_wait(p, base + 3, 20000), 1);
        klog_offsets_t of = offsets(p);
        ck_assert_int_eq(of.high_watermark, base + 4);
        ck_assert_int_eq(of.recovery_point, base + 4);
        CHECK_RANGE(p, 0, base + 4);
    }
    ck_assert_int_ge(fsyncs(p) - f0, 1);
    ck_assert_int_le(fsyncs(p) - f0, 12);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* ============================================================ group commit */

/*
 * fsync takes microseconds on tmpfs, so appenders would rarely overlap and
 * group commit would have nothing to share. The test binary therefore
 * provides fdatasync() itself (the static library's calls bind to it) and
 * can make each one last slow_fsync_us, the way a disk does.
 */
static atomic_int slow_fsync_us;
/* fdatasync of this file fails with EIO (a fault tied to a file rather
 * than to the Nth call, for work done by the background thread). */
static char fail_fsync_path[512];
static atomic_int fail_fsync_set;
int fdatasync(int fd)
{
    int us = atomic_load(&slow_fsync_us);
    if (us > 0) {
        struct timespec ts = {0, us * 1000L};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&fail_fsync_set)) {
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, fail_fsync_path) == 0) {
                errno = EIO;
                return -1;
            }
        }
    }
    return (int)syscall(SYS_fdatasync, fd);
}

#define GC_THREADS 8
#define GC_APPENDS 200

typedef struct gc_arg {
    klog_partition_t *p;
    int errors;
    char why[160];
} gc_arg_t;

static void *gc_thread(void *v)
{
    gc_arg_t *a = v;
    char val[64];
    for (int i = 0; i < GC_APPENDS; i++) {
        klog_record_t rec = {0};
        rec.value_len = snprintf(val, sizeof val, "thread %p #%d", (void *)a, i);
        rec.value = val;
        rec.key_len = KLOG_NULL_LEN;
        rec.timestamp = KLOG_TIMESTAMP_NOW;
        int64_t off;
        int rc = klog_append(a->p, &rec, 1, &off);
        if (rc) {
            snprintf(a->why, sizeof a->why, "append: %s", klog_strerror(rc));
            a->errors++;
            break;
        }
        klog_offsets_t of;
        klog_partition_offsets(a->p, &of);
        if (of.recovery_point < off + 1 || of.high_watermark < off + 1) {
            snprintf(a->why, sizeof a->why, "append of %lld returned before its fsync (rp %lld)",
                     (long long)off, (long long)of.recovery_point);
            a->errors++;
        }
    }
    return NULL;
}

START_TEST(test_group_commit)
{
    const int64_t kv[] = {KLOG_CONF_FLUSH_MESSAGES, 1, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED,
                          KLOG_CONF_SEGMENT_BYTES, 64 * 1024, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    long f0 = fsyncs(p);
    atomic_store(&slow_fsync_us, 1000);
    pthread_t th[GC_THREADS];
    gc_arg_t args[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].p = p;
        ck_assert_int_eq(pthread_create(&th[i], NULL, gc_thread, &args[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&slow_fsync_us, 0);
    for (int i = 0; i < GC_THREADS; i++)
        ck_assert_msg(args[i].errors == 0, "thread %d: %s", i, args[i].why);
    long n = fsyncs(p) - f0;
    const long appends = GC_THREADS * GC_APPENDS;
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "group commit: %ld fsyncs for %ld appends\n", n, appends);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, appends);
    /* With 8 appenders and 1 ms fsyncs, fsyncs are shared. */
    ck_assert_msg(n <= appends / 2, "%ld fsyncs for %ld appends: not shared", n, appends);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, appends);
    ck_assert_int_eq(of.recovery_point, appends);
    /* Every thread's records are there, each thread's in order. */
    klog_reader_t *r;
    ck_assert_int_eq(klog_reader_open(p, 0, &r), 0);
    int next[GC_THREADS] = {0};
    klog_record_t rec;
    for (long i = 0; i < appends; i++) {
        ck_assert_int_eq(klog_reader_next(r, &rec), 1);
        ck_assert_int_eq(rec.offset, i);
        int k = -1;
        for (int t = 0; t < GC_THREADS; t++) {
            char want[64];
            int wl = snprintf(want, sizeof want, "thread %p #%d", (void *)&args[t], next[t]);
            if (rec.value_len == wl && memcmp(rec.value, want, (size_t)wl) == 0)
                k = t;
        }
        ck_assert_msg(k >= 0, "record %ld is no thread's next record", i);
        next[k]++;
    }
    ck_assert_int_eq(klog_reader_next(r, &rec), 0);
    klog_reader_close(r);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* ============================================================ torn tails */

/* Build a one-segment log of batches of varying sizes; return the start
 * position of its last batch and the offset it starts at. */
static void build_small_log(const char *dir, int64_t *last_pos, int64_t *last_base, int64_t *end)
{
    const int64_t kv[] = {KLOG_CONF_INDEX_INTERVAL_BYTES, 100, 0};
    klog_t *log = open_log(dir, kv);
    klog_partition_t *p = part(log, 1);
    int64_t o = 0;
    char *lp = seg_file(dir, 0, ".log");
    for (int i = 0; i < 12; i++) {
        *last_pos = offsets(p).bytes;
        *last_base = o;
        size_t n = 1 + (size_t)(i % 4);
        ck_assert_int_eq(append_at(p, o, n), 0);
        o += (int64_t)n;
    }
    *end = o;
    ck_assert_int_eq(klog_close(log), 0);
    ck_assert_int_gt(file_size(lp), *last_pos);
    free(lp);
}

START_TEST(test_truncated_tail_every_byte)
{
    char *orig = klog__asprintf("%s/orig", tmp);
    int64_t last_pos, last_base, end;
    build_small_log(orig, &last_pos, &last_base, &end);
    char *olp = seg_file(orig, 0, ".log");
    int64_t full = file_size(olp);
    free(olp);
    const int64_t kv[] = {KLOG_CONF_INDEX_INTERVAL_BYTES, 100, 0};
    for (int64_t cut = last_pos; cut < full; cut++) {
        char *work = klog__asprintf("%s/w%lld", tmp, (long long)cut);
        copy_tree(orig, work);
        /* A crash leaves the active segment unsealed and no marker. */
        char *lp = seg_file(work, 0, ".log");
        char *sp = seg_file(work, 0, ".seal");
        char *mk = klog__asprintf("%s/.kafka_cleanshutdown", work);
        ck_assert_int_eq(truncate(lp, cut), 0);
        if (cut % 2)
            unlink(sp); /* odd cuts: no seal; even: a stale seal */
        unlink(mk);
        klog_t *log = open_log(work, kv);
        klog_partition_t *p = part(log, 0);
        klog_offsets_t of = offsets(p);
        ck_assert_msg(of.log_end == last_base, "cut at %lld: log end %lld, expected %lld",
                      (long long)cut, (long long)of.log_end, (long long)last_base);
        ck_assert_int_eq(of.high_watermark, last_base);
        ck_assert_int_eq(file_size(lp), last_pos);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->truncated_bytes), cut - last_pos);
        CHECK_RANGE(p, 0, last_base);
        CHECK_RANGE(p, last_base / 2, last_base);
        ck_assert_int_eq(append_at(p, last_base, 3), 0);
        CHECK_RANGE(p, 0, last_base + 3);
        ck_assert_int_eq(klog_close(log), 0);
        /* And again after the clean close. */
        log = open_log(work, kv);
        p = part(log, 0);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
        CHECK_RANGE(p, 0, last_base + 3);
        ck_assert_int_eq(klog_close(log), 0);
        tu_rmtree(work);
        free(work);
        free(lp);
        free(sp);
        free(mk);
    }
    free(orig);
}
END_TEST

/* Garbage in the middle of the (unsealed) last segment: the log ends at
 * the last good batch before it. */
START_TEST(test_garbage_mid_segment)
{
    int64_t last_pos, last_base, end;
    build_small_log(tmp, &last_pos, &last_base, &end);
    /* Find the position of the batch holding offset 10 by walking headers. */
    char *lp = seg_file(tmp, 0, ".log");
    size_t len;
    uint8_t *b = slurp(lp, &len);
    size_t pos = 0;
    int64_t bad_base = -1;
    while (pos + 61 <= len) {
        int64_t base = (int64_t)((uint64_t)b[0 + pos] << 56 | (uint64_t)b[1 + pos] << 48 |
                                 (uint64_t)b[2 + pos] << 40 | (uint64_t)b[3 + pos] << 32 |
                                 (uint64_t)b[4 + pos] << 24 | (uint64_t)b[5 + pos] << 16 |
                                 (uint64_t)b[6 + pos] << 8 | b[7 + pos]);
        uint32_t blen = (uint32_t)b[pos + 8] << 24 | (uint32_t)b[pos + 9] << 16 |
                        (uint32_t)b[pos + 10] << 8 | b[pos + 11];
        if (base >= 10) {
            bad_base = base;
            break;
        }
        pos += blen + 12;
    }
    ck_assert_int_gt(bad_base, 0);
    free(b);
    /* Scribble over the record bytes of that batch (CRC no longer matches). */
    int fd = open(lp, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "GARBAGEGARBAGE", 14, (off_t)pos + 65), 14);
    close(fd);
    char *sp = seg_file(tmp, 0, ".seal");
    char *mk = klog__asprintf("%s/.kafka_cleanshutdown", tmp);
    unlink(sp);
    unlink(mk);
    atomic_store(&recovery_msgs, 0);
    klog_t *log = open_log(tmp, NULL);
    klog_partition_t *p = part(log, 0);
    ck_assert_int_gt(atomic_load(&recovery_msgs), 0);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, bad_base);
    ck_assert_int_eq(file_size(lp), (int64_t)pos);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->truncated_bytes), (int64_t)len - (int64_t)pos);
    CHECK_RANGE(p, 0, bad_base);
    ck_assert_int_eq(append_at(p, bad_base, 2), 0);
    CHECK_RANGE(p, 0, bad_base + 2);
    ck_assert_int_eq(klog_close(log), 0);
    free(lp);
    free(sp);
    free(mk);
}
END_TEST

/* A sealed segment in the middle that lost its tail (its seal no longer
 * matches): it is scanned and cut, and, as Kafka does, every later segment
 * is discarded; appends continue after the cut. */
/* A sealed segment in the middle whose .log grew past its seal (garbage
 * appended): the sealed prefix still matches the seal's digest, so only the
 * excess is removed and every later segment is kept. */
START_TEST(test_sealed_middle_grown)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 150);
    int64_t bases[64];
    int n = seg_bases(p, bases, 64);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(klog_close(log), 0);
    char *lp = seg_file(tmp, bases[1], ".log");
    int64_t sz = file_size(lp);
    FILE *f = fopen(lp, "ab");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 100; i++)
        fputc(0xA5, f);
    fclose(f);
    log = open_log(tmp, kv);
    p = part(log, 0);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, 150);
    ck_assert_int_eq(of.segments, n);
    ck_assert_int_eq(file_size(lp), sz);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->truncated_bytes), 100);
    CHECK_RANGE(p, 0, 150);
    ck_assert_int_eq(klog_close(log), 0);
    free(lp);
}
END_TEST

/* A sealed segment in the middle that grew past its seal AND has damage
 * inside its sealed bytes (power-loss round: "append 71.log@972; garble
 * 71.log@281"): the excess past the seal is removed, but the sealed data is
 * never cut away and no later segment is deleted; reading the damaged batch
 * reports KLOG_ECRC, everything after it reads back. */
START_TEST(test_sealed_middle_grown_damaged)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 150);
    int64_t bases[64];
    int n = seg_bases(p, bases, 64);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(klog_close(log), 0);
    char *lp = seg_file(tmp, bases[1], ".log");
    int64_t sz = file_size(lp);
    FILE *f = fopen(lp, "ab");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 100; i++)
        fputc(0xA5, f);
    fclose(f);
    /* One flipped byte in the last record of the segment's first batch. */
    int fd = open(lp, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t hdr[12], b;
    ck_assert_int_eq(pread(fd, hdr, sizeof hdr, 0), 12);
    int64_t blen = ((int64_t)hdr[8] << 24) | (hdr[9] << 16) | (hdr[10] << 8) | hdr[11];
    off_t at = (off_t)(12 + blen - 1);
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x5A;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    log = open_log(tmp, kv);
    p = part(log, 0);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, 150);
    ck_assert_int_eq(of.segments, n);
    ck_assert_int_eq(file_size(lp), sz);
    for (int i = 2; i < n; i++) {
        char *g = seg_file(tmp, bases[i], ".log");
        ck_assert_msg(exists(g), "%s deleted after a damaged sealed segment", g);
        free(g);
    }
    /* Everything before the damaged batch, then the damage reported. */
    klog_reader_t *r = NULL;
    ck_assert_int_eq(klog_reader_open(p, 0, &r), 0);
    klog_record_t rec;
    char why[256] = "";
    for (int64_t o = 0; o < bases[1]; o++) {
        ck_assert_int_eq(klog_reader_next(r, &rec), 1);
        ck_assert_msg(rec_ok(&rec, o, why, sizeof why), "%s", why);
    }
    ck_assert_int_eq(klog_reader_next(r, &rec), KLOG_ECRC);
    klog_reader_close(r);
    CHECK_RANGE(p, bases[2], 150);
    ck_assert_int_eq(klog_close(log), 0);
    free(lp);
}
END_TEST

/* ============================================================ offsets inside sealed data */

/* Byte position of the k-th batch of a .log (walking the length fields). */
static int64_t nth_batch(const char *path, int k)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int64_t pos = 0;
    for (int i = 0; i < k; i++) {
        uint8_t h[12];
        ck_assert_int_eq(pread(fd, h, sizeof h, pos), 12);
        pos += 12 + (((int64_t)h[8] << 24) | (h[9] << 16) | (h[10] << 8) | h[11]);
    }
    close(fd);
    return pos;
}

/* XOR `mask` into the big-endian field of `width` bytes at pos. */
static void xor_field(const char *path, int64_t pos, int width, uint64_t mask)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b[8];
    ck_assert_int_eq(pread(fd, b, (size_t)width, pos), width);
    for (int i = 0; i < width; i++)
        b[i] ^= (uint8_t)(mask >> (8 * (width - 1 - i)));
    ck_assert_int_eq(pwrite(fd, b, (size_t)width, pos), width);
    close(fd);
}

/* Read from `from`: records [from, good) exactly, then `err` (twice: the
 * damage is reported again, never "caught up"). */
static void expect_damage_at(klog_partition_t *p, int64_t from, int64_t good, int err)
{
    klog_reader_t *r = NULL;
    ck_assert_int_eq(klog_reader_open(p, from, &r), 0);
    klog_record_t rec;
    char why[256] = "";
    for (int64_t o = from; o < good; o++) {
        int rc = klog_reader_next(r, &rec);
        ck_assert_msg(rc == 1, "offset %lld: %d", (long long)o, rc);
        ck_assert_msg(rec_ok(&rec, o, why, sizeof why), "%s", why);
    }
    for (int i = 0; i < 2; i++) {
        int rc = klog_reader_next(r, &rec);
        ck_assert_msg(rc == err, "after %lld: got %d (offset %lld), expected %d", (long long)good,
                      rc, rc == 1 ? (long long)rec.offset : -1LL, err);
    }
    klog_reader_close(r);
}

/* A log of single-record batches in >= 4 sealed segments, closed. */
static int build_sealed(const char *dir, int64_t *bases, int max)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(dir, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 150);
    int n = seg_bases(p, bases, max);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(klog_close(log), 0);
    return n;
}

/* Issue 21 item 3: a flipped bit in a sealed batch's baseOffset (outside
 * the CRC) must not be served as truth: up by one, down by one, far up. */
START_TEST(test_sealed_base_offset_flipped)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    for (int v = 0; v < 4; v++) {
        char *dir = klog__asprintf("%s/v%d", tmp, v);
        int64_t bases[64];
        build_sealed(dir, bases, 64);
        char *lp = seg_file(dir, bases[1], ".log");
        /* The batch holding offset o = bases[1] + 2 + (0 or 1). */
        int64_t o = bases[1] + 2 + (v == 1);
        int64_t at = nth_batch(lp, (int)(o - bases[1]));
        /* v0/v1: bit 0 at two parities (one +1, one -1); v2 far up; v3 +-2. */
        uint64_t mask = v == 2 ? (1ull << 40) : v == 3 ? 2 : 1;
        xor_field(lp, at, 8, mask);
        /* Lowered, the batch before it is where the offsets first clash. */
        int64_t good = (o & (int64_t)mask) ? o - 1 : o;
        klog_t *log = open_log(dir, kv);
        klog_partition_t *p = part(log, 0);
        ck_assert_int_eq(offsets(p).log_end, 150);
        expect_damage_at(p, 0, good, KLOG_ECORRUPT);
        expect_damage_at(p, o, o, KLOG_ECORRUPT);
        CHECK_RANGE(p, bases[2], 150);
        ck_assert_int_eq(klog_close(log), 0);
        free(lp);
        free(dir);
    }
}
END_TEST

/* Issue 21 item 4: a sealed batch whose length or base offset makes it
 * run past its segment is damage, not an unfinished write. */
START_TEST(test_sealed_batch_runs_past_segment)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    for (int v = 0; v < 2; v++) {
        char *dir = klog__asprintf("%s/v%d", tmp, v);
        int64_t bases[64];
        build_sealed(dir, bases, 64);
        char *lp = seg_file(dir, bases[1], ".log");
        int64_t o, at;
        if (v == 0) {
            /* Length of the third batch reaches 50 bytes past the end. */
            o = bases[1] + 2;
            at = nth_batch(lp, 2);
            int fd = open(lp, O_RDWR);
            ck_assert_int_ge(fd, 0);
            uint32_t len = (uint32_t)(file_size(lp) - at - 12 + 50);
            uint8_t b[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                            (uint8_t)len};
            ck_assert_int_eq(pwrite(fd, b, 4, at + 8), 4);
            close(fd);
        } else {
            /* The segment's last batch claims offsets far above the log. */
            o = bases[2] - 1;
            at = nth_batch(lp, (int)(o - bases[1]));
            xor_field(lp, at, 8, 1ull << 33);
        }
        klog_t *log = open_log(dir, kv);
        klog_partition_t *p = part(log, 0);
        ck_assert_int_eq(offsets(p).log_end, 150);
        expect_damage_at(p, bases[1], o, KLOG_ECORRUPT);
        CHECK_RANGE(p, bases[2], 150);
        ck_assert_int_eq(klog_close(log), 0);
        free(lp);
        free(dir);
    }
}
END_TEST

START_TEST(test_truncated_sealed_middle)
{
    /* Issue 21 item 5: a sealed segment cut mid-batch keeps its bytes and
     * every later segment; the lost offsets are named, reads report the
     * damage, what is intact is served. */
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 150);
    int64_t bases[64];
    int n = seg_bases(p, bases, 64);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(klog_close(log), 0);
    char *lp = seg_file(tmp, bases[1], ".log");
    int64_t sz = file_size(lp);
    ck_assert_int_eq(truncate(lp, sz - 10), 0);
    logged_errors[0] = 0;
    log = open_log(tmp, kv);
    p = part(log, 0);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, 150);
    ck_assert_int_eq(of.segments, n);
    ck_assert_int_eq(file_size(lp), sz - 10);
    for (int i = 2; i < n; i++) {
        char *f = seg_file(tmp, bases[i], ".log");
        ck_assert_msg(exists(f), "%s deleted after a damaged segment", f);
        free(f);
    }
    /* Single-record batches: the cut took exactly the last record. */
    char want[128];
    snprintf(want, sizeof want, "offsets %lld to %lld", (long long)(bases[2] - 1),
             (long long)(bases[2] - 1));
    ck_assert_msg(strstr(logged_errors, want) && strstr(logged_errors, lp),
                  "lost offsets not named: %s", logged_errors);
    expect_damage_at(p, 0, bases[2] - 1, KLOG_ECORRUPT);
    CHECK_RANGE(p, bases[2], 150);
    append_range(p, 150, 190);
    CHECK_RANGE(p, bases[2], 190);
    ck_assert_int_eq(klog_close(log), 0);
    log = open_log(tmp, kv);
    p = part(log, 0);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
    expect_damage_at(p, 0, bases[2] - 1, KLOG_ECORRUPT);
    CHECK_RANGE(p, bases[2], 190);
    ck_assert_int_eq(klog_close(log), 0);
    free(lp);
}
END_TEST

/* Issue 21 item 5 (the t_power_loss flake): a rolled segment below the
 * recovery point whose seal is damaged (v0) or gone (v1) and whose .log is
 * damaged inside: bit rot, not a torn write. Nothing is cut or deleted. */
START_TEST(test_flushed_segment_damaged_unsealed)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    for (int v = 0; v < 2; v++) {
        char *dir = klog__asprintf("%s/v%d", tmp, v);
        int64_t bases[64];
        int n = build_sealed(dir, bases, 64);
        char *lp = seg_file(dir, bases[1], ".log");
        char *sp = seg_file(dir, bases[1], ".seal");
        int64_t sz = file_size(lp);
        if (v == 0)
            xor_field(sp, 10, 4, 0xA5A5A5A5u);
        else
            ck_assert_int_eq(unlink(sp), 0);
        /* A flipped byte inside the third batch's records. */
        int64_t at = nth_batch(lp, 3) - 3;
        xor_field(lp, at, 1, 0x5A);
        klog_t *log = open_log(dir, kv);
        klog_partition_t *p = part(log, 0);
        klog_offsets_t of = offsets(p);
        ck_assert_int_eq(of.log_end, 150);
        ck_assert_int_eq(of.segments, n);
        ck_assert_int_eq(file_size(lp), sz);
        /* The rebuilt seal ends where the intact data does: the damaged
         * batch is past it (KLOG_ECORRUPT, not even its CRC is read). */
        expect_damage_at(p, bases[1], bases[1] + 2, KLOG_ECORRUPT);
        CHECK_RANGE(p, bases[2], 150);
        ck_assert_int_eq(klog_close(log), 0);
        free(sp);
        free(lp);
        free(dir);
    }
}
END_TEST

/* Issue 21 item 6: a sealed .log deleted behind the log's back is missing
 * data its seal says existed: the open refuses, naming the file and the
 * offsets, and keeps the seal (removing it accepts the loss). */
START_TEST(test_sealed_log_deleted)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    int64_t bases[64];
    int n = build_sealed(tmp, bases, 64);
    char *lp = seg_file(tmp, bases[1], ".log");
    char *sp = seg_file(tmp, bases[1], ".seal");
    ck_assert_int_eq(unlink(lp), 0);
    logged_errors[0] = 0;
    klog_t *log = NULL;
    ck_assert_int_eq(open_log_rc(tmp, kv, 0, &log), KLOG_ECORRUPT);
    char want[128];
    snprintf(want, sizeof want, "offsets %lld to %lld", (long long)bases[1],
             (long long)(bases[2] - 1));
    ck_assert_msg(strstr(logged_errors, want) && strstr(logged_errors, lp),
                  "missing data not named: %s", logged_errors);
    ck_assert(exists(sp));
    /* Read-only openers refuse too. */
    ck_assert_int_eq(open_log_rc(tmp, kv, KLOG_OPEN_RDONLY, &log), KLOG_ECORRUPT);
    ck_assert_int_eq(unlink(sp), 0);
    log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 0);
    ck_assert_int_eq(offsets(p).segments, n - 1);
    CHECK_RANGE(p, bases[2], 150);
    ck_assert_int_eq(klog_close(log), 0);
    free(sp);
    free(lp);
}
END_TEST

/* Issue 21 item 6: klog.topics deleted while partitions hold data. */
START_TEST(test_topics_missing)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    int64_t bases[64];
    build_sealed(tmp, bases, 64);
    char *tp = klog__asprintf("%s/klog.topics", tmp);
    ck_assert_int_eq(unlink(tp), 0);
    logged_errors[0] = 0;
    klog_t *log = NULL;
    ck_assert_int_eq(open_log_rc(tmp, kv, 0, &log), KLOG_ECORRUPT);
    ck_assert_msg(strstr(logged_errors, tp) && strstr(logged_errors, TOPIC "-0"),
                  "missing klog.topics not named: %s", logged_errors);
    ck_assert_int_eq(open_log_rc(tmp, kv, KLOG_OPEN_RDONLY, &log), KLOG_ECORRUPT);
    free(tp);
}
END_TEST

/* ============================================================ indexes */

#define IX_RECORDS 400

static const int64_t ix_kv[] = {KLOG_CONF_SEGMENT_BYTES, 8192, KLOG_CONF_INDEX_INTERVAL_BYTES, 300,
                                KLOG_CONF_INDEX_MAX_BYTES, 4096, 0};

/* A multi-segment log with index entries in every segment. */
static int build_indexed_log(const char *dir, int64_t *bases, int max)
{
    klog_t *log = open_log(dir, ix_kv);
    klog_partition_t *p = part(log, 1);
    for (int64_t o = 0; o < IX_RECORDS;) {
        size_t n = 1 + (size_t)(o % 3);
        if (o + (int64_t)n > IX_RECORDS)
            n = (size_t)(IX_RECORDS - o);
        ck_assert_int_eq(append_at(p, o, n), 0);
        o += (int64_t)n;
    }
    int n = seg_bases(p, bases, max);
    ck_assert_int_ge(n, 3);
    ck_assert_int_eq(klog_close(log), 0);
    return n;
}

/* Reads by offset and by time are right for every record. */
static void check_lookups(klog_partition_t *p)
{
    for (int64_t o = 0; o < IX_RECORDS; o += 7) {
        klog_reader_t *r;
        klog_record_t rec;
        char why[200];
        ck_assert_int_eq(klog_reader_open(p, o, &r), 0);
        ck_assert_int_eq(klog_reader_next(r, &rec), 1);
        ck_assert_msg(rec_ok(&rec, o, why, sizeof why), "%s", why);
        klog_reader_close(r);
    }
    for (int64_t o = 0; o < IX_RECORDS; o++) {
        int64_t got = -1;
        ck_assert_int_eq(klog_offset_for_time(p, rec_ts(o), &got), 0);
        ck_assert_msg(got == o, "offset_for_time(ts of %lld) = %lld", (long long)o, (long long)got);
        ck_assert_int_eq(klog_offset_for_time(p, rec_ts(o) - 5, &got), 0);
        ck_assert_int_eq(got, o);
    }
    int64_t got = -1;
    ck_assert_int_eq(klog_offset_for_time(p, rec_ts(IX_RECORDS), &got), 0);
    ck_assert_int_eq(got, IX_RECORDS);
}

static void damage_index(const char *path, int zero_fill)
{
    if (!zero_fill) {
        ck_assert_int_eq(unlink(path), 0);
        return;
    }
    int64_t n = file_size(path);
    ck_assert_int_gt(n, 0);
    void *z = calloc(1, (size_t)n);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, z, (size_t)n, 0), n);
    close(fd);
    free(z);
}

/* Damage one index file (which: 0 = .index, 1 = .timeindex) of one
 * segment (active or the first sealed one), reopen, check lookups, close,
 * and require the index files to be what they were. */
static void index_case(int active, int which, int zero_fill)
{
    int64_t bases[64];
    int n = build_indexed_log(tmp, bases, 64);
    const char *ext = which ? ".timeindex" : ".index";
    int64_t base = active ? bases[n - 1] : bases[0];
    char *victim = seg_file(tmp, base, ext);
    /* Originals of every index file. */
    uint8_t *orig[64][2];
    size_t olen[64][2];
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            char *f = seg_file(tmp, bases[i], k ? ".timeindex" : ".index");
            orig[i][k] = slurp(f, &olen[i][k]);
            ck_assert_ptr_nonnull(orig[i][k]);
            free(f);
        }
    ck_assert_uint_gt(olen[active ? n - 1 : 0][which], 0);
    damage_index(victim, zero_fill);

    klog_t *log = open_log(tmp, ix_kv);
    klog_partition_t *p = part(log, 0);
    check_lookups(p);
    CHECK_RANGE(p, 0, IX_RECORDS);
    ck_assert_int_ge(atomic_load(&klog__log_stats(log)->rebuilt_indexes), 1);
    ck_assert_int_eq(klog_close(log), 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            char *f = seg_file(tmp, bases[i], k ? ".timeindex" : ".index");
            size_t len;
            uint8_t *now = slurp(f, &len);
            ck_assert_msg(now && len == olen[i][k] && memcmp(now, orig[i][k], len) == 0,
                          "%s differs from the original after rebuild (%zu vs %zu bytes)", f,
                          len, olen[i][k]);
            free(now);
            free(f);
            free(orig[i][k]);
        }
    /* Appends after the rebuild still index and read correctly. */
    log = open_log(tmp, ix_kv);
    p = part(log, 0);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
    append_range(p, IX_RECORDS, IX_RECORDS + 50);
    CHECK_RANGE(p, 0, IX_RECORDS + 50);
    ck_assert_int_eq(klog_close(log), 0);
    free(victim);
}

START_TEST(test_index_deleted_sealed) { index_case(0, 0, 0); }
END_TEST
START_TEST(test_timeindex_deleted_sealed) { index_case(0, 1, 0); }
END_TEST
START_TEST(test_index_zeroed_sealed) { index_case(0, 0, 1); }
END_TEST
START_TEST(test_timeindex_zeroed_sealed) { index_case(0, 1, 1); }
END_TEST
START_TEST(test_index_deleted_active) { index_case(1, 0, 0); }
END_TEST
START_TEST(test_timeindex_deleted_active) { index_case(1, 1, 0); }
END_TEST
START_TEST(test_index_zeroed_active) { index_case(1, 0, 1); }
END_TEST
START_TEST(test_timeindex_zeroed_active) { index_case(1, 1, 1); }
END_TEST

/* ============================================================ seals, checkpoints */

START_TEST(test_seal_deleted)
{
    int64_t bases[64];
    int n = build_indexed_log(tmp, bases, 64);
    char *sp = seg_file(tmp, bases[1], ".seal");
    char *lp = seg_file(tmp, bases[1], ".log");
    ck_assert_int_eq(unlink(sp), 0);
    klog_t *log = open_log(tmp, ix_kv);
    klog_partition_t *p = part(log, 0);
    /* Only the segment that lost its seal was read. */
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 1);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_bytes), file_size(lp));
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->truncated_bytes), 0);
    ck_assert_int_eq(offsets(p).log_end, IX_RECORDS);
    ck_assert_int_eq(offsets(p).segments, n);
    ck_assert(exists(sp)); /* sealed again */
    check_lookups(p);
    CHECK_RANGE(p, 0, IX_RECORDS);
    ck_assert_int_eq(klog_close(log), 0);
    log = open_log(tmp, ix_kv);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
    ck_assert_int_eq(klog_close(log), 0);
    free(sp);
    free(lp);
}
END_TEST

START_TEST(test_checkpoint_deleted)
{
    int64_t bases[64];
    int n = build_indexed_log(tmp, bases, 64);
    /* Move the log start inside the second segment, then lose the files. */
    klog_t *log = open_log(tmp, ix_kv);
    klog_partition_t *p = part(log, 0);
    int64_t start = bases[1] + 1;
    ck_assert_int_eq(klog_delete_records(p, start), 0);
    ck_assert_int_eq(offsets(p).log_start, start);
    ck_assert_int_eq(klog_close(log), 0);

    char *rp = klog__asprintf("%s/recovery-point-offset-checkpoint", tmp);
    char *ls = klog__asprintf("%s/log-start-offset-checkpoint", tmp);
    ck_assert(exists(rp) && exists(ls));
    ck_assert_int_eq(unlink(rp), 0);
    log = open_log(tmp, ix_kv);
    p = part(log, 0);
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.log_end, IX_RECORDS);
    ck_assert_int_eq(of.log_start, start);
    ck_assert_int_eq(of.recovery_point, IX_RECORDS);
    ck_assert_int_eq(of.segments, n - 1);
    CHECK_RANGE(p, start, IX_RECORDS);
    ck_assert(exists(rp)); /* rewritten */
    ck_assert_int_eq(klog_close(log), 0);

    /* Without the log-start checkpoint the start falls back to the first
     * segment's base (Kafka's rule): nothing below it was deleted. */
    ck_assert_int_eq(unlink(ls), 0);
    log = open_log(tmp, ix_kv);
    p = part(log, 0);
    of = offsets(p);
    ck_assert_int_eq(of.log_start, bases[1]);
    ck_assert_int_eq(of.log_end, IX_RECORDS);
    CHECK_RANGE(p, bases[1], IX_RECORDS);
    ck_assert_int_eq(klog_close(log), 0);

    /* A corrupt recovery checkpoint is treated as absent. */
    ck_assert_int_eq(tu_write_file(tmp, "recovery-point-offset-checkpoint", "0\n7\nbad\n", 8), 0);
    log = open_log(tmp, ix_kv);
    p = part(log, 0);
    CHECK_RANGE(p, bases[1], IX_RECORDS);
    append_range(p, IX_RECORDS, IX_RECORDS + 5);
    ck_assert_int_eq(klog_close(log), 0);
    free(rp);
    free(ls);
}
END_TEST

/* ============================================================ clean vs unclean */

START_TEST(test_clean_reopen_no_scan)
{
    int64_t bases[64];
    int n = build_indexed_log(tmp, bases, 64);
    for (int round = 0; round < 3; round++) {
        atomic_store(&recovery_msgs, 0);
        klog_t *log = open_log(tmp, ix_kv);
        klog_partition_t *p = part(log, 0);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_bytes), 0);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->rebuilt_indexes), 0);
        ck_assert_int_eq(atomic_load(&recovery_msgs), 0);
        ck_assert_int_ge(offsets(p).segments, n);
        ck_assert_int_eq(offsets(p).log_end, IX_RECORDS + round * 10);
        CHECK_RANGE(p, 0, IX_RECORDS + round * 10);
        append_range(p, IX_RECORDS + round * 10, IX_RECORDS + round * 10 + 10);
        ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
        ck_assert_int_eq(klog_close(log), 0);
    }
}
END_TEST

/* Child: append [from, from + n) and die without closing. sync_first
 * makes every rolled segment sealed before the final appends. */
static void crash_child(const char *dir, int64_t from, int64_t n, int64_t tail)
{
    klog_t *log;
    if (open_log_rc(dir, ix_kv, 0, &log))
        _exit(10);
    klog_partition_t *p;
    if (klog_partition(log, TOPIC, 0, &p))
        _exit(11);
    for (int64_t o = from; o < from + n; o++)
        if (append_at(p, o, 1))
            _exit(12);
    if (klog_sync(log))
        _exit(13);
    for (int64_t o = from + n; o < from + n + tail; o++)
        if (append_at(p, o, 1))
            _exit(14);
    _exit(0);
}

START_TEST(test_unclean_scans_only_tail)
{
    klog_t *log = open_log(tmp, ix_kv);
    part(log, 1);
    ck_assert_int_eq(klog_close(log), 0);
    const int64_t total = IX_RECORDS, tail = 5;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        crash_child(tmp, 0, total - tail, tail);
    ck_assert_int_eq(reap(pid), 0);
    char *mk = klog__asprintf("%s/.kafka_cleanshutdown", tmp);
    ck_assert(!exists(mk));
    atomic_store(&recovery_msgs, 0);
    log = open_log(tmp, ix_kv);
    klog_partition_t *p = part(log, 0);
    int64_t bases[64];
    int n = seg_bases(p, bases, 64);
    ck_assert_int_ge(n, 3);
    char *lp = seg_file(tmp, bases[n - 1], ".log");
    /* Only the active segment (the unsealed tail) was read. */
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 1);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_bytes), file_size(lp));
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->truncated_bytes), 0);
    ck_assert_int_gt(atomic_load(&recovery_msgs), 0);
    ck_assert_int_eq(offsets(p).log_end, total);
    check_lookups(p);
    CHECK_RANGE(p, 0, total);
    append_range(p, total, total + 3);
    ck_assert_int_eq(klog_close(log), 0);
    log = open_log(tmp, ix_kv);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
    p = part(log, 0);
    CHECK_RANGE(p, 0, total + 3);
    ck_assert_int_eq(klog_close(log), 0);
    free(mk);
    free(lp);
}
END_TEST

/* A copy of a directory taken while the log is open is a crash image. */
START_TEST(test_copy_while_open)
{
    char *live = klog__asprintf("%s/live", tmp), *img = klog__asprintf("%s/img", tmp);
    klog_t *log = open_log(live, ix_kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 300);
    ck_assert_int_eq(klog_sync(log), 0);
    append_range(p, 300, 310);
    ck_assert_int_eq(klog_flush(p), 0);
    copy_tree(live, img);
    ck_assert_int_eq(klog_close(log), 0);
    klog_t *l2 = open_log(img, ix_kv);
    klog_partition_t *p2 = part(l2, 0);
    ck_assert_int_eq(atomic_load(&klog__log_stats(l2)->scanned_segments), 1);
    ck_assert_int_eq(offsets(p2).log_end, 310);
    CHECK_RANGE(p2, 0, 310);
    append_range(p2, 310, 320);
    CHECK_RANGE(p2, 0, 320);
    ck_assert_int_eq(klog_close(l2), 0);
    free(live);
    free(img);
}
END_TEST

START_TEST(test_leftovers_removed)
{
    klog_t *log = open_log(tmp, NULL);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 10);
    ck_assert_int_eq(klog_close(log), 0);
    char *d = pdir(tmp);
    const char *junk[] = {"00000000000000000005.log.deleted", "00000000000000000005.index.deleted",
                          "00000000000000000000.seal.tmp", "00000000000000000007.log.cleaned",
                          "00000000000000000007.log.swap"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        ck_assert_int_eq(tu_write_file(d, junk[i], "junk", 4), 0);
    /* Orphan index files without a .log. */
    ck_assert_int_eq(tu_write_file(d, "00000000000000000099.index", "", 0), 0);
    ck_assert_int_eq(tu_write_file(d, "00000000000000000099.timeindex", "", 0), 0);
    /* A checkpoint whose rename never happened, and a topic being deleted. */
    ck_assert_int_eq(tu_write_file(tmp, "recovery-point-offset-checkpoint.tmp", "0\n", 2), 0);
    char *deld = klog__asprintf("%s/gone-0.0123456789abcdef-delete", tmp);
    ck_assert_int_eq(mkdir(deld, 0755), 0);
    ck_assert_int_eq(tu_write_file(deld, "00000000000000000000.log", "x", 1), 0);

    log = open_log(tmp, NULL);
    p = part(log, 0);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char *f = klog__asprintf("%s/%s", d, junk[i]);
        ck_assert_msg(!exists(f), "%s still there", f);
        free(f);
    }
    char *f = klog__asprintf("%s/00000000000000000099.index", d);
    ck_assert_msg(!exists(f), "orphan %s still there", f);
    free(f);
    ck_assert(!exists(deld));
    f = klog__asprintf("%s/recovery-point-offset-checkpoint.tmp", tmp);
    ck_assert_msg(!exists(f), "%s still there", f);
    free(f);
    CHECK_RANGE(p, 0, 10);
    append_range(p, 10, 12);
    ck_assert_int_eq(klog_close(log), 0);
    free(d);
    free(deld);
}
END_TEST

/* ============================================================ bounded resources */

#define MP_TOPICS 20
#define MP_PARTS 100
#define MP_RECS 3

/* Child body: open with a small LRU under RLIMIT_NOFILE 256, read all. */
static int many_child(const char *dir)
{
    struct rlimit rl = {256, 256};
    if (setrlimit(RLIMIT_NOFILE, &rl))
        return 20;
    const int64_t kv[] = {KLOG_CONF_MAX_OPEN_FILES, 64, 0};
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        return 21;
    for (const int64_t *k = kv; k[0]; k += 2)
        klog_config_set(cfg, (int)k[0], k[1]);
    klog_t *log;
    int rc = klog_open(dir, cfg, 0, &log);
    klog_config_free(cfg);
    if (rc) {
        fprintf(stderr, "child open: %s\n", klog_strerror(rc));
        return 22;
    }
    for (int t = 0; t < MP_TOPICS; t++) {
        char name[32];
        snprintf(name, sizeof name, "topic%02d", t);
        for (int j = 0; j < MP_PARTS; j++) {
            klog_partition_t *p;
            if (klog_partition(log, name, j, &p))
                return 23;
            char why[256];
            if (!read_range(p, 0, MP_RECS, why, sizeof why)) {
                fprintf(stderr, "child %s-%d: %s\n", name, j, why);
                return 24;
            }
            int64_t got;
            if (klog_offset_for_time(p, rec_ts(1), &got) || got != 1)
                return 25;
            if (klog__log_open_fds(log) > 64)
                return 26;
        }
    }
    /* Appends to every partition too (reopens the active segments). */
    for (int t = 0; t < MP_TOPICS; t++) {
        char name[32];
        snprintf(name, sizeof name, "topic%02d", t);
        for (int j = 0; j < MP_PARTS; j += 7) {
            klog_partition_t *p;
            if (klog_partition(log, name, j, &p) || append_at(p, MP_RECS, 1))
                return 27;
        }
    }
    if (klog__log_open_fds(log) > 64)
        return 28;
    rc = klog_close(log);
    if (rc) {
        fprintf(stderr, "child close: %s\n", klog_strerror(rc));
        return 29;
    }
    return 0;
}

START_TEST(test_many_partitions_low_rlimit)
{
    const int64_t kv[] = {KLOG_CONF_MAX_OPEN_FILES, 64, KLOG_CONF_INDEX_MAX_BYTES, 1024, 0};
    klog_t *log = open_log(tmp, kv);
    for (int t = 0; t < MP_TOPICS; t++) {
        char name[32];
        snprintf(name, sizeof name, "topic%02d", t);
        ck_assert_int_eq(klog_topic_create(log, name, MP_PARTS, NULL), 0);
        for (int j = 0; j < MP_PARTS; j++) {
            klog_partition_t *p;
            ck_assert_int_eq(klog_partition(log, name, j, &p), 0);
            ck_assert_int_eq(append_at(p, 0, 1), 0);
            ck_assert_int_eq(append_at(p, 1, MP_RECS - 1), 0);
        }
        ck_assert_int_le(klog__log_open_fds(log), 64);
    }
    ck_assert_int_eq(klog_close(log), 0);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(many_child(tmp));
    ck_assert_int_eq(reap(pid), 0);
    /* The parent sees what the child appended. */
    log = open_log(tmp, kv);
    klog_partition_t *p;
    ck_assert_int_eq(klog_partition(log, "topic19", 98, &p), 0);
    CHECK_RANGE(p, 0, MP_RECS + 1);
    ck_assert_int_eq(klog_partition(log, "topic19", 97, &p), 0);
    CHECK_RANGE(p, 0, MP_RECS);
    ck_assert_int_eq(atomic_load(&klog__log_stats(log)->scanned_segments), 0);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* ============================================================ read-only follower */

#define RO_RECORDS 600

static int ro_child(const char *dir)
{
    klog_t *log;
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        return 30;
    int rc = klog_open(dir, cfg, KLOG_OPEN_RDONLY, &log);
    klog_config_free(cfg);
    if (rc) {
        fprintf(stderr, "ro open: %s\n", klog_strerror(rc));
        return 31;
    }
    klog_partition_t *p;
    if (klog_partition(log, TOPIC, 0, &p))
        return 32;
    klog_reader_t *r;
    if ((rc = klog_reader_open(p, 0, &r))) {
        fprintf(stderr, "ro reader_open: %s\n", klog_strerror(rc));
        return 33;
    }
    int64_t want = 0;
    int idle = 0;
    while (want < RO_RECORDS) {
        klog_record_t rec;
        rc = klog_reader_next(r, &rec);
        if (rc < 0) {
            fprintf(stderr, "ro next at %lld: %s\n", (long long)want, klog_strerror(rc));
            return 34;
        }
        if (rc == 1) {
            char why[200];
            if (!rec_ok(&rec, want, why, sizeof why)) {
                fprintf(stderr, "ro: %s\n", why);
                return 35;
            }
            want++;
            idle = 0;
            continue;
        }
        rc = klog_reader_wait(r, 1000);
        if (rc < 0)
            return 36;
        if (rc == 0 && ++idle > 30) {
            fprintf(stderr, "ro: stuck at %lld\n", (long long)want);
            return 37;
        }
    }
    klog_offsets_t of;
    if (klog_partition_offsets(p, &of) || of.high_watermark < RO_RECORDS)
        return 38;
    /* A read-only log refuses writes. */
    if (append_at(p, RO_RECORDS, 1) != KLOG_EREADONLY)
        return 39;
    klog_reader_close(r);
    if (klog_close(log))
        return 40;
    return 0;
}

START_TEST(test_rdonly_follower)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 4096, KLOG_CONF_INDEX_INTERVAL_BYTES, 200, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 5);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(ro_child(tmp));
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int64_t o = 5; o < RO_RECORDS;) {
        size_t n = 1 + (size_t)(o % 9);
        if (o + (int64_t)n > RO_RECORDS)
            n = (size_t)(RO_RECORDS - o);
        ck_assert_int_eq(append_at(p, o, n), 0);
        o += (int64_t)n;
        nanosleep(&ts, NULL);
    }
    ck_assert_int_ge(offsets(p).segments, 3);
    int st = reap(pid);
    ck_assert_msg(st == 0, "read-only child exited with %d", st);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* A read-only opener of a log whose writer has closed (or crashed). */
START_TEST(test_rdonly_after_close)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 4096, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 200);
    ck_assert_int_eq(klog_close(log), 0);
    klog_t *ro;
    ck_assert_int_eq(open_log_rc(tmp, NULL, KLOG_OPEN_RDONLY, &ro), 0);
    ck_assert_int_eq(klog_partition(ro, TOPIC, 0, &p), 0);
    CHECK_RANGE(p, 0, 200);
    CHECK_RANGE(p, 150, 200);
    int64_t got;
    ck_assert_int_eq(klog_offset_for_time(p, rec_ts(123), &got), 0);
    ck_assert_int_eq(got, 123);
    /* A writer can open alongside. */
    log = open_log(tmp, kv);
    klog_partition_t *pw = part(log, 0);
    append_range(pw, 200, 210);
    ck_assert_int_eq(klog_partition_wait(p, 209, 5000), 1);
    CHECK_RANGE(p, 0, 210);
    ck_assert_int_eq(klog_close(log), 0);
    ck_assert_int_eq(klog_close(ro), 0);
}
END_TEST

/* ============================================================ faults */

static const int64_t fault_kv[] = {KLOG_CONF_FLUSH_MESSAGES, 1, 0};

/* After a failure: the failing append reported an error, later ones
 * KLOG_EFAILED; reopening recovers a prefix holding every acknowledged
 * record, and appends continue after it. */
static void after_failure(klog_t *log, klog_partition_t *p, int64_t acked)
{
    ck_assert_int_eq(append_at(p, acked, 1), KLOG_EFAILED);
    ck_assert_int_eq(append_at(p, acked, 1), KLOG_EFAILED);
    ck_assert_int_eq(klog_flush(p), KLOG_EFAILED);
    ck_assert_int_ne(klog_close(log), 0); /* not a clean shutdown */
    char *mk = klog__asprintf("%s/.kafka_cleanshutdown", tmp);
    ck_assert(!exists(mk));
    free(mk);
    log = open_log(tmp, fault_kv);
    p = part(log, 0);
    int64_t end = offsets(p).log_end;
    ck_assert_int_ge(end, acked);
    ck_assert_int_le(end, acked + 1); /* at most the unacknowledged one */
    CHECK_RANGE(p, 0, end);
    ck_assert_int_eq(append_at(p, end, 2), 0);
    CHECK_RANGE(p, 0, end + 2);
    ck_assert_int_eq(klog_close(log), 0);
}

START_TEST(test_fault_write)
{
    klog_t *log = open_log(tmp, fault_kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 8);
    char *lp = seg_file(tmp, 0, ".log");
    int64_t before = file_size(lp);
    klog__fault_arm(KLOG__FAULT_WRITE, 1, EIO, 0, 0);
    ck_assert_int_eq(append_at(p, 8, 1), -EIO);
    ck_assert_int_eq(klog__fault_fired(), 1);
    klog__fault_clear();
    ck_assert_int_eq(file_size(lp), before);
    ck_assert_int_eq(offsets(p).log_end, 8);
    after_failure(log, p, 8);
    free(lp);
}
END_TEST

START_TEST(test_fault_enospc)
{
    klog_t *log = open_log(tmp, fault_kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 3);
    klog__fault_arm(KLOG__FAULT_WRITE, 1, ENOSPC, 0, 1);
    ck_assert_int_eq(append_at(p, 3, 2), -ENOSPC);
    klog__fault_clear();
    after_failure(log, p, 3);
}
END_TEST

START_TEST(test_fault_torn_write)
{
    klog_t *log = open_log(tmp, fault_kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 8);
    char *lp = seg_file(tmp, 0, ".log");
    int64_t before = file_size(lp);
    klog__fault_arm(KLOG__FAULT_WRITE, 1, EIO, 40, 0);
    ck_assert_int_eq(append_at(p, 8, 3), -EIO);
    klog__fault_clear();
    /* The torn bytes never count: not in the log end, not readable. */
    ck_assert_int_eq(offsets(p).log_end, 8);
    CHECK_RANGE(p, 0, 8);
    /* Simulate the cleanup not reaching the disk: the torn prefix is there
     * at reopen and recovery must cut it. */
    int fd = open(lp, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t torn[40];
    memset(torn, 0, sizeof torn);
    torn[11] = 100; /* batch length 100, magic missing */
    ck_assert_int_eq(pwrite(fd, torn, sizeof torn, before), (ssize_t)sizeof torn);
    close(fd);
    after_failure(log, p, 8);
    ck_assert_int_ge(file_size(lp), before);
    free(lp);
}
END_TEST

START_TEST(test_fault_torn_write_crash)
{
    /* The child tears a write and dies before anything else happens. */
    klog_t *log = open_log(tmp, fault_kv);
    part(log, 1);
    ck_assert_int_eq(klog_close(log), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (open_log_rc(tmp, fault_kv, 0, &log))
            _exit(10);
        klog_partition_t *p;
        if (klog_partition(log, TOPIC, 0, &p))
            _exit(11);
        for (int64_t o = 0; o < 6; o++)
            if (append_at(p, o, 1))
                _exit(12);
        /* Tear the next write, then die at once. */
        klog__fault_arm(KLOG__FAULT_WRITE, 1, EIO, 50, 0);
        int rc = append_at(p, 6, 4);
        _exit(rc == -EIO ? 0 : 13);
    }
    ck_assert_int_eq(reap(pid), 0);
    log = open_log(tmp, fault_kv);
    klog_partition_t *p = part(log, 0);
    ck_assert_int_eq(offsets(p).log_end, 6);
    CHECK_RANGE(p, 0, 6);
    ck_assert_int_eq(append_at(p, 6, 1), 0);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

START_TEST(test_fault_fsync)
{
    klog_t *log = open_log(tmp, fault_kv);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 8);
    long f0 = fsyncs(p);
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, EIO, 0, 0);
    ck_assert_int_eq(append_at(p, 8, 1), -EIO);
    ck_assert_int_eq(klog__fault_fired(), 1);
    klog__fault_clear();
    klog_offsets_t of = offsets(p);
    ck_assert_int_eq(of.recovery_point, 8); /* the failed one is not durable */
    ck_assert_int_ge(fsyncs(p), f0);
    after_failure(log, p, 8);
}
END_TEST

/* An fsync failing in klog_flush (not on the append path). */
START_TEST(test_fault_fsync_explicit_flush)
{
    klog_t *log = open_log(tmp, NULL);
    klog_partition_t *p = part(log, 1);
    append_range(p, 0, 5);
    ck_assert_int_eq(klog_flush(p), 0);
    append_range(p, 5, 9);
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, EIO, 0, 0);
    ck_assert_int_eq(klog_flush(p), -EIO);
    klog__fault_clear();
    ck_assert_int_eq(offsets(p).recovery_point, 5);
    ck_assert_int_eq(append_at(p, 9, 1), KLOG_EFAILED);
    ck_assert_int_ne(klog_close(log), 0);
    log = open_log(tmp, NULL);
    p = part(log, 0);
    int64_t end = offsets(p).log_end;
    ck_assert_int_ge(end, 5);
    ck_assert_int_le(end, 9);
    CHECK_RANGE(p, 0, end);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* Every fsync failing from the moment a roll is due: whichever fails first
 * (the directory fsync of the roll, or the sealer's fsync of the rolled
 * segment), the partition must refuse appends from then on, and reopening
 * recovers everything that was written. */
START_TEST(test_fault_fsync_on_roll)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    int64_t o = 0;
    append_range(p, 0, 10);
    o = 10;
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, EIO, 0, 1);
    int rc = 0;
    while (offsets(p).segments < 2 && o < 1000) {
        rc = append_at(p, o, 1);
        if (rc)
            break;
        o++;
    }
    if (rc == 0) {
        /* The roll worked; the sealer must fail on the old segment. */
        ck_assert_int_eq(offsets(p).segments, 2);
        ck_assert_int_ne(klog_sync(log), 0);
    } else {
        ck_assert_int_eq(rc, -EIO);
    }
    ck_assert_int_ge(klog__fault_fired(), 1);
    klog__fault_clear();
    rc = append_at(p, o, 1);
    ck_assert_msg(rc == KLOG_EFAILED, "append after a failed fsync: %s", klog_strerror(rc));
    ck_assert_int_ne(klog_close(log), 0);
    log = open_log(tmp, kv);
    p = part(log, 0);
    ck_assert_int_eq(offsets(p).log_end, o);
    CHECK_RANGE(p, 0, o);
    append_range(p, o, o + 3);
    CHECK_RANGE(p, 0, o + 3);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* The background sealer's fsync of a rolled segment fails: the partition
 * refuses appends from then on, and reopening recovers everything. */
START_TEST(test_fault_fsync_on_seal)
{
    const int64_t kv[] = {KLOG_CONF_SEGMENT_BYTES, 2048, 0};
    klog_t *log = open_log(tmp, kv);
    klog_partition_t *p = part(log, 1);
    char *lp = seg_file(tmp, 0, ".log");
    char *real = realpath(lp, NULL);
    ck_assert_ptr_nonnull(real);
    snprintf(fail_fsync_path, sizeof fail_fsync_path, "%s", real);
    atomic_store(&fail_fsync_set, 1);
    int64_t o = 0;
    while (offsets(p).segments < 2) {
        ck_assert_int_eq(append_at(p, o, 1), 0);
        o++;
    }
    klog__log_wait_seals(log);
    atomic_store(&fail_fsync_set, 0);
    int rc = append_at(p, o, 1);
    ck_assert_msg(rc == KLOG_EFAILED, "append after a failed seal: %s", klog_strerror(rc));
    char *sp = seg_file(tmp, 0, ".seal");
    ck_assert(!exists(sp));
    ck_assert_int_ne(klog_close(log), 0);
    log = open_log(tmp, kv);
    p = part(log, 0);
    ck_assert_int_eq(offsets(p).log_end, o);
    CHECK_RANGE(p, 0, o);
    append_range(p, o, o + 3);
    CHECK_RANGE(p, 0, o + 3);
    ck_assert_int_eq(klog_close(log), 0);
    free(lp);
    free(real);
    free(sp);
}
END_TEST

/* ============================================================ suite */

Suite *recovery_suite(void)
{
    Suite *s = suite_create("recovery");
    TCase *tc = tcase_create("flush");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flush_every_append);
    tcase_add_test(tc, test_flush_every_n);
    tcase_add_test(tc, test_flush_every_n_written);
    tcase_add_test(tc, test_flush_never_until_flush);
    tcase_add_test(tc, test_flush_ms);
    tcase_add_test(tc, test_group_commit);
    suite_add_tcase(s, tc);

    tc = tcase_create("recover");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_truncated_tail_every_byte);
    tcase_add_test(tc, test_garbage_mid_segment);
    tcase_add_test(tc, test_truncated_sealed_middle);
    tcase_add_test(tc, test_sealed_middle_grown);
    tcase_add_test(tc, test_sealed_middle_grown_damaged);
    tcase_add_test(tc, test_sealed_base_offset_flipped);
    tcase_add_test(tc, test_sealed_batch_runs_past_segment);
    tcase_add_test(tc, test_flushed_segment_damaged_unsealed);
    tcase_add_test(tc, test_sealed_log_deleted);
    tcase_add_test(tc, test_topics_missing);
    tcase_add_test(tc, test_index_deleted_sealed);
    tcase_add_test(tc, test_timeindex_deleted_sealed);
    tcase_add_test(tc, test_index_zeroed_sealed);
    tcase_add_test(tc, test_timeindex_zeroed_sealed);
    tcase_add_test(tc, test_index_deleted_active);
    tcase_add_test(tc, test_timeindex_deleted_active);
    tcase_add_test(tc, test_index_zeroed_active);
    tcase_add_test(tc, test_timeindex_zeroed_active);
    tcase_add_test(tc, test_seal_deleted);
    tcase_add_test(tc, test_checkpoint_deleted);
    tcase_add_test(tc, test_clean_reopen_no_scan);
    tcase_add_test(tc, test_unclean_scans_only_tail);
    tcase_add_test(tc, test_copy_while_open);
    tcase_add_test(tc, test_leftovers_removed);
    suite_add_tcase(s, tc);

    tc = tcase_create("processes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_many_partitions_low_rlimit);
    tcase_add_test(tc, test_rdonly_follower);
    tcase_add_test(tc, test_rdonly_after_close);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fault_write);
    tcase_add_test(tc, test_fault_enospc);
    tcase_add_test(tc, test_fault_torn_write);
    tcase_add_test(tc, test_fault_torn_write_crash);
    tcase_add_test(tc, test_fault_fsync);
    tcase_add_test(tc, test_fault_fsync_explicit_flush);
    tcase_add_test(tc, test_fault_fsync_on_roll);
    tcase_add_test(tc, test_fault_fsync_on_seal);
    suite_add_tcase(s, tc);
    return s;
}
