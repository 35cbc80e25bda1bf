/*
 * fuzz_logdir.h — shared by fuzz_segment.c and fuzz_recovery.c: a log
 * directory holding one topic "f" with one partition, whose segment files
 * the target overwrites with fuzzer bytes before opening it again.
 *
 * The directory is made once per process with the API (so klog.topics is
 * genuine), under /dev/shm when there is one. Each input then gets the
 * partition directory emptied and refilled, the clean-shutdown marker and
 * checkpoints removed or kept as the input says, and the log opened,
 * iterated through every record, time-searched, leased, appended to and
 * closed. Invariants checked (abort() on violation, which the fuzzer and
 * the corpus replay report):
 *   - every call returns 0 or a negative code;
 *   - offsets: log_start <= high watermark <= log_end;
 *   - a reader returns strictly increasing offsets within
 *     [log_start - batch, high watermark) and then 0 or an error;
 *   - when the log opened, an append succeeds or fails cleanly, and a
 *     record appended is read back at the offset the append returned
 *     (with "strict": no other record and not "nothing").
 */
#ifndef KLOG_FUZZ_LOGDIR_H
#define KLOG_FUZZ_LOGDIR_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "platform/bytes.h"
#include "storage/files.h"

static char fz_root[256];
static char fz_part[300];

static void fz_quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    if (getenv("KLOG_FUZZ_VERBOSE"))
        fprintf(stderr, "klog[%d]: %s\n", level, msg);
}

static int fz_open(klog_t **log)
{
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        abort();
    klog_config_set(cfg, KLOG_CONF_CHECKPOINT_MS, 3600000);
    klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0);
    klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 1 << 20);
    klog_config_set(cfg, KLOG_CONF_INDEX_MAX_BYTES, 4096);
    klog_config_set_logger(cfg, fz_quiet, NULL);
    int rc = klog_open(fz_root, cfg, 0, log);
    klog_config_free(cfg);
    return rc;
}

static void fz_rm_root_file(const char *name)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", fz_root, name);
    unlink(p);
}

static void fz_init(void)
{
    if (fz_root[0])
        return;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : getenv("TMPDIR")                                           ? getenv("TMPDIR")
                                                                                    : "/tmp";
    snprintf(fz_root, sizeof fz_root, "%s/klog-fuzz-%ld-XXXXXX", base, (long)getpid());
    if (!mkdtemp(fz_root))
        abort();
    snprintf(fz_part, sizeof fz_part, "%s/f-0", fz_root);
    klog_t *log;
    if (fz_open(&log) || klog_topic_create(log, "f", 1, NULL) || klog_close(log))
        abort();
}

/* Empty the partition directory and reset the root's state files. */
static void fz_reset(int keep_clean_marker)
{
    DIR *d = opendir(fz_part);
    if (d) {
        struct dirent *e;
        char p[700];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
                continue;
            snprintf(p, sizeof p, "%s/%s", fz_part, e->d_name);
            unlink(p);
        }
        closedir(d);
    } else if (mkdir(fz_part, 0755) != 0) {
        abort();
    }
    fz_rm_root_file("recovery-point-offset-checkpoint");
    fz_rm_root_file("log-start-offset-checkpoint");
    if (!keep_clean_marker)
        fz_rm_root_file(".kafka_cleanshutdown");
    else {
        char p[400];
        snprintf(p, sizeof p, "%s/.kafka_cleanshutdown", fz_root);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            close(fd);
    }
}

static void fz_write(const char *name, const uint8_t *data, size_t len)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", fz_part, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    close(fd);
}

/* Give every batch-shaped span of buf its right CRC-32C, so that mutations
 * reach the record decoder instead of stopping at the checksum. */
static void fz_fix_crcs(uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos + KLOG_BATCH_HEADER_SIZE <= len) {
        uint32_t blen = klog__load32(buf + pos + 8);
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || blen > len - pos - 12)
            break;
        size_t size = (size_t)blen + 12;
        klog__store32(buf + pos + 17, klog_crc32c(0, buf + pos + 21, size - 21));
        pos += size;
    }
}

/* Next offset after the last batch a header walk finds (>= 1). */
static int64_t walk_next(const uint8_t *b, size_t len)
{
    size_t pos = 0;
    int64_t next = 1;
    while (pos + KLOG_BATCH_HEADER_SIZE <= len) {
        uint32_t blen = klog__load32(b + pos + 8);
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || blen > len - pos - 12)
            break;
        int64_t base = (int64_t)klog__load64(b + pos);
        int32_t delta = (int32_t)klog__load32(b + pos + 23);
        if (base >= 0 && delta >= 0 && base < INT64_MAX - 1 - delta && base + delta + 1 > next)
            next = base + delta + 1;
        pos += (size_t)blen + 12;
    }
    return next;
}

/* Open, read everything, search by time, lease, append, close. strict:
 * the appended record must be what a read at its offset returns. Not
 * guaranteed when the last segment has a checksum-valid seal that matches
 * the file size but lies about the offsets: open trusts it (by design: no
 * scan of sealed data), so the append can reuse an offset the .log
 * already holds or land behind higher ones. */
static void fz_exercise(int strict)
{
    klog_t *log;
    int rc = fz_open(&log);
    if (rc) {
        if (rc > 0)
            abort();
        return;
    }
    klog_partition_t *p;
    if (klog_partition(log, "f", 0, &p))
        abort();
    klog_offsets_t of;
    if (klog_partition_offsets(p, &of))
        abort();
    if (of.log_start > of.high_watermark || of.high_watermark > of.log_end)
        abort();
    klog_reader_t *r;
    rc = klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r);
    if (rc == 0) {
        klog_record_t rec;
        int64_t prev = INT64_MIN;
        for (long n = 0; n < 200000 && (rc = klog_reader_next(r, &rec)) == 1; n++) {
            if (rec.offset <= prev || rec.offset >= of.high_watermark)
                abort();
            if ((rec.key_len < 0) != (rec.key == NULL) || (rec.value_len < 0) != (rec.value == NULL))
                abort();
            prev = rec.offset;
        }
        if (rc > 1)
            abort();
        klog_reader_close(r);
    } else if (rc > 0) {
        abort();
    }
    int64_t at;
    rc = klog_offset_for_time(p, 1700000000000LL, &at);
    if (rc > 0 || (rc == 0 && (at < 0 || at > of.high_watermark)))
        abort();
    klog_lease_t *l;
    rc = klog_lease_acquire(p, of.log_start, 1 << 16, &l);
    if (rc == 0)
        klog_lease_release(l);
    else if (rc > 0)
        abort();
    /* The recovered log takes an append and serves it back. */
    klog_record_t in = {.key = "fz", .key_len = 2, .value = "appended", .value_len = 8,
                        .timestamp = 1700000000000LL};
    int64_t base = -1;
    rc = klog_append(p, &in, 1, &base);
    if (rc == 0) {
        if (base != of.log_end)
            abort();
        if (klog_reader_open(p, base, &r) == 0) {
            klog_record_t rec;
            rc = klog_reader_next(r, &rec);
            /* Damaged data before it in the same segment may stop the read
             * with an error, but never with a different record. */
            if (rc == 1 && strict &&
                (rec.offset != base || rec.value_len != 8 ||
                 memcmp(rec.value, "appended", 8) != 0))
                abort();
            if (rc == 0 && strict)
                abort();
            klog_reader_close(r);
        }
    } else if (rc > 0) {
        abort();
    }
    rc = klog_close(log);
    if (rc > 0)
        abort();
}

#endif
