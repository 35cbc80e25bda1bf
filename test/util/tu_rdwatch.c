/* tu_rdwatch.c — see tu_rdwatch.h. */
#include "util/tu_rdwatch.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"

#define MAX_PARTS 64

typedef struct {
    const tu_rdwatch_part_t *parts;
    int n;
    tu_rdwatch_check_fn check;
    int64_t start_seen[MAX_PARTS]; /* highest log start seen */
    long passes, records, errors;
    char fail[256];
} watch_t;

static int stopped(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* One partition of one pass: 0, or -1 with w->fail set. */
static int read_part(watch_t *w, klog_partition_t *p, int i)
{
    klog_offsets_t of;
    if (klog_partition_offsets(p, &of)) {
        w->errors++;
        return 0;
    }
    const char *t = w->parts[i].topic;
    int32_t id = w->parts[i].id;
    if (of.log_start < w->start_seen[i]) {
        snprintf(w->fail, sizeof w->fail, "%s-%d: log start %lld after %lld was seen", t, id,
                 (long long)of.log_start, (long long)w->start_seen[i]);
        return -1;
    }
    w->start_seen[i] = of.log_start;
    klog_reader_t *r;
    if (klog_reader_open(p, of.log_start, &r)) {
        w->errors++;
        return 0;
    }
    klog_record_t rec;
    int64_t o = of.log_start;
    int rc;
    while (o < of.high_watermark && (rc = klog_reader_next(r, &rec)) == 1) {
        if (rec.offset < of.log_start)
            continue;
        if (rec.offset != o || !w->check(i, &rec, o)) {
            snprintf(w->fail, sizeof w->fail,
                     "%s-%d: record at %lld is not what was written at %lld (log start %lld, "
                     "watermark %lld)",
                     t, id, (long long)rec.offset, (long long)o, (long long)of.log_start,
                     (long long)of.high_watermark);
            klog_reader_close(r);
            return -1;
        }
        o++;
        w->records++;
    }
    if (o < of.high_watermark)
        w->errors++; /* an error ended the read, or the log moved under it */
    klog_reader_close(r);
    return 0;
}

static void child(int stop_fd, int report_fd, const char *dir, watch_t *w)
{
    klog__fault_clear();
    struct timespec pause = {0, 200000};
    int rc = 0;
    while (!rc && !stopped(stop_fd)) {
        klog_t *log;
        if (klog_open(dir, NULL, KLOG_OPEN_RDONLY, &log)) {
            w->errors++;
            nanosleep(&pause, NULL);
            continue;
        }
        for (int i = 0; i < w->n && !rc; i++) {
            klog_partition_t *p;
            if (klog_partition(log, w->parts[i].topic, w->parts[i].id, &p) == 0)
                rc = read_part(w, p, i);
        }
        klog_close(log);
        w->passes++;
        nanosleep(&pause, NULL);
    }
    char msg[512];
    int len = rc ? snprintf(msg, sizeof msg, "F%s", w->fail)
                 : snprintf(msg, sizeof msg, "O%ld %ld %ld",
                            w->passes, w->records, w->errors);
    if (write(report_fd, msg, (size_t)len) != len)
        _exit(3);
    _exit(0);
}

void tu_rdwatch_start(tu_rdwatch_t *w, const char *dir, const tu_rdwatch_part_t *parts, int n,
                      tu_rdwatch_check_fn check)
{
    int stop[2], report[2];
    if (n > MAX_PARTS || pipe(stop) || pipe(report))
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(stop[1]);
        close(report[0]);
        watch_t st = {.parts = parts, .n = n, .check = check};
        child(stop[0], report[1], dir, &st);
    }
    close(stop[0]);
    close(report[1]);
    w->pid = pid;
    w->stop_fd = stop[1];
    w->report_fd = report[0];
}

int tu_rdwatch_stop(tu_rdwatch_t *w, char *msg, size_t cap, long counts[3])
{
    close(w->stop_fd);
    char buf[512];
    ssize_t len = 0, k;
    while ((k = read(w->report_fd, buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += k;
    buf[len] = 0;
    close(w->report_fd);
    int st;
    waitpid(w->pid, &st, 0);
    if (len < 1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(msg, cap, "the reader process died (status %d)", st);
        return -1;
    }
    if (buf[0] != 'O') {
        snprintf(msg, cap, "%s", buf + 1);
        return -1;
    }
    if (sscanf(buf + 1, "%ld %ld %ld", &counts[0], &counts[1], &counts[2]) != 3)
        return -1;
    snprintf(msg, cap, "%ld passes, %ld records checked, %ld errors", counts[0], counts[1],
             counts[2]);
    return 0;
}
