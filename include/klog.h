/*
 * klog.h — libklog, an embeddable library for durable, append-only,
 * partitioned logs in Kafka's on-disk format.
 *
 * This header is the whole public API and its specification. Read it top to
 * bottom once; nothing in lib/ needs to be opened to use the library.
 *
 * OBJECTS
 *   klog_t            an open log directory (one process holds it for writing)
 *   klog_topic_t      a topic: a name, N partitions, a configuration
 *   klog_partition_t  one append-only log of record batches
 *   klog_producer_t   batches single records per partition (linger, delivery)
 *   klog_reader_t     a record iterator over one partition
 *   klog_lease_t      byte ranges of a partition pinned for zero-copy sending
 *   klog_segment_pin_t  one segment's files pinned whole (ship, back up, upload)
 *   klog_config_t     keyed settings for a log, a topic or a producer
 *   klog_builder_t    encodes records into one Kafka RecordBatch v2
 *   klog_batch_reader_t  decodes the records of one RecordBatch v2
 *   klog_registry_t   a consumer-group registry (memory, directory, ZooKeeper)
 *   klog_member_t     one member of a consumer group
 *
 * CONVENTIONS
 *   - Every function that can fail returns int: 0 on success, a negative
 *     error code otherwise (-errno for system failures, KLOG_E* below for
 *     libklog's own). Functions documented as returning counts return them
 *     as non-negative ints. klog_strerror() describes any code.
 *   - Constructors take the parent first and write the new object through
 *     the last argument. Every close and free function accepts NULL.
 *   - Strings are NUL-terminated; byte ranges are (pointer, length).
 *   - Offsets are int64 logical record positions; timestamps are int64
 *     milliseconds since the Unix epoch.
 *
 * THREADING
 *   object            may be used from
 *   ----------------  -----------------------------------------------------
 *   klog_t            any thread, concurrently (internally locked)
 *   klog_topic_t      any thread, concurrently
 *   klog_partition_t  any thread, concurrently: appends serialise on one
 *                     per-partition lock; reads never take it
 *   klog_producer_t   any thread, concurrently (produce, flush); close from
 *                     one thread once producing has stopped
 *   klog_reader_t     one thread at a time (each thread opens its own)
 *   klog_lease_t      one thread at a time; may be released from any thread
 *   klog_segment_pin_t  any thread (read-only); released from any thread
 *   klog_config_t     one thread at a time; copied when passed to an open
 *   klog_builder_t, klog_batch_reader_t   one thread at a time
 *   codec functions   any thread (pure functions over memory)
 *   klog_assign()     any thread (pure function)
 *   klog_registry_t   any thread, concurrently
 *   klog_member_t     one thread at a time
 */
#ifndef KLOG_H
#define KLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- export */
#if defined(KLOG_BUILDING_SHARED)
#define KLOG_API __attribute__((visibility("default")))
#else
#define KLOG_API
#endif

/* --------------------------------------------------------------- version */
#define KLOG_VERSION_MAJOR 0
#define KLOG_VERSION_MINOR 1
#define KLOG_VERSION_PATCH 0
#define KLOG_VERSION_NUMBER \
    (KLOG_VERSION_MAJOR * 10000 + KLOG_VERSION_MINOR * 100 + KLOG_VERSION_PATCH)

/* The version of the library actually linked (KLOG_VERSION_NUMBER form). */
KLOG_API int klog_version_number(void);
/* The same as a static string, e.g. "0.1.0". Never NULL. */
KLOG_API const char *klog_version_string(void);

/* ---------------------------------------------------------------- errors */
/*
 * libklog's own codes live in a reserved block starting at -30000, far from
 * any errno value. System failures are reported as -errno (e.g. -ENOENT,
 * -ENOSPC, -EIO, -ENOMEM, -EINVAL for a bad argument).
 *
 * Idempotent and transactional appends are refused with codes that map
 * one to one onto Kafka's: KLOG_EOUTOFORDER (OUT_OF_ORDER_SEQUENCE_NUMBER:
 * the batch's first sequence does not follow the producer's last one),
 * KLOG_EFENCED (INVALID_PRODUCER_EPOCH: an older epoch than the partition
 * has seen), KLOG_EUNKNOWNPRODUCER (UNKNOWN_PRODUCER_ID: no state for the
 * producer, e.g. expired, and a first sequence other than 0), KLOG_EEPOCHSEQ
 * (OUT_OF_ORDER_SEQUENCE_NUMBER: the first batch of a new epoch must have
 * sequence 0), KLOG_ETXNSTATE (INVALID_TXN_STATE: a non-transactional write
 * while the producer's transaction is open) and KLOG_ECOORDFENCED
 * (TRANSACTION_COORDINATOR_FENCED: a marker from an older coordinator
 * epoch). A retried batch that duplicates one of the producer's last five
 * is not an error: the append succeeds with the original offsets.
 *
 * X(NAME, value, description)
 */
#define KLOG_ERRNO_MAP(X)                                                          \
    X(KLOG_ECORRUPT, -30000, "corrupt data on disk")                               \
    X(KLOG_ECRC, -30001, "batch CRC-32C mismatch")                                 \
    X(KLOG_EMAGIC, -30002, "unsupported batch magic (not RecordBatch v2)")         \
    X(KLOG_EBATCHSIZE, -30003, "batch length field invalid or inconsistent")      \
    X(KLOG_ETRUNCATED, -30004, "input ends before the declared length")           \
    X(KLOG_EVARINT, -30005, "varint longer than its maximum width")               \
    X(KLOG_ERECLEN, -30006, "record length differs from the bytes it holds")      \
    X(KLOG_ERECOVERRUN, -30007, "record key, value or header runs past its end")  \
    X(KLOG_EHDRCOUNT, -30008, "header count negative or larger than the record")  \
    X(KLOG_EHDRKEY, -30009, "header key length negative (null header key)")       \
    X(KLOG_ERECCOUNT, -30010, "record count negative or differs from contents")   \
    X(KLOG_ENEGLEN, -30011, "key or value length below -1")                       \
    X(KLOG_EOFFSETDELTA, -30012, "record offset delta inconsistent with batch")   \
    X(KLOG_ECODEC, -30013, "unsupported compression codec")                       \
    X(KLOG_EDECOMPRESS, -30014, "compressed records are corrupt")                 \
    X(KLOG_ETOOLARGE, -30015, "batch or record larger than the configured limit") \
    X(KLOG_EBADNAME, -30016, "invalid topic name")                                \
    X(KLOG_ENOTOPIC, -30017, "no such topic")                                     \
    X(KLOG_ETOPICEXISTS, -30018, "topic already exists")                          \
    X(KLOG_ENOPARTITION, -30019, "no such partition")                             \
    X(KLOG_ELOCKED, -30020, "log directory is locked by another process")         \
    X(KLOG_EOFFSET, -30021, "offset out of range")                                \
    X(KLOG_EFAILED, -30022, "partition failed a write or fsync; reopen the log")  \
    X(KLOG_EBUSY, -30023, "object still in use (leases or readers held)")         \
    X(KLOG_ETIMEDOUT, -30024, "timed out")                                        \
    X(KLOG_EREADONLY, -30025, "log was opened read-only")                         \
    X(KLOG_EVERSION, -30026, "file format version not supported")                \
    X(KLOG_ECONFIG, -30027, "configuration key unknown or value out of range")    \
    X(KLOG_ESEQUENCE, -30028, "batch offsets not after the log end offset")      \
    X(KLOG_EEMPTY, -30029, "no records given")                                    \
    X(KLOG_ECLOSED, -30030, "object closed or being closed")                      \
    X(KLOG_EBUFFERFULL, -30031, "producer buffer full")                           \
    X(KLOG_ECLAIMED, -30032, "partition already claimed by another member")       \
    X(KLOG_ENOTFOUND, -30033, "not found")                                       \
    X(KLOG_ENOTSUP, -30034, "feature not built into this library")              \
    X(KLOG_EOUTOFORDER, -30035, "producer sequence number out of order")          \
    X(KLOG_EFENCED, -30036, "producer epoch older than the partition's (fenced)") \
    X(KLOG_EUNKNOWNPRODUCER, -30037, "producer id unknown to the partition")      \
    X(KLOG_EEPOCHSEQ, -30038, "new producer epoch must start at sequence 0")      \
    X(KLOG_ETXNSTATE, -30039, "write does not fit the producer's transaction")    \
    X(KLOG_ECOORDFENCED, -30040, "transaction marker from an older coordinator")

enum klog_error {
#define KLOG__ERR_ENUM(name, val, desc) name = (val),
    KLOG_OK = 0,
    KLOG_ERRNO_MAP(KLOG__ERR_ENUM)
#undef KLOG__ERR_ENUM
};

/* A human-readable description of any code this library returns (libklog's
 * own codes and -errno values). Never NULL; unknown codes get a generic
 * string. Thread-safe. */
KLOG_API const char *klog_strerror(int err);
/* The symbolic name of a code, e.g. "KLOG_ECRC" or "ENOENT"; "KLOG_OK" for 0.
 * Never NULL. Thread-safe. */
KLOG_API const char *klog_err_name(int err);

/* ----------------------------------------------------- log callback */
enum klog_log_level { KLOG_LOG_ERROR = 0, KLOG_LOG_WARN = 1, KLOG_LOG_INFO = 2, KLOG_LOG_DEBUG = 3 };
/* Receives human detail (which file, which byte, what recovery did). Called
 * from whichever library thread noticed; must not call back into the log.
 * The library never writes to stderr itself. */
typedef void (*klog_log_fn)(void *ctx, int level, const char *msg);

/* --------------------------------------------------------------- records */

#define KLOG_NULL_LEN (-1)              /* key_len/value_len of a null key or value */
#define KLOG_TIMESTAMP_NOW INT64_MIN    /* on input: the current time (read once per batch) */

/* A record header: key is a UTF-8 string (never null), value may be null. */
typedef struct klog_header {
    const char *key;
    int32_t key_len;
    const void *value;
    int32_t value_len; /* KLOG_NULL_LEN for a null value */
} klog_header_t;

/*
 * A record. As input (append, builder): offset is ignored; key/value with
 * len KLOG_NULL_LEN are null, len 0 is empty (pointer may then be NULL);
 * headers points at header_count headers. As output (readers): a view into
 * library-owned memory, valid until the next call on the object that
 * produced it; null key/value have NULL pointers and KLOG_NULL_LEN.
 */
typedef struct klog_record {
    int64_t offset;
    int64_t timestamp;
    const void *key;
    int32_t key_len;
    int32_t value_len;
    const void *value;
    const klog_header_t *headers;
    uint32_t header_count;
} klog_record_t;

/* ---------------------------------------------------------------- codec */
/*
 * Kafka RecordBatch v2 (magic 2). The bytes produced are the bytes Kafka
 * writes and sends; batches from any Kafka client are accepted as input.
 */

enum klog_compression {
    KLOG_COMPRESSION_NONE = 0,
    KLOG_COMPRESSION_GZIP = 1,
    KLOG_COMPRESSION_SNAPPY = 2,
    KLOG_COMPRESSION_LZ4 = 3,
    KLOG_COMPRESSION_ZSTD = 4
};

/* 1 if this build can encode and decode the codec, else 0. Thread-safe. */
KLOG_API int klog_compression_supported(int codec);
/* "none", "gzip", "snappy", "lz4", "zstd", or NULL for an unknown value. */
KLOG_API const char *klog_compression_name(int codec);
/* Parse a codec name as above; returns the codec or KLOG_ECODEC. */
KLOG_API int klog_compression_parse(const char *name);

#define KLOG_BATCH_HEADER_SIZE 61

/* Attributes bits (low byte of the int16 attributes field). */
#define KLOG_ATTR_CODEC_MASK 0x07
#define KLOG_ATTR_LOG_APPEND_TIME 0x08
#define KLOG_ATTR_TRANSACTIONAL 0x10
#define KLOG_ATTR_CONTROL 0x20

/* The fixed 61-byte header of a batch, decoded. */
typedef struct klog_batch_info {
    int64_t base_offset;
    int32_t batch_length;      /* total size - 12 */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;              /* as stored */
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
    int compression;           /* attributes & KLOG_ATTR_CODEC_MASK */
    size_t size;               /* total bytes: batch_length + 12 */
} klog_batch_info_t;

/* CRC-32C (Castagnoli) of buf, continuing from crc (start with 0).
 * Uses SSE4.2 when the CPU has it (detected once at run time), else a
 * portable slicing-by-8 table. Thread-safe. */
KLOG_API uint32_t klog_crc32c(uint32_t crc, const void *buf, size_t len);

/* Decode the fixed header of the batch at the start of buf without
 * checking the CRC. Returns 0, KLOG_ETRUNCATED (fewer than 61 bytes or
 * fewer than the declared size), KLOG_EMAGIC or KLOG_EBATCHSIZE. */
KLOG_API int klog_batch_header(const void *buf, size_t len, klog_batch_info_t *info);

/* Validation depth for klog_batch_validate(). */
#define KLOG_VALIDATE_HEADER 0x1   /* sizes, magic, CRC */
#define KLOG_VALIDATE_RECORDS 0x2  /* also decode every record (decompressing) */

/*
 * Validate exactly one batch occupying buf[0, len) as received from outside:
 * size fields, magic, CRC-32C, and with KLOG_VALIDATE_RECORDS every record's
 * declared lengths and the record count. Fills info when non-NULL. Returns 0
 * or the specific error (KLOG_ECRC, KLOG_ERECLEN, ...). Thread-safe; allocates
 * only to decompress.
 */
KLOG_API int klog_batch_validate(const void *buf, size_t len, unsigned flags,
                                 klog_batch_info_t *info);

/* Rewrite fields not covered by the CRC, in place (as a broker assigning
 * offsets does). buf must hold at least the 61-byte header. */
KLOG_API void klog_batch_set_base_offset(void *buf, int64_t base_offset);
KLOG_API void klog_batch_set_leader_epoch(void *buf, int32_t epoch);

/*
 * Batch builder: accumulates records and produces one batch.
 *   klog_builder_new(codec, &b);
 *   klog_builder_add(b, &rec) ...;
 *   klog_builder_finish(b, &bytes, &len);   // bytes owned by b
 *   klog_builder_reset(b);                  // reuse buffers for the next batch
 * Base offset 0, leader epoch -1, producer id/epoch/sequence -1, CreateTime.
 * Errors: -ENOMEM, KLOG_ECODEC (codec not built in), -EINVAL (bad record:
 * negative length other than KLOG_NULL_LEN, NULL pointer with length > 0),
 * KLOG_ETOOLARGE (batch would exceed INT32_MAX bytes).
 */
typedef struct klog_builder klog_builder_t;
KLOG_API int klog_builder_new(int codec, klog_builder_t **out);
KLOG_API int klog_builder_add(klog_builder_t *b, const klog_record_t *rec);
/* Records added since the last reset, and the uncompressed bytes they take
 * (the encoded records, not counting the 61-byte batch header). */
KLOG_API size_t klog_builder_count(const klog_builder_t *b);
KLOG_API size_t klog_builder_size(const klog_builder_t *b);
/* Encode (compress, CRC). *batch stays valid until reset/add/free. Returns
 * KLOG_EEMPTY when no record was added. */
KLOG_API int klog_builder_finish(klog_builder_t *b, const void **batch, size_t *len);
KLOG_API void klog_builder_reset(klog_builder_t *b);
KLOG_API void klog_builder_free(klog_builder_t *b);
/*
 * Producer fields of the batch being built, kept until the next reset:
 * producer id (-1 none), epoch, base sequence (-1 none) and attribute
 * flags (KLOG_ATTR_TRANSACTIONAL, KLOG_ATTR_CONTROL; a control batch is
 * what klog_append_marker writes: clients may not append one). What an
 * idempotent or transactional producer sends (see klog_append_batch for
 * the rules a partition applies to them). Errors: -EINVAL (producer id
 * below -1, other flags). klog_builder_set_leader_epoch sets the
 * partitionLeaderEpoch (-1 none) as a replicating leader stamps it.
 */
KLOG_API int klog_builder_set_producer(klog_builder_t *b, int64_t producer_id,
                                       int16_t producer_epoch, int32_t base_sequence,
                                       unsigned attr_flags);
KLOG_API void klog_builder_set_leader_epoch(klog_builder_t *b, int32_t epoch);

/* One-shot: encode n records into a new malloc'd batch (*out, caller frees). */
KLOG_API int klog_batch_encode(const klog_record_t *recs, size_t n, int codec,
                               void **out, size_t *out_len);

/*
 * Batch reader: iterate the records of one batch as views. Uncompressed
 * record bytes are not copied; compressed batches are decompressed once into
 * a buffer the reader owns and reuses.
 *   klog_batch_reader_new(&r);
 *   klog_batch_reader_open(r, buf, len, flags);  // flags: KLOG_VALIDATE_*
 *   while ((rc = klog_batch_reader_next(r, &rec)) == 1) ...;
 * open() checks the header (and CRC with KLOG_VALIDATE_HEADER; with
 * KLOG_VALIDATE_RECORDS it also decodes every record first, so a malformed
 * batch fails at open). len may exceed the batch: only the first batch
 * (info->size bytes) is read. next() returns 1 with a record, 0 at the end
 * (after verifying the count and that no bytes are left over), or a
 * negative error, which then repeats on every later next(). Record views
 * (and header arrays) stay valid until the next call on r. buf must outlive
 * the reading.
 */
typedef struct klog_batch_reader klog_batch_reader_t;
KLOG_API int klog_batch_reader_new(klog_batch_reader_t **out);
KLOG_API int klog_batch_reader_open(klog_batch_reader_t *r, const void *buf, size_t len,
                                    unsigned flags);
KLOG_API const klog_batch_info_t *klog_batch_reader_info(const klog_batch_reader_t *r);
KLOG_API int klog_batch_reader_next(klog_batch_reader_t *r, klog_record_t *rec);
KLOG_API void klog_batch_reader_free(klog_batch_reader_t *r);

/* -------------------------------------------------------- configuration */
/*
 * Keys never renumber. Values are int64. A log's configuration provides the
 * defaults for its topics; a topic's (given at creation) overrides them and
 * is persisted with the topic.
 */
enum klog_conf_key {
    /* topic-level (also log defaults) */
    KLOG_CONF_SEGMENT_BYTES = 1,        /* roll size; default 1 GiB, 1 KiB..2 GiB-1 */
    KLOG_CONF_SEGMENT_MS = 2,           /* roll age; default 7 days, >= 1 */
    KLOG_CONF_INDEX_INTERVAL_BYTES = 3, /* bytes between index entries; default 4096 */
    KLOG_CONF_INDEX_MAX_BYTES = 4,      /* .index preallocation; default 10 MiB, >= 64 */
    KLOG_CONF_RETENTION_MS = 5,         /* default 7 days; -1 = keep forever */
    KLOG_CONF_RETENTION_BYTES = 6,      /* per partition; default -1 = unlimited */
    KLOG_CONF_MAX_BATCH_BYTES = 7,      /* largest accepted batch; default 1048588 */
    KLOG_CONF_FLUSH_MESSAGES = 8,       /* fsync after N records; 0 = never by count;
                                           1 = every append (group commit) */
    KLOG_CONF_FLUSH_MS = 9,             /* fsync when data is this old; 0 = never by time */
    KLOG_CONF_VISIBILITY = 10,          /* KLOG_VISIBLE_WRITTEN (default) or _FLUSHED */
    KLOG_CONF_COMPRESSION = 11,         /* codec for klog_append(); default none */
    /* compaction (Kafka's names; see "Compaction" below) */
    KLOG_CONF_CLEANUP_POLICY = 12,      /* cleanup.policy: KLOG_CLEANUP_*; default DELETE */
    KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO = 13, /* min.cleanable.dirty.ratio in thousandths;
                                           default 500 (0.5), 0..1000 */
    KLOG_CONF_MIN_COMPACTION_LAG_MS = 14, /* min.compaction.lag.ms; default 0 */
    KLOG_CONF_MAX_COMPACTION_LAG_MS = 15, /* max.compaction.lag.ms; default INT64_MAX, >= 1 */
    KLOG_CONF_DELETE_RETENTION_MS = 16, /* delete.retention.ms: how long tombstones and
                                           transaction markers stay once cleaned;
                                           default 86400000 (1 day), >= 0 */
    KLOG_CONF_PRODUCER_ID_EXPIRATION_MS = 17, /* producer.id.expiration.ms: the state of a
                                           producer id (idempotent or transactional)
                                           whose last batch's max timestamp is this old
                                           and that has no open transaction is dropped
                                           by klog_retention() and at open; its next
                                           batch is then taken as a new producer's
                                           (a retry of an old batch is written again).
                                           Default 86400000 (1 day), >= 1 */
    /* log-level only */
    KLOG_CONF_MAX_OPEN_FILES = 32,      /* LRU bound on descriptors held by segments
                                           (3 per open segment: .log, .index,
                                           .timeindex); default half the soft
                                           RLIMIT_NOFILE, 64..65536; an open that
                                           fails with EMFILE first closes cold ones */
    KLOG_CONF_CHECKPOINT_MS = 33,       /* checkpoint write interval; default 60000 */
    KLOG_CONF_DEFAULT_PARTITIONS = 34,  /* partitions when 0 is asked; default 1 */
    KLOG_CONF_RETENTION_CHECK_MS = 35,  /* background retention interval; default
                                           300000 (5 min); 0 = only klog_retention() */
    KLOG_CONF_CLEANER_ENABLE = 36,      /* 1 = run the background cleaner thread;
                                           default 0 (klog_compact() only) */
    KLOG_CONF_CLEANER_IO_MAX_BYTES = 37, /* cleaner I/O limit, bytes/s read + written;
                                           default 0 = unlimited */
    KLOG_CONF_CLEANER_DEDUPE_BYTES = 38, /* log.cleaner.dedupe.buffer.size: offset map
                                           memory; default 128 MiB, 4096..2^40 */
    KLOG_CONF_CLEANER_BACKOFF_MS = 39,  /* idle wait between cleaner checks; default 15000 */
    KLOG_CONF_MAX_STATE_MAPS = 40,      /* LRU bound on partitions whose klog.state page
                                           (watermark and offsets published to read-only
                                           openers) is mapped at once, each one mapping
                                           and one resident page; a cold page is
                                           unmapped and mapped again when next used;
                                           default 16384, 1..2^24 */
    /* producer-only (klog_producer_new; see the producer section) */
    KLOG_CONF_LINGER_MS = 64,           /* max wait for a batch to fill; default 5,
                                           0..3600000 */
    KLOG_CONF_BATCH_BYTES = 65,         /* close a batch at this many uncompressed record
                                           bytes; default 16384, 1..1 GiB (capped by the
                                           topic's KLOG_CONF_MAX_BATCH_BYTES) */
    KLOG_CONF_BATCH_RECORDS = 66,       /* close a batch at this many records; default 0
                                           = no count limit */
    KLOG_CONF_BUFFER_BYTES = 67,        /* bytes of records accepted but not yet
                                           delivered; default 32 MiB, >= 1024 */
    KLOG_CONF_BLOCK_MS = 68,            /* how long klog_produce waits for buffer room;
                                           default 60000; 0 = fail at once */
    KLOG_CONF_PARTITIONER = 69,         /* KLOG_PARTITIONER_*; default XXH3 */
    KLOG_CONF_DURABLE_DELIVERY = 70,    /* 1 = fsync (group commit) and report each
                                           record once durable; default 0 */
    KLOG_CONF_ENABLE_IDEMPOTENCE = 71,  /* enable.idempotence: 1 = stamp every batch with
                                           a producer id, epoch and per-partition
                                           sequence (see "Idempotence" in the producer
                                           section); default 0 */
    KLOG_CONF_RETRIES = 72,             /* retries: further attempts of an append that
                                           failed transiently; default 0, or INT32_MAX
                                           (bounded by the delivery timeout) when
                                           idempotence is on and this is not set;
                                           0..INT32_MAX */
    KLOG_CONF_RETRY_BACKOFF_MS = 73,    /* retry.backoff.ms: wait before each retry;
                                           default 100, 0..60000 */
    KLOG_CONF_DELIVERY_TIMEOUT_MS = 74, /* delivery.timeout.ms: no retry starts later
                                           than this after a batch's first attempt;
                                           default 120000, 1..INT32_MAX */
    KLOG_CONF_PRODUCER_ID = 75,         /* idempotence: use this producer id instead of
                                           allocating one (an identity the application
                                           keeps, with KLOG_CONF_PRODUCER_EPOCH);
                                           default -1 = allocate, 0..INT64_MAX */
    KLOG_CONF_PRODUCER_EPOCH = 76       /* idempotence: the epoch with an explicit
                                           KLOG_CONF_PRODUCER_ID; a new instance of the
                                           same identity takes a higher one and fences
                                           the older; default 0, 0..32767 */
};

/* KLOG_CONF_CLEANUP_POLICY values (bits): "delete", "compact", "compact,delete". */
#define KLOG_CLEANUP_DELETE 1  /* time/size retention deletes old segments */
#define KLOG_CLEANUP_COMPACT 2 /* the cleaner keeps the latest record of each key */

/* Visibility policy: which appended records readers may see. */
#define KLOG_VISIBLE_WRITTEN 0 /* once written to the file (Kafka's default) */
#define KLOG_VISIBLE_FLUSHED 1 /* only once fsynced (the 2011 paper's policy) */

typedef struct klog_config klog_config_t;
/* Errors: -ENOMEM. */
KLOG_API int klog_config_new(klog_config_t **out);
/* Errors: KLOG_ECONFIG (unknown key or value out of range; cfg unchanged),
 * KLOG_ECODEC (KLOG_CONF_COMPRESSION names a codec not built in). */
KLOG_API int klog_config_set(klog_config_t *cfg, int key, int64_t value);
/* Current value (explicit or default). Errors: KLOG_ECONFIG for an unknown key. */
KLOG_API int klog_config_get(const klog_config_t *cfg, int key, int64_t *value);
/* Set the log callback used by objects opened with this configuration. */
KLOG_API void klog_config_set_logger(klog_config_t *cfg, klog_log_fn fn, void *ctx);
KLOG_API void klog_config_free(klog_config_t *cfg);

/* ------------------------------------------------------------ log directory */

typedef struct klog klog_t;
typedef struct klog_topic klog_topic_t;
typedef struct klog_partition klog_partition_t;

#define KLOG_OPEN_RDONLY 0x1 /* read-only: no lock, follows a writer in another process */
#define KLOG_OPEN_NOCREATE 0x2 /* fail with -ENOENT if the directory does not exist */

/*
 * Open (creating if absent) the log directory dir. Read-write opens take an
 * exclusive lock (file "klog.lock"); a second read-write opener, in this or
 * another process, gets KLOG_ELOCKED. Read-only opens (KLOG_OPEN_RDONLY) take
 * no lock, may run alongside a writer in another process, and see data up to
 * the writer's published high watermark.
 * cfg may be NULL (defaults); it is copied.
 * A read-write open starts one background thread (sealing rolled segments,
 * time-based flushes, checkpoints, retention), and with
 * KLOG_CONF_CLEANER_ENABLE the cleaner's thread (klog_compact()), with all
 * signals blocked, so signals stay with the application's own threads.
 * Opening recovers what an unclean shutdown left (see README "Guarantees");
 * what recovery did is reported through the log callback.
 * Errors: KLOG_ELOCKED, -ENOENT, -EACCES, -ENOTDIR, KLOG_ECORRUPT (metadata
 * unreadable; or data the log's own metadata says existed is missing: a
 * sealed segment's .log gone while its .seal remains, or klog.topics gone
 * while partition directories hold data; the log callback names the file
 * and the offsets lost), KLOG_EVERSION, -ENOMEM, other -errno.
 */
KLOG_API int klog_open(const char *dir, const klog_config_t *cfg, unsigned flags, klog_t **out);
/*
 * Flush everything, write checkpoints and the clean-shutdown marker, release
 * the lock and free the log and every topic/partition handle. Fails with
 * KLOG_EBUSY, freeing nothing, while leases or readers are still open. The
 * cleaner is stopped first, whatever the outcome (a pass in progress ends
 * at its next batch with nothing changed; klog_compact() then returns
 * KLOG_ECLOSED).
 * NULL is accepted.
 */
KLOG_API int klog_close(klog_t *log);
/* fsync every partition with unflushed data and write checkpoints. */
KLOG_API int klog_sync(klog_t *log);

/*
 * Adopt a log directory written by Apache Kafka (one entry of a stopped
 * broker's log.dirs, or a copy of it) and open it as klog_open() does.
 * Every partition directory "<topic>-<N>" becomes partition N of topic
 * <topic>; Kafka's segments, indexes and checkpoints are used in place and
 * Kafka's other files stay where they are (partition.metadata,
 * leader-epoch-checkpoint, producer snapshots, .txnindex files; libklog
 * reads those whose state it keeps, in Kafka's format), so a Kafka broker
 * can still take the directory back; only Kafka's pending topic
 * deletions ("-delete" directories) are completed, as Kafka's next start
 * would complete them. The only
 * file written before the open is libklog's topic metadata ("klog.topics");
 * the open then recovers what needs it, as klog_open() does (a torn tail
 * left by a broker crash is cut, as Kafka's recovery would cut it).
 * Kafka keeps topic configuration in its cluster metadata, not in the log
 * directory: topic_cfg (may be NULL) gives every adopted topic its
 * configuration, as klog_topic_create() would (e.g. the broker's
 * segment.bytes and retention). cfg is the log's, as for klog_open().
 * Kafka's internal topics (names starting with "__") are skipped unless
 * flags has KLOG_ADOPT_INTERNAL. The broker must be stopped: adopting a
 * directory a broker still writes is undefined.
 * Errors: -EEXIST (already a libklog directory: klog.topics exists),
 * -ENOENT (no directory, or no partition directory in it), KLOG_ECORRUPT
 * (a topic's partitions are not exactly 0..N-1, e.g. a directory from one
 * broker of a cluster), -EINVAL (unknown flag), and klog_open()'s errors,
 * after which klog.topics is removed again. Detail goes to cfg's log
 * callback. Not thread-safe with other opens of the same directory.
 */
#define KLOG_ADOPT_INTERNAL 0x1 /* also adopt Kafka's internal "__" topics */
KLOG_API int klog_adopt(const char *dir, const klog_config_t *cfg, const klog_config_t *topic_cfg,
                        unsigned flags, klog_t **out);

/* Is name a valid topic name? Kafka's rule: 1..249 chars of [a-zA-Z0-9._-],
 * not "." or "..". Returns 1 or 0. */
KLOG_API int klog_topic_name_valid(const char *name);

/*
 * Create a topic with `partitions` partitions (0 = the log's default) and
 * optional topic configuration (NULL = the log's). Persisted atomically.
 * Errors: KLOG_EBADNAME, KLOG_ETOPICEXISTS, KLOG_ECONFIG, KLOG_EREADONLY,
 * -EINVAL (partitions < 0 or > 100000), -errno.
 */
KLOG_API int klog_topic_create(klog_t *log, const char *name, int32_t partitions,
                               const klog_config_t *topic_cfg);
/* Delete a topic and all its data. Errors: KLOG_ENOTOPIC, KLOG_EBUSY (a
 * reader or lease is open on it, or a cleaning pass runs on one of its
 * partitions), KLOG_EREADONLY, -errno. */
KLOG_API int klog_topic_delete(klog_t *log, const char *name);
/*
 * Change a topic's configuration after creation (Kafka's kafka-configs
 * --alter). Every key set in `changes` (may be NULL) becomes the topic's
 * own value; every key of `remove` (nremove keys; NULL when 0) loses the
 * topic's own value, so the log's configuration or the default applies
 * again. Only topic-level keys (KLOG_CONF_SEGMENT_BYTES ..
 * KLOG_CONF_DELETE_RETENTION_MS) are accepted. The new values are persisted
 * atomically in klog.topics before the call returns, and each applies from
 * its next use (segment.bytes at the next append's roll check,
 * segment.index.bytes to segments created afterwards, retention at the next
 * retention pass). Thread-safe: appends, rolls and reads of the topic may
 * go on in other threads; each sees a key's old or new value, never the
 * default in between.
 * Errors: KLOG_EBADNAME, KLOG_ENOTOPIC, KLOG_EREADONLY, KLOG_ECONFIG (a key
 * that is not a topic key, or more than 32 overrides), -EINVAL, -ENOMEM,
 * -errno (writing klog.topics; nothing changed then).
 */
KLOG_API int klog_topic_alter_config(klog_t *log, const char *name, const klog_config_t *changes,
                                     const int *remove, size_t nremove);
/*
 * Grow a topic to `partitions` partitions (Kafka's kafka-topics --alter
 * --partitions): the new partitions, numbered from the old count, start
 * empty at offset 0; existing ones are untouched. Keys hash differently
 * afterwards (XXH3(key) % partitions), as in Kafka. Persisted atomically in
 * klog.topics; on failure the new partition directories are removed again.
 * Handles from klog_partition_get() stay valid. Thread-safe: other
 * threads may go on appending and reading, and calling
 * klog_partition_get() and klog_topic_partition_count(), which see the new
 * partitions once the call has made them durable; a producer
 * (klog_producer_t) keeps the partition count it first saw for a topic, so
 * close and reopen it to spread keys over the new partitions. Read-only
 * openers in other processes see the new partitions
 * when they next open the log; a group registry keeps the partition count
 * it was given (publish the new one to it).
 * Errors: KLOG_EBADNAME, KLOG_ENOTOPIC, KLOG_EREADONLY, -EINVAL (partitions
 * not above the current count, or above 100000), -ENOMEM, -errno.
 */
KLOG_API int klog_topic_add_partitions(klog_t *log, const char *name, int32_t partitions);
/* List topic names, sorted. *names is one malloc'd block (array + strings):
 * free it with free(). Returns the count (>= 0) or an error. */
KLOG_API int klog_topic_list(klog_t *log, char ***names);
/* Look up a topic. The handle belongs to the log and stays valid until the
 * topic is deleted or the log closed. Errors: KLOG_EBADNAME, KLOG_ENOTOPIC. */
KLOG_API int klog_topic_get(klog_t *log, const char *name, klog_topic_t **out);
KLOG_API const char *klog_topic_name(const klog_topic_t *t);
KLOG_API int32_t klog_topic_partition_count(const klog_topic_t *t);
/* The topic's effective configuration value for key. */
KLOG_API int klog_topic_config(const klog_topic_t *t, int key, int64_t *value);
/* Partition handle (owned by the log, valid as the topic). Errors:
 * KLOG_ENOPARTITION. */
KLOG_API int klog_partition_get(klog_topic_t *t, int32_t partition, klog_partition_t **out);
/* Convenience: topic lookup + partition lookup. */
KLOG_API int klog_partition(klog_t *log, const char *topic, int32_t partition,
                            klog_partition_t **out);

/* ---------------------------------------------------------------- partition */

typedef struct klog_offsets {
    int64_t log_start;      /* first retained offset */
    int64_t high_watermark; /* first offset not yet visible to readers */
    int64_t log_end;        /* next offset to be assigned */
    int64_t recovery_point; /* everything below is fsynced */
    int64_t segments;       /* number of segments */
    int64_t bytes;          /* bytes of .log data */
} klog_offsets_t;

/* An aborted transaction as a Fetch response lists it. */
typedef struct klog_aborted_txn {
    int64_t producer_id;
    int64_t first_offset; /* its first batch */
    int64_t last_offset;  /* its ABORT marker */
} klog_aborted_txn_t;

/* Snapshot of the partition's offsets. Lock-free; any thread. */
KLOG_API int klog_partition_offsets(klog_partition_t *p, klog_offsets_t *out);
KLOG_API const char *klog_partition_topic(const klog_partition_t *p);
KLOG_API int32_t klog_partition_id(const klog_partition_t *p);

/*
 * Append records as one batch (compressed per the topic's
 * KLOG_CONF_COMPRESSION). Offsets are assigned consecutively; the first is
 * written to *base_offset (may be NULL). Returns once the batch is written
 * (and, with KLOG_CONF_FLUSH_MESSAGES = 1, fsynced).
 * Errors: KLOG_EEMPTY (n == 0), -EINVAL (bad record), KLOG_ETOOLARGE,
 * KLOG_EFAILED (an earlier write/fsync failed: reopen), KLOG_EREADONLY,
 * -ENOSPC, -EIO, other -errno.
 */
KLOG_API int klog_append(klog_partition_t *p, const klog_record_t *recs, size_t n,
                         int64_t *base_offset);
/*
 * Append one pre-encoded batch as received from a producer (wire bytes).
 * Validated (header, CRC, records), then stored verbatim except its
 * baseOffset, which is assigned. The caller's buffer is not modified.
 * A batch with a producer id (idempotent or transactional producer, see
 * klog_builder_set_producer) is checked against the partition's producer
 * state first, with Kafka's rules: a retry of one of the producer's last 5
 * batches (same epoch and sequences) is not written again and the call
 * returns 0 with *base_offset the original batch's; otherwise
 * KLOG_EFENCED (epoch older than the partition's), KLOG_EEPOCHSEQ (a new
 * epoch not starting at sequence 0), KLOG_EOUTOFORDER (sequence not the
 * last + 1, wrapping after INT32_MAX to 0), KLOG_ETXNSTATE (a
 * non-transactional batch while the producer's transaction is open) and
 * -EINVAL (no sequence, or a control batch: use klog_append_marker) refuse
 * it, writing nothing. A producer the partition has no state for starts
 * at any sequence (Kafka 2.5+). State of producers idle for
 * producer.id.expiration.ms (1 day, by batch timestamps) with no open
 * transaction is dropped by klog_retention() and at open. klog_append's
 * batches carry no producer id and skip all of this.
 * Errors: as klog_append, plus any batch validation error.
 */
KLOG_API int klog_append_batch(klog_partition_t *p, const void *batch, size_t len,
                               int64_t *base_offset);
/*
 * Follower append: one or more concatenated batches that already carry their
 * offsets (as replicated from a leader). The first batch must start at or
 * after the log end offset and offsets must increase; gaps are allowed.
 * Stored verbatim. As a Kafka follower, the whole call is one append: one
 * roll decision for all of it (so it lands in one segment; at most
 * KLOG_CONF_SEGMENT_BYTES in all) and at most one index entry, so the
 * .index/.timeindex equal a Kafka follower's fed the same fetch
 * responses. A batch whose last offset is more than INT32_MAX above the
 * active segment's base rolls to a new segment based at that batch's
 * first offset (only a call whose own offsets span more than INT32_MAX is
 * split over several segments). Producer state, transaction markers and
 * the epoch cache follow them as a Kafka follower's do (no sequence or
 * epoch checks; a non-transactional batch inside an open transaction of
 * its producer is refused with KLOG_ETXNSTATE, a malformed marker with
 * KLOG_ECORRUPT); all batches are checked before any is written.
 * Errors: KLOG_ESEQUENCE, KLOG_ETOOLARGE, validation errors, as klog_append.
 */
KLOG_API int klog_append_follower(klog_partition_t *p, const void *batches, size_t len);
/*
 * Remove every batch at or above `offset` (whole batches: a batch that
 * straddles offset is removed). The log end becomes the end of the last kept
 * batch (or `offset` if that is an empty tail). Errors: KLOG_EOFFSET
 * (offset below log start), KLOG_EBUSY (a lease is held on the segment
 * being cut or on a later one; nothing is changed).
 */
KLOG_API int klog_truncate(klog_partition_t *p, int64_t offset);
/*
 * Transactions, storage side. Write a transaction marker (a control batch
 * with one COMMIT or ABORT record, Kafka's EndTransactionMarker) for
 * producer_id/producer_epoch, as a transaction coordinator's
 * WriteTxnMarkers does; coordinator_epoch is recorded. The marker ends the
 * producer's open transaction (if any): an aborted one is added to the
 * active segment's .txnindex with the last stable offset of that moment.
 * The marker's offset goes to *offset (may be NULL). Thread-safe as
 * klog_append. Errors: -EINVAL (producer_id or epoch negative, commit not
 * 0/1), KLOG_EFENCED (epoch older than the producer's), KLOG_ECOORDFENCED
 * (coordinator epoch older than the last marker's), KLOG_EREADONLY, as
 * klog_append.
 */
KLOG_API int klog_append_marker(klog_partition_t *p, int64_t producer_id, int16_t producer_epoch,
                                int commit, int32_t coordinator_epoch, int64_t *offset);
/*
 * The last stable offset: the first offset of the oldest transaction still
 * open or whose marker is not yet below the high watermark, else the high
 * watermark (what a Fetch response reports, and where read_committed
 * readers stop). Any thread. Errors: -EINVAL, -ENOTSUP (read-only open:
 * no producer state is kept there).
 */
KLOG_API int klog_partition_lso(klog_partition_t *p, int64_t *lso);
/*
 * Transactions, recovery side: what a transaction coordinator replaying a
 * partition it writes to needs to tell which transaction a transactional
 * batch belongs to, since readers never return markers.
 * klog_partition_txn_open sets *first_offset to the first offset of
 * producer_id's transaction still open in p (no marker yet), or -1 when it
 * has none open (or the partition has no state for it).
 * klog_partition_aborted collects the aborted transactions overlapping
 * [from, to), in offset order (what a read-committed lease lists, for any
 * range, also above the last stable offset): *out is one allocation the
 * caller free()s, NULL when *count is 0. Any thread. Errors: -EINVAL,
 * -ENOTSUP (read-only open: no producer state is kept there), -ENOMEM.
 */
KLOG_API int klog_partition_txn_open(klog_partition_t *p, int64_t producer_id,
                                     int64_t *first_offset);
KLOG_API int klog_partition_aborted(klog_partition_t *p, int64_t from, int64_t to,
                                    klog_aborted_txn_t **out, size_t *count);
/*
 * OffsetForLeaderEpoch from the partition's leader-epoch cache (file
 * leader-epoch-checkpoint, Kafka's format), which records the first
 * offset of every partitionLeaderEpoch >= 0 appended batches carry (only
 * when it is above the latest; truncated by klog_truncate and when the log
 * start moves). For `epoch`: (-1, -1) if it is -1, above every known epoch
 * or the cache is empty; (epoch, log end) for the latest epoch; (epoch,
 * start of the first epoch above it) if it is below the first known;
 * otherwise (largest known epoch <= it, start of the first epoch above
 * it). Any thread. Errors: -EINVAL, -ENOTSUP (read-only open).
 */
KLOG_API int klog_offset_for_leader_epoch(klog_partition_t *p, int32_t epoch, int32_t *end_epoch,
                                          int64_t *end_offset);
/*
 * A producer id never handed out before by this log directory, for
 * idempotent and transactional appends (klog_builder_set_producer), as
 * Kafka's InitProducerId gives one. Ids are reserved in blocks of 1000 in
 * "klog.producer-ids" at the log root, written durably before any id of a
 * block is returned, so ids stay unique across reopen and kill -9 (the
 * unused rest of a block is skipped). A log without the file (older
 * libklog, klog_adopt of a Kafka directory) starts past the largest
 * producer id in any partition's producer state (producers already
 * expired there are not seen). Any thread. Errors:
 * -EINVAL, KLOG_EREADONLY, -errno of the file write (no id handed out),
 * KLOG_EVERSION (the file is a newer format), -EOVERFLOW (ids exhausted).
 */
KLOG_API int klog_producer_id_alloc(klog_t *log, int64_t *id);
/* fsync this partition's data up to its log end; advances the recovery point
 * (and the watermark under KLOG_VISIBLE_FLUSHED). Concurrent callers share
 * one fsync. */
KLOG_API int klog_flush(klog_partition_t *p);
/*
 * Advance the log start offset to `offset` (Kafka's DeleteRecords): records
 * below it become unreadable; whole segments below it are deleted.
 * Errors: KLOG_EOFFSET (offset above the high watermark).
 */
KLOG_API int klog_delete_records(klog_partition_t *p, int64_t offset);
/* For a replicating server: set the high watermark explicitly (between the
 * current watermark and the log end). Errors: KLOG_EOFFSET. */
KLOG_API int klog_set_high_watermark(klog_partition_t *p, int64_t offset);

/*
 * Apply retention (time and size, per topic configuration) to every
 * partition, at time now_ms (KLOG_TIMESTAMP_NOW for the clock). Whole
 * segments only, oldest first, never the active segment nor data at or above
 * the high watermark. Segments still read are unlinked when released.
 * Returns the number of segments deleted or an error.
 */
KLOG_API int klog_retention(klog_t *log, int64_t now_ms);

/* ------------------------------------------------------------ compaction */
/*
 * Log compaction, as Kafka's log cleaner does it, for topics whose
 * KLOG_CONF_CLEANUP_POLICY has KLOG_CLEANUP_COMPACT. A cleaning pass over
 * one partition:
 *   - takes the dirty part: from the first dirty offset (kept in Kafka's
 *     "cleaner-offset-checkpoint" at the log root) to the first uncleanable
 *     offset (the active segment, a segment not yet sealed, the high
 *     watermark, the first open transaction, and the first segment newer
 *     than KLOG_CONF_MIN_COMPACTION_LAG_MS);
 *   - maps each key of the dirty part to its latest offset (a map of
 *     KLOG_CONF_CLEANER_DEDUPE_BYTES; when it fills, the pass ends there and
 *     the next one goes on);
 *   - rewrites every sealed segment from the log start to the end of the
 *     map, in groups whose input fits KLOG_CONF_SEGMENT_BYTES, keeping a
 *     record when it is its key's latest (or lies past the map); a record
 *     without a key is removed (Kafka refuses them on compacted topics); a
 *     tombstone (null value) stays until KLOG_CONF_DELETE_RETENTION_MS
 *     after the pass that first cleaned it (Kafka's delete horizon, batch
 *     attribute bit 6); data of aborted transactions is removed and their
 *     markers go once no data of theirs is left and their horizon passed;
 *     a batch whose records all go is removed, except the last batch of a
 *     producer, which stays as an empty 61-byte batch so that its
 *     sequence and epoch survive. Offsets never change (gaps are normal);
 *     kept records keep their offset, timestamp, key, value and headers
 *     byte for byte; batches keep their base offset, last offset delta,
 *     producer id, epoch, base sequence, leader epoch and codec.
 * Crash safety: each group is written as "<base>.log.cleaned", renamed
 * "<base>.log.swap" and swapped in; an open after a crash at any step
 * finishes or rolls back the swap, so the log holds either the old or the
 * new segments. Readers, leases and segment pins on a replaced segment go
 * on reading its old bytes until released; new readers see the cleaned
 * segment. A pass never blocks appends except while a group is swapped in
 * (renames, and building the new segment's indexes).
 */
typedef struct klog_compact_stats {
    char topic[250];          /* the partition cleaned ("" when none was) */
    int32_t partition;
    int64_t first_dirty;      /* the dirty part cleaned: [first_dirty, end_offset) */
    int64_t end_offset;       /* the next first dirty offset */
    int64_t dirty_bytes;      /* bytes of segments in the dirty part */
    int64_t bytes_read;       /* .log bytes read (map build and rewrite) */
    int64_t bytes_written;    /* .log bytes written */
    int64_t segments_read;    /* segments rewritten */
    int64_t segments_written; /* cleaned segments swapped in */
    int64_t records_read;     /* records of the rewritten segments */
    int64_t records_removed;  /* of those, removed */
    int64_t batches_removed;  /* batches removed whole */
    int64_t empty_batches;    /* batches kept empty for producer state */
    int64_t map_entries;      /* keys in the offset map */
    int64_t map_capacity;     /* keys it could hold */
    int64_t duration_us;      /* wall time of the pass */
} klog_compact_stats_t;

/*
 * Clean one partition now (topic and partition given): a pass as above,
 * whatever the dirty ratio (KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO is for the
 * background cleaner); or, with topic NULL, the partition of the log with
 * the highest dirty ratio above its topic's minimum (or past
 * KLOG_CONF_MAX_COMPACTION_LAG_MS), as one background round does. stats
 * (may be NULL) receives what the pass did (all zero, topic "", when
 * nothing was cleanable); the log callback gets the same at INFO. Returns
 * 1 when a partition was cleaned, 0 when nothing was to clean.
 * Passes are serialised per log (one at a time, with the background
 * cleaner's). Safe while other threads append and read the partition.
 * Errors: KLOG_EREADONLY, KLOG_ENOTOPIC, KLOG_ENOPARTITION, KLOG_ECONFIG
 * (the topic's cleanup.policy has no "compact"), KLOG_EBUSY (the segments
 * changed under the pass, e.g. a truncation, or a reader still holds the
 * previous cleaning of the first segment: nothing changed, try later),
 * KLOG_ECORRUPT/KLOG_ECRC (a batch of the partition failed its checks:
 * nothing was changed and the background cleaner skips the partition
 * until reopened), KLOG_EFAILED (a swap failed half way: the partition
 * refuses appends until reopened, and the open completes the swap),
 * KLOG_ECLOSED (klog_close() is stopping the cleaner), -ENOMEM, -errno.
 */
KLOG_API int klog_compact(klog_t *log, const char *topic, int32_t partition,
                          klog_compact_stats_t *stats);

/*
 * First offset whose record timestamp is >= ts. Writes the log end offset
 * when no such record exists. Errors: -errno on I/O failure, KLOG_ECORRUPT.
 */
KLOG_API int klog_offset_for_time(klog_partition_t *p, int64_t ts, int64_t *offset);

/*
 * Wait until the high watermark is above `offset` or timeout_ms passes
 * (-1 = forever, 0 = poll). Returns 1 when data is available, 0 on timeout.
 * Works in read-only opens (follows the writer process).
 */
KLOG_API int klog_partition_wait(klog_partition_t *p, int64_t offset, int timeout_ms);

/* ------------------------------------------------------------------ reader */
/*
 * A record iterator over one partition, starting at `offset`
 * (KLOG_OFFSET_BEGINNING / KLOG_OFFSET_END are accepted). Reads cross
 * segment boundaries and never pass the high watermark.
 * Errors: KLOG_EOFFSET when offset is below the log start or above the high
 * watermark.
 */
#define KLOG_OFFSET_BEGINNING (-2)
#define KLOG_OFFSET_END (-1)
typedef struct klog_reader klog_reader_t;
KLOG_API int klog_reader_open(klog_partition_t *p, int64_t offset, klog_reader_t **out);
/*
 * Next record: returns 1 and fills rec (a view valid until the next call on
 * r), 0 when caught up with the high watermark (call again later, or wait
 * with klog_reader_wait), or a negative error. The records of control
 * batches (transaction markers) are never returned (see
 * klog_reader_set_isolation). Every batch's CRC-32C is checked before
 * any of its records is returned (there is no opt-out), and each record is
 * checked against the record grammar as it is decoded. Errors:
 * KLOG_ECRC/KLOG_ECORRUPT for damaged data (detail with file and position
 * goes to the log callback), KLOG_EOFFSET when retention removed the
 * position, a record grammar error (KLOG_ERECLEN, ...) for a batch whose
 * CRC matches but whose records are malformed.
 */
KLOG_API int klog_reader_next(klog_reader_t *r, klog_record_t *rec);
/* Reposition. Errors as klog_reader_open. */
KLOG_API int klog_reader_seek(klog_reader_t *r, int64_t offset);
/* Offset of the next record next() will consider. */
KLOG_API int64_t klog_reader_position(const klog_reader_t *r);
/* Header of the batch that held the record the last next() returned (its
 * codec, timestamp type in attributes & KLOG_ATTR_LOG_APPEND_TIME, producer
 * fields, ...); NULL before the first record. Valid until the next call. */
KLOG_API const klog_batch_info_t *klog_reader_batch_info(const klog_reader_t *r);
/*
 * Isolation (Kafka's isolation.level). Both skip control batches
 * (transaction markers): next() never returns their records, the position
 * moves past them. KLOG_ISOLATION_READ_UNCOMMITTED (the default) reads up
 * to the high watermark; KLOG_ISOLATION_READ_COMMITTED stops at the last
 * stable offset (klog_partition_lso) and skips the records of aborted
 * transactions. Errors: -EINVAL (unknown level), -ENOTSUP (read committed
 * in a read-only open).
 */
#define KLOG_ISOLATION_READ_UNCOMMITTED 0
#define KLOG_ISOLATION_READ_COMMITTED 1
KLOG_API int klog_reader_set_isolation(klog_reader_t *r, int isolation);
/* Wait for data past the position; as klog_partition_wait. */
KLOG_API int klog_reader_wait(klog_reader_t *r, int timeout_ms);
KLOG_API void klog_reader_close(klog_reader_t *r);

/* ------------------------------------------------------- zero-copy leases */
/*
 * A lease pins byte ranges of a partition's segment files so the caller's
 * network layer can send them with sendfile(2)/splice(2) without any byte
 * passing through the library. The spans are whole batches, in order,
 * starting with the batch that holds `offset` (Kafka's fetch semantics: the
 * client skips records below its fetch offset). While the lease is held,
 * retention, truncation, segment close and the descriptor LRU cannot close,
 * unlink, shrink or reuse those descriptors or bytes (truncation over them
 * fails with KLOG_EBUSY; retention defers the unlink; klog_close returns
 * KLOG_EBUSY).
 */
typedef struct klog_span {
    int fd;        /* read-only use: do not close, seek or write */
    int64_t pos;   /* file position of the first byte */
    size_t len;    /* bytes */
} klog_span_t;

typedef struct klog_lease klog_lease_t;

/*
 * Lease the batches from the one holding `offset` up to max_bytes in total
 * (at least one whole batch even if it is larger than max_bytes), never past
 * the high watermark, crossing segment boundaries. A lease with no spans is
 * returned when offset equals the high watermark (caught up).
 * Errors: KLOG_EOFFSET (offset below the log start or above the high
 * watermark), KLOG_ECORRUPT (damaged batch header; detail via the log
 * callback), -ENOMEM, -errno. Thread-safe.
 */
KLOG_API int klog_lease_acquire(klog_partition_t *p, int64_t offset, size_t max_bytes,
                                klog_lease_t **out);
/*
 * As klog_lease_acquire with an isolation level: KLOG_ISOLATION_READ_COMMITTED
 * leases stop at the last stable offset instead of the high watermark (an
 * offset between the two gives an empty lease) and collect the aborted
 * transactions overlapping the leased range (klog_lease_aborted), which a
 * Fetch response carries so the client drops their records. Control
 * batches stay in the spans, as Kafka sends them. Errors: as
 * klog_lease_acquire, -EINVAL (unknown level), -ENOTSUP (read committed
 * in a read-only open).
 */
KLOG_API int klog_lease_acquire_isolated(klog_partition_t *p, int64_t offset, size_t max_bytes,
                                         int isolation, klog_lease_t **out);
/* The aborted transactions of a read-committed lease (owned by it; NULL
 * and 0 for none or read uncommitted), ordered by their marker's offset. */
KLOG_API const klog_aborted_txn_t *klog_lease_aborted(const klog_lease_t *l, size_t *count);
/* The spans (owned by the lease) and their count. */
KLOG_API const klog_span_t *klog_lease_spans(const klog_lease_t *l, size_t *count);
/* Total bytes of all spans. */
KLOG_API size_t klog_lease_bytes(const klog_lease_t *l);
/* The offset to ask for next (past the last leased batch; `offset` itself
 * when the lease is empty). */
KLOG_API int64_t klog_lease_next_offset(const klog_lease_t *l);
/*
 * Send the spans to a socket (or pipe) with sendfile(2), resuming where the
 * previous call stopped. Returns 1 when everything has been sent, 0 when the
 * descriptor would block (non-blocking sockets: call again once writable),
 * or a negative error (-EPIPE, -ECONNRESET, ...). *sent (may be NULL) gets
 * the bytes sent by this call.
 */
KLOG_API int klog_lease_sendfile(klog_lease_t *l, int out_fd, size_t *sent);
/* Copy all spans into buf (for callers that cannot use sendfile). Errors:
 * -ENOBUFS when cap < klog_lease_bytes(), -errno on read failure. */
KLOG_API int klog_lease_copy(const klog_lease_t *l, void *buf, size_t cap);
/* Release the pins (any thread). Deferred deletions proceed. NULL ok. */
KLOG_API void klog_lease_release(klog_lease_t *l);

/*
 * A pollable descriptor (eventfd) that becomes readable when the partition's
 * high watermark advances, for epoll/poll loops. Read 8 bytes from it to
 * reset it. Owned by the partition: do not close it. Not available for
 * read-only opens (-ENOTSUP: use klog_partition_wait). Errors: -errno.
 */
KLOG_API int klog_partition_pollfd(klog_partition_t *p, int *fd);

/* ---------------------------------------------------------------- segments */
/*
 * A partition is a list of segments, each a "<base offset>.log" of whole
 * batches with its ".index" (offset -> file position) and ".timeindex"
 * (timestamp -> offset) in Kafka's format (kafka-format.md 3), plus
 * libklog's ".seal". The last segment is active (appends go there); a
 * rolled segment is fsynced and sealed by the background thread soon after
 * (klog_sync() waits for that) and never changes again until retention,
 * DeleteRecords or truncation removes it, or compaction replaces it with a
 * cleaned segment of the same base offset (klog_compact()). This is what a server using
 * libklog as its storage engine needs to ship, back up or tier segments.
 */
typedef struct klog_segment_info {
    int64_t base_offset;     /* first offset it may hold (its file name) */
    int64_t next_offset;     /* last offset + 1 of its last batch (base_offset: empty) */
    int64_t size;            /* bytes of the .log */
    int64_t first_timestamp; /* baseTimestamp of its first batch, -1 when empty */
    int64_t max_timestamp;   /* largest batch maxTimestamp, -1 when empty */
    int active;              /* 1 for the last segment, which appends extend */
    int sealed;              /* 1 once rolled and sealed: it never changes again (0 for
                                the active segment, even while it keeps a clean
                                close's seal until its next append) */
    const char *log_path;    /* file paths, in the same allocation as the array */
    const char *index_path;
    const char *timeindex_path;
    const char *seal_path;   /* present only when sealed */
} klog_segment_info_t;

/*
 * A snapshot of the partition's segments in offset order, the active one
 * last. *out (one allocation with its paths; free() it) gets *count
 * entries. The list may be stale as soon as it returns (a roll, retention);
 * pin a segment to hold it. Reads each segment's first batch header.
 * Any thread. Errors: -ENOMEM, -errno.
 */
KLOG_API int klog_segment_list(klog_partition_t *p, klog_segment_info_t **out, size_t *count);

/* A held segment: its files stay, their bytes below the sizes given do
 * not change, and their descriptors stay open until klog_segment_unpin(). */
typedef struct klog_segment_pin klog_segment_pin_t;

typedef struct klog_segment_files {
    int64_t base_offset;
    int64_t next_offset;     /* at pin time */
    int sealed;              /* at pin time: rolled and sealed, the sizes below are
                                final (0 for the active segment) */
    int log_fd;              /* read-only use: do not close, seek or write */
    int64_t log_size;        /* bytes of the .log covered by the pin */
    int index_fd;            /* -1 when the file is missing (costs only speed) */
    int64_t index_size;      /* bytes of valid entries (8 each) */
    int timeindex_fd;        /* -1 when missing */
    int64_t timeindex_size;  /* bytes of valid entries (12 each) */
} klog_segment_files_t;

/*
 * Pin the segment whose base offset is base_offset, exactly as a lease
 * pins what it covers: while held, retention and DeleteRecords that remove
 * it defer the unlink (its files stay, renamed *.deleted), klog_truncate()
 * over it fails with KLOG_EBUSY, the descriptor LRU leaves it open and
 * klog_close() returns KLOG_EBUSY. The active segment may be pinned: its
 * bytes below log_size stay as they are while appends go on after them.
 * Any thread. Errors: KLOG_EOFFSET (no segment has that base offset),
 * -ENOMEM, -errno (opening the files).
 */
KLOG_API int klog_segment_pin(klog_partition_t *p, int64_t base_offset,
                              klog_segment_pin_t **out);
/* The pinned files (owned by the pin, valid until unpin). */
KLOG_API const klog_segment_files_t *klog_segment_pin_files(const klog_segment_pin_t *sp);
/*
 * Offset index lookup with Kafka's floor semantics (OffsetIndex.lookup): the
 * entry with the largest offset <= offset, as (*entry_offset, *position in
 * the .log); (base_offset, 0) when there is none. A reader starts scanning
 * batches at *position to find `offset`. Errors: -EINVAL.
 */
KLOG_API int klog_segment_lookup_offset(const klog_segment_pin_t *sp, int64_t offset,
                                        int64_t *entry_offset, int64_t *position);
/*
 * Time index lookup (TimeIndex.lookup): the entry with the largest
 * timestamp <= timestamp, as (*entry_timestamp, *entry_offset); (-1,
 * base_offset) when there is none. Records at or after the timestamp are at
 * or after *entry_offset. Errors: -EINVAL.
 */
KLOG_API int klog_segment_lookup_time(const klog_segment_pin_t *sp, int64_t timestamp,
                                      int64_t *entry_timestamp, int64_t *entry_offset);
/* Release a pin (any thread). Deferred deletions proceed. NULL ok. */
KLOG_API void klog_segment_unpin(klog_segment_pin_t *sp);

/*
 * Roll now: the active segment is closed to appends (the background thread
 * seals it; klog_sync() waits) and a new one starts at the log end. Returns
 * 1 when it rolled, 0 when the active segment was empty (nothing to roll).
 * Errors: KLOG_EREADONLY, KLOG_EFAILED, KLOG_ENOTOPIC (deleted), -errno.
 */
KLOG_API int klog_segment_roll(klog_partition_t *p);

/* ---------------------------------------------------------------- stats */

/*
 * Counters since the log was opened (events) and gauges (now), for
 * monitoring. Counters only grow while the log is open; a topic deleted
 * takes its partitions' counters with it from the log-wide sums.
 */
typedef struct klog_partition_stats {
    int64_t appends;        /* counter: writes to the log (one per batch appended;
                             * a follower append of several batches is one) */
    int64_t append_bytes;   /* counter: bytes of those writes */
    int64_t append_records; /* counter: records in them */
    int64_t fsyncs;         /* counter: data fsync rounds (klog_flush(), the flush
                             * policy, durable producers); seals of rolled
                             * segments are not counted */
    int64_t fsync_ns;       /* counter: nanoseconds spent in those rounds */
    int64_t fsync_max_ns;   /* gauge: the longest round */
    int64_t rolls;          /* counter: new active segments (size, time, index
                             * full, klog_segment_roll()) */
    int64_t leases;         /* gauge: leases held */
    int64_t leases_total;   /* counter: leases acquired */
    int64_t readers;        /* gauge: readers and leases open */
    int64_t segments;       /* gauge: segments (klog_partition_offsets()) */
    int64_t bytes;          /* gauge: bytes of .log data */
    int64_t log_start, log_end, high_watermark, recovery_point; /* gauges */
} klog_partition_stats_t;

typedef struct klog_stats {
    int64_t topics, partitions;  /* gauges */
    /* Sums over every partition of the fields of the same names (for
     * fsync_max_ns and the gauges: the largest, or the sum, as named). */
    int64_t appends, append_bytes, append_records;
    int64_t fsyncs, fsync_ns;
    int64_t fsync_max_ns;        /* the longest round of any partition */
    int64_t rolls, leases, leases_total, readers, segments, bytes;
    int64_t open_files;          /* gauge: descriptors held by the log's
                                  * descriptor cache (KLOG_CONF_MAX_OPEN_FILES) */
    /* Recovery work since open (counters): */
    int64_t recovered_segments;  /* segments whose tail was scanned */
    int64_t recovered_bytes;     /* bytes scanned */
    int64_t recovery_truncated_bytes; /* torn or damaged bytes cut */
    int64_t rebuilt_indexes;     /* index files rebuilt */
    int64_t compactions;         /* counter: compaction passes that cleaned something
                                    (background or klog_compact) since the open */
} klog_stats_t;

/*
 * Fill *out with p's counters and gauges. Reads atomics, taking no lock the
 * append path takes (a read-only handle first refreshes its segment list,
 * as klog_partition_offsets() does): any thread, concurrently with appends,
 * reads and flushes; each field is exact but they are not one snapshot.
 * Errors: -EINVAL (p or out NULL), klog_partition_offsets()'s errors.
 */
KLOG_API int klog_partition_stats(klog_partition_t *p, klog_partition_stats_t *out);
/*
 * Fill *out with the log's totals over every partition of every topic (and
 * the log-wide gauges). Allocates a topic list for the walk. Any thread,
 * concurrently with appends, reads, flushes and topic creation; like any
 * use of partition handles, not concurrently with klog_topic_delete() or
 * klog_close() of the same log. Errors: -EINVAL, -ENOMEM.
 */
KLOG_API int klog_stats(klog_t *log, klog_stats_t *out);

/* ---------------------------------------------------------------- verify */
/*
 * An integrity check of a log's files, like SQLite's integrity_check. For
 * every partition, oldest segment first: the header and CRC-32C of every
 * batch; offsets increasing within and across segments (a gap is a
 * warning: follower appends may leave one); each .index entry at the
 * start of a batch and naming an offset of that batch; the .timeindex
 * (timestamps non-negative and increasing, offsets inside the segment);
 * a sealed index holding no zeroed entries; each .seal (size, XXH3-64
 * digest, next offset, max timestamp, index entry counts); and the
 * recovery-point and log-start checkpoints against the log end.
 *
 * Safe on a live log: run it on a read-write handle whose writers keep
 * appending, or on a KLOG_OPEN_RDONLY handle beside a writer in another
 * process. Each partition is checked up to the high watermark read when
 * its check starts, so bytes a writer is still adding never count as a
 * problem. When no writer holds the log (a read-only handle finds
 * "klog.lock" unlocked), the end of the active segment is checked too: a
 * torn tail left by a crash is reported as KLOG_VERIFY_RECOVERABLE, with
 * the bytes the next read-write open truncates, not as damage.
 */
#define KLOG_VERIFY_WARNING 1     /* suspicious but valid (an offset gap, an orphan) */
#define KLOG_VERIFY_RECOVERABLE 2 /* the next read-write open repairs it (torn tail) */
#define KLOG_VERIFY_DAMAGE 3      /* data or metadata is wrong; recovery will not fix it */

typedef struct klog_verify_problem {
    int severity;        /* KLOG_VERIFY_* */
    const char *topic;   /* NULL for a file of the log root (checkpoints) */
    int32_t partition;   /* -1 with topic NULL */
    const char *path;    /* the file: "<dir>/<topic>-<p>/<base>.log" etc. */
    int64_t position;    /* byte position in path of the problem */
    const char *message; /* one line, no trailing newline */
    int64_t truncate_bytes; /* KLOG_VERIFY_RECOVERABLE: bytes the next open cuts */
} klog_verify_problem_t;

/* Called once per problem, from the thread calling klog_verify(); the
 * problem and its strings are valid only during the call. */
typedef void (*klog_verify_fn)(void *ctx, const klog_verify_problem_t *problem);

typedef struct klog_verify_stats {
    long partitions;        /* partitions checked */
    long segments;          /* segments checked */
    int64_t batches;        /* batches whose CRC was checked */
    int64_t bytes;          /* .log bytes checked */
    long damage;            /* problems by severity */
    long recoverable;
    long warnings;
    int64_t truncate_bytes; /* sum over the recoverable problems */
} klog_verify_stats_t;

/*
 * Check topic's partition `partition` (topic NULL: every topic; partition
 * -1: every partition of the topic; the checkpoint files are checked too
 * when topic is NULL), reporting each problem to cb (may be NULL) and
 * counting them in *stats (may be NULL; zeroed first). Returns 0 when the
 * check ran, whatever it found: a file that cannot be read is a
 * KLOG_VERIFY_DAMAGE problem, not an error. Reads files only (through the
 * handle's descriptors) and never changes one. Any thread, concurrently
 * with appends, reads, rolls and retention on the same handle; a
 * klog_truncate() or topic deletion running meanwhile may show as damage.
 * Errors: -EINVAL (log NULL, partition < -1, or partition >= 0 without a
 * topic), KLOG_ENOTOPIC, KLOG_ENOPARTITION, -ENOMEM.
 */
KLOG_API int klog_verify(klog_t *log, const char *topic, int32_t partition, klog_verify_fn cb,
                         void *ctx, klog_verify_stats_t *stats);

/* ---------------------------------------------------------------- backup */
/*
 * Online backup (compare sqlite3's .backup, mdb_copy): copy the log to a
 * new directory dest_dir as a consistent snapshot while appends go on.
 * Each partition is copied at the high watermark read when its copy
 * starts: sealed segments whole (pinned, so retention cannot remove them
 * meanwhile), the active segment (and a rolled one not yet sealed) up to
 * its last batch below the watermark, with the index entries for those
 * bytes and a seal of their own. The copy gets klog.topics, the
 * recovery-point and log-start checkpoints and a clean-shutdown marker,
 * so it opens with no recovery scan and klog_verify() finds it clean.
 * Producer-state, leader-epoch and transaction-index files are not copied
 * (an open of the copy starts them afresh). cb (may be NULL) is called once
 * per partition copied with the copy's log start and end (every offset
 * below end that the log held is in the copy); *stats (may be NULL) counts
 * the work. Every file is fsynced. Any thread, concurrently with appends,
 * reads, rolls and retention on the same handle (read-write or read-only);
 * topics created or partitions added meanwhile may be left out.
 * Errors: -EINVAL, -EEXIST (dest_dir exists), -ENOMEM, -errno (reading
 * the log or writing the copy; a partial copy is left for the caller to
 * remove).
 */
typedef struct klog_backup_stats {
    long partitions;
    long segments;
    int64_t bytes; /* bytes written to the copy */
} klog_backup_stats_t;

typedef void (*klog_backup_fn)(void *ctx, const char *topic, int32_t partition,
                               int64_t log_start, int64_t end_offset);

KLOG_API int klog_backup(klog_t *log, const char *dest_dir, klog_backup_fn cb, void *ctx,
                         klog_backup_stats_t *stats);

/* ---------------------------------------------------------------- producer */
/*
 * A producer turns single records into batches: klog_produce() picks the
 * partition, adds the record to that partition's open batch and returns at
 * once. A batch closes when it holds KLOG_CONF_BATCH_BYTES of records or
 * KLOG_CONF_BATCH_RECORDS records, when KLOG_CONF_LINGER_MS has passed since
 * its first record, or on klog_producer_flush(); it is then encoded once
 * (compressed per the topic's KLOG_CONF_COMPRESSION) and appended with one
 * write. Records of one partition are appended in the order klog_produce()
 * accepted them.
 *
 * Delivery: the appended callback reports every record once its batch is
 * appended (its offset) or has failed (err < 0, offset -1). With
 * KLOG_CONF_DURABLE_DELIVERY = 1 the producer also fsyncs what it appended
 * (one fsync covers every batch appended before it, across all producing
 * threads; fsyncs are gathered for up to KLOG_CONF_LINGER_MS or a quarter
 * of the buffer) and the durable callback reports every record again once
 * that fsync covers it (or with the error). Callbacks for one partition come in
 * offset order. A failed record is reported with its error to the appended
 * callback and, in durable mode, to the durable callback as well.
 *
 * Memory: records accepted but not yet delivered (appended; durable in
 * durable mode) take about their encoded size from a buffer of
 * KLOG_CONF_BUFFER_BYTES. When it is full klog_produce() waits up to
 * KLOG_CONF_BLOCK_MS for room, then fails with KLOG_EBUFFERFULL (at once
 * when KLOG_CONF_BLOCK_MS is 0).
 *
 * Threads: any number of threads may call klog_produce() and
 * klog_producer_flush() on one producer at the same time. The producer owns
 * one background thread that closes lingering batches and, in durable
 * mode, runs the fsyncs. Batches filled by klog_produce() are appended by
 * the thread that filled them, inside that call.
 *
 * Retries: an append that failed with an error that may pass (-ENOSPC,
 * -EDQUOT, -EIO, -EMFILE, -ENFILE, -ENOMEM, -EAGAIN, -EINTR) while the
 * partition is not failed is attempted again with the same bytes after
 * KLOG_CONF_RETRY_BACKOFF_MS, up to KLOG_CONF_RETRIES times and while
 * KLOG_CONF_DELIVERY_TIMEOUT_MS has not passed since its first attempt; a
 * partition's later batches wait behind it, so order holds. Any failed
 * write or fsync fails the partition (klog_append's rule), so a retry is
 * only made when nothing of the batch reached the file: retries never
 * store a batch twice, with or without idempotence. Other errors
 * (KLOG_EFAILED, KLOG_ETOOLARGE, the sequence and epoch refusals) are
 * final and reported to the callbacks. While a batch waits for its retry
 * its partition's later batches wait too, and klog_producer_flush() and
 * klog_producer_close() wait for it (at most about
 * KLOG_CONF_DELIVERY_TIMEOUT_MS).
 *
 * Idempotence (KLOG_CONF_ENABLE_IDEMPOTENCE = 1, Kafka's
 * enable.idempotence): the producer takes a producer id from
 * klog_producer_id_alloc() at creation (epoch 0), or uses the identity the
 * application keeps (KLOG_CONF_PRODUCER_ID with KLOG_CONF_PRODUCER_EPOCH,
 * as a Kafka client gets one from InitProducerId; a new instance of the
 * same id must take a higher epoch). Every batch carries the id, the
 * epoch and its partition's sequence (0 for the first batch of each
 * partition, + records per batch, wrapping after INT32_MAX to 0), which
 * the partition checks (klog_append_batch): a batch appended again is
 * recognised as a duplicate of one of the producer's last five and
 * answered with the original offsets, which is what the callbacks report
 * (err 0, the offsets the records were first stored at: a duplicate is
 * not an error). A partition's sequence moves on only when its batch was
 * appended, so a batch that finally failed leaves no gap. KLOG_EFENCED (a
 * newer epoch of the same id wrote to the partition) is fatal: that batch
 * and every later one fail with it and klog_produce() returns it. The
 * producer state behind this lives in each partition and survives
 * reopen and crashes; it is dropped for producers idle longer than the
 * topic's KLOG_CONF_PRODUCER_ID_EXPIRATION_MS.
 */

/* Partitioners for keyed records (KLOG_CONF_PARTITIONER). Records with a
 * null key are spread with Kafka's sticky rule under both: they fill one
 * partition's batch, then move on to another partition; the sticky
 * partition is kept per producing thread (moving on to one no other
 * thread is on when there is one), so threads do not queue on one
 * partition's lock. */
#define KLOG_PARTITIONER_XXH3 0    /* XXH3_64bits(key) % partitions (default) */
#define KLOG_PARTITIONER_MURMUR2 1 /* Kafka's: (murmur2(key) & 0x7fffffff) % partitions,
                                      so keys land where Kafka's producers put them */

#define KLOG_PARTITION_ANY (-1) /* klog_produce: let the partitioner choose */

typedef struct klog_producer klog_producer_t;

/*
 * Delivery callback. rec is a view of the record as stored (key, value,
 * headers, timestamp, offset): valid only during the call. partition is the
 * partition it went to; offset is its offset, or -1 when err < 0 (err as
 * klog_append's, e.g. KLOG_EFAILED, -ENOSPC). msg_opaque is what was given
 * to klog_produce(). Runs on the producer's background thread or inside a
 * klog_produce()/klog_producer_flush() call of any thread; it must return
 * quickly and must not call klog_produce(), klog_producer_flush() or
 * klog_producer_close() on the same producer.
 */
typedef void (*klog_delivery_fn)(void *ctx, const klog_record_t *rec, int32_t partition,
                                 int64_t offset, int err, void *msg_opaque);

/*
 * Create a producer writing into log. cfg (may be NULL: defaults) supplies
 * the producer keys (KLOG_CONF_LINGER_MS .. KLOG_CONF_PRODUCER_EPOCH) and,
 * when set explicitly, KLOG_CONF_COMPRESSION: the codec for every batch
 * this producer writes (Kafka's compression.type; unset: each topic's own
 * KLOG_CONF_COMPRESSION). Other keys are ignored. cfg is not kept (values
 * are read at creation). Starts the background thread.
 * Errors: KLOG_EREADONLY, -ENOMEM, -errno (thread creation), with
 * KLOG_CONF_ENABLE_IDEMPOTENCE klog_producer_id_alloc()'s.
 */
KLOG_API int klog_producer_new(klog_t *log, const klog_config_t *cfg, klog_producer_t **out);
/*
 * Set the delivery callbacks (either may be NULL) and their ctx. appended
 * runs once per record when its batch is appended; durable once per record
 * when it is fsynced (only with KLOG_CONF_DURABLE_DELIVERY = 1). Call before
 * the first klog_produce(); not thread-safe against producing threads.
 */
KLOG_API void klog_producer_set_delivery(klog_producer_t *p, klog_delivery_fn appended,
                                         klog_delivery_fn durable, void *ctx);
/*
 * Produce one record to topic: to `partition`, or with KLOG_PARTITION_ANY
 * to the partitioner's choice (key hash; sticky for a null key). The key,
 * value and headers are copied before return; rec->timestamp
 * KLOG_TIMESTAMP_NOW takes the current time; rec->offset is ignored.
 * msg_opaque is handed back to the callbacks. Returns 0 once accepted: the
 * outcome comes through the callbacks (and klog_producer_flush()).
 * Errors (record not accepted, no callback): -EINVAL (bad record or
 * arguments), KLOG_EBADNAME, KLOG_ENOTOPIC, KLOG_ENOPARTITION,
 * KLOG_ETOOLARGE (the record alone exceeds the topic's
 * KLOG_CONF_MAX_BATCH_BYTES or the buffer), KLOG_EBUFFERFULL (no room within
 * KLOG_CONF_BLOCK_MS), KLOG_ECLOSED (producer closing), KLOG_EFENCED (an
 * idempotent producer was fenced by a newer epoch of its id), -ENOMEM.
 * An error appending a batch this call filled goes to the callbacks of its
 * records, not to the return value. Thread-safe.
 */
KLOG_API int klog_produce(klog_producer_t *p, const char *topic, int32_t partition,
                          const klog_record_t *rec, void *msg_opaque);
/*
 * Close every open batch now and wait until every record accepted before
 * this call has been delivered (appended; durable in durable mode), its
 * callbacks run. timeout_ms: -1 = no limit. Returns 0, KLOG_ETIMEDOUT, or
 * the first delivery error seen since the previous flush (the records
 * concerned were reported through the callbacks). Thread-safe.
 */
KLOG_API int klog_producer_flush(klog_producer_t *p, int timeout_ms);
/*
 * Flush without a time limit, stop the background thread and free the
 * producer. Returns as klog_producer_flush(). No klog_produce() may run
 * concurrently or after. Close every producer before klog_close() of its
 * log, and do not delete a topic a producer writes to. NULL is accepted.
 */
KLOG_API int klog_producer_close(klog_producer_t *p);
/*
 * The producer id and epoch its batches carry: -1 and -1 without
 * idempotence. Any thread. Errors: -EINVAL (p NULL). Either pointer may be
 * NULL.
 */
KLOG_API int klog_producer_identity(const klog_producer_t *p, int64_t *producer_id,
                                    int16_t *producer_epoch);
/*
 * The partition a keyed record goes to under `partitioner`
 * (KLOG_PARTITIONER_*) for a topic of `partitions` partitions: a pure
 * function, for tests and servers that place keys themselves. key may be
 * NULL only with len 0 (an empty key). Returns the partition, or -EINVAL
 * (partitions < 1, NULL key with len > 0) or KLOG_ECONFIG (unknown
 * partitioner). Thread-safe.
 */
KLOG_API int32_t klog_partition_for_key(int partitioner, const void *key, size_t len,
                                        int32_t partitions);

/* ------------------------------------------------------- registry and group */
/*
 * Consumer groups as in the 2011 Kafka paper: members of a group share the
 * partitions of the topics they subscribe to; each partition is owned by at
 * most one member at a time; each member starts a partition at the offset
 * the group last committed for it. Three pieces:
 *
 *   klog_assign()        the rebalance as a pure function (no I/O, clocks or
 *                        globals): every member computes the same global
 *                        assignment from the same inputs;
 *   klog_registry_t      where membership, ownership and committed offsets
 *                        live: an operations table the application may
 *                        implement, with three backends built in (memory,
 *                        directory, ZooKeeper);
 *   klog_member_t        one member of a group: joins, rebalances on every
 *                        change, claims and releases partitions, reads
 *                        records from them and commits offsets.
 *
 * Delivery is at-least-once: records a member read but did not commit are
 * read again by whoever owns the partition next.
 *
 * Names: group names, member ids and topic names follow the topic-name rule
 * (klog_topic_name_valid: 1..249 of [a-zA-Z0-9._-], not "." or "..").
 */

/* --- assignment (pure functions; any thread) --- */
#define KLOG_ASSIGN_RANGE 0      /* the paper's Algorithm 1, per topic (default) */
#define KLOG_ASSIGN_ROUNDROBIN 1 /* all partitions of all topics dealt in turn */
#define KLOG_ASSIGN_STICKY 2     /* keep current owners, stay balanced */

typedef struct klog_assign_topic {
    const char *name;
    int32_t partitions; /* >= 0; partitions are 0 .. partitions-1 */
} klog_assign_topic_t;

typedef struct klog_assign_member {
    const char *id;
    const char *const *topics; /* the topics it subscribes to */
    size_t topic_count;
} klog_assign_member_t;

/* A current owner (sticky only; ignored by the other strategies). Entries
 * naming an unknown member, topic or partition, a member not subscribed to
 * the topic, or a partition already listed, are ignored. */
typedef struct klog_assign_owner {
    const char *topic;
    int32_t partition;
    const char *member;
} klog_assign_owner_t;

typedef struct klog_assign_input {
    const klog_assign_topic_t *topics;   /* any order, names distinct */
    size_t topic_count;
    const klog_assign_member_t *members; /* any order, ids distinct */
    size_t member_count;
    const klog_assign_owner_t *current;  /* may be NULL (count 0) */
    size_t current_count;
} klog_assign_input_t;

typedef struct klog_assignment_entry {
    const char *topic;  /* points into the input's topic names */
    int32_t partition;
    const char *member; /* points into the input's member ids; NULL when no
                           member subscribes to the topic */
} klog_assignment_entry_t;

typedef struct klog_assignment {
    klog_assignment_entry_t *entries; /* every partition of every input topic,
                                         sorted by (topic name, partition) */
    size_t count;
} klog_assignment_t;

/*
 * Compute the global assignment of every partition of in->topics to the
 * members subscribed to its topic. Members and topics are sorted by name
 * (strcmp) first, so the result does not depend on the input order.
 *
 *   RANGE       per topic, as the paper's Algorithm 1: with n partitions and
 *               m subscribed members, member j takes a contiguous run of
 *               n/m partitions, and the first n%m members one more each
 *               (Kafka's range assignor).
 *   ROUNDROBIN  all (topic, partition) pairs in order, dealt to the members
 *               in turn, skipping members not subscribed to the topic.
 *   STICKY      keeps as many of in->current's owners as possible while
 *               every member's load stays within one of every other's;
 *               balanced over all topics when every member subscribes to
 *               the same topics, else topic by topic. The members allowed
 *               one partition more are those already holding the most
 *               (ties by name); freed partitions go, in order, to members
 *               below their share, in name order. Re-running it on its own
 *               output changes nothing.
 *
 * out is written on success and then owns a malloc'd array: free it with
 * klog_assignment_free(); its strings point into `in`, which must outlive
 * it. Errors: -EINVAL (NULL argument, negative partitions, NULL or
 * duplicate names), KLOG_ECONFIG (unknown strategy), -ENOMEM.
 */
KLOG_API int klog_assign(int strategy, const klog_assign_input_t *in, klog_assignment_t *out);
/* Free what klog_assign() allocated; zeroes *a. NULL is accepted. */
KLOG_API void klog_assignment_free(klog_assignment_t *a);

/* --- registry --- */
/*
 * The registry holds, as in the paper's ZooKeeper layout:
 *   topics     topic -> partition count (the paper's broker registry);
 *   members    group -> member ids, each with the topics it subscribes to;
 *              ephemeral: an entry vanishes when the session that made it
 *              ends (its process dies or the registry handle is freed);
 *   owners     (group, topic, partition) -> member id; ephemeral likewise;
 *   offsets    (group, topic, partition) -> next offset to consume;
 *              persistent.
 * A "session" is one klog_registry_t handle: registrations and claims made
 * through it last until it is freed (or its process dies).
 *
 * An application can supply its own registry by filling this table. Every
 * operation returns 0 or a negative code; strings are NUL-terminated and
 * only borrowed for the call. Operations may be called from any thread
 * (one member calls them from the thread that drives it; several members
 * may share one registry from different threads), so implementations must
 * be thread-safe.
 */
typedef int (*klog_registry_visit_fn)(void *arg, const char *member, const char *topics);

typedef struct klog_registry_ops {
    size_t size; /* sizeof(klog_registry_ops_t) of the caller's header */
    void *ctx;   /* passed as the first argument of every operation */
    /* Set a topic's partition count (creating it), or read it
     * (KLOG_ENOTFOUND when unknown). */
    int (*topic_publish)(void *ctx, const char *topic, int32_t partitions);
    int (*topic_partitions)(void *ctx, const char *topic, int32_t *partitions);
    /* Register `member` in `group` with its subscription `topics` (topic
     * names joined by ','), ephemeral to this session. Registering an id
     * this session already registered replaces its topics; an id live in
     * another session gives KLOG_ECLAIMED. Unregister: KLOG_ENOTFOUND when
     * this session has no such member. */
    int (*member_register)(void *ctx, const char *group, const char *member, const char *topics);
    int (*member_unregister)(void *ctx, const char *group, const char *member);
    /* Call fn once per live member of group, in any order; a non-zero
     * return from fn stops the walk and is returned. */
    int (*member_list)(void *ctx, const char *group, klog_registry_visit_fn fn, void *arg);
    /* Claim ownership of a partition for `member` (ephemeral to this
     * session). Returns 0 when it was free or already this member's, and
     * KLOG_ECLAIMED when another member holds it. Release: 0, or
     * KLOG_ENOTFOUND when `member` does not hold it through this session. */
    int (*claim)(void *ctx, const char *group, const char *topic, int32_t partition,
                 const char *member);
    int (*release)(void *ctx, const char *group, const char *topic, int32_t partition,
                   const char *member);
    /* The current owner's id into buf (cap bytes, NUL-terminated), or
     * KLOG_ENOTFOUND when none; -ENAMETOOLONG when buf is too small. */
    int (*owner)(void *ctx, const char *group, const char *topic, int32_t partition, char *buf,
                 size_t cap);
    /* Store / read the group's committed offset (KLOG_ENOTFOUND when none
     * was ever committed). Stored durably by the persistent backends. */
    int (*commit)(void *ctx, const char *group, const char *topic, int32_t partition,
                  int64_t offset);
    int (*fetch)(void *ctx, const char *group, const char *topic, int32_t partition,
                 int64_t *offset);
    /* A counter that changes whenever the group's membership or any topic's
     * partition count changes (as seen by this session). */
    int (*changes)(void *ctx, const char *group, uint64_t *counter);
    /* Optional (may be NULL: callers sleep and re-read changes()): wait
     * until the counter differs from `seen` or timeout_ms passes. Returns 1
     * when changed, 0 on timeout. */
    int (*wait)(void *ctx, const char *group, uint64_t seen, int timeout_ms);
    /* Optional: end the session (drop its ephemeral entries) and free ctx. */
    void (*destroy)(void *ctx);
} klog_registry_ops_t;

typedef struct klog_registry klog_registry_t;

/* Wrap an application's operations table (copied; ops->size tells how much
 * of it the caller knows). All operations but wait and destroy must be set.
 * Errors: -EINVAL, -ENOMEM. */
KLOG_API int klog_registry_new(const klog_registry_ops_t *ops, klog_registry_t **out);
/*
 * In-process registry for tests and threads. share_with NULL creates a new
 * store; otherwise the new handle is another session on share_with's store
 * (freeing a session drops its members and claims, as a process death
 * would). The store lives until its last session is freed. Errors: -ENOMEM,
 * -EINVAL (share_with is not a memory registry).
 */
KLOG_API int klog_registry_memory_new(klog_registry_t *share_with, klog_registry_t **out);
/*
 * Registry in a directory shared by processes on one host (created if
 * absent). Each handle is one session. Members and owners are files held
 * by flock(2) locks, so the kernel drops them when their process dies;
 * readers test liveness with a non-blocking lock and remove dead entries.
 * Offsets and topics are small files in libklog's framing (magic, version,
 * XXH3-64) written atomically (temporary, fsync, rename). Layout under path:
 *   topics/<topic>                              partition count
 *   groups/<group>/ids/<member>                 live member (locked file)
 *   groups/<group>/owners/<topic>/<partition>   owner (locked file)
 *   groups/<group>/offsets/<topic>/<partition>  committed offset
 * Errors: -errno, -ENOMEM.
 */
KLOG_API int klog_registry_dir_new(const char *path, klog_registry_t **out);
/*
 * ZooKeeper registry (the paper's layout): hosts_chroot is a ZooKeeper
 * connection string with an optional chroot, e.g. "127.0.0.1:2181/klog"
 * (the chroot is created when absent). Nodes under the chroot:
 *   /brokers/topics/<topic>                        partition count (persistent)
 *   /consumers/<group>/ids/<member>                topics (ephemeral)
 *   /consumers/<group>/owners/<topic>/<partition>  member id (ephemeral)
 *   /consumers/<group>/offsets/<topic>/<partition> offset, decimal (persistent)
 * Changes arrive by watches. Each handle is one ZooKeeper session;
 * session_timeout_ms (0 = 6000) bounds how long a dead process's members
 * and claims outlive it. Waits up to the session timeout for the
 * connection. Errors: KLOG_ENOTSUP (library built without ZooKeeper),
 * KLOG_ETIMEDOUT (no connection), -EINVAL, -ENOMEM, -EIO.
 */
KLOG_API int klog_registry_zk_new(const char *hosts_chroot, int session_timeout_ms,
                                  klog_registry_t **out);
/* The operations table (for calling operations directly, as tools and
 * tests do: ops->claim(ops->ctx, ...)). Owned by the handle. */
KLOG_API const klog_registry_ops_t *klog_registry_ops(const klog_registry_t *r);
/* End the session and free the handle. Close every member using it first.
 * NULL is accepted. */
KLOG_API void klog_registry_free(klog_registry_t *r);

/* --- group member --- */
#define KLOG_RESET_EARLIEST 0 /* no committed offset: start at the log start */
#define KLOG_RESET_LATEST 1   /* no committed offset: start at the high watermark */

/* Called after each claim (owned = 1) and before each release (owned = 0)
 * of a partition, on the thread driving the member, with the wall clock in
 * ms. For logging and for tests that check ownership intervals. */
typedef void (*klog_member_event_fn)(void *ctx, const char *topic, int32_t partition,
                                     int owned, int64_t offset, int64_t time_ms);

/*
 * Member options. Zero-initialise, set size = sizeof(klog_member_opts_t),
 * then the fields wanted; zero fields take the defaults. Fields added later
 * go at the end and older callers' smaller size keeps their defaults.
 */
typedef struct klog_member_opts {
    size_t size;
    const char *member_id;   /* NULL: "<hostname>-<pid>-<random>" */
    int strategy;            /* KLOG_ASSIGN_*; default RANGE */
    int reset;               /* KLOG_RESET_*; default EARLIEST */
    int auto_commit_ms;      /* commit what poll returned every N ms, inside
                                poll; 0 = default 5000; -1 = only
                                klog_member_commit() (and on release/close) */
    int backoff_ms;          /* base backoff after a conflicting claim; 0 = 20 */
    int check_ms;            /* longest sleep between registry/data checks
                                while poll waits; 0 = 10 */
    klog_member_event_fn on_event; /* may be NULL */
    void *event_ctx;
    klog_log_fn log;         /* detail for humans; may be NULL */
    void *log_ctx;
} klog_member_opts_t;

typedef struct klog_member klog_member_t;

/* A record read by a member: where it came from and the record (a view
 * valid until the next call on the member). */
typedef struct klog_member_record {
    const char *topic;
    int32_t partition;
    klog_record_t rec;
} klog_member_record_t;

/*
 * Join `group` for the NULL-terminated list `topics`, reading records from
 * `log` (opened read-write or KLOG_OPEN_RDONLY; it must outlive the
 * member) and coordinating through `registry` (which must outlive it).
 * Publishes each topic's partition count from the log to the registry when
 * the registry has none, registers the member and returns; partitions are
 * claimed by the first klog_member_poll(). opts may be NULL (defaults).
 * Errors: -EINVAL, KLOG_EBADNAME, KLOG_ENOTOPIC, KLOG_ECONFIG (bad option),
 * KLOG_ECLAIMED (member id live elsewhere), registry errors, -ENOMEM.
 */
KLOG_API int klog_member_new(klog_t *log, klog_registry_t *registry, const char *group,
                             const char *const *topics, const klog_member_opts_t *opts,
                             klog_member_t **out);
/*
 * Return the next record from any owned partition (partitions are visited
 * in turn). Before reading, applies any change the registry reports: runs
 * the assignment, commits and releases partitions no longer this member's,
 * claims the new ones (a claim another member still holds makes it release
 * everything, back off with jitter and retry, as in the paper) and starts
 * each at its committed offset or the reset policy (also when the committed
 * offset is no longer retained). Also auto-commits when due. Waits up to
 * timeout_ms (-1 = forever, 0 = no wait) for a record.
 * Returns 1 with *out filled, 0 on timeout, or an error (registry errors,
 * KLOG_ECRC/KLOG_ECORRUPT from the log, KLOG_ECLOSED after close began).
 * A record returned counts as consumed when it is committed: by the next
 * auto-commit, klog_member_commit(), a release or close.
 */
KLOG_API int klog_member_poll(klog_member_t *m, klog_member_record_t *out, int timeout_ms);
/* Commit, for every owned partition, the offset after the last record
 * poll returned from it. Returns 0 or the first registry error. */
KLOG_API int klog_member_commit(klog_member_t *m);
/* The partitions owned now: fills up to cap (topic, partition) pairs
 * (topic strings owned by the member, valid until its next call) and
 * returns how many it owns (may exceed cap). */
KLOG_API int klog_member_assignment(klog_member_t *m, klog_assignment_entry_t *out, size_t cap);
/* This member's id (owned by the member). */
KLOG_API const char *klog_member_id(const klog_member_t *m);
/* Leave cleanly: commit, release every partition, unregister, free.
 * Returns the first error met (the member is freed regardless). NULL ok. */
KLOG_API int klog_member_close(klog_member_t *m);
/*
 * THREADING: a klog_member_t is driven by one thread at a time (poll,
 * commit, assignment, close); different members, in the same or different
 * threads and processes, may share a registry and a log.
 */

#ifdef __cplusplus
}
#endif
#endif /* KLOG_H */
