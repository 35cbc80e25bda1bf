/*
 * txn.h — kbroker's transaction coordinator, shared by
 *   txn_state.c  the transactions in memory, their log __transaction_state
 *                (Kafka's TransactionLogKey/Value), replay at start, the
 *                commit/abort sequence (markers), timeouts
 *   txn.c        InitProducerId with a transactional id,
 *                AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
 *                EndTxn, and the Produce-side check of transactional
 *                batches
 * Everything runs on the event-loop thread; no locks.
 */
#ifndef KB_TXN_H
#define KB_TXN_H

#include "kbroker.h"

#define KB_TXN_TOPIC "__transaction_state"
#define KB_TXN_MAX 10000            /* transactional ids */
#define KB_TXN_MAX_PARTS 100000     /* partitions in one transaction */
#define KB_TXN_MAX_TIMEOUT_MS 900000 /* Kafka's transaction.max.timeout.ms */

/* Kafka's TransactionState numbering, as stored in TransactionLogValue. */
enum kb_txn_status {
    KB_TX_EMPTY = 0,
    KB_TX_ONGOING = 1,
    KB_TX_PREPARE_COMMIT = 2,
    KB_TX_PREPARE_ABORT = 3,
    KB_TX_COMPLETE_COMMIT = 4,
    KB_TX_COMPLETE_ABORT = 5
};

struct kb_txn_part {
    char *topic;
    int32_t partition;
};

/* An offset committed inside the transaction (TxnOffsetCommit), applied to
 * its group when the transaction commits. */
struct kb_txn_offset {
    char *group, *topic, *metadata;
    int32_t partition, leader_epoch;
    int64_t offset;
};

struct kb_txn {
    struct kb_txn *next;
    char *id;
    int64_t pid;
    int16_t epoch;
    int32_t timeout_ms;
    int status;
    int64_t start_ms, update_ms; /* wall clock, as Kafka stores them */
    int64_t deadline;            /* kb_now_ms() at which an open one aborts */
    struct kb_txn_part *parts;
    size_t nparts, parts_cap;
    struct kb_txn_offset *offs;
    size_t noffs, offs_cap;
};

/* Sequences of the coordinator's transactional batches in
 * __consumer_offsets, by producer id (the partition checks them as any
 * producer's). */
struct kb_txn_seq {
    int64_t pid;
    int16_t epoch;
    int32_t next;
};

struct kb_txns {
    struct kb_txn *head;
    size_t n;
    klog_partition_t *log; /* __transaction_state[0], once opened */
    struct kb_txn_seq *seqs;
    size_t nseqs, seqs_cap;
    int64_t next_expire; /* kb_now_ms() of the next look for idle ids */
};

/* txn_state.c */
struct kb_txns *kb_txns(struct kb_broker *b); /* NULL: out of memory */
struct kb_txn *kb_txn_find(struct kb_broker *b, const char *id, size_t len);
struct kb_txn *kb_txn_by_pid(struct kb_broker *b, int64_t pid);
struct kb_txn *kb_txn_new(struct kb_broker *b, const char *id, size_t len);
int kb_txn_has_part(const struct kb_txn *t, const char *topic, size_t tlen, int32_t partition);
/* Add a partition (no-op when present). 0 or -ENOMEM / -ENOSPC. */
int kb_txn_add_part(struct kb_txn *t, const char *topic, size_t tlen, int32_t partition);
/* Write t's current state to __transaction_state and fsync it. 0 or a klog
 * error (the state in memory is then ahead of the log: the caller answers
 * with an error). */
int kb_txn_store(struct kb_broker *b, struct kb_txn *t);
/* End t's open transaction: PrepareCommit/PrepareAbort stored, a marker
 * (klog_append_marker, fsynced) on every partition of it, on commit its
 * offsets applied to their groups, then CompleteCommit/CompleteAbort
 * stored and the partitions and offsets dropped. A stored Prepare state
 * whose markers fail stays (EndTxn can be retried). 0 or a klog error. */
int kb_txn_end(struct kb_broker *b, struct kb_txn *t, int commit);
/* Abort t's open transaction (if any) with the epoch bumped, fencing the
 * producer that had it, as Kafka does on a timeout. */
int kb_txn_fence_abort(struct kb_broker *b, struct kb_txn *t);
/* The sequence the next __consumer_offsets batch of pid/epoch starts at
 * (kb_txn_offsets_seen records one once appended). */
int32_t kb_txn_offsets_seq(struct kb_broker *b, int64_t pid, int16_t epoch);

#endif /* KB_TXN_H */
