/*
 * logstate.h — the per-partition log state beside the segments: producer
 * state (producer_state.h) with its .snapshot files, each segment's
 * .txnindex (txnindex.h) and the leader-epoch cache (epoch.h). Owned by
 * logstate.c (the struct, its lock, appends, rolls, deletions, queries)
 * and logstate_load.c (load, replay, truncation). The partition owns one
 * (partition_impl.h) and calls these from its append, roll, retention,
 * truncation, load and close paths; partstate.c is that glue.
 *
 * Locking: every function takes the state's own mutex, so queries (LSO,
 * aborted transactions, epoch lookups) may come from any thread while the
 * writers call in with the partition's append lock held. Writers only
 * (check, commit, roll, drop, truncate, load, shutdown) need append_mu.
 */
#ifndef KLOG_STORAGE_LOGSTATE_H
#define KLOG_STORAGE_LOGSTATE_H

#include "platform/platform.h"
#include "storage/epoch.h"
#include "storage/producer_state.h"
#include "storage/segment.h"
#include "storage/txnindex.h"

typedef struct klog__logstate klog__logstate_t;

/* New empty state for partition directory dir (borrowed, outlives it). */
KLOG__HIDDEN int klog__ls_new(const char *dir, const klog__logger_t *lg, int64_t expiration_ms,
                              klog__logstate_t **out);
KLOG__HIDDEN void klog__ls_free(klog__logstate_t *ls);

/*
 * The producer-state facts of one batch (bytes [0, len), header bi, first
 * offset base as it will be stored). A control batch's record is decoded
 * (KLOG_ECORRUPT for a malformed marker, -ENOTSUP for a control record
 * that is no transaction marker). in->producer_id < 0: nothing to do.
 */
KLOG__HIDDEN int klog__ls_batch_in(const uint8_t *batch, size_t len, const klog_batch_info_t *bi,
                                   int64_t base, klog__pbatch_in_t *in);

/* Check one batch before it is written (klog__pstate_check on the
 * state's stage). res->duplicate: write nothing, answer res's offsets. */
KLOG__HIDDEN int klog__ls_check(klog__logstate_t *ls, const klog__pbatch_in_t *in, int origin,
                                klog__pcheck_t *res);
/* After the write: ok -> commit the stage (state covers up to next) and
 * append aborted transactions to the .txnindex of segment seg_base; else
 * forget it. hw (>= 0): the current watermark. An index append that fails
 * is returned (-errno): the caller fails the partition, as for a failed
 * .log write. */
KLOG__HIDDEN int klog__ls_commit(klog__logstate_t *ls, int ok, int64_t seg_base, int64_t next,
                                 int64_t hw);
/* A batch with partitionLeaderEpoch `epoch` (>= 0) begins at base: assign
 * it if newer than the latest and store the checkpoint. */
KLOG__HIDDEN int klog__ls_epoch(klog__logstate_t *ls, int32_t epoch, int64_t base);
/* Latest epoch of the cache, -1 none (append_mu holders). */
KLOG__HIDDEN int32_t klog__ls_latest_epoch(const klog__logstate_t *ls);

/* ---------------------------------------------------------- segments */
/* A segment based at base exists (load or roll): open its .txnindex. */
KLOG__HIDDEN int klog__ls_add_segment(klog__logstate_t *ls, int64_t base);
/* Roll: flush the old active segment's .txnindex, add the new one and
 * take a snapshot named by its base (= the log end). */
KLOG__HIDDEN int klog__ls_roll(klog__logstate_t *ls, int64_t new_base);
/* A rolled segment that ends at sealed_end (its next offset) was sealed:
 * a stray snapshot the open kept below it is deleted now, as the next
 * open would. 0 or -errno (the file is then left to that open). */
KLOG__HIDDEN int klog__ls_reap(klog__logstate_t *ls, int64_t sealed_end);
/* Segments [bases] were deleted (retention, DeleteRecords, truncation):
 * delete their .txnindex and their snapshots (Kafka removes the snapshot
 * named by each deleted segment's base). */
KLOG__HIDDEN int klog__ls_drop_segments(klog__logstate_t *ls, const int64_t *bases, size_t n);
/* The log start moved: epoch cache truncated from the start, producer
 * state told (onLogStartOffsetIncremented). */
KLOG__HIDDEN int klog__ls_log_start_moved(klog__logstate_t *ls, int64_t log_start);
/* fsync the .txnindex files written since the last call. */
KLOG__HIDDEN int klog__ls_sync(klog__logstate_t *ls);
/* Clean shutdown at log_end: snapshot, flush. */
KLOG__HIDDEN int klog__ls_shutdown(klog__logstate_t *ls, int64_t log_end);
/* Drop producers idle past the expiration (with no open transaction). */
KLOG__HIDDEN size_t klog__ls_expire(klog__logstate_t *ls, int64_t now_ms);
/* The expiration from now on (producer.id.expiration.ms, >= 1). */
KLOG__HIDDEN void klog__ls_set_expiration(klog__logstate_t *ls, int64_t expiration_ms);

/* ---------------------------------------------------------- queries */
/* Last stable offset for watermark hw (ended transactions whose marker
 * is below hw become stable first). */
KLOG__HIDDEN int64_t klog__ls_lso(klog__logstate_t *ls, int64_t hw);
/* First offset of producer pid's open transaction, -1 for none. */
KLOG__HIDDEN int64_t klog__ls_txn_first(klog__logstate_t *ls, int64_t pid);
/* Aborted transactions overlapping [from, to) (collectAbortedTxns over
 * the segments from the one holding `from`). *out malloc'd (free()). */
KLOG__HIDDEN int klog__ls_aborted(klog__logstate_t *ls, int64_t from, int64_t to,
                                  klog__aborted_txn_t **out, size_t *n);
KLOG__HIDDEN void klog__ls_epoch_end(klog__logstate_t *ls, int32_t epoch, int64_t log_end,
                                     int32_t *epoch_out, int64_t *offset_out);
/* Copies for tests and the crash harness: producer entries (ascending id)
 * and every .txnindex entry in offset order. *out malloc'd. */
KLOG__HIDDEN int klog__ls_producers(klog__logstate_t *ls, klog__producer_t **out, size_t *n);
KLOG__HIDDEN int klog__ls_all_aborted(klog__logstate_t *ls, klog__aborted_txn_t **out, size_t *n);
KLOG__HIDDEN int klog__ls_epochs(klog__logstate_t *ls, klog__epoch_entry_t **out, size_t *n);

/* klog_backup: write into dest what a copy of the segments [first base,
 * next) needs: the snapshots in (first, next], each segment's aborted
 * transactions below next, the epoch entries starting below next. */
KLOG__HIDDEN int klog__ls_backup(klog__logstate_t *ls, const char *dest, int64_t first,
                                 int64_t next);

/* ---------------------------------------------------------- logstate_load.c */
/*
 * The state's files in the partition directory, as the load's one listing
 * of it found them (recover.c): so the state's load lists nothing again.
 * Both arrays malloc'd, owned by whoever filled them (klog__ls_files_free).
 */
typedef struct klog__ls_files {
    int64_t *snapshots; /* .snapshot offsets, ascending */
    size_t nsnapshots, capsnapshots;
    int64_t *txnidx; /* .txnindex bases, in listing order */
    size_t ntxnidx, captxnidx;
    int epochs;      /* leader-epoch-checkpoint was listed */
} klog__ls_files_t;

/* Note a directory entry: 1 when it was one of the state's files (kept in
 * f), 0 when not, -ENOMEM. */
KLOG__HIDDEN int klog__ls_files_add(klog__ls_files_t *f, const char *name);
KLOG__HIDDEN void klog__ls_files_free(klog__ls_files_t *f);

/*
 * Load after the segments were recovered: segs[0..n) the partition's
 * segments, log_start/log_end its offsets, rebuild_from the offset from
 * which segments were (or may need to be) recovered: their .txnindex is
 * rebuilt from the log. files: the state's files as listed before the
 * segments were recovered (recovery creates none; a listed file deleted
 * since is fine). Removes orphan .txnindex files and stray snapshots, and
 * snapshots above log_end (Kafka's truncateAndReload); loads the newest
 * usable snapshot at or below rebuild_from (a corrupt or missing one costs
 * a rescan, logged) and replays the batches after it; snapshots in
 * (rebuild_from, log_end] are kept unread (they describe data recovery
 * kept). Truncates the epoch cache to [log_start, log_end] and snapshots
 * the result when it replayed producer batches.
 */
KLOG__HIDDEN int klog__ls_load(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n,
                               int64_t log_start, int64_t log_end, int64_t rebuild_from,
                               klog__ls_files_t *files);
/*
 * klog_truncate: the log now ends at new_end (segments[0..n) are what
 * remains; the last one was cut). .txnindex entries at or above new_end
 * go, the epoch cache is truncated, and the producer state is reloaded
 * from the newest snapshot at or below new_end and replayed.
 */
/* klog_backup: the producer state at `next` (the newest snapshot of dir
 * at or below it, and a replay of segs) as a snapshot in dest. */
KLOG__HIDDEN int klog__ls_snapshot_into(klog__logstate_t *ls, klog__segment_t *const *segs,
                                        size_t n, int64_t first, int64_t next, const char *dest);
KLOG__HIDDEN int klog__ls_truncate(klog__logstate_t *ls, klog__segment_t *const *segs, size_t n,
                                   int64_t old_end, int64_t log_start, int64_t new_end);

#endif
