/*
 * batch_builder.c — encodes records into one RecordBatch v2.
 *
 * Layout owned here: the builder keeps `raw` = [61 bytes reserved for the
 * header][records as section 1.4 encodes them], appending each record in
 * place as it is added (sizes are computed first, so each record is written
 * once, with no intermediate copy). finish() then either writes the header
 * into raw's first 61 bytes (no compression), or compresses raw[61, end)
 * into `out` after a fresh 61-byte header; finally the CRC-32C of
 * [21, end) is stored at byte 17.
 *
 * Field rules (Kafka's MemoryRecordsBuilder for a producer batch):
 * baseOffset 0, leader epoch -1, producer id/epoch/sequence -1, CreateTime;
 * offsetDelta i for the i-th record (lastOffsetDelta = count - 1);
 * baseTimestamp = first record's timestamp, timestampDelta = ts - base
 * (negative allowed; arithmetic wraps like Java's), maxTimestamp = max ts.
 *
 * Invariants: raw.len >= 61 between calls; `done` is non-NULL only while
 * the last finish() result is still valid (cleared by add and reset).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"

struct klog_builder {
    int codec;
    size_t count;
    int64_t base_ts;
    int64_t max_ts;
    klog__buf_t raw;
    klog__buf_t out;
    klog__codec_ctx_t ctx;
    uint8_t *done;
    size_t done_len;
    int64_t now;   /* clock read for KLOG_TIMESTAMP_NOW records of this batch */
    int now_valid;
    /* klog_builder_set_producer (until the next reset) */
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_seq;
    int32_t leader_epoch;
    uint16_t attr_flags; /* KLOG_ATTR_TRANSACTIONAL | KLOG_ATTR_CONTROL */
};

static void producer_defaults(klog_builder_t *b)
{
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_seq = -1;
    b->leader_epoch = -1;
    b->attr_flags = 0;
}

int klog_builder_new(int codec, klog_builder_t **out)
{
    *out = NULL;
    if (!klog_compression_supported(codec))
        return KLOG_ECODEC;
    klog_builder_t *b = klog__calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->codec = codec;
    if (klog__buf_reserve(&b->raw, 4096) != 0) {
        free(b);
        return -ENOMEM;
    }
    b->raw.len = KLOG_BATCH_HEADER_SIZE;
    producer_defaults(b);
    *out = b;
    return 0;
}

void klog_builder_free(klog_builder_t *b)
{
    if (!b)
        return;
    klog__buf_free(&b->raw);
    klog__buf_free(&b->out);
    klog__codec_ctx_free(&b->ctx);
    free(b);
}

void klog_builder_reset(klog_builder_t *b)
{
    b->raw.len = KLOG_BATCH_HEADER_SIZE;
    b->out.len = 0;
    b->count = 0;
    b->done = NULL;
    b->done_len = 0;
    b->now_valid = 0;
    producer_defaults(b);
}

int klog_builder_set_producer(klog_builder_t *b, int64_t producer_id, int16_t producer_epoch,
                              int32_t base_sequence, unsigned attr_flags)
{
    if (!b || producer_id < -1 || (attr_flags & ~(unsigned)(KLOG_ATTR_TRANSACTIONAL |
                                                             KLOG_ATTR_CONTROL)))
        return -EINVAL;
    b->producer_id = producer_id;
    b->producer_epoch = producer_epoch;
    b->base_seq = base_sequence;
    b->attr_flags = (uint16_t)attr_flags;
    b->done = NULL;
    return 0;
}

void klog_builder_set_leader_epoch(klog_builder_t *b, int32_t epoch)
{
    b->leader_epoch = epoch;
    b->done = NULL;
}

size_t klog_builder_count(const klog_builder_t *b)
{
    return b->count;
}

size_t klog_builder_size(const klog_builder_t *b)
{
    return b->raw.len - KLOG_BATCH_HEADER_SIZE;
}

static int bytes_ok(const void *p, int32_t len)
{
    return len >= KLOG_NULL_LEN && !(len > 0 && p == NULL);
}

/* Check the headers of rec and add their encoded size to *body. */
static int headers_size(const klog_record_t *rec, uint64_t *body)
{
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        if (!h->key || h->key_len < 0 || !bytes_ok(h->value, h->value_len))
            return -EINVAL;
        *body += klog__varint_size(h->key_len) + (uint64_t)h->key_len +
                 klog__varint_size(h->value_len) + (h->value_len > 0 ? (uint64_t)h->value_len : 0);
    }
    return 0;
}

static uint8_t *put_headers(uint8_t *p, const klog_record_t *rec)
{
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        p += klog__varint_put(p, h->key_len);
        if (h->key_len > 0) {
            memcpy(p, h->key, (size_t)h->key_len);
            p += h->key_len;
        }
        p += klog__varint_put(p, h->value_len);
        if (h->value_len > 0) {
            memcpy(p, h->value, (size_t)h->value_len);
            p += h->value_len;
        }
    }
    return p;
}

/* memcpy with a length the compiler cannot bound: knowing a length is
 * below 8 KiB, GCC inlines "rep movsq", which starts slowly and costs an
 * instruction per 8 bytes; the library's memcpy is faster for values. */
static inline void copy_value(uint8_t *dst, const void *src, size_t n)
{
#if defined(__GNUC__)
    __asm__("" : "+r"(n));
#endif
    memcpy(dst, src, n);
}

/* A varint known to be below 0x4000: both bytes stored unconditionally
 * (the second is overwritten by the next field when the value takes one;
 * the caller reserved room), no branch. */
static inline uint8_t *put12(uint8_t *p, uint32_t u)
{
    uint32_t two = u >= 0x80;
    p[0] = (uint8_t)(u | (two << 7));
    p[1] = (uint8_t)(u >> 7);
    return p + 1 + two;
}

/* The general encoder of one record: any timestamp delta, lengths and
 * headers. rec was checked; ts is its resolved timestamp. */
static int add_general(klog_builder_t *b, const klog_record_t *rec, uint64_t uts)
{
    uint32_t uoff = klog__zigzag32((int32_t)b->count);
    uint32_t ukey = klog__zigzag32(rec->key_len), uval = klog__zigzag32(rec->value_len);
    uint32_t uhdr = klog__zigzag32((int32_t)rec->header_count);
    size_t klen = rec->key_len > 0 ? (size_t)rec->key_len : 0;
    size_t vlen = rec->value_len > 0 ? (size_t)rec->value_len : 0;

    /* Body size, in 64 bits so hostile lengths cannot wrap. */
    uint64_t body = 1 + klog__uvarint_size(uts) + klog__uvarint_size(uoff) +
                    klog__uvarint_size(ukey) + klog__uvarint_size(uval) +
                    klog__uvarint_size(uhdr) + (uint64_t)klen + (uint64_t)vlen;
    if (rec->header_count > 0) {
        int rc = headers_size(rec, &body);
        if (rc)
            return rc;
    }
    if (body > INT32_MAX || b->raw.len + body + KLOG__VARINT_MAX > (uint64_t)INT32_MAX)
        return KLOG_ETOOLARGE;
    int rc = klog__buf_reserve(&b->raw, (size_t)body + KLOG__VARINT_MAX);
    if (rc)
        return rc;
    uint8_t *p = b->raw.data + b->raw.len;
    p += klog__uvarint_put(p, klog__zigzag32((int32_t)body));
    *p++ = 0; /* attributes */
    p += klog__uvarint_put(p, uts);
    p += klog__uvarint_put(p, uoff);
    p += klog__uvarint_put(p, ukey);
    if (klen) {
        memcpy(p, rec->key, klen);
        p += klen;
    }
    p += klog__uvarint_put(p, uval);
    if (vlen) {
        memcpy(p, rec->value, vlen);
        p += vlen;
    }
    p += klog__uvarint_put(p, uhdr);
    p = put_headers(p, rec);
    b->raw.len = (size_t)(p - b->raw.data);
    return 0;
}

/*
 * Per record (the hot path of klog_append). The common record (no
 * headers, a timestamp delta below 64 ms either way, fewer than 8192
 * records in the batch so far, key and value below 8 KiB) is encoded by a
 * straight line: sizes as "one byte, or two", each varint stored without
 * a branch, key and value copied once straight to their place in the
 * batch. Every other record takes add_general (the same bytes, any field).
 */
static inline int add_one(klog_builder_t *b, const klog_record_t *rec)
{
    if (KLOG__UNLIKELY(!rec || !bytes_ok(rec->key, rec->key_len) ||
                       !bytes_ok(rec->value, rec->value_len) ||
                       (rec->header_count > 0 && rec->headers == NULL) ||
                       rec->header_count > INT32_MAX))
        return -EINVAL;
    if (KLOG__UNLIKELY(b->count >= (size_t)INT32_MAX))
        return KLOG_ETOOLARGE;

    int64_t ts = rec->timestamp;
    if (ts == KLOG_TIMESTAMP_NOW) {
        /* One clock read per batch: its records are appended together, and
         * a read per record costs more than encoding it. */
        if (!b->now_valid) {
            b->now = klog__now_ms();
            b->now_valid = 1;
        }
        ts = b->now;
    }
    int64_t base = b->count ? b->base_ts : ts;
    uint64_t uts = klog__zigzag64((int64_t)((uint64_t)ts - (uint64_t)base));
    uint32_t uoff = (uint32_t)b->count << 1; /* zigzag of a count >= 0 */
    uint32_t ukey = klog__zigzag32(rec->key_len), uval = klog__zigzag32(rec->value_len);
    if (KLOG__LIKELY(rec->header_count == 0 && uts < 0x80 && (uoff | ukey | uval) < 0x4000)) {
        size_t klen = rec->key_len > 0 ? (size_t)rec->key_len : 0;
        size_t vlen = rec->value_len > 0 ? (size_t)rec->value_len : 0;
        /* attributes, timestampDelta, headerCount: one byte each */
        size_t body = 3 + 1 + (uoff >= 0x80) + 1 + (ukey >= 0x80) + 1 + (uval >= 0x80) + klen +
                      vlen; /* < 16 KiB + 9: its varint takes at most 3 bytes */
        size_t need = body + KLOG__VARINT_MAX;
        if (KLOG__UNLIKELY(b->raw.cap - b->raw.len < need ||
                           b->raw.len + need > (size_t)INT32_MAX)) {
            if (b->raw.len + need > (size_t)INT32_MAX)
                return KLOG_ETOOLARGE;
            int rc = klog__buf_reserve(&b->raw, need);
            if (rc)
                return rc;
        }
        uint8_t *p = b->raw.data + b->raw.len;
        uint32_t ubody = (uint32_t)body << 1;
        if (KLOG__LIKELY(ubody < 0x4000))
            p = put12(p, ubody);
        else
            p += klog__uvarint_put(p, ubody);
        p[0] = 0; /* attributes */
        p[1] = (uint8_t)uts;
        p = put12(p + 2, uoff);
        p = put12(p, ukey);
        if (klen) {
            copy_value(p, rec->key, klen);
            p += klen;
        }
        p = put12(p, uval);
        if (vlen) {
            copy_value(p, rec->value, vlen);
            p += vlen;
        }
        *p++ = 0; /* headerCount */
        b->raw.len = (size_t)(p - b->raw.data);
    } else {
        int rc = add_general(b, rec, uts);
        if (rc)
            return rc;
    }

    if (b->count == 0) {
        b->base_ts = ts;
        b->max_ts = ts;
    } else if (ts > b->max_ts) {
        b->max_ts = ts;
    }
    b->count++;
    b->done = NULL;
    return 0;
}

int klog_builder_add(klog_builder_t *b, const klog_record_t *rec)
{
    return add_one(b, rec);
}

/*
 * A record's bytes around its key and value, for the records after it of
 * the same shape (timestamp, key and value lengths, no headers): those are
 * the same bytes with their own offset delta, so run_same writes them
 * with template stores (a timestamp given as a number equal to the
 * batch's now is another shape: same bytes, by the general branch), one or two offset bytes and the copies.
 */
typedef struct same {
    uint64_t pre;       /* length, attributes, timestampDelta, offsetDelta, keyLength */
    uint8_t head[16];   /* no key bytes: pre and valueLength together */
    uint64_t lens;      /* key_len and value_len as they lie in klog_record_t */
    int64_t ts;         /* the timestamp as given (KLOG_TIMESTAMP_NOW: the batch's now) */
    uintptr_t last;     /* the last write position with room for one more */
    size_t stop;        /* count at which the offset delta's width changes */
    size_t klen, vlen;  /* bytes of key and value */
    size_t total;       /* bytes of the whole record */
    size_t pre_len, off, suf_len, head_len;
    uint16_t suf;       /* valueLength */
    int wide;           /* the offset delta takes two bytes */
} same_t;

/* Records i.. of t's shape, from *pp and *pcount; returns the first index
 * not written (another shape, a NULL key or value with a length, the end,
 * or the room). keyed: the shape has key bytes (a constant at each call,
 * so each variant is its own loop). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline size_t run_same(const same_t *t, const klog_record_t *recs, size_t i, size_t n,
                              uint8_t **pp, size_t *pcount, int keyed)
{
    uint8_t *p = *pp;
    size_t count = *pcount;
    /* Each record takes t->total bytes: the room and the width bound the
     * run's length before it starts, not per record. */
    if ((uintptr_t)p > t->last || count >= t->stop)
        return i;
    size_t fit = ((uintptr_t)t->last - (uintptr_t)p) / t->total + 1;
    if (fit > t->stop - count)
        fit = t->stop - count;
    size_t end = n - i > fit ? i + fit : n;
    for (; i < end; i++) {
        const klog_record_t *r = &recs[i];
        uint64_t lens;
        memcpy(&lens, &r->key_len, sizeof lens);
        if (r->timestamp != t->ts || lens != t->lens || r->header_count != 0 || (keyed && !r->key) ||
            (t->vlen && !r->value))
            break;
        uint32_t uoff = (uint32_t)count << 1;
        uint8_t *o = p + t->off;
        if (keyed) {
            memcpy(p, &t->pre, 8);
            p += t->pre_len;
            copy_value(p, r->key, t->klen);
            p += t->klen;
            memcpy(p, &t->suf, 2);
            p += t->suf_len;
        } else {
            memcpy(p, t->head, 16);
            p += t->head_len;
        }
        if (t->wide) {
            o[0] = (uint8_t)(uoff | 0x80);
            o[1] = (uint8_t)(uoff >> 7);
        } else {
            o[0] = (uint8_t)uoff;
        }
        if (t->vlen) {
            copy_value(p, r->value, t->vlen);
            p += t->vlen;
        }
        *p++ = 0; /* headerCount */
        count++;
    }
    *pp = p;
    *pcount = count;
    return i;
}

/*
 * klog_append's encoder: records of the common shape (as add_one's
 * straight line, with the batch already started) are encoded in a loop
 * that keeps the write position, count and max timestamp in registers and
 * stores them once, each followed by run_same over the records of its
 * shape; a record of any other shape, one that needs more room, or the
 * first into a builder with no buffer yet goes through add_one, and the
 * loop resumes. The bytes
 * are the same either way.
 */
int klog__builder_add_many(klog_builder_t *b, const klog_record_t *recs, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* (A batch of one record: add_one is as quick.) */
        if (b->raw.data && (b->count > 0 || n - i > 1)) {
            if (b->count == 0) {
                /* The batch's base timestamp is its first record's (as
                 * add_one sets it, should that record go there). */
                int64_t ts = recs[i].timestamp;
                if (ts == KLOG_TIMESTAMP_NOW) {
                    if (!b->now_valid) {
                        b->now = klog__now_ms();
                        b->now_valid = 1;
                    }
                    ts = b->now;
                }
                b->base_ts = ts;
                b->max_ts = ts;
            }
            int64_t base = b->base_ts, max_ts = b->max_ts;
            int64_t now = b->now_valid ? b->now : KLOG_TIMESTAMP_NOW;
            size_t count = b->count;
            uint8_t *data = b->raw.data, *p = data + b->raw.len;
            /* Below the batch size limit add_one enforces (INT32_MAX). */
            size_t room = b->raw.cap < (size_t)INT32_MAX ? b->raw.cap : (size_t)INT32_MAX;
            const uint8_t *lim = data + room;
            while (i < n) {
                const klog_record_t *r = &recs[i];
                int64_t ts = r->timestamp;
                if (ts == KLOG_TIMESTAMP_NOW) {
                    if (KLOG__UNLIKELY(now == KLOG_TIMESTAMP_NOW))
                        break;
                    ts = now;
                }
                int32_t kl = r->key_len, vl = r->value_len;
                /* delta in [-64, 63]: a one-byte varlong; lengths in
                 * [-1, 8191] and count below 8192: at most two bytes. */
                uint64_t d = (uint64_t)ts - (uint64_t)base + 64;
                if (KLOG__UNLIKELY(r->header_count != 0 || d >= 128 ||
                                   (uint32_t)(kl + 1) > 8192 || (uint32_t)(vl + 1) > 8192 ||
                                   count >= 8191 || (kl > 0 && !r->key) ||
                                   (vl > 0 && !r->value)))
                    break;
                uint32_t uoff = (uint32_t)count << 1;
                uint32_t ukey = klog__zigzag32(kl), uval = klog__zigzag32(vl);
                size_t klen = kl > 0 ? (size_t)kl : 0, vlen = vl > 0 ? (size_t)vl : 0;
                size_t body = 6 + (uoff >= 0x80) + (ukey >= 0x80) + (uval >= 0x80) + klen + vlen;
                if (KLOG__UNLIKELY((size_t)(lim - p) < body + KLOG__VARINT_MAX))
                    break;
                uint8_t *q0 = p;
                uint32_t ubody = (uint32_t)body << 1;
                if (KLOG__LIKELY(ubody < 0x4000))
                    p = put12(p, ubody);
                else
                    p += klog__uvarint_put(p, ubody);
                p[0] = 0; /* attributes */
                p[1] = (uint8_t)((uint64_t)(ts - base) << 1 ^ (uint64_t)((ts - base) >> 63));
                same_t t;
                t.off = (size_t)(p + 2 - q0);
                p = put12(p + 2, uoff);
                p = put12(p, ukey);
                t.pre_len = (size_t)(p - q0);
                memcpy(&t.pre, q0, 8); /* (room for body + 5 >= 11 bytes) */
                if (klen) {
                    copy_value(p, r->key, klen);
                    p += klen;
                }
                uint8_t *v0 = p;
                p = put12(p, uval);
                t.suf_len = (size_t)(p - v0);
                memcpy(&t.suf, v0, 2);
                if (vlen) {
                    copy_value(p, r->value, vlen);
                    p += vlen;
                }
                *p++ = 0; /* headerCount */
                if (ts > max_ts)
                    max_ts = ts;
                size_t total = (size_t)(p - q0);
                t.wide = count >= 64;
                count++;
                i++;
                /* Room for one more like it, and for the 16-byte template store. */
                size_t one = total + KLOG__VARINT_MAX > 16 ? total + KLOG__VARINT_MAX : 16;
                if (i == n || t.pre_len > 8 || (size_t)(lim - data) < one)
                    continue; /* no record left, no template, or no room for one more */
                memcpy(&t.lens, &r->key_len, sizeof t.lens);
                t.ts = r->timestamp;
                t.last = (uintptr_t)lim - one;
                t.stop = t.wide ? 8191 : 64;
                t.klen = klen;
                t.vlen = vlen;
                t.total = total;
                if (klen) {
                    i = run_same(&t, recs, i, n, &p, &count, 1);
                } else {
                    t.head_len = t.pre_len + t.suf_len; /* <= 8 + 3 */
                    memset(t.head, 0, sizeof t.head);
                    memcpy(t.head, q0, t.head_len);
                    i = run_same(&t, recs, i, n, &p, &count, 0);
                }
            }
            b->raw.len = (size_t)(p - data);
            b->count = count;
            b->max_ts = max_ts;
            b->done = NULL;
            if (i == n)
                break;
        }
        int rc = add_one(b, &recs[i]);
        if (KLOG__UNLIKELY(rc))
            return rc;
        i++;
    }
    return 0;
}

static void write_header(const klog_builder_t *b, uint8_t *h, size_t size)
{
    klog__store64(h + 0, 0);                          /* baseOffset */
    klog__store32(h + 8, (uint32_t)(size - 12));      /* batchLength */
    klog__store32(h + 12, (uint32_t)b->leader_epoch); /* partitionLeaderEpoch */
    h[16] = 2;                                        /* magic */
    klog__store16(h + 21, (uint16_t)(b->codec | b->attr_flags)); /* CreateTime */
    klog__store32(h + 23, (uint32_t)(b->count - 1));  /* lastOffsetDelta */
    klog__store64(h + 27, (uint64_t)b->base_ts);
    klog__store64(h + 35, (uint64_t)b->max_ts);
    klog__store64(h + 43, (uint64_t)b->producer_id);  /* producerId */
    klog__store16(h + 51, (uint16_t)b->producer_epoch);
    klog__store32(h + 53, (uint32_t)b->base_seq);     /* baseSequence */
    klog__store32(h + 57, (uint32_t)b->count);
    klog__store32(h + KLOG__CRC_OFFSET,
                  klog_crc32c(0, h + KLOG__ATTR_OFFSET, size - KLOG__ATTR_OFFSET));
}

int klog__builder_finish_own(klog_builder_t *b, uint8_t **batch, size_t *len)
{
    if (b->count == 0)
        return KLOG_EEMPTY;
    if (!b->done) {
        klog__buf_t *dst = &b->raw;
        if (b->codec != KLOG_COMPRESSION_NONE) {
            dst = &b->out;
            dst->len = 0;
            int rc = klog__buf_reserve(dst, KLOG_BATCH_HEADER_SIZE);
            if (rc)
                return rc;
            dst->len = KLOG_BATCH_HEADER_SIZE;
            rc = klog__compress(b->codec, &b->ctx, b->raw.data + KLOG_BATCH_HEADER_SIZE,
                                b->raw.len - KLOG_BATCH_HEADER_SIZE, dst);
            if (rc)
                return rc;
            if (dst->len - 12 > (size_t)INT32_MAX)
                return KLOG_ETOOLARGE;
        }
        write_header(b, dst->data, dst->len);
        b->done = dst->data;
        b->done_len = dst->len;
    }
    *batch = b->done;
    *len = b->done_len;
    return 0;
}

int klog_builder_finish(klog_builder_t *b, const void **batch, size_t *len)
{
    uint8_t *own;
    int rc = klog__builder_finish_own(b, &own, len);
    if (rc == 0)
        *batch = own;
    return rc;
}

int klog_batch_encode(const klog_record_t *recs, size_t n, int codec, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (n == 0)
        return KLOG_EEMPTY;
    if (!recs)
        return -EINVAL;
    klog_builder_t *b;
    int rc = klog_builder_new(codec, &b);
    if (rc)
        return rc;
    rc = klog__builder_add_many(b, recs, n);
    const void *batch;
    size_t len;
    if (rc == 0)
        rc = klog_builder_finish(b, &batch, &len);
    if (rc == 0) {
        /* Hand the finished buffer over instead of copying it. */
        klog__buf_t *src = batch == b->raw.data ? &b->raw : &b->out;
        *out = src->data;
        *out_len = len;
        memset(src, 0, sizeof *src);
    }
    klog_builder_free(b);
    return rc;
}
