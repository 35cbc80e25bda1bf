/*
 * powerloss.c — power-loss and bit-rot simulation over a real log directory
 * (issue 9), driven by test/t_power_loss.sh.
 *
 *   powerloss build DIR
 *       Write a log: topics "p" (2 partitions) and "q" (1 partition, size
 *       retention), 1 KiB segments, many rolls, klog_sync() (rolled segments
 *       sealed), retention and DeleteRecords, then more appends and _exit()
 *       without closing: sealed segments, an unsealed active tail, no
 *       clean-shutdown marker. DIR.manifest records each partition's
 *       expected log start and end. Topic "x" has idempotent and
 *       transactional producers (tu_txn_step); DIR.txn holds its marker
 *       count and what its producer state answers (tu_txn_summary).
 *   powerloss rounds DIR WORK SEED N [KEEP]
 *       N rounds: copy DIR to WORK, damage 1..3 of its files at random
 *       (truncate, garble bytes, zero a range, append garbage; any file:
 *       .log, .index, .timeindex, .seal, checkpoints, klog.topics,
 *       klog.state), open and check:
 *         - open succeeds, or fails with KLOG_ECORRUPT/KLOG_EVERSION only
 *           when klog.topics itself was damaged (klog.h: "KLOG_ECORRUPT
 *           (metadata unreadable)");
 *         - no record is ever served that differs from what was written
 *           at its offset;
 *         - a read error is KLOG_ECRC/KLOG_ECORRUPT (or another KLOG_E
 *           decode code), only in a partition whose .log was damaged, and
 *           the log callback named the .log file and a position;
 *         - a partition none of whose .log files was damaged holds every
 *           record from its expected start to its expected end (damaged
 *           indexes, seals, checkpoints and state files are rebuilt, never
 *           a reason to lose or refuse data);
 *         - "x" answers as DIR.txn says unless one of its .log, .txnindex
 *           or leader-epoch-checkpoint files was damaged (Kafka's formats
 *           have no checksum: a cut at an entry boundary reads as fewer);
 *         - the log then takes an append in every partition and closes.
 *       Rounds whose damage hit the interior of a sealed .log keep their
 *       copy as WORK.keepK (up to KEEP of them) and print "KEEP path" so
 *       the script can check that `klogcat verify` fails on them.
 *       Prints one summary line; exit status 1 on any violation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "klog.h"
#include "util/testutil.h"
#include "util/tu_records.h"
#include "util/tu_txn.h"

#define NP 4
#define PX 3 /* the transactional partition */
#define PX_EPOCHS 5
static const char *const ptopic[NP] = {"p", "p", "q", "x"};
static const int32_t pid_[NP] = {0, 1, 0, 0};

static void die(const char *what, int rc)
{
    fprintf(stderr, "powerloss: %s: %s\n", what, klog_strerror(rc));
    exit(2);
}

static size_t val_of(int i, int64_t o, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "pl%d-%" PRId64 ":", i, o);
    size_t len = (size_t)n + (size_t)((o * 11 + i) % 70);
    if (len >= cap)
        len = cap - 1;
    for (size_t k = (size_t)n; k < len; k++)
        buf[k] = (char)('A' + (k + (size_t)o) % 26);
    return len;
}

static int rec_ok(int i, const klog_record_t *r)
{
    char v[128];
    size_t vl = val_of(i, r->offset, v, sizeof v);
    return r->value_len == (int32_t)vl && memcmp(r->value, v, vl) == 0 &&
           r->timestamp == 1700000000000LL + r->offset && r->key_len == KLOG_NULL_LEN;
}

/* Messages from the log callback, for "the callback names the file". */
static char logbuf[1 << 16];
static size_t loglen;
static void logger(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    size_t n = strlen(msg);
    if (loglen + n + 2 < sizeof logbuf) {
        memcpy(logbuf + loglen, msg, n);
        loglen += n;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = 0;
    }
    if (getenv("KLOG_TEST_VERBOSE"))
        fprintf(stderr, "  klog[%d]: %s\n", level, msg);
}

static int open_log(const char *dir, klog_t **log)
{
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        return -ENOMEM;
    klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 1024);
    klog_config_set(cfg, KLOG_CONF_INDEX_INTERVAL_BYTES, 100);
    klog_config_set(cfg, KLOG_CONF_RETENTION_MS, -1);
    klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0);
    klog_config_set(cfg, KLOG_CONF_CHECKPOINT_MS, 3600000);
    klog_config_set_logger(cfg, logger, NULL);
    int rc = klog_open(dir, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

static int append_rec(klog_partition_t *p, int i, int64_t o)
{
    char v[128];
    klog_record_t r = {.key_len = KLOG_NULL_LEN, .value = v, .timestamp = 1700000000000LL + o};
    r.value_len = (int32_t)val_of(i, o, v, sizeof v);
    int64_t base;
    int rc = klog_append(p, &r, 1, &base);
    return rc ? rc : base == o ? 0 : -1000;
}

/* ------------------------------------------------------------ build */

static size_t x_value(void *ctx, int64_t o, char *buf, size_t cap)
{
    (void)ctx;
    return val_of(PX, o, buf, cap);
}

static int cmd_build(const char *dir)
{
    klog_t *log;
    int rc = open_log(dir, &log);
    if (rc)
        die("open", rc);
    klog_config_t *tc;
    klog_config_new(&tc);
    klog_config_set(tc, KLOG_CONF_RETENTION_BYTES, 3000);
    if ((rc = klog_topic_create(log, "p", 2, NULL)) || (rc = klog_topic_create(log, "q", 1, tc)) ||
        (rc = klog_topic_create(log, "x", 1, NULL)))
        die("topic_create", rc);
    klog_config_free(tc);
    klog_partition_t *p[NP];
    int64_t end[NP] = {0};
    long markers = 0;
    for (int i = 0; i < NP; i++)
        if ((rc = klog_partition(log, ptopic[i], pid_[i], &p[i])))
            die("partition", rc);
    for (int k = 0; k < 120; k++)
        for (int i = 0; i < NP; i++) {
            if (i == PX) {
                if ((rc = tu_txn_step(p[i], k, k < 120 ? k / 40 : PX_EPOCHS, k >= 126, &end[i],
                                      &markers, x_value, NULL)))
                    die("append x", rc);
                continue;
            }
            if ((rc = append_rec(p[i], i, end[i])))
                die("append", rc);
            end[i]++;
        }
    if ((rc = klog_sync(log)))
        die("sync", rc);
    if ((rc = klog_retention(log, KLOG_TIMESTAMP_NOW)) < 0)
        die("retention", rc);
    if ((rc = klog_delete_records(p[0], 7)))
        die("delete_records", rc);
    for (int k = 0; k < 9; k++) /* an unsealed tail in every partition */
        for (int i = 0; i < NP; i++) {
            if (i == PX) {
                if ((rc = tu_txn_step(p[i], 120 + k, PX_EPOCHS, 120 + k >= 126, &end[i],
                                      &markers, x_value, NULL)))
                    die("append x", rc);
                continue;
            }
            if ((rc = append_rec(p[i], i, end[i])))
                die("append", rc);
            end[i]++;
        }
    char mp[4096];
    snprintf(mp, sizeof mp, "%s.manifest", dir);
    FILE *f = fopen(mp, "w");
    if (!f)
        die("manifest", -errno);
    for (int i = 0; i < NP; i++) {
        klog_offsets_t of;
        klog_partition_offsets(p[i], &of);
        fprintf(f, "%" PRId64 " %" PRId64 "\n", of.log_start, end[i]);
    }
    fclose(f);
    char sum[4096];
    if ((rc = tu_txn_summary(p[PX], PX_EPOCHS, 1, sum, sizeof sum)))
        die("txn summary", rc);
    snprintf(mp, sizeof mp, "%s.txn", dir);
    if (!(f = fopen(mp, "w")))
        die("txn manifest", -errno);
    fprintf(f, "%ld\n%s\n", markers, sum);
    fclose(f);
    fflush(NULL);
    _exit(0); /* no close: the active segments stay unsealed */
}

/* ------------------------------------------------------------ damage */

typedef struct {
    char path[2048];
    char rel[600];
    int part;     /* index into ptopic/pid_, -1 for root files */
    int is_log;
    int sealed;   /* .log with a .seal beside it */
    off_t size;
} file_t;

static file_t files[512];
static int nfiles;

static void list_files(const char *root)
{
    nfiles = 0;
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || e->d_name[1] == '.'))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", root, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode) && strcmp(e->d_name, "klog.lock") && nfiles < 512) {
            file_t *f = &files[nfiles++];
            snprintf(f->path, sizeof f->path, "%s", p);
            snprintf(f->rel, sizeof f->rel, "%s", e->d_name);
            f->part = -1;
            f->is_log = 0;
            f->sealed = 0;
            f->size = st.st_size;
        } else if (S_ISDIR(st.st_mode)) {
            int part = -1;
            for (int i = 0; i < NP; i++) {
                char nm[64];
                snprintf(nm, sizeof nm, "%s-%d", ptopic[i], pid_[i]);
                if (!strcmp(nm, e->d_name))
                    part = i;
            }
            DIR *pd = opendir(p);
            struct dirent *pe;
            while (pd && (pe = readdir(pd))) {
                if (pe->d_name[0] == '.')
                    continue;
                char fp[1400];
                snprintf(fp, sizeof fp, "%s/%s", p, pe->d_name);
                if (lstat(fp, &st) != 0 || !S_ISREG(st.st_mode) || nfiles >= 512)
                    continue;
                file_t *f = &files[nfiles++];
                snprintf(f->path, sizeof f->path, "%s", fp);
                snprintf(f->rel, sizeof f->rel, "%s/%s", e->d_name, pe->d_name);
                f->part = part;
                size_t n = strlen(pe->d_name);
                f->is_log = n > 4 && !strcmp(pe->d_name + n - 4, ".log");
                f->size = st.st_size;
                f->sealed = 0;
                if (f->is_log) {
                    char sp[1500];
                    snprintf(sp, sizeof sp, "%.*s.seal", (int)(strlen(fp) - 4), fp);
                    f->sealed = access(sp, F_OK) == 0;
                }
            }
            if (pd)
                closedir(pd);
        }
    }
    if (d)
        closedir(d);
}


enum { D_TRUNC, D_GARBLE, D_ZERO, D_APPEND };
static const char *const dnames[] = {"truncate", "garble", "zero", "append"};

/* Damage one file; returns 1 when bytes inside a sealed .log changed. */
static int damage(tu_rng_t *rng, file_t *f, int kind, char *desc, size_t dlen)
{
    int fd = open(f->path, O_RDWR);
    if (fd < 0)
        die("open for damage", -errno);
    off_t size = f->size, at = 0;
    int interior = 0;
    if (size == 0 && kind != D_APPEND)
        kind = D_APPEND;
    switch (kind) {
    case D_TRUNC:
        /* Mostly the tail (a torn write), sometimes anywhere. */
        at = tu_rng_below(rng, 2) ? size - 1 - (off_t)tu_rng_below(rng, (uint64_t)(size < 200 ? size : 200))
                                  : (off_t)tu_rng_below(rng, (uint64_t)size);
        if (ftruncate(fd, at) != 0)
            die("truncate", -errno);
        break;
    case D_GARBLE: {
        int n = 1 + (int)tu_rng_below(rng, 8);
        at = (off_t)tu_rng_below(rng, (uint64_t)size);
        for (int k = 0; k < n; k++) {
            off_t pos = k == 0 ? at : (off_t)tu_rng_below(rng, (uint64_t)size);
            uint8_t b;
            if (pread(fd, &b, 1, pos) != 1)
                die("pread", -errno);
            b ^= (uint8_t)(1 + tu_rng_below(rng, 255));
            if (pwrite(fd, &b, 1, pos) != 1)
                die("pwrite", -errno);
        }
        interior = 1;
        break;
    }
    case D_ZERO: {
        at = (off_t)tu_rng_below(rng, (uint64_t)size);
        size_t n = 1 + tu_rng_below(rng, 300);
        if ((off_t)n > size - at)
            n = (size_t)(size - at);
        uint8_t z[300] = {0};
        if (pwrite(fd, z, n, at) != (ssize_t)n)
            die("pwrite", -errno);
        interior = 1;
        break;
    }
    default: {
        uint8_t g[100];
        size_t n = 1 + tu_rng_below(rng, sizeof g);
        tu_rng_fill(rng, g, n);
        at = size;
        if (pwrite(fd, g, n, size) != (ssize_t)n)
            die("pwrite", -errno);
        break;
    }
    }
    close(fd);
    snprintf(desc, dlen, "%s %s@%lld", dnames[kind], f->rel, (long long)at);
    return interior && f->is_log && f->sealed;
}

/* ------------------------------------------------------------ check */

static int64_t m_start[NP], m_end[NP];
static long m_markers;       /* control batches in partition x */
static char m_txn[4096];     /* what x answers (tu_txn_summary) */

static int read_manifest(const char *dir)
{
    char mp[4096];
    snprintf(mp, sizeof mp, "%s.manifest", dir);
    FILE *f = fopen(mp, "r");
    if (!f)
        return -1;
    for (int i = 0; i < NP; i++)
        if (fscanf(f, "%" SCNd64 " %" SCNd64, &m_start[i], &m_end[i]) != 2) {
            fclose(f);
            return -1;
        }
    fclose(f);
    snprintf(mp, sizeof mp, "%s.txn", dir);
    if (!(f = fopen(mp, "r")))
        return -1;
    int ok = fscanf(f, "%ld\n", &m_markers) == 1 && fgets(m_txn, sizeof m_txn, f);
    fclose(f);
    m_txn[strcspn(m_txn, "\n")] = 0;
    return ok ? 0 : -1;
}

static int is_decode_error(int rc)
{
    return rc <= KLOG_ECORRUPT && rc >= KLOG_ETOOLARGE;
}

/* Log bases of the partition's segments (from the directory). */
static int seg_bases(const char *dir, int i, int64_t *v, int max)
{
    char pd[1024];
    snprintf(pd, sizeof pd, "%s/%s-%d", dir, ptopic[i], pid_[i]);
    return tu_seg_bases(pd, v, max);
}

/* The record is one that was written, at another offset. */
static int genuine_elsewhere(int i, const klog_record_t *r)
{
    int pi;
    long long o;
    int n = 0;
    if (r->value_len < 6 || r->value_len > 120)
        return 0;
    char v[128];
    memcpy(v, r->value, (size_t)r->value_len);
    v[r->value_len] = 0;
    if (sscanf(v, "pl%d-%lld:%n", &pi, &o, &n) != 2 || n == 0 || pi != i)
        return 0;
    klog_record_t c = *r;
    c.offset = (int64_t)o;
    return rec_ok(i, &c);
}

static long st_misnumbered;
static long st_rounds, st_open_refused, st_read_errors, st_truncated, st_kept, st_txn_checked;

/* Returns 0 when the round satisfied every expectation. */
static int check_round(const char *work, const char *what, int topics_damaged,
                       const int *log_damaged, const int *kfmt_damaged, const int *idx_damaged)
{
    klog_t *log;
    loglen = 0;
    logbuf[0] = 0;
    int rc = open_log(work, &log);
    if (rc) {
        if (topics_damaged && (rc == KLOG_ECORRUPT || rc == KLOG_EVERSION)) {
            st_open_refused++;
            return 0;
        }
        printf("FAIL [%s]: open: %s\n", what, klog_err_name(rc));
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < NP && !bad; i++) {
        klog_partition_t *p;
        rc = klog_partition(log, ptopic[i], pid_[i], &p);
        if (rc) {
            printf("FAIL [%s]: partition %s-%d: %s\n", what, ptopic[i], pid_[i],
                   klog_err_name(rc));
            bad = 1;
            break;
        }
        klog_offsets_t of;
        klog_partition_offsets(p, &of);
        if (!log_damaged[i] && (of.log_end != m_end[i] || of.log_start > m_start[i])) {
            printf("FAIL [%s]: %s-%d: offsets [%" PRId64 ", %" PRId64 "), expected [%" PRId64
                   ", %" PRId64 ") with no .log damaged\n",
                   what, ptopic[i], pid_[i], of.log_start, of.log_end, m_start[i], m_end[i]);
            bad = 1;
            break;
        }
        if (of.log_end < m_end[i])
            st_truncated++;
        int64_t bases[256];
        int nb = seg_bases(work, i, bases, 256);
        klog_reader_t *r;
        rc = klog_reader_open(p, of.log_start, &r);
        if (rc) {
            printf("FAIL [%s]: reader_open: %s\n", what, klog_err_name(rc));
            bad = 1;
            break;
        }
        int64_t next = of.log_start, count = 0;
        klog_record_t rec;
        for (long guard = 0; guard < 100000; guard++) {
            rc = klog_reader_next(r, &rec);
            if (rc == 1) {
                if (!rec_ok(i, &rec) && log_damaged[i] && genuine_elsewhere(i, &rec)) {
                    /* A batch's baseOffset is outside its CRC (Kafka's
                     * format): damage there renumbers intact records. */
                    st_misnumbered++;
                } else if (!rec_ok(i, &rec)) {
                    printf("FAIL [%s]: %s-%d: served a wrong record at offset %" PRId64 "\n",
                           what, ptopic[i], pid_[i], rec.offset);
                    bad = 1;
                    break;
                }
                if (rec.offset >= of.log_start)
                    count++;
                next = rec.offset + 1;
                continue;
            }
            if (rc == 0)
                break;
            /* A read error: only over a damaged .log, reported with a file. */
            st_read_errors++;
            if (!log_damaged[i] || !is_decode_error(rc) || !strstr(logbuf, ".log") ||
                !strstr(logbuf, "position")) {
                printf("FAIL [%s]: %s-%d: read error %s at %" PRId64 " (log: %s)\n", what,
                       ptopic[i], pid_[i], klog_err_name(rc), next, logbuf);
                bad = 1;
                break;
            }
            /* Go on with the next segment. */
            int64_t nb_next = -1;
            for (int k = 0; k < nb; k++)
                if (bases[k] > next) {
                    nb_next = bases[k];
                    break;
                }
            if (nb_next < 0 || klog_reader_seek(r, nb_next) != 0)
                break;
            next = nb_next;
        }
        klog_reader_close(r);
        if (bad)
            break;
        int64_t want = m_end[i] - of.log_start - (i == PX ? m_markers : 0);
        if (!log_damaged[i] && count != want) {
            printf("FAIL [%s]: %s-%d: %" PRId64 " records read, expected %" PRId64 "\n", what,
                   ptopic[i], pid_[i], count, want);
            bad = 1;
            break;
        }
        if (i == PX && !log_damaged[i] && !kfmt_damaged[i]) {
            /* A garbled .index (the seal check cannot see it) fails a
             * lease's lookup where a reader walks around it. */
            char got[4096];
            if ((rc = tu_txn_expect(p, PX_EPOCHS, !idx_damaged[i], m_txn, got, sizeof got))) {
                printf("FAIL [%s]: x-0: producer state (%s):\n  %s\nexpected\n  %s\n", what,
                       klog_err_name(rc), got, m_txn);
                bad = 1;
                break;
            }
            st_txn_checked++;
        }
        /* The recovered partition takes an append. */
        rc = append_rec(p, i, of.log_end);
        if (rc) {
            printf("FAIL [%s]: %s-%d: append after recovery: %s\n", what, ptopic[i], pid_[i],
                   klog_err_name(rc));
            bad = 1;
        }
    }
    rc = klog_close(log);
    if (!bad && rc) {
        printf("FAIL [%s]: close: %s\n", what, klog_err_name(rc));
        bad = 1;
    }
    return bad;
}

static int cmd_rounds(const char *src, const char *work, uint64_t seed, long n, long keep)
{
    if (read_manifest(src))
        die("manifest", -ENOENT);
    int fails = 0;
    for (long round = 0; round < n; round++) {
        tu_rng_t rng;
        tu_rng_seed(&rng, seed + (uint64_t)round);
        tu_rmtree(work);
        if (tu_copy_tree(src, work))
            die("copy", -errno);
        list_files(work);
        int k = 1 + (int)tu_rng_below(&rng, 3), topics_damaged = 0, interior = 0;
        int log_damaged[NP] = {0}, kfmt_damaged[NP] = {0}, idx_damaged[NP] = {0};
        char what[2400] = "", desc[700];
        for (int j = 0; j < k && nfiles > 0; j++) {
            file_t *f = &files[tu_rng_below(&rng, (uint64_t)nfiles)];
            /* Favour the .log tails a power loss tears. */
            if (tu_rng_below(&rng, 3) == 0)
                for (int t = 0; t < 8; t++) {
                    file_t *g = &files[tu_rng_below(&rng, (uint64_t)nfiles)];
                    if (g->is_log && !g->sealed) {
                        f = g;
                        break;
                    }
                }
            int kind = (int)tu_rng_below(&rng, 4);
            interior |= damage(&rng, f, kind, desc, sizeof desc);
            if (!strcmp(f->rel, "klog.topics"))
                topics_damaged = 1;
            /* Any change to a .log counts, a garbage tail too: it no longer
             * matches its seal, so recovery scans it, cuts the garbage and
             * (README: "as Kafka does") deletes the segments after it. */
            if (f->is_log && f->part >= 0)
                log_damaged[f->part] = 1;
            if (f->part >= 0 && (strstr(f->rel, ".txnindex") || strstr(f->rel, "leader-epoch")))
                kfmt_damaged[f->part] = 1;
            if (f->part >= 0 && strstr(f->rel, ".index"))
                idx_damaged[f->part] = 1;
            size_t wl = strlen(what);
            snprintf(what + wl, sizeof what - wl, "%sseed %" PRIu64 ": %s", wl ? "; " : "",
                     seed + (uint64_t)round, desc);
            f->size = -1; /* damaged once per round is enough */
            list_files(work);
        }
        fails += check_round(work, what, topics_damaged, log_damaged, kfmt_damaged, idx_damaged);
        st_rounds++;
        if (interior && !topics_damaged && st_kept < keep) {
            /* (klog.topics damaged: no opener reads the copy, klogcat
             * verify included) */
            /* Check runs recovery, which never cuts sealed data: the
             * damage is still there for klogcat verify. */
            char kp[1200];
            snprintf(kp, sizeof kp, "%s.keep%ld", work, st_kept);
            tu_rmtree(kp);
            if (rename(work, kp) == 0) {
                printf("KEEP %s %s\n", kp, what);
                st_kept++;
            }
        }
    }
    tu_rmtree(work);
    printf("powerloss: %ld rounds from seed %" PRIu64 ": %ld opens refused (klog.topics damaged), "
           "%ld partitions shortened, %ld read errors reported, %ld intact records renumbered "
           "by a damaged baseOffset, %ld producer-state checks, %d failures\n",
           st_rounds, seed, st_open_refused, st_truncated, st_read_errors, st_misnumbered,
           st_txn_checked, fails);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "build"))
        return cmd_build(argv[2]);
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "rounds"))
        return cmd_rounds(argv[2], argv[3], strtoull(argv[4], NULL, 0), atol(argv[5]),
                          argc == 7 ? atol(argv[6]) : 0);
    fprintf(stderr, "usage: powerloss build DIR | powerloss rounds DIR WORK SEED N [KEEP]\n");
    return 2;
}
