/*
 * tu_txn.h — fixtures for idempotent and transactional appends through the
 * public API: a batch from a producer (records valued by a callback at
 * their offsets) and a one-line summary of what a partition's producer
 * state answers (last stable offset, read-committed record count, aborted
 * transactions, OffsetForLeaderEpoch), to compare one recovery with
 * another.
 */
#ifndef KLOG_TU_TXN_H
#define KLOG_TU_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"

/* Value of the record at `offset` into buf (cap bytes), its length. */
typedef size_t (*tu_txn_value_fn)(void *ctx, int64_t offset, char *buf, size_t cap);

/*
 * Append n records as one batch of producer pid/epoch from sequence seq
 * (flags: KLOG_ATTR_TRANSACTIONAL or 0), partitionLeaderEpoch
 * leader_epoch, at the partition's log end `at` (the values are computed
 * for those offsets; timestamps 1700000000000 + offset, null keys).
 * Returns klog_append_batch's result; *base gets the first offset.
 */
int tu_txn_append(klog_partition_t *p, int64_t at, int64_t pid, int16_t epoch, int32_t seq,
                  int n, unsigned flags, int32_t leader_epoch, tu_txn_value_fn fn, void *ctx,
                  int64_t *base);
/*
 * Step k of a mixed workload: idempotent batches (producer 100),
 * transactions of producers 200 and 201 ended by COMMIT/ABORT markers
 * (none when no_markers: both stay open), plain records; leader epoch le.
 * *end is the log end (moved on), *markers counts markers written.
 */
int tu_txn_step(klog_partition_t *p, int k, int32_t le, int no_markers, int64_t *end,
                long *markers, tu_txn_value_fn fn, void *ctx);
/* The summary (read committed from the log start; epochs -1..max_epoch+1)
 * into buf; 0 or the first error. Without with_lease the aborted
 * transactions (from a read-committed lease) read as "aborted -". */
int tu_txn_summary(klog_partition_t *p, int32_t max_epoch, int with_lease, char *buf,
                   size_t cap);
/* Compare the summary with `expect` (its aborted list ignored without
 * with_lease): 0 equal, 1 different, or an error; the summary in got. */
int tu_txn_expect(klog_partition_t *p, int32_t max_epoch, int with_lease, const char *expect,
                  char *got, size_t cap);

#endif
