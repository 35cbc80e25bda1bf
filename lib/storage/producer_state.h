/*
 * producer_state.h — Kafka's per-partition producer state (idempotence and
 * transactions) and its `.snapshot` files. Owned by producer_state.c (the
 * state, the append rules, the last stable offset, expiry) and
 * pstate_snapshot.c (the snapshot format and files). Nothing here touches
 * the .log: the append and recovery paths feed batch headers in and act on
 * what comes out. Not thread-safe: the partition's append lock covers it.
 */
#ifndef KLOG_STORAGE_PRODUCER_STATE_H
#define KLOG_STORAGE_PRODUCER_STATE_H

#include "platform/platform.h"

#define KLOG__PSTATE_BATCHES 5 /* Kafka's NUM_BATCHES_TO_RETAIN */
#define KLOG__SNAPSHOT_ENTRY_SIZE 46
#define KLOG__SNAPSHOT_HEADER_SIZE 10 /* version 2, crc 4, count 4 */
#define KLOG__SNAPSHOT_SUFFIX ".snapshot"

/* Metadata of one appended batch. first_seq/first_offset are derived. */
typedef struct klog__pbatch {
    int32_t last_seq;     /* -1 when the batch had no sequence */
    int32_t offset_delta; /* last_offset - first offset of the batch */
    int64_t last_offset;
    int64_t timestamp;    /* the batch's max timestamp */
} klog__pbatch_t;

/* One producer id's state (Kafka's ProducerStateEntry). */
typedef struct klog__producer {
    int64_t producer_id;
    int16_t epoch;             /* -1: none seen yet */
    int32_t coordinator_epoch; /* -1: no marker seen yet */
    int64_t last_timestamp;    /* of the last batch or marker, -1 none */
    int64_t txn_first_offset;  /* first offset of the open transaction, -1 none */
    int nbatches;              /* 0..KLOG__PSTATE_BATCHES, oldest first */
    klog__pbatch_t batches[KLOG__PSTATE_BATCHES];
} klog__producer_t;

/* Who is appending: how much of Kafka's validation applies. */
enum klog__porigin {
    KLOG__ORIGIN_CLIENT = 0,  /* leader append: duplicates, epochs, sequences */
    KLOG__ORIGIN_COORDINATOR, /* markers and coordinator writes: epochs only */
    KLOG__ORIGIN_REPLICA      /* follower append and recovery replay: none */
};

/* The header facts of one batch, as the append path read them. */
typedef struct klog__pbatch_in {
    int64_t producer_id;      /* < 0: no producer, nothing to do */
    int16_t epoch;
    int32_t base_seq;
    int32_t last_offset_delta;
    int64_t base_offset;      /* as assigned (leader) or received */
    int64_t max_timestamp;
    int is_transactional;
    int is_control;
    /* Control batches: record_count 0 means an emptied marker (compaction). */
    int32_t record_count;
    int marker_commit;         /* 1 COMMIT, 0 ABORT (from the control record) */
    int32_t coordinator_epoch; /* from the marker's value */
} klog__pbatch_in_t;

/* A transaction ended by a marker (Kafka's CompletedTxn + its LSO). */
typedef struct klog__txn_done {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset;  /* the marker's offset */
    int64_t lso;          /* last stable offset for the .txnindex entry */
    int aborted;
} klog__txn_done_t;

/* Pending changes of one append, applied only by klog__pstate_commit. */
typedef struct klog__pstage {
    klog__producer_t *prod; /* updated copies, one per producer id */
    size_t nprod, capprod;
    int64_t *started;       /* first offsets of transactions begun, by producer */
    int64_t *started_pid;
    size_t nstarted, capstarted;
    klog__txn_done_t *done; /* transactions ended, in append order */
    size_t ndone, capdone;
} klog__pstage_t;

/* What klog__pstate_check found. */
typedef struct klog__pcheck {
    int duplicate;        /* 1: the batch is a retry of a cached one */
    int64_t first_offset; /* duplicate: the original batch's offsets */
    int64_t last_offset;
    int64_t timestamp;
} klog__pcheck_t;

typedef struct klog__pstate klog__pstate_t;

/* producer.id.expiration.ms default (Kafka: 1 day). */
#define KLOG__PRODUCER_ID_EXPIRATION_MS 86400000LL

/* New empty state. strict_unknown: refuse a client's first batch from a
 * producer id the partition has no state for unless its sequence is 0
 * (KLOG_EUNKNOWNPRODUCER; Kafka before 2.5 and KIP-890 transactions v2);
 * 0 accepts any sequence there as Kafka 2.5-4.x does for v1 producers. */
KLOG__HIDDEN int klog__pstate_new(int64_t expiration_ms, int strict_unknown,
                                  klog__pstate_t **out);
KLOG__HIDDEN void klog__pstate_free(klog__pstate_t *ps);

/* Read access. NULL when the id has no state; valid until the next change. */
KLOG__HIDDEN const klog__producer_t *klog__pstate_get(const klog__pstate_t *ps, int64_t pid);
KLOG__HIDDEN size_t klog__pstate_count(const klog__pstate_t *ps);
/* The i-th producer in ascending id order (i < count). */
KLOG__HIDDEN const klog__producer_t *klog__pstate_at(const klog__pstate_t *ps, size_t i);
/* Offset up to which the state covers the log (Kafka's mapEndOffset). */
KLOG__HIDDEN int64_t klog__pstate_end_offset(const klog__pstate_t *ps);
KLOG__HIDDEN int64_t klog__pstate_snapshot_offset(const klog__pstate_t *ps);

/* Derived facts of a cached batch. */
KLOG__HIDDEN int32_t klog__pbatch_first_seq(const klog__pbatch_t *b);
/* Kafka's sequence arithmetic, wrapping at INT32_MAX back to 0. */
KLOG__HIDDEN int32_t klog__seq_add(int32_t seq, int32_t n);
KLOG__HIDDEN int32_t klog__seq_sub(int32_t seq, int32_t n);

/*
 * Check one batch against the state (as changed by earlier batches of the
 * same append in `st`) and record its effect in `st`. Returns 0, or
 * KLOG_EFENCED, KLOG_EOUTOFORDER, KLOG_EEPOCHSEQ, KLOG_EUNKNOWNPRODUCER,
 * KLOG_ETXNSTATE, KLOG_ECOORDFENCED, -EINVAL (a client sent a control batch
 * or no sequence), -ENOMEM. A duplicate (client origin only) returns 0 with
 * res->duplicate = 1 and records nothing: the caller writes nothing and
 * answers with res's offsets. A failed check leaves `st` as it was, and
 * the state's contents too (the check reserves the memory commit needs).
 */
KLOG__HIDDEN int klog__pstate_check(klog__pstate_t *ps, klog__pstage_t *st,
                                    const klog__pbatch_in_t *b, int origin,
                                    klog__pcheck_t *res);
/*
 * Apply `st` after the batches were written: the state now covers the log
 * up to next_offset. Fills st->done[i].lso in Kafka's order (each ended
 * transaction's LSO is computed before it is completed); the caller appends
 * the aborted ones to the segment's .txnindex. Cannot fail. Resets st.
 */
KLOG__HIDDEN void klog__pstate_commit(klog__pstate_t *ps, klog__pstage_t *st, int64_t next_offset);
/* Forget pending changes (keeps the buffers for reuse). */
KLOG__HIDDEN void klog__pstage_reset(klog__pstage_t *st);
KLOG__HIDDEN void klog__pstage_free(klog__pstage_t *st);

/* First offset of the oldest open transaction, -1 none (firstUndecidedOffset). */
KLOG__HIDDEN int64_t klog__pstate_first_undecided(const klog__pstate_t *ps);
/* The same counting ended transactions whose marker is not yet below the
 * high watermark (firstUnstableOffset), -1 none. */
KLOG__HIDDEN int64_t klog__pstate_first_unstable(const klog__pstate_t *ps);
/* Last stable offset for read_committed: min(first unstable, hw). */
KLOG__HIDDEN int64_t klog__pstate_lso(const klog__pstate_t *ps, int64_t hw);
/* The high watermark moved: ended transactions with marker < hw are stable. */
KLOG__HIDDEN void klog__pstate_hw_updated(klog__pstate_t *ps, int64_t hw);
/* The log start moved (onLogStartOffsetIncremented); latest_snapshot is the
 * newest snapshot file's offset or -1. */
KLOG__HIDDEN void klog__pstate_log_start_moved(klog__pstate_t *ps, int64_t log_start,
                                               int64_t latest_snapshot);
/* Drop producers idle for expiration_ms or more with no open transaction
 * (Kafka: now - last batch max timestamp >= producer.id.expiration.ms).
 * Returns how many were dropped. */
KLOG__HIDDEN size_t klog__pstate_expire(klog__pstate_t *ps, int64_t now_ms);
/* Change expiration_ms (>= 1; the topic's producer.id.expiration.ms may be
 * altered while the partition is open). */
KLOG__HIDDEN void klog__pstate_set_expiration(klog__pstate_t *ps, int64_t expiration_ms);
/* Forget everything; the state covers nothing below `offset`
 * (truncateFullyAndStartAt, minus the snapshot files). */
KLOG__HIDDEN void klog__pstate_reset(klog__pstate_t *ps, int64_t offset);
/* Insert a loaded entry (from a snapshot). KLOG_ECORRUPT on a duplicate id. */
KLOG__HIDDEN int klog__pstate_load_entry(klog__pstate_t *ps, const klog__producer_t *p);
/* For the snapshot code: expiry of one entry; set end/snapshot offsets
 * (a negative value leaves that one unchanged). */
KLOG__HIDDEN int klog__pstate_is_expired(const klog__pstate_t *ps, const klog__producer_t *p,
                                         int64_t now_ms);
KLOG__HIDDEN void klog__pstate_set_offsets(klog__pstate_t *ps, int64_t end_offset,
                                           int64_t snap_offset);

/* Transaction markers (kafka-format.md 1.5). Key: int16 version 0, int16
 * type (0 ABORT, 1 COMMIT); value: int16 version 0, int32 coordinator epoch.
 * Decoding accepts what Kafka's EndTransactionMarker does (a newer version
 * may carry more bytes) and gives KLOG_ECORRUPT otherwise, or -ENOTSUP for
 * a control record that is not ABORT/COMMIT (KRaft types). */
#define KLOG__MARKER_KEY_SIZE 4
#define KLOG__MARKER_VALUE_SIZE 6
KLOG__HIDDEN void klog__marker_encode(int commit, int32_t coordinator_epoch,
                                      uint8_t key[KLOG__MARKER_KEY_SIZE],
                                      uint8_t value[KLOG__MARKER_VALUE_SIZE]);
KLOG__HIDDEN int klog__marker_decode(const uint8_t *key, size_t klen, const uint8_t *value,
                                     size_t vlen, int *commit, int32_t *coordinator_epoch);

/* ------------------------------------------------------------ snapshots */
/* Encode entries in the given order (Kafka's layout, CRC-32C). */
KLOG__HIDDEN int klog__snapshot_encode(const klog__producer_t *entries, size_t n,
                                       klog__buf_t *out);
/* Encode the whole state (ascending producer id). */
KLOG__HIDDEN int klog__snapshot_encode_state(const klog__pstate_t *ps, klog__buf_t *out);
/* Decode with full validation; *out malloc'd (free()), file order. Errors:
 * KLOG_ECORRUPT (size, CRC, count, field ranges), KLOG_EVERSION, -ENOMEM. */
KLOG__HIDDEN int klog__snapshot_decode(const uint8_t *buf, size_t len, klog__producer_t **out,
                                       size_t *n);
/* "<20-digit offset>.snapshot" into name (>= 32 bytes). */
KLOG__HIDDEN void klog__snapshot_name(int64_t offset, char *name);
/* Offset from a snapshot file name, or -1 if the name is not one. */
KLOG__HIDDEN int64_t klog__snapshot_offset_of(const char *name);
/* Offsets of dir's snapshot files, ascending; *out malloc'd. */
KLOG__HIDDEN int klog__snapshot_list(const char *dir, int64_t **out, size_t *n);
/* Write the state as dir/<end offset>.snapshot (tmp, fsync, rename, fsync
 * dir) if it covers more than the last snapshot (takeSnapshot). 0 when
 * written or nothing to do. */
KLOG__HIDDEN int klog__pstate_take_snapshot(klog__pstate_t *ps, const char *dir);
/* The same, durable only when `sync` (else written without fsyncs: a
 * snapshot is a cache that load checks, and a torn one is deleted and
 * replaced by replaying from an older one). */
KLOG__HIDDEN int klog__pstate_write_snapshot(klog__pstate_t *ps, const char *dir, int sync);
/* Read dir/<offset>.snapshot into an empty state, dropping expired entries. */
KLOG__HIDDEN int klog__snapshot_load(klog__pstate_t *ps, const char *dir, int64_t offset,
                                     int64_t now_ms);
/* Delete dir/<offset>.snapshot (its segment is deleted); a missing file is
 * fine. */
KLOG__HIDDEN int klog__snapshot_delete(const char *dir, int64_t offset);
/* Delete snapshot files with offset < before (deleteSnapshotsBefore). */
KLOG__HIDDEN int klog__snapshot_delete_before(const char *dir, int64_t before);
/* Kafka's removeStraySnapshots, for the loader: delete every snapshot of
 * the ascending list v[0..*n) (the directory's, as listed) whose offset is
 * not one of the segments' base offsets, except the newest such one when
 * it lies above every base (the snapshot a clean shutdown takes at the log
 * end); the deleted ones leave v. */
KLOG__HIDDEN int klog__snapshot_remove_strays(const char *dir, int64_t *v, size_t *n,
                                              const int64_t *bases, size_t nbases);
/*
 * Kafka's truncateAndReload: delete snapshots above log_end or at/below
 * log_start; if the state does not already end at log_end, reset it and
 * load the newest remaining snapshot (a corrupt one is reported through lg,
 * deleted, and the next older one tried). *replay_from gets the offset from
 * which the caller must replay batches up to log_end (feeding them with
 * KLOG__ORIGIN_REPLICA); it equals log_end when nothing is to replay.
 */
KLOG__HIDDEN int klog__pstate_truncate_and_reload(klog__pstate_t *ps, const char *dir,
                                                  int64_t log_start, int64_t log_end,
                                                  int64_t now_ms, const klog__logger_t *lg,
                                                  int64_t *replay_from);
/*
 * The same over the ascending list v[0..n) of dir's snapshots (listed by
 * the caller; v is reordered), loading only snapshots at or below load_max
 * (<= log_end): those in (load_max, log_end] are kept, unread. The load
 * passes the recovery point's segment base as load_max, since the
 * .txnindex files from there on are rebuilt by the replay from it.
 */
KLOG__HIDDEN int klog__pstate_reload_listed(klog__pstate_t *ps, const char *dir, int64_t *v,
                                            size_t n, int64_t log_start, int64_t log_end,
                                            int64_t load_max, int64_t now_ms,
                                            const klog__logger_t *lg, int64_t *replay_from);

#endif
