/* tu_txn.c — see tu_txn.h. */
#include "util/tu_txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tu_txn_append(klog_partition_t *p, int64_t at, int64_t pid, int16_t epoch, int32_t seq,
                  int n, unsigned flags, int32_t leader_epoch, tu_txn_value_fn fn, void *ctx,
                  int64_t *base)
{
    klog_builder_t *b;
    int rc = klog_builder_new(KLOG_COMPRESSION_NONE, &b);
    if (rc)
        return rc;
    rc = klog_builder_set_producer(b, pid, epoch, seq, flags);
    klog_builder_set_leader_epoch(b, leader_epoch);
    for (int i = 0; i < n && !rc; i++) {
        char v[128];
        size_t vl = fn(ctx, at + i, v, sizeof v);
        klog_record_t r = {.timestamp = 1700000000000LL + at + i, .key_len = KLOG_NULL_LEN,
                           .value = v, .value_len = (int32_t)vl};
        rc = klog_builder_add(b, &r);
    }
    const void *data;
    size_t len;
    if (!rc)
        rc = klog_builder_finish(b, &data, &len);
    if (!rc)
        rc = klog_append_batch(p, data, len, base);
    klog_builder_free(b);
    return rc;
}

int tu_txn_step(klog_partition_t *p, int k, int32_t le, int no_markers, int64_t *end,
                long *markers, tu_txn_value_fn fn, void *ctx)
{
    static int32_t seq[3];
    int n = 1 + k % 3, rc;
    int64_t base;
    switch (k % 6) {
    case 0:
        rc = tu_txn_append(p, *end, 100, 0, seq[0], n, 0, le, fn, ctx, &base);
        seq[0] += n;
        break;
    case 1:
    case 2:
        rc = tu_txn_append(p, *end, 199 + k % 6, 0, seq[k % 6], n, KLOG_ATTR_TRANSACTIONAL, le,
                           fn, ctx, &base);
        seq[k % 6] += n;
        break;
    case 3:
    case 5:
        if (no_markers)
            return 0;
        rc = klog_append_marker(p, k % 6 == 3 ? 200 : 201, 0, (k / 6) % 3 != 0, 0, &base);
        n = 1;
        ++*markers;
        break;
    default: {
        char v[128];
        size_t vl = fn(ctx, *end, v, sizeof v);
        klog_record_t r = {.timestamp = 1700000000000LL + *end, .key_len = KLOG_NULL_LEN,
                           .value = v, .value_len = (int32_t)vl};
        rc = klog_append(p, &r, 1, &base);
        n = 1;
    }
    }
    if (!rc && base != *end)
        rc = -1000;
    *end += n;
    return rc;
}

static void mask_aborted(char *s)
{
    char *a = strstr(s, " aborted"), *e = strstr(s, " epochs");
    if (!a || !e || e < a)
        return;
    a += strlen(" aborted");
    memmove(a + 2, e, strlen(e) + 1);
    a[0] = ' ';
    a[1] = '-';
}

int tu_txn_summary(klog_partition_t *p, int32_t max_epoch, int with_lease, char *buf,
                   size_t cap)
{
    klog_offsets_t of;
    int64_t lso;
    int rc = klog_partition_offsets(p, &of);
    if (!rc)
        rc = klog_partition_lso(p, &lso);
    if (rc)
        return rc;
    size_t k = (size_t)snprintf(buf, cap, "lso %lld", (long long)lso);
    /* Records a read_committed consumer gets. */
    klog_reader_t *r;
    if ((rc = klog_reader_open(p, of.log_start, &r)) != 0)
        return rc;
    rc = klog_reader_set_isolation(r, KLOG_ISOLATION_READ_COMMITTED);
    long committed = 0;
    klog_record_t rec;
    while (!rc && (rc = klog_reader_next(r, &rec)) == 1) {
        committed++;
        rc = 0;
    }
    klog_reader_close(r);
    if (rc < 0)
        return rc;
    k += (size_t)snprintf(buf + k, cap - k, " committed %ld aborted", committed);
    /* The aborted transactions a Fetch of everything carries. */
    if (!with_lease) {
        k += (size_t)snprintf(buf + k, cap - k, " -");
        goto epochs;
    }
    klog_lease_t *l;
    rc = klog_lease_acquire_isolated(p, of.log_start, (size_t)1 << 30,
                                     KLOG_ISOLATION_READ_COMMITTED, &l);
    if (rc)
        return rc;
    size_t na;
    const klog_aborted_txn_t *a = klog_lease_aborted(l, &na);
    for (size_t i = 0; i < na && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, " %lld/%lld-%lld", (long long)a[i].producer_id,
                              (long long)a[i].first_offset, (long long)a[i].last_offset);
    klog_lease_release(l);
epochs:
    if (k < cap)
        k += (size_t)snprintf(buf + k, cap - k, " epochs");
    for (int32_t e = -1; e <= max_epoch + 1 && k < cap; e++) {
        int32_t ee;
        int64_t eo;
        if ((rc = klog_offset_for_leader_epoch(p, e, &ee, &eo)) != 0)
            return rc;
        k += (size_t)snprintf(buf + k, cap - k, " %d:%d@%lld", e, ee, (long long)eo);
    }
    return k < cap ? 0 : -1;
}

int tu_txn_expect(klog_partition_t *p, int32_t max_epoch, int with_lease, const char *expect,
                  char *got, size_t cap)
{
    char want[4096];
    snprintf(want, sizeof want, "%s", expect);
    if (!with_lease)
        mask_aborted(want);
    int rc = tu_txn_summary(p, max_epoch, with_lease, got, cap);
    return rc ? rc : strcmp(got, want) != 0;
}
