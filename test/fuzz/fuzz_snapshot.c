/*
 * fuzz_snapshot.c — klog__snapshot_decode on arbitrary bytes, tried as
 * given and (when long enough) with the right CRC-32C in bytes 2..5 so that
 * mutations reach the field checks. A snapshot that decodes must hold the
 * promised field ranges and re-encode to exactly the bytes decoded. Its
 * entries are then loaded into a producer state (a repeated producer id is
 * KLOG_ECORRUPT); a loaded state must encode to a snapshot that decodes to
 * the same entries, and accept a continuation batch from each producer.
 */
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/producer_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Field by field: the struct has padding. */
static int same(const klog__producer_t *a, const klog__producer_t *b)
{
    if (a->producer_id != b->producer_id || a->epoch != b->epoch ||
        a->coordinator_epoch != b->coordinator_epoch || a->last_timestamp != b->last_timestamp ||
        a->txn_first_offset != b->txn_first_offset || a->nbatches != b->nbatches)
        return 0;
    for (int i = 0; i < a->nbatches; i++)
        if (a->batches[i].last_seq != b->batches[i].last_seq ||
            a->batches[i].offset_delta != b->batches[i].offset_delta ||
            a->batches[i].last_offset != b->batches[i].last_offset ||
            a->batches[i].timestamp != b->batches[i].timestamp)
            return 0;
    return 1;
}

static void check_state(const klog__producer_t *v, size_t n)
{
    klog__pstate_t *ps;
    if (klog__pstate_new(KLOG__PRODUCER_ID_EXPIRATION_MS, 1, &ps))
        abort();
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = klog__pstate_load_entry(ps, &v[i]);
    if (rc) {
        if (rc != KLOG_ECORRUPT)
            abort();
        klog__pstate_free(ps);
        return;
    }
    if (klog__pstate_count(ps) != n)
        abort();
    klog__buf_t b = {0};
    klog__producer_t *w;
    size_t wn;
    if (klog__snapshot_encode_state(ps, &b) || klog__snapshot_decode(b.data, b.len, &w, &wn) ||
        wn != n)
        abort();
    for (size_t i = 0; i < wn; i++) {
        const klog__producer_t *p = klog__pstate_get(ps, w[i].producer_id);
        if (!p || (i && w[i - 1].producer_id >= w[i].producer_id) ||
            !same(p, &w[i]))
            abort();
    }
    /* Every loaded producer can go on with the next sequence of its epoch
     * (0 when it has none yet), in or out of its open transaction. */
    for (size_t i = 0; i < wn; i++) {
        const klog__producer_t *p = &w[i];
        klog__pstage_t st = {0};
        klog__pcheck_t res;
        klog__pbatch_in_t in = {0};
        int32_t last = p->nbatches ? p->batches[p->nbatches - 1].last_seq : -1;
        in.producer_id = p->producer_id;
        in.epoch = p->epoch;
        in.base_seq = last >= 0 ? klog__seq_add(last, 1) : 0;
        in.is_transactional = p->txn_first_offset >= 0;
        in.base_offset = INT64_MAX / 2;
        in.record_count = 1;
        if (klog__pstate_check(ps, &st, &in, KLOG__ORIGIN_CLIENT, &res) || res.duplicate)
            abort();
        klog__pstate_commit(ps, &st, in.base_offset + 1);
        const klog__producer_t *q = klog__pstate_get(ps, p->producer_id);
        if (!q || q->batches[q->nbatches - 1].last_seq != in.base_seq ||
            q->txn_first_offset != p->txn_first_offset)
            abort();
        klog__pstage_free(&st);
    }
    free(w);
    klog__buf_free(&b);
    klog__pstate_free(ps);
}

static void check(const uint8_t *data, size_t size)
{
    klog__producer_t *v;
    size_t n;
    int rc = klog__snapshot_decode(data, size, &v, &n);
    if (rc) {
        if ((rc != KLOG_ECORRUPT && rc != KLOG_EVERSION) || v || n)
            abort();
        return;
    }
    if (size != KLOG__SNAPSHOT_HEADER_SIZE + n * KLOG__SNAPSHOT_ENTRY_SIZE)
        abort();
    for (size_t i = 0; i < n; i++) {
        const klog__producer_t *p = &v[i];
        if (p->producer_id < 0 || p->epoch < -1 || p->txn_first_offset < -1 || p->nbatches > 1)
            abort();
        if (p->nbatches && (p->batches[0].last_offset < p->batches[0].offset_delta ||
                            p->batches[0].offset_delta < 0 || p->batches[0].last_seq < -1))
            abort();
    }
    klog__buf_t b = {0};
    if (klog__snapshot_encode(v, n, &b) || b.len != size || memcmp(b.data, data, size) != 0)
        abort();
    klog__buf_free(&b);
    check_state(v, n);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size >= KLOG__SNAPSHOT_HEADER_SIZE) {
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        klog__store16(copy, 1);
        klog__store32(copy + 2, klog_crc32c(0, copy + 6, size - 6));
        check(copy, size);
        free(copy);
    }
    return 0;
}
