/*
 * check_logstate.c — Kafka's per-partition log state (lib/storage/
 * producer_state.c, pstate_snapshot.c, txnindex.c, epoch.c): the producer
 * state rules (duplicates at each of the 5 cached slots, out-of-order
 * sequences, fencing, new epochs, unknown producers, sequence wrap-around,
 * transactions, the last stable offset, expiry), `.snapshot` files (known
 * bytes, round trip, every flipped byte and every cut, reload after
 * truncation), `.txnindex` files (known bytes, appends, range queries
 * against a brute-force model, truncation, corrupt files) and the
 * leader-epoch cache (Kafka's LeaderEpochFileCacheTest cases, truncation,
 * OffsetForLeaderEpoch, the checkpoint text).
 *
 * Many scenarios are Kafka's own unit tests (ProducerStateManagerTest,
 * LeaderEpochFileCacheTest) replayed through our API; expected snapshot
 * bytes are written out by hand and their CRC computed here with a bitwise
 * CRC-32C independent of the library's.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/bytes.h"
#include "storage/epoch.h"
#include "storage/producer_state.h"
#include "storage/txnindex.h"
#include "util/testutil.h"

static char *tmp;

static void setup(void) { tmp = tu_tmpdir("logstate"); }
static void teardown(void)
{
    klog__fault_clear();
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

#define CK_RC(expr, want)                                                                    \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        int want_ = (want);                                                                  \
        ck_assert_msg(rc_ == want_, "%s = %d (%s), want %s", #expr, rc_, klog_err_name(rc_), \
                      klog_err_name(want_));                                                 \
    } while (0)

/* Run `call` with the nth allocation failing, n = 1, 2, ... until no fault
 * fires: each failing run must return -ENOMEM, the last must succeed. */
#define ALLOC_FAIL_LOOP(call, undo)                                       \
    do {                                                                  \
        for (long nth_ = 1;; nth_++) {                                    \
            klog__fault_arm(KLOG__FAULT_ALLOC, nth_, ENOMEM, 0, 0);       \
            int rc_ = (call);                                             \
            long fired_ = klog__fault_fired();                            \
            klog__fault_clear();                                          \
            if (fired_ == 0) {                                            \
                ck_assert_int_eq(rc_, 0);                                 \
                undo;                                                     \
                break;                                                    \
            }                                                             \
            ck_assert_msg(rc_ == -ENOMEM, "alloc %ld: rc %d", nth_, rc_); \
            undo;                                                         \
            ck_assert_int_lt(nth_, 1000);                                 \
        }                                                                 \
    } while (0)

/* ============================================================ helpers */

static klog__pbatch_in_t data(int64_t pid, int16_t epoch, int32_t seq, int32_t count,
                              int64_t offset, int64_t ts, int txn)
{
    klog__pbatch_in_t b = {0};
    b.producer_id = pid;
    b.epoch = epoch;
    b.base_seq = seq;
    b.last_offset_delta = count - 1;
    b.base_offset = offset;
    b.max_timestamp = ts;
    b.is_transactional = txn;
    b.record_count = count;
    return b;
}

static klog__pbatch_in_t marker(int64_t pid, int16_t epoch, int commit, int32_t coord,
                                int64_t offset, int64_t ts)
{
    klog__pbatch_in_t b = {0};
    b.producer_id = pid;
    b.epoch = epoch;
    b.base_seq = -1;
    b.base_offset = offset;
    b.max_timestamp = ts;
    b.is_transactional = 1;
    b.is_control = 1;
    b.record_count = 1;
    b.marker_commit = commit;
    b.coordinator_epoch = coord;
    return b;
}

/* Transactions ended by the last append() call. */
static klog__txn_done_t done[8];
static size_t ndone;
static klog__pcheck_t last_res;

/* Check one batch and, if it is accepted and new, commit it. */
static int append(klog__pstate_t *ps, klog__pbatch_in_t b, int origin)
{
    klog__pstage_t st = {0};
    int rc = klog__pstate_check(ps, &st, &b, origin, &last_res);
    ndone = 0;
    if (rc == 0 && !last_res.duplicate) {
        ck_assert_int_le(st.ndone, 8);
        klog__pstate_commit(ps, &st, b.base_offset + b.last_offset_delta + 1);
        if (st.ndone)
            memcpy(done, st.done, st.ndone * sizeof *done);
        ndone = st.ndone;
    }
    klog__pstage_free(&st);
    return rc;
}

static klog__pstate_t *new_state(int strict)
{
    klog__pstate_t *ps;
    ck_assert_int_eq(klog__pstate_new(KLOG__PRODUCER_ID_EXPIRATION_MS, strict, &ps), 0);
    return ps;
}

static int32_t entry_last_seq(const klog__producer_t *p)
{
    return p->nbatches ? p->batches[p->nbatches - 1].last_seq : -1;
}

static int32_t entry_first_seq(const klog__producer_t *p)
{
    return p->nbatches ? klog__pbatch_first_seq(&p->batches[0]) : -1;
}

/* Bitwise CRC-32C, independent of lib/codec. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* ====================================================== producer rules */

START_TEST(test_sequence_arith)
{
    ck_assert_int_eq(klog__seq_add(0, 4), 4);
    ck_assert_int_eq(klog__seq_add(INT32_MAX, 1), 0);
    ck_assert_int_eq(klog__seq_add(INT32_MAX - 10, 20), 9);
    ck_assert_int_eq(klog__seq_sub(9, 20), INT32_MAX - 10);
    ck_assert_int_eq(klog__seq_sub(0, 1), INT32_MAX);
    ck_assert_int_eq(klog__seq_sub(10, 3), 7);
}
END_TEST

/* Five batches cached: a retry of each one is a duplicate answered with
 * its own offsets; after a sixth, the first slot is gone. */
START_TEST(test_duplicate_each_slot)
{
    klog__pstate_t *ps = new_state(1);
    for (int i = 0; i < 5; i++)
        CK_RC(append(ps, data(7, 0, i * 3, 3, 100 + i * 10, 1000 + i, 0), KLOG__ORIGIN_CLIENT), 0);
    const klog__producer_t *p = klog__pstate_get(ps, 7);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->nbatches, 5);
    for (int i = 0; i < 5; i++) {
        /* The retry arrives at whatever offset the log would assign now. */
        CK_RC(append(ps, data(7, 0, i * 3, 3, 500, 9999, 0), KLOG__ORIGIN_CLIENT), 0);
        ck_assert_int_eq(last_res.duplicate, 1);
        ck_assert_int_eq(last_res.first_offset, 100 + i * 10);
        ck_assert_int_eq(last_res.last_offset, 100 + i * 10 + 2);
        ck_assert_int_eq(last_res.timestamp, 1000 + i);
    }
    ck_assert_int_eq(klog__pstate_end_offset(ps), 143); /* duplicates wrote nothing */
    /* Same sequences but a different range is not a duplicate. */
    CK_RC(append(ps, data(7, 0, 3, 2, 500, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    /* A sixth batch evicts the oldest. */
    CK_RC(append(ps, data(7, 0, 15, 3, 150, 1005, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(last_res.duplicate, 0);
    CK_RC(append(ps, data(7, 0, 0, 3, 500, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    CK_RC(append(ps, data(7, 0, 3, 3, 500, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(last_res.duplicate, 1);
    ck_assert_int_eq(last_res.first_offset, 110);
    /* A duplicate with another epoch is not one: a newer epoch must start
     * at 0, an older one is fenced. */
    CK_RC(append(ps, data(7, 1, 3, 3, 500, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EEPOCHSEQ);
    klog__pstate_free(ps);
}
END_TEST

/* Kafka's testBasicIdMapping. */
START_TEST(test_basic_mapping)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(1, 0, 0, 1, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 1, 1, 1, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    /* A retry is a duplicate (Kafka checks that before the sequence). */
    CK_RC(append(ps, data(1, 0, 1, 1, 2, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(last_res.duplicate, 1);
    ck_assert_int_eq(last_res.first_offset, 1);
    CK_RC(append(ps, data(1, 0, 5, 1, 2, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    CK_RC(append(ps, data(1, 1, 0, 1, 3, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 0, 1, 4, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EFENCED);
    const klog__producer_t *p = klog__pstate_get(ps, 1);
    ck_assert_int_eq(p->epoch, 1);
    ck_assert_int_eq(p->nbatches, 1); /* the new epoch cleared the cache */
    ck_assert_int_eq(entry_last_seq(p), 0);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_out_of_order)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(3, 2, 0, 3, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(3, 2, 4, 1, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER); /* gap */
    CK_RC(append(ps, data(3, 2, 2, 2, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER); /* overlap */
    CK_RC(append(ps, data(3, 2, 1, 2, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    /* A refusal leaves the state as it was. */
    const klog__producer_t *p = klog__pstate_get(ps, 3);
    ck_assert_int_eq(p->nbatches, 1);
    ck_assert_int_eq(entry_last_seq(p), 2);
    ck_assert_int_eq(klog__pstate_end_offset(ps), 3);
    CK_RC(append(ps, data(3, 2, 3, 1, 3, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    /* Followers and recovery accept gaps (testAcceptAppendWithSequenceGapsOnReplica). */
    CK_RC(append(ps, data(3, 2, 9, 1, 4, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 3)), 9);
    /* The coordinator's own writes skip the sequence check, not the epoch. */
    CK_RC(append(ps, data(3, 2, 50, 1, 5, 0, 0), KLOG__ORIGIN_COORDINATOR), 0);
    CK_RC(append(ps, data(3, 1, 51, 1, 6, 0, 0), KLOG__ORIGIN_COORDINATOR), KLOG_EFENCED);
    /* Clients must send a sequence and may not write markers. */
    CK_RC(append(ps, data(3, 2, -1, 1, 6, 0, 0), KLOG__ORIGIN_CLIENT), -EINVAL);
    CK_RC(append(ps, marker(3, 2, 1, 0, 6, 0), KLOG__ORIGIN_CLIENT), -EINVAL);
    /* Batches without a producer id do not touch the state. */
    CK_RC(append(ps, data(-1, -1, -1, 4, 6, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_count(ps), 1);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_fencing)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(5, 4, 0, 2, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(5, 3, 2, 1, 2, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EFENCED);
    /* An old epoch's retry is not a duplicate once the epoch moved on. */
    CK_RC(append(ps, data(5, 5, 0, 1, 2, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(5, 4, 0, 2, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EFENCED);
    /* A follower only warns in Kafka: it accepts the old epoch. */
    CK_RC(append(ps, data(5, 4, 7, 1, 3, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    ck_assert_int_eq(klog__pstate_get(ps, 5)->epoch, 4);
    klog__pstate_free(ps);
}
END_TEST

/* The first batch of a new epoch must start at sequence 0
 * (testOutOfSequenceAfterControlRecordEpochBump, testControlRecordBumpsProducerEpoch). */
START_TEST(test_new_epoch_sequence)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(1, 0, 0, 1, 0, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 1, 1, 1, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 1, 5, 1, 2, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EEPOCHSEQ);
    CK_RC(append(ps, marker(1, 1, 0, 0, 2, 0), KLOG__ORIGIN_COORDINATOR), 0);
    const klog__producer_t *p = klog__pstate_get(ps, 1);
    ck_assert_int_eq(p->epoch, 1);
    ck_assert_int_eq(p->nbatches, 0);
    ck_assert_int_eq(p->txn_first_offset, -1);
    /* The marker bumped the epoch: the same epoch with sequence 2 is out of
     * order (nothing to follow), the next epoch with 2 is a bad first. */
    CK_RC(append(ps, data(1, 1, 2, 1, 3, 0, 1), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    CK_RC(append(ps, data(1, 2, 2, 1, 3, 0, 1), KLOG__ORIGIN_CLIENT), KLOG_EEPOCHSEQ);
    CK_RC(append(ps, data(1, 1, 0, 1, 3, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 1)), 0);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_unknown_producer)
{
    klog__pstate_t *ps = new_state(1), *lax = new_state(0);
    CK_RC(append(ps, data(9, 0, 7, 1, 0, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EUNKNOWNPRODUCER);
    ck_assert_ptr_null(klog__pstate_get(ps, 9));
    CK_RC(append(ps, data(9, 0, 0, 1, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    /* Kafka 2.5+ (KIP-360) accepts any first sequence from an unknown id. */
    CK_RC(append(lax, data(9, 0, 7, 1, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(lax, 9)), 7);
    /* A follower never refuses (testAcceptAppendWithoutProducerStateOnReplica). */
    CK_RC(append(ps, data(10, 0, 2, 1, 1, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    ck_assert_int_eq(entry_first_seq(klog__pstate_get(ps, 10)), 2);
    /* Known only from a marker: the epoch is known, sequences must restart
     * at 0 (testAppendTxnMarkerWithNoProducerState). */
    CK_RC(append(ps, marker(11, 2, 1, 0, 2, 0), KLOG__ORIGIN_COORDINATOR), 0);
    ck_assert_int_eq(ndone, 0);
    CK_RC(append(ps, data(11, 0, 0, 1, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EFENCED);
    CK_RC(append(ps, data(11, 2, 17, 1, 3, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    CK_RC(append(ps, data(11, 2, 0, 1, 3, 39, 0), KLOG__ORIGIN_CLIENT), 0);
    klog__pstate_free(ps);
    klog__pstate_free(lax);
}
END_TEST

/* Kafka's wrap-around tests: INT32_MAX is followed by 0. */
START_TEST(test_wraparound)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(1, 15, INT32_MAX, 1, 735, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    CK_RC(append(ps, data(1, 15, 1, 1, 1235, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_EOUTOFORDER);
    CK_RC(append(ps, data(1, 15, 0, 1, 1235, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    const klog__producer_t *p = klog__pstate_get(ps, 1);
    ck_assert_int_eq(entry_first_seq(p), INT32_MAX);
    ck_assert_int_eq(entry_last_seq(p), 0);
    /* A batch spanning the wrap (testProducerSequenceWithWrapAroundBatchRecord). */
    CK_RC(append(ps, data(2, 15, INT32_MAX - 10, 21, 2000, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    p = klog__pstate_get(ps, 2);
    ck_assert_int_eq(entry_first_seq(p), INT32_MAX - 10);
    ck_assert_int_eq(entry_last_seq(p), 9);
    ck_assert_int_eq(p->batches[0].last_offset - p->batches[0].offset_delta, 2000);
    ck_assert_int_eq(p->batches[0].last_offset, 2020);
    CK_RC(append(ps, data(2, 15, INT32_MAX - 10, 21, 3000, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(last_res.duplicate, 1);
    ck_assert_int_eq(last_res.first_offset, 2000);
    CK_RC(append(ps, data(2, 15, 10, 5, 2021, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 2)), 14);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_transaction_rules)
{
    klog__pstate_t *ps = new_state(1);
    /* updateProducerTransactionState */
    CK_RC(append(ps, data(1, 0, 0, 1, 9, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 1, 5, 16, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 6, 5, 26, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_get(ps, 1)->txn_first_offset, 16);
    /* A non-transactional write inside the transaction (every origin). */
    CK_RC(append(ps, data(1, 0, 11, 1, 31, 0, 0), KLOG__ORIGIN_CLIENT), KLOG_ETXNSTATE);
    CK_RC(append(ps, data(1, 0, 11, 1, 31, 0, 0), KLOG__ORIGIN_REPLICA), KLOG_ETXNSTATE);
    /* An older epoch's marker is fenced (testOldEpochForControlRecord). */
    CK_RC(append(ps, marker(1, -1, 1, 15, 40, 0), KLOG__ORIGIN_COORDINATOR), KLOG_EFENCED);
    CK_RC(append(ps, marker(1, 0, 1, 15, 40, 77), KLOG__ORIGIN_COORDINATOR), 0);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done[0].producer_id, 1);
    ck_assert_int_eq(done[0].first_offset, 16);
    ck_assert_int_eq(done[0].last_offset, 40);
    ck_assert_int_eq(done[0].aborted, 0);
    ck_assert_int_eq(done[0].lso, 41);
    const klog__producer_t *p = klog__pstate_get(ps, 1);
    ck_assert_int_eq(p->txn_first_offset, -1);
    ck_assert_int_eq(p->coordinator_epoch, 15);
    ck_assert_int_eq(p->last_timestamp, 77);
    ck_assert_int_eq(entry_first_seq(p), 0); /* the marker keeps the cached batches */
    ck_assert_int_eq(entry_last_seq(p), 10);
    /* testCoordinatorFencing */
    CK_RC(append(ps, marker(1, 0, 1, 15, 41, 0), KLOG__ORIGIN_COORDINATOR), 0);
    CK_RC(append(ps, marker(1, 0, 1, 16, 42, 0), KLOG__ORIGIN_COORDINATOR), 0);
    CK_RC(append(ps, marker(1, 0, 1, 15, 43, 0), KLOG__ORIGIN_COORDINATOR), KLOG_ECOORDFENCED);
    CK_RC(append(ps, marker(1, 0, 1, 15, 43, 0), KLOG__ORIGIN_REPLICA), 0);
    ck_assert_int_eq(ndone, 0); /* no open transaction: nothing completed */
    /* An emptied marker (compaction) only registers the producer. */
    klog__pbatch_in_t empty = marker(99, 3, 0, 0, 44, 0);
    empty.record_count = 0;
    CK_RC(append(ps, empty, KLOG__ORIGIN_REPLICA), 0);
    ck_assert_ptr_nonnull(klog__pstate_get(ps, 99));
    ck_assert_int_eq(klog__pstate_get(ps, 99)->epoch, -1);
    /* testProducerStateAfterFencingAbortMarker: a bumped-epoch abort. */
    CK_RC(append(ps, data(2, 0, 0, 1, 50, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, marker(2, 1, 0, 0, 51, 0), KLOG__ORIGIN_COORDINATOR), 0);
    ck_assert_int_eq(ndone, 1);
    ck_assert_int_eq(done[0].aborted, 1);
    p = klog__pstate_get(ps, 2);
    ck_assert_int_eq(p->nbatches, 0);
    ck_assert_int_eq(p->epoch, 1);
    klog__pstate_free(ps);
}
END_TEST

/* Kafka's testFirstUnstableOffset, then interleaved open, committed and
 * aborted transactions with the LSO each .txnindex entry would carry. */
START_TEST(test_lso_interleaved)
{
    klog__pstate_t *ps = new_state(1);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), -1);
    ck_assert_int_eq(klog__pstate_lso(ps, 50), 50);
    CK_RC(append(ps, data(1, 5, 0, 1, 99, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), 99);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 99);
    CK_RC(append(ps, data(2, 5, 0, 1, 105, 0, 1), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 99);
    CK_RC(append(ps, marker(1, 5, 1, 0, 109, 0), KLOG__ORIGIN_COORDINATOR), 0);
    ck_assert_int_eq(done[0].lso, 105);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), 105);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 99);
    klog__pstate_hw_updated(ps, 100);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 99);
    ck_assert_int_eq(klog__pstate_lso(ps, 100), 99);
    klog__pstate_hw_updated(ps, 110);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 105);
    ck_assert_int_eq(klog__pstate_lso(ps, 110), 105);
    CK_RC(append(ps, marker(2, 5, 0, 0, 112, 0), KLOG__ORIGIN_COORDINATOR), 0);
    ck_assert_int_eq(done[0].aborted, 1);
    ck_assert_int_eq(done[0].lso, 113);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), -1);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), 105);
    klog__pstate_hw_updated(ps, 113);
    ck_assert_int_eq(klog__pstate_first_unstable(ps), -1);
    ck_assert_int_eq(klog__pstate_lso(ps, 113), 113);

    /* Three producers interleaved; non-transactional writes in between. */
    klog__pstate_hw_updated(ps, 200);
    CK_RC(append(ps, data(3, 0, 0, 2, 200, 0, 1), KLOG__ORIGIN_CLIENT), 0); /* A opens 200 */
    CK_RC(append(ps, data(4, 0, 0, 1, 202, 0, 0), KLOG__ORIGIN_CLIENT), 0); /* plain */
    CK_RC(append(ps, data(5, 0, 0, 1, 203, 0, 1), KLOG__ORIGIN_CLIENT), 0); /* B opens 203 */
    CK_RC(append(ps, data(3, 0, 2, 1, 204, 0, 1), KLOG__ORIGIN_CLIENT), 0); /* A again */
    CK_RC(append(ps, data(6, 0, 0, 1, 205, 0, 1), KLOG__ORIGIN_CLIENT), 0); /* C opens 205 */
    ck_assert_int_eq(klog__pstate_lso(ps, 206), 200);
    CK_RC(append(ps, marker(5, 0, 0, 0, 206, 0), KLOG__ORIGIN_COORDINATOR), 0); /* B aborts */
    ck_assert_int_eq(done[0].first_offset, 203);
    ck_assert_int_eq(done[0].lso, 200); /* A still open */
    CK_RC(append(ps, marker(3, 0, 1, 0, 207, 0), KLOG__ORIGIN_COORDINATOR), 0); /* A commits */
    ck_assert_int_eq(done[0].lso, 205); /* C still open */
    klog__pstate_hw_updated(ps, 208);
    ck_assert_int_eq(klog__pstate_lso(ps, 208), 205);
    CK_RC(append(ps, marker(6, 0, 0, 0, 208, 0), KLOG__ORIGIN_COORDINATOR), 0); /* C aborts */
    ck_assert_int_eq(done[0].lso, 209);
    ck_assert_int_eq(klog__pstate_lso(ps, 209), 205); /* marker not below the hw yet */
    klog__pstate_hw_updated(ps, 209);
    ck_assert_int_eq(klog__pstate_lso(ps, 209), 209);
    klog__pstate_free(ps);
}
END_TEST

/* Several batches in one append (a follower chunk): later ones are checked
 * against the earlier ones; the state changes only at commit. */
START_TEST(test_stage_multi_batch)
{
    klog__pstate_t *ps = new_state(1);
    klog__pstage_t st = {0};
    klog__pcheck_t res;
    klog__pbatch_in_t b1 = data(1, 0, 0, 2, 0, 0, 1), b2 = data(2, 0, 0, 1, 2, 0, 0);
    klog__pbatch_in_t b3 = marker(1, 0, 0, 3, 3, 0), b4 = data(1, 0, 2, 1, 4, 0, 0);
    klog__pbatch_in_t bad = data(2, 0, 1, 1, 5, 0, 1);
    bad.is_transactional = 1;
    CK_RC(klog__pstate_check(ps, &st, &b1, KLOG__ORIGIN_REPLICA, &res), 0);
    CK_RC(klog__pstate_check(ps, &st, &b2, KLOG__ORIGIN_REPLICA, &res), 0);
    CK_RC(klog__pstate_check(ps, &st, &b3, KLOG__ORIGIN_REPLICA, &res), 0);
    CK_RC(klog__pstate_check(ps, &st, &b4, KLOG__ORIGIN_REPLICA, &res), 0);
    ck_assert_int_eq(klog__pstate_count(ps), 0); /* nothing applied yet */
    ck_assert_int_eq(st.nprod, 2);
    ck_assert_int_eq(st.ndone, 1);
    klog__pstate_commit(ps, &st, 5);
    ck_assert_int_eq(st.done[0].first_offset, 0);
    ck_assert_int_eq(st.done[0].last_offset, 3);
    ck_assert_int_eq(st.done[0].aborted, 1);
    ck_assert_int_eq(st.done[0].lso, 4);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), -1);
    ck_assert_int_eq(klog__pstate_end_offset(ps), 5);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 1)), 2);
    /* A check abandoned before commit leaves no trace. */
    klog__pstage_reset(&st);
    CK_RC(klog__pstate_check(ps, &st, &bad, KLOG__ORIGIN_CLIENT, &res), 0);
    klog__pstage_reset(&st);
    ck_assert_int_eq(klog__pstate_first_undecided(ps), -1);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 2)), 0);
    /* Every allocation of a check can fail, leaving stage and state alone. */
    for (long nth = 1;; nth++) {
        klog__pstate_t *ps2 = new_state(1);
        klog__pstage_t st2 = {0};
        klog__pbatch_in_t nb = data(100, 0, 0, 1, 10, 0, 1), nm = marker(100, 0, 1, 0, 11, 0);
        klog__fault_arm(KLOG__FAULT_ALLOC, nth, ENOMEM, 0, 0);
        int rc = klog__pstate_check(ps2, &st2, &nb, KLOG__ORIGIN_CLIENT, &res);
        if (!rc)
            rc = klog__pstate_check(ps2, &st2, &nm, KLOG__ORIGIN_COORDINATOR, &res);
        long fired = klog__fault_fired();
        klog__fault_clear();
        if (!fired) {
            ck_assert_int_eq(rc, 0);
            klog__pstate_commit(ps2, &st2, 12);
            ck_assert_int_eq(st2.done[0].first_offset, 10);
        } else {
            ck_assert_int_eq(rc, -ENOMEM);
            ck_assert_int_le(st2.nprod, 1); /* the first check's, if it passed */
            ck_assert_int_eq(st2.ndone, 0);
            klog__pstate_commit(ps2, &st2, 11);
            ck_assert_int_le(klog__pstate_count(ps2), 1);
        }
        klog__pstage_free(&st2);
        klog__pstate_free(ps2);
        if (!fired)
            break;
        ck_assert_int_lt(nth, 100);
    }
    klog__pstage_free(&st);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_expiry)
{
    klog__pstate_t *ps;
    ck_assert_int_eq(klog__pstate_new(0, 1, &ps), -EINVAL);
    ck_assert_int_eq(klog__pstate_new(1000, 1, &ps), 0);
    CK_RC(append(ps, data(1, 5, 0, 1, 1, 10000, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(2, 5, 0, 1, 2, 10500, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(3, 5, 0, 1, 3, 10500, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_expire(ps, 10999), 0); /* 999 ms idle */
    ck_assert_int_eq(klog__pstate_expire(ps, 11000), 1); /* >= expiration */
    ck_assert_ptr_null(klog__pstate_get(ps, 1));
    /* An open transaction keeps its producer (testProducersWithOngoingTransactionsDontExpire). */
    ck_assert_int_eq(klog__pstate_expire(ps, 99999), 1);
    ck_assert_ptr_nonnull(klog__pstate_get(ps, 2));
    ck_assert_int_eq(klog__pstate_first_undecided(ps), 2);
    /* testPidExpirationTimeout: once expired, a strict state calls the
     * producer unknown, a lax one accepts it back. */
    CK_RC(append(ps, data(1, 5, 1, 1, 4, 20000, 0), KLOG__ORIGIN_CLIENT), KLOG_EUNKNOWNPRODUCER);
    klog__pstate_t *lax;
    ck_assert_int_eq(klog__pstate_new(1000, 0, &lax), 0);
    CK_RC(append(lax, data(1, 5, 0, 1, 1, 10000, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_expire(lax, 11001), 1);
    CK_RC(append(lax, data(1, 5, 1, 1, 2, 20000, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(lax, 1)), 1);
    ck_assert_int_eq(klog__pstate_end_offset(lax), 3);
    klog__pstate_free(lax);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_markers)
{
    uint8_t key[4], val[6];
    int commit;
    int32_t coord;
    klog__marker_encode(1, 0x01020304, key, val);
    ck_assert_mem_eq(key, "\x00\x00\x00\x01", 4);
    ck_assert_mem_eq(val, "\x00\x00\x01\x02\x03\x04", 6);
    CK_RC(klog__marker_decode(key, 4, val, 6, &commit, &coord), 0);
    ck_assert_int_eq(commit, 1);
    ck_assert_int_eq(coord, 0x01020304);
    klog__marker_encode(0, -1, key, val);
    CK_RC(klog__marker_decode(key, 4, val, 6, &commit, &coord), 0);
    ck_assert_int_eq(commit, 0);
    ck_assert_int_eq(coord, -1);
    CK_RC(klog__marker_decode(key, 3, val, 6, &commit, &coord), KLOG_ECORRUPT);
    CK_RC(klog__marker_decode(key, 4, val, 5, &commit, &coord), KLOG_ECORRUPT);
    CK_RC(klog__marker_decode(NULL, 0, val, 6, &commit, &coord), KLOG_ECORRUPT);
    CK_RC(klog__marker_decode(key, 4, NULL, 0, &commit, &coord), KLOG_ECORRUPT);
    CK_RC(klog__marker_decode((const uint8_t *)"\xff\xff\x00\x00", 4, val, 6, &commit, &coord),
          KLOG_ECORRUPT);
    CK_RC(klog__marker_decode((const uint8_t *)"\x00\x00\x00\x02", 4, val, 6, &commit, &coord),
          -ENOTSUP); /* LEADER_CHANGE: a KRaft control record */
    CK_RC(klog__marker_decode((const uint8_t *)"\x00\x00\xff\xff", 4, val, 6, &commit, &coord),
          KLOG_ECORRUPT);
    /* A newer version may carry more; version 0's fields are still read. */
    CK_RC(klog__marker_decode((const uint8_t *)"\x00\x01\x00\x01xx", 6,
                              (const uint8_t *)"\x00\x01\x00\x00\x00\x05yy", 8, &commit, &coord),
          0);
    ck_assert_int_eq(coord, 5);
}
END_TEST

/* =========================================================== snapshots */

START_TEST(test_snapshot_known_bytes)
{
    klog__producer_t e[2];
    memset(e, 0, sizeof e);
    e[0].producer_id = 1000;
    e[0].epoch = 3;
    e[0].coordinator_epoch = 7;
    e[0].last_timestamp = 1700000000000LL;
    e[0].txn_first_offset = 105;
    e[0].nbatches = 2;
    e[0].batches[0] = (klog__pbatch_t){4, 4, 104, 1};
    e[0].batches[1] = (klog__pbatch_t){9, 4, 109, 1700000000000LL}; /* only the last is kept */
    e[1].producer_id = 7;
    e[1].epoch = -1;
    e[1].coordinator_epoch = -1;
    e[1].last_timestamp = -1;
    e[1].txn_first_offset = -1;
    uint8_t want[200];
    size_t n = unhex("0001" "00000000" "00000002"
                     "00000000000003e8000300000009000000000000006d000000040000018bcfe56800"
                     "000000070000000000000069"
                     "0000000000000007ffffffffffffffffffffffffffff00000000ffffffffffffffff"
                     "ffffffffffffffffffffffff",
                     want);
    ck_assert_int_eq(n, 10 + 2 * 46);
    klog__store32(want + 2, crc32c_ref(want + 6, n - 6));
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__snapshot_encode(e, 2, &b), 0);
    ck_assert_int_eq(b.len, n);
    ck_assert_mem_eq(b.data, want, n);
    klog__producer_t *d;
    size_t dn;
    ck_assert_int_eq(klog__snapshot_decode(want, n, &d, &dn), 0);
    ck_assert_int_eq(dn, 2);
    ck_assert_int_eq(d[0].producer_id, 1000);
    ck_assert_int_eq(d[0].nbatches, 1);
    ck_assert_int_eq(klog__pbatch_first_seq(&d[0].batches[0]), 5);
    ck_assert_int_eq(d[0].batches[0].last_offset, 109);
    ck_assert_int_eq(d[0].txn_first_offset, 105);
    ck_assert_int_eq(d[1].nbatches, 0);
    ck_assert_int_eq(d[1].epoch, -1);
    free(d);
    /* The empty snapshot: version, CRC of the count, count 0. */
    klog__buf_free(&b);
    ck_assert_int_eq(klog__snapshot_encode(NULL, 0, &b), 0);
    ck_assert_int_eq(b.len, 10);
    ck_assert_mem_eq(b.data, "\x00\x01", 2);
    ck_assert_uint_eq(klog__load32(b.data + 2), crc32c_ref((const uint8_t *)"\0\0\0\0", 4));
    klog__buf_free(&b);
    char name[32];
    klog__snapshot_name(368769, name);
    ck_assert_str_eq(name, "00000000000000368769.snapshot");
    ck_assert_int_eq(klog__snapshot_offset_of(name), 368769);
    ck_assert_int_eq(klog__snapshot_offset_of("00000000000000368769.snapshot.tmp"), -1);
    ck_assert_int_eq(klog__snapshot_offset_of("0000000000000036876.snapshot"), -1);
    ck_assert_int_eq(klog__snapshot_offset_of("99999999999999999999.snapshot"), -1);
    ck_assert_int_eq(klog__snapshot_offset_of("0000000000000036876x.snapshot"), -1);
}
END_TEST

/* A state with open, ended and marker-only producers. */
static klog__pstate_t *sample_state(void)
{
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(1, 0, 0, 1, 0, 1000, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(1, 0, 1, 1, 1, 1001, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(2, 3, 0, 4, 2, 1002, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(3, 1, 0, 1, 6, 1003, 1), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, marker(3, 1, 0, 4, 7, 1004), KLOG__ORIGIN_COORDINATOR), 0);
    CK_RC(append(ps, marker(4, 2, 1, 1, 8, 1005), KLOG__ORIGIN_COORDINATOR), 0);
    return ps;
}

START_TEST(test_snapshot_round_trip)
{
    klog__pstate_t *ps = sample_state(), *back = new_state(1);
    ck_assert_int_eq(klog__pstate_end_offset(ps), 9);
    ck_assert_int_eq(klog__pstate_take_snapshot(ps, tmp), 0);
    ck_assert_int_eq(klog__pstate_snapshot_offset(ps), 9);
    struct stat sb;
    char *path = klog__asprintf("%s/00000000000000000009.snapshot", tmp);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, 10 + 4 * 46);
    free(path);
    ck_assert_int_eq(klog__pstate_take_snapshot(ps, tmp), 0); /* nothing new: no file */
    int64_t replay;
    CK_RC(klog__pstate_truncate_and_reload(back, tmp, 0, 9, 5000, NULL, &replay), 0);
    ck_assert_int_eq(replay, 9);
    ck_assert_int_eq(klog__pstate_count(back), 4);
    for (size_t i = 0; i < 4; i++) {
        const klog__producer_t *a = klog__pstate_at(ps, i), *b = klog__pstate_at(back, i);
        ck_assert_int_eq(a->producer_id, b->producer_id);
        ck_assert_int_eq(a->epoch, b->epoch);
        ck_assert_int_eq(a->coordinator_epoch, b->coordinator_epoch);
        ck_assert_int_eq(a->last_timestamp, b->last_timestamp);
        ck_assert_int_eq(a->txn_first_offset, b->txn_first_offset);
        ck_assert_int_eq(entry_last_seq(a), entry_last_seq(b));
        ck_assert_int_eq(b->nbatches, a->nbatches ? 1 : 0); /* only the last batch */
    }
    /* testRecoverFromSnapshotUnfinishedTransaction */
    ck_assert_int_eq(klog__pstate_first_undecided(back), 0);
    CK_RC(append(back, data(1, 0, 2, 1, 9, 1006, 1), KLOG__ORIGIN_CLIENT), 0);
    /* The reloaded state re-encodes to the same bytes. */
    klog__buf_t x = {0}, y = {0};
    size_t len;
    uint8_t *file = tu_read_file(tmp, "00000000000000000009.snapshot", &len);
    ck_assert_ptr_nonnull(file);
    klog__pstate_t *again = new_state(1);
    CK_RC(klog__pstate_truncate_and_reload(again, tmp, 0, 9, 5000, NULL, &replay), 0);
    ck_assert_int_eq(klog__snapshot_encode_state(again, &x), 0);
    ck_assert_int_eq(x.len, len);
    ck_assert_mem_eq(x.data, file, len);
    free(file);
    klog__buf_free(&x);
    klog__buf_free(&y);
    klog__pstate_free(again);
    klog__pstate_free(back);
    klog__pstate_free(ps);
}
END_TEST

/* Every single flipped byte and every cut gives an error, never a crash. */
START_TEST(test_snapshot_corrupt_every_byte)
{
    klog__pstate_t *ps = sample_state();
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__snapshot_encode_state(ps, &b), 0);
    klog__producer_t *d;
    size_t dn;
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, b.data, cut);
        int rc = klog__snapshot_decode(c, cut, &d, &dn);
        ck_assert_msg(rc == KLOG_ECORRUPT || rc == KLOG_EVERSION, "cut %zu: %d", cut, rc);
        ck_assert_ptr_null(d);
        free(c);
    }
    for (size_t i = 0; i < b.len; i++) {
        for (int v = 1; v < 256; v <<= 1) {
            uint8_t *c = malloc(b.len);
            memcpy(c, b.data, b.len);
            c[i] ^= (uint8_t)v;
            int rc = klog__snapshot_decode(c, b.len, &d, &dn);
            ck_assert_msg(rc == KLOG_ECORRUPT || rc == KLOG_EVERSION, "byte %zu ^%d: %d", i, v,
                          rc);
            free(c);
        }
    }
    /* One byte too many (under a valid CRC) is refused too. */
    uint8_t *c = malloc(b.len + 1);
    memcpy(c, b.data, b.len);
    c[b.len] = 0;
    klog__store32(c + 2, crc32c_ref(c + 6, b.len + 1 - 6));
    CK_RC(klog__snapshot_decode(c, b.len + 1, &d, &dn), KLOG_ECORRUPT);
    free(c);
    klog__buf_free(&b);
    klog__pstate_free(ps);
}
END_TEST

/* Fields Kafka could not have written are refused even under a valid CRC. */
static int decode_patched(long at, const char *hex)
{
    klog__producer_t e = {0};
    e.producer_id = 5;
    e.epoch = 1;
    e.coordinator_epoch = -1;
    e.last_timestamp = 10;
    e.txn_first_offset = -1;
    e.nbatches = 1;
    e.batches[0] = (klog__pbatch_t){3, 2, 20, 10};
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__snapshot_encode(&e, 1, &b), 0);
    uint8_t patch[16];
    size_t n = unhex(hex, patch);
    memcpy(b.data + 10 + at, patch, n); /* at < 0 reaches the header */
    klog__store32(b.data + 2, crc32c_ref(b.data + 6, b.len - 6));
    klog__producer_t *d;
    size_t dn;
    int rc = klog__snapshot_decode(b.data, b.len, &d, &dn);
    if (!rc)
        free(d);
    klog__buf_free(&b);
    return rc;
}

START_TEST(test_snapshot_field_checks)
{
    CK_RC(decode_patched(0, "00"), 0);                         /* unchanged */
    CK_RC(decode_patched(0, "ffffffffffffffff"), KLOG_ECORRUPT); /* producer id -1 */
    CK_RC(decode_patched(8, "fffe"), KLOG_ECORRUPT);           /* epoch -2 */
    CK_RC(decode_patched(8, "ffff"), 0);                       /* epoch -1 */
    CK_RC(decode_patched(10, "fffffffe"), KLOG_ECORRUPT);      /* last sequence -2 */
    CK_RC(decode_patched(14, "fffffffffffffffe"), KLOG_ECORRUPT); /* last offset -2 */
    CK_RC(decode_patched(14, "ffffffffffffffff"), KLOG_ECORRUPT); /* no batch but a sequence */
    CK_RC(decode_patched(22, "ffffffff"), KLOG_ECORRUPT);      /* negative delta */
    CK_RC(decode_patched(22, "00000015"), KLOG_ECORRUPT);      /* delta > last offset */
    CK_RC(decode_patched(38, "fffffffffffffffe"), KLOG_ECORRUPT); /* txn first -2 */
    CK_RC(decode_patched(-4 + 0, "00000002"), KLOG_ECORRUPT);  /* count 2, one entry */
    CK_RC(decode_patched(-4 + 0, "ffffffff"), KLOG_ECORRUPT);  /* count -1 */
    /* A producer listed twice is refused when loaded. */
    klog__producer_t e[2] = {{0}};
    e[0].producer_id = e[1].producer_id = 8;
    e[0].txn_first_offset = e[1].txn_first_offset = -1;
    e[0].epoch = e[1].epoch = e[0].coordinator_epoch = e[1].coordinator_epoch = -1;
    klog__buf_t b = {0};
    ck_assert_int_eq(klog__snapshot_encode(e, 2, &b), 0);
    ck_assert_int_eq(tu_write_file(tmp, "00000000000000000004.snapshot", b.data, b.len), 0);
    klog__buf_free(&b);
    klog__pstate_t *ps = new_state(1);
    CK_RC(klog__snapshot_load(ps, tmp, 4, 0), KLOG_ECORRUPT);
    ck_assert_int_eq(klog__pstate_count(ps), 0);
    klog__pstate_free(ps);
}
END_TEST

static int warnings;
static void count_warn(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)msg;
    if (level == KLOG_LOG_WARN)
        warnings++;
}

/* Kafka's testTruncateAndReloadRemovesOutOfRangeSnapshots and the loader's
 * fall-back over corrupt snapshots. */
START_TEST(test_snapshot_truncate_reload)
{
    klog__pstate_t *ps = new_state(1);
    for (int i = 0; i < 5; i++) {
        CK_RC(append(ps, data(1, 0, i, 1, i, 100 + i, 0), KLOG__ORIGIN_CLIENT), 0);
        ck_assert_int_eq(klog__pstate_take_snapshot(ps, tmp), 0);
    }
    int64_t *offs, replay;
    size_t n;
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(offs[0], 1);
    ck_assert_int_eq(offs[4], 5);
    free(offs);
    CK_RC(klog__pstate_truncate_and_reload(ps, tmp, 1, 3, 0, NULL, &replay), 0);
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 2); /* 2 and 3 survive */
    ck_assert_int_eq(offs[0], 2);
    ck_assert_int_eq(offs[1], 3);
    free(offs);
    ck_assert_int_eq(replay, 3);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(ps, 1)), 2);
    /* The state already ends at log_end: only the log start moves. */
    CK_RC(klog__pstate_truncate_and_reload(ps, tmp, 2, 3, 0, NULL, &replay), 0);
    ck_assert_int_eq(replay, 3);
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 1);
    free(offs);
    /* A corrupt newest snapshot costs a rescan from the older one. */
    CK_RC(append(ps, data(1, 0, 3, 1, 3, 103, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_take_snapshot(ps, tmp), 0); /* at 4 */
    ck_assert_int_eq(tu_write_file(tmp, "00000000000000000004.snapshot", "\x00\x01junk", 6), 0);
    klog__pstate_t *fresh = new_state(1);
    klog__logger_t lg = {count_warn, NULL};
    warnings = 0;
    CK_RC(klog__pstate_truncate_and_reload(fresh, tmp, 0, 4, 0, &lg, &replay), 0);
    ck_assert_int_eq(warnings, 1);
    ck_assert_int_eq(replay, 3);
    ck_assert_int_eq(entry_last_seq(klog__pstate_get(fresh, 1)), 2);
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 1);
    free(offs);
    /* No snapshot at all: replay from the log start. */
    ck_assert_int_eq(klog__snapshot_delete(tmp, 3), 0);
    ck_assert_int_eq(klog__snapshot_delete(tmp, 3), 0); /* already gone */
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 0);
    free(offs);
    ck_assert_int_eq(klog__snapshot_delete_before(tmp, 100), 0);
    CK_RC(klog__pstate_truncate_and_reload(fresh, tmp, 2, 4, 0, &lg, &replay), 0);
    ck_assert_int_eq(replay, 2);
    ck_assert_int_eq(klog__pstate_count(fresh), 0);
    /* Expired producers are dropped on load (testRemoveExpiredPidsOnReload). */
    klog__pstate_free(fresh);
    klog__pstate_reset(ps, 0);
    CK_RC(append(ps, data(1, 0, 0, 1, 0, 0, 0), KLOG__ORIGIN_CLIENT), 0);
    CK_RC(append(ps, data(2, 0, 0, 1, 1, 100000000, 0), KLOG__ORIGIN_CLIENT), 0);
    ck_assert_int_eq(klog__pstate_take_snapshot(ps, tmp), 0);
    fresh = new_state(1);
    CK_RC(klog__pstate_truncate_and_reload(fresh, tmp, 0, 2, 100000000, NULL, &replay), 0);
    ck_assert_int_eq(klog__pstate_count(fresh), 1);
    ck_assert_ptr_nonnull(klog__pstate_get(fresh, 2));
    klog__pstate_free(fresh);
    klog__pstate_free(ps);
}
END_TEST

/* Kafka's testRemoveStraySnapshotsKeepCleanShutdownSnapshot and
 * testRemoveAllStraySnapshots. */
static void make_snapshots(const int64_t *offs, size_t n)
{
    char name[32];
    for (size_t i = 0; i < n; i++) {
        klog__snapshot_name(offs[i], name);
        ck_assert_int_eq(tu_write_file(tmp, name, "", 0), 0);
    }
}

static void expect_snapshots(const int64_t *want, size_t nw)
{
    int64_t *v;
    size_t n;
    ck_assert_int_eq(klog__snapshot_list(tmp, &v, &n), 0);
    ck_assert_int_eq(n, nw);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(v[i], want[i]);
    free(v);
}

/* remove_strays over the directory's listing: what it leaves in the list
 * is what is left on disk. */
static int remove_strays(const int64_t *bases, size_t nbases)
{
    int64_t *v;
    size_t n;
    ck_assert_int_eq(klog__snapshot_list(tmp, &v, &n), 0);
    int rc = klog__snapshot_remove_strays(tmp, v, &n, bases, nbases);
    expect_snapshots(v, n);
    free(v);
    return rc;
}

START_TEST(test_snapshot_strays)
{
    int64_t three[] = {2, 5, 42}, five[] = {5}, fortytwo[] = {42};
    make_snapshots(three, 3);
    ck_assert_int_eq(remove_strays(five, 1), 0);
    expect_snapshots((int64_t[]){5, 42}, 2);
    klog__snapshot_delete_before(tmp, 100);
    make_snapshots(three, 3);
    ck_assert_int_eq(remove_strays(fortytwo, 1), 0);
    expect_snapshots(fortytwo, 1);
    klog__snapshot_delete_before(tmp, 100);
    make_snapshots(three, 3);
    ck_assert_int_eq(remove_strays(NULL, 0), 0);
    expect_snapshots(fortytwo, 1); /* no segments: the newest survives */
    /* A batch whose last offset would overflow is refused, not wrapped. */
    klog__pstate_t *ps = new_state(1);
    CK_RC(append(ps, data(1, 0, 0, 2, INT64_MAX - 1, 0, 0), KLOG__ORIGIN_REPLICA), -EINVAL);
    CK_RC(append(ps, data(1, 0, 0, 2, INT64_MAX - 2, 0, 0), KLOG__ORIGIN_REPLICA), 0);
    klog__pstate_free(ps);
}
END_TEST

START_TEST(test_snapshot_faults)
{
    klog__pstate_t *ps = sample_state();
    /* A failed write or fsync leaves no snapshot, and the next try writes. */
    klog__fault_arm(KLOG__FAULT_FSYNC, 1, EIO, 0, 0);
    CK_RC(klog__pstate_take_snapshot(ps, tmp), -EIO);
    klog__fault_clear();
    int64_t *offs;
    size_t n;
    ck_assert_int_eq(klog__snapshot_list(tmp, &offs, &n), 0);
    ck_assert_int_eq(n, 0);
    free(offs);
    ck_assert_int_eq(klog__pstate_snapshot_offset(ps), 0);
    CK_RC(klog__pstate_take_snapshot(ps, tmp), 0);
    /* Loading fails cleanly under every allocation failure. */
    klog__pstate_t *back = new_state(1);
    ALLOC_FAIL_LOOP(klog__snapshot_load(back, tmp, 9, 0), (void)0);
    ck_assert_int_eq(klog__pstate_count(back), 4);
    klog__pstate_free(back);
    klog__pstate_free(ps);
}
END_TEST

/* ============================================================ txnindex */

static klog__aborted_txn_t atx(int64_t pid, int64_t first, int64_t last, int64_t lso)
{
    return (klog__aborted_txn_t){pid, first, last, lso};
}

START_TEST(test_txnindex_known_bytes)
{
    klog__txnidx_t *idx;
    ck_assert_int_eq(klog__txnidx_open(tmp, 100, &idx), 0);
    ck_assert_int_eq(klog__txnidx_count(idx), 0);
    char *path = klog__asprintf("%s/00000000000000000100.txnindex", tmp);
    ck_assert_int_eq(access(path, F_OK), -1); /* created lazily */
    free(path);
    klog__aborted_txn_t t = atx(0x0102030405060708LL, 100, 0x1000, 0x0fff);
    ck_assert_int_eq(klog__txnidx_append(idx, &t), 0);
    size_t len;
    uint8_t *f = tu_read_file(tmp, "00000000000000000100.txnindex", &len);
    ck_assert_ptr_nonnull(f);
    uint8_t want[34];
    unhex("0000" "0102030405060708" "0000000000000064" "0000000000001000" "0000000000000fff",
          want);
    ck_assert_int_eq(len, 34);
    ck_assert_mem_eq(f, want, 34);
    free(f);
    /* lastOffset must strictly increase and stay in the segment. */
    t = atx(1, 100, 0x1000, 0);
    CK_RC(klog__txnidx_append(idx, &t), -EINVAL);
    t = atx(1, 50, 99, 0);
    CK_RC(klog__txnidx_append(idx, &t), -EINVAL);
    t = atx(1, 200, 150, 0);
    CK_RC(klog__txnidx_append(idx, &t), -EINVAL);
    ck_assert_int_eq(klog__txnidx_count(idx), 1);
    ck_assert_int_eq(klog__txnidx_flush(idx), 0);
    klog__txnidx_close(idx);
}
END_TEST

/* Kafka's rule for a fetch of [start, end), checked against a model. */
START_TEST(test_txnindex_collect)
{
    klog__txnidx_t *idx;
    ck_assert_int_eq(klog__txnidx_open(tmp, 0, &idx), 0);
    klog__aborted_txn_t all[] = {atx(1, 0, 10, 11),  atx(2, 5, 15, 11), atx(3, 12, 20, 21),
                                 atx(1, 18, 30, 25), atx(4, 40, 45, 46), atx(5, 31, 50, 51)};
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(klog__txnidx_append(idx, &all[i]), 0);
    klog__txnidx_close(idx);
    ck_assert_int_eq(klog__txnidx_open(tmp, 0, &idx), 0); /* reload */
    ck_assert_int_eq(klog__txnidx_count(idx), 6);
    for (int64_t s = 0; s <= 55; s++) {
        for (int64_t e = s; e <= 56; e++) {
            klog__aborted_txn_t *got = NULL;
            size_t n = 0;
            int complete;
            ck_assert_int_eq(klog__txnidx_collect(idx, s, e, &got, &n, &complete), 0);
            size_t k = 0;
            int want_complete = 0;
            for (size_t i = 0; i < 6 && !want_complete; i++) {
                if (all[i].last_offset >= s && all[i].first_offset < e) {
                    ck_assert_int_lt(k, n);
                    ck_assert_int_eq(got[k].producer_id, all[i].producer_id);
                    ck_assert_int_eq(got[k].first_offset, all[i].first_offset);
                    k++;
                }
                want_complete = all[i].lso >= e;
            }
            ck_assert_int_eq(k, n);
            ck_assert_int_eq(complete, want_complete);
            free(got);
        }
    }
    /* A fetch crossing segments gathers into one list. */
    klog__aborted_txn_t *got = NULL;
    size_t n = 0;
    int complete;
    for (int r = 0; r < 3; r++)
        ck_assert_int_eq(klog__txnidx_collect(idx, 0, 100, &got, &n, &complete), 0);
    ck_assert_int_eq(n, 18);
    ck_assert_int_eq(got[17].producer_id, 5);
    free(got);
    /* Truncation drops entries whose marker is at or after the offset. */
    ck_assert_int_eq(klog__txnidx_truncate(idx, 30), 0);
    ck_assert_int_eq(klog__txnidx_count(idx), 3);
    struct stat sb;
    char *path = klog__asprintf("%s/00000000000000000000.txnindex", tmp);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, 3 * 34);
    ck_assert_int_eq(klog__txnidx_truncate(idx, 31), 0);
    ck_assert_int_eq(klog__txnidx_count(idx), 3);
    klog__aborted_txn_t t = atx(9, 25, 30, 31);
    ck_assert_int_eq(klog__txnidx_append(idx, &t), 0);
    klog__txnidx_close(idx);
    ck_assert_int_eq(klog__txnidx_open(tmp, 0, &idx), 0);
    ck_assert_int_eq(klog__txnidx_count(idx), 4);
    ck_assert_int_eq(klog__txnidx_entry(idx, 3)->producer_id, 9);
    ck_assert_int_eq(klog__txnidx_delete(idx), 0);
    ck_assert_int_eq(stat(path, &sb), -1);
    ck_assert_int_eq(klog__txnidx_count(idx), 0);
    klog__txnidx_close(idx);
    free(path);
}
END_TEST

START_TEST(test_txnindex_corrupt)
{
    uint8_t buf[3 * 34];
    klog__aborted_txn_t e[3] = {atx(1, 10, 12, 13), atx(2, 11, 14, 15), atx(3, 16, 17, 18)};
    for (int i = 0; i < 3; i++)
        klog__txnidx_encode(&e[i], buf + i * 34);
    klog__aborted_txn_t *v;
    size_t n;
    CK_RC(klog__txnidx_decode(buf, sizeof buf, 10, &v, &n), 0);
    ck_assert_int_eq(n, 3);
    free(v);
    CK_RC(klog__txnidx_decode(buf, 0, 10, &v, &n), 0);
    ck_assert_int_eq(n, 0);
    free(v);
    for (size_t cut = 1; cut < sizeof buf; cut++)
        if (cut % 34)
            CK_RC(klog__txnidx_decode(buf, cut, 10, &v, &n), KLOG_ECORRUPT);
    CK_RC(klog__txnidx_decode(buf, sizeof buf, 13, &v, &n), KLOG_ECORRUPT); /* below base */
    uint8_t c[sizeof buf];
    memcpy(c, buf, sizeof c);
    klog__store16(c + 34, 1);
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_EVERSION);
    klog__store16(c + 34, 0xffff);
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_ECORRUPT);
    memcpy(c, buf, sizeof c);
    klog__store64(c + 34 + 18, 12); /* lastOffset not increasing */
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_ECORRUPT);
    memcpy(c, buf, sizeof c);
    klog__store64(c + 10, 13); /* firstOffset > lastOffset */
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_ECORRUPT);
    memcpy(c, buf, sizeof c);
    klog__store64(c + 2, (uint64_t)-1); /* producer id */
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_ECORRUPT);
    memcpy(c, buf, sizeof c);
    klog__store64(c + 26, (uint64_t)-1); /* lso */
    CK_RC(klog__txnidx_decode(c, sizeof c, 10, &v, &n), KLOG_ECORRUPT);
    /* Through open: a torn file is refused, a good one loads. */
    ck_assert_int_eq(tu_write_file(tmp, "00000000000000000010.txnindex", buf, 40), 0);
    klog__txnidx_t *idx = NULL;
    CK_RC(klog__txnidx_open(tmp, 10, &idx), KLOG_ECORRUPT);
    ck_assert_int_eq(tu_write_file(tmp, "00000000000000000010.txnindex", buf, sizeof buf), 0);
    ALLOC_FAIL_LOOP(klog__txnidx_open(tmp, 10, &idx), klog__txnidx_close(idx); idx = NULL);
    /* A failed write leaves no half entry behind. */
    ck_assert_int_eq(klog__txnidx_open(tmp, 10, &idx), 0);
    klog__aborted_txn_t t = atx(4, 18, 19, 20);
    klog__fault_arm(KLOG__FAULT_WRITE, 1, ENOSPC, 10, 0);
    CK_RC(klog__txnidx_append(idx, &t), -ENOSPC);
    klog__fault_clear();
    ck_assert_int_eq(klog__txnidx_count(idx), 3);
    struct stat sb;
    char *path = klog__asprintf("%s/00000000000000000010.txnindex", tmp);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, sizeof buf);
    CK_RC(klog__txnidx_append(idx, &t), 0);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, sizeof buf + 34);
    free(path);
    klog__txnidx_close(idx);
    klog__txnidx_close(NULL);
}
END_TEST

/* ========================================================= epoch cache */

static klog__epoch_cache_t *epochs(void)
{
    klog__epoch_cache_t *c;
    ck_assert_int_eq(klog__epoch_open(tmp, 1, &c), 0);
    return c;
}

#define CK_ENTRIES(c, ...)                                                         \
    do {                                                                           \
        int64_t want_[] = {__VA_ARGS__};                                           \
        size_t nw_ = sizeof want_ / sizeof want_[0] / 2;                           \
        ck_assert_int_eq(klog__epoch_count(c), nw_);                               \
        for (size_t i_ = 0; i_ < nw_; i_++) {                                      \
            ck_assert_int_eq(klog__epoch_at(c, i_)->epoch, want_[2 * i_]);         \
            ck_assert_int_eq(klog__epoch_at(c, i_)->start_offset, want_[2 * i_ + 1]); \
        }                                                                          \
    } while (0)

#define CK_END(c, req, leo, we, wo)                           \
    do {                                                      \
        int32_t e_;                                           \
        int64_t o_;                                           \
        klog__epoch_end_offset(c, req, leo, &e_, &o_);        \
        ck_assert_msg(e_ == (we) && o_ == (wo),               \
                      "endOffsetFor(%d) = (%d, %lld), want (%d, %lld)", (int)(req), (int)e_, \
                      (long long)o_, (int)(we), (long long)(wo)); \
    } while (0)

START_TEST(test_epoch_assign)
{
    klog__epoch_cache_t *c = epochs();
    CK_END(c, 0, 0, -1, -1); /* shouldReturnUnsupportedIfNoEpochRecorded */
    CK_END(c, -1, 73, -1, -1);
    ck_assert_int_eq(klog__epoch_latest(c), -1);
    ck_assert_int_eq(klog__epoch_assign(c, 2, 9), 1);
    ck_assert_int_eq(klog__epoch_assign(c, 2, 10), 0); /* not overwritten */
    CK_ENTRIES(c, 2, 9);
    ck_assert_int_eq(klog__epoch_assign(c, 3, 9), 1); /* monotonic start offsets */
    CK_ENTRIES(c, 3, 9);
    klog__epoch_clear(c);
    /* shouldEnforceMonotonicallyIncreasingEpochs */
    klog__epoch_assign(c, 1, 5);
    klog__epoch_assign(c, 2, 6);
    ck_assert_int_eq(klog__epoch_assign(c, 1, 7), 1);
    CK_ENTRIES(c, 1, 7);
    CK_END(c, 1, 8, 1, 8);
    CK_END(c, 2, 8, -1, -1);
    klog__epoch_clear(c);
    klog__epoch_assign(c, 2, 6); /* shouldEnforceOffsetsIncreaseMonotonically */
    klog__epoch_assign(c, 3, 5);
    CK_ENTRIES(c, 3, 5);
    klog__epoch_clear(c);
    /* shouldTruncateIfMatchingEpochButEarlierStartingOffset */
    klog__epoch_assign(c, 5, 11);
    klog__epoch_assign(c, 6, 12);
    klog__epoch_assign(c, 7, 13);
    ck_assert_int_eq(klog__epoch_assign(c, 7, 12), 1);
    CK_ENTRIES(c, 5, 11, 7, 12);
    CK_END(c, 5, 0, 5, 12);
    CK_END(c, 6, 0, 5, 12);
    CK_END(c, 4, 0, 4, 11); /* below the first epoch */
    ck_assert_int_eq(klog__epoch_assign(c, -1, 0), -EINVAL);
    ck_assert_int_eq(klog__epoch_assign(c, 0, -1), -EINVAL);
    klog__epoch_close(c);
}
END_TEST

START_TEST(test_epoch_end_offsets)
{
    klog__epoch_cache_t *c = epochs();
    /* shouldGetFirstOffsetOfSubsequentEpochWhenOffsetRequestedForPreviousEpoch */
    int64_t seq[][2] = {{1, 11}, {1, 12}, {2, 13}, {2, 14}, {3, 15}, {3, 16}};
    for (int i = 0; i < 6; i++)
        klog__epoch_assign(c, (int32_t)seq[i][0], seq[i][1]);
    CK_END(c, 2, 17, 2, 15);
    CK_END(c, 3, 17, 3, 17);
    CK_END(c, 4, 17, -1, -1);
    CK_END(c, 0, 17, 0, 11);
    klog__epoch_clear(c);
    /* shouldReturnNextAvailableEpochIfThereIsNoExactEpochForTheOneRequested */
    klog__epoch_assign(c, 0, 10);
    klog__epoch_assign(c, 2, 13);
    klog__epoch_assign(c, 4, 17);
    CK_END(c, 1, 0, 0, 13);
    CK_END(c, 2, 0, 2, 17);
    CK_END(c, 3, 0, 2, 17);
    CK_END(c, -1, 0, -1, -1);
    ck_assert_int_eq(klog__epoch_for_offset(c, 9), -1);
    ck_assert_int_eq(klog__epoch_for_offset(c, 10), 0);
    ck_assert_int_eq(klog__epoch_for_offset(c, 12), 0);
    ck_assert_int_eq(klog__epoch_for_offset(c, 13), 2);
    ck_assert_int_eq(klog__epoch_for_offset(c, 100), 4);
    klog__epoch_clear(c);
    /* shouldIncreaseAndTrackEpochsAsLeadersChangeManyTimes */
    klog__epoch_assign(c, 0, 0);
    klog__epoch_assign(c, 1, 0);
    CK_END(c, 1, 0, 1, 0);
    CK_ENTRIES(c, 1, 0); /* epoch 0 was replaced: it is below the first now */
    CK_END(c, 0, 0, 0, 0);
    CK_END(c, 0, 5, 0, 0);
    CK_END(c, 1, 5, 1, 5);
    klog__epoch_assign(c, 2, 5);
    CK_END(c, 2, 10, 2, 10);
    CK_END(c, 1, 10, 1, 5);
    CK_END(c, 0, 10, 0, 0);
    klog__epoch_close(c);
}
END_TEST

START_TEST(test_epoch_truncate)
{
    klog__epoch_cache_t *c = epochs();
#define RESET()                      \
    do {                             \
        klog__epoch_clear(c);        \
        klog__epoch_assign(c, 2, 6); \
        klog__epoch_assign(c, 3, 8); \
        klog__epoch_assign(c, 4, 11); \
    } while (0)
    RESET();
    ck_assert_int_eq(klog__epoch_truncate_end(c, 8), 1);
    CK_ENTRIES(c, 2, 6);
    RESET();
    ck_assert_int_eq(klog__epoch_truncate_end(c, 9), 1);
    CK_ENTRIES(c, 2, 6, 3, 8);
    RESET();
    ck_assert_int_eq(klog__epoch_truncate_end(c, 12), 0);
    ck_assert_int_eq(klog__epoch_truncate_end(c, -1), 0);
    CK_ENTRIES(c, 2, 6, 3, 8, 4, 11);
    ck_assert_int_eq(klog__epoch_truncate_start(c, 8), 1);
    CK_ENTRIES(c, 3, 8, 4, 11);
    RESET();
    ck_assert_int_eq(klog__epoch_truncate_start(c, 1), 0);
    ck_assert_int_eq(klog__epoch_truncate_start(c, -1), 0);
    ck_assert_int_eq(klog__epoch_truncate_start(c, 6), 1); /* rewritten, same value */
    CK_ENTRIES(c, 2, 6, 3, 8, 4, 11);
    ck_assert_int_eq(klog__epoch_truncate_start(c, 11), 1);
    CK_ENTRIES(c, 4, 11);
    RESET();
    klog__epoch_truncate_start(c, 9);
    CK_ENTRIES(c, 3, 9, 4, 11);
    RESET();
    klog__epoch_truncate_start(c, 15);
    CK_ENTRIES(c, 4, 15);
    klog__epoch_clear(c);
    ck_assert_int_eq(klog__epoch_truncate_start(c, 7), 0);
    ck_assert_int_eq(klog__epoch_truncate_end(c, 7), 0);
    klog__epoch_assign(c, 0, 0);
    klog__epoch_assign(c, 1, 7);
    klog__epoch_assign(c, 2, 10);
    klog__epoch_truncate_start(c, 5);
    CK_ENTRIES(c, 0, 5, 1, 7, 2, 10);
#undef RESET
    klog__epoch_close(c);
}
END_TEST

START_TEST(test_epoch_file)
{
    klog__epoch_cache_t *c = epochs();
    ck_assert_int_eq(klog__epoch_store(c), 0);
    size_t len;
    uint8_t *f = tu_read_file(tmp, "leader-epoch-checkpoint", &len);
    ck_assert_int_eq(len, 4);
    ck_assert_mem_eq(f, "0\n0\n", 4);
    free(f);
    klog__epoch_assign(c, 0, 0);
    klog__epoch_assign(c, 3, 1200);
    klog__epoch_assign(c, 2147483647, 9223372036854775807LL);
    ck_assert_int_eq(klog__epoch_store(c), 0);
    f = tu_read_file(tmp, "leader-epoch-checkpoint", &len);
    const char *want = "0\n3\n0 0\n3 1200\n2147483647 9223372036854775807\n";
    ck_assert_int_eq(len, strlen(want));
    ck_assert_mem_eq(f, want, len);
    free(f);
    klog__epoch_close(c);
    c = epochs(); /* shouldPersistEpochsBetweenInstances */
    CK_ENTRIES(c, 0, 0, 3, 1200, 2147483647, 9223372036854775807LL);
    klog__epoch_close(c);
    /* Loading applies Kafka's assign rules to what the file says. */
    const char *nonmono = "0\r\n4\r\n1 5\r\n2   6\n1\t7\r3 7";
    ck_assert_int_eq(tu_write_file(tmp, "leader-epoch-checkpoint", nonmono, strlen(nonmono)), 0);
    c = epochs();
    CK_ENTRIES(c, 3, 7); /* (1,5) (2,6) -> (1,7) replaces both -> (3,7) replaces it */
    klog__epoch_close(c);
    c = NULL;
    ALLOC_FAIL_LOOP(klog__epoch_open(tmp, 1, &c), klog__epoch_close(c); c = NULL);
    /* Kafka's reader rules, and ours on top. */
    struct {
        const char *text;
        int rc;
        size_t n;
    } cases[] = {
        {"", 0, 0},
        {"0\n", 0, 0},
        {"0\n0\n", 0, 0},
        {"0\n1\n5 10 \n", 0, 1},
        {"+0\n1\n+5 10\n", 0, 1},
        {"1\n0\n", KLOG_EVERSION, 0},
        {"x\n0\n", KLOG_ECORRUPT, 0},
        {"0\nx\n", KLOG_ECORRUPT, 0},
        {"0\n-1\n", KLOG_ECORRUPT, 0},
        {"0\n1\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5 10\n6 11\n", KLOG_ECORRUPT, 0},
        {"0\n2\n5 10\n", KLOG_ECORRUPT, 0},
        {"0\n1\n 5 10\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5 10 3\n", KLOG_ECORRUPT, 0},
        {"0\n1\n-5 10\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5 -10\n", KLOG_ECORRUPT, 0},
        {"0\n1\n2147483648 10\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5 9223372036854775808\n", KLOG_ECORRUPT, 0},
        {"0\n1\n5 1x\n", KLOG_ECORRUPT, 0},
        {"0\n1\n\n", KLOG_ECORRUPT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        klog__epoch_entry_t *v;
        size_t n;
        int rc = klog__epoch_parse((const uint8_t *)cases[i].text, strlen(cases[i].text), &v, &n);
        ck_assert_msg(rc == cases[i].rc, "case %zu: rc %d", i, rc);
        ck_assert_int_eq(n, cases[i].n);
        free(v);
    }
    ck_assert_int_eq(tu_write_file(tmp, "leader-epoch-checkpoint", "0\n1\n-1 0\n", 9), 0);
    CK_RC(klog__epoch_open(tmp, 1, &c), KLOG_ECORRUPT);
    /* A failed store leaves the old file. */
    ck_assert_int_eq(tu_write_file(tmp, "leader-epoch-checkpoint", "0\n1\n1 5\n", 8), 0);
    c = epochs();
    klog__epoch_assign(c, 2, 9);
    klog__fault_arm(KLOG__FAULT_RENAME, 1, EIO, 0, 0);
    CK_RC(klog__epoch_store(c), -EIO);
    klog__fault_clear();
    f = tu_read_file(tmp, "leader-epoch-checkpoint", &len);
    ck_assert_int_eq(len, 8);
    free(f);
    klog__epoch_close(c);
    klog__epoch_close(NULL);
}
END_TEST

Suite *logstate_suite(void)
{
    Suite *s = suite_create("logstate");
    TCase *tc = tcase_create("producer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sequence_arith);
    tcase_add_test(tc, test_duplicate_each_slot);
    tcase_add_test(tc, test_basic_mapping);
    tcase_add_test(tc, test_out_of_order);
    tcase_add_test(tc, test_fencing);
    tcase_add_test(tc, test_new_epoch_sequence);
    tcase_add_test(tc, test_unknown_producer);
    tcase_add_test(tc, test_wraparound);
    tcase_add_test(tc, test_transaction_rules);
    tcase_add_test(tc, test_lso_interleaved);
    tcase_add_test(tc, test_stage_multi_batch);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_markers);
    suite_add_tcase(s, tc);
    tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_snapshot_known_bytes);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_snapshot_corrupt_every_byte);
    tcase_add_test(tc, test_snapshot_field_checks);
    tcase_add_test(tc, test_snapshot_truncate_reload);
    tcase_add_test(tc, test_snapshot_strays);
    tcase_add_test(tc, test_snapshot_faults);
    suite_add_tcase(s, tc);
    tc = tcase_create("txnindex");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_txnindex_known_bytes);
    tcase_add_test(tc, test_txnindex_collect);
    tcase_add_test(tc, test_txnindex_corrupt);
    suite_add_tcase(s, tc);
    tc = tcase_create("epoch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_epoch_assign);
    tcase_add_test(tc, test_epoch_end_offsets);
    tcase_add_test(tc, test_epoch_truncate);
    tcase_add_test(tc, test_epoch_file);
    suite_add_tcase(s, tc);
    return s;
}
