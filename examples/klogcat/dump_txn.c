/*
 * dump_txn.c — `klogcat dump` of the files that hold a partition's
 * producer and transaction state, all in Kafka's formats
 * (kafka-format.md 3.5, 3.6, 4), plus libklog's klog.producer-ids:
 *   <offset>.snapshot        producer state snapshot, version 1, CRC-32C
 *   <base>.txnindex          aborted transactions, 34-byte entries
 *   leader-epoch-checkpoint  "0\n<count>\n<epoch> <start offset>\n..."
 *   klog.producer-ids        end of the reserved producer-id block
 * The checks are the library's (lib/storage/pstate_snapshot.c, txnindex.c,
 * epoch.c, pidalloc.c): what they would refuse is printed as a problem.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "klogcat.h"

#define SNAP_ENTRY 46
#define TXN_ENTRY 34

static int read_or_report(const char *path, uint8_t **buf, size_t *len, int *problems)
{
    int rc = kc_read_whole(path, buf, len);
    if (rc < 0) {
        kc_err("%s: %s", path, klog_strerror(rc));
        (*problems)++;
    }
    return rc;
}

static int16_t be16(const uint8_t *p) { return (int16_t)((uint16_t)p[0] << 8 | p[1]); }

void kc_dump_snapshot(const char *path, int *problems)
{
    uint8_t *b;
    size_t len;
    if (read_or_report(path, &b, &len, problems) < 0)
        return;
    if (len < 10) {
        kc_problem(problems, 0, "file is %zu bytes, a snapshot has at least 10", len);
        goto out;
    }
    int16_t version = be16(b);
    uint32_t crc = kc_be32(b + 2), want = klog_crc32c(0, b + 6, len - 6);
    int32_t count = (int32_t)kc_be32(b + 6);
    printf("producer state snapshot version: %d crc: %08" PRIx32 " entries: %" PRId32 "\n",
           version, crc, count);
    if (version != 1)
        kc_problem(problems, 0, "unsupported snapshot version %d", version);
    if (crc != want)
        kc_problem(problems, 2, "CRC-32C %08" PRIx32 " stored, %08" PRIx32 " computed", crc, want);
    if (count < 0 || (size_t)count != (len - 10) / SNAP_ENTRY || (len - 10) % SNAP_ENTRY) {
        kc_problem(problems, 6, "entry count %" PRId32 " does not match %zu bytes of entries",
                   count, len - 10);
        count = (int32_t)((len - 10) / SNAP_ENTRY);
    }
    int64_t prev = -1;
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *e = b + 10 + (size_t)i * SNAP_ENTRY;
        int64_t pid = (int64_t)kc_be64(e), last_off = (int64_t)kc_be64(e + 14);
        int64_t ts = (int64_t)kc_be64(e + 26), txn = (int64_t)kc_be64(e + 38);
        int16_t epoch = be16(e + 8);
        int32_t last_seq = (int32_t)kc_be32(e + 10), delta = (int32_t)kc_be32(e + 22);
        int32_t coord = (int32_t)kc_be32(e + 34);
        printf("producerId: %" PRId64 " producerEpoch: %d lastSequence: %" PRId32
               " lastOffset: %" PRId64 " offsetDelta: %" PRId32 " timestamp: %" PRId64
               " coordinatorEpoch: %" PRId32 " currentTxnFirstOffset: %" PRId64 "\n",
               pid, epoch, last_seq, last_off, delta, ts, coord, txn);
        int64_t pos = 10 + (int64_t)i * SNAP_ENTRY;
        int nobatch = last_off == -1 && last_seq == -1 && delta == 0;
        if (pid < 0 || epoch < -1 || txn < -1)
            kc_problem(problems, pos, "producer id, epoch or transaction start out of range");
        else if (!nobatch && (last_off < delta || delta < 0 || last_seq < -1))
            kc_problem(problems, pos, "last offset, offset delta or sequence out of range");
        if (pid <= prev && pid >= 0)
            kc_problem(problems, pos, "producer %" PRId64 " listed twice or out of order", pid);
        prev = pid > prev ? pid : prev;
    }
out:
    free(b);
}

void kc_dump_txnindex(const char *path, int64_t base, int *problems)
{
    uint8_t *b;
    size_t len;
    if (read_or_report(path, &b, &len, problems) < 0)
        return;
    size_t n = len / TXN_ENTRY;
    printf("aborted transactions: %zu\n", n);
    if (len % TXN_ENTRY)
        kc_problem(problems, (int64_t)(n * TXN_ENTRY), "%zu trailing bytes (not a whole entry)",
                   len % TXN_ENTRY);
    int64_t prev_last = -1;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = b + i * TXN_ENTRY;
        int16_t version = be16(e);
        int64_t pid = (int64_t)kc_be64(e + 2), first = (int64_t)kc_be64(e + 10);
        int64_t last = (int64_t)kc_be64(e + 18), lso = (int64_t)kc_be64(e + 26);
        printf("version: %d producerId: %" PRId64 " firstOffset: %" PRId64 " lastOffset: %" PRId64
               " lastStableOffset: %" PRId64 "\n",
               version, pid, first, last, lso);
        int64_t pos = (int64_t)(i * TXN_ENTRY);
        if (version != 0)
            kc_problem(problems, pos, "unsupported entry version %d", version);
        if (pid < 0 || first < 0 || first > last)
            kc_problem(problems, pos, "producer id or offsets out of range");
        if (last <= prev_last)
            kc_problem(problems, pos, "last offset %" PRId64 " not above the previous entry's",
                       last);
        if (base >= 0 && last < base)
            kc_problem(problems, pos, "last offset %" PRId64 " below the segment base %" PRId64,
                       last, base);
        prev_last = last;
    }
    free(b);
}

/* One line of the checkpoint text: [*p, nl) with p moved past it; 0 at the end. */
static int next_line(const uint8_t **p, const uint8_t *end, char *line, size_t cap)
{
    if (*p >= end)
        return 0;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    if (n && (*p)[n - 1] == '\r')
        n--;
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(line, *p, k);
    line[k] = 0;
    *p = nl ? nl + 1 : end;
    return 1;
}

void kc_dump_epochs(const char *path, int *problems)
{
    uint8_t *b;
    size_t len;
    if (read_or_report(path, &b, &len, problems) < 0)
        return;
    const uint8_t *p = b, *end = b + len;
    char line[128];
    long version = -1, count = -1, seen = 0;
    char tail;
    if (next_line(&p, end, line, sizeof line) && sscanf(line, "%ld%c", &version, &tail) == 1)
        printf("leader epoch checkpoint version: %ld\n", version);
    if (version != 0) {
        kc_problem(problems, 0, "version line is not 0");
        goto out;
    }
    if (!next_line(&p, end, line, sizeof line) || sscanf(line, "%ld%c", &count, &tail) != 1 ||
        count < 0) {
        kc_problem(problems, (int64_t)(p - b), "entry count line malformed");
        goto out;
    }
    printf("entries: %ld\n", count);
    long long prev_epoch = -1, prev_off = -1;
    for (;;) {
        int64_t pos = (int64_t)(p - b);
        if (!next_line(&p, end, line, sizeof line))
            break;
        long long epoch, off;
        if (sscanf(line, "%lld %lld%c", &epoch, &off, &tail) != 2 || epoch < 0 || off < 0) {
            kc_problem(problems, pos, "entry \"%s\" is not \"<epoch> <start offset>\"", line);
            continue;
        }
        printf("epoch: %lld startOffset: %lld\n", epoch, off);
        if (epoch <= prev_epoch || off < prev_off)
            kc_problem(problems, pos, "epochs and start offsets must increase");
        prev_epoch = epoch;
        prev_off = off;
        seen++;
    }
    if (seen != count)
        kc_problem(problems, (int64_t)len, "%ld entries declared, %ld found", count, seen);
out:
    free(b);
}

/* klog.producer-ids (lib/storage/pidalloc.c): "KLOGPIDS", u32 version 1,
 * u32 zero, i64 reserved end, XXH3-64 of the 24 bytes before; big-endian. */
void kc_dump_producer_ids(const char *path, int *problems)
{
    uint8_t *b;
    size_t len;
    if (read_or_report(path, &b, &len, problems) < 0)
        return;
    if (len < 12 || memcmp(b, "KLOGPIDS", 8) != 0)
        kc_problem(problems, 0, "bad magic (expected \"KLOGPIDS\")");
    else if (kc_be32(b + 8) != 1)
        kc_problem(problems, 8, "unsupported version %" PRIu32, kc_be32(b + 8));
    else if (len != 32)
        kc_problem(problems, (int64_t)(len < 32 ? len : 32), "file is %zu bytes, expected 32", len);
    else if (kc_be64(b + 24) != XXH3_64bits(b, 24))
        kc_problem(problems, 24, "checksum mismatch");
    else if (kc_be32(b + 12) != 0 || (int64_t)kc_be64(b + 16) < 0)
        kc_problem(problems, 12, "reserved bytes or reserved end out of range");
    else
        printf("producer ids reserved below: %" PRId64 "\n", (int64_t)kc_be64(b + 16));
    free(b);
}
