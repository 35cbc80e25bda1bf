/*
 * check_verify.c — klog_verify() (lib/storage/verify.c): a clean log has
 * no problems (on its read-write handle and on a read-only open); each
 * kind of damage is found in the right file at the right byte position; a
 * torn tail of the active segment left by a crashed writer is recoverable
 * with the bytes the next read-write open cuts, not damage; verify in a
 * loop while another thread appends (and rolls) finds nothing, also when
 * the writer's first append removes the active segment's seal right
 * after the check read it (an I/O hook makes that race happen), while
 * damage only that seal shows is still found beside an idle writer.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "platform/platform.h"
#include "util/testutil.h"

#define NREC 400
#define SEG0 "t-0/00000000000000000000"

static char *tmp;

typedef struct seen {
    int n;
    struct {
        int severity;
        char path[512];
        int64_t position;
        char message[512];
        int64_t cut;
    } p[64];
} seen_t;

static void collect(void *ctx, const klog_verify_problem_t *p)
{
    seen_t *s = ctx;
    if (s->n == 64)
        return;
    s->p[s->n].severity = p->severity;
    snprintf(s->p[s->n].path, sizeof s->p[s->n].path, "%s", p->path);
    s->p[s->n].position = p->position;
    snprintf(s->p[s->n].message, sizeof s->p[s->n].message, "%s", p->message);
    s->p[s->n].cut = p->truncate_bytes;
    s->n++;
}

static void setup(void) { tmp = tu_tmpdir("verify"); }

static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

static klog_t *open_rw(void)
{
    klog_t *lg;
    klog_config_t *cfg;
    ck_assert_int_eq(klog_config_new(&cfg), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 4096), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 256), 0);
    ck_assert_int_eq(klog_open(tmp, cfg, 0, &lg), 0);
    klog_config_free(cfg);
    int rc = klog_topic_create(lg, "t", 1, NULL);
    ck_assert(rc == 0 || rc == KLOG_ETOPICEXISTS);
    return lg;
}

static int append_n(klog_t *lg, int64_t from, int n)
{
    klog_partition_t *p;
    char val[100];
    if (klog_partition(lg, "t", 0, &p) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        memset(val, 'a' + (int)((from + i) % 26), sizeof val);
        klog_record_t r = {.timestamp = 1700000000000LL + 10 * (from + i), .value = val,
                           .value_len = sizeof val, .key_len = -1};
        if (klog_append(p, &r, 1, NULL) < 0)
            return -1;
    }
    return 0;
}

/* A log of NREC records in several sealed segments, closed cleanly. */
static void make_log(void)
{
    klog_t *lg = open_rw();
    ck_assert_int_eq(append_n(lg, 0, NREC), 0);
    ck_assert_int_eq(klog_close(lg), 0);
}

static klog_verify_stats_t verify_ro(seen_t *s)
{
    klog_t *lg;
    klog_verify_stats_t st;
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &lg), 0);
    ck_assert_int_eq(klog_verify(lg, NULL, -1, collect, s, &st), 0);
    ck_assert_int_eq(klog_close(lg), 0);
    return st;
}

static char *path_of(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", tmp, name);
    return buf;
}

static void patch(const char *name, int64_t pos, const void *bytes, size_t n)
{
    int fd = open(path_of(name), O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, n, pos), (ssize_t)n);
    close(fd);
}

static int64_t fsize(const char *name)
{
    struct stat st;
    ck_assert_int_eq(stat(path_of(name), &st), 0);
    return st.st_size;
}

/* The problem of severity sev in file name at pos whose message holds
 * `what`: asserts it is there. */
static void expect(const seen_t *s, int sev, const char *name, int64_t pos, const char *what)
{
    for (int i = 0; i < s->n; i++)
        if (s->p[i].severity == sev && strcmp(s->p[i].path, path_of(name)) == 0 &&
            s->p[i].position == pos && strstr(s->p[i].message, what))
            return;
    for (int i = 0; i < s->n; i++)
        fprintf(stderr, "  %d %s:%lld: %s\n", s->p[i].severity, s->p[i].path,
                (long long)s->p[i].position, s->p[i].message);
    ck_abort_msg("no problem %d at %s:%lld (%s)", sev, name, (long long)pos, what);
}

/* Position of the second batch of segment 0: after the first, whose
 * batchLength is at bytes 8..11 (kafka-format.md). */
static int64_t second_batch(void)
{
    size_t len;
    uint8_t *log = tu_read_file(tmp, SEG0 ".log", &len);
    ck_assert_ptr_nonnull(log);
    ck_assert_uint_gt(len, 12);
    int64_t blen = (int64_t)log[8] << 24 | log[9] << 16 | log[10] << 8 | log[11];
    free(log);
    return 12 + blen;
}

START_TEST(test_clean)
{
    klog_t *lg = open_rw();
    ck_assert_int_eq(append_n(lg, 0, NREC), 0);
    ck_assert_int_eq(klog_sync(lg), 0);
    seen_t s = {0};
    klog_verify_stats_t st;
    ck_assert_int_eq(klog_verify(lg, NULL, -1, collect, &s, &st), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(st.damage + st.recoverable + st.warnings, 0);
    ck_assert_int_gt(st.segments, 3);
    ck_assert_int_eq(st.batches, NREC);
    ck_assert_int_eq(st.partitions, 1);
    ck_assert_int_eq(klog_verify(lg, "t", 0, collect, &s, &st), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(klog_verify(lg, "nope", -1, collect, &s, &st), KLOG_ENOTOPIC);
    ck_assert_int_eq(klog_verify(lg, "t", 1, collect, &s, &st), KLOG_ENOPARTITION);
    ck_assert_int_eq(klog_verify(lg, NULL, 0, collect, &s, &st), -EINVAL);
    ck_assert_int_eq(klog_verify(NULL, NULL, -1, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(klog_close(lg), 0);
    st = verify_ro(&s);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(st.batches, NREC);
}
END_TEST

START_TEST(test_crc)
{
    make_log();
    int64_t pos = second_batch();
    ck_assert_int_gt(pos, 0);
    uint8_t b = 0xff;
    patch(SEG0 ".log", pos + 70, &b, 1);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_ge(st.damage, 2);
    ck_assert_int_eq(st.recoverable, 0);
    expect(&s, KLOG_VERIFY_DAMAGE, SEG0 ".log", pos, "batch CRC mismatch");
    expect(&s, KLOG_VERIFY_DAMAGE, SEG0 ".seal", 56, "XXH3-64 digest");
}
END_TEST

START_TEST(test_index_entry)
{
    make_log();
    ck_assert_int_ge(fsize(SEG0 ".index"), 16);
    uint8_t e[8];
    size_t len;
    uint8_t *ix = tu_read_file(tmp, SEG0 ".index", &len);
    ck_assert_ptr_nonnull(ix);
    memcpy(e, ix + 8, 8);
    free(ix);
    e[7] += 1; /* position of entry 1 now one byte into its batch */
    patch(SEG0 ".index", 8, e, 8);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_eq(st.damage, 1);
    expect(&s, KLOG_VERIFY_DAMAGE, SEG0 ".index", 8, "is not the start of a batch");
}
END_TEST

START_TEST(test_index_zeroed_tail)
{
    make_log();
    int64_t n = fsize(SEG0 ".index");
    ck_assert_int_ge(n, 16);
    uint8_t z[8] = {0};
    patch(SEG0 ".index", n - 8, z, 8);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_eq(st.damage, 1);
    expect(&s, KLOG_VERIFY_DAMAGE, SEG0 ".index", n - 8, "zeroed entries at the end of a sealed");
}
END_TEST

START_TEST(test_timeindex_negative)
{
    make_log();
    ck_assert_int_ge(fsize(SEG0 ".timeindex"), 12);
    uint8_t neg[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb}; /* -5 */
    patch(SEG0 ".timeindex", 0, neg, 8);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_ge(st.damage, 1);
    expect(&s, KLOG_VERIFY_DAMAGE, SEG0 ".timeindex", 0, "negative timestamp -5");
}
END_TEST

START_TEST(test_checkpoint)
{
    make_log();
    const char text[] = "0\n1\nt 0 999999\n";
    ck_assert_int_eq(tu_write_file(tmp, "recovery-point-offset-checkpoint", text, strlen(text)),
                     0);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_eq(st.damage, 1);
    expect(&s, KLOG_VERIFY_DAMAGE, "recovery-point-offset-checkpoint", 4,
           "recovery point 999999 of t-0 is above its log end");
}
END_TEST

/* The last segment's file name. */
static void active_log(char *name, size_t cap)
{
    klog_t *lg;
    klog_partition_t *p;
    klog_segment_info_t *si;
    size_t n;
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &lg), 0);
    ck_assert_int_eq(klog_partition(lg, "t", 0, &p), 0);
    ck_assert_int_eq(klog_segment_list(p, &si, &n), 0);
    ck_assert_int_gt(n, 1);
    ck_assert_int_eq(si[n - 1].sealed, 0);
    snprintf(name, cap, "%s", si[n - 1].log_path + strlen(tmp) + 1);
    free(si);
    ck_assert_int_eq(klog_close(lg), 0);
}

START_TEST(test_torn_tail)
{
    /* A writer that dies without closing (as kill -9 would). */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *lg = open_rw();
        _exit(append_n(lg, 0, NREC) == 0 && klog_sync(lg) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char name[512];
    active_log(name, sizeof name);
    /* Its last write was torn: 30 bytes of a batch header. */
    size_t len;
    uint8_t *first = tu_read_file(tmp, SEG0 ".log", &len);
    ck_assert_ptr_nonnull(first);
    int64_t end = fsize(name);
    patch(name, end, first, 30);
    free(first);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_eq(st.damage, 0);
    ck_assert_int_eq(st.recoverable, 1);
    ck_assert_int_eq(st.truncate_bytes, 30);
    expect(&s, KLOG_VERIFY_RECOVERABLE, name, end, "the next read-write open truncates 30 bytes");
    ck_assert_int_eq(s.p[0].cut, 30);
    /* And the next read-write open does cut exactly that. */
    klog_t *lg = open_rw();
    ck_assert_int_eq(klog_close(lg), 0);
    ck_assert_int_eq(fsize(name), end);
    st = verify_ro(&s);
    ck_assert_int_eq(s.n, 0);
}
END_TEST

/* Killed right after a roll: the new, empty active segment's indexes are
 * still preallocated zeros. That is the unused tail, not damage (the
 * example broker's kill -9 hit this). */
START_TEST(test_crash_after_roll)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *lg = open_rw();
        klog_partition_t *p;
        int ok = append_n(lg, 0, NREC) == 0 && klog_partition(lg, "t", 0, &p) == 0 &&
                 klog_segment_roll(p) == 1 && klog_sync(lg) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    for (int i = 0; i < s.n; i++)
        if (s.p[i].severity == KLOG_VERIFY_DAMAGE)
            fprintf(stderr, "  %s:%lld: %s\n", s.p[i].path, (long long)s.p[i].position,
                    s.p[i].message);
    ck_assert_int_eq(st.damage, 0);
    ck_assert_int_eq(st.recoverable, 0);
}
END_TEST

START_TEST(test_crash_below_recovery_point)
{
    /* Damage in the active segment below the flushed recovery point is
     * data that was acknowledged durable: damage, even with no writer. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *lg = open_rw();
        _exit(append_n(lg, 0, NREC) == 0 && klog_sync(lg) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char name[512];
    active_log(name, sizeof name);
    ck_assert_int_gt(fsize(name), 100);
    uint8_t b = 0x5a;
    patch(name, 80, &b, 1);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    ck_assert_int_ge(st.damage, 1);
    ck_assert_int_eq(st.recoverable, 0);
    expect(&s, KLOG_VERIFY_DAMAGE, name, 0, "batch CRC mismatch");
}
END_TEST

typedef struct writer {
    klog_t *lg;
    int n;
    int rc;
    _Atomic int done;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    w->rc = 0;
    for (int i = 0; i < w->n && !w->rc; i += 10)
        w->rc = append_n(w->lg, i, 10);
    w->done = 1;
    return NULL;
}

START_TEST(test_live)
{
    klog_t *lg = open_rw(), *ro;
    ck_assert_int_eq(append_n(lg, 0, 10), 0);
    ck_assert_int_eq(klog_sync(lg), 0);
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &ro), 0);
    writer_t w = {.lg = lg, .n = 6000};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    int passes = 0;
    int64_t batches = 0;
    do {
        seen_t s = {0};
        klog_verify_stats_t st;
        /* on the writer's own handle, and beside it read-only */
        ck_assert_int_eq(klog_verify(lg, NULL, -1, collect, &s, &st), 0);
        batches += st.batches;
        ck_assert_int_eq(klog_verify(ro, NULL, -1, collect, &s, &st), 0);
        if (s.n)
            expect(&s, -1, "", -1, "(none expected)");
        passes++;
    } while (!w.done && passes < 100000);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_gt(passes, 0);
    ck_assert_int_gt(batches, 0);
    ck_assert_int_eq(klog_close(ro), 0);
    ck_assert_int_eq(klog_close(lg), 0);
}
END_TEST

/* The writer's first append after a clean open removes the seal its
 * active segment kept: a verify that read that seal just before (t_verify_live
 * caught it in CI) reads the changed files against it. The hook appends
 * right after the check reads the active segment's seal. */
typedef struct hook_append {
    klog_t *lg;
    int rc;
} hook_append_t;

static void append_in_hook(void *arg)
{
    hook_append_t *h = arg;
    h->rc = append_n(h->lg, NREC, 5);
}

START_TEST(test_live_unseal)
{
    make_log();
    klog_t *lg = open_rw(), *ro;
    klog_partition_t *p;
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition(lg, "t", 0, &p), 0);
    ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
    ck_assert_int_eq(o.log_end, NREC);
    klog_segment_info_t *segs;
    size_t nseg;
    ck_assert_int_eq(klog_segment_list(p, &segs, &nseg), 0);
    ck_assert_uint_gt(nseg, 1);
    ck_assert_int_eq(segs[nseg - 1].sealed, 0); /* active: not final ... */
    ck_assert_int_eq(access(segs[nseg - 1].seal_path, F_OK), 0); /* ... but the close sealed it */
    char seal[64];
    snprintf(seal, sizeof seal, "/%020lld.seal", (long long)segs[nseg - 1].base_offset);
    free(segs);
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &ro), 0);
    hook_append_t h = {.lg = lg, .rc = -1};
    klog__fault_after_read(seal, append_in_hook, &h);
    seen_t s = {0};
    klog_verify_stats_t st;
    ck_assert_int_eq(klog_verify(ro, NULL, -1, collect, &s, &st), 0);
    klog__fault_after_read(NULL, NULL, NULL);
    ck_assert_int_eq(h.rc, 0); /* the hook ran: the seal went mid-check */
    if (s.n)
        expect(&s, -1, "", -1, "(none expected)");
    ck_assert_int_ge(st.batches, NREC);
    ck_assert_int_eq(klog_close(ro), 0);
    ck_assert_int_eq(klog_close(lg), 0);
}
END_TEST

/* The same seal still there after the check: its problems stand, also
 * beside an idle writer. */
START_TEST(test_live_sealed_damage)
{
    make_log();
    klog_t *lg = open_rw();
    klog_partition_t *p;
    klog_segment_info_t *segs;
    size_t nseg;
    ck_assert_int_eq(klog_partition(lg, "t", 0, &p), 0);
    ck_assert_int_eq(klog_segment_list(p, &segs, &nseg), 0);
    ck_assert_int_eq(access(segs[nseg - 1].seal_path, F_OK), 0);
    char name[64];
    snprintf(name, sizeof name, "t-0/%020lld.index", (long long)segs[nseg - 1].base_offset);
    free(segs);
    /* Damage only a seal shows: an unsealed index may end in zeroes. */
    int64_t size = fsize(name);
    ck_assert_int_eq(truncate(path_of(name), size + 8), 0);
    seen_t s;
    klog_verify_stats_t st = verify_ro(&s);
    expect(&s, KLOG_VERIFY_DAMAGE, name, size, "zeroed entries at the end of a sealed index");
    ck_assert_int_ge(st.damage, 1);
    ck_assert_int_eq(klog_close(lg), 0);
}
END_TEST

START_TEST(test_watermark)
{
    /* Visible only once flushed: appended batches above the watermark are
     * not checked (they are the writer's until the fsync). */
    klog_t *lg;
    klog_config_t *cfg;
    klog_partition_t *p;
    klog_offsets_t o;
    ck_assert_int_eq(klog_config_new(&cfg), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_FLUSH_MS, 0), 0);
    ck_assert_int_eq(klog_open(tmp, cfg, 0, &lg), 0);
    klog_config_free(cfg);
    ck_assert_int_eq(klog_topic_create(lg, "t", 1, NULL), 0);
    ck_assert_int_eq(append_n(lg, 0, 20), 0);
    ck_assert_int_eq(klog_sync(lg), 0);
    ck_assert_int_eq(append_n(lg, 20, 30), 0);
    ck_assert_int_eq(klog_partition(lg, "t", 0, &p), 0);
    ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
    ck_assert_int_eq(o.high_watermark, 20);
    ck_assert_int_eq(o.log_end, 50);
    seen_t s = {0};
    klog_verify_stats_t st;
    ck_assert_int_eq(klog_verify(lg, NULL, -1, collect, &s, &st), 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(st.batches, 20);
    ck_assert_int_eq(klog_sync(lg), 0);
    ck_assert_int_eq(klog_verify(lg, NULL, -1, collect, &s, &st), 0);
    ck_assert_int_eq(st.batches, 50);
    ck_assert_int_eq(klog_close(lg), 0);
}
END_TEST

Suite *verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_clean);
    tcase_add_test(tc, test_crc);
    tcase_add_test(tc, test_index_entry);
    tcase_add_test(tc, test_index_zeroed_tail);
    tcase_add_test(tc, test_timeindex_negative);
    tcase_add_test(tc, test_checkpoint);
    tcase_add_test(tc, test_torn_tail);
    tcase_add_test(tc, test_crash_after_roll);
    tcase_add_test(tc, test_crash_below_recovery_point);
    tcase_add_test(tc, test_live);
    tcase_add_test(tc, test_live_unseal);
    tcase_add_test(tc, test_live_sealed_damage);
    tcase_add_test(tc, test_watermark);
    suite_add_tcase(s, tc);
    return s;
}
