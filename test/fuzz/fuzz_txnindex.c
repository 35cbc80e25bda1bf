/*
 * fuzz_txnindex.c — klog__txnidx_decode on arbitrary bytes, for a segment
 * based at 0 and at the first entry's firstOffset. A decoded index must hold
 * the promised invariants and re-encode to the same bytes, and Kafka's
 * aborted-transaction query (klog__txn_collect) over ranges taken from the
 * entries themselves must agree with a direct model of the rule.
 */
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/txnindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Kafka's collectAbortedTxns, written out again for comparison. */
static void check_query(const klog__aborted_txn_t *v, size_t n, int64_t s, int64_t e)
{
    klog__aborted_txn_t *got = NULL;
    size_t ng = 0, k = 0;
    int complete, want_complete = 0;
    if (klog__txn_collect(v, n, s, e, &got, &ng, &complete))
        abort();
    for (size_t i = 0; i < n && !want_complete; i++) {
        if (v[i].last_offset >= s && v[i].first_offset < e) {
            if (k >= ng || memcmp(&got[k], &v[i], sizeof v[i]) != 0)
                abort();
            k++;
        }
        want_complete = v[i].lso >= e;
    }
    if (k != ng || complete != want_complete)
        abort();
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t bases[2] = {0, size >= 18 ? (int64_t)klog__load64(data + 10) : 0};
    for (int k = 0; k < 2; k++) {
        klog__aborted_txn_t *v;
        size_t n;
        int rc = klog__txnidx_decode(data, size, bases[k], &v, &n);
        if (rc) {
            if ((rc != KLOG_ECORRUPT && rc != KLOG_EVERSION) || v || n)
                abort();
            continue;
        }
        if (n * KLOG__TXNIDX_ENTRY_SIZE != size)
            abort();
        for (size_t i = 0; i < n; i++) {
            uint8_t buf[KLOG__TXNIDX_ENTRY_SIZE];
            klog__txnidx_encode(&v[i], buf);
            if (memcmp(buf, data + i * KLOG__TXNIDX_ENTRY_SIZE, sizeof buf) != 0)
                abort();
            if (v[i].producer_id < 0 || v[i].first_offset < 0 ||
                v[i].first_offset > v[i].last_offset || v[i].last_offset < bases[k] ||
                v[i].lso < 0 || (i && v[i].last_offset <= v[i - 1].last_offset))
                abort();
        }
        /* Ranges on every boundary the entries define. */
        for (size_t i = 0; i < n && i < 16; i++) {
            int64_t pts[4] = {v[i].first_offset, v[i].last_offset, v[i].lso,
                              v[i].last_offset < INT64_MAX ? v[i].last_offset + 1 : 0};
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    if (pts[a] <= pts[b])
                        check_query(v, n, pts[a], pts[b]);
        }
        check_query(v, n, 0, INT64_MAX);
        free(v);
    }
    return 0;
}
