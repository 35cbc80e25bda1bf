/*
 * check_lease.c — zero-copy read leases (lib/read/lease.c) through the
 * public API: the spans must be exactly the stored batches (checked
 * against the .log files read independently), start at the batch holding
 * the offset, hold at least one whole batch, stop at the byte budget and
 * at the high watermark, and cross segment boundaries. While a lease is
 * held, retention defers unlinking, truncation over it fails with
 * KLOG_EBUSY and klog_close refuses. klog_lease_sendfile must resume
 * correctly on a non-blocking socket that keeps filling up, and the
 * partition pollfd must wake a poll() on append.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"
#include "util/tu_records.h"

static char *tmp;
static klog_t *lg;
static klog_partition_t *part;

/* One stored batch, as found by reading the .log files directly. */
struct sbatch {
    int64_t base, last;
    size_t size;
    size_t at; /* position in the concatenation of all .log files */
};
static struct sbatch *sb;
static size_t nsb;
static uint8_t *all; /* every .log file, in base-offset order */
static size_t all_len;

static void setup(void) { tmp = tu_tmpdir("lease"); }

static void teardown(void)
{
    if (lg)
        ck_assert_int_eq(klog_close(lg), 0);
    lg = NULL;
    part = NULL;
    free(sb);
    sb = NULL;
    nsb = 0;
    free(all);
    all = NULL;
    all_len = 0;
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/* Open the log and a one-partition topic "t" with small segments. */
static void open_topic(int64_t segment_bytes, int visibility)
{
    klog_config_t *cfg;
    ck_assert_int_eq(klog_config_new(&cfg), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, segment_bytes), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 512), 0);
    ck_assert_int_eq(klog_config_set(cfg, KLOG_CONF_VISIBILITY, visibility), 0);
    klog_config_t *lcfg;
    ck_assert_int_eq(klog_config_new(&lcfg), 0);
    ck_assert_int_eq(klog_config_set(lcfg, KLOG_CONF_RETENTION_CHECK_MS, 0), 0);
    ck_assert_int_eq(klog_open(tmp, lcfg, 0, &lg), 0);
    klog_config_free(lcfg);
    ck_assert_int_eq(klog_topic_create(lg, "t", 1, cfg), 0);
    klog_config_free(cfg);
    ck_assert_int_eq(klog_partition(lg, "t", 0, &part), 0);
}

/* Append `batches` batches of 1..4 records with values of 1..1500 bytes. */
static void append_batches(tu_rng_t *rng, int batches)
{
    static uint8_t val[1500];
    for (int i = 0; i < batches; i++) {
        klog_record_t recs[4];
        size_t n = 1 + tu_rng_below(rng, 4);
        for (size_t k = 0; k < n; k++) {
            size_t vl = 1 + tu_rng_below(rng, sizeof val);
            tu_rng_fill(rng, val, vl);
            recs[k] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                      .key = "k",
                                      .key_len = 1,
                                      .value = val,
                                      .value_len = (int32_t)vl};
        }
        ck_assert_int_eq(klog_append(part, recs, n, NULL), 0);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read every .log of t-0 and index its batches (independently of leases). */
static void scan_logs(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/t-0", tmp);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char *names[4096];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l == 24 && !strcmp(e->d_name + 20, ".log")) {
            ck_assert_uint_lt(nn, 4096);
            names[nn++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_names);
    free(sb);
    free(all);
    sb = NULL;
    all = NULL;
    nsb = all_len = 0;
    size_t cap = 0;
    for (size_t i = 0; i < nn; i++) {
        size_t len;
        uint8_t *f = tu_read_file(dir, names[i], &len);
        ck_assert_ptr_nonnull(f);
        all = realloc(all, all_len + len + 1);
        memcpy(all + all_len, f, len);
        for (size_t pos = 0; pos < len;) {
            klog_batch_info_t bi;
            ck_assert_int_eq(klog_batch_header(f + pos, len - pos, &bi), 0);
            if (nsb == cap) {
                cap = cap ? cap * 2 : 256;
                sb = realloc(sb, cap * sizeof *sb);
            }
            sb[nsb++] = (struct sbatch){bi.base_offset, bi.base_offset + bi.last_offset_delta,
                                        bi.size, all_len + pos};
            pos += bi.size;
        }
        all_len += len;
        free(f);
        free(names[i]);
    }
}

/* Expected lease per the contract: from the batch holding `off`, whole
 * batches while they fit in max_bytes (the first always), below hw. */
static void expect_lease(int64_t off, size_t max_bytes, int64_t hw, size_t *at, size_t *len,
                         int64_t *next)
{
    size_t i = 0;
    while (i < nsb && sb[i].last < off)
        i++;
    *at = i < nsb ? sb[i].at : all_len;
    *len = 0;
    *next = off;
    for (; i < nsb && sb[i].last < hw; i++) {
        if (*len > 0 && *len + sb[i].size > max_bytes)
            break;
        *len += sb[i].size;
        *next = sb[i].last + 1;
    }
}

static void check_lease_at(int64_t off, size_t max_bytes)
{
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, off, max_bytes, &l), 0);
    size_t at, len;
    int64_t next;
    expect_lease(off, max_bytes, o.high_watermark, &at, &len, &next);
    ck_assert_msg(klog_lease_bytes(l) == len, "offset %lld max %zu: %zu bytes, expected %zu",
                  (long long)off, max_bytes, klog_lease_bytes(l), len);
    ck_assert_int_eq(klog_lease_next_offset(l), next);
    size_t n, sum = 0;
    const klog_span_t *sp = klog_lease_spans(l, &n);
    for (size_t i = 0; i < n; i++)
        sum += sp[i].len;
    ck_assert_uint_eq(sum, len);
    uint8_t *buf = malloc(len + 1);
    ck_assert_int_eq(klog_lease_copy(l, buf, len), 0);
    ck_assert_msg(memcmp(buf, all + at, len) == 0, "offset %lld: lease bytes differ from .log",
                  (long long)off);
    free(buf);
    klog_lease_release(l);
}

/* ============================================================ spans */

START_TEST(spans_are_exact_batches)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(7));
    open_topic(64 << 10, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 400);
    scan_logs();
    ck_assert_uint_gt(nsb, 300);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_gt(o.segments, 3);
    static const size_t budgets[] = {1, 100, 4000, 9000, 65536, 200000, SIZE_MAX};
    for (int64_t off = 0; off <= o.high_watermark; off += 1 + (int64_t)tu_rng_below(&rng, 23))
        for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++)
            check_lease_at(off, budgets[b]);
    /* every batch boundary and the last offset of each batch */
    for (size_t i = 0; i < nsb; i += 7) {
        check_lease_at(sb[i].base, 5000);
        check_lease_at(sb[i].last, 1);
    }
    check_lease_at(o.high_watermark, 1000);
}
END_TEST

START_TEST(tiny_budget_gives_one_whole_batch)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(11));
    open_topic(1 << 20, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 50);
    scan_logs();
    for (size_t i = 0; i < nsb; i++) {
        for (int64_t off = sb[i].base; off <= sb[i].last; off++) {
            klog_lease_t *l;
            ck_assert_int_eq(klog_lease_acquire(part, off, 0, &l), 0);
            ck_assert_uint_eq(klog_lease_bytes(l), sb[i].size);
            ck_assert_int_eq(klog_lease_next_offset(l), sb[i].last + 1);
            klog_lease_release(l);
        }
    }
}
END_TEST

START_TEST(out_of_range_and_caught_up)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 3);
    open_topic(1 << 20, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 5);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    klog_lease_t *l = NULL;
    ck_assert_int_eq(klog_lease_acquire(part, o.high_watermark + 1, 100, &l), KLOG_EOFFSET);
    ck_assert_int_eq(klog_lease_acquire(part, -1, 100, &l), KLOG_EOFFSET);
    ck_assert_int_eq(klog_lease_acquire(part, o.high_watermark, 100, &l), 0);
    size_t n;
    klog_lease_spans(l, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(klog_lease_bytes(l), 0);
    ck_assert_int_eq(klog_lease_next_offset(l), o.high_watermark);
    klog_lease_release(l);
}
END_TEST

START_TEST(never_past_the_watermark)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 5);
    open_topic(16 << 10, KLOG_VISIBLE_FLUSHED);
    append_batches(&rng, 20);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_eq(o.high_watermark, 0);
    ck_assert_int_gt(o.log_end, 0);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, 0, SIZE_MAX, &l), 0);
    ck_assert_uint_eq(klog_lease_bytes(l), 0); /* nothing flushed: nothing visible */
    klog_lease_release(l);

    ck_assert_int_eq(klog_flush(part), 0);
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    int64_t flushed = o.high_watermark;
    ck_assert_int_eq(flushed, o.log_end);
    append_batches(&rng, 20); /* written, not flushed */
    scan_logs();
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_eq(o.high_watermark, flushed);
    ck_assert_int_gt(o.log_end, flushed);
    for (int64_t off = 0; off <= flushed; off += 3) {
        ck_assert_int_eq(klog_lease_acquire(part, off, SIZE_MAX, &l), 0);
        ck_assert_int_eq(klog_lease_next_offset(l), flushed);
        klog_lease_release(l);
        check_lease_at(off, SIZE_MAX);
    }
    ck_assert_int_eq(klog_lease_acquire(part, flushed + 1, 100, &l), KLOG_EOFFSET);
}
END_TEST

START_TEST(crosses_segment_boundaries)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 9);
    open_topic(8 << 10, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 120);
    scan_logs();
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_gt(o.segments, 5);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, 0, SIZE_MAX, &l), 0);
    size_t n;
    const klog_span_t *sp = klog_lease_spans(l, &n);
    ck_assert_uint_eq(n, (size_t)o.segments); /* one span per segment */
    for (size_t i = 1; i < n; i++)
        ck_assert_int_ne(sp[i].fd, sp[i - 1].fd);
    ck_assert_uint_eq(klog_lease_bytes(l), all_len);
    ck_assert_int_eq(klog_lease_next_offset(l), o.high_watermark);
    klog_lease_release(l);
    /* budgets that end just before, at and after each segment's end */
    for (size_t i = 1; i < nsb; i++) {
        if (sb[i].at == 0 || sb[i - 1].at + sb[i - 1].size != sb[i].at)
            continue;
        check_lease_at(sb[i - 1].base, sb[i - 1].size + sb[i].size);
        check_lease_at(sb[i - 1].base, sb[i - 1].size + sb[i].size - 1);
    }
}
END_TEST

/* ============================================================ pins */

static int file_exists(const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/t-0/%s", tmp, name);
    return stat(path, &st) == 0;
}

START_TEST(retention_waits_for_release)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 13);
    open_topic(8 << 10, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 60);
    scan_logs();
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_gt(o.segments, 3);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, 0, 20000, &l), 0);
    size_t len = klog_lease_bytes(l);
    ck_assert_uint_gt(len, 8 << 10); /* covers more than the first segment */
    ck_assert(file_exists("00000000000000000000.log"));

    /* Drop everything below the last segment's base. */
    int64_t cut = sb[nsb - 1].base;
    ck_assert_int_eq(klog_delete_records(part, cut), 0);
    ck_assert_int_ge(klog_retention(lg, KLOG_TIMESTAMP_NOW), 0);
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_ge(o.log_start, cut);
    klog_lease_t *l2 = NULL;
    ck_assert_int_eq(klog_lease_acquire(part, 0, 100, &l2), KLOG_EOFFSET);

    /* The leased bytes are intact; the segment left the log (Kafka renames
     * it *.deleted) but its file is unlinked only at release. */
    uint8_t *buf = malloc(len);
    ck_assert_int_eq(klog_lease_copy(l, buf, len), 0);
    ck_assert(memcmp(buf, all, len) == 0);
    free(buf);
    ck_assert(!file_exists("00000000000000000000.log"));
    ck_assert(file_exists("00000000000000000000.log.deleted"));
    klog_lease_release(l);
    /* The lease was the last reference unless the background sealer,
     * sealing the rolled segments, still pins this one: then its unpin
     * unlinks it. Either way it goes without another call of ours. */
    for (int i = 0; i < 500 && file_exists("00000000000000000000.log.deleted"); i++)
        usleep(10 * 1000);
    ck_assert(!file_exists("00000000000000000000.log.deleted"));
    ck_assert(!file_exists("00000000000000000000.log"));
}
END_TEST

START_TEST(truncate_refused_while_leased)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 17);
    open_topic(16 << 10, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 60);
    scan_logs();
    ck_assert_uint_gt(sb[nsb - 1].at, 16 << 10); /* several segments */
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, sb[5].base, 1, &l), 0); /* batch 5 only */
    ck_assert_uint_eq(klog_lease_bytes(l), sb[5].size);
    ck_assert_int_eq(klog_truncate(part, sb[5].base), KLOG_EBUSY);
    ck_assert_int_eq(klog_truncate(part, sb[2].base), KLOG_EBUSY);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_eq(o.log_end, sb[nsb - 1].last + 1);
    /* cutting in a later segment than the leased one is allowed */
    ck_assert_int_eq(klog_truncate(part, sb[nsb - 2].base), 0);
    uint8_t *buf = malloc(sb[5].size);
    ck_assert_int_eq(klog_lease_copy(l, buf, sb[5].size), 0);
    ck_assert(memcmp(buf, all + sb[5].at, sb[5].size) == 0);
    free(buf);
    klog_lease_release(l);
    ck_assert_int_eq(klog_truncate(part, sb[5].base), 0);
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_eq(o.log_end, sb[5].base);
}
END_TEST

START_TEST(close_refused_while_leased)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 19);
    open_topic(1 << 20, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 3);
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, 0, 100, &l), 0);
    ck_assert_int_eq(klog_close(lg), KLOG_EBUSY);
    /* still fully usable */
    append_batches(&rng, 1);
    klog_lease_release(l);
    ck_assert_int_eq(klog_close(lg), 0);
    lg = NULL;
}
END_TEST

/* ============================================================ sendfile */

START_TEST(sendfile_resumes_on_a_full_socket)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 23);
    open_topic(32 << 10, KLOG_VISIBLE_WRITTEN);
    append_batches(&rng, 300);
    scan_logs();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);

    /* Start inside the log so the first span does not begin at 0. */
    size_t first = nsb / 3;
    klog_lease_t *l;
    ck_assert_int_eq(klog_lease_acquire(part, sb[first].base + (sb[first].last > sb[first].base),
                                        SIZE_MAX, &l), 0);
    size_t n, len = klog_lease_bytes(l);
    klog_lease_spans(l, &n);
    ck_assert_uint_gt(n, 2);
    ck_assert_uint_eq(len, all_len - sb[first].at);

    uint8_t *got = malloc(len);
    size_t have = 0, total_sent = 0;
    int eagains = 0, done = 0;
    for (int round = 0; round < 1000000 && (!done || have < len); round++) {
        if (!done) {
            size_t sent = 0;
            int rc = klog_lease_sendfile(l, sv[0], &sent);
            ck_assert_int_ge(rc, 0);
            total_sent += sent;
            if (rc == 1)
                done = 1;
            else
                eagains++;
        }
        /* drain a little at a time so sendfile keeps hitting EAGAIN */
        ssize_t r = read(sv[1], got + have, len - have < 3000 ? len - have : 3000);
        if (r > 0)
            have += (size_t)r;
        else
            ck_assert(r < 0 && errno == EAGAIN);
    }
    ck_assert(done);
    ck_assert_uint_eq(have, len);
    ck_assert_uint_eq(total_sent, len);
    ck_assert_int_gt(eagains, 10);
    ck_assert(memcmp(got, all + sb[first].at, len) == 0);
    /* once complete it stays complete */
    size_t sent = 1;
    ck_assert_int_eq(klog_lease_sendfile(l, sv[0], &sent), 1);
    ck_assert_uint_eq(sent, 0);
    free(got);
    klog_lease_release(l);
    close(sv[0]);
    /* a closed peer is an error, not a hang */
    ck_assert_int_eq(klog_lease_acquire(part, 0, SIZE_MAX, &l), 0);
    close(sv[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(klog_lease_sendfile(l, sv[0], NULL), -EPIPE);
    close(sv[0]);
    klog_lease_release(l);
}
END_TEST

/* ============================================================ pollfd */

START_TEST(pollfd_wakes_on_append)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 29);
    open_topic(1 << 20, KLOG_VISIBLE_WRITTEN);
    int fd = -1;
    ck_assert_int_eq(klog_partition_pollfd(part, &fd), 0);
    ck_assert_int_ge(fd, 0);
    int fd2;
    ck_assert_int_eq(klog_partition_pollfd(part, &fd2), 0);
    ck_assert_int_eq(fd, fd2); /* one per partition */
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    ck_assert_int_eq(poll(&pf, 1, 50), 0); /* quiet: times out */
    append_batches(&rng, 1);
    ck_assert_int_eq(poll(&pf, 1, 1000), 1);
    ck_assert(pf.revents & POLLIN);
    ck_assert_int_eq(read(fd, &v, sizeof v), (ssize_t)sizeof v);
    ck_assert_int_eq(poll(&pf, 1, 0), 0); /* reset by the read */
    append_batches(&rng, 2);
    ck_assert_int_eq(poll(&pf, 1, 1000), 1);
}
END_TEST

START_TEST(pollfd_under_visible_flushed_wakes_on_flush)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 31);
    open_topic(1 << 20, KLOG_VISIBLE_FLUSHED);
    int fd;
    ck_assert_int_eq(klog_partition_pollfd(part, &fd), 0);
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    append_batches(&rng, 1);
    ck_assert_int_eq(klog_flush(part), 0);
    ck_assert_int_eq(poll(&pf, 1, 1000), 1);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(part, &o), 0);
    ck_assert_int_eq(o.high_watermark, o.log_end);
}
END_TEST

Suite *lease_suite(void)
{
    Suite *s = suite_create("lease");
    TCase *tc = tcase_create("spans");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, spans_are_exact_batches);
    tcase_add_test(tc, tiny_budget_gives_one_whole_batch);
    tcase_add_test(tc, out_of_range_and_caught_up);
    tcase_add_test(tc, never_past_the_watermark);
    tcase_add_test(tc, crosses_segment_boundaries);
    suite_add_tcase(s, tc);

    tc = tcase_create("pins");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retention_waits_for_release);
    tcase_add_test(tc, truncate_refused_while_leased);
    tcase_add_test(tc, close_refused_while_leased);
    suite_add_tcase(s, tc);

    tc = tcase_create("send");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sendfile_resumes_on_a_full_socket);
    tcase_add_test(tc, pollfd_wakes_on_append);
    tcase_add_test(tc, pollfd_under_visible_flushed_wakes_on_flush);
    suite_add_tcase(s, tc);
    return s;
}
