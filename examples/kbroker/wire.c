/*
 * wire.c — Kafka primitive types: a bounds-checked reader over one request
 * frame and a growable writer for responses.
 *
 * Everything is big-endian. The reader never reads outside [p, p+len): a
 * short field, a negative length other than -1 or an array count that could
 * not fit in the remaining bytes sets a sticky error and yields zeros, so a
 * handler parses straight through and checks r->err once. This is what keeps
 * a hostile client from steering reads or allocations with length fields.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

void kb_rd_init(kb_rd_t *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

static const uint8_t *take(kb_rd_t *r, size_t n)
{
    if (r->err || r->len - r->pos < n) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static uint64_t load_be(const uint8_t *q, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | q[i];
    return v;
}

int8_t kb_rd_i8(kb_rd_t *r)
{
    const uint8_t *q = take(r, 1);
    return q ? (int8_t)q[0] : 0;
}

int16_t kb_rd_i16(kb_rd_t *r)
{
    const uint8_t *q = take(r, 2);
    return q ? (int16_t)(uint16_t)load_be(q, 2) : 0;
}

int32_t kb_rd_i32(kb_rd_t *r)
{
    const uint8_t *q = take(r, 4);
    return q ? (int32_t)(uint32_t)load_be(q, 4) : 0;
}

int64_t kb_rd_i64(kb_rd_t *r)
{
    const uint8_t *q = take(r, 8);
    return q ? (int64_t)load_be(q, 8) : 0;
}

int kb_rd_str(kb_rd_t *r, const char **s, int16_t *n)
{
    int16_t len = kb_rd_i16(r);
    *s = NULL;
    *n = -1;
    if (r->err)
        return -1;
    if (len == -1)
        return 0;
    if (len < 0) {
        r->err = 1;
        return -1;
    }
    const uint8_t *q = take(r, (size_t)len);
    if (!q)
        return -1;
    *s = (const char *)q;
    *n = len;
    return 0;
}

int kb_rd_bytes(kb_rd_t *r, const uint8_t **b, int32_t *n)
{
    int32_t len = kb_rd_i32(r);
    *b = NULL;
    *n = -1;
    if (r->err)
        return -1;
    if (len == -1)
        return 0;
    if (len < 0) {
        r->err = 1;
        return -1;
    }
    const uint8_t *q = take(r, (size_t)len);
    if (!q)
        return -1;
    *b = q;
    *n = len;
    return 0;
}

int32_t kb_rd_count(kb_rd_t *r, size_t min_elem)
{
    int32_t n = kb_rd_i32(r);
    if (r->err)
        return 0;
    if (n == -1)
        return -1;
    if (n < 0 || (min_elem && (size_t)n > (r->len - r->pos) / min_elem)) {
        r->err = 1;
        return 0;
    }
    return n;
}

static uint64_t rd_uvarint(kb_rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *q = take(r, 1);
        if (!q)
            return 0;
        v |= (uint64_t)(q[0] & 0x7f) << shift;
        if (!(q[0] & 0x80))
            return v;
    }
    r->err = 1;
    return 0;
}

void kb_rd_tags(kb_rd_t *r)
{
    uint64_t n = rd_uvarint(r);
    for (uint64_t i = 0; i < n && !r->err; i++) {
        (void)rd_uvarint(r);
        uint64_t size = rd_uvarint(r);
        if (size > r->len - r->pos) {
            r->err = 1;
            return;
        }
        r->pos += (size_t)size;
    }
}

/* ------------------------------------------------------------ writer */

static uint8_t *grow(kb_wbuf_t *w, size_t n)
{
    if (w->oom)
        return NULL;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return NULL;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    uint8_t *q = w->p + w->len;
    w->len += n;
    return q;
}

static void store_be(uint8_t *q, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0; v >>= 8)
        q[i] = (uint8_t)v;
}

void kb_put_i8(kb_wbuf_t *w, int8_t v)
{
    uint8_t *q = grow(w, 1);
    if (q)
        q[0] = (uint8_t)v;
}

void kb_put_i16(kb_wbuf_t *w, int16_t v)
{
    uint8_t *q = grow(w, 2);
    if (q)
        store_be(q, (uint16_t)v, 2);
}

void kb_put_i32(kb_wbuf_t *w, int32_t v)
{
    uint8_t *q = grow(w, 4);
    if (q)
        store_be(q, (uint32_t)v, 4);
}

void kb_put_i64(kb_wbuf_t *w, int64_t v)
{
    uint8_t *q = grow(w, 8);
    if (q)
        store_be(q, (uint64_t)v, 8);
}

void kb_put_uvarint(kb_wbuf_t *w, uint64_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        kb_put_i8(w, (int8_t)(byte | (v ? 0x80 : 0)));
    } while (v);
}

void kb_put_str(kb_wbuf_t *w, const char *s, size_t n)
{
    if (n > INT16_MAX) {
        w->oom = 1; /* names are validated long before this */
        return;
    }
    kb_put_i16(w, (int16_t)n);
    uint8_t *q = grow(w, n);
    if (q && n)
        memcpy(q, s, n);
}

void kb_patch_i32(kb_wbuf_t *w, size_t at, int32_t v)
{
    if (!w->oom && at + 4 <= w->len)
        store_be(w->p + at, (uint32_t)v, 4);
}

void kb_wbuf_free(kb_wbuf_t *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------ responses */

static int add_piece(struct kb_resp *r, size_t off, size_t len, klog_lease_t *lease)
{
    if (r->npieces == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct kb_piece *p = realloc(r->pieces, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        r->pieces = p;
        r->cap = cap;
    }
    r->pieces[r->npieces++] = (struct kb_piece){off, len, lease};
    return 0;
}

int kb_resp_add_lease(struct kb_resp *r, klog_lease_t *lease)
{
    if (r->buf.oom) {
        klog_lease_release(lease);
        return -ENOMEM;
    }
    if (r->buf.len > r->mark) {
        if (add_piece(r, r->mark, r->buf.len - r->mark, NULL)) {
            klog_lease_release(lease);
            return -ENOMEM;
        }
        r->mark = r->buf.len;
    }
    if (lease && add_piece(r, 0, 0, lease)) {
        klog_lease_release(lease);
        return -ENOMEM;
    }
    return 0;
}

void kb_resp_clear(struct kb_resp *r)
{
    for (size_t i = 0; i < r->npieces; i++)
        klog_lease_release(r->pieces[i].lease);
    r->npieces = 0;
    r->cur = r->cur_done = 0;
    r->mark = 0;
    r->buf.len = 0;
    r->buf.oom = 0;
}

void kb_resp_begin(struct kb_resp *r, int32_t correlation_id)
{
    kb_resp_clear(r);
    kb_put_i32(&r->buf, 0);
    kb_put_i32(&r->buf, correlation_id);
}

int kb_resp_finish(struct kb_resp *r)
{
    if (r->buf.oom)
        return -ENOMEM;
    uint64_t total = r->buf.len;
    for (size_t i = 0; i < r->npieces; i++)
        total += klog_lease_bytes(r->pieces[i].lease);
    if (total - 4 > INT32_MAX)
        return -EOVERFLOW;
    kb_patch_i32(&r->buf, 0, (int32_t)(total - 4));
    return kb_resp_add_lease(r, NULL);
}

/* ------------------------------------------------------------ flexible forms
 *
 * Flexible versions (KIP-482) use unsigned varints for lengths, offset by
 * one so that 0 means null. The helpers below take a `flex` flag and read
 * or write either form, so one handler body serves every version. */

uint64_t kb_rd_uvarint(kb_rd_t *r)
{
    return rd_uvarint(r);
}

int kb_rd_string(kb_rd_t *r, int flex, const char **s, int16_t *n)
{
    if (!flex)
        return kb_rd_str(r, s, n);
    *s = NULL;
    *n = -1;
    uint64_t len = rd_uvarint(r);
    if (r->err)
        return -1;
    if (len == 0)
        return 0;
    if (len - 1 > INT16_MAX) {
        r->err = 1;
        return -1;
    }
    const uint8_t *q = take(r, (size_t)(len - 1));
    if (!q)
        return -1;
    *s = (const char *)q;
    *n = (int16_t)(len - 1);
    return 0;
}

int kb_rd_bytes_f(kb_rd_t *r, int flex, const uint8_t **b, int32_t *n)
{
    if (!flex)
        return kb_rd_bytes(r, b, n);
    *b = NULL;
    *n = -1;
    uint64_t len = rd_uvarint(r);
    if (r->err)
        return -1;
    if (len == 0)
        return 0;
    if (len - 1 > INT32_MAX) {
        r->err = 1;
        return -1;
    }
    const uint8_t *q = take(r, (size_t)(len - 1));
    if (!q)
        return -1;
    *b = q;
    *n = (int32_t)(len - 1);
    return 0;
}

int32_t kb_rd_array(kb_rd_t *r, int flex, size_t min_elem)
{
    if (!flex)
        return kb_rd_count(r, min_elem);
    uint64_t n = rd_uvarint(r);
    if (r->err)
        return 0;
    if (n == 0)
        return -1;
    n--;
    if (n > INT32_MAX || (min_elem && n > (r->len - r->pos) / min_elem)) {
        r->err = 1;
        return 0;
    }
    return (int32_t)n;
}

void kb_rd_tags_if(kb_rd_t *r, int flex)
{
    if (flex)
        kb_rd_tags(r);
}

void kb_put_string(kb_wbuf_t *w, int flex, const char *s, size_t n)
{
    if (!flex) {
        kb_put_str(w, s, n);
        return;
    }
    if (n > INT16_MAX) {
        w->oom = 1;
        return;
    }
    kb_put_uvarint(w, (uint64_t)n + 1);
    uint8_t *q = grow(w, n);
    if (q && n)
        memcpy(q, s, n);
}

void kb_put_nstring(kb_wbuf_t *w, int flex, const char *s, size_t n)
{
    if (s)
        kb_put_string(w, flex, s, n);
    else if (flex)
        kb_put_uvarint(w, 0);
    else
        kb_put_i16(w, -1);
}

void kb_put_bytes_f(kb_wbuf_t *w, int flex, const void *b, size_t n)
{
    if (!b) {
        if (flex)
            kb_put_uvarint(w, 0);
        else
            kb_put_i32(w, -1);
        return;
    }
    if (n > INT32_MAX) {
        w->oom = 1;
        return;
    }
    if (flex)
        kb_put_uvarint(w, (uint64_t)n + 1);
    else
        kb_put_i32(w, (int32_t)n);
    uint8_t *q = grow(w, n);
    if (q && n)
        memcpy(q, b, n);
}

void kb_put_array(kb_wbuf_t *w, int flex, int32_t n)
{
    if (!flex)
        kb_put_i32(w, n);
    else
        kb_put_uvarint(w, n < 0 ? 0 : (uint64_t)n + 1);
}

void kb_put_tags(kb_wbuf_t *w, int flex)
{
    if (flex)
        kb_put_i8(w, 0);
}
