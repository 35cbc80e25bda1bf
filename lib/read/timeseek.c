/*
 * timeseek.c — offset for a timestamp (Kafka's ListOffsets by time).
 *
 * Inactive segments are skipped while their max timestamp (from the seal,
 * or kept in memory since the roll) is below the target; the active one,
 * whose max timestamp moves under appends, is always looked at.
 * In the first candidate the time index gives the last entry at or below
 * the target; scanning starts at the batch holding that entry's offset,
 * skips batches whose maxTimestamp is below the target, and decodes the
 * first remaining batch to find the first record at or above it.
 */
#include <errno.h>
#include <stdlib.h>

#include "platform/bytes.h"
#include "storage/storage.h"

/* Scan segment s from the batch holding `from`; 1 found, 0 not here. */
static int scan_segment(klog__segment_t *s, int64_t from, int64_t ts, int64_t hw,
                        klog_batch_reader_t *br, int64_t start, int64_t *out)
{
    int64_t limit = klog__segment_readable(s);
    int64_t pos, bsize, bbase, blast;
    int rc = klog__segment_find(s, from, limit, &pos, &bsize, &bbase, &blast);
    if (rc <= 0)
        return rc;
    klog__buf_t buf = {0};
    while (pos + KLOG_BATCH_HEADER_SIZE <= limit) {
        uint8_t h[KLOG_BATCH_HEADER_SIZE];
        ssize_t n = klog__pread_full(s->fd, h, sizeof h, (off_t)pos);
        if (n < (ssize_t)sizeof h) {
            rc = n < 0 ? (int)n : 0;
            break;
        }
        klog_batch_info_t bi;
        rc = klog__peek_header(h, &bi);
        if (rc)
            break;
        if (pos + (int64_t)bi.size > limit || bi.base_offset + bi.last_offset_delta >= hw)
            break;
        if (bi.max_timestamp >= ts) {
            buf.len = 0;
            rc = klog__buf_reserve(&buf, bi.size);
            if (rc)
                break;
            n = klog__pread_full(s->fd, buf.data, bi.size, (off_t)pos);
            if (n < (ssize_t)bi.size) {
                rc = n < 0 ? (int)n : KLOG_ECORRUPT;
                break;
            }
            rc = klog_batch_reader_open(br, buf.data, bi.size, KLOG_VALIDATE_HEADER);
            klog_record_t rec;
            while (rc >= 0 && (rc = klog_batch_reader_next(br, &rec)) == 1) {
                if (rec.timestamp >= ts && rec.offset >= start) {
                    *out = rec.offset;
                    klog__buf_free(&buf);
                    return 1;
                }
            }
            if (rc < 0)
                break;
        }
        pos += bi.size;
    }
    klog__buf_free(&buf);
    return rc;
}

int klog_offset_for_time(klog_partition_t *p, int64_t ts, int64_t *offset)
{
    if (!p || !offset)
        return -EINVAL;
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    klog_batch_reader_t *br;
    rc = klog_batch_reader_new(&br);
    if (rc)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    int64_t hw = klog__partition_hw(p), start = klog__partition_log_start(p);
    *offset = hw;
    for (size_t i = 0; l && i < l->n; i++) {
        klog__segment_t *s = l->seg[i];
        if (i + 1 < l->n && l->seg[i + 1]->base <= start)
            continue;
        int active = i + 1 == l->n;
        if (!active && klog__segment_load_meta(s) == 0 && s->max_ts < ts)
            continue;
        /* The active segment's max timestamp changes under appends (written
         * under the append lock, which readers never take): no shortcut
         * there; its time index bounds the scan instead. */
        rc = klog__segment_pin(s, 0);
        if (rc)
            break;
        /* Entries with a timestamp below ts bound where to start: no record
         * at or before their offset can qualify. */
        int64_t from = ts > INT64_MIN ? klog__timeidx_lookup(&s->tix, ts - 1) : s->base;
        if (from < start)
            from = start;
        rc = scan_segment(s, from, ts, hw, br, start, offset);
        klog__segment_unpin(s);
        if (rc)
            break;
    }
    klog__seglist_unref(l);
    klog_batch_reader_free(br);
    return rc < 0 ? rc : 0;
}
