/*
 * fuzz_epoch.c — klog__epoch_parse on arbitrary checkpoint text. Parsed
 * entries are written back in Kafka's form and parsed again (same entries),
 * then assigned one by one into a cache as loading does: the cache must stay
 * strictly increasing in epoch and start offset, and OffsetForLeaderEpoch
 * answers for every epoch near the entries must follow Kafka's rule.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/epoch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LeaderEpochFileCache.endOffsetFor, written out again. */
static void expect_end(const klog__epoch_cache_t *c, int32_t req, int64_t leo)
{
    int32_t e;
    int64_t o, we = -1, wo = -1;
    size_t n = klog__epoch_count(c);
    klog__epoch_end_offset(c, req, leo, &e, &o);
    if (req != -1 && n) {
        if (klog__epoch_at(c, n - 1)->epoch == req) {
            we = req;
            wo = leo;
        } else {
            const klog__epoch_entry_t *floor = NULL, *higher = NULL;
            for (size_t i = 0; i < n; i++) {
                const klog__epoch_entry_t *x = klog__epoch_at(c, i);
                if (x->epoch <= req)
                    floor = x;
                else if (!higher)
                    higher = x;
            }
            if (higher) {
                we = floor ? floor->epoch : req;
                wo = higher->start_offset;
            }
        }
    }
    if (e != we || o != wo)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    klog__epoch_entry_t *v, *w;
    size_t n, wn;
    int rc = klog__epoch_parse(data, size, &v, &n);
    if (rc) {
        if ((rc != KLOG_ECORRUPT && rc != KLOG_EVERSION) || v || n)
            abort();
        return 0;
    }
    klog__buf_t b = {0};
    if (klog__epoch_format(v, n, &b) || klog__epoch_parse(b.data, b.len, &w, &wn) || wn != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (v[i].epoch != w[i].epoch || v[i].start_offset != w[i].start_offset)
            abort();
    klog__buf_free(&b);
    free(w);
    /* A directory that cannot exist gives an empty cache (no file). */
    klog__epoch_cache_t *c;
    if (klog__epoch_open("/nonexistent-klog-fuzz-dir", 1, &c))
        abort();
    for (size_t i = 0; i < n; i++) {
        if (klog__epoch_assign(c, v[i].epoch, v[i].start_offset) < 0)
            abort();
        const klog__epoch_entry_t *last = klog__epoch_at(c, klog__epoch_count(c) - 1);
        if (!last || last->epoch != v[i].epoch || last->start_offset > v[i].start_offset)
            abort();
    }
    for (size_t i = 1; i < klog__epoch_count(c); i++) {
        const klog__epoch_entry_t *a = klog__epoch_at(c, i - 1), *z = klog__epoch_at(c, i);
        if (a->epoch >= z->epoch || a->start_offset >= z->start_offset)
            abort();
    }
    for (size_t i = 0; i < n && i < 32; i++) {
        expect_end(c, v[i].epoch, INT64_MAX);
        if (v[i].epoch > 0)
            expect_end(c, v[i].epoch - 1, 5);
        if (v[i].epoch < INT32_MAX)
            expect_end(c, v[i].epoch + 1, 5);
    }
    expect_end(c, -1, 0);
    /* Truncations keep the invariant. */
    if (n) {
        klog__epoch_truncate_start(c, v[0].start_offset);
        klog__epoch_truncate_end(c, v[n - 1].start_offset);
        for (size_t i = 1; i < klog__epoch_count(c); i++)
            if (klog__epoch_at(c, i - 1)->start_offset >= klog__epoch_at(c, i)->start_offset)
                abort();
    }
    klog__epoch_close(c);
    free(v);
    return 0;
}
