/*
 * txn_gen — write a libklog log whose partition holds every producer-state
 * file Kafka keeps, for Apache Kafka's DumpLogSegments to read
 * (test/interop/kafka_dumplog.sh):
 *
 *   txn_gen DIR
 *
 * Topic x, one partition, 16 KiB segments, an index entry per KiB. 240
 * batches of 5 records in turn from no producer, an idempotent producer
 * (id 1000, epoch 0, sequences from 0) and a transactional one (id 2000,
 * epoch 1): transactions of 4 batches, every third aborted, each ended by
 * klog_append_marker. The batches carry partitionLeaderEpoch 0, then 3 from
 * batch 80, then 7 from batch 160 (a replicating leader's epoch changes).
 * So the partition gets producer snapshots (.snapshot, at each roll and
 * at close), .txnindex files (segments with an aborted transaction) and a
 * leader-epoch-checkpoint. Prints what Kafka must find:
 *   epoch E START        first offset of each leader epoch
 *   abort FIRST LAST     each aborted transaction: first offset, marker offset
 *   commit LAST          each committed transaction's marker offset
 *   idem LASTSEQ LASTOFF the idempotent producer's last sequence and offset
 *   end OFFSET           the log end
 * Exit status: 0, 1 on a library error (printed).
 */
#include <stdio.h>
#include <string.h>

#include "klog.h"

static int die(const char *what, int rc)
{
    fprintf(stderr, "txn_gen: %s: %s\n", what, klog_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: txn_gen DIR\n", stderr);
        return 2;
    }
    klog_t *log = NULL;
    klog_config_t *tc = NULL;
    klog_partition_t *p = NULL;
    klog_builder_t *b = NULL;
    int rc = klog_open(argv[1], NULL, 0, &log);
    if (rc)
        return die("open", rc);
    if ((rc = klog_config_new(&tc)) || (rc = klog_config_set(tc, KLOG_CONF_SEGMENT_BYTES, 16384)) ||
        (rc = klog_config_set(tc, KLOG_CONF_INDEX_INTERVAL_BYTES, 1024)) ||
        (rc = klog_topic_create(log, "x", 1, tc)) || (rc = klog_partition(log, "x", 0, &p)) ||
        (rc = klog_builder_new(KLOG_COMPRESSION_NONE, &b)))
        return die("create topic x", rc);
    int32_t epoch = -1, seq1 = 0, seq2 = 0, in_txn = 0, txn_batches = 0, txns = 0;
    int64_t txn_first = -1, off = 0, last_idem = -1;
    char val[200];
    for (int i = 0; i < 240; i++) {
        int32_t e = i < 80 ? 0 : i < 160 ? 3 : 7;
        int kind = i % 3;
        klog_builder_reset(b);
        klog_builder_set_leader_epoch(b, e);
        if (kind == 1)
            rc = klog_builder_set_producer(b, 1000, 0, seq1, 0);
        else if (kind == 2)
            rc = klog_builder_set_producer(b, 2000, 1, seq2, KLOG_ATTR_TRANSACTIONAL);
        if (rc)
            return die("builder producer", rc);
        for (int r = 0; r < 5; r++) {
            int n = snprintf(val, sizeof val, "batch %d record %d kind %d ", i, r, kind);
            memset(val + n, 'a' + r, sizeof val - (size_t)n);
            klog_record_t rec = {.timestamp = 1700000000000 + i * 10 + r, .key = "key", .key_len = 3,
                                 .value = val, .value_len = 120 + r * 7};
            if ((rc = klog_builder_add(b, &rec)))
                return die("builder add", rc);
        }
        const void *bytes;
        size_t len;
        int64_t base;
        if ((rc = klog_builder_finish(b, &bytes, &len)) ||
            (rc = klog_append_batch(p, bytes, len, &base)))
            return die("append batch", rc);
        if (e != epoch) {
            printf("epoch %d %lld\n", (int)e, (long long)base);
            epoch = e;
        }
        off = base + 5;
        if (kind == 1) {
            seq1 += 5;
            last_idem = base + 4;
        } else if (kind == 2) {
            seq2 += 5;
            if (!in_txn)
                txn_first = base;
            in_txn = 1;
            if (++txn_batches == 4) {
                int commit = txns % 3 != 2;
                int64_t m;
                if ((rc = klog_append_marker(p, 2000, 1, commit, 0, &m)))
                    return die("marker", rc);
                if (commit)
                    printf("commit %lld\n", (long long)m);
                else
                    printf("abort %lld %lld\n", (long long)txn_first, (long long)m);
                off = m + 1;
                txns++;
                in_txn = 0;
                txn_batches = 0;
            }
        }
    }
    if (in_txn) {
        int64_t m;
        if ((rc = klog_append_marker(p, 2000, 1, 1, 0, &m)))
            return die("marker", rc);
        printf("commit %lld\n", (long long)m);
        off = m + 1;
    }
    printf("idem %d %lld\nend %lld\n", (int)(seq1 - 1), (long long)last_idem, (long long)off);
    klog_builder_free(b);
    klog_config_free(tc);
    if ((rc = klog_close(log)))
        return die("close", rc);
    return 0;
}
