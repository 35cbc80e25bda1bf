/*
 * check_files.c — checkpoint files, segment seals, topic metadata, file
 * digests and the topic name rule (lib/storage/checkpoint.c, seal.c,
 * meta.c). Parsers are fed every malformed shape we know of, every
 * truncation and every single-byte corruption; every allocation is failed
 * in turn to show each failure returns -ENOMEM and (under ASan) leaks nothing.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/files.h"
#include "util/testutil.h"

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("files"); }
static void teardown(void)
{
    klog__fault_clear();
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/*
 * Run `call` with the nth allocation failing, for n = 1, 2, ... until a run
 * in which no fault fired: every failing run must return -ENOMEM, the last
 * must succeed. `undo` releases what a successful run produced.
 */
#define ALLOC_FAIL_LOOP(call, undo)                                   \
    do {                                                              \
        for (long nth_ = 1;; nth_++) {                                \
            klog__fault_arm(KLOG__FAULT_ALLOC, nth_, ENOMEM, 0, 0);   \
            int rc_ = (call);                                         \
            long fired_ = klog__fault_fired();                        \
            klog__fault_clear();                                      \
            if (fired_ == 0) {                                        \
                ck_assert_int_eq(rc_, 0);                             \
                undo;                                                 \
                break;                                                \
            }                                                         \
            ck_assert_msg(rc_ == -ENOMEM, "alloc %ld: rc %d", nth_, rc_); \
            ck_assert_int_lt(nth_, 1000);                             \
        }                                                             \
    } while (0)

/* ============================================================ name rule */

START_TEST(test_name_valid)
{
    char name[251];
    ck_assert_int_eq(klog_topic_name_valid("orders"), 1);
    ck_assert_int_eq(klog_topic_name_valid("a"), 1);
    ck_assert_int_eq(klog_topic_name_valid("A-z_0.9"), 1);
    ck_assert_int_eq(klog_topic_name_valid("..."), 1);
    ck_assert_int_eq(klog_topic_name_valid(".a"), 1);
    ck_assert_int_eq(klog_topic_name_valid("__consumer_offsets"), 1);
    ck_assert_int_eq(klog_topic_name_valid(NULL), 0);
    ck_assert_int_eq(klog_topic_name_valid(""), 0);
    ck_assert_int_eq(klog_topic_name_valid("."), 0);
    ck_assert_int_eq(klog_topic_name_valid(".."), 0);
    ck_assert_int_eq(klog_topic_name_valid("a/b"), 0);
    ck_assert_int_eq(klog_topic_name_valid("../x"), 0);
    ck_assert_int_eq(klog_topic_name_valid("/x"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a b"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a\tb"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a\nb"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a\x01"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a\x7f"), 0);
    ck_assert_int_eq(klog_topic_name_valid("caf\xc3\xa9"), 0);
    ck_assert_int_eq(klog_topic_name_valid("\xff"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a\\b"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a:b"), 0);
    ck_assert_int_eq(klog_topic_name_valid("a+b"), 0);
    memset(name, 'x', 250);
    name[250] = 0;
    ck_assert_int_eq(klog_topic_name_valid(name), 0); /* 250 */
    name[249] = 0;
    ck_assert_int_eq(klog_topic_name_valid(name), 1); /* 249 */
    name[248] = '/';
    ck_assert_int_eq(klog_topic_name_valid(name), 0);
}
END_TEST

/* ========================================================== checkpoints */

static const char *const known_text = "0\n2\nfoo 0 5\nbar 3 10\n";

START_TEST(test_ckpt_known_bytes)
{
    klog__ckpt_entry_t e[] = {{"foo", 0, 5}, {"bar", 3, 10}};
    size_t len;
    ck_assert_int_eq(klog__ckpt_write(tmp, "recovery-point-offset-checkpoint", e, 2), 0);
    uint8_t *got = tu_read_file(tmp, "recovery-point-offset-checkpoint", &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, strlen(known_text));
    ck_assert_mem_eq(got, known_text, len);
    free(got);
    /* The temporary is gone after the rename. */
    ck_assert_ptr_null(tu_read_file(tmp, "recovery-point-offset-checkpoint.tmp", &len));

    /* An empty checkpoint is "0\n0\n". */
    ck_assert_int_eq(klog__ckpt_write(tmp, "empty", NULL, 0), 0);
    got = tu_read_file(tmp, "empty", &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(got, "0\n0\n", 4);
    free(got);
}
END_TEST

START_TEST(test_ckpt_parse_known)
{
    klog__ckpt_t c;
    ck_assert_int_eq(klog__ckpt_parse((const uint8_t *)known_text, strlen(known_text), &c), 0);
    ck_assert_uint_eq(c.count, 2);
    ck_assert_str_eq(c.entries[0].topic, "foo");
    ck_assert_int_eq(c.entries[0].partition, 0);
    ck_assert_int_eq(c.entries[0].offset, 5);
    ck_assert_str_eq(c.entries[1].topic, "bar");
    ck_assert_int_eq(c.entries[1].partition, 3);
    ck_assert_int_eq(c.entries[1].offset, 10);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "foo", 0, -7), 5);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "bar", 3, -7), 10);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "bar", 0, -7), -7);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "baz", 3, -7), -7);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "fo", 0, -7), -7);
    klog__ckpt_free(&c);
    ck_assert_ptr_null(c.entries);
    ck_assert_uint_eq(c.count, 0);
    klog__ckpt_free(&c); /* twice is harmless */
}
END_TEST

START_TEST(test_ckpt_round_trip)
{
    enum { N = 300 };
    klog__ckpt_entry_t e[N];
    char names[N][32];
    char longname[KLOG__TOPIC_NAME_MAX + 1];
    memset(longname, 'L', KLOG__TOPIC_NAME_MAX);
    longname[KLOG__TOPIC_NAME_MAX] = 0;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "topic-%d.x_y", i % 17);
        e[i].topic = names[i];
        e[i].partition = i;
        e[i].offset = (int64_t)i * 1000003;
    }
    e[0].topic = longname;
    e[1].partition = INT32_MAX;
    e[2].offset = INT64_MAX;
    e[3].offset = 0;
    ck_assert_int_eq(klog__ckpt_write(tmp, "ckpt", e, N), 0);

    klog__ckpt_t c;
    ck_assert_int_eq(klog__ckpt_read(tmp, "ckpt", &c), 0);
    ck_assert_uint_eq(c.count, N);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(c.entries[i].topic, e[i].topic);
        ck_assert_int_eq(c.entries[i].partition, e[i].partition);
        ck_assert_int_eq(c.entries[i].offset, e[i].offset);
        ck_assert_int_eq(klog__ckpt_lookup(&c, e[i].topic, e[i].partition, -1), e[i].offset);
    }
    klog__ckpt_free(&c);

    /* Rewriting replaces the file whole. */
    ck_assert_int_eq(klog__ckpt_write(tmp, "ckpt", e + 5, 1), 0);
    ck_assert_int_eq(klog__ckpt_read(tmp, "ckpt", &c), 0);
    ck_assert_uint_eq(c.count, 1);
    ck_assert_str_eq(c.entries[0].topic, e[5].topic);
    klog__ckpt_free(&c);
}
END_TEST

/* Inputs Kafka's reader accepts, and what they hold. */
START_TEST(test_ckpt_parse_lenient)
{
    static const struct {
        const char *text;
        size_t count;
        int64_t foo0; /* offset of foo-0, or -1 */
    } ok[] = {
        {"", 0, -1},
        {"0", 0, -1},             /* no count line: no entries (Kafka) */
        {"0\n", 0, -1},
        {"0\n0\n", 0, -1},
        {"0\n0", 0, -1},
        {"0\n1\nfoo 0 5", 1, 5},  /* last line without '\n' */
        {"0\r\n1\r\nfoo 0 5\r\n", 1, 5},
        {"0\r1\rfoo 0 5\r", 1, 5}, /* Java readLine also ends lines at '\r' */
        {"0\n1\nfoo \t 0\t\t5\n", 1, 5},
        {"0\n1\nfoo 0 5 \t\n", 1, 5}, /* trailing separators are dropped */
        {"+0\n+1\nfoo +0 +5\n", 1, 5},
        {"-0\n01\nfoo 00 0005\n", 1, 5},
        {"0\n2\nfoo 0 5\nfoo 0 9\n", 2, 9}, /* duplicate: the last one wins */
        {"0\n1\nfoo 0 9223372036854775807\n", 1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        klog__ckpt_t c;
        int rc = klog__ckpt_parse((const uint8_t *)ok[i].text, strlen(ok[i].text), &c);
        ck_assert_msg(rc == 0, "case %zu: rc %d", i, rc);
        ck_assert_uint_eq(c.count, ok[i].count);
        ck_assert_int_eq(klog__ckpt_lookup(&c, "foo", 0, -1), ok[i].foo0);
        klog__ckpt_free(&c);
    }
}
END_TEST

START_TEST(test_ckpt_parse_malformed)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        int err;
    } bad[] = {
        {"1\n0\n", 0, KLOG_EVERSION},
        {"1\n", 0, KLOG_EVERSION},
        {"2\n1\nfoo 0 5\n", 0, KLOG_EVERSION},
        {"-1\n0\n", 0, KLOG_EVERSION},
        {"\n", 0, KLOG_ECORRUPT},                   /* blank version line */
        {"x\n0\n", 0, KLOG_ECORRUPT},
        {"0x0\n0\n", 0, KLOG_ECORRUPT},
        {" 0\n0\n", 0, KLOG_ECORRUPT},
        {"0 \n0\n", 0, KLOG_ECORRUPT},
        {"+\n0\n", 0, KLOG_ECORRUPT},
        {"-\n0\n", 0, KLOG_ECORRUPT},
        {"2147483648\n0\n", 0, KLOG_ECORRUPT},      /* not an int32 */
        {"99999999999999999999\n0\n", 0, KLOG_ECORRUPT},
        {"0\n\n", 0, KLOG_ECORRUPT},                /* blank count line */
        {"0\nx\n", 0, KLOG_ECORRUPT},
        {"0\n1.0\nfoo 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n-1\n", 0, KLOG_ECORRUPT},              /* negative count */
        {"0\n2147483648\n", 0, KLOG_ECORRUPT},
        {"0\n1\n", 0, KLOG_ECORRUPT},               /* fewer entries than count */
        {"0\n2\nfoo 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n0\nfoo 0 5\n", 0, KLOG_ECORRUPT},      /* more entries than count */
        {"0\n1\nfoo 0 5\nbar 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 5\n\n", 0, KLOG_ECORRUPT},    /* trailing blank line */
        {"0\n1\n\nfoo 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0\n", 0, KLOG_ECORRUPT},        /* two fields */
        {"0\n1\nfoo\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 5 6\n", 0, KLOG_ECORRUPT},    /* four fields */
        {"0\n1\n foo 0 5\n", 0, KLOG_ECORRUPT},     /* leading separator */
        {"0\n1\n   \n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo x 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 x\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 5x\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 5.0\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 -\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo -1 5\n", 0, KLOG_ECORRUPT},     /* negative partition */
        {"0\n1\nfoo 0 -5\n", 0, KLOG_ECORRUPT},     /* negative offset */
        {"0\n1\nfoo 2147483648 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 9223372036854775808\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo 0 99999999999999999999999\n", 0, KLOG_ECORRUPT},
        {"0\n1\n. 0 5\n", 0, KLOG_ECORRUPT},        /* invalid topic names */
        {"0\n1\n.. 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\na/b 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\n../x 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfo\x01o 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\ncaf\xc3\xa9 0 5\n", 0, KLOG_ECORRUPT},
        {"0\n1\nfoo\0bar 0 5\n", 16, KLOG_ECORRUPT}, /* NUL inside the name */
        {"0\n1\nfoo 0\0 5\n", 13, KLOG_ECORRUPT},
        {"\0\n0\n", 4, KLOG_ECORRUPT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        klog__ckpt_t c = {(klog__ckpt_entry_t *)1, 99}; /* parse must reset it */
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
        int rc = klog__ckpt_parse((const uint8_t *)bad[i].text, len, &c);
        ck_assert_msg(rc == bad[i].err, "case %zu: rc %s, want %s", i, klog_err_name(rc),
                      klog_err_name(bad[i].err));
        ck_assert_ptr_null(c.entries);
        ck_assert_uint_eq(c.count, 0);
    }

    /* A 250-character topic is refused; 249 is accepted. */
    char line[300];
    char name[251];
    memset(name, 'n', 250);
    name[250] = 0;
    klog__ckpt_t c;
    snprintf(line, sizeof line, "0\n1\n%s 0 5\n", name);
    ck_assert_int_eq(klog__ckpt_parse((const uint8_t *)line, strlen(line), &c), KLOG_ECORRUPT);
    name[249] = 0;
    snprintf(line, sizeof line, "0\n1\n%s 0 5\n", name);
    ck_assert_int_eq(klog__ckpt_parse((const uint8_t *)line, strlen(line), &c), 0);
    ck_assert_int_eq(klog__ckpt_lookup(&c, name, 0, -1), 5);
    klog__ckpt_free(&c);
}
END_TEST

START_TEST(test_ckpt_missing_and_unreadable)
{
    klog__ckpt_t c = {(klog__ckpt_entry_t *)1, 99};
    ck_assert_int_eq(klog__ckpt_read(tmp, "recovery-point-offset-checkpoint", &c), -ENOENT);
    ck_assert_ptr_null(c.entries);
    ck_assert_uint_eq(c.count, 0);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "foo", 0, 42), 42);

    ck_assert_int_eq(tu_write_file(tmp, "bad", "0\n1\nfoo 0\n", 10), 0);
    ck_assert_int_eq(klog__ckpt_read(tmp, "bad", &c), KLOG_ECORRUPT);
    ck_assert_uint_eq(c.count, 0);
    ck_assert_int_eq(tu_write_file(tmp, "v1", "1\n0\n", 4), 0);
    ck_assert_int_eq(klog__ckpt_read(tmp, "v1", &c), KLOG_EVERSION);
    ck_assert_int_eq(tu_write_file(tmp, "empty", "", 0), 0);
    ck_assert_int_eq(klog__ckpt_read(tmp, "empty", &c), 0);
    ck_assert_uint_eq(c.count, 0);
    ck_assert_int_lt(klog__ckpt_read("/nonexistent-klog-dir", "x", &c), 0);
}
END_TEST

START_TEST(test_ckpt_write_refuses_invalid)
{
    klog__ckpt_entry_t bad[][1] = {
        {{"a/b", 0, 1}}, {{"", 0, 1}}, {{"..", 0, 1}}, {{"ok", -1, 1}}, {{"ok", 0, -1}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(klog__ckpt_write(tmp, "ckpt", bad[i], 1), -EINVAL);
    size_t len;
    ck_assert_ptr_null(tu_read_file(tmp, "ckpt", &len));
    ck_assert_ptr_null(tu_read_file(tmp, "ckpt.tmp", &len));

    /* A failed write leaves the previous checkpoint in place. */
    klog__ckpt_entry_t good = {"ok", 1, 2};
    ck_assert_int_eq(klog__ckpt_write(tmp, "ckpt", &good, 1), 0);
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, EIO, 0, 0);
    klog__ckpt_entry_t next = {"ok", 1, 3};
    ck_assert_int_eq(klog__ckpt_write(tmp, "ckpt", &next, 1), -EIO);
    klog__fault_clear();
    klog__ckpt_t c;
    ck_assert_int_eq(klog__ckpt_read(tmp, "ckpt", &c), 0);
    ck_assert_int_eq(klog__ckpt_lookup(&c, "ok", 1, -1), 2);
    klog__ckpt_free(&c);
    ck_assert_ptr_null(tu_read_file(tmp, "ckpt.tmp", &len));
}
END_TEST

START_TEST(test_ckpt_alloc_failure)
{
    char text[4096];
    size_t len = (size_t)snprintf(text, sizeof text, "0\n40\n");
    for (int i = 0; i < 40; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "topic-%d %d %d\n", i, i, i * 7);
    klog__ckpt_t c = {0};
    ALLOC_FAIL_LOOP(klog__ckpt_parse((const uint8_t *)text, len, &c), klog__ckpt_free(&c));
    ck_assert_int_eq(tu_write_file(tmp, "ckpt", text, len), 0);
    ALLOC_FAIL_LOOP(klog__ckpt_read(tmp, "ckpt", &c), klog__ckpt_free(&c));

    klog__ckpt_entry_t e[64];
    char names[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        e[i] = (klog__ckpt_entry_t){names[i], i, 1000000000000LL + i};
    }
    ALLOC_FAIL_LOOP(klog__ckpt_write(tmp, "out", e, 64), (void)0);
    ck_assert_int_eq(klog__ckpt_read(tmp, "out", &c), 0);
    ck_assert_uint_eq(c.count, 64);
    klog__ckpt_free(&c);
}
END_TEST

/* ================================================================ seals */

static klog__seal_t sample_seal(void)
{
    klog__seal_t s = {
        .base_offset = 1000,
        .next_offset = 2345,
        .max_timestamp = 1700000000123LL,
        .max_ts_offset = 2000,
        .log_size = 1073741000,
        .log_digest = 0x0123456789abcdefULL,
        .index_entries = 262144,
        .timeindex_entries = 174762,
    };
    return s;
}

static void assert_seal_eq(const klog__seal_t *a, const klog__seal_t *b)
{
    ck_assert_int_eq(a->base_offset, b->base_offset);
    ck_assert_int_eq(a->next_offset, b->next_offset);
    ck_assert_int_eq(a->max_timestamp, b->max_timestamp);
    ck_assert_int_eq(a->max_ts_offset, b->max_ts_offset);
    ck_assert_int_eq(a->log_size, b->log_size);
    ck_assert_uint_eq(a->log_digest, b->log_digest);
    ck_assert_uint_eq(a->index_entries, b->index_entries);
    ck_assert_uint_eq(a->timeindex_entries, b->timeindex_entries);
}

START_TEST(test_seal_layout)
{
    klog__seal_t s = sample_seal();
    uint8_t buf[KLOG__SEAL_SIZE];
    memset(buf, 0xAA, sizeof buf);
    klog__seal_encode(&s, buf);
    ck_assert_mem_eq(buf, "KLOGSEAL", 8);
    ck_assert_uint_eq(klog__load32(buf + 8), 1);
    ck_assert_uint_eq(klog__load32(buf + 12), 0);
    ck_assert_uint_eq(klog__load64(buf + 16), 1000);
    ck_assert_uint_eq(klog__load64(buf + 24), 2345);
    ck_assert_uint_eq(klog__load64(buf + 32), 1700000000123ULL);
    ck_assert_uint_eq(klog__load64(buf + 40), 2000);
    ck_assert_uint_eq(klog__load64(buf + 48), 1073741000);
    ck_assert_uint_eq(klog__load64(buf + 56), 0x0123456789abcdefULL);
    ck_assert_uint_eq(klog__load32(buf + 64), 262144);
    ck_assert_uint_eq(klog__load32(buf + 68), 174762);
    ck_assert_uint_eq(klog__load64(buf + 72), XXH3_64bits(buf, 72));
}
END_TEST

START_TEST(test_seal_round_trip)
{
    klog__seal_t cases[4] = {sample_seal(), sample_seal(), sample_seal(), sample_seal()};
    /* An empty segment: no batches, no timestamp. */
    cases[1] = (klog__seal_t){.base_offset = 7, .next_offset = 7, .max_timestamp = -1,
                              .max_ts_offset = -1};
    /* Extremes: the largest span the int32 relative offsets allow. */
    cases[2].base_offset = INT64_MAX - ((int64_t)INT32_MAX + 1);
    cases[2].next_offset = INT64_MAX;
    cases[2].max_ts_offset = INT64_MAX - 1;
    cases[2].max_timestamp = INT64_MAX;
    cases[2].log_size = INT64_MAX;
    cases[2].log_digest = UINT64_MAX;
    cases[2].index_entries = UINT32_MAX;
    cases[2].timeindex_entries = UINT32_MAX;
    cases[3].max_timestamp = -5; /* odd but representable */
    cases[3].max_ts_offset = cases[3].base_offset;
    for (int i = 0; i < 4; i++) {
        uint8_t buf[KLOG__SEAL_SIZE];
        klog__seal_t out;
        klog__seal_encode(&cases[i], buf);
        ck_assert_int_eq(klog__seal_decode(buf, sizeof buf, &out), 0);
        assert_seal_eq(&out, &cases[i]);
    }

    klog__seal_t s = sample_seal(), out;
    ck_assert_int_eq(klog__seal_write(tmp, "00000000000000001000.seal", &s), 0);
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/00000000000000001000.seal", tmp), 0);
    ck_assert_int_eq(klog__seal_read(path, &out), 0);
    assert_seal_eq(&out, &s);
    size_t len;
    uint8_t *raw = tu_read_file(tmp, "00000000000000001000.seal", &len);
    ck_assert_uint_eq(len, KLOG__SEAL_SIZE);
    free(raw);
    free(path);
}
END_TEST

START_TEST(test_seal_every_byte_corrupted)
{
    klog__seal_t s = sample_seal(), out;
    uint8_t good[KLOG__SEAL_SIZE];
    klog__seal_encode(&s, good);
    static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x10};
    for (size_t i = 0; i < KLOG__SEAL_SIZE; i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            uint8_t buf[KLOG__SEAL_SIZE];
            memcpy(buf, good, sizeof buf);
            buf[i] ^= flips[f];
            int rc = klog__seal_decode(buf, sizeof buf, &out);
            int want = i >= 8 && i < 12 ? KLOG_EVERSION : KLOG_ECORRUPT;
            ck_assert_msg(rc == want, "byte %zu ^ %02x: %s", i, flips[f], klog_err_name(rc));
        }
    }
    /* Wrong lengths, including every truncation. */
    uint8_t longer[KLOG__SEAL_SIZE + 1];
    memcpy(longer, good, sizeof good);
    longer[KLOG__SEAL_SIZE] = 0;
    ck_assert_int_eq(klog__seal_decode(longer, sizeof longer, &out), KLOG_ECORRUPT);
    for (size_t len = 0; len < KLOG__SEAL_SIZE; len++)
        ck_assert_int_eq(klog__seal_decode(good, len, &out), KLOG_ECORRUPT);
}
END_TEST

START_TEST(test_seal_version)
{
    klog__seal_t s = sample_seal(), out;
    uint8_t buf[KLOG__SEAL_SIZE];
    klog__seal_encode(&s, buf);
    static const uint32_t versions[] = {0, 2, 0x01000000u, UINT32_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        klog__store32(buf + 8, versions[i]);
        klog__store64(buf + 72, XXH3_64bits(buf, 72)); /* a well-formed future seal */
        ck_assert_int_eq(klog__seal_decode(buf, sizeof buf, &out), KLOG_EVERSION);
        /* Unknown versions may have another size. */
        ck_assert_int_eq(klog__seal_decode(buf, 40, &out), KLOG_EVERSION);
    }
}
END_TEST

/* Well-checksummed seals whose facts cannot describe a segment. */
START_TEST(test_seal_inconsistent)
{
    klog__seal_t bad[11];
    for (int i = 0; i < 11; i++)
        bad[i] = sample_seal();
    bad[0].next_offset = bad[0].base_offset - 1;
    bad[1].base_offset = -1;
    bad[2].log_size = -1;
    bad[3].max_ts_offset = bad[3].next_offset; /* past the end */
    bad[4].max_ts_offset = bad[4].base_offset - 1;
    bad[5].max_timestamp = -1;                 /* no timestamp, yet an offset */
    bad[6].max_ts_offset = -1;                 /* a timestamp without its offset */
    bad[7].next_offset = bad[7].base_offset + (int64_t)INT32_MAX + 2;
    bad[8].base_offset = bad[8].next_offset = 5; /* empty but claims a timestamp */
    bad[8].max_ts_offset = 5;
    bad[9].max_ts_offset = -2;
    bad[10].base_offset = INT64_MIN;
    for (int i = 0; i < 11; i++) {
        uint8_t buf[KLOG__SEAL_SIZE];
        klog__seal_t out;
        klog__seal_encode(&bad[i], buf);
        ck_assert_msg(klog__seal_decode(buf, sizeof buf, &out) == KLOG_ECORRUPT, "case %d", i);
        ck_assert_int_eq(klog__seal_write(tmp, "x.seal", &bad[i]), -EINVAL);
    }
    /* Non-zero reserved bytes with a valid checksum. */
    klog__seal_t s = sample_seal(), out;
    uint8_t buf[KLOG__SEAL_SIZE];
    klog__seal_encode(&s, buf);
    buf[13] = 1;
    klog__store64(buf + 72, XXH3_64bits(buf, 72));
    ck_assert_int_eq(klog__seal_decode(buf, sizeof buf, &out), KLOG_ECORRUPT);
}
END_TEST

START_TEST(test_seal_read_errors)
{
    klog__seal_t out;
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/missing.seal", tmp), 0);
    ck_assert_int_eq(klog__seal_read(path, &out), -ENOENT);
    free(path);

    klog__seal_t s = sample_seal();
    uint8_t buf[KLOG__SEAL_SIZE];
    klog__seal_encode(&s, buf);
    ck_assert_int_eq(tu_write_file(tmp, "short.seal", buf, 79), 0);
    ck_assert_int_ge(asprintf(&path, "%s/short.seal", tmp), 0);
    ck_assert_int_eq(klog__seal_read(path, &out), KLOG_ECORRUPT);
    free(path);

    static uint8_t big[8192];
    memcpy(big, buf, sizeof buf);
    ck_assert_int_eq(tu_write_file(tmp, "big.seal", big, sizeof big), 0);
    ck_assert_int_ge(asprintf(&path, "%s/big.seal", tmp), 0);
    ck_assert_int_eq(klog__seal_read(path, &out), KLOG_ECORRUPT);
    free(path);

    ALLOC_FAIL_LOOP(klog__seal_write(tmp, "a.seal", &s), (void)0);
    ck_assert_int_ge(asprintf(&path, "%s/a.seal", tmp), 0);
    ALLOC_FAIL_LOOP(klog__seal_read(path, &out), assert_seal_eq(&out, &s));
    klog__fault_arm(KLOG__FAULT_READ, 1, EIO, 0, 0);
    ck_assert_int_eq(klog__seal_read(path, &out), -EIO);
    klog__fault_clear();
    free(path);
}
END_TEST

/* ============================================================== digest */

static uint8_t *random_bytes(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint32_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

START_TEST(test_file_digest)
{
    const size_t n = 3 * (1u << 20) + 12345; /* crosses several 1 MiB chunks */
    uint8_t *data = random_bytes(n, 42);
    ck_assert_int_eq(tu_write_file(tmp, "seg.log", data, n), 0);
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/seg.log", tmp), 0);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);

    static const size_t sizes[] = {0, 1, 100, 1u << 20, (1u << 20) + 1, 2u << 20, 0};
    uint64_t d;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t sz = i == sizeof sizes / sizeof sizes[0] - 1 ? n : sizes[i];
        ck_assert_int_eq(klog__file_digest(fd, (int64_t)sz, &d), 0);
        ck_assert_uint_eq(d, XXH3_64bits(data, sz));
    }
    /* The file is shorter than the size asked for. */
    ck_assert_int_eq(klog__file_digest(fd, (int64_t)n + 1, &d), KLOG_ECORRUPT);
    ck_assert_int_eq(klog__file_digest(fd, -1, &d), -EINVAL);
    /* Read errors surface as -errno, on the first and on a later chunk. */
    klog__fault_arm(KLOG__FAULT_READ, 1, EIO, 0, 0);
    ck_assert_int_eq(klog__file_digest(fd, (int64_t)n, &d), -EIO);
    klog__fault_arm(KLOG__FAULT_READ, 3, EIO, 0, 0);
    ck_assert_int_eq(klog__file_digest(fd, (int64_t)n, &d), -EIO);
    klog__fault_clear();
    ALLOC_FAIL_LOOP(klog__file_digest(fd, (int64_t)n, &d), ck_assert_uint_eq(d, XXH3_64bits(data, n)));
    ck_assert_int_eq(klog__file_digest(-1, 10, &d), -EBADF);
    close(fd);
    free(path);
    free(data);
}
END_TEST

/* ======================================================= topic metadata */

static klog__topic_meta_t *sample_topics(size_t *n)
{
    *n = 4;
    klog__topic_meta_t *t = calloc(*n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    strcpy(t[0].name, "orders");
    t[0].partitions = 12;
    t[0].nconf = 2;
    t[0].conf[0].key = 1;
    t[0].conf[0].value = 1073741824;
    t[0].conf[1].key = 7;
    t[0].conf[1].value = -1;
    strcpy(t[1].name, "a");
    t[1].partitions = 1;
    memset(t[2].name, 'z', KLOG__TOPIC_NAME_MAX);
    t[2].partitions = 100000;
    t[2].nconf = KLOG__TOPIC_CONF_MAX;
    for (int k = 0; k < KLOG__TOPIC_CONF_MAX; k++) {
        t[2].conf[k].key = INT32_MIN + k;
        t[2].conf[k].value = INT64_MIN + k;
    }
    strcpy(t[3].name, "__consumer_offsets");
    t[3].partitions = 50;
    t[3].nconf = 1;
    t[3].conf[0].key = INT32_MAX;
    t[3].conf[0].value = INT64_MAX;
    return t;
}

static void assert_topics_eq(const klog__topic_meta_t *a, const klog__topic_meta_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(a[i].name, b[i].name);
        ck_assert_int_eq(a[i].partitions, b[i].partitions);
        ck_assert_uint_eq(a[i].nconf, b[i].nconf);
        for (uint32_t k = 0; k < a[i].nconf; k++) {
            ck_assert_int_eq(a[i].conf[k].key, b[i].conf[k].key);
            ck_assert_int_eq(a[i].conf[k].value, b[i].conf[k].value);
        }
    }
}

START_TEST(test_meta_round_trip)
{
    size_t n, m;
    klog__topic_meta_t *t = sample_topics(&n), *got;
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__meta_encode(t, n, &b), 0);

    /* The header and the first topic, byte by byte. */
    ck_assert_mem_eq(b.data, "KLOGTOPS", 8);
    ck_assert_uint_eq(klog__load32(b.data + 8), 1);
    ck_assert_uint_eq(klog__load32(b.data + 12), 4);
    ck_assert_uint_eq(klog__load16(b.data + 16), 6);
    ck_assert_mem_eq(b.data + 18, "orders", 6);
    ck_assert_uint_eq(klog__load32(b.data + 24), 12);
    ck_assert_uint_eq(klog__load16(b.data + 28), 2);
    ck_assert_uint_eq(klog__load32(b.data + 30), 1);
    ck_assert_uint_eq(klog__load64(b.data + 34), 1073741824);
    size_t want = 16 + (2 + 6 + 6 + 2 * 12) + (2 + 1 + 6) + (2 + 249 + 6 + 32 * 12) +
                  (2 + 18 + 6 + 12) + 8;
    ck_assert_uint_eq(b.len, want);
    ck_assert_uint_eq(klog__load64(b.data + b.len - 8), XXH3_64bits(b.data, b.len - 8));

    ck_assert_int_eq(klog__meta_decode(b.data, b.len, &got, &m), 0);
    ck_assert_uint_eq(m, n);
    assert_topics_eq(got, t, n);
    free(got);

    /* Through the file. */
    ck_assert_int_eq(klog__meta_write(tmp, t, n), 0);
    ck_assert_int_eq(klog__meta_read(tmp, &got, &m), 0);
    ck_assert_uint_eq(m, n);
    assert_topics_eq(got, t, n);
    free(got);
    size_t len;
    uint8_t *raw = tu_read_file(tmp, "klog.topics", &len);
    ck_assert_uint_eq(len, b.len);
    ck_assert_mem_eq(raw, b.data, len);
    free(raw);

    /* Zero topics. */
    ck_assert_int_eq(klog__meta_write(tmp, NULL, 0), 0);
    ck_assert_int_eq(klog__meta_read(tmp, &got, &m), 0);
    ck_assert_uint_eq(m, 0);
    free(got);

    /* Encoding appends to what the buffer already holds. */
    size_t first = b.len;
    ck_assert_int_eq(klog__meta_encode(t, 1, &b), 0);
    ck_assert_int_eq(klog__meta_decode(b.data + first, b.len - first, &got, &m), 0);
    ck_assert_uint_eq(m, 1);
    free(got);
    klog__buf_free(&b);
    free(t);
}
END_TEST

START_TEST(test_meta_missing)
{
    klog__topic_meta_t *got = (klog__topic_meta_t *)1;
    size_t m = 99;
    ck_assert_int_eq(klog__meta_read(tmp, &got, &m), 0);
    ck_assert_ptr_null(got);
    ck_assert_uint_eq(m, 0);
}
END_TEST

START_TEST(test_meta_truncated_and_corrupted)
{
    size_t n, m;
    klog__topic_meta_t *t = sample_topics(&n), *got;
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__meta_encode(t, n, &b), 0);
    uint8_t *buf = malloc(b.len + 1);
    ck_assert_ptr_nonnull(buf);

    for (size_t len = 0; len < b.len; len++) {
        /* Copy so ASan sees any read past the given length. */
        memcpy(buf, b.data, len);
        got = (klog__topic_meta_t *)1;
        ck_assert_msg(klog__meta_decode(buf, len, &got, &m) == KLOG_ECORRUPT, "len %zu", len);
        ck_assert_ptr_null(got);
        ck_assert_uint_eq(m, 0);
    }
    memcpy(buf, b.data, b.len);
    buf[b.len] = 0;
    ck_assert_int_eq(klog__meta_decode(buf, b.len + 1, &got, &m), KLOG_ECORRUPT);

    for (size_t i = 0; i < b.len; i++) {
        memcpy(buf, b.data, b.len);
        buf[i] ^= 0x40;
        int rc = klog__meta_decode(buf, b.len, &got, &m);
        int want = i >= 8 && i < 12 ? KLOG_EVERSION : KLOG_ECORRUPT;
        ck_assert_msg(rc == want, "byte %zu: %s", i, klog_err_name(rc));
    }

    /* A corrupt file on disk. */
    memcpy(buf, b.data, b.len);
    buf[20] ^= 1;
    ck_assert_int_eq(tu_write_file(tmp, "klog.topics", buf, b.len), 0);
    ck_assert_int_eq(klog__meta_read(tmp, &got, &m), KLOG_ECORRUPT);
    free(buf);
    klog__buf_free(&b);
    free(t);
}
END_TEST

/* A hand-made encoder, so structurally bad files can carry a good checksum. */
typedef struct {
    uint8_t b[2048];
    size_t len;
} raw_t;

static void raw_head(raw_t *r, uint32_t version, uint32_t count)
{
    memcpy(r->b, "KLOGTOPS", 8);
    klog__store32(r->b + 8, version);
    klog__store32(r->b + 12, count);
    r->len = 16;
}

static void raw_topic(raw_t *r, const char *name, size_t nlen, int32_t parts, uint16_t nconf,
                      uint16_t nconf_written)
{
    klog__store16(r->b + r->len, (uint16_t)nlen);
    memcpy(r->b + r->len + 2, name, nlen);
    r->len += 2 + nlen;
    klog__store32(r->b + r->len, (uint32_t)parts);
    klog__store16(r->b + r->len + 4, nconf);
    r->len += 6;
    for (uint16_t k = 0; k < nconf_written; k++) {
        klog__store32(r->b + r->len, k);
        klog__store64(r->b + r->len + 4, (uint64_t)k * 3);
        r->len += 12;
    }
}

static void raw_seal(raw_t *r)
{
    klog__store64(r->b + r->len, XXH3_64bits(r->b, r->len));
    r->len += 8;
}

static int raw_decode(raw_t *r)
{
    klog__topic_meta_t *got = NULL;
    size_t m;
    int rc = klog__meta_decode(r->b, r->len, &got, &m);
    free(got);
    return rc;
}

START_TEST(test_meta_structure)
{
    raw_t r;
    char n250[250];
    memset(n250, 'q', sizeof n250);

    raw_head(&r, 1, 1);
    raw_topic(&r, "ok", 2, 3, 1, 1);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), 0); /* the control */

    raw_head(&r, 2, 1); /* version 2: the same layout (a compact-only topic) */
    raw_topic(&r, "ok", 2, 3, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), 0);
    raw_head(&r, 3, 1);
    raw_topic(&r, "ok", 2, 3, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_EVERSION);
    raw_head(&r, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_EVERSION);

    static const struct {
        const char *name;
        size_t nlen;
        int32_t parts;
        uint16_t nconf, written;
    } bad[] = {
        {"", 0, 1, 0, 0},         /* empty name */
        {".", 1, 1, 0, 0},
        {"..", 2, 1, 0, 0},
        {"a/b", 3, 1, 0, 0},
        {"a\0b", 3, 1, 0, 0},     /* NUL inside */
        {"a\0", 2, 1, 0, 0},
        {"caf\xc3\xa9", 5, 1, 0, 0},
        {"ok", 2, 0, 0, 0},       /* partitions */
        {"ok", 2, -1, 0, 0},
        {"ok", 2, 100001, 0, 0},
        {"ok", 2, INT32_MIN, 0, 0},
        {"ok", 2, 1, 33, 33},     /* too many configs */
        {"ok", 2, 1, 2, 1},       /* configs run past the end */
        {"ok", 2, 1, 1, 2},       /* a trailing config's worth of bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw_head(&r, 1, 1);
        raw_topic(&r, bad[i].name, bad[i].nlen, bad[i].parts, bad[i].nconf, bad[i].written);
        raw_seal(&r);
        ck_assert_msg(raw_decode(&r) == KLOG_ECORRUPT, "case %zu", i);
    }

    raw_head(&r, 1, 1); /* 250-byte name */
    raw_topic(&r, n250, 250, 1, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);
    raw_head(&r, 1, 1); /* 249 is fine */
    raw_topic(&r, n250, 249, 1, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), 0);

    raw_head(&r, 1, 2); /* duplicate names */
    raw_topic(&r, "dup", 3, 1, 0, 0);
    raw_topic(&r, "dup", 3, 2, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);

    raw_head(&r, 1, 3); /* count says more topics than there are */
    raw_topic(&r, "a", 1, 1, 0, 0);
    raw_topic(&r, "b", 1, 1, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);

    raw_head(&r, 1, 1); /* count says fewer: bytes left over */
    raw_topic(&r, "a", 1, 1, 0, 0);
    raw_topic(&r, "b", 1, 1, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);

    raw_head(&r, 1, UINT32_MAX); /* a huge count must not allocate */
    raw_topic(&r, "a", 1, 1, 0, 0);
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);

    raw_head(&r, 1, 0); /* zero topics with trailing junk */
    r.b[r.len++] = 0;
    raw_seal(&r);
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);

    memcpy(r.b, "KLOGTOPX", 8); /* magic */
    ck_assert_int_eq(raw_decode(&r), KLOG_ECORRUPT);
}
END_TEST

START_TEST(test_meta_encode_refuses_invalid)
{
    size_t n;
    klog__topic_meta_t *t = sample_topics(&n);
    klog__buf_t b = {0};
    klog__topic_meta_t save = t[1];

    strcpy(t[1].name, "a/b");
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1] = save;
    t[1].name[0] = 0;
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1] = save;
    memset(t[1].name, 'x', sizeof t[1].name); /* not NUL-terminated */
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1] = save;
    t[1].partitions = 0;
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1].partitions = 100001;
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1] = save;
    t[1].nconf = KLOG__TOPIC_CONF_MAX + 1;
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    t[1] = save;
    strcpy(t[1].name, t[3].name);
    ck_assert_int_eq(klog__meta_encode(t, n, &b), -EINVAL);
    ck_assert_int_eq(klog__meta_write(tmp, t, n), -EINVAL);
    ck_assert_uint_eq(b.len, 0);
    size_t len;
    ck_assert_ptr_null(tu_read_file(tmp, "klog.topics", &len));
    klog__buf_free(&b);
    free(t);
}
END_TEST

START_TEST(test_meta_alloc_failure)
{
    size_t n, m;
    klog__topic_meta_t *t = sample_topics(&n), *got = NULL;
    klog__buf_t b = {0};
    ALLOC_FAIL_LOOP(klog__meta_encode(t, n, &b), (void)0);
    ALLOC_FAIL_LOOP(klog__meta_decode(b.data, b.len, &got, &m), (free(got), got = NULL));
    ALLOC_FAIL_LOOP(klog__meta_write(tmp, t, n), (void)0);
    ALLOC_FAIL_LOOP(klog__meta_read(tmp, &got, &m), (assert_topics_eq(got, t, n), free(got)));
    klog__buf_free(&b);
    free(t);
}
END_TEST

Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("name");
    tcase_add_test(tc, test_name_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ckpt_known_bytes);
    tcase_add_test(tc, test_ckpt_parse_known);
    tcase_add_test(tc, test_ckpt_round_trip);
    tcase_add_test(tc, test_ckpt_parse_lenient);
    tcase_add_test(tc, test_ckpt_parse_malformed);
    tcase_add_test(tc, test_ckpt_missing_and_unreadable);
    tcase_add_test(tc, test_ckpt_write_refuses_invalid);
    tcase_add_test(tc, test_ckpt_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("seal");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_seal_layout);
    tcase_add_test(tc, test_seal_round_trip);
    tcase_add_test(tc, test_seal_every_byte_corrupted);
    tcase_add_test(tc, test_seal_version);
    tcase_add_test(tc, test_seal_inconsistent);
    tcase_add_test(tc, test_seal_read_errors);
    tcase_add_test(tc, test_file_digest);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_meta_round_trip);
    tcase_add_test(tc, test_meta_missing);
    tcase_add_test(tc, test_meta_truncated_and_corrupted);
    tcase_add_test(tc, test_meta_structure);
    tcase_add_test(tc, test_meta_encode_refuses_invalid);
    tcase_add_test(tc, test_meta_alloc_failure);
    suite_add_tcase(s, tc);
    return s;
}
