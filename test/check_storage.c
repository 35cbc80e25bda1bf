/*
 * check_storage.c — the storage engine through the public API (klog.h):
 * log directory and its lock, topics and their persisted configuration,
 * hostile topic names, appends across many rolls, reads at every offset,
 * reads inside batches and in offset gaps, timestamp seeks, Kafka index
 * files byte for byte, wire batches from an independent Kafka client
 * (python3-kafka fixtures), follower appends and truncation, size limits,
 * offset ranges, retention by time and size, DeleteRecords, and retention
 * under a reader.
 *
 * Expected values are computed independently of the engine: index files
 * are rebuilt here from the .log bytes with Kafka's rule
 * (kafka-format.md 3.7), record contents are a function of the offset, and
 * timestamp seeks are answered by brute force over every record.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"
#include "util/tu_records.h"

static char *tmp;

/* These tests are about what the engine stores and serves, not about
 * durability (check_recovery.c crashes writers on the real file system):
 * with no TMPDIR given they run on tmpfs when there is one, where the
 * thousands of fsyncs that hundreds of segment rolls cost are free. */
static void setup(void)
{
    struct stat st;
    const char *t = getenv("TMPDIR");
    if ((!t || !*t) && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        setenv("TMPDIR", "/dev/shm", 1);
        tmp = tu_tmpdir("storage");
        unsetenv("TMPDIR");
    } else {
        tmp = tu_tmpdir("storage");
    }
}
static void teardown(void)
{
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

#define CK_RC(expr, want)                                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        int want_ = (want);                                                                  \
        ck_assert_msg(rc_ == want_, "%s = %d (%s), want %s", #expr, rc_, klog_err_name(rc_), \
                      klog_err_name(want_));                                                 \
    } while (0)
#define CK_OK(expr) CK_RC(expr, 0)

#define T0 1700000000000LL

/* ============================================================ helpers */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

static klog_config_t *conf(int64_t segment_bytes, int64_t index_interval)
{
    klog_config_t *c;
    CK_OK(klog_config_new(&c));
    if (segment_bytes > 0)
        CK_OK(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, segment_bytes));
    if (index_interval >= 0)
        CK_OK(klog_config_set(c, KLOG_CONF_INDEX_INTERVAL_BYTES, index_interval));
    return c;
}

static klog_t *open_log(const klog_config_t *cfg)
{
    klog_t *log = NULL;
    CK_OK(klog_open(tmp, cfg, 0, &log));
    return log;
}

/* Create topic `name` (1 partition) with cfg and return partition 0. */
static klog_partition_t *make_topic(klog_t *log, const char *name, const klog_config_t *cfg)
{
    klog_partition_t *p;
    CK_OK(klog_topic_create(log, name, 1, cfg));
    CK_OK(klog_partition(log, name, 0, &p));
    return p;
}

static klog_partition_t *get_part(klog_t *log, const char *name)
{
    klog_partition_t *p;
    CK_OK(klog_partition(log, name, 0, &p));
    return p;
}

static klog_offsets_t offsets(klog_partition_t *p)
{
    klog_offsets_t o;
    CK_OK(klog_partition_offsets(p, &o));
    return o;
}

/* Record contents are a function of the offset: key "k<o>", value of
 * val_len(o) bytes (sometimes empty, sometimes null). */
static int32_t val_len(int64_t o)
{
    if (o % 13 == 4)
        return KLOG_NULL_LEN;
    return (int32_t)((o * 7919) % 301);
}
static uint8_t val_byte(int64_t o, int32_t i) { return (uint8_t)(o * 31 + i * 7 + (i >> 3)); }

#define MAXREC 64
typedef struct recbuf {
    klog_record_t r[MAXREC];
    char key[MAXREC][24];
    uint8_t val[MAXREC][512];
} recbuf_t;

/* n records for offsets first.., timestamp ts + i (or ts[i] when tsv). */
static recbuf_t *make_recs(int64_t first, size_t n, int64_t ts, const int64_t *tsv)
{
    ck_assert_uint_le(n, MAXREC);
    recbuf_t *b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) {
        int64_t o = first + (int64_t)i;
        klog_record_t *r = &b->r[i];
        r->key_len = snprintf(b->key[i], sizeof b->key[i], "k%lld", (long long)o);
        r->key = b->key[i];
        r->value_len = val_len(o);
        for (int32_t k = 0; k < r->value_len; k++)
            b->val[i][k] = val_byte(o, k);
        r->value = r->value_len >= 0 ? b->val[i] : NULL;
        r->timestamp = tsv ? tsv[i] : ts + (int64_t)i;
    }
    return b;
}

/* Append n records expecting base offset `first`; returns first + n. */
static int64_t append_n(klog_partition_t *p, int64_t first, size_t n, int64_t ts)
{
    recbuf_t *b = make_recs(first, n, ts, NULL);
    int64_t base = -1;
    CK_OK(klog_append(p, b->r, n, &base));
    ck_assert_int_eq(base, first);
    free(b);
    return first + (int64_t)n;
}

/* An encoded batch of records for offsets first.., base offset `first`. */
static uint8_t *encode_at(int64_t first, size_t n, int64_t ts, int codec, size_t *len)
{
    recbuf_t *b = make_recs(first, n, ts, NULL);
    void *out;
    CK_OK(klog_batch_encode(b->r, n, codec, &out, len));
    free(b);
    klog_batch_set_base_offset(out, first);
    return out;
}

/* Check's asserts each cost a write to its pipe: hot checks test first
 * and assert only on failure. */
static void ck_rec(const klog_record_t *rec, int64_t o)
{
    char key[24];
    int kl = snprintf(key, sizeof key, "k%lld", (long long)o);
    int ok = rec->offset == o && rec->key_len == kl && memcmp(rec->key, key, (size_t)kl) == 0 &&
             rec->value_len == val_len(o);
    if (ok && rec->value_len < 0)
        ok = rec->value == NULL;
    const uint8_t *v = rec->value;
    for (int32_t k = 0; ok && k < rec->value_len; k++)
        ok = v[k] == val_byte(o, k);
    if (!ok)
        ck_abort_msg("offset %lld: record differs (offset %lld, key_len %d, value_len %d)",
                     (long long)o, (long long)rec->offset, (int)rec->key_len,
                     (int)rec->value_len);
}

/*
 * Read from `from` to the end: the first record must be `first`, then
 * offsets follow `next_of` (NULL: consecutive). Returns the count read.
 */
static long read_from(klog_partition_t *p, int64_t from, int64_t first,
                      int64_t (*next_of)(int64_t), int64_t end)
{
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, from, &r));
    klog_record_t rec;
    int64_t want = first;
    long n = 0;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        if (rec.offset != want)
            ck_abort_msg("from %lld: got offset %lld, want %lld", (long long)from,
                         (long long)rec.offset, (long long)want);
        ck_rec(&rec, want);
        want = next_of ? next_of(want) : want + 1;
        n++;
    }
    CK_OK(rc);
    ck_assert_int_eq(klog_reader_position(r), end);
    klog_reader_close(r);
    return n;
}

/* Segment base offsets of partition dir `pdir`, sorted ("*.log" only). */
static size_t list_segments(const char *pdir, int64_t *bases, size_t max)
{
    DIR *d = opendir(pdir);
    ck_assert_msg(d != NULL, "opendir %s: %s", pdir, strerror(errno));
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != 24 || strcmp(e->d_name + 20, ".log") != 0)
            continue;
        ck_assert_uint_lt(n, max);
        bases[n++] = strtoll(e->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort */
        for (size_t j = i; j > 0 && bases[j - 1] > bases[j]; j--) {
            int64_t t = bases[j];
            bases[j] = bases[j - 1];
            bases[j - 1] = t;
        }
    return n;
}

/* Count directory entries of pdir ending with `suffix`. */
static int count_suffix(const char *pdir, const char *suffix)
{
    DIR *d = opendir(pdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static char *pdir_of(const char *topic)
{
    char *s;
    ck_assert_int_ge(asprintf(&s, "%s/%s-0", tmp, topic), 0);
    return s;
}

static uint8_t *read_seg_file(const char *pdir, int64_t base, const char *ext, size_t *len)
{
    char name[64];
    snprintf(name, sizeof name, "%020lld%s", (long long)base, ext);
    uint8_t *b = tu_read_file(pdir, name, len);
    ck_assert_msg(b != NULL, "%s/%s: %s", pdir, name, strerror(errno));
    return b;
}

/* ---------------------------------------------------- expected indexes */

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes_t;

static void bput(bytes_t *b, uint64_t v, int width)
{
    if (b->n + 8 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->d = realloc(b->d, b->cap);
        ck_assert_ptr_nonnull(b->d);
    }
    for (int i = width - 1; i >= 0; i--)
        b->d[b->n++] = (uint8_t)(v >> (8 * i));
}

typedef struct tstate {
    int64_t last_ts; /* of the last time-index entry; -1 when empty (Kafka) */
    bytes_t *tix;
    int64_t base;
} tstate_t;

static void time_maybe(tstate_t *t, int64_t ts, int64_t off)
{
    if (ts > t->last_ts) {
        bput(t->tix, (uint64_t)ts, 8);
        bput(t->tix, (uint64_t)(off - t->base), 4);
        t->last_ts = ts;
    }
}

/*
 * Kafka's .index and .timeindex for a .log written one batch per append
 * (LogSegment.append, kafka-format.md 3.7): before counting a batch, when
 * more than `interval` bytes were appended since the last entry, add
 * (batch last offset, batch position) and a time entry (max timestamp so
 * far including this batch, its batch's last offset) if the timestamp grew.
 * `reopen_at` lists positions where the log was closed and reopened with
 * this segment still active (close appends the final time entry; the
 * reopened segment counts bytes from 0). `closed`: the segment was rolled
 * or closed, which appends the final time entry.
 */
static void expect_indexes(const uint8_t *log, size_t len, int64_t base, int64_t interval,
                           const int64_t *reopen_at, size_t nreopen, int closed, bytes_t *oix,
                           bytes_t *tix)
{
    tstate_t t = {-1, tix, base};
    int64_t since = 0, max_ts = -1, max_off = base;
    size_t pos = 0, r = 0;
    while (pos < len) {
        ck_assert_uint_le(pos + 61, len);
        int64_t bo = (int64_t)be64(log + pos);
        int64_t size = (int64_t)(int32_t)be32(log + pos + 8) + 12;
        int64_t last = bo + (int32_t)be32(log + pos + 23);
        int64_t bmax = (int64_t)be64(log + pos + 35);
        ck_assert_uint_le(pos + (size_t)size, len);
        while (r < nreopen && reopen_at[r] == (int64_t)pos) {
            time_maybe(&t, max_ts, max_off);
            since = 0;
            r++;
        }
        if (bmax > max_ts) {
            max_ts = bmax;
            max_off = last;
        }
        if (since > interval) {
            bput(oix, (uint64_t)(last - base), 4);
            bput(oix, pos, 4);
            time_maybe(&t, max_ts, max_off);
            since = 0;
        }
        since += size;
        pos += (size_t)size;
    }
    if (closed)
        time_maybe(&t, max_ts, max_off);
}

static void ck_same(const char *what, int64_t base, const uint8_t *got, size_t glen,
                    const bytes_t *want)
{
    if (glen == want->n && (glen == 0 || memcmp(got, want->d, glen) == 0))
        return;
    size_t i = 0;
    while (i < glen && i < want->n && got[i] == want->d[i])
        i++;
    ck_abort_msg("segment %lld %s: %zu bytes, want %zu; first difference at byte %zu",
                 (long long)base, what, glen, want->n, i);
}

/*
 * Check every segment's .index/.timeindex against the expectation. The
 * last segment is checked only when `last_closed` (else it is active and
 * its index files are preallocated). reopen: (segment, position) pairs.
 */
typedef struct reopen_pt {
    int64_t base, pos;
} reopen_pt_t;

static int check_index_files(const char *pdir, int64_t interval, int last_closed,
                             const reopen_pt_t *ro, size_t nro)
{
    int64_t bases[4096];
    size_t n = list_segments(pdir, bases, 4096);
    ck_assert_uint_gt(n, 0);
    int entries = 0;
    for (size_t i = 0; i < n; i++) {
        int last = i + 1 == n;
        if (last && !last_closed)
            break;
        int64_t rpos[16];
        size_t nr = 0;
        for (size_t k = 0; k < nro; k++)
            if (ro[k].base == bases[i])
                rpos[nr++] = ro[k].pos;
        size_t llen, ilen, tlen;
        uint8_t *lg = read_seg_file(pdir, bases[i], ".log", &llen);
        uint8_t *ix = read_seg_file(pdir, bases[i], ".index", &ilen);
        uint8_t *tx = read_seg_file(pdir, bases[i], ".timeindex", &tlen);
        bytes_t wo = {0}, wt = {0};
        expect_indexes(lg, llen, bases[i], interval, rpos, nr, 1, &wo, &wt);
        /* The first batch of every segment starts at its base offset. */
        ck_assert_uint_ge(llen, 61);
        ck_assert_int_eq((int64_t)be64(lg), bases[i]);
        ck_same(".index", bases[i], ix, ilen, &wo);
        ck_same(".timeindex", bases[i], tx, tlen, &wt);
        entries += (int)(wo.n / 8);
        free(wo.d);
        free(wt.d);
        free(lg);
        free(ix);
        free(tx);
    }
    return entries;
}

/* ============================================================ log directory */

START_TEST(logdir_lock)
{
    klog_t *log = open_log(NULL);
    ck_assert(file_exists(tmp, "klog.lock"));

    /* Same process, second read-write open. */
    klog_t *again = NULL;
    CK_RC(klog_open(tmp, NULL, 0, &again), KLOG_ELOCKED);
    ck_assert_ptr_null(again);

    /* Another process. */
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *l2 = NULL;
        int rc = klog_open(tmp, NULL, 0, &l2);
        _exit(rc == KLOG_ELOCKED ? 0 : 10 + (rc == 0));
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);

    /* Read-only opens take no lock. */
    klog_t *ro = NULL;
    CK_OK(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &ro));
    CK_RC(klog_topic_create(ro, "x", 1, NULL), KLOG_EREADONLY);
    CK_OK(klog_close(ro));

    /* The lock goes with close; a child can take it then. */
    CK_OK(klog_close(log));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *l2 = NULL;
        int rc = klog_open(tmp, NULL, 0, &l2);
        if (rc == 0)
            rc = klog_close(l2);
        _exit(rc == 0 ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);
    log = open_log(NULL);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(logdir_open_errors)
{
    klog_t *log = NULL;
    char *missing;
    ck_assert_int_ge(asprintf(&missing, "%s/nope", tmp), 0);
    CK_RC(klog_open(missing, NULL, KLOG_OPEN_NOCREATE, &log), -ENOENT);
    CK_RC(klog_open(missing, NULL, KLOG_OPEN_RDONLY, &log), -ENOENT);
    ck_assert(!file_exists(tmp, "nope"));
    /* Creating is the default. */
    CK_OK(klog_open(missing, NULL, 0, &log));
    CK_OK(klog_close(log));
    ck_assert(file_exists(tmp, "nope/klog.lock"));
    /* A file is not a directory. */
    ck_assert_int_eq(tu_write_file(tmp, "plain", "x", 1), 0);
    char *plain;
    ck_assert_int_ge(asprintf(&plain, "%s/plain", tmp), 0);
    CK_RC(klog_open(plain, NULL, 0, &log), -ENOTDIR);
    CK_OK(klog_close(NULL));
    free(plain);
    free(missing);
}
END_TEST

/* ============================================================ topics */

static int list_has(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], want) == 0)
            return 1;
    return 0;
}

START_TEST(topic_lifecycle)
{
    klog_config_t *lc = conf(-1, -1);
    CK_OK(klog_config_set(lc, KLOG_CONF_RETENTION_BYTES, 999999));
    CK_OK(klog_config_set(lc, KLOG_CONF_DEFAULT_PARTITIONS, 3));
    klog_t *log = open_log(lc);

    klog_config_t *tc = conf(4096, 100);
    CK_OK(klog_config_set(tc, KLOG_CONF_RETENTION_MS, 1234));
    CK_OK(klog_topic_create(log, "zeta", 2, tc));
    CK_OK(klog_topic_create(log, "alpha", 0, NULL)); /* log default: 3 partitions */
    CK_OK(klog_topic_create(log, "mid.dle_-x", 1, NULL));
    CK_RC(klog_topic_create(log, "zeta", 1, NULL), KLOG_ETOPICEXISTS);
    CK_RC(klog_topic_create(log, "neg", -1, NULL), -EINVAL);
    CK_RC(klog_topic_create(log, "huge", 100001, NULL), -EINVAL);
    /* Log-level keys are not topic settings. */
    klog_config_t *bad = conf(-1, -1);
    CK_OK(klog_config_set(bad, KLOG_CONF_MAX_OPEN_FILES, 10));
    CK_RC(klog_topic_create(log, "bad", 1, bad), KLOG_ECONFIG);
    klog_config_free(bad);
    ck_assert(!file_exists(tmp, "bad-0"));

    char **names;
    int n = klog_topic_list(log, &names);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "mid.dle_-x");
    ck_assert_str_eq(names[2], "zeta");
    ck_assert_ptr_null(names[3]);
    free(names);

    klog_topic_t *t;
    CK_OK(klog_topic_get(log, "alpha", &t));
    ck_assert_int_eq(klog_topic_partition_count(t), 3);
    ck_assert_str_eq(klog_topic_name(t), "alpha");
    ck_assert(file_exists(tmp, "alpha-0") && file_exists(tmp, "alpha-2"));
    ck_assert(!file_exists(tmp, "alpha-3"));
    klog_partition_t *p;
    CK_RC(klog_partition_get(t, 3, &p), KLOG_ENOPARTITION);
    CK_RC(klog_partition_get(t, -1, &p), KLOG_ENOPARTITION);
    CK_RC(klog_topic_get(log, "nope", &t), KLOG_ENOTOPIC);

    int64_t v;
    CK_OK(klog_topic_get(log, "zeta", &t));
    ck_assert_int_eq(klog_topic_partition_count(t), 2);
    CK_OK(klog_topic_config(t, KLOG_CONF_SEGMENT_BYTES, &v));
    ck_assert_int_eq(v, 4096);
    CK_OK(klog_topic_config(t, KLOG_CONF_INDEX_INTERVAL_BYTES, &v));
    ck_assert_int_eq(v, 100);
    CK_OK(klog_topic_config(t, KLOG_CONF_RETENTION_MS, &v));
    ck_assert_int_eq(v, 1234);
    CK_OK(klog_topic_config(t, KLOG_CONF_RETENTION_BYTES, &v)); /* from the log */
    ck_assert_int_eq(v, 999999);
    CK_OK(klog_topic_config(t, KLOG_CONF_MAX_BATCH_BYTES, &v)); /* default */
    ck_assert_int_eq(v, 1048588);
    CK_RC(klog_topic_config(t, 999, &v), KLOG_ECONFIG);

    /* Data in zeta-1, then reopen with other log defaults. */
    CK_OK(klog_partition(log, "zeta", 1, &p));
    ck_assert_str_eq(klog_partition_topic(p), "zeta");
    ck_assert_int_eq(klog_partition_id(p), 1);
    int64_t end = 0;
    for (int i = 0; i < 40; i++)
        end = append_n(p, end, 5, T0 + i);
    ck_assert_int_gt(offsets(p).segments, 2); /* 4096-byte segments rolled */
    CK_OK(klog_close(log));
    klog_config_free(lc);

    log = open_log(NULL);
    n = klog_topic_list(log, &names);
    ck_assert_int_eq(n, 3);
    ck_assert(list_has(names, n, "alpha") && list_has(names, n, "zeta"));
    free(names);
    CK_OK(klog_topic_get(log, "zeta", &t));
    CK_OK(klog_topic_config(t, KLOG_CONF_SEGMENT_BYTES, &v));
    ck_assert_int_eq(v, 4096);
    CK_OK(klog_topic_config(t, KLOG_CONF_INDEX_INTERVAL_BYTES, &v));
    ck_assert_int_eq(v, 100);
    CK_OK(klog_topic_config(t, KLOG_CONF_RETENTION_MS, &v));
    ck_assert_int_eq(v, 1234);
    CK_OK(klog_topic_config(t, KLOG_CONF_RETENTION_BYTES, &v)); /* log default now */
    ck_assert_int_eq(v, -1);
    CK_OK(klog_topic_get(log, "alpha", &t));
    ck_assert_int_eq(klog_topic_partition_count(t), 3);
    CK_OK(klog_partition(log, "zeta", 1, &p));
    ck_assert_int_eq(offsets(p).log_end, end);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);

    /* Delete: refused while a reader is open, then gone with its data. */
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, 0, &r));
    CK_RC(klog_topic_delete(log, "zeta"), KLOG_EBUSY);
    klog_reader_close(r);
    CK_OK(klog_topic_delete(log, "zeta"));
    CK_RC(klog_topic_delete(log, "zeta"), KLOG_ENOTOPIC);
    CK_RC(klog_topic_get(log, "zeta", &t), KLOG_ENOTOPIC);
    CK_RC(klog_partition(log, "zeta", 0, &p), KLOG_ENOTOPIC);
    ck_assert(!file_exists(tmp, "zeta-0") && !file_exists(tmp, "zeta-1"));
    n = klog_topic_list(log, &names);
    ck_assert_int_eq(n, 2);
    ck_assert(!list_has(names, n, "zeta"));
    free(names);
    /* The name is free again, and the new topic is empty. */
    CK_OK(klog_topic_create(log, "zeta", 1, NULL));
    CK_OK(klog_partition(log, "zeta", 0, &p));
    ck_assert_int_eq(offsets(p).log_end, 0);
    CK_OK(klog_topic_get(log, "zeta", &t));
    CK_OK(klog_topic_config(t, KLOG_CONF_SEGMENT_BYTES, &v));
    ck_assert_int_eq(v, 1073741824);
    CK_OK(klog_close(log));

    /* The deletion persisted. */
    log = open_log(NULL);
    CK_OK(klog_partition(log, "zeta", 0, &p));
    ck_assert_int_eq(offsets(p).log_end, 0);
    CK_RC(klog_partition(log, "zeta", 1, &p), KLOG_ENOPARTITION);
    CK_OK(klog_close(log));
    klog_config_free(tc);
}
END_TEST

START_TEST(topic_hostile_names)
{
    klog_t *log = open_log(NULL);
    char long250[251], long249[250];
    memset(long250, 'a', 250);
    long250[250] = 0;
    memset(long249, 'b', 249);
    long249[249] = 0;
    const char *bad[] = {"..", ".", "a/b", "../../etc", "/etc", "", long250, "a\x01" "b", "\n",
                         "tab\there", "del\x7f", "sp ace", "caf\xc3\xa9", "a\\b", "../x",
                         "x/..", "./"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        klog_topic_t *t;
        klog_partition_t *p;
        ck_assert_int_eq(klog_topic_name_valid(bad[i]), 0);
        CK_RC(klog_topic_create(log, bad[i], 1, NULL), KLOG_EBADNAME);
        CK_RC(klog_topic_get(log, bad[i], &t), KLOG_EBADNAME);
        CK_RC(klog_topic_delete(log, bad[i]), KLOG_EBADNAME);
        CK_RC(klog_partition(log, bad[i], 0, &p), KLOG_EBADNAME);
    }
    CK_OK(klog_topic_create(log, long249, 1, NULL));
    char **names;
    ck_assert_int_eq(klog_topic_list(log, &names), 1);
    ck_assert_str_eq(names[0], long249);
    free(names);
    CK_OK(klog_close(log));

    /* Nothing but the log's own files and the valid topic's directory. */
    DIR *d = opendir(tmp);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        int ok = !strcmp(nm, ".") || !strcmp(nm, "..") || !strncmp(nm, "klog.", 5) ||
                 !strcmp(nm, "recovery-point-offset-checkpoint") ||
                 !strcmp(nm, "log-start-offset-checkpoint") ||
                 !strcmp(nm, ".kafka_cleanshutdown") ||
                 (strncmp(nm, long249, 249) == 0 && !strcmp(nm + 249, "-0"));
        ck_assert_msg(ok, "unexpected entry %s in the log directory", nm);
    }
    closedir(d);
    char up[4096];
    snprintf(up, sizeof up, "%s/../etc-0", tmp);
    struct stat st;
    ck_assert_int_ne(stat(up, &st), 0);
}
END_TEST

/* ============================================================ appends and reads */

/* Many rolls: small segments, random batch sizes, everything read back,
 * after reopen too; segment files are named by their first offset. */
START_TEST(append_many_rolls)
{
    static const int64_t seg_sizes[] = {4096, 10000, 100000};
    int64_t segb = seg_sizes[_i];
    klog_config_t *c = conf(segb, -1);
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "rolls", c);
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(77 + (uint64_t)_i));
    int64_t end = 0;
    for (int i = 0; i < 600; i++)
        end = append_n(p, end, 1 + tu_rng_below(&rng, 12), T0 + i * 10);
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.log_end, end);
    ck_assert_int_eq(o.high_watermark, end);
    ck_assert_int_eq(o.log_start, 0);
    ck_assert_int_gt(o.segments, 5);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);

    /* Segment files: base = first batch's offset, sizes <= segment.bytes,
     * and they tile the offsets. */
    char *pd = pdir_of("rolls");
    int64_t bases[4096];
    size_t n = list_segments(pd, bases, 4096);
    ck_assert_int_eq((int64_t)n, o.segments);
    int64_t total = 0, next = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *lg = read_seg_file(pd, bases[i], ".log", &len);
        ck_assert_int_eq(bases[i], next);
        ck_assert_int_le((int64_t)len, segb);
        size_t pos = 0;
        while (pos < len) {
            ck_assert_int_eq((int64_t)be64(lg + pos), next);
            size_t bsize = be32(lg + pos + 8) + 12;
            ck_assert_uint_le(pos + bsize, len);
            CK_OK(klog_batch_validate(lg + pos, bsize, KLOG_VALIDATE_RECORDS, NULL));
            next += (int32_t)be32(lg + pos + 23) + 1;
            pos += bsize;
        }
        ck_assert_uint_eq(pos, len);
        total += (int64_t)len;
        free(lg);
    }
    ck_assert_int_eq(next, end);
    ck_assert_int_eq(offsets(p).bytes, total);
    CK_OK(klog_close(log));

    log = open_log(NULL);
    p = get_part(log, "rolls");
    o = offsets(p);
    ck_assert_int_eq(o.log_end, end);
    ck_assert_int_eq((int64_t)n, o.segments);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);
    /* Appends continue after reopen. */
    end = append_n(p, end, 3, T0 + 9999);
    ck_assert_int_eq(read_from(p, end - 5, end - 5, NULL, end), 5);
    CK_OK(klog_close(log));
    free(pd);
    klog_config_free(c);
}
END_TEST

/* Every offset of a multi-batch, multi-segment log: open at it, and seek
 * to it (forwards and backwards), returns exactly that offset first.
 * Batches of several records (compressed or not) make most offsets fall
 * inside a batch: the reader returns the rest of that batch. */
START_TEST(read_every_offset)
{
    static const int codecs[] = {KLOG_COMPRESSION_NONE, KLOG_COMPRESSION_LZ4};
    int codec = codecs[_i];
    klog_config_t *c = conf(8192, 500);
    CK_OK(klog_config_set(c, KLOG_CONF_COMPRESSION, codec));
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "every", c);
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(5));
    int64_t end = 0;
    for (int i = 0; i < 120; i++)
        end = append_n(p, end, 1 + tu_rng_below(&rng, 9), T0 + i);
    ck_assert_int_gt(offsets(p).segments, 3);
    /* Compression really happened (attributes of the first batch). */
    char *pd = pdir_of("every");
    size_t len;
    uint8_t *lg = read_seg_file(pd, 0, ".log", &len);
    ck_assert_int_eq(lg[22] & KLOG_ATTR_CODEC_MASK, codec);
    free(lg);

    klog_reader_t *seeker;
    CK_OK(klog_reader_open(p, KLOG_OFFSET_END, &seeker));
    ck_assert_int_eq(klog_reader_position(seeker), end);
    for (int64_t o = 0; o < end; o++) {
        klog_reader_t *r;
        klog_record_t rec;
        CK_OK(klog_reader_open(p, o, &r));
        ck_assert_int_eq(klog_reader_position(r), o);
        CK_RC(klog_reader_next(r, &rec), 1);
        ck_rec(&rec, o);
        /* ... and the following record too (within or after the batch). */
        if (o + 1 < end) {
            CK_RC(klog_reader_next(r, &rec), 1);
            ck_rec(&rec, o + 1);
        } else {
            CK_RC(klog_reader_next(r, &rec), 0);
        }
        klog_reader_close(r);

        int64_t so = (o * 37) % end; /* jump around */
        CK_OK(klog_reader_seek(seeker, so));
        CK_RC(klog_reader_next(seeker, &rec), 1);
        ck_rec(&rec, so);
    }
    klog_reader_close(seeker);
    /* Reading on from the middle of a batch sees every later record once. */
    ck_assert_int_eq(read_from(p, 3, 3, NULL, end), end - 3);
    ck_assert_int_eq(read_from(p, KLOG_OFFSET_BEGINNING, 0, NULL, end), end);
    CK_OK(klog_close(log));
    free(pd);
    klog_config_free(c);
}
END_TEST

/* Offsets out of range, reads at the end, waiting for new data. */
/* The reader exposes the header of the batch each record came from. */
START_TEST(reader_batch_info)
{
    klog_t *log = open_log(NULL);
    klog_config_t *tc;
    CK_OK(klog_config_new(&tc));
    CK_OK(klog_config_set(tc, KLOG_CONF_COMPRESSION, KLOG_COMPRESSION_LZ4));
    CK_OK(klog_topic_create(log, "bi", 1, tc));
    klog_config_free(tc);
    klog_partition_t *p;
    CK_OK(klog_partition(log, "bi", 0, &p));
    klog_record_t recs[3] = {{.timestamp = 5, .key_len = KLOG_NULL_LEN, .value = "a", .value_len = 1},
                             {.timestamp = 9, .key_len = KLOG_NULL_LEN, .value = "b", .value_len = 1},
                             {.timestamp = 7, .key_len = KLOG_NULL_LEN, .value = "c", .value_len = 1}};
    CK_OK(klog_append(p, recs, 3, NULL));
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, 1, &r));
    ck_assert_ptr_null(klog_reader_batch_info(r));
    klog_record_t rec;
    CK_RC(klog_reader_next(r, &rec), 1);
    const klog_batch_info_t *bi = klog_reader_batch_info(r);
    ck_assert_ptr_nonnull(bi);
    ck_assert_int_eq(bi->compression, KLOG_COMPRESSION_LZ4);
    ck_assert_int_eq(bi->base_offset, 0);
    ck_assert_int_eq(bi->record_count, 3);
    ck_assert_int_eq(bi->max_timestamp, 9);
    ck_assert_int_eq(bi->attributes & KLOG_ATTR_LOG_APPEND_TIME, 0);
    klog_reader_close(r);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(read_ranges)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "ranges", NULL);
    klog_reader_t *r;
    klog_record_t rec;
    /* Empty partition: 0 is both start and end. */
    CK_OK(klog_reader_open(p, 0, &r));
    CK_RC(klog_reader_next(r, &rec), 0);
    CK_RC(klog_reader_wait(r, 0), 0);
    int64_t end = append_n(p, 0, 4, T0);
    CK_RC(klog_reader_wait(r, 0), 1);
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_rec(&rec, 0);
    klog_reader_close(r);
    end = append_n(p, end, 6, T0);
    CK_RC(klog_reader_open(p, end + 1, &r), KLOG_EOFFSET);
    CK_RC(klog_reader_open(p, -5, &r), KLOG_EOFFSET);
    CK_RC(klog_reader_open(p, INT64_MAX, &r), KLOG_EOFFSET);
    /* At the end: 0 (caught up), not an error. */
    CK_OK(klog_reader_open(p, end, &r));
    CK_RC(klog_reader_next(r, &rec), 0);
    CK_RC(klog_reader_next(r, &rec), 0);
    CK_RC(klog_reader_seek(r, end + 1), KLOG_EOFFSET);
    ck_assert_int_eq(klog_reader_position(r), end); /* a failed seek moves nothing */
    int64_t end2 = append_n(p, end, 2, T0);
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_rec(&rec, end);
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_rec(&rec, end + 1);
    CK_RC(klog_reader_next(r, &rec), 0);
    ck_assert_int_eq(klog_reader_position(r), end2);
    /* The log cannot close under a reader. */
    CK_RC(klog_close(log), KLOG_EBUSY);
    klog_reader_close(r);
    klog_reader_close(NULL);
    CK_OK(klog_close(log));
}
END_TEST

/* ------------------------------------------------------------ follower */

static int64_t gap_next(int64_t o)
{
    /* batches: 0-4, 10-14, 30-32, 33-35 (leader append), 100-101 */
    if (o == 4)
        return 10;
    if (o == 14)
        return 30;
    if (o == 35)
        return 100;
    return o + 1;
}

START_TEST(follower_gaps_and_truncate)
{
    klog_config_t *c = conf(-1, 0); /* index entry before every batch but the first */
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "fol", c);
    size_t l1, l2, l3;
    uint8_t *b1 = encode_at(0, 5, T0, KLOG_COMPRESSION_NONE, &l1);
    uint8_t *b2 = encode_at(10, 5, T0 + 100, KLOG_COMPRESSION_LZ4, &l2);
    uint8_t *b3 = encode_at(30, 3, T0 + 200, KLOG_COMPRESSION_NONE, &l3);
    uint8_t *all = malloc(l1 + l2 + l3);
    memcpy(all, b1, l1);
    memcpy(all + l1, b2, l2);
    memcpy(all + l1 + l2, b3, l3);

    /* Out of order inside one payload: nothing is written. */
    uint8_t *bad = malloc(l2 + l1);
    memcpy(bad, b2, l2);
    memcpy(bad + l2, b1, l1);
    CK_RC(klog_append_follower(p, bad, l2 + l1), KLOG_ESEQUENCE);
    ck_assert_int_eq(offsets(p).log_end, 0);
    /* Same batch twice: offsets must increase. */
    memcpy(bad, b1, l1);
    uint8_t *dup = malloc(2 * l1);
    memcpy(dup, b1, l1);
    memcpy(dup + l1, b1, l1);
    CK_RC(klog_append_follower(p, dup, 2 * l1), KLOG_ESEQUENCE);
    ck_assert_int_eq(offsets(p).log_end, 0);
    CK_RC(klog_append_follower(p, all, 0), KLOG_EEMPTY);
    /* A corrupt batch is refused. */
    uint8_t *crc = malloc(l1);
    memcpy(crc, b1, l1);
    crc[l1 - 1] ^= 1;
    CK_RC(klog_append_follower(p, crc, l1), KLOG_ECRC);
    free(crc);

    CK_OK(klog_append_follower(p, all, l1 + l2 + l3));
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.log_end, 33);
    ck_assert_int_eq(o.high_watermark, 33);
    /* Stored verbatim. */
    char *pd = pdir_of("fol");
    size_t len;
    uint8_t *lg = read_seg_file(pd, 0, ".log", &len);
    ck_assert_uint_eq(len, l1 + l2 + l3);
    ck_assert(memcmp(lg, all, len) == 0);
    free(lg);

    /* Must start at or after the log end. */
    CK_RC(klog_append_follower(p, b3, l3), KLOG_ESEQUENCE);
    /* The leader path continues at the log end. */
    ck_assert_int_eq(append_n(p, 33, 3, T0 + 300), 36);
    size_t l4;
    uint8_t *b4 = encode_at(100, 2, T0 + 400, KLOG_COMPRESSION_NONE, &l4);
    CK_OK(klog_append_follower(p, b4, l4));
    ck_assert_int_eq(offsets(p).log_end, 102);

    /* Reads at every offset, gaps included, return the next batch. */
    for (int64_t off = 0; off < 102; off++) {
        int64_t first = off;
        if (off >= 5 && off < 10)
            first = 10;
        else if (off >= 15 && off < 30)
            first = 30;
        else if (off >= 36 && off < 100)
            first = 100;
        read_from(p, off, first, gap_next, 102);
    }
    /* Timestamp seek across gaps (record o of a batch at ts + i). */
    int64_t to;
    CK_OK(klog_offset_for_time(p, T0 + 3, &to));
    ck_assert_int_eq(to, 3);
    CK_OK(klog_offset_for_time(p, T0 + 50, &to));
    ck_assert_int_eq(to, 10);
    CK_OK(klog_offset_for_time(p, T0 + 250, &to));
    ck_assert_int_eq(to, 33);
    CK_OK(klog_offset_for_time(p, T0 + 401, &to));
    ck_assert_int_eq(to, 101);
    CK_OK(klog_offset_for_time(p, T0 + 402, &to));
    ck_assert_int_eq(to, 102);

    /* Truncate in a gap: an empty tail, the log end is the offset. */
    CK_OK(klog_truncate(p, 50));
    o = offsets(p);
    ck_assert_int_eq(o.log_end, 50);
    ck_assert_int_le(o.high_watermark, 50);
    read_from(p, 0, 0, gap_next, 36);
    klog_reader_t *r51;
    CK_RC(klog_reader_open(p, 51, &r51), KLOG_EOFFSET);
    ck_assert_int_eq(append_n(p, 50, 2, T0 + 500), 52);
    /* Truncate inside a batch (10-14): the whole batch goes. */
    CK_OK(klog_truncate(p, 12));
    o = offsets(p);
    ck_assert_int_eq(o.log_end, 10);
    ck_assert_int_eq(o.high_watermark, 10);
    read_from(p, 0, 0, NULL, 5);
    read_from(p, 7, 10, NULL, 7); /* nothing at or after 7 any more */
    lg = read_seg_file(pd, 0, ".log", &len);
    ck_assert_uint_eq(len, l1);
    free(lg);
    /* Appends continue at the new end, the leader's way and the follower's. */
    ck_assert_int_eq(append_n(p, 10, 5, T0 + 600), 15);
    CK_RC(klog_append_follower(p, b2, l2), KLOG_ESEQUENCE); /* 10 < 15 */
    CK_OK(klog_append_follower(p, b3, l3));
    ck_assert_int_eq(read_from(p, 0, 0, gap_next, 33), 5 + 5 + 3);
    CK_RC(klog_truncate(p, -1), KLOG_EOFFSET);
    CK_OK(klog_truncate(p, 1000)); /* beyond the end: nothing to do */
    ck_assert_int_eq(offsets(p).log_end, 33);

    /* Index files stay Kafka-valid through truncation, close and reopen. */
    CK_OK(klog_close(log));
    log = open_log(NULL);
    p = get_part(log, "fol");
    ck_assert_int_eq(offsets(p).log_end, 33);
    ck_assert_int_eq(read_from(p, 0, 0, gap_next, 33), 13);
    CK_OK(klog_close(log));
    free(pd);
    free(all);
    free(bad);
    free(dup);
    free(b1);
    free(b2);
    free(b3);
    free(b4);
    klog_config_free(c);
}
END_TEST

/* Truncation across segments: later segments are removed; reopen agrees. */
START_TEST(truncate_across_segments)
{
    klog_config_t *c = conf(4096, -1);
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "trunc", c);
    int64_t end = 0;
    for (int i = 0; i < 100; i++)
        end = append_n(p, end, 4, T0 + i * 4);
    CK_OK(klog_sync(log));
    char *pd = pdir_of("trunc");
    int64_t bases[4096];
    size_t n = list_segments(pd, bases, 4096);
    ck_assert_uint_gt(n, 5);
    /* A segment's base offset (batch boundary): everything from it goes. */
    int64_t cut = bases[2];
    CK_OK(klog_truncate(p, cut));
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.log_end, cut);
    ck_assert_int_eq(o.high_watermark, cut);
    ck_assert_int_le(o.recovery_point, cut);
    int64_t nb[4096];
    size_t n2 = list_segments(pd, nb, 4096);
    ck_assert_uint_le(n2, 3);
    for (size_t i = 0; i < n2; i++)
        ck_assert_int_le(nb[i], cut);
    ck_assert_int_eq(count_suffix(pd, ".deleted"), 0);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, cut), cut);
    /* Truncation into a mid-segment offset that is inside a batch. */
    int64_t cut2 = bases[1] + 6; /* batches of 4 records: 6 is inside one */
    CK_OK(klog_truncate(p, cut2));
    int64_t want_end = bases[1] + 4;
    ck_assert_int_eq(offsets(p).log_end, want_end);
    end = want_end;
    for (int i = 0; i < 30; i++)
        end = append_n(p, end, 4, T0 + 1000 + i);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);
    CK_OK(klog_close(log));
    log = open_log(NULL);
    p = get_part(log, "trunc");
    ck_assert_int_eq(offsets(p).log_end, end);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);
    CK_OK(klog_close(log));
    free(pd);
    klog_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ limits */

START_TEST(too_large)
{
    klog_config_t *c = conf(4096, -1);
    klog_config_t *c2 = conf(100000, -1);
    CK_OK(klog_config_set(c2, KLOG_CONF_MAX_BATCH_BYTES, 2000));
    klog_t *log = open_log(NULL);
    klog_partition_t *small = make_topic(log, "small", c);
    klog_partition_t *capped = make_topic(log, "capped", c2);
    static uint8_t big[6000];
    klog_record_t rec = {.key_len = KLOG_NULL_LEN, .value = big, .timestamp = T0};

    /* Larger than the segment. */
    rec.value_len = 5000;
    CK_RC(klog_append(small, &rec, 1, NULL), KLOG_ETOOLARGE);
    /* Larger than max batch bytes, smaller than the segment. */
    rec.value_len = 3000;
    CK_RC(klog_append(capped, &rec, 1, NULL), KLOG_ETOOLARGE);
    void *batch;
    size_t blen;
    CK_OK(klog_batch_encode(&rec, 1, KLOG_COMPRESSION_NONE, &batch, &blen));
    CK_RC(klog_append_batch(capped, batch, blen, NULL), KLOG_ETOOLARGE);
    free(batch);
    rec.value_len = 4100;
    CK_OK(klog_batch_encode(&rec, 1, KLOG_COMPRESSION_NONE, &batch, &blen));
    CK_RC(klog_append_batch(small, batch, blen, NULL), KLOG_ETOOLARGE);
    CK_RC(klog_append_follower(small, batch, blen), KLOG_ETOOLARGE);
    free(batch);
    ck_assert_int_eq(offsets(small).log_end, 0);
    ck_assert_int_eq(offsets(capped).log_end, 0);
    ck_assert_int_eq(offsets(small).bytes, 0);

    /* Just under the limits: accepted. */
    rec.value_len = 1900;
    int64_t base;
    CK_OK(klog_append(capped, &rec, 1, &base));
    ck_assert_int_eq(base, 0);
    rec.value_len = 3900;
    CK_OK(klog_append(small, &rec, 1, &base));
    CK_OK(klog_append(small, &rec, 1, &base));
    ck_assert_int_eq(base, 1);
    ck_assert_int_eq(offsets(small).segments, 2); /* one batch per segment */
    CK_RC(klog_append(small, &rec, 0, NULL), KLOG_EEMPTY);
    /* Bad records. */
    klog_record_t neg = {.key_len = -2, .value_len = 0};
    CK_RC(klog_append(small, &neg, 1, NULL), -EINVAL);
    ck_assert_int_eq(offsets(small).log_end, 2);
    CK_OK(klog_close(log));
    klog_config_free(c);
    klog_config_free(c2);
}
END_TEST

/* ------------------------------------------------------------ time */

/* First offset in [start, end) with ts[o] >= t, else end. */
static int64_t brute_time(const int64_t *ts, int64_t start, int64_t end, int64_t t)
{
    for (int64_t o = start; o < end; o++)
        if (ts[o] >= t)
            return o;
    return end;
}

static void ck_time(klog_partition_t *p, const int64_t *ts, int64_t start, int64_t end, int64_t t)
{
    int64_t got = -7;
    int rc = klog_offset_for_time(p, t, &got);
    int64_t want = brute_time(ts, start, end, t);
    if (rc || got != want)
        ck_abort_msg("offset_for_time(%lld): rc %d, %lld, want %lld", (long long)t, rc,
                     (long long)got, (long long)want);
}

/* Timestamps that mostly grow, with records and batches that go back in
 * time, over many segments: every exact, between, before and after time
 * answered as brute force over the records does. */
START_TEST(time_seek)
{
    klog_config_t *c = conf(4096, 200);
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "time", c);
    enum { N = 1500 };
    int64_t *ts = malloc(N * sizeof *ts);
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(11));
    int64_t end = 0;
    while (end < N - 20) {
        size_t n = 1 + tu_rng_below(&rng, 8);
        for (size_t i = 0; i < n; i++) {
            int64_t o = end + (int64_t)i;
            /* ~10 ms apart, jitter back up to 25 ms, some duplicates */
            ts[o] = T0 + o * 10 - (int64_t)tu_rng_below(&rng, 26);
            if (o % 17 == 0 && o > 0)
                ts[o] = ts[o - 1];
        }
        recbuf_t *b = make_recs(end, n, 0, ts + end);
        int64_t base;
        CK_OK(klog_append(p, b->r, n, &base));
        ck_assert_int_eq(base, end);
        free(b);
        end += (int64_t)n;
    }
    ck_assert_int_gt(offsets(p).segments, 10);
    /* Records report the timestamps given. */
    klog_reader_t *r;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 0, &r));
    for (int64_t o = 0; o < end; o++) {
        CK_RC(klog_reader_next(r, &rec), 1);
        ck_assert_int_eq(rec.timestamp, ts[o]);
    }
    klog_reader_close(r);

    for (int pass = 0; pass < 2; pass++) {
        ck_time(p, ts, 0, end, INT64_MIN);
        ck_time(p, ts, 0, end, 0);
        ck_time(p, ts, 0, end, T0 - 1000); /* before the first */
        ck_time(p, ts, 0, end, T0 + end * 10 + 1000); /* after the last: the end */
        ck_time(p, ts, 0, end, INT64_MAX);
        for (int64_t o = 0; o < end; o += 1 + (o % 3)) {
            ck_time(p, ts, 0, end, ts[o]);     /* exact */
            ck_time(p, ts, 0, end, ts[o] + 1); /* between */
            ck_time(p, ts, 0, end, ts[o] - 1);
        }
        int64_t got;
        CK_OK(klog_offset_for_time(p, INT64_MAX, &got));
        ck_assert_int_eq(got, offsets(p).high_watermark);
        /* Second pass: after reopen (sealed segments, indexes from disk). */
        CK_OK(klog_close(log));
        log = open_log(NULL);
        p = get_part(log, "time");
    }
    /* Below the log start nothing is returned. */
    int64_t start = 400;
    CK_OK(klog_delete_records(p, start));
    ck_time(p, ts, start, end, T0);
    ck_time(p, ts, start, end, ts[start + 5]);
    ck_time(p, ts, start, end, ts[10]);
    CK_OK(klog_close(log));
    free(ts);
    klog_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ indexes */

/*
 * .index and .timeindex byte for byte as Kafka writes them, for several
 * index intervals and segment sizes: rolled segments after sync, all
 * segments after close, and again after a reopen and more appends.
 * Batches mix codecs and go back in time now and then, so time entries
 * are skipped when the timestamp does not grow.
 */
static int64_t batch_ts(int64_t k)
{
    return T0 + k * 50 - (k % 7 == 3 ? 400 : 0) - (k % 11 == 0 ? 900 : 0);
}

static int64_t append_mixed(klog_partition_t *p, int64_t end, int64_t k, tu_rng_t *rng)
{
    size_t n = 1 + tu_rng_below(rng, 6);
    if (k % 4 == 1) {
        size_t len;
        uint8_t *b = encode_at(end, n, batch_ts(k), KLOG_COMPRESSION_LZ4, &len);
        klog_batch_set_base_offset(b, 0);
        int64_t base;
        CK_OK(klog_append_batch(p, b, len, &base));
        ck_assert_int_eq(base, end);
        free(b);
        return end + (int64_t)n;
    }
    return append_n(p, end, n, batch_ts(k));
}

START_TEST(index_files_exact)
{
    static const struct {
        int64_t interval, segment;
    } cases[] = {{0, 8192}, {100, 20000}, {1000, 30000}, {4096, 100000}, {4096, 1 << 20}};
    int64_t interval = cases[_i].interval, segb = cases[_i].segment;
    klog_config_t *c = conf(segb, interval);
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "ix", c);
    char *pd = pdir_of("ix");
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(23 + (uint64_t)_i));
    int64_t end = 0, k = 0;
    for (; k < 400; k++)
        end = append_mixed(p, end, k, &rng);
    CK_OK(klog_sync(log)); /* rolled segments are sealed */
    int64_t nseg = offsets(p).segments;
    if (segb < 1 << 20)
        ck_assert_int_gt(nseg, 2);
    int entries = check_index_files(pd, interval, 0, NULL, 0);
    CK_OK(klog_close(log));
    entries = check_index_files(pd, interval, 1, NULL, 0);
    /* With interval 0 every batch but a segment's first has an entry. */
    if (interval == 0)
        ck_assert_int_eq(entries, (int)(k - nseg));
    else
        ck_assert_int_gt(entries, 0);

    /* Reopen: the last segment stays active; its byte counter restarts. */
    int64_t bases[4096];
    size_t n = list_segments(pd, bases, 4096);
    size_t llen;
    free(read_seg_file(pd, bases[n - 1], ".log", &llen));
    reopen_pt_t ro = {bases[n - 1], (int64_t)llen};
    log = open_log(NULL);
    p = get_part(log, "ix");
    for (; k < 600; k++)
        end = append_mixed(p, end, k, &rng);
    CK_OK(klog_close(log));
    check_index_files(pd, interval, 1, &ro, 1);

    /* The indexes serve reads: every 7th offset from a reopened log. */
    log = open_log(NULL);
    p = get_part(log, "ix");
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, 0, &r));
    for (int64_t o = 0; o < end; o += 7) {
        klog_record_t rec;
        CK_OK(klog_reader_seek(r, o));
        CK_RC(klog_reader_next(r, &rec), 1);
        ck_rec(&rec, o);
    }
    klog_reader_close(r);
    CK_OK(klog_close(log));
    free(pd);
    klog_config_free(c);
}
END_TEST

/*
 * After an unclean shutdown (a child appends and dies without closing),
 * recovery rebuilds the indexes of unsealed segments; Kafka's recover()
 * appends the final time entry and leaves the byte counter of the segment
 * at 0, so later appends index exactly as after a clean reopen.
 */
START_TEST(index_files_after_crash)
{
    klog_config_t *c = conf(30000, 700);
    klog_t *log = open_log(NULL);
    make_topic(log, "crash", c);
    CK_OK(klog_close(log));
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        klog_t *l2 = NULL;
        klog_partition_t *p2;
        if (klog_open(tmp, NULL, 0, &l2) || klog_partition(l2, "crash", 0, &p2))
            _exit(2);
        int64_t end = 0;
        for (int64_t k = 0; k < 300; k++) {
            size_t n = 1 + (size_t)(end % 6);
            recbuf_t *b = make_recs(end, n, batch_ts(k), NULL);
            if (klog_append(p2, b->r, n, NULL))
                _exit(3);
            free(b);
            end += (int64_t)n;
        }
        if (klog_flush(p2))
            _exit(4);
        _exit(0); /* no close: no seal of the active segment, no marker */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);
    ck_assert(!file_exists(tmp, ".kafka_cleanshutdown"));
    char *pd = pdir_of("crash");
    int64_t bases[4096];
    size_t n = list_segments(pd, bases, 4096);
    ck_assert_uint_gt(n, 2);
    size_t llen;
    free(read_seg_file(pd, bases[n - 1], ".log", &llen));
    reopen_pt_t ro = {bases[n - 1], (int64_t)llen};

    log = open_log(NULL);
    klog_partition_t *p = get_part(log, "crash");
    int64_t end = offsets(p).log_end;
    ck_assert_int_gt(end, 300);
    ck_assert_int_eq(read_from(p, 0, 0, NULL, end), end);
    for (int64_t k = 300; k < 400; k++)
        end = append_n(p, end, 1 + (size_t)(k % 5), batch_ts(k));
    CK_OK(klog_close(log));
    check_index_files(pd, 700, 1, &ro, 1);
    free(pd);
    klog_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ wire batches */

/* Record i of test/interop/gen_storage_batches.py. */
static void py_record(int64_t i, char *key, int32_t *klen, char *val, int32_t *vlen, int64_t *ts,
                      char *hkey, int *hkind)
{
    *klen = i % 7 == 3 ? KLOG_NULL_LEN : snprintf(key, 32, "key-%lld", (long long)i);
    if (i % 11 == 5) {
        *vlen = KLOG_NULL_LEN;
    } else {
        char one[32];
        int ol = snprintf(one, sizeof one, "value-%lld-", (long long)i);
        *vlen = 0;
        for (int r = 0; r < 1 + i % 5; r++) {
            memcpy(val + *vlen, one, (size_t)ol);
            *vlen += ol;
        }
    }
    *ts = T0 + 1000 * i - 500 * (i % 3);
    *hkind = i % 4 == 1 ? 1 : i % 4 == 2 ? 2 : 0;
    if (*hkind == 1)
        snprintf(hkey, 32, "h%lld", (long long)i);
    else if (*hkind == 2)
        strcpy(hkey, "n");
}

static char *data_path(const char *name)
{
    /* test/check_storage.c -> test/data/<name> (tests run from the tree root) */
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    char *s;
    ck_assert_int_ge(asprintf(&s, "%.*sdata/%s", slash ? (int)(slash - f + 1) : 0, f, name), 0);
    return s;
}

START_TEST(wire_append_kafka_python)
{
    char *path = data_path("kafka_python_batches.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s (run from the source tree root)", path, strerror(errno));
    klog_config_t *c = conf(2048, 0); /* several rolls, index entries everywhere */
    klog_t *log = open_log(NULL);
    klog_partition_t *p = make_topic(log, "py", c);
    char line[20000];
    uint8_t *in[16];
    size_t inlen[16];
    int64_t inbase[16];
    int nb = 0;
    int64_t end = 0;
    while (fgets(line, sizeof line, f)) {
        int codec, count;
        long long first;
        char hex[sizeof line];
        ck_assert_int_eq(sscanf(line, "%d %d %lld %s", &codec, &count, &first, hex), 4);
        ck_assert_int_lt(nb, 16);
        uint8_t *b = tu_unhex(hex, &inlen[nb]);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(first, end);
        ck_assert_int_eq(b[22] & 7, codec);
        uint8_t *copy = malloc(inlen[nb]);
        memcpy(copy, b, inlen[nb]);
        int64_t base = -1;
        CK_OK(klog_append_batch(p, b, inlen[nb], &base));
        ck_assert_int_eq(base, end);
        ck_assert(memcmp(copy, b, inlen[nb]) == 0); /* caller's buffer untouched */
        free(copy);
        in[nb] = b;
        inbase[nb] = base;
        nb++;
        end += count;
    }
    fclose(f);
    ck_assert_int_eq(nb, 8);
    ck_assert_int_eq(end, 112);
    ck_assert_int_eq(offsets(p).log_end, end);
    ck_assert_int_gt(offsets(p).segments, 1);

    /* Stored verbatim but for the base offset; CRC still valid. */
    CK_OK(klog_sync(log));
    char *pd = pdir_of("py");
    int64_t bases[64];
    size_t ns = list_segments(pd, bases, 64);
    int bi = 0;
    for (size_t s = 0; s < ns; s++) {
        size_t len, pos = 0;
        uint8_t *lg = read_seg_file(pd, bases[s], ".log", &len);
        while (pos < len) {
            ck_assert_int_lt(bi, nb);
            ck_assert_uint_le(pos + inlen[bi], len);
            ck_assert_int_eq((int64_t)be64(lg + pos), inbase[bi]);
            ck_assert_msg(memcmp(lg + pos + 8, in[bi] + 8, inlen[bi] - 8) == 0,
                          "batch %d changed beyond its base offset", bi);
            CK_OK(klog_batch_validate(lg + pos, inlen[bi], KLOG_VALIDATE_RECORDS, NULL));
            pos += inlen[bi];
            bi++;
        }
        free(lg);
    }
    ck_assert_int_eq(bi, nb);

    /* Records as the Python client wrote them. */
    klog_reader_t *r;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 0, &r));
    int64_t *ts = malloc((size_t)end * sizeof *ts);
    for (int64_t i = 0; i < end; i++) {
        char key[32], val[256], hkey[32];
        int32_t kl, vl;
        int hk;
        CK_RC(klog_reader_next(r, &rec), 1);
        py_record(i, key, &kl, val, &vl, &ts[i], hkey, &hk);
        ck_assert_int_eq(rec.offset, i);
        ck_assert_int_eq(rec.timestamp, ts[i]);
        ck_assert_int_eq(rec.key_len, kl);
        if (kl >= 0)
            ck_assert(memcmp(rec.key, key, (size_t)kl) == 0);
        ck_assert_int_eq(rec.value_len, vl);
        if (vl >= 0)
            ck_assert(memcmp(rec.value, val, (size_t)vl) == 0);
        ck_assert_uint_eq(rec.header_count, hk ? 1 : 0);
        if (hk) {
            ck_assert_int_eq(rec.headers[0].key_len, (int32_t)strlen(hkey));
            ck_assert(memcmp(rec.headers[0].key, hkey, strlen(hkey)) == 0);
            if (hk == 1) {
                ck_assert_int_eq(rec.headers[0].value_len, 2);
                ck_assert(memcmp(rec.headers[0].value, "hv", 2) == 0);
            } else {
                ck_assert_int_eq(rec.headers[0].value_len, KLOG_NULL_LEN);
            }
        }
    }
    CK_RC(klog_reader_next(r, &rec), 0);
    klog_reader_close(r);
    /* Time seeks inside compressed batches with non-monotonic timestamps. */
    for (int64_t i = 0; i < end; i++) {
        ck_time(p, ts, 0, end, ts[i]);
        ck_time(p, ts, 0, end, ts[i] + 1);
    }
    /* A damaged wire batch is refused and nothing is stored. */
    uint8_t *bad = malloc(inlen[2]);
    memcpy(bad, in[2], inlen[2]);
    bad[inlen[2] - 3] ^= 0x40;
    CK_RC(klog_append_batch(p, bad, inlen[2], NULL), KLOG_ECRC);
    CK_RC(klog_append_batch(p, in[2], inlen[2] - 1, NULL), KLOG_ETRUNCATED);
    ck_assert_int_eq(offsets(p).log_end, end);
    free(bad);
    CK_OK(klog_close(log));
    check_index_files(pd, 0, 1, NULL, 0);
    for (int i = 0; i < nb; i++)
        free(in[i]);
    free(ts);
    free(pd);
    free(path);
    klog_config_free(c);
}
END_TEST

/* ------------------------------------------------------------ retention */

/* One 5-record batch of ~3 KB per 4096-byte segment: segment i holds
 * offsets 5i..5i+4 with timestamps ts..ts+4. */
static void append_seg(klog_partition_t *p, int64_t i, int64_t ts)
{
    static uint8_t val[5][600];
    klog_record_t r[5];
    memset(r, 0, sizeof r);
    for (int k = 0; k < 5; k++) {
        memset(val[k], (int)(i * 5 + k), sizeof val[k]);
        r[k].key_len = KLOG_NULL_LEN;
        r[k].value = val[k];
        r[k].value_len = sizeof val[k];
        r[k].timestamp = ts + k;
    }
    int64_t base;
    CK_OK(klog_append(p, r, 5, &base));
    ck_assert_int_eq(base, 5 * i);
}

/* The first offset a reader opened at `from` returns, or the error. */
static int64_t first_offset(klog_partition_t *p, int64_t from)
{
    klog_reader_t *r;
    int rc = klog_reader_open(p, from, &r);
    if (rc)
        return rc;
    klog_record_t rec;
    rc = klog_reader_next(r, &rec);
    int64_t o = rc == 1 ? rec.offset : rc == 0 ? -1 : rc;
    klog_reader_close(r);
    return o;
}

static klog_partition_t *seg_topic(klog_t *log, const char *name, int64_t rms, int64_t rbytes,
                                   int visibility)
{
    klog_config_t *c = conf(4096, -1);
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_MS, rms));
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_BYTES, rbytes));
    CK_OK(klog_config_set(c, KLOG_CONF_VISIBILITY, visibility));
    klog_partition_t *p = make_topic(log, name, c);
    klog_config_free(c);
    return p;
}

START_TEST(retention_time)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "rt", 3500, -1, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 10; i++)
        append_seg(p, i, T0 + i * 1000);
    CK_OK(klog_sync(log));
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.segments, 10);
    char *pd = pdir_of("rt");
    /* now - maxts > 3500: maxts of segment i is T0 + 1000 i + 4. */
    CK_RC(klog_retention(log, T0 + 4 + 3500), 0); /* not older than retention.ms yet */
    ck_assert_int_eq(offsets(p).segments, 10);
    ck_assert_int_eq(klog_retention(log, T0 + 4 + 3501), 1);
    ck_assert_int_eq(offsets(p).log_start, 5);
    int n = klog_retention(log, T0 + 9000);
    ck_assert_int_eq(n, 5); /* segments 1..5 (maxts <= T0 + 5004) */
    o = offsets(p);
    ck_assert_int_eq(o.segments, 4);
    ck_assert_int_eq(o.log_start, 30);
    ck_assert_int_eq(o.log_end, 50);
    ck_assert(!file_exists(pd, "00000000000000000000.log"));
    ck_assert(!file_exists(pd, "00000000000000000025.log"));
    ck_assert(file_exists(pd, "00000000000000000030.log"));
    ck_assert_int_eq(count_suffix(pd, ".deleted"), 0);
    ck_assert_int_eq(first_offset(p, 29), KLOG_EOFFSET);
    ck_assert_int_eq(first_offset(p, 30), 30);
    ck_assert_int_eq(first_offset(p, KLOG_OFFSET_BEGINNING), 30);
    /* Far future: all but the active segment. */
    ck_assert_int_eq(klog_retention(log, INT64_MAX / 2), 3);
    ck_assert_int_eq(klog_retention(log, INT64_MAX / 2), 0);
    o = offsets(p);
    ck_assert_int_eq(o.segments, 1);
    ck_assert_int_eq(o.log_start, 45);
    ck_assert_int_eq(first_offset(p, 45), 45);
    /* Retention persists: log start after reopen. */
    CK_OK(klog_close(log));
    log = open_log(NULL);
    p = get_part(log, "rt");
    o = offsets(p);
    ck_assert_int_eq(o.log_start, 45);
    ck_assert_int_eq(o.log_end, 50);
    ck_assert_int_eq(first_offset(p, 44), KLOG_EOFFSET);
    ck_assert_int_eq(first_offset(p, 45), 45);
    /* Infinite retention keeps everything. */
    klog_partition_t *q = seg_topic(log, "forever", -1, -1, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 4; i++)
        append_seg(q, i, T0 + i * 1000);
    CK_RC(klog_retention(log, INT64_MAX / 2), 0);
    ck_assert_int_eq(offsets(q).segments, 4);
    CK_OK(klog_close(log));
    free(pd);
}
END_TEST

START_TEST(retention_size)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "rs", -1, 0, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 10; i++)
        append_seg(p, i, T0 + i);
    CK_OK(klog_sync(log));
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.segments, 10);
    int64_t seg = o.bytes / 10;
    ck_assert_int_eq(o.bytes, seg * 10); /* all batches the same size */
    klog_close(log);

    /* Reopen with retention.bytes = 3 segments + 10 bytes. */
    log = open_log(NULL);
    klog_config_t *c = conf(4096, -1);
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_MS, -1));
    CK_OK(klog_config_set(c, KLOG_CONF_RETENTION_BYTES, 3 * seg + 10));
    klog_partition_t *q = make_topic(log, "rs2", c);
    for (int64_t i = 0; i < 10; i++)
        append_seg(q, i, T0 + i);
    /* Oldest first while the rest stays >= retention.bytes: 6 go; and in
     * topic rs (retention.bytes 0) all 9 inactive segments. */
    ck_assert_int_eq(klog_retention(log, T0), 6 + 9);
    o = offsets(q);
    ck_assert_int_eq(o.segments, 4);
    ck_assert_int_eq(o.bytes, 4 * seg);
    ck_assert_int_eq(o.log_start, 30);
    ck_assert_int_eq(klog_retention(log, T0), 0);
    /* retention.bytes 0 (topic rs): everything but the active segment. */
    p = get_part(log, "rs");
    o = offsets(p);
    ck_assert_int_eq(o.segments, 1);
    ck_assert_int_eq(o.log_start, 45);
    ck_assert_int_eq(first_offset(p, 45), 45);
    CK_OK(klog_close(log));
    klog_config_free(c);
}
END_TEST

/* Retention never passes the high watermark. */
START_TEST(retention_high_watermark)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "hw", 1, -1, KLOG_VISIBLE_FLUSHED);
    for (int64_t i = 0; i < 10; i++)
        append_seg(p, i, T0 + i * 1000);
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.log_end, 50);
    ck_assert_int_eq(o.high_watermark, 0); /* nothing flushed yet */
    ck_assert_int_eq(o.segments, 10);
    ck_assert_int_eq(klog_retention(log, INT64_MAX / 2), 0);
    ck_assert_int_eq(first_offset(p, 0), -1); /* nothing visible */
    CK_RC(klog_reader_open(p, 1, &(klog_reader_t *){NULL}), KLOG_EOFFSET);
    CK_OK(klog_set_high_watermark(p, 27));
    CK_RC(klog_set_high_watermark(p, 26), KLOG_EOFFSET);
    CK_RC(klog_set_high_watermark(p, 51), KLOG_EOFFSET);
    /* Segments whose next base <= 27: 0..4 (upper bounds 5..25). */
    ck_assert_int_eq(klog_retention(log, INT64_MAX / 2), 5);
    o = offsets(p);
    ck_assert_int_eq(o.log_start, 25);
    ck_assert_int_eq(o.high_watermark, 27);
    /* Reads stop at the watermark. */
    klog_reader_t *r;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 25, &r));
    CK_RC(klog_reader_next(r, &rec), 0); /* batch 25-29 ends above 27 */
    klog_reader_close(r);
    CK_RC(klog_delete_records(p, 28), KLOG_EOFFSET); /* above the watermark */
    CK_OK(klog_flush(p));
    o = offsets(p);
    ck_assert_int_eq(o.high_watermark, 50);
    ck_assert_int_eq(klog_retention(log, INT64_MAX / 2), 4);
    ck_assert_int_eq(offsets(p).segments, 1);
    CK_OK(klog_close(log));
}
END_TEST

START_TEST(delete_records)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "dr", -1, -1, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 6; i++)
        append_seg(p, i, T0 + i);
    char *pd = pdir_of("dr");
    CK_OK(klog_delete_records(p, 12));
    klog_offsets_t o = offsets(p);
    ck_assert_int_eq(o.log_start, 12);
    ck_assert_int_eq(o.segments, 4); /* 0-4 and 5-9 gone, 10-14 kept */
    ck_assert(!file_exists(pd, "00000000000000000005.log"));
    ck_assert(file_exists(pd, "00000000000000000010.log"));
    ck_assert_int_eq(first_offset(p, 11), KLOG_EOFFSET);
    ck_assert_int_eq(first_offset(p, 0), KLOG_EOFFSET);
    ck_assert_int_eq(first_offset(p, 12), 12);
    ck_assert_int_eq(first_offset(p, KLOG_OFFSET_BEGINNING), 12);
    klog_reader_t *r;
    CK_OK(klog_reader_open(p, 20, &r));
    CK_RC(klog_reader_seek(r, 11), KLOG_EOFFSET);
    klog_reader_close(r);
    /* Lower than the start: nothing changes. */
    CK_OK(klog_delete_records(p, 3));
    ck_assert_int_eq(offsets(p).log_start, 12);
    CK_RC(klog_delete_records(p, 31), KLOG_EOFFSET);
    CK_RC(klog_delete_records(p, -1), KLOG_EOFFSET);
    /* Up to the watermark is allowed: nothing left to read. */
    CK_OK(klog_delete_records(p, 30));
    o = offsets(p);
    ck_assert_int_eq(o.log_start, 30);
    ck_assert_int_eq(o.segments, 1);
    ck_assert_int_eq(first_offset(p, 30), -1);
    ck_assert_int_eq(append_n(p, 30, 2, T0), 32);
    CK_OK(klog_delete_records(p, 31));
    ck_assert_int_eq(first_offset(p, KLOG_OFFSET_BEGINNING), 31);
    CK_OK(klog_close(log));
    log = open_log(NULL);
    p = get_part(log, "dr");
    o = offsets(p);
    ck_assert_int_eq(o.log_start, 31);
    ck_assert_int_eq(o.log_end, 32);
    ck_assert_int_eq(first_offset(p, 30), KLOG_EOFFSET);
    ck_assert_int_eq(first_offset(p, 31), 31);
    CK_OK(klog_close(log));
    free(pd);
}
END_TEST

/* A reader holding the oldest segments keeps reading them after retention
 * deleted them; the files live on as *.deleted until the reader closes. */
START_TEST(retention_under_reader)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "ur", 1000, -1, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 6; i++)
        append_seg(p, i, T0 + i);
    CK_OK(klog_sync(log));
    char *pd = pdir_of("ur");
    klog_reader_t *r;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 0, &r));
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 0);

    ck_assert_int_eq(klog_retention(log, T0 + 100000), 5);
    ck_assert_int_eq(offsets(p).log_start, 25);
    ck_assert(!file_exists(pd, "00000000000000000000.log"));
    ck_assert(file_exists(pd, "00000000000000000000.log.deleted"));
    ck_assert(file_exists(pd, "00000000000000000020.log.deleted"));
    /* New readers cannot go there... */
    ck_assert_int_eq(first_offset(p, 0), KLOG_EOFFSET);
    /* ...the open one reads on, through the deleted files. */
    for (int64_t o = 1; o < 30; o++) {
        int rc = klog_reader_next(r, &rec);
        ck_assert_msg(rc == 1, "offset %lld: %s", (long long)o, klog_err_name(rc));
        ck_assert_int_eq(rec.offset, o);
        ck_assert_int_eq(rec.value_len, 600);
        ck_assert_int_eq(((const uint8_t *)rec.value)[599], (uint8_t)o);
    }
    CK_RC(klog_reader_next(r, &rec), 0);
    ck_assert_int_gt(count_suffix(pd, ".deleted"), 0);
    klog_reader_close(r);
    ck_assert_int_eq(count_suffix(pd, ".deleted"), 0);
    CK_OK(klog_close(log));
    free(pd);
}
END_TEST

/*
 * A reader positioned in a segment that truncation removed must not serve
 * the removed records once new ones are appended at the same offsets.
 * Readers compare the partition's truncation counter before each batch
 * and find their position again: here offset 21 now holds a new record.
 */
START_TEST(truncate_under_reader)
{
    klog_t *log = open_log(NULL);
    klog_partition_t *p = seg_topic(log, "tu", -1, -1, KLOG_VISIBLE_WRITTEN);
    for (int64_t i = 0; i < 6; i++)
        append_seg(p, i, T0 + i);
    klog_reader_t *r;
    klog_record_t rec;
    CK_OK(klog_reader_open(p, 20, &r));
    CK_RC(klog_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 20);
    CK_OK(klog_truncate(p, 10));
    ck_assert_int_eq(offsets(p).log_end, 10);
    /* New records at 10.. (values of 0x00.. pattern from append_n). */
    int64_t end = 10;
    while (end < 40)
        end = append_n(p, end, 5, T0 + 100);
    /* Whatever the reader does, it must not return the old record 21
     * (value 600 bytes of 21) for offset 21. */
    int rc = klog_reader_next(r, &rec);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(rec.offset, 21);
    if (rc == 1) {
        const uint8_t *v = rec.value;
        int old_rec = rec.value_len == 600 && v[0] == (uint8_t)rec.offset;
        ck_assert_msg(!old_rec, "offset %lld: removed record served after truncation",
                      (long long)rec.offset);
    } else {
        ck_assert_msg(rc == 0 || rc == KLOG_EOFFSET, "next: %s", klog_err_name(rc));
    }
    klog_reader_close(r);
    CK_OK(klog_close(log));
}
END_TEST

Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("logdir");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, logdir_lock);
    tcase_add_test(tc, logdir_open_errors);
    tcase_add_test(tc, topic_lifecycle);
    tcase_add_test(tc, topic_hostile_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("append_read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, append_many_rolls, 0, 3);
    tcase_add_loop_test(tc, read_every_offset, 0, 2);
    tcase_add_test(tc, read_ranges);
    tcase_add_test(tc, reader_batch_info);
    tcase_add_test(tc, follower_gaps_and_truncate);
    tcase_add_test(tc, truncate_across_segments);
    tcase_add_test(tc, too_large);
    tcase_add_test(tc, time_seek);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, index_files_exact, 0, 5);
    tcase_add_test(tc, wire_append_kafka_python);
    tcase_add_test(tc, index_files_after_crash);
    suite_add_tcase(s, tc);

    tc = tcase_create("retention");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retention_time);
    tcase_add_test(tc, retention_size);
    tcase_add_test(tc, retention_high_watermark);
    tcase_add_test(tc, delete_records);
    tcase_add_test(tc, retention_under_reader);
    tcase_add_test(tc, truncate_under_reader);
    suite_add_tcase(s, tc);
    return s;
}
