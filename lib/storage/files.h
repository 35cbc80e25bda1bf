/*
 * files.h — small storage files other than segments and indexes:
 *   - Kafka checkpoint files (text; kafka-format.md section 4):
 *     recovery-point-offset-checkpoint, log-start-offset-checkpoint;
 *   - segment seals (libklog's own, "<20-digit base>.seal" beside the .log);
 *   - topic metadata (libklog's own, "klog.topics" at the log root);
 *   - the XXH3-64 digest of a file range.
 * libklog's own files start with an 8-byte magic and a u32 format version
 * and end with an XXH3-64 of everything before it; all are written through
 * klog__write_file_atomic (tmp, fsync, rename, fsync dir). Parsers never
 * trust their input: any malformed byte gives KLOG_ECORRUPT (or
 * KLOG_EVERSION for an unknown version), never a crash or over-read.
 */
#ifndef KLOG_STORAGE_FILES_H
#define KLOG_STORAGE_FILES_H

#include "platform/platform.h"

/* ------------------------------------------------------------ checkpoints */
/* Kafka's checkpoint text, shared by its files: lines ("\n" or "\r\n";
 * 0 at the end), integers as Java's parseInt/parseLong read them within
 * [lo, hi] (0 or -1), and exactly nf fields separated by Java's \s (0 or
 * -1: a missing, empty or extra field). */
typedef struct klog__lines {
    const uint8_t *p, *end;
} klog__lines_t;
KLOG__HIDDEN int klog__ckpt_next_line(klog__lines_t *r, const uint8_t **s, size_t *n);
KLOG__HIDDEN int klog__ckpt_parse_int(const uint8_t *s, size_t n, int64_t lo, int64_t hi,
                                      int64_t *out);
KLOG__HIDDEN int klog__ckpt_split(const uint8_t *s, size_t n, int nf, const uint8_t **f,
                                  size_t *fl);

typedef struct klog__ckpt_entry {
    char *topic; /* malloc'd */
    int32_t partition;
    int64_t offset;
} klog__ckpt_entry_t;

typedef struct klog__ckpt {
    klog__ckpt_entry_t *entries;
    size_t count;
} klog__ckpt_t;

/* Parse checkpoint text (version 0). Empty input = no entries. Errors:
 * KLOG_EVERSION (version != 0), KLOG_ECORRUPT (malformed line, count
 * mismatch, bad topic name or numbers), -ENOMEM. */
KLOG__HIDDEN int klog__ckpt_parse(const uint8_t *buf, size_t len, klog__ckpt_t *out);
/* Read and parse dir/name. A missing file gives 0 entries and returns
 * -ENOENT (callers treat it as "no checkpoint"). */
KLOG__HIDDEN int klog__ckpt_read(const char *dir, const char *name, klog__ckpt_t *out);
/* Write dir/name atomically (entries in the given order). */
KLOG__HIDDEN int klog__ckpt_write(const char *dir, const char *name,
                                  const klog__ckpt_entry_t *entries, size_t count);
/* Offset for (topic, partition), or dflt when absent. */
KLOG__HIDDEN int64_t klog__ckpt_lookup(const klog__ckpt_t *c, const char *topic,
                                       int32_t partition, int64_t dflt);
KLOG__HIDDEN void klog__ckpt_free(klog__ckpt_t *c);

/* ------------------------------------------------------------------ seals */
typedef struct klog__seal {
    int64_t base_offset;   /* the segment's base offset (also in its name) */
    int64_t next_offset;   /* last offset + 1 of the last batch */
    int64_t max_timestamp; /* max batch maxTimestamp, -1 when none */
    int64_t max_ts_offset; /* last offset of the batch holding max_timestamp */
    int64_t log_size;      /* bytes of the .log */
    uint64_t log_digest;   /* XXH3-64 of the .log's log_size bytes */
    uint32_t index_entries;     /* entries in the trimmed .index */
    uint32_t timeindex_entries; /* entries in the trimmed .timeindex */
} klog__seal_t;

#define KLOG__SEAL_SIZE 80 /* encoded size: magic 8, version 4, fields, pad, xxh3 8 */

/* Encode into exactly KLOG__SEAL_SIZE bytes. */
KLOG__HIDDEN void klog__seal_encode(const klog__seal_t *s, uint8_t *buf);
/* Decode and check magic, version, checksum and internal consistency
 * (sizes >= 0, next_offset >= base_offset). */
KLOG__HIDDEN int klog__seal_decode(const uint8_t *buf, size_t len, klog__seal_t *out);
/* Atomic write of dir/name; read of a path. */
KLOG__HIDDEN int klog__seal_write(const char *dir, const char *name, const klog__seal_t *s);
KLOG__HIDDEN int klog__seal_read(const char *path, klog__seal_t *out);

/* XXH3-64 of bytes [0, size) of fd, read with pread in large chunks.
 * -EIO/-errno on failure, KLOG_ECORRUPT if the file is shorter than size. */
KLOG__HIDDEN int klog__file_digest(int fd, int64_t size, uint64_t *digest);

/* --------------------------------------------------------- topic metadata */
#define KLOG__TOPIC_NAME_MAX 249
#define KLOG__TOPIC_CONF_MAX 32

typedef struct klog__topic_meta {
    char name[KLOG__TOPIC_NAME_MAX + 1];
    int32_t partitions;
    uint32_t nconf; /* explicit topic config overrides */
    struct {
        int32_t key;
        int64_t value;
    } conf[KLOG__TOPIC_CONF_MAX];
} klog__topic_meta_t;

/* Encode n topics (magic "KLOGTOPS", version 1, XXH3-64 trailer). */
KLOG__HIDDEN int klog__meta_encode(const klog__topic_meta_t *topics, size_t n, klog__buf_t *out);
/* Decode; *out is malloc'd (free()). Topic names are validated with
 * klog_topic_name_valid(), partitions in 1..100000, duplicates rejected. */
KLOG__HIDDEN int klog__meta_decode(const uint8_t *buf, size_t len, klog__topic_meta_t **out,
                                   size_t *n);
/* Read dir/klog.topics (missing file: 0 topics, returns 0) / write it atomically. */
KLOG__HIDDEN int klog__meta_read(const char *dir, klog__topic_meta_t **out, size_t *n);
KLOG__HIDDEN int klog__meta_write(const char *dir, const klog__topic_meta_t *topics, size_t n);
/* With dir/klog.topics missing: 1 when a partition directory ("<name>-<n>")
 * holds a non-empty .log (the log had topics: their list is lost), its
 * name copied to `name`; 0 when none does; or -errno. */
KLOG__HIDDEN int klog__meta_lost(const char *dir, char *name, size_t cap);

#endif
