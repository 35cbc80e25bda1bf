/*
 * txnindex.h — a segment's aborted-transaction index, "<20-digit base
 * offset>.txnindex" (kafka-format.md 3.5), owned by txnindex.c. Not
 * thread-safe: the partition's append lock covers changes; readers
 * collecting aborted transactions must hold it too, or work on a copy.
 */
#ifndef KLOG_STORAGE_TXNINDEX_H
#define KLOG_STORAGE_TXNINDEX_H

#include "platform/platform.h"

#define KLOG__TXNIDX_ENTRY_SIZE 34
#define KLOG__TXNIDX_SUFFIX ".txnindex"

/* One aborted transaction (Kafka's AbortedTxn, version 0). */
typedef struct klog__aborted_txn {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset; /* the ABORT marker's offset */
    int64_t lso;         /* last stable offset when it was aborted */
} klog__aborted_txn_t;

typedef struct klog__txnidx klog__txnidx_t;

/* Entry codec (exactly KLOG__TXNIDX_ENTRY_SIZE bytes). */
KLOG__HIDDEN void klog__txnidx_encode(const klog__aborted_txn_t *t, uint8_t *p);
/*
 * Decode a whole index file's bytes for a segment based at base_offset:
 * *out malloc'd (free()), *n entries. Errors: KLOG_ECORRUPT (a partial
 * trailing entry, lastOffset not strictly increasing or below base_offset,
 * firstOffset > lastOffset, negative ids or offsets), KLOG_EVERSION (entry
 * version > 0), -ENOMEM. An empty input is no entries.
 */
KLOG__HIDDEN int klog__txnidx_decode(const uint8_t *buf, size_t len, int64_t base_offset,
                                     klog__aborted_txn_t **out, size_t *n);

/* "<20-digit base>.txnindex" into name (>= 32 bytes). */
KLOG__HIDDEN void klog__txnidx_name(int64_t base_offset, char *name);
/*
 * Open the index of the segment based at base_offset in dir: loads and
 * validates the file when it exists (errors as klog__txnidx_decode, or
 * -errno), else starts empty without creating it (Kafka creates the file on
 * the first aborted transaction).
 */
KLOG__HIDDEN int klog__txnidx_open(const char *dir, int64_t base_offset, klog__txnidx_t **out);
/* The same; absent: the caller's directory listing showed no such file (an
 * empty index, nothing read: a load does not try every segment's name). */
KLOG__HIDDEN int klog__txnidx_open_known(const char *dir, int64_t base_offset, int absent,
                                         klog__txnidx_t **out);
/* Close (NULL is fine). Does not fsync: call klog__txnidx_flush first. */
KLOG__HIDDEN void klog__txnidx_close(klog__txnidx_t *idx);
/*
 * Append one aborted transaction (creating the file if needed). -EINVAL if
 * its lastOffset does not exceed the last entry's or lies below the base
 * offset, or its fields could not be read back; -errno on I/O failure (the
 * file is then cut back to its last whole entry when possible).
 */
KLOG__HIDDEN int klog__txnidx_append(klog__txnidx_t *idx, const klog__aborted_txn_t *t);
/* fsync the file if it exists. */
KLOG__HIDDEN int klog__txnidx_flush(klog__txnidx_t *idx);
/* Drop entries with lastOffset >= offset (Kafka's truncateTo). */
KLOG__HIDDEN int klog__txnidx_truncate(klog__txnidx_t *idx, int64_t offset);
/* Delete the file and every entry: the segment is deleted, or recovered
 * (which rebuilds the index); a later append creates the file again. */
KLOG__HIDDEN int klog__txnidx_delete(klog__txnidx_t *idx);

KLOG__HIDDEN size_t klog__txnidx_count(const klog__txnidx_t *idx);
KLOG__HIDDEN const klog__aborted_txn_t *klog__txnidx_entry(const klog__txnidx_t *idx, size_t i);

/*
 * Kafka's collectAbortedTxns for a fetch of [fetch_offset, upper_bound):
 * append to *out (NULL and 0 at first, then only grown by these calls, so
 * one list can gather several segments; free()) every aborted
 * transaction with lastOffset >= fetch_offset and firstOffset < upper_bound,
 * in index order, stopping after the first entry whose lso >= upper_bound;
 * *complete is then 1 (no later segment can hold one for this fetch), else
 * 0 and the caller goes on with the next segment's index. -ENOMEM.
 */
KLOG__HIDDEN int klog__txnidx_collect(const klog__txnidx_t *idx, int64_t fetch_offset,
                                      int64_t upper_bound, klog__aborted_txn_t **out, size_t *n,
                                      int *complete);
/* The same over an array of entries in index order (a copy taken under the
 * lock, or decoded bytes). */
KLOG__HIDDEN int klog__txn_collect(const klog__aborted_txn_t *v, size_t count,
                                   int64_t fetch_offset, int64_t upper_bound,
                                   klog__aborted_txn_t **out, size_t *n, int *complete);

#endif
