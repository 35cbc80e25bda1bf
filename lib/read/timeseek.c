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

#include "storage/partition.h"

/* Scan segment s from the batch holding `from`; 1 found, 0 not here. */
static int scan_segment(klog__segment_t *s, int64_t from, int64_t ts, int64_t hw,
                        klog_batch_reader_t *br, int64_t start, int64_t *out)
{
    int64_t limit = klog__segment_readable(s);
    int64_t pos, bsize, bbase, blast;
    int rc = klog__segment_find(s, from, limit, &pos, &bsize, &bbase, &blast);
    if (rc <= 0)
        return rc;
    klog__cursor_t c = {0};
    klog__cursor_init(&c, s, pos, limit, 64 * 1024, 0);
    for (;;) {
        klog_batch_info_t bi;
        rc = klog__cursor_peek(&c, &bi);
        if (rc != KLOG__CUR_BATCH)
            break; /* the end, a batch still being written, damage or an error */
        if (bi.base_offset + bi.last_offset_delta >= hw)
            break;
        if (bi.max_timestamp >= ts) {
            const uint8_t *data;
            rc = klog__cursor_batch(&c, bi.size, &data);
            if (rc <= 0) {
                rc = rc < 0 ? rc : KLOG_ECORRUPT;
                break;
            }
            rc = klog_batch_reader_open(br, data, bi.size, KLOG_VALIDATE_HEADER);
            klog_record_t rec;
            while (rc >= 0 && (rc = klog_batch_reader_next(br, &rec)) == 1) {
                if (rec.timestamp >= ts && rec.offset >= start) {
                    *out = rec.offset;
                    klog__cursor_free(&c);
                    return 1;
                }
            }
            if (rc < 0)
                break;
        }
        klog__cursor_seek(&c, c.pos + (int64_t)bi.size, -1);
    }
    if (rc == KLOG__CUR_PARTIAL || rc == KLOG__CUR_BATCH)
        rc = 0;
    klog__cursor_free(&c);
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
        if (i + 1 < l->n && klog__segment_base(l->seg[i + 1]) <= start)
            continue;
        int active = i + 1 == l->n;
        if (!active && klog__segment_load_meta(s) == 0 && klog__segment_max_ts(s) < ts)
            continue;
        /* The active segment's max timestamp changes under appends (written
         * under the append lock, which readers never take): no shortcut
         * there; its time index bounds the scan instead. */
        rc = klog__segment_pin(s, 0);
        if (rc)
            break;
        /* Entries with a timestamp below ts bound where to start: no record
         * at or before their offset can qualify. */
        int64_t from =
            ts > INT64_MIN ? klog__segment_timeidx_floor(s, ts - 1) : klog__segment_base(s);
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
