/*
 * check_codec_fast.c — the codec's fast paths give the bytes and the
 * answers of the general code: varint sizes without a loop, one- and
 * two-byte varint reads and writes, the encoder's straight line for
 * common records (klog_append's klog__builder_add_many and
 * klog_builder_add), and the decoder's straight line for common records
 * (klog_batch_reader_next), over every boundary where a field changes
 * width and every way a record leaves the fast shape.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"

/* Reference LEB128 of the zigzag value, written the slow way. */
static size_t ref_put(uint8_t *p, uint64_t u)
{
    size_t n = 0;
    do {
        uint8_t b = u & 0x7f;
        u >>= 7;
        p[n++] = (uint8_t)(b | (u ? 0x80 : 0));
    } while (u);
    return n;
}

START_TEST(varint_sizes_match_loop)
{
    for (int bits = 0; bits <= 64; bits++) {
        for (int d = -2; d <= 2; d++) {
            uint64_t u = bits == 0 ? 0 : (bits == 64 ? UINT64_MAX : (1ull << bits) - 1);
            u += (uint64_t)(int64_t)d;
            uint8_t a[16], b[16];
            size_t n = ref_put(a, u);
            ck_assert_uint_eq(klog__uvarint_size(u), n);
            ck_assert_uint_eq(klog__uvarint_put(b, u), n);
            ck_assert_mem_eq(a, b, n);
            /* and back, through the 64-bit reader */
            const uint8_t *p = b;
            int64_t v;
            ck_assert_int_eq(klog__varlong_get(&p, b + n, &v), 0);
            ck_assert_uint_eq(klog__zigzag64(v), u);
            ck_assert_ptr_eq(p, b + n);
            if (u <= UINT32_MAX) {
                p = b;
                int32_t v32;
                ck_assert_int_eq(klog__varint_get(&p, b + n, &v32), 0);
                ck_assert_uint_eq(klog__zigzag32(v32), (uint32_t)u);
            }
        }
    }
    /* A two-byte varint cut after its first byte is truncated. */
    const uint8_t two[] = {0x80, 0x01};
    const uint8_t *p = two;
    int32_t v;
    ck_assert_int_eq(klog__varint_get(&p, two + 1, &v), KLOG_ETRUNCATED);
    ck_assert_ptr_eq(p, two);
    ck_assert_int_eq(klog__varint_get(&p, two + 2, &v), 0);
    ck_assert_int_eq(v, 64);
}
END_TEST

/* The records section of a batch, encoded by the slow reference. */
static size_t ref_records(const klog_record_t *r, size_t n, int64_t base_ts, uint8_t *out)
{
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        uint8_t body[20000], *q = body;
        *q++ = 0;
        q += ref_put(q, klog__zigzag64(r[i].timestamp - base_ts));
        q += ref_put(q, klog__zigzag32((int32_t)i));
        q += ref_put(q, klog__zigzag32(r[i].key_len));
        if (r[i].key_len > 0) {
            memcpy(q, r[i].key, (size_t)r[i].key_len);
            q += r[i].key_len;
        }
        q += ref_put(q, klog__zigzag32(r[i].value_len));
        if (r[i].value_len > 0) {
            memcpy(q, r[i].value, (size_t)r[i].value_len);
            q += r[i].value_len;
        }
        q += ref_put(q, klog__zigzag32((int32_t)r[i].header_count));
        for (uint32_t h = 0; h < r[i].header_count; h++) {
            const klog_header_t *hd = &r[i].headers[h];
            q += ref_put(q, klog__zigzag32(hd->key_len));
            memcpy(q, hd->key, (size_t)hd->key_len);
            q += hd->key_len;
            q += ref_put(q, klog__zigzag32(hd->value_len));
            if (hd->value_len > 0) {
                memcpy(q, hd->value, (size_t)hd->value_len);
                q += hd->value_len;
            }
        }
        o += ref_put(o, klog__zigzag32((int32_t)(q - body)));
        memcpy(o, body, (size_t)(q - body));
        o += q - body;
    }
    return (size_t)(o - out);
}

/* Record shapes around every width change the fast paths test for. */
static const int32_t lens[] = {-1, 0, 1, 55, 56, 57, 63, 64, 65, 127, 128, 8183, 8184, 8191, 8192, 9000};
static const int64_t deltas[] = {0, -1, 1, 63, 64, -64, -65, 100000, -100000};
#define NL (sizeof lens / sizeof lens[0])
#define ND (sizeof deltas / sizeof deltas[0])

static uint8_t blob[9001];

/* Seeds 0-4 change the shape at every record; seeds 5-9 keep it for
 * runs of several records (the encoder then reuses the previous record's
 * bytes), across the 64th record where the offset delta grows a byte. */
static size_t make_records(klog_record_t *r, size_t max, unsigned seed)
{
    static const klog_header_t hdr[2] = {{"h", 1, "v", 1}, {"k2", 2, NULL, -1}};
    size_t n = 0;
    for (size_t j = 0; j < NL * NL && n < max; j++) {
        size_t i = seed >= 5 ? j / (seed - 3) : j;
        unsigned k = (unsigned)(i * 7 + seed);
        r[n] = (klog_record_t){
            .timestamp = 1700000000000LL + deltas[k % ND],
            .key_len = lens[i % NL],
            .key = lens[i % NL] > 0 ? blob + 1 : NULL,
            .value_len = lens[(i / NL + seed) % NL],
            .value = lens[(i / NL + seed) % NL] > 0 ? blob : NULL,
            .headers = (k % 11 == 0) ? hdr : NULL,
            .header_count = (k % 11 == 0) ? 2 : 0,
        };
        n++;
    }
    return n;
}

START_TEST(encoder_matches_reference)
{
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 131 + 7);
    static klog_record_t recs[NL * NL];
    uint8_t *ref = malloc(NL * NL * 18100);
    ck_assert_ptr_nonnull(ref);
    klog_builder_t *many, *one;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &many), 0);
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &one), 0);
    klog_batch_reader_t *br;
    ck_assert_int_eq(klog_batch_reader_new(&br), 0);
    for (unsigned seed = 0; seed < 10; seed++) {
        /* Batches of several sizes, so the count crosses 64 and runs of
         * fast records are cut by slow ones at every position. */
        size_t n = make_records(recs, NL * NL, seed);
        for (size_t chunk = 1; chunk <= n; chunk = chunk * 3 + 1) {
            for (size_t at = 0; at < n; at += chunk) {
                size_t k = n - at < chunk ? n - at : chunk;
                klog_builder_reset(many);
                klog_builder_reset(one);
                ck_assert_int_eq(klog__builder_add_many(many, recs + at, k), 0);
                for (size_t j = 0; j < k; j++)
                    ck_assert_int_eq(klog_builder_add(one, &recs[at + j]), 0);
                const void *b1, *b2;
                size_t l1, l2;
                ck_assert_int_eq(klog_builder_finish(many, &b1, &l1), 0);
                ck_assert_int_eq(klog_builder_finish(one, &b2, &l2), 0);
                ck_assert_uint_eq(l1, l2);
                ck_assert_mem_eq(b1, b2, l1);
                size_t rl = ref_records(recs + at, k, recs[at].timestamp, ref);
                ck_assert_uint_eq(l1, KLOG_BATCH_HEADER_SIZE + rl);
                ck_assert_mem_eq((const uint8_t *)b1 + KLOG_BATCH_HEADER_SIZE, ref, rl);
                /* The decoder's fast path reads back every field. */
                ck_assert_int_eq(klog_batch_validate(b1, l1, KLOG_VALIDATE_RECORDS, NULL), 0);
                ck_assert_int_eq(klog_batch_reader_open(br, b1, l1, KLOG_VALIDATE_HEADER), 0);
                klog_record_t got;
                for (size_t j = 0; j < k; j++) {
                    const klog_record_t *w = &recs[at + j];
                    ck_assert_int_eq(klog_batch_reader_next(br, &got), 1);
                    ck_assert_int_eq(got.offset, (int64_t)j);
                    ck_assert_int_eq(got.timestamp, w->timestamp);
                    ck_assert_int_eq(got.key_len, w->key_len);
                    ck_assert_int_eq(got.value_len, w->value_len);
                    ck_assert_uint_eq(got.header_count, w->header_count);
                    if (w->key_len > 0)
                        ck_assert_mem_eq(got.key, w->key, (size_t)w->key_len);
                    else
                        ck_assert(w->key_len < 0 ? got.key == NULL : 1);
                    if (w->value_len > 0)
                        ck_assert_mem_eq(got.value, w->value, (size_t)w->value_len);
                    else
                        ck_assert(w->value_len < 0 ? got.value == NULL : 1);
                    if (w->header_count)
                        ck_assert_int_eq(got.headers[1].value_len, -1);
                }
                ck_assert_int_eq(klog_batch_reader_next(br, &got), 0);
            }
        }
    }
    /* Errors: the fast loop hands a bad record to the checked path. */
    klog_record_t bad[4] = {recs[1], recs[1], recs[1], recs[1]};
    bad[2].value = NULL;
    bad[2].value_len = 5;
    klog_builder_reset(many);
    ck_assert_int_eq(klog__builder_add_many(many, bad, 4), -EINVAL);
    ck_assert_uint_eq(klog_builder_count(many), 2);
    /* The same shape as the record before, but a NULL value behind a
     * positive length: refused, not copied from the template. */
    bad[2] = recs[1];
    bad[2].value_len = 40;
    bad[1].value_len = 40;
    bad[0].value_len = 40;
    bad[2].value = NULL;
    klog_builder_reset(many);
    ck_assert_int_eq(klog__builder_add_many(many, bad, 4), -EINVAL);
    ck_assert_uint_eq(klog_builder_count(many), 2);
    klog_batch_reader_free(br);
    klog_builder_free(many);
    klog_builder_free(one);
    free(ref);
}
END_TEST

/* Both builders' batches, the same bytes. */
static void assert_same_batch(klog_builder_t *a, klog_builder_t *b)
{
    const void *b1, *b2;
    size_t l1, l2;
    ck_assert_int_eq(klog_builder_finish(a, &b1, &l1), 0);
    ck_assert_int_eq(klog_builder_finish(b, &b2, &l2), 0);
    ck_assert_uint_eq(l1, l2);
    ck_assert_mem_eq(b1, b2, l1);
}

/* Timestamps given as KLOG_TIMESTAMP_NOW: the encoder reads the clock once
 * per batch (also for the batch's first record), and a record given the
 * same time as a number is encoded as the same bytes, whichever record of
 * a run it comes in. */
START_TEST(encoder_now_matches_resolved)
{
    klog_builder_t *many, *one;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &many), 0);
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &one), 0);
    enum { N = 200 };
    static klog_record_t recs[N], resolved[N];
    for (int i = 0; i < N; i++)
        recs[i] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW, .key_len = -1,
                                  .value = blob, .value_len = 30};
    /* The first call fixes the batch's now; read it back from the header. */
    ck_assert_int_eq(klog__builder_add_many(many, recs, 1), 0);
    const void *b1;
    size_t l1;
    ck_assert_int_eq(klog_builder_finish(many, &b1, &l1), 0);
    klog_batch_info_t bi;
    ck_assert_int_eq(klog_batch_header(b1, l1, &bi), 0);
    int64_t now = bi.base_timestamp;
    ck_assert(now > 0);
    /* Then NOW, the same time as a number, and other times, mixed. */
    for (int i = 1; i < N; i++) {
        int k = i % 7;
        recs[i].timestamp = k < 3 ? KLOG_TIMESTAMP_NOW : k < 5 ? now : now + (k - 5);
        if (i % 13 == 0)
            recs[i].key = blob, recs[i].key_len = 4;
    }
    ck_assert_int_eq(klog__builder_add_many(many, recs + 1, N - 1), 0);
    for (int i = 0; i < N; i++) {
        resolved[i] = recs[i];
        if (recs[i].timestamp == KLOG_TIMESTAMP_NOW)
            resolved[i].timestamp = now;
        ck_assert_int_eq(klog_builder_add(one, &resolved[i]), 0);
    }
    assert_same_batch(many, one);
    klog_builder_free(many);
    klog_builder_free(one);
}
END_TEST

/* Small records from a fresh builder each time: the runs of one shape
 * meet the end of the buffer at every position (the template stores
 * never write past it: run under ASan) and give add_one's bytes. */
START_TEST(encoder_runs_meet_the_buffer_end)
{
    enum { N = 1200 };
    static klog_record_t recs[N];
    for (int vl = -1; vl <= 20; vl += 3) {
        for (int i = 0; i < N; i++)
            recs[i] = (klog_record_t){.timestamp = 1000 + (i / 500), .key_len = i % 400 ? -1 : 2,
                                      .key = blob, .value = blob, .value_len = vl};
        for (size_t n = 1; n <= N; n = n * 5 / 4 + 1) {
            klog_builder_t *many, *one;
            ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &many), 0);
            ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &one), 0);
            ck_assert_int_eq(klog__builder_add_many(many, recs, n), 0);
            for (size_t j = 0; j < n; j++)
                ck_assert_int_eq(klog_builder_add(one, &recs[j]), 0);
            assert_same_batch(many, one);
            klog_builder_free(many);
            klog_builder_free(one);
        }
    }
}
END_TEST

/* Every single-byte change to a small valid batch's records section
 * (CRC fixed up) is judged alike by the fast reader and the full
 * records check: the fast path accepts nothing the general grammar
 * rejects. */
START_TEST(decoder_fast_path_rejects_what_the_grammar_rejects)
{
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 131 + 7);
    klog_record_t r[4] = {
        {.timestamp = 5, .key_len = -1, .value = blob, .value_len = 70},
        {.timestamp = 6, .key = blob, .key_len = 3, .value = blob, .value_len = 10},
        {.timestamp = 7, .key_len = -1, .value_len = -1},
        {.timestamp = 8, .key_len = 0, .value = blob, .value_len = 1},
    };
    void *enc;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(r, 4, KLOG_COMPRESSION_NONE, &enc, &len), 0);
    uint8_t *b = malloc(len);
    klog_batch_reader_t *br;
    ck_assert_int_eq(klog_batch_reader_new(&br), 0);
    for (size_t at = KLOG_BATCH_HEADER_SIZE; at < len; at++) {
        for (unsigned x = 1; x < 256; x += (x < 4 ? 1 : 37)) {
            memcpy(b, enc, len);
            b[at] ^= (uint8_t)x;
            klog__store32(b + KLOG__CRC_OFFSET,
                          klog_crc32c(0, b + KLOG__ATTR_OFFSET, len - KLOG__ATTR_OFFSET));
            int full = klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL);
            ck_assert_int_eq(klog_batch_reader_open(br, b, len, KLOG_VALIDATE_HEADER), 0);
            klog_record_t got;
            int rc, n = 0;
            while ((rc = klog_batch_reader_next(br, &got)) == 1)
                n++;
            if (full == 0)
                ck_assert_msg(rc == 0 && n == 4, "byte %zu ^ %u: valid batch, reader %d", at, x, rc);
            else
                ck_assert_msg(rc == full, "byte %zu ^ %u: check %d, reader %d", at, x, full, rc);
        }
    }
    klog_batch_reader_free(br);
    free(b);
    free(enc);
}
END_TEST

/* The general decoder's view of the next record at *p of a records
 * stream, rebased as the batch reader reports it. */
static void ref_record(const klog_batch_info_t *bi, const uint8_t **p, const uint8_t *end,
                       klog_record_t *out)
{
    if (klog__record_decode(p, end, out, NULL, NULL) != 0) /* (each ck_assert writes to a pipe) */
        ck_abort_msg("general decoder refused a record of a valid batch");
    out->offset += bi->base_offset;
    out->timestamp += bi->base_timestamp;
}

/* Batches whose records share one shape go through the reader's
 * same-shape path (the record's bytes up to the key and its value
 * length compared with those of an accepted record): every single-byte
 * change is judged as the full check judges it, with and without a
 * shape learnt from an earlier batch, and every record of a valid batch
 * reads back as the general decoder reads it. */
START_TEST(decoder_same_shape_path_matches_grammar)
{
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 131 + 7);
    enum { N = 70 };
    static const struct { int32_t klen, vlen; int64_t step; } shapes[] = {
        {-1, 200, 0}, {3, 10, 0}, {0, -1, 1}, {-1, 100, 0}, {5, 0, 0},
    };
    klog_batch_reader_t *br;
    ck_assert_int_eq(klog_batch_reader_new(&br), 0);
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        klog_record_t r[N];
        for (int i = 0; i < N; i++)
            r[i] = (klog_record_t){
                .timestamp = 1000 + (i ? shapes[sh].step : 0),
                .key = shapes[sh].klen > 0 ? blob + 9 : NULL,
                .key_len = shapes[sh].klen,
                .value = shapes[sh].vlen > 0 ? blob + i : NULL,
                .value_len = shapes[sh].vlen,
            };
        void *enc;
        size_t len;
        ck_assert_int_eq(klog_batch_encode(r, N, KLOG_COMPRESSION_NONE, &enc, &len), 0);
        klog_batch_set_base_offset(enc, 1000);
        size_t rsz = (len - KLOG_BATCH_HEADER_SIZE) / N; /* records 1.. are this size */
        uint8_t *b = malloc(len);
        for (size_t at = KLOG_BATCH_HEADER_SIZE; at < len; at++) {
            size_t ri = (at - KLOG_BATCH_HEADER_SIZE) / rsz;
            if (!(ri <= 2 || (ri >= 62 && ri <= 65) || ri >= N - 2))
                continue;
            for (int learnt = 0; learnt < 2; learnt++) {
                static const uint8_t xs[] = {1, 2, 0x40, 0x7f, 0x80, 0xff};
                for (size_t xi = 0; xi < sizeof xs; xi++) {
                    klog_record_t got;
                    int rc, n = 0;
                    if (learnt) { /* the shape of the clean batch, kept by the reader */
                        if (klog_batch_reader_open(br, enc, len, 0) != 0)
                            ck_abort_msg("clean batch refused");
                        while (klog_batch_reader_next(br, &got) == 1)
                            ;
                    } else { /* another shape first */
                        if (klog_batch_reader_open(br, enc, 0, 0) != KLOG_ETRUNCATED)
                            ck_abort_msg("empty buffer accepted");
                    }
                    memcpy(b, enc, len);
                    b[at] ^= xs[xi];
                    klog__store32(b + KLOG__CRC_OFFSET,
                                  klog_crc32c(0, b + KLOG__ATTR_OFFSET, len - KLOG__ATTR_OFFSET));
                    int full = klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL);
                    if (klog_batch_reader_open(br, b, len, KLOG_VALIDATE_HEADER) != 0)
                        ck_abort_msg("byte %zu: header refused", at);
                    const klog_batch_info_t *bi = klog_batch_reader_info(br);
                    const uint8_t *rp = b + KLOG_BATCH_HEADER_SIZE;
                    while ((rc = klog_batch_reader_next(br, &got)) == 1) {
                        if (full == 0) {
                            klog_record_t w;
                            ref_record(bi, &rp, b + len, &w);
                            if (got.offset != w.offset || got.timestamp != w.timestamp ||
                                got.key_len != w.key_len || got.value_len != w.value_len ||
                                got.key != w.key || got.value != w.value ||
                                got.header_count != w.header_count)
                                ck_abort_msg("shape %zu byte %zu ^ %u: record %d differs from the "
                                             "general decoder's", sh, at, xs[xi], n);
                        }
                        n++;
                    }
                    if (full == 0 ? (rc != 0 || n != N) : rc != full)
                        ck_abort_msg("shape %zu byte %zu ^ %u (learnt %d): check %d, reader %d after %d",
                                     sh, at, xs[xi], learnt, full, rc, n);
                }
            }
        }
        free(b);
        free(enc);
    }
    klog_batch_reader_free(br);
}
END_TEST

Suite *codec_fast_suite(void)
{
    Suite *s = suite_create("codec_fast");
    TCase *tc = tcase_create("fast");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, varint_sizes_match_loop);
    tcase_add_test(tc, encoder_matches_reference);
    tcase_add_test(tc, encoder_now_matches_resolved);
    tcase_add_test(tc, encoder_runs_meet_the_buffer_end);
    tcase_add_test(tc, decoder_fast_path_rejects_what_the_grammar_rejects);
    tcase_add_test(tc, decoder_same_shape_path_matches_grammar);
    suite_add_tcase(s, tc);
    return s;
}
