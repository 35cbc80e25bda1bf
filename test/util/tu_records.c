/*
 * tu_records.c — record fixtures for tests (see tu_records.h).
 */
#include "util/tu_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "tu_records: out of memory\n");
        abort();
    }
    return p;
}

void tu_rng_seed(tu_rng_t *r, uint64_t seed)
{
    r->s = seed ? seed : 0x9E3779B97F4A7C15ull;
}

uint64_t tu_rng_next(tu_rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t tu_rng_below(tu_rng_t *r, uint64_t n)
{
    return n ? tu_rng_next(r) % n : 0;
}

void tu_rng_fill(tu_rng_t *r, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n >= 8) {
        uint64_t v = tu_rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = tu_rng_next(r);
        memcpy(p, &v, n);
    }
}

uint64_t tu_test_seed(uint64_t fallback)
{
    const char *s = getenv("KLOG_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 0) : fallback;
}

static void *set_alloc(tu_records_t *set, size_t n)
{
    void *p = xmalloc(n);
    if ((set->nblocks & (set->nblocks - 1)) == 0) { /* 0, 1, 2, 4, ...: double */
        size_t cap = set->nblocks ? 2 * set->nblocks : 1;
        set->blocks = realloc(set->blocks, cap * sizeof *set->blocks);
        if (!set->blocks)
            abort();
    }
    set->blocks[set->nblocks++] = p;
    return p;
}

static void fill_bytes(tu_rng_t *rng, uint8_t *p, size_t n, int printable)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    if (!printable) {
        tu_rng_fill(rng, p, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)alnum[tu_rng_below(rng, sizeof alnum - 1)];
}

/* A length in [0, max] or KLOG_NULL_LEN, biased towards the edges. */
static int32_t gen_len(tu_rng_t *rng, size_t max, int null_pct)
{
    if (null_pct > 0 && (int)tu_rng_below(rng, 100) < null_pct)
        return KLOG_NULL_LEN;
    switch (tu_rng_below(rng, 8)) {
    case 0:
        return 0;
    case 1:
        return (int32_t)max;
    default:
        return (int32_t)tu_rng_below(rng, max + 1);
    }
}

void tu_records_gen(tu_records_t *out, tu_rng_t *rng, size_t n, const tu_recgen_opts_t *o)
{
    tu_recgen_opts_t d = { 0 };
    if (o)
        d = *o;
    if (!d.max_key)
        d.max_key = 32;
    if (!d.max_value)
        d.max_value = 256;
    if (!d.max_headers)
        d.max_headers = 3;
    if (d.max_headers < 0)
        d.max_headers = 0;
    if (!d.max_header_value)
        d.max_header_value = 16;
    if (!d.null_pct)
        d.null_pct = 10;
    if (!d.ts_base)
        d.ts_base = 1700000000000ll;
    if (!d.ts_jitter)
        d.ts_jitter = 100000;

    memset(out, 0, sizeof *out);
    out->n = n;
    out->recs = set_alloc(out, n * sizeof *out->recs);
    for (size_t i = 0; i < n; i++) {
        klog_record_t *r = &out->recs[i];
        memset(r, 0, sizeof *r);
        r->offset = (int64_t)i;
        r->timestamp = d.ts_base + (int64_t)tu_rng_below(rng, 2 * (uint64_t)d.ts_jitter + 1) -
                       d.ts_jitter;
        r->key_len = gen_len(rng, d.max_key, d.null_pct);
        if (r->key_len >= 0) {
            uint8_t *k = set_alloc(out, (size_t)r->key_len);
            fill_bytes(rng, k, (size_t)r->key_len, d.printable);
            r->key = k;
        }
        r->value_len = gen_len(rng, d.max_value, d.null_pct);
        if (r->value_len >= 0) {
            uint8_t *v = set_alloc(out, (size_t)r->value_len);
            fill_bytes(rng, v, (size_t)r->value_len, d.printable);
            r->value = v;
        }
        r->header_count = (uint32_t)tu_rng_below(rng, (uint64_t)d.max_headers + 1);
        if (r->header_count) {
            klog_header_t *h = set_alloc(out, r->header_count * sizeof *h);
            for (uint32_t j = 0; j < r->header_count; j++) {
                int32_t kl = (int32_t)(1 + tu_rng_below(rng, 12));
                char *k = set_alloc(out, (size_t)kl);
                fill_bytes(rng, (uint8_t *)k, (size_t)kl, 1); /* keys are UTF-8 text */
                h[j].key = k;
                h[j].key_len = kl;
                h[j].value_len = gen_len(rng, d.max_header_value, d.null_pct);
                h[j].value = NULL;
                if (h[j].value_len >= 0) {
                    uint8_t *v = set_alloc(out, (size_t)h[j].value_len);
                    fill_bytes(rng, v, (size_t)h[j].value_len, d.printable);
                    h[j].value = v;
                }
            }
            r->headers = h;
        }
    }
}

void tu_records_free(tu_records_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nblocks; i++)
        free(set->blocks[i]);
    free(set->blocks);
    memset(set, 0, sizeof *set);
}

static int bytes_differ(const void *a, int32_t alen, const void *b, int32_t blen)
{
    if (alen != blen)
        return 1;
    if (alen <= 0)
        return 0;
    return memcmp(a, b, (size_t)alen) != 0;
}

int tu_record_cmp(const klog_record_t *a, const klog_record_t *b, unsigned flags, char *why,
                  size_t whylen)
{
    char tmp[1];
    if (!why) {
        why = tmp;
        whylen = sizeof tmp;
    }
#define DIFF(...)                                                              \
    do {                                                                       \
        snprintf(why, whylen, __VA_ARGS__);                                    \
        return 1;                                                              \
    } while (0)
    if ((flags & TU_CMP_OFFSET) && a->offset != b->offset)
        DIFF("offset %lld != %lld", (long long)a->offset, (long long)b->offset);
    if ((flags & TU_CMP_TIMESTAMP) && a->timestamp != b->timestamp)
        DIFF("timestamp %lld != %lld", (long long)a->timestamp, (long long)b->timestamp);
    if (bytes_differ(a->key, a->key_len, b->key, b->key_len))
        DIFF("key differs (len %d vs %d)", a->key_len, b->key_len);
    if (bytes_differ(a->value, a->value_len, b->value, b->value_len))
        DIFF("value differs (len %d vs %d)", a->value_len, b->value_len);
    if (a->header_count != b->header_count)
        DIFF("header count %u != %u", a->header_count, b->header_count);
    for (uint32_t i = 0; i < a->header_count; i++) {
        const klog_header_t *x = &a->headers[i], *y = &b->headers[i];
        if (bytes_differ(x->key, x->key_len, y->key, y->key_len))
            DIFF("header %u key differs", i);
        if (bytes_differ(x->value, x->value_len, y->value, y->value_len))
            DIFF("header %u value differs (len %d vs %d)", i, x->value_len, y->value_len);
    }
#undef DIFF
    return 0;
}

uint8_t *tu_word_pool(tu_rng_t *rng, size_t size)
{
    char words[256][12];
    for (int i = 0; i < 256; i++) {
        size_t len = 2 + tu_rng_below(rng, 9);
        for (size_t j = 0; j < len; j++)
            words[i][j] = (char)('a' + tu_rng_below(rng, 26));
        words[i][len] = 0;
    }
    uint8_t *pool = xmalloc(size);
    size_t pos = 0;
    while (pos < size) {
        /* Skewed choice: the product of two uniforms favours low indexes. */
        uint64_t a = tu_rng_below(rng, 256), b = tu_rng_below(rng, 256);
        const char *w = words[(a * b) >> 8];
        size_t len = strlen(w);
        for (size_t j = 0; j < len && pos < size; j++)
            pool[pos++] = (uint8_t)w[j];
        if (pos < size)
            pool[pos++] = ' ';
    }
    return pool;
}

char *tu_hex(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *b = p;
    char *s = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = 0;
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *tu_unhex(const char *s, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2)
        return NULL;
    uint8_t *b = xmalloc(len / 2);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return b;
}
