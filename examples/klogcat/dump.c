/*
 * dump.c — `klogcat dump FILE...`: print what a file of a log directory
 * holds, like Kafka's kafka-dump-log, choosing the decoder by file name:
 * .log (every batch header; --records adds every record), .index,
 * .timeindex, .seal, Kafka checkpoint files (*-checkpoint), klog.topics,
 * klog.state and registry files; the producer and transaction state files
 * (.snapshot, .txnindex, leader-epoch-checkpoint, klog.producer-ids) are
 * decoded by dump_txn.c.
 * Nothing in the file is trusted: damage is printed as
 * "problem at position P: ..." and the dump goes on where it can; the exit
 * status is 1 when any problem was found.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "klogcat.h"
#include "kcfiles.h"

typedef struct dumper {
    const kc_opts_t *o;
    const char *path;
    int problems;
} dumper_t;

void kc_problem(int *problems, int64_t pos, const char *fmt, ...)
{
    va_list ap;
    printf("problem at position %" PRId64 ": ", pos);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    (*problems)++;
}
#define problem(d, ...) kc_problem(&(d)->problems, __VA_ARGS__)

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Base offset from a segment file name; -1 (and relative offsets) if the
 * name is not the 20-digit form. */
static int64_t name_base(const char *path, const char *suffix)
{
    int64_t base;
    return kc_segment_name(base_name(path), suffix, &base) ? base : -1;
}

/* ----------------------------------------------------------------- .log */

static void dump_records(dumper_t *d, const kc_batch_t *b, klog_batch_reader_t *br)
{
    const klog_batch_info_t *bi = &b->info;
    int tsappend = (bi->attributes & KLOG_ATTR_LOG_APPEND_TIME) != 0;
    klog_record_t rec;
    int rc = klog_batch_reader_open(br, b->data, b->size, 0);
    if (rc < 0) {
        problem(d, b->pos, "cannot decode the records: %s", klog_strerror(rc));
        return;
    }
    while ((rc = klog_batch_reader_next(br, &rec)) == 1) {
        int32_t seq = -1;
        if (bi->base_sequence >= 0) {
            int64_t s = (int64_t)bi->base_sequence + (rec.offset - bi->base_offset);
            seq = (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
        }
        printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %" PRId32 " valueSize: %" PRId32
               " sequence: %" PRId32 " headerKeys: [",
               rec.offset, tsappend ? "LogAppendTime" : "CreateTime", rec.timestamp, rec.key_len,
               rec.value_len, seq);
        for (uint32_t i = 0; i < rec.header_count; i++) {
            if (i)
                putchar(',');
            kc_print_escaped(stdout, rec.headers[i].key, (size_t)rec.headers[i].key_len);
        }
        fputs("] key: ", stdout);
        if (rec.key_len < 0)
            fputs("null", stdout);
        else
            kc_print_escaped(stdout, rec.key, (size_t)rec.key_len);
        fputs(" payload: ", stdout);
        if (rec.value_len < 0)
            fputs("null", stdout);
        else
            kc_print_escaped(stdout, rec.value, (size_t)rec.value_len);
        putchar('\n');
    }
    if (rc < 0)
        problem(d, b->pos, "record decoding failed: %s (%s)", klog_strerror(rc),
                klog_err_name(rc));
}

static void print_batch(const kc_batch_t *b)
{
    const klog_batch_info_t *bi = &b->info;
    int32_t last_seq = -1;
    if (bi->base_sequence >= 0) {
        int64_t s = (int64_t)bi->base_sequence + bi->last_offset_delta;
        last_seq = (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
    }
    const char *codec = klog_compression_name(bi->compression);
    printf("baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %" PRId32
           " baseSequence: %" PRId32 " lastSequence: %" PRId32 " producerId: %" PRId64
           " producerEpoch: %d partitionLeaderEpoch: %" PRId32
           " isTransactional: %s isControl: %s position: %" PRId64
           " timestampType: %s baseTimestamp: %" PRId64 " maxTimestamp: %" PRId64
           " size: %zu magic: %d compresscodec: %s crc: %" PRIu32 " isvalid: %s\n",
           bi->base_offset, bi->base_offset + bi->last_offset_delta, bi->record_count,
           bi->base_sequence, last_seq, bi->producer_id, bi->producer_epoch, bi->leader_epoch,
           (bi->attributes & KLOG_ATTR_TRANSACTIONAL) ? "true" : "false",
           (bi->attributes & KLOG_ATTR_CONTROL) ? "true" : "false", b->pos,
           (bi->attributes & KLOG_ATTR_LOG_APPEND_TIME) ? "LogAppendTime" : "CreateTime",
           bi->base_timestamp, bi->max_timestamp, b->size, bi->magic, codec ? codec : "unknown",
           bi->crc, b->rc == 0 ? "true" : "false");
}

static void dump_log(dumper_t *d, int records)
{
    kc_logscan_t s;
    kc_batch_t b;
    klog_batch_reader_t *br = NULL;
    int64_t batches = 0, nrec = 0;
    int rc = kc_logscan_open(&s, d->path);
    if (rc < 0) {
        kc_err("%s: %s", d->path, strerror(-rc));
        d->problems++;
        return;
    }
    int64_t base = name_base(d->path, ".log");
    if (base >= 0)
        printf("Log starting offset: %" PRId64 "\n", base);
    if (records && (rc = klog_batch_reader_new(&br)) < 0) {
        kc_err("%s", klog_strerror(rc));
        d->problems++;
        kc_logscan_close(&s);
        return;
    }
    while ((rc = kc_logscan_next(&s, &b)) == KC_SCAN_BATCH) {
        batches++;
        kc_progress(d->o, 0, "dump %s: %.1f of %.1f MiB", d->path, (double)s.pos / 1048576.0,
                    (double)s.size / 1048576.0);
        if (b.data[16] != 2) {
            problem(d, b.pos, "batch of %zu bytes has magic %d: not RecordBatch v2, skipped",
                    b.size, (int8_t)b.data[16]);
            continue;
        }
        print_batch(&b);
        nrec += b.info.record_count;
        if (b.rc == KLOG_ECRC)
            problem(d, b.pos, "CRC mismatch: stored %" PRIu32 ", computed %" PRIu32, b.info.crc,
                    b.crc_computed);
        else if (b.rc < 0)
            problem(d, b.pos, "invalid batch: %s (%s)", klog_strerror(b.rc), klog_err_name(b.rc));
        if (records)
            dump_records(d, &b, br);
    }
    if (rc == KC_SCAN_TORN || rc == KC_SCAN_BADLEN)
        problem(d, s.pos, "%s", s.why);
    else if (rc == KC_SCAN_IOERR)
        problem(d, s.pos, "read error: %s", strerror(-s.err));
    kc_progress(d->o, 1, "dump %s: %.1f MiB, done", d->path, (double)s.pos / 1048576.0);
    kc_progress_end();
    printf("%" PRId64 " batches, %" PRId64 " records, %" PRId64 " of %" PRId64
           " bytes in whole batches\n",
           batches, nrec, s.pos, s.size);
    klog_batch_reader_free(br);
    kc_logscan_close(&s);
}

/* --------------------------------------------------------------- indexes */

static void dump_index(dumper_t *d, int timeindex)
{
    const size_t esz = timeindex ? 12 : 8;
    uint8_t *buf;
    size_t len;
    int rc = kc_read_whole(d->path, &buf, &len);
    if (rc < 0) {
        kc_err("%s: %s", d->path, strerror(-rc));
        d->problems++;
        return;
    }
    int64_t base = name_base(d->path, timeindex ? ".timeindex" : ".index");
    if (base < 0)
        printf("(file name has no base offset: offsets are relative)\n");
    int64_t add = base < 0 ? 0 : base;
    size_t used = kc_index_used(buf, len, esz);
    int64_t prev_off = -1, prev_b = INT64_MIN;
    for (size_t i = 0; i < used; i++) {
        const uint8_t *e = buf + i * esz;
        int64_t pos = (int64_t)(i * esz);
        if (timeindex) {
            int64_t ts = (int64_t)kc_be64(e);
            int64_t rel = (int32_t)kc_be32(e + 8);
            printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts, add + rel);
            if (rel < 0)
                problem(d, pos, "negative relative offset %" PRId64, rel);
            if (i > 0 && ts <= prev_b)
                problem(d, pos, "timestamp %" PRId64 " not above the previous %" PRId64, ts,
                        prev_b);
            if (i > 0 && rel < prev_off)
                problem(d, pos, "offset %" PRId64 " below the previous %" PRId64, add + rel,
                        add + prev_off);
            prev_b = ts, prev_off = rel;
        } else {
            int64_t rel = (int32_t)kc_be32(e);
            int64_t p = kc_be32(e + 4);
            printf("offset: %" PRId64 " position: %" PRId64 "\n", add + rel, p);
            if (rel < 0)
                problem(d, pos, "negative relative offset %" PRId64, rel);
            if (i > 0 && rel <= prev_off)
                problem(d, pos, "offset %" PRId64 " not above the previous %" PRId64, add + rel,
                        add + prev_off);
            if (i > 0 && p <= prev_b)
                problem(d, pos, "position %" PRId64 " not above the previous %" PRId64, p,
                        prev_b);
            prev_b = p, prev_off = rel;
        }
    }
    if (len % esz)
        problem(d, (int64_t)(len - len % esz), "%zu trailing bytes: not a whole %zu-byte entry",
                len % esz, esz);
    printf("%zu entries, %zu unused (zero) slots\n", used, len / esz - used);
    free(buf);
}

/* ----------------------------------------------------------------- .seal */

/* Say where a seal kc_seal_read refused is wrong (layout: seal.c). */
static void diagnose_seal(dumper_t *d, int err)
{
    uint8_t *buf;
    size_t len;
    if (kc_read_whole(d->path, &buf, &len) < 0) {
        problem(d, 0, "%s", klog_strerror(err));
        return;
    }
    if (len < 8 || memcmp(buf, "KLOGSEAL", 8) != 0)
        problem(d, 0, "bad magic (expected \"KLOGSEAL\")");
    else if (len >= 12 && kc_be32(buf + 8) != 1)
        problem(d, 8, "unsupported seal version %" PRIu32, kc_be32(buf + 8));
    else if (len != KC_SEAL_SIZE)
        problem(d, (int64_t)(len < KC_SEAL_SIZE ? len : KC_SEAL_SIZE),
                "file is %zu bytes, a seal is %d", len, KC_SEAL_SIZE);
    else if (kc_be64(buf + 72) != XXH3_64bits(buf, 72))
        problem(d, 72, "checksum mismatch (bytes 0-71 damaged)");
    else if (kc_be32(buf + 12) != 0)
        problem(d, 12, "reserved bytes not zero");
    else
        problem(d, 16, "seal fields are inconsistent: %s", klog_strerror(err));
    free(buf);
}

static void dump_seal(dumper_t *d)
{
    kc_seal_t s;
    int rc = kc_seal_read(d->path, &s);
    if (rc == -ENOENT || rc == -EACCES || rc == -EISDIR) {
        kc_err("%s: %s", d->path, klog_strerror(rc));
        d->problems++;
        return;
    }
    if (rc < 0) {
        diagnose_seal(d, rc);
        return;
    }
    printf("base_offset: %" PRId64 "\nnext_offset: %" PRId64 "\nmax_timestamp: %" PRId64
           "\nmax_ts_offset: %" PRId64 "\nlog_size: %" PRId64 "\nlog_digest: %016" PRIx64
           "\nindex_entries: %" PRIu32 "\ntimeindex_entries: %" PRIu32 "\n",
           s.base_offset, s.next_offset, s.max_timestamp, s.max_ts_offset, s.log_size,
           s.log_digest, s.index_entries, s.timeindex_entries);
    int64_t base = name_base(d->path, ".seal");
    if (base >= 0 && base != s.base_offset)
        problem(d, 16, "base_offset %" PRId64 " differs from the file name's %" PRId64,
                s.base_offset, base);
}

/* ------------------------------------------------------------ checkpoints */

static void dump_checkpoint(dumper_t *d)
{
    char *copy1 = strdup(d->path), *copy2 = strdup(d->path);
    kc_ckpt_t c = {0};
    if (!copy1 || !copy2) {
        kc_err("out of memory");
        d->problems++;
        goto out;
    }
    int rc = kc_ckpt_read(dirname(copy1), basename(copy2), &c);
    if (rc == 0) {
        printf("version: 0\nentries: %zu\n", c.count);
        for (size_t i = 0; i < c.count; i++)
            printf("topic: %s partition: %" PRId32 " offset: %" PRId64 "\n", c.entries[i].topic,
                   c.entries[i].partition, c.entries[i].offset);
    } else if (rc == -ENOENT || rc == -EACCES || rc == -EISDIR) {
        kc_err("%s: %s", d->path, klog_strerror(rc));
        d->problems++;
    } else {
        /* Locate the damage for the reader of the dump. */
        uint8_t *buf;
        size_t len, lines[1], nl;
        char why[160];
        int64_t at = -1;
        if (kc_read_whole(d->path, &buf, &len) == 0) {
            at = kc_ckpt_lint(buf, len, lines, 0, &nl, why, sizeof why);
            free(buf);
        }
        if (at >= 0)
            problem(d, at, "%s (%s)", why, klog_strerror(rc));
        else
            problem(d, 0, "%s", klog_strerror(rc));
    }
out:
    kc_ckpt_free(&c);
    free(copy1);
    free(copy2);
}

/* ----------------------------------------------------------- klog.topics */

static void dump_topics(dumper_t *d)
{
    char *copy = strdup(d->path);
    kc_topic_meta_t *t = NULL;
    size_t n = 0;
    if (access(d->path, R_OK) != 0) {
        kc_err("%s: %s", d->path, strerror(errno));
        d->problems++;
        free(copy);
        return;
    }
    if (!copy) {
        kc_err("out of memory");
        d->problems++;
        return;
    }
    int rc = kc_meta_read(dirname(copy), &t, &n);
    free(copy);
    if (rc < 0) {
        problem(d, 0, "%s (%s)", klog_strerror(rc), klog_err_name(rc));
        return;
    }
    printf("topics: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        printf("topic: %s partitions: %" PRId32, t[i].name, t[i].partitions);
        for (uint32_t k = 0; k < t[i].nconf && k < KC_TOPIC_CONF_MAX; k++) {
            const char *name = kc_conf_name(t[i].conf[k].key);
            char val[32];
            if (name)
                printf(" %s=%s", name,
                       kc_conf_value_str(t[i].conf[k].key, t[i].conf[k].value, val, sizeof val));
            else
                printf(" key%" PRId32 "=%" PRId64, t[i].conf[k].key, t[i].conf[k].value);
        }
        putchar('\n');
    }
    free(t);
}

/* ------------------------------------------- klog.state, registry files */

/*
 * klog.state: the partition's published offsets, as partition.c maps it:
 * "KLOGSTAT", u32 version 1, u32 pad, then high watermark, log start, log
 * end (int64) and the segment-list generation (uint64), in the writer's
 * native byte order (the file is shared memory, never copied elsewhere).
 */
static void dump_state(dumper_t *d)
{
    uint8_t *buf;
    size_t len;
    int rc = kc_read_whole(d->path, &buf, &len);
    if (rc < 0) {
        kc_err("%s: %s", d->path, strerror(-rc));
        d->problems++;
        return;
    }
    if (len < 8 || memcmp(buf, "KLOGSTAT", 8) != 0) {
        problem(d, 0, "bad magic (expected \"KLOGSTAT\")");
    } else if (len < 48) {
        problem(d, (int64_t)len, "file is %zu bytes, a state file is 48", len);
    } else {
        uint32_t version;
        int64_t v[4];
        memcpy(&version, buf + 8, 4);
        memcpy(v, buf + 16, sizeof v);
        printf("version: %" PRIu32 "\nhigh_watermark: %" PRId64 "\nlog_start: %" PRId64
               "\nlog_end: %" PRId64 "\ngeneration: %" PRIu64 "\n",
               version, v[0], v[1], v[2], (uint64_t)v[3]);
        if (version != 1)
            problem(d, 8, "unsupported state version %" PRIu32, version);
        if (v[1] > v[0] || v[0] > v[2])
            problem(d, 16, "offsets out of order: log start <= high watermark <= log end fails");
    }
    free(buf);
}

/*
 * A directory registry's persistent files (klog.h, klog_registry_dir_new):
 * groups/<group>/offsets/<topic>/<partition> ("KLOGROFF") and
 * topics/<topic> ("KLOGRTOP"): magic, u32 version 1, an int64 offset or an
 * int32 partition count, XXH3-64 of the bytes before it; big-endian.
 */
static void dump_registry_file(dumper_t *d, const uint8_t *buf, size_t len, int offsets)
{
    size_t plen = offsets ? 8 : 4;
    printf("%s\n", offsets ? "registry committed offset" : "registry topic");
    if (len >= 12 && kc_be32(buf + 8) != 1) {
        problem(d, 8, "unsupported version %" PRIu32, kc_be32(buf + 8));
        return;
    }
    if (len != 20 + plen) {
        problem(d, (int64_t)(len < 20 + plen ? len : 20 + plen), "file is %zu bytes, expected %zu",
                len, 20 + plen);
        return;
    }
    if (kc_be64(buf + 12 + plen) != XXH3_64bits(buf, 12 + plen)) {
        problem(d, (int64_t)(12 + plen), "checksum mismatch");
        return;
    }
    /* The path names the group, topic and partition. */
    char *copy = strdup(d->path);
    if (copy && offsets) {
        char *part = strrchr(copy, '/');
        char *topic = NULL, *group = NULL;
        if (part) {
            *part++ = 0;
            topic = strrchr(copy, '/');
        }
        if (topic) {
            *topic++ = 0;
            char *offs = strrchr(copy, '/');
            if (offs && strcmp(offs + 1, "offsets") == 0) {
                *offs = 0;
                group = strrchr(copy, '/');
                group = group ? group + 1 : copy;
            }
        }
        if (group)
            printf("group: %s\n", group);
        if (topic && part)
            printf("topic: %s\npartition: %s\n", topic, part);
    }
    free(copy);
    if (offsets)
        printf("offset: %" PRId64 "\n", (int64_t)kc_be64(buf + 12));
    else
        printf("topic: %s\npartitions: %" PRId32 "\n", base_name(d->path),
               (int32_t)kc_be32(buf + 12));
}

/* Files named freely (registry files): 1 when recognised by magic and dumped. */
static int dump_by_magic(dumper_t *d)
{
    uint8_t *buf;
    size_t len;
    if (kc_read_whole(d->path, &buf, &len) < 0)
        return 0;
    int done = 1;
    if (len >= 8 && memcmp(buf, "KLOGROFF", 8) == 0)
        dump_registry_file(d, buf, len, 1);
    else if (len >= 8 && memcmp(buf, "KLOGRTOP", 8) == 0)
        dump_registry_file(d, buf, len, 0);
    else if (len >= 8 && memcmp(buf, "KLOGSTAT", 8) == 0)
        dump_state(d);
    else
        done = 0;
    free(buf);
    return done;
}

int kc_dump(const kc_opts_t *o)
{
    int problems = 0, unknown = 0;
    for (int i = 0; i < o->nargs; i++) {
        dumper_t d = {.o = o, .path = o->args[i]};
        const char *name = base_name(d.path);
        printf("Dumping %s\n", d.path);
        if (has_suffix(name, ".log"))
            dump_log(&d, o->records);
        else if (has_suffix(name, ".timeindex"))
            dump_index(&d, 1);
        else if (has_suffix(name, ".index"))
            dump_index(&d, 0);
        else if (has_suffix(name, ".seal"))
            dump_seal(&d);
        else if (has_suffix(name, ".snapshot"))
            kc_dump_snapshot(d.path, &d.problems);
        else if (has_suffix(name, ".txnindex"))
            kc_dump_txnindex(d.path, name_base(d.path, ".txnindex"), &d.problems);
        else if (strcmp(name, "leader-epoch-checkpoint") == 0)
            kc_dump_epochs(d.path, &d.problems);
        else if (strcmp(name, "klog.producer-ids") == 0)
            kc_dump_producer_ids(d.path, &d.problems);
        else if (has_suffix(name, "-checkpoint"))
            dump_checkpoint(&d);
        else if (strcmp(name, "klog.topics") == 0)
            dump_topics(&d);
        else if (strcmp(name, "klog.state") == 0)
            dump_state(&d);
        else if (!dump_by_magic(&d)) {
            kc_err("%s: cannot tell the file type from its name (.log, .index, .timeindex, "
                   ".seal, .snapshot, .txnindex, *-checkpoint, klog.topics, klog.state, "
                   "klog.producer-ids) nor its first bytes "
                   "(registry offset and topic files)",
                   d.path);
            unknown++;
        }
        problems += d.problems;
        if (fflush(stdout) != 0) {
            kc_err("writing output: %s", strerror(errno));
            return KC_EXIT_FAIL;
        }
    }
    if (problems)
        fprintf(stderr, "klogcat: %d problem(s) found\n", problems);
    return problems || unknown ? KC_EXIT_FAIL : KC_EXIT_OK;
}
