/*
 * group_member — one consumer-group member process for the multi-process
 * group tests (test/t_group_*.sh), plus the producer and the checker.
 *
 *   group_member produce LOGDIR TOPIC PARTITIONS RECORDS
 *       create TOPIC and append RECORDS records ("p:i") spread evenly
 *   group_member run LOGDIR REGISTRY GROUP TOPIC ID OUTFILE [SLOW_US] [COMMIT_MS] [STRATEGY]
 *       join GROUP (REGISTRY is "dir:PATH" or "zk:HOSTS[/CHROOT]"), read the
 *       read-only log, and append to OUTFILE one line per event:
 *         claim P OFFSET NS | release P OFFSET NS | commit P OFFSET NS | rec P OFFSET
 *       (NS: CLOCK_REALTIME nanoseconds). Each record is "processed" (logged,
 *       then SLOW_US of sleep) before the next poll; commits are explicit
 *       every COMMIT_MS and logged once done. Runs until SIGTERM, then leaves
 *       cleanly.
 *   group_member check RECORDS PARTITIONS KILLED_ID KILL_NS FILE...
 *       verify at-least-once delivery, that duplicates come only from the
 *       killed member's uncommitted range, and that no partition was owned
 *       by two members at once (intervals from claim to release; the killed
 *       member's open intervals end at KILL_NS). Exit 0 when all hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int out_fd = -1;
static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (write(out_fd, line, (size_t)n) != n)
        _exit(3);
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "group_member: %s: %s\n", what, klog_strerror(rc));
    return 2;
}

static int cmd_produce(const char *dir, const char *topic, int parts, long records)
{
    klog_t *log;
    int rc = klog_open(dir, NULL, 0, &log);
    if (rc)
        return die("open", rc);
    if ((rc = klog_topic_create(log, topic, parts, NULL)) != 0)
        return die("topic", rc);
    for (int p = 0; p < parts; p++) {
        klog_partition_t *part;
        if ((rc = klog_partition(log, topic, p, &part)) != 0)
            return die("partition", rc);
        long n = records / parts + (p < records % parts ? 1 : 0);
        klog_record_t batch[100];
        char vals[100][32];
        for (long i = 0; i < n;) {
            size_t k = 0;
            for (; k < 100 && i < n; k++, i++) {
                int len = snprintf(vals[k], sizeof vals[k], "%d:%ld", p, i);
                batch[k] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                           .key_len = KLOG_NULL_LEN, .value = vals[k],
                                           .value_len = len};
            }
            if ((rc = klog_append(part, batch, k, NULL)) != 0)
                return die("append", rc);
        }
    }
    if ((rc = klog_close(log)) != 0)
        return die("close", rc);
    return 0;
}

static void on_event(void *ctx, const char *topic, int32_t partition, int owned, int64_t offset,
                     int64_t time_ms)
{
    (void)ctx;
    (void)topic;
    (void)time_ms;
    outf("%s %d %lld %lld\n", owned ? "claim" : "release", (int)partition, (long long)offset,
         (long long)now_ns());
}

static int open_registry(const char *spec, klog_registry_t **r)
{
    if (strncmp(spec, "dir:", 4) == 0)
        return klog_registry_dir_new(spec + 4, r);
    if (strncmp(spec, "zk:", 3) == 0)
        return klog_registry_zk_new(spec + 3, 1000, r);
    return -EINVAL;
}

#define MAXP 64

static int cmd_run(int argc, char **argv)
{
    const char *dir = argv[0], *spec = argv[1], *group = argv[2], *topic = argv[3], *id = argv[4];
    int slow_us = argc > 6 ? atoi(argv[6]) : 0;
    int commit_ms = argc > 7 ? atoi(argv[7]) : 100;
    int strategy = argc > 8 ? atoi(argv[8]) : KLOG_ASSIGN_RANGE;
    out_fd = open(argv[5], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        perror(argv[5]);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    klog_t *log;
    int rc = klog_open(dir, NULL, KLOG_OPEN_RDONLY, &log);
    if (rc)
        return die("open log", rc);
    klog_registry_t *reg;
    if ((rc = open_registry(spec, &reg)) != 0)
        return die("registry", rc);
    klog_member_opts_t o = {.size = sizeof o, .member_id = id, .strategy = strategy,
                            .auto_commit_ms = -1, .on_event = on_event};
    const char *topics[] = {topic, NULL};
    klog_member_t *m;
    if ((rc = klog_member_new(log, reg, group, topics, &o, &m)) != 0)
        return die("join", rc);
    int64_t next_commit = now_ns() + (int64_t)commit_ms * 1000000;
    int64_t pos[MAXP];
    for (int i = 0; i < MAXP; i++)
        pos[i] = -1;
    while (!stop) {
        klog_member_record_t mr;
        rc = klog_member_poll(m, &mr, 100);
        if (rc < 0)
            return die("poll", rc);
        if (rc == 1) {
            outf("rec %d %lld\n", (int)mr.partition, (long long)mr.rec.offset);
            if (mr.partition < MAXP)
                pos[mr.partition] = mr.rec.offset + 1;
            if (slow_us)
                usleep((useconds_t)slow_us);
        }
        if (now_ns() >= next_commit) {
            if ((rc = klog_member_commit(m)) != 0)
                return die("commit", rc);
            /* What the commit covered: the owned partitions' positions. */
            klog_assignment_entry_t own[MAXP];
            int n = klog_member_assignment(m, own, MAXP);
            int64_t t = now_ns();
            for (int i = 0; i < n && i < MAXP; i++)
                if (own[i].partition < MAXP && pos[own[i].partition] >= 0)
                    outf("commit %d %lld %lld\n", (int)own[i].partition,
                         (long long)pos[own[i].partition], (long long)t);
            next_commit = now_ns() + (int64_t)commit_ms * 1000000;
        }
    }
    if ((rc = klog_member_close(m)) != 0)
        return die("close", rc);
    klog_registry_free(reg);
    klog_close(log);
    return 0;
}

/* ------------------------------------------------------------- checker */

typedef struct interval {
    int member;
    int partition;
    int64_t start, end;
} interval_t;

static int cmd_check(int argc, char **argv)
{
    long records = atol(argv[0]);
    int parts = atoi(argv[1]);
    const char *killed = argv[2];
    int64_t kill_ns = atoll(argv[3]);
    int nfiles = argc - 4;
    char **files = argv + 4;
    if (parts > MAXP) {
        fprintf(stderr, "too many partitions\n");
        return 2;
    }
    long per = records / parts + 1;
    /* seen[p][o]: bit per member (up to 16 members). */
    unsigned short *seen = calloc((size_t)parts * (size_t)per, sizeof *seen);
    int64_t killed_commit[MAXP];
    for (int p = 0; p < MAXP; p++)
        killed_commit[p] = -1;
    size_t nint = 0, capint = 1024;
    interval_t *iv = malloc(capint * sizeof *iv);
    int open_iv[16][MAXP];
    int bad = 0, killed_idx = -1;
    long dups = 0;
    for (int f = 0; f < nfiles && f < 16; f++) {
        const char *base = strrchr(files[f], '/');
        base = base ? base + 1 : files[f];
        if (strncmp(base, killed, strlen(killed)) == 0 && base[strlen(killed)] == '.')
            killed_idx = f;
        for (int p = 0; p < MAXP; p++)
            open_iv[f][p] = -1;
        FILE *in = fopen(files[f], "r");
        if (!in) {
            perror(files[f]);
            return 2;
        }
        char kind[16];
        long long a, b, c;
        char line[256];
        while (fgets(line, sizeof line, in)) {
            int n = sscanf(line, "%15s %lld %lld %lld", kind, &a, &b, &c);
            if (n < 3 || a < 0 || a >= parts) {
                fprintf(stderr, "%s: bad line: %s", files[f], line);
                bad = 1;
                continue;
            }
            int p = (int)a;
            if (strcmp(kind, "rec") == 0) {
                if (b < 0 || b >= per) {
                    fprintf(stderr, "%s: offset out of range: %s", files[f], line);
                    bad = 1;
                    continue;
                }
                unsigned short *s = &seen[(size_t)p * (size_t)per + (size_t)b];
                if (*s & (1u << f)) {
                    fprintf(stderr, "%s read %d:%lld twice\n", files[f], p, b);
                    bad = 1;
                }
                *s |= (unsigned short)(1u << f);
            } else if (strcmp(kind, "claim") == 0 && n == 4) {
                if (nint == capint)
                    iv = realloc(iv, (capint *= 2) * sizeof *iv);
                iv[nint] = (interval_t){f, p, c, INT64_MAX};
                open_iv[f][p] = (int)nint++;
            } else if (strcmp(kind, "release") == 0 && n == 4) {
                if (open_iv[f][p] < 0) {
                    fprintf(stderr, "%s: release without claim: %s", files[f], line);
                    bad = 1;
                } else {
                    iv[open_iv[f][p]].end = c;
                    open_iv[f][p] = -1;
                }
                if (f == killed_idx && b > killed_commit[p])
                    killed_commit[p] = b;
            } else if (strcmp(kind, "commit") == 0 && n == 4) {
                if (f == killed_idx && b > killed_commit[p])
                    killed_commit[p] = b;
            }
        }
        fclose(in);
        /* The killed member's open intervals end when it was killed;
         * others must have released everything. */
        for (int p = 0; p < parts; p++)
            if (open_iv[f][p] >= 0) {
                if (f == killed_idx) {
                    iv[open_iv[f][p]].end = kill_ns;
                } else {
                    fprintf(stderr, "%s never released partition %d\n", files[f], p);
                    bad = 1;
                }
            }
    }
    if (killed_idx < 0 && killed[0] != '-') {
        fprintf(stderr, "no output file for killed member %s\n", killed);
        bad = 1;
    }
    /* Every record at least once; duplicates only from the killed member's
     * uncommitted range. */
    long missing = 0;
    for (int p = 0; p < parts; p++) {
        long n = records / parts + (p < records % parts ? 1 : 0);
        for (long o = 0; o < n; o++) {
            unsigned s = seen[(size_t)p * (size_t)per + (size_t)o];
            if (!s) {
                if (missing++ < 5)
                    fprintf(stderr, "record %d:%ld never processed\n", p, o);
                continue;
            }
            if (s & (s - 1)) {
                dups++;
                int from_killed = killed_idx >= 0 && (s & (1u << killed_idx));
                if (!from_killed || o < killed_commit[p]) {
                    if (bad++ < 5)
                        fprintf(stderr,
                                "record %d:%ld read by members 0x%x "
                                "(killed member committed %lld)\n",
                                p, o, s, (long long)killed_commit[p]);
                }
            }
        }
    }
    if (missing)
        bad = 1;
    /* No two members' ownership intervals of one partition overlap. */
    int overlaps = 0;
    for (size_t i = 0; i < nint; i++)
        for (size_t j = i + 1; j < nint; j++)
            if (iv[i].partition == iv[j].partition && iv[i].member != iv[j].member &&
                iv[i].start < iv[j].end && iv[j].start < iv[i].end) {
                if (overlaps++ < 5)
                    fprintf(stderr,
                            "partition %d owned by %s [%lld, %lld] and %s [%lld, %lld] at once\n",
                            iv[i].partition, files[iv[i].member], (long long)iv[i].start,
                            (long long)iv[i].end, files[iv[j].member], (long long)iv[j].start,
                            (long long)iv[j].end);
            }
    if (overlaps)
        bad = 1;
    printf("check: %ld records, %ld missing, %ld duplicates (killed member's uncommitted), "
           "%zu ownership intervals, %d overlaps\n",
           records, missing, dups, nint, overlaps);
    free(seen);
    free(iv);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "produce") == 0)
        return cmd_produce(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
    if (argc >= 8 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (argc >= 6 && strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    fprintf(stderr, "usage: group_member produce|run|check ... (see the source)\n");
    return 2;
}
