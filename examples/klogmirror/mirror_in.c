/*
 * mirror_in.c — `klogmirror in`: replicate partitions 0..N-1 of a Kafka
 * topic into a local libklog log as exact replicas, as a Kafka follower
 * does: Fetch (v12, our own client, kwire.c) from the local log end with
 * the epoch of the last local batch, then klog_append_follower of the
 * fetched batches as they are (offsets, leader epochs, producer fields,
 * compression, transaction markers), so the local .log bytes equal the
 * leader's. The replica also follows the leader:
 *   - log start: the LogStartOffset of each Fetch response (moved by
 *     DeleteRecords or retention on the leader) -> klog_delete_records;
 *   - truncation: a DivergingEpoch in the response (the leader does not have
 *     the local tail: it ended that epoch earlier) -> klog_truncate to the
 *     end the leader reports (or the end of that epoch locally, if earlier),
 *     then fetch again. With no epoch the leader knows, to its high
 *     watermark;
 *   - falling behind: a Fetch answered "offset out of range" below the
 *     leader's log start (ListOffsets v1, earliest) drops the local records
 *     and fetches from the leader's log start, as a Kafka follower's
 *     truncateFullyAndStartAt.
 * The position is the local log itself (its end and last batch), so a
 * restart after kill -9 (libklog recovers the torn tail on open) resumes
 * with no gap and no duplicate.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "klogmirror.h"
#include "kwire.h"

static const char usage_in[] =
    "Usage: klogmirror in -d DIR -b HOST:PORT -t TOPIC [-T LOCAL] [-N PARTITIONS]\n"
    "                     [-B BYTES] [-w MS] [-e] [-q]\n"
    "Replicate partitions 0..PARTITIONS-1 (default 1) of Kafka topic TOPIC from\n"
    "the broker at -b (their leader: no metadata lookup) into topic LOCAL\n"
    "(default TOPIC, created with PARTITIONS partitions when absent) of the\n"
    "libklog log DIR, until SIGINT/SIGTERM. Batches are stored as the leader\n"
    "has them (Fetch v12, follower appends); the replica follows the leader's\n"
    "log start (DeleteRecords) and truncation (diverging epochs).\n"
    "  -B BYTES           at most BYTES per partition per Fetch (default 1 MiB;\n"
    "                     the leader still sends one whole batch if larger)\n"
    "  -w MS              pause MS milliseconds between Fetch requests (a rate limit)\n"
    "  -e                 exit once every partition is at the leader's high watermark\n"
    "  -q                 no progress lines on standard error\n";

static int32_t fetch_part_bytes = 1 << 20; /* -B */
static int pause_ms;                        /* -w */

struct in_part {
    klog_partition_t *part;
    int32_t last_epoch; /* partitionLeaderEpoch of the last local batch, -1 none */
    int caught_up;
    int64_t restart_at; /* >= 0: fetch from here (the leader's log start), not the log end */
};

static int32_t next_corr = 1;

/* The leader epoch of the local log's last batch (-1 when empty). */
static int32_t last_local_epoch(klog_partition_t *p)
{
    klog_offsets_t off;
    if (klog_partition_offsets(p, &off) || off.log_end <= off.log_start)
        return -1;
    klog_lease_t *l = NULL;
    int32_t epoch = -1;
    if (klog_lease_acquire(p, off.log_end - 1, 1, &l) == 0) {
        size_t n = klog_lease_bytes(l);
        uint8_t *b = n ? malloc(n) : NULL;
        if (b && klog_lease_copy(l, b, n) == 0) {
            klog_batch_info_t bi;
            for (size_t pos = 0; pos < n && klog_batch_header(b + pos, n - pos, &bi) == 0; pos += bi.size)
                epoch = bi.leader_epoch;
        }
        free(b);
    }
    klog_lease_release(l);
    return epoch;
}

/* Apply one partition's fetched bytes: the whole batches of recs[0, len)
 * at or above `from` (a trailing partial batch is left for the next fetch).
 * Returns the number of batches appended or a negative error. */
static int apply_records(struct in_part *ip, const uint8_t *recs, size_t len, int64_t from)
{
    size_t start = 0, end = 0;
    int n = 0;
    int32_t epoch = ip->last_epoch;
    klog_batch_info_t bi;
    while (end < len && klog_batch_header(recs + end, len - end, &bi) == 0) {
        if (bi.base_offset + bi.last_offset_delta < from) {
            end += bi.size; /* before the fetch offset (inside a batch we hold) */
            start = end;
            continue;
        }
        end += bi.size;
        epoch = bi.leader_epoch;
        n++;
    }
    if (!n)
        return 0;
    int rc = klog_append_follower(ip->part, recs + start, end - start);
    if (rc)
        return rc;
    ip->last_epoch = epoch;
    return n;
}

/* Follow the leader's log start. */
static int follow_log_start(struct in_part *ip, int64_t leader_start)
{
    klog_offsets_t off;
    int rc = klog_partition_offsets(ip->part, &off);
    if (rc || leader_start <= off.log_start)
        return rc;
    if (leader_start > off.high_watermark)
        leader_start = off.high_watermark;
    return leader_start > off.log_start ? klog_delete_records(ip->part, leader_start) : 0;
}

/* Truncate the local log where the leader's history diverges from it. */
static int diverge(struct in_part *ip, int32_t epoch, int64_t end_offset, int64_t leader_hw,
                   int quiet)
{
    int64_t to = end_offset;
    if (epoch < 0 || end_offset < 0) {
        to = leader_hw;
    } else {
        int32_t le;
        int64_t lend;
        if (klog_offset_for_leader_epoch(ip->part, epoch, &le, &lend) == 0 && lend >= 0 && lend < to)
            to = lend;
    }
    klog_offsets_t off;
    int rc = klog_partition_offsets(ip->part, &off);
    if (rc)
        return rc;
    if (to < off.log_start)
        to = off.log_start;
    if (to >= off.log_end)
        return 0;
    if (!quiet)
        fprintf(stderr, "klogmirror in: partition %d diverges from the leader (epoch %d ends at"
                " %" PRId64 "): truncating %" PRId64 "..%" PRId64 "\n",
                (int)klog_partition_id(ip->part), (int)epoch, end_offset, to, off.log_end - 1);
    if ((rc = klog_truncate(ip->part, to)))
        return rc;
    ip->last_epoch = last_local_epoch(ip->part);
    return 0;
}

/* The leader's log start of TOPIC/p: ListOffsets v1, timestamp -2
 * (earliest). Returns 0 or -1 (printed). */
static int leader_log_start(int fd, const char *topic, int32_t p, int64_t *out)
{
    kw_out_t o = {0};
    int32_t corr = next_corr++;
    kw_header(&o, 2, 1, corr, "klogmirror", 0);
    kw_i32(&o, -1); /* ReplicaId */
    kw_i32(&o, 1);
    kw_str(&o, topic);
    kw_i32(&o, 1);
    kw_i32(&o, p);
    kw_i64(&o, -2);
    uint8_t *buf = NULL;
    kw_in_t in;
    int rc = kw_exchange(fd, &o, corr, 0, &buf, &in);
    free(o.p);
    if (rc)
        return -1;
    rc = -1;
    int16_t err = -1;
    int64_t off = -1;
    if (kw_get_i32(&in) == 1) {
        kw_get_bytes(&in, (size_t)kw_get_i16(&in));
        if (kw_get_i32(&in) == 1 && kw_get_i32(&in) == p) {
            err = kw_get_i16(&in);
            kw_get_i64(&in); /* timestamp */
            off = kw_get_i64(&in);
        }
    }
    if (in.err || err || off < 0)
        fprintf(stderr, "klogmirror in: ListOffsets %s/%d: error %d\n", topic, (int)p, err);
    else {
        *out = off;
        rc = 0;
    }
    free(buf);
    return rc;
}

/* The replica fell behind the leader's log start (the records it needs
 * next are deleted there): as a Kafka follower, drop the local records and
 * fetch from the leader's log start; the local log start follows it once
 * the first batch is there. */
static int restart_at_leader_start(int fd, const char *topic, struct in_part *ip, int quiet)
{
    int64_t ls;
    klog_offsets_t off;
    int32_t p = klog_partition_id(ip->part);
    if (leader_log_start(fd, topic, p, &ls) || klog_partition_offsets(ip->part, &off))
        return -1;
    if (ls <= off.log_end) {
        fprintf(stderr, "klogmirror in: %s/%d: offset %" PRId64 " out of range, the leader's"
                " log start is %" PRId64 "\n", topic, (int)p, off.log_end, ls);
        return -1;
    }
    if (!quiet && off.log_end > off.log_start)
        fprintf(stderr, "klogmirror in: %s/%d is behind the leader's log start %" PRId64
                ": dropping local %" PRId64 "..%" PRId64 ", fetching from there\n", topic,
                (int)p, ls, off.log_start, off.log_end - 1);
    else if (!quiet)
        fprintf(stderr, "klogmirror in: %s/%d is behind the leader's log start %" PRId64
                ": fetching from there\n", topic, (int)p, ls);
    int rc = off.log_end > off.log_start ? klog_truncate(ip->part, off.log_start) : 0;
    if (rc) {
        fprintf(stderr, "klogmirror in: truncate: %s\n", klog_strerror(rc));
        return -1;
    }
    ip->restart_at = ls;
    ip->last_epoch = -1;
    return 0;
}

/* One Fetch v12 round over every partition. Returns 0, or -1 (printed). */
static int fetch_round(int fd, const char *topic, struct in_part *ps, int32_t np, int quiet)
{
    int32_t corr = next_corr++;
    kw_out_t o = {0};
    int64_t *from = calloc((size_t)np, sizeof *from);
    if (!from)
        return -1;
    kw_header(&o, 1, 12, corr, "klogmirror", 1);
    kw_i32(&o, -1);              /* ReplicaId: a consumer */
    kw_i32(&o, 500);             /* MaxWaitMs */
    kw_i32(&o, 1);               /* MinBytes */
    kw_i32(&o, 8 * fetch_part_bytes);
    kw_i8(&o, 0);                /* read uncommitted: everything to the high watermark */
    kw_i32(&o, 0);               /* no fetch session */
    kw_i32(&o, -1);
    kw_uvarint(&o, 2);           /* one topic */
    kw_cstr(&o, topic);
    kw_uvarint(&o, (uint64_t)np + 1);
    /* The partitions in a rotating order: the leader sends a batch larger
     * than the partition limit whole only to the first partition with
     * data, so each gets to be first in turn. */
    for (int32_t k = 0; k < np; k++) {
        int32_t p = (int32_t)((corr + k) % np);
        klog_offsets_t off;
        if (klog_partition_offsets(ps[p].part, &off)) {
            free(o.p);
            free(from);
            return -1;
        }
        from[p] = ps[p].restart_at >= 0 ? ps[p].restart_at : off.log_end;
        kw_i32(&o, p);
        kw_i32(&o, -1);          /* CurrentLeaderEpoch: not checked */
        kw_i64(&o, from[p]);     /* FetchOffset */
        kw_i32(&o, ps[p].last_epoch); /* LastFetchedEpoch: divergence check */
        kw_i64(&o, -1);          /* LogStartOffset (followers only) */
        kw_i32(&o, fetch_part_bytes);
        kw_uvarint(&o, 0);
    }
    kw_uvarint(&o, 0);           /* topic tags */
    kw_uvarint(&o, 1);           /* no forgotten topics */
    kw_cstr(&o, "");             /* RackId */
    kw_uvarint(&o, 0);
    uint8_t *buf = NULL;
    kw_in_t in;
    int rc = kw_exchange(fd, &o, corr, 1, &buf, &in);
    free(o.p);
    if (rc) {
        free(from);
        return -1;
    }
    rc = -1;
    kw_get_i32(&in);             /* throttle */
    int16_t top = kw_get_i16(&in);
    kw_get_i32(&in);             /* session */
    if (top) {
        fprintf(stderr, "klogmirror in: Fetch failed: error %d\n", top);
        goto out;
    }
    uint64_t nt = kw_get_uvarint(&in);
    for (uint64_t t = 1; t < nt && !in.err; t++) {
        kw_get_bytes(&in, (size_t)kw_get_uvarint(&in) - 1); /* topic name */
        uint64_t npr = kw_get_uvarint(&in);
        for (uint64_t i = 1; i < npr && !in.err; i++) {
            int32_t p = kw_get_i32(&in);
            int16_t err = kw_get_i16(&in);
            int64_t hw = kw_get_i64(&in);
            kw_get_i64(&in);     /* last stable offset */
            int64_t ls = kw_get_i64(&in);
            uint64_t na = kw_get_uvarint(&in);
            for (uint64_t a = 1; a < na && !in.err; a++) {
                kw_get_i64(&in);
                kw_get_i64(&in);
                kw_skip_tags(&in);
            }
            kw_get_i32(&in);     /* preferred read replica */
            uint64_t rl = kw_get_uvarint(&in);
            const uint8_t *recs = rl ? kw_get_bytes(&in, (size_t)rl - 1) : NULL;
            int32_t div_epoch = -1;
            int64_t div_end = -1;
            int diverged = 0;
            uint64_t ntag = kw_get_uvarint(&in);
            for (uint64_t k = 0; k < ntag && !in.err; k++) {
                uint64_t tag = kw_get_uvarint(&in), sz = kw_get_uvarint(&in);
                if (tag == 0) { /* DivergingEpoch */
                    kw_in_t d = {.p = kw_get_bytes(&in, (size_t)sz), .len = (size_t)sz};
                    div_epoch = kw_get_i32(&d);
                    div_end = kw_get_i64(&d);
                    diverged = !d.err && !in.err;
                } else {
                    kw_get_bytes(&in, (size_t)sz);
                }
            }
            if (in.err || p < 0 || p >= np)
                break;
            struct in_part *ip = &ps[p];
            if (err == 1 && ip->restart_at < 0) { /* OFFSET_OUT_OF_RANGE */
                if (restart_at_leader_start(fd, topic, ip, quiet))
                    goto out;
                ip->caught_up = 0;
                continue;
            }
            if (err) {
                fprintf(stderr, "klogmirror in: %s/%d: Fetch at %" PRId64 ": error %d%s\n", topic,
                        (int)p, from[p], err,
                        err == 1 ? " (offset out of range)" : err == 6 ? " (not the leader: -b must name the partition's leader)" : "");
                goto out;
            }
            if (diverged) {
                if ((rc = diverge(ip, div_epoch, div_end, hw, quiet))) {
                    fprintf(stderr, "klogmirror in: truncate: %s\n", klog_strerror(rc));
                    rc = -1;
                    goto out;
                }
                rc = -1;
                ip->caught_up = 0;
                continue;
            }
            int n = recs ? apply_records(ip, recs, (size_t)rl - 1, from[p]) : 0;
            if (n > 0)
                ip->restart_at = -1;
            if (n < 0) {
                fprintf(stderr, "klogmirror in: %s/%d: follower append at %" PRId64 ": %s\n",
                        topic, (int)p, from[p], klog_strerror(n));
                goto out;
            }
            int e2 = follow_log_start(ip, ls);
            if (e2) {
                fprintf(stderr, "klogmirror in: %s/%d: log start %" PRId64 ": %s\n", topic,
                        (int)p, ls, klog_strerror(e2));
                goto out;
            }
            klog_offsets_t off;
            ip->caught_up = n == 0 && klog_partition_offsets(ip->part, &off) == 0 &&
                            (ip->restart_at >= 0 ? ip->restart_at : off.log_end) >= hw;
        }
        kw_skip_tags(&in);
    }
    if (in.err) {
        fprintf(stderr, "klogmirror in: malformed Fetch response\n");
        goto out;
    }
    rc = 0;
out:
    free(buf);
    free(from);
    return rc;
}

int mirror_in_main(int argc, char **argv)
{
    const char *dir = NULL, *brokers = NULL, *topic = NULL, *local = NULL;
    int once = 0, quiet = 0, c;
    int32_t np = 1;
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "d:b:t:T:N:B:w:eqh", lo, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'T': local = optarg; break;
        case 'N': np = (int32_t)atoi(optarg); break;
        case 'B': fetch_part_bytes = (int32_t)atoi(optarg); break;
        case 'w': pause_ms = atoi(optarg); break;
        case 'e': once = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_in, stdout); return 0;
        default: fputs(usage_in, stderr); return 2;
        }
    }
    if (!dir || !brokers || !topic || np < 1 || fetch_part_bytes < 1 || optind != argc) {
        fputs(usage_in, stderr);
        return 2;
    }
    if (!local)
        local = topic;
    klog_t *log = NULL;
    klog_topic_t *t = NULL;
    int rc = klog_open(dir, NULL, 0, &log);
    if (rc == 0 && (rc = klog_topic_get(log, local, &t)) == KLOG_ENOTOPIC &&
        (rc = klog_topic_create(log, local, np, NULL)) == 0)
        rc = klog_topic_get(log, local, &t);
    if (rc == 0 && klog_topic_partition_count(t) < np)
        rc = KLOG_ENOPARTITION;
    if (rc) {
        fprintf(stderr, "klogmirror in: %s topic %s: %s\n", dir, local, klog_strerror(rc));
        klog_close(log);
        return 1;
    }
    struct in_part *ps = calloc((size_t)np, sizeof *ps);
    int status = 1, fd = -1;
    if (!ps)
        goto done;
    for (int32_t p = 0; p < np; p++) {
        if ((rc = klog_partition_get(t, p, &ps[p].part))) {
            fprintf(stderr, "klogmirror in: partition %d: %s\n", (int)p, klog_strerror(rc));
            goto done;
        }
        ps[p].last_epoch = last_local_epoch(ps[p].part);
        ps[p].restart_at = -1;
        klog_offsets_t off;
        klog_partition_offsets(ps[p].part, &off);
        if (!quiet)
            fprintf(stderr, "klogmirror in: %s/%d -> %s/%d resumes at offset %" PRId64
                    " (last epoch %d)\n", topic, (int)p, local, (int)p, off.log_end,
                    (int)ps[p].last_epoch);
    }
    if ((fd = kw_connect(brokers)) < 0)
        goto done;
    while (!mirror_stop) {
        if (fetch_round(fd, topic, ps, np, quiet))
            goto done;
        int all = 1;
        for (int32_t p = 0; p < np; p++)
            all &= ps[p].caught_up;
        if (once && all)
            break;
        if (pause_ms > 0)
            usleep((useconds_t)pause_ms * 1000);
    }
    status = 0;
    for (int32_t p = 0; p < np && !quiet; p++) {
        klog_offsets_t off;
        if (klog_partition_offsets(ps[p].part, &off) == 0)
            fprintf(stderr, "klogmirror in: %s/%d: offsets %" PRId64 "..%" PRId64 "\n", local,
                    (int)p, off.log_start, off.log_end);
    }
done:
    if (fd >= 0)
        close(fd);
    free(ps);
    rc = klog_close(log);
    if (rc && status == 0) {
        fprintf(stderr, "klogmirror in: close: %s\n", klog_strerror(rc));
        status = 1;
    }
    return status;
}
