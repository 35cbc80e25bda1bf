/*
 * fulldisk.c — a log left by a crash, reopened on a full file system
 * (issue 21 items 1 and 2), driven by test/t_full_disk.sh.
 *
 *   fulldisk crash DIR [flushed]
 *       Write topic "t" (3 partitions, index entry every 64 bytes):
 *       partition 0 gets records and klog_flush() (nothing left for
 *       recovery to scan), partition 1 gets records without a flush, and
 *       partition 2 gets one small batch (its indexes hold no entry, so
 *       none of their blocks was ever reserved). Then _exit() without
 *       closing: every active index stays a sparse index.max.bytes file.
 *       With "flushed" every partition is flushed (recovery scans nothing,
 *       so the first store into an index comes from klog_append).
 *       DIR.count holds how many records each partition got.
 *   fulldisk open DIR [APPENDS [FILLDIR]]
 *       The script has filled the file system by now, or, with FILLDIR,
 *       this fills it (a file in FILLDIR) once the open has succeeded, so
 *       the appends, not the open, meet the full disk. Open DIR read-write;
 *       an open that fails must fail with an error code (printed). When it
 *       opens, every record written by `crash` must read back intact, then
 *       APPENDS (default 3000) appends per partition must each succeed or
 *       return an error (each partition stops at its first), and close
 *       must return.
 *       Prints what happened; exit 0 when every call returned (with success
 *       or an error), 1 on a wrong record, 2 on a setup failure. A signal
 *       (SIGBUS) kills the process, which the script reports.
 *   fulldisk check DIR
 *       After the script freed space: open, read back every record `crash`
 *       wrote, append to every partition and close; all must succeed.
 *
 * RLIMIT_FSIZE mode (no mounting allowed): `open` and `check` take
 * FULLDISK_FSIZE=bytes from the environment, set RLIMIT_FSIZE to it and
 * ignore SIGXFSZ, so growing a file past it fails with -EFBIG.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "klog.h"

#define NP 3
static const int nrec[NP] = {400, 400, 1};

static void die(const char *what, int rc)
{
    fprintf(stderr, "fulldisk: %s: %s\n", what, klog_strerror(rc));
    exit(2);
}

static size_t val_of(int p, int64_t o, char *buf, size_t cap)
{
    return (size_t)snprintf(buf, cap, "p%d-o%" PRId64 "-%040d", p, o, p);
}

static klog_config_t *topic_cfg(void)
{
    klog_config_t *c;
    int rc = klog_config_new(&c);
    if (rc)
        die("config", rc);
    klog_config_set(c, KLOG_CONF_INDEX_INTERVAL_BYTES, 64);
    return c;
}

static int append_one(klog_partition_t *part, int p, int64_t expect)
{
    char v[96];
    size_t n = val_of(p, expect, v, sizeof v);
    klog_record_t rec = {.timestamp = 1700000000000 + expect, .value = v,
                         .value_len = (int32_t)n};
    int64_t base = -1;
    int rc = klog_append(part, &rec, 1, &base);
    if (rc == 0 && base != expect) {
        fprintf(stderr, "fulldisk: p%d: append got offset %" PRId64 ", expected %" PRId64 "\n", p,
                base, expect);
        exit(1);
    }
    return rc;
}

static int cmd_crash(const char *dir, int flush_all)
{
    klog_t *log;
    int rc = klog_open(dir, NULL, 0, &log);
    if (rc)
        die("open", rc);
    klog_config_t *c = topic_cfg();
    rc = klog_topic_create(log, "t", NP, c);
    klog_config_free(c);
    if (rc)
        die("topic create", rc);
    for (int p = 0; p < NP; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, "t", p, &part)))
            die("partition", rc);
        for (int i = 0; i < nrec[p]; i++)
            if ((rc = append_one(part, p, i)))
                die("append", rc);
        if ((p == 0 || flush_all) && (rc = klog_flush(part)))
            die("flush", rc);
    }
    char *cp = malloc(strlen(dir) + 8);
    sprintf(cp, "%s.count", dir);
    FILE *f = fopen(cp, "w");
    if (!f)
        die("count file", -errno);
    for (int p = 0; p < NP; p++)
        fprintf(f, "%d\n", nrec[p]);
    fclose(f);
    free(cp);
    _exit(0); /* a crash: no close, no clean-shutdown marker */
}

/* Records [0, n) of partition p must read back as written. */
static int read_all(klog_partition_t *part, int p, int64_t n)
{
    klog_reader_t *r;
    int rc = klog_reader_open(part, KLOG_OFFSET_BEGINNING, &r);
    if (rc)
        return rc;
    int64_t want = 0;
    klog_record_t rec;
    while (want < n && (rc = klog_reader_next(r, &rec)) == 1) {
        char v[96];
        size_t len = val_of(p, want, v, sizeof v);
        if (rec.offset != want || rec.value_len != (int32_t)len || memcmp(rec.value, v, len)) {
            fprintf(stderr, "fulldisk: p%d: offset %" PRId64 " read back wrong (got offset %" PRId64
                            ")\n", p, want, rec.offset);
            exit(1);
        }
        want++;
    }
    klog_reader_close(r);
    if (rc < 0)
        return rc;
    if (want < n) {
        fprintf(stderr, "fulldisk: p%d: only %" PRId64 " of %" PRId64 " records\n", p, want, n);
        exit(1);
    }
    return 0;
}

static void fsize_limit(void)
{
    const char *s = getenv("FULLDISK_FSIZE");
    if (!s)
        return;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = (rlim_t)strtoull(s, NULL, 10),
                        .rlim_max = (rlim_t)strtoull(s, NULL, 10)};
    if (setrlimit(RLIMIT_FSIZE, &rl))
        die("setrlimit", -errno);
}

static void load_counts(const char *dir, int64_t *cnt)
{
    char *cp = malloc(strlen(dir) + 8);
    sprintf(cp, "%s.count", dir);
    FILE *f = fopen(cp, "r");
    if (!f)
        die("count file", -errno);
    for (int p = 0; p < NP; p++)
        if (fscanf(f, "%" SCNd64, &cnt[p]) != 1)
            die("count file", -EINVAL);
    fclose(f);
    free(cp);
}

/* Fill the file system holding dir to the last byte it will take. */
static void fill_fs(const char *dir)
{
    char *path = malloc(strlen(dir) + 16);
    sprintf(path, "%s/fill.open", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("fill file", -errno);
    static char zeros[1 << 20];
    for (size_t bs = sizeof zeros; bs >= 512; bs /= 8)
        while (write(fd, zeros, bs) == (ssize_t)bs)
            ;
    fsync(fd);
    close(fd);
    free(path);
}

static int cmd_open(const char *dir, long appends, const char *fill_dir)
{
    int64_t cnt[NP];
    load_counts(dir, cnt);
    fsize_limit();
    klog_t *log;
    int rc = klog_open(dir, NULL, KLOG_OPEN_NOCREATE, &log);
    printf("open: %s\n", rc ? klog_err_name(rc) : "ok");
    if (rc)
        return 0;
    if (fill_dir) {
        fill_fs(fill_dir);
        printf("filled %s\n", fill_dir);
    }
    for (int p = 0; p < NP; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, "t", p, &part)))
            die("partition", rc);
        rc = read_all(part, p, cnt[p]);
        printf("p%d read: %s\n", p, rc ? klog_err_name(rc) : "ok");
        long i = 0;
        for (; i < appends; i++) {
            rc = append_one(part, p, cnt[p]);
            if (rc)
                break;
            cnt[p]++;
        }
        printf("p%d appends: %ld ok, then %s\n", p, i, rc ? klog_err_name(rc) : "none failed");
    }
    rc = klog_close(log);
    printf("close: %s\n", rc ? klog_err_name(rc) : "ok");
    return 0;
}

static int cmd_check(const char *dir)
{
    int64_t cnt[NP];
    load_counts(dir, cnt);
    klog_t *log;
    int rc = klog_open(dir, NULL, KLOG_OPEN_NOCREATE, &log);
    if (rc)
        die("reopen with space", rc);
    for (int p = 0; p < NP; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, "t", p, &part)))
            die("partition", rc);
        if ((rc = read_all(part, p, cnt[p])))
            die("read back", rc);
        klog_offsets_t o;
        klog_partition_offsets(part, &o);
        for (int i = 0; i < 10; i++)
            if ((rc = append_one(part, p, o.log_end + i)))
                die("append with space", rc);
    }
    if ((rc = klog_close(log)))
        die("close", rc);
    printf("check: ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* what ran before a signal is seen */
    if (argc >= 3 && !strcmp(argv[1], "crash"))
        return cmd_crash(argv[2], argc > 3 && !strcmp(argv[3], "flushed"));
    if (argc >= 3 && !strcmp(argv[1], "open"))
        return cmd_open(argv[2], argc > 3 ? atol(argv[3]) : 3000, argc > 4 ? argv[4] : NULL);
    if (argc >= 3 && !strcmp(argv[1], "check"))
        return cmd_check(argv[2]);
    fprintf(stderr, "usage: fulldisk crash DIR [flushed] | open DIR [APPENDS [FILLDIR]] | check DIR\n");
    return 2;
}
