/*
 * batch_reader.c — iterates the records of one RecordBatch v2 as views.
 *
 * open() decodes the 61-byte header (batch.c), checks the CRC when asked,
 * and points [p, end) at the records stream: the caller's own bytes for an
 * uncompressed batch (no copy), or the reader's reusable decompression
 * buffer. next() decodes one record per call with klog__record_decode; key,
 * value and header views point into that stream, header arrays into a
 * scratch array that only grows. Steady-state iteration allocates nothing.
 *
 * Reported values: offset = baseOffset + offsetDelta; timestamp =
 * baseTimestamp + timestampDelta, or maxTimestamp for every record when the
 * batch is LogAppendTime (attributes bit 3), as Kafka's readers do.
 *
 * Invariants: `err` is sticky — once a record fails to decode, every later
 * next() returns the same error until the next open(); `left` counts the
 * records still to decode; offset deltas must strictly increase and stay
 * within lastOffsetDelta (KLOG_EOFFSETDELTA otherwise); after the last
 * record the stream must be exhausted (KLOG_ERECCOUNT otherwise).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"

struct klog_batch_reader {
    klog_batch_info_t info;
    const uint8_t *p, *end;
    int32_t left;
    int32_t prev_delta;
    int err;
    int log_append_time;
    klog__buf_t dbuf;
    klog_header_t *hdrs;
    size_t hdr_cap;
    klog__codec_ctx_t ctx;
};

int klog_batch_reader_new(klog_batch_reader_t **out)
{
    klog_batch_reader_t *r = klog__calloc(1, sizeof *r);
    *out = r;
    if (!r)
        return -ENOMEM;
    r->err = -EINVAL; /* nothing opened yet */
    return 0;
}

void klog_batch_reader_free(klog_batch_reader_t *r)
{
    if (!r)
        return;
    klog__buf_free(&r->dbuf);
    free(r->hdrs);
    klog__codec_ctx_free(&r->ctx);
    free(r);
}

const klog_batch_info_t *klog_batch_reader_info(const klog_batch_reader_t *r)
{
    return &r->info;
}

static int open_fail(klog_batch_reader_t *r, int rc)
{
    r->err = rc;
    r->left = 0;
    return rc;
}

int klog_batch_reader_open(klog_batch_reader_t *r, const void *buf, size_t len, unsigned flags)
{
    const uint8_t *b = buf;
    r->p = r->end = NULL;
    r->left = 0;
    r->prev_delta = -1;
    int rc = klog_batch_header(buf, len, &r->info);
    if (rc) {
        memset(&r->info, 0, sizeof r->info);
        return open_fail(r, rc);
    }
    const klog_batch_info_t *in = &r->info;
    if ((flags & (KLOG_VALIDATE_HEADER | KLOG_VALIDATE_RECORDS)) &&
        klog_crc32c(0, b + KLOG__ATTR_OFFSET, in->size - KLOG__ATTR_OFFSET) != in->crc)
        return open_fail(r, KLOG_ECRC);
    if (in->record_count < 0)
        return open_fail(r, KLOG_ERECCOUNT);
    const uint8_t *recs = b + KLOG_BATCH_HEADER_SIZE, *end = b + in->size;
    if (in->compression != KLOG_COMPRESSION_NONE) {
        rc = klog__decompress(in->compression, &r->ctx, recs, (size_t)(end - recs), &r->dbuf);
        if (rc)
            return open_fail(r, rc);
        static const uint8_t none[1];
        recs = r->dbuf.data ? r->dbuf.data : none; /* empty stream: no buffer */
        end = recs + r->dbuf.len;
    }
    if (flags & KLOG_VALIDATE_RECORDS) {
        rc = klog__records_check(in, recs, end);
        if (rc)
            return open_fail(r, rc);
    }
    r->p = recs;
    r->end = end;
    r->left = in->record_count;
    r->log_append_time = (in->attributes & KLOG_ATTR_LOG_APPEND_TIME) != 0;
    r->err = 0;
    return 0;
}

int klog_batch_reader_next(klog_batch_reader_t *r, klog_record_t *rec)
{
    if (KLOG__UNLIKELY(r->err))
        return r->err;
    if (KLOG__UNLIKELY(r->left == 0)) {
        if (r->p != r->end)
            return r->err = KLOG_ERECCOUNT; /* bytes after the last record */
        return 0;
    }
    if (KLOG__UNLIKELY(r->p == r->end))
        return r->err = KLOG_ERECCOUNT; /* fewer records than declared */
    int rc = klog__record_decode(&r->p, r->end, rec, &r->hdrs, &r->hdr_cap);
    if (KLOG__UNLIKELY(rc))
        return r->err = rc;
    int32_t delta = (int32_t)rec->offset;
    if (KLOG__UNLIKELY(delta <= r->prev_delta || delta > r->info.last_offset_delta))
        return r->err = KLOG_EOFFSETDELTA;
    r->prev_delta = delta;
    r->left--;
    rec->offset = (int64_t)((uint64_t)r->info.base_offset + (uint64_t)(int64_t)delta);
    rec->timestamp = r->log_append_time
                         ? r->info.max_timestamp
                         : (int64_t)((uint64_t)r->info.base_timestamp + (uint64_t)rec->timestamp);
    return 1;
}
