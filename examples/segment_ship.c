/*
 * segment_ship.c — ship a topic's sealed segments elsewhere, the way a
 * tiered-storage uploader, a backup job or a segment-shipping replicator
 * would: list each partition's segments, pin every sealed one (its files
 * and bytes cannot change or vanish while pinned, even if retention removes
 * it meanwhile), copy its .log, .index and .timeindex through the pin's
 * descriptors, release it. A file already shipped whole is skipped, and a
 * copy lands as DEST/<topic>-<p>/<name>.tmp before it is renamed, so an
 * interrupted run resumes.
 *
 *   segment_ship [--roll] LOGDIR TOPIC DEST
 *
 * Without --roll the log is opened read-only, so this runs beside the
 * process that writes it. --roll opens it for writing instead and rolls
 * every partition first (klog_segment_roll), so everything appended so far
 * becomes a sealed segment and ships. Prints one line per file copied and
 * a summary; exit status 0, or 1 on the first error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <klog.h>

static int die(const char *what, int rc)
{
    fprintf(stderr, "segment_ship: %s: %s\n", what, klog_strerror(rc));
    return 1;
}

/* Copy len bytes of in_fd to path (through path.tmp, fsynced, renamed). */
static int copy_to(int in_fd, int64_t len, const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return -errno;
    static char buf[1 << 16];
    int rc = 0;
    for (int64_t at = 0; at < len && !rc;) {
        size_t want = len - at < (int64_t)sizeof buf ? (size_t)(len - at) : sizeof buf;
        ssize_t n = pread(in_fd, buf, want, (off_t)at);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO; /* cannot happen while pinned */
            break;
        }
        for (ssize_t done = 0; done < n && !rc;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR)
                rc = -errno;
            else if (w > 0)
                done += w;
        }
        at += n;
    }
    if (!rc && fsync(out) < 0)
        rc = -errno;
    if (close(out) < 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* Ship one file of a pinned segment unless DEST already has it whole. */
static int ship(int fd, int64_t size, const char *src_path, const char *dest_dir, long *copied)
{
    if (fd < 0)
        return 0; /* a missing index: nothing to ship */
    const char *name = strrchr(src_path, '/');
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dest_dir, name ? name + 1 : src_path);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == size)
        return 0;
    int rc = copy_to(fd, size, path);
    if (!rc) {
        printf("shipped %s (%lld bytes)\n", path, (long long)size);
        (*copied)++;
    }
    return rc;
}

int main(int argc, char **argv)
{
    int roll = argc > 1 && strcmp(argv[1], "--roll") == 0;
    if (argc - roll != 4) {
        fprintf(stderr, "usage: segment_ship [--roll] LOGDIR TOPIC DEST\n");
        return 2;
    }
    const char *dir = argv[1 + roll], *topic = argv[2 + roll], *dest = argv[3 + roll];
    klog_t *log;
    int rc = klog_open(dir, NULL, roll ? KLOG_OPEN_NOCREATE : KLOG_OPEN_RDONLY, &log);
    if (rc)
        return die(dir, rc);
    klog_topic_t *t;
    if ((rc = klog_topic_get(log, topic, &t)) != 0) {
        klog_close(log);
        return die(topic, rc);
    }
    long copied = 0, segments = 0;
    mkdir(dest, 0755);
    for (int32_t i = 0; !rc && i < klog_topic_partition_count(t); i++) {
        klog_partition_t *p;
        if ((rc = klog_partition_get(t, i, &p)) != 0)
            break;
        if (roll && (rc = klog_segment_roll(p)) < 0)
            break;
        if (roll && (rc = klog_sync(log)) != 0) /* waits for the seals */
            break;
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s-%d", dest, topic, (int)i);
        mkdir(pdir, 0755);
        klog_segment_info_t *v;
        size_t n;
        if ((rc = klog_segment_list(p, &v, &n)) != 0)
            break;
        for (size_t k = 0; !rc && k < n; k++) {
            if (v[k].active || !v[k].sealed)
                continue; /* appends go there, or it is still being sealed */
            klog_segment_pin_t *sp;
            rc = klog_segment_pin(p, v[k].base_offset, &sp);
            if (rc == KLOG_EOFFSET) { /* removed by retention since the list */
                rc = 0;
                continue;
            }
            if (rc)
                break;
            const klog_segment_files_t *f = klog_segment_pin_files(sp);
            rc = ship(f->log_fd, f->log_size, v[k].log_path, pdir, &copied);
            if (!rc)
                rc = ship(f->index_fd, f->index_size, v[k].index_path, pdir, &copied);
            if (!rc)
                rc = ship(f->timeindex_fd, f->timeindex_size, v[k].timeindex_path, pdir, &copied);
            klog_segment_unpin(sp);
            segments++;
        }
        free(v);
    }
    int crc = klog_close(log);
    if (rc)
        return die("shipping", rc);
    if (crc)
        return die("klog_close", crc);
    printf("%ld sealed segments, %ld files copied to %s\n", segments, copied, dest);
    return 0;
}
