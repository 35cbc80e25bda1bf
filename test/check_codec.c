/*
 * check_codec.c — the codec layer: CRC-32C, varints, RecordBatch v2
 * encode/decode, the malformed-record rules, compression codecs.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog_codecs.h"
#include <lz4frame.h>
#include <xxhash.h>
#if KLOG_HAVE_SNAPPY
#include <snappy-c.h>
#endif

#include "codec/codec.h"
#include "platform/bytes.h"
#include "util/tu_records.h"

/* ----------------------------------------------------------- golden data */

/* kafka-format.md 1.7: MemoryRecordsTest.testChecksum. */
static const uint8_t golden_none[97] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0xff, 0xff, 0xff, 0xff,
    0x02, 0xe5, 0x8c, 0xf1, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x04, 0x54, 0xc3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x54, 0xc3, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02,
    /* record 0 */
    0x20, 0x00, 0x00, 0x00, 0x08, 0x6b, 0x65, 0x79, 0x31, 0x0c, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x31,
    0x00,
    /* record 1 */
    0x24, 0x00, 0xe1, 0xbf, 0x22, 0x02, 0x08, 0x6b, 0x65, 0x79, 0x32, 0x0c, 0x76, 0x61, 0x6c, 0x75,
    0x65, 0x32, 0x00,
};

static void golden_records(klog_record_t recs[2])
{
    memset(recs, 0, 2 * sizeof *recs);
    recs[0].timestamp = 283843;
    recs[0].key = "key1";
    recs[0].key_len = 4;
    recs[0].value = "value1";
    recs[0].value_len = 6;
    recs[1].timestamp = 1234;
    recs[1].key = "key2";
    recs[1].key_len = 4;
    recs[1].value = "value2";
    recs[1].value_len = 6;
}

/* The LZ4 variant: same header with batchLength 100, attributes 3, its own
 * CRC, then the frame around the same 36 record bytes. */
static void golden_lz4(uint8_t out[112])
{
    static const uint8_t frame_head[] = { 0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82,
                                          0x24, 0x00, 0x00, 0x80 };
    memcpy(out, golden_none, 61);
    klog__store32(out + 8, 100);
    klog__store32(out + 17, 0xA3AC2AA2u);
    klog__store16(out + 21, 3);
    memcpy(out + 61, frame_head, sizeof frame_head);
    memcpy(out + 72, golden_none + 61, 36);
    memset(out + 108, 0, 4);
}

/* ------------------------------------------------------------- utilities */

/* Wrap a hand-made records section in a header with a correct CRC. */
static uint8_t *make_batch(const uint8_t *recs, size_t n, int32_t count, int32_t last_delta,
                           int16_t attrs, size_t *len)
{
    size_t size = KLOG_BATCH_HEADER_SIZE + n;
    uint8_t *b = calloc(1, size);
    ck_assert_ptr_nonnull(b);
    klog__store64(b, 0);
    klog__store32(b + 8, (uint32_t)(size - 12));
    klog__store32(b + 12, (uint32_t)-1);
    b[16] = 2;
    klog__store16(b + 21, (uint16_t)attrs);
    klog__store32(b + 23, (uint32_t)last_delta);
    klog__store64(b + 27, 1000);
    klog__store64(b + 35, 2000);
    klog__store64(b + 43, (uint64_t)-1);
    klog__store16(b + 51, (uint16_t)-1);
    klog__store32(b + 53, (uint32_t)-1);
    klog__store32(b + 57, (uint32_t)count);
    if (n)
        memcpy(b + 61, recs, n);
    klog__store32(b + 17, klog_crc32c(0, b + 21, size - 21));
    *len = size;
    return b;
}

static void fix_crc(uint8_t *b, size_t len)
{
    klog__store32(b + 17, klog_crc32c(0, b + 21, len - 21));
}

/* Read every record of a batch; returns the first error or the count. The
 * views in out stay valid until the next read_all() (the reader is kept:
 * compressed records live in its buffer). */
static int read_all(const void *buf, size_t len, unsigned flags, klog_record_t *out, size_t max)
{
    static klog_batch_reader_t *r;
    if (!r)
        ck_assert_int_eq(klog_batch_reader_new(&r), 0);
    int rc = klog_batch_reader_open(r, buf, len, flags);
    int n = 0;
    if (rc == 0) {
        klog_record_t rec;
        while ((rc = klog_batch_reader_next(r, &rec)) == 1) {
            if ((size_t)n < max)
                out[n] = rec;
            n++;
        }
    }
    return rc < 0 ? rc : n;
}

/* Expect one specific error from validate (records) and from the reader. */
static void expect_bad(const uint8_t *recs, size_t n, int32_t count, int32_t last_delta,
                       int16_t attrs, int want)
{
    size_t len;
    uint8_t *b = make_batch(recs, n, count, last_delta, attrs, &len);
    ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_HEADER, NULL), 0);
    int rc = klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL);
    ck_assert_msg(rc == want, "validate: got %s, want %s", klog_err_name(rc), klog_err_name(want));
    rc = read_all(b, len, KLOG_VALIDATE_HEADER, NULL, 0);
    ck_assert_msg(rc == want, "reader: got %s, want %s", klog_err_name(rc), klog_err_name(want));
    klog_batch_reader_t *r;
    ck_assert_int_eq(klog_batch_reader_new(&r), 0);
    rc = klog_batch_reader_open(r, b, len, KLOG_VALIDATE_RECORDS);
    ck_assert_msg(rc == want, "open(records): got %s, want %s", klog_err_name(rc),
                  klog_err_name(want));
    klog_record_t rec;
    ck_assert_int_eq(klog_batch_reader_next(r, &rec), want); /* sticky */
    klog_batch_reader_free(r);
    free(b);
}

/* ------------------------------------------------------------------- CRC */

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static const crc_fn crc_impls[] = { klog__crc32c_sw, klog__crc32c_hw, klog__crc32c_fold,
                                    klog__crc32c_fold_avx2, klog_crc32c };

START_TEST(crc_known_vectors)
{
    uint8_t zeros[32], ones[32], asc[32], desc[32];
    memset(zeros, 0, 32);
    memset(ones, 0xff, 32);
    for (int i = 0; i < 32; i++) {
        asc[i] = (uint8_t)i;
        desc[i] = (uint8_t)(31 - i);
    }
    for (size_t k = 0; k < sizeof crc_impls / sizeof crc_impls[0]; k++) {
        crc_fn f = crc_impls[k];
        ck_assert_uint_eq(f(0, "123456789", 9), 0xE3069283u);
        ck_assert_uint_eq(f(0, zeros, 32), 0x8A9136AAu);
        ck_assert_uint_eq(f(0, ones, 32), 0x62A8AB43u);
        ck_assert_uint_eq(f(0, asc, 32), 0x46DD794Eu);
        ck_assert_uint_eq(f(0, desc, 32), 0x113FDB5Cu);
        ck_assert_uint_eq(f(0, "", 0), 0);
        ck_assert_uint_eq(f(0x12345678u, "", 0), 0x12345678u);
        /* Continuation: CRC(a||b) = crc(crc(a), b). */
        ck_assert_uint_eq(f(f(0, "1234", 4), "56789", 5), 0xE3069283u);
    }
    /* The golden batch's CRC covers bytes [21, 97). */
    ck_assert_uint_eq(klog_crc32c(0, golden_none + 21, 97 - 21), 0xE58CF1FFu);
}
END_TEST

START_TEST(crc_hw_matches_sw)
{
    if (!klog__crc32c_hw_available())
        fprintf(stderr, "note: no SSE4.2 on this CPU; hw path is the portable one\n");
    if (!klog__crc32c_fold_available())
        fprintf(stderr, "note: no VPCLMULQDQ on this CPU; fold paths are the SSE4.2 one\n");
    else if (klog__crc32c_fold_available() < 2)
        fprintf(stderr, "note: no AVX-512 on this CPU; fold path is the AVX2 one\n");
    size_t max = 3 * 2048 * 4 + 3 * 256 * 3 + 64;
    uint8_t *buf = malloc(max + 16);
    tu_rng_t rng;
    tu_rng_seed(&rng, 42);
    tu_rng_fill(&rng, buf, max + 16);
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len <= max; len += (len < 1100 ? 1 : 61)) {
            uint32_t s = klog__crc32c_sw(0, buf + off, len);
            uint32_t h = klog__crc32c_hw(0, buf + off, len);
            uint32_t f = klog__crc32c_fold(0, buf + off, len);
            uint32_t a = klog__crc32c_fold_avx2(0, buf + off, len);
            ck_assert_msg(s == h, "off %zu len %zu: sw %08x hw %08x", off, len, s, h);
            ck_assert_msg(s == f, "off %zu len %zu: sw %08x fold %08x", off, len, s, f);
            ck_assert_msg(s == a, "off %zu len %zu: sw %08x fold_avx2 %08x", off, len, s, a);
        }
    }
    /* Around the lane boundaries, with a non-zero starting CRC. */
    static const size_t edges[] = { 255, 256, 257, 271, 272, 319, 320, 511, 512, 513,
                                    767, 768, 769, 6143, 6144, 6145, 6912, 12288, 12289, 16384 };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        for (size_t d = 0; d < 9; d++) {
            size_t len = edges[i] + d;
            ck_assert_uint_eq(klog__crc32c_hw(0xdeadbeef, buf + d, len),
                              klog__crc32c_sw(0xdeadbeef, buf + d, len));
            ck_assert_uint_eq(klog__crc32c_fold(0xdeadbeef, buf + d, len),
                              klog__crc32c_sw(0xdeadbeef, buf + d, len));
            ck_assert_uint_eq(klog__crc32c_fold_avx2(0xdeadbeef, buf + d, len),
                              klog__crc32c_sw(0xdeadbeef, buf + d, len));
        }
    /* Many folding blocks in one call (a 1 MiB read chunk, an LZ4 batch). */
    size_t big_len = (1u << 20) + 13;
    uint8_t *big = malloc(big_len + 3);
    tu_rng_fill(&rng, big, big_len + 3);
    for (size_t d = 0; d < 4; d++) {
        uint32_t s = klog__crc32c_sw(0x5a5a5a5au, big + d, big_len - d);
        ck_assert_uint_eq(klog__crc32c_fold(0x5a5a5a5au, big + d, big_len - d), s);
        ck_assert_uint_eq(klog__crc32c_fold_avx2(0x5a5a5a5au, big + d, big_len - d), s);
        ck_assert_uint_eq(klog__crc32c_hw(0x5a5a5a5au, big + d, big_len - d), s);
    }
    free(big);
    /* Splitting anywhere gives the same result. */
    uint32_t whole = klog_crc32c(0, buf, 20000);
    for (size_t cut = 0; cut <= 20000; cut += 997)
        ck_assert_uint_eq(klog_crc32c(klog_crc32c(0, buf, cut), buf + cut, 20000 - cut), whole);
    free(buf);
}
END_TEST

/* ---------------------------------------------------------------- varints */

START_TEST(varint_table)
{
    static const struct {
        int32_t v;
        uint8_t bytes[5];
        size_t n;
    } t[] = {
        { 0, { 0x00 }, 1 },
        { -1, { 0x01 }, 1 },
        { 1, { 0x02 }, 1 },
        { 63, { 0x7e }, 1 },
        { -64, { 0x7f }, 1 },
        { 64, { 0x80, 0x01 }, 2 },
        { -65, { 0x81, 0x01 }, 2 },
        { 8191, { 0xfe, 0x7f }, 2 },
        { INT32_MAX, { 0xfe, 0xff, 0xff, 0xff, 0x0f }, 5 },
        { INT32_MIN, { 0xff, 0xff, 0xff, 0xff, 0x0f }, 5 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint8_t buf[16];
        size_t n = klog__varint_put(buf, t[i].v);
        ck_assert_uint_eq(n, t[i].n);
        ck_assert_uint_eq(klog__varint_size(t[i].v), t[i].n);
        ck_assert_mem_eq(buf, t[i].bytes, n);
        const uint8_t *p = t[i].bytes;
        int32_t back;
        ck_assert_int_eq(klog__varint_get(&p, t[i].bytes + t[i].n, &back), 0);
        ck_assert_int_eq(back, t[i].v);
        ck_assert_ptr_eq(p, t[i].bytes + t[i].n);
        /* As a varlong the encoding is the same for values that fit. */
        n = klog__varlong_put(buf, t[i].v);
        ck_assert_uint_eq(n, t[i].n);
        ck_assert_mem_eq(buf, t[i].bytes, n);
        /* One byte short: truncated, pointer untouched. */
        p = t[i].bytes;
        ck_assert_int_eq(klog__varint_get(&p, t[i].bytes + t[i].n - 1, &back), KLOG_ETRUNCATED);
        ck_assert_ptr_eq(p, t[i].bytes);
    }
    /* The golden record's negative timestamp delta. */
    uint8_t buf[16];
    ck_assert_uint_eq(klog__varlong_put(buf, -282609), 3);
    ck_assert_mem_eq(buf, "\xe1\xbf\x22", 3);
    /* varlong extremes */
    int64_t big[] = { INT64_MAX, INT64_MIN, -1, 0, 1ll << 40, -(1ll << 40) };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t n = klog__varlong_put(buf, big[i]);
        ck_assert_uint_eq(n, klog__varlong_size(big[i]));
        const uint8_t *p = buf;
        int64_t back;
        ck_assert_int_eq(klog__varlong_get(&p, buf + n, &back), 0);
        ck_assert_int_eq(back, big[i]);
    }
    ck_assert_uint_eq(klog__varlong_size(INT64_MIN), 10);
    /* Over-long encodings. */
    static const uint8_t long5[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
    const uint8_t *p = long5;
    int32_t v32;
    ck_assert_int_eq(klog__varint_get(&p, long5 + sizeof long5, &v32), KLOG_EVARINT);
    static const uint8_t long10[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0x01 };
    p = long10;
    int64_t v64;
    ck_assert_int_eq(klog__varlong_get(&p, long10 + sizeof long10, &v64), KLOG_EVARINT);
    /* A 10-byte varlong without continuation on the last byte is fine. */
    p = long10 + 1;
    static const uint8_t ok10[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    p = ok10;
    ck_assert_int_eq(klog__varlong_get(&p, ok10 + 10, &v64), 0);
    ck_assert_int_eq(v64, INT64_MIN);
    /* Zigzag round trip over a spread of values. */
    for (int64_t x = -100000; x <= 100000; x += 7) {
        ck_assert_int_eq(klog__unzigzag32(klog__zigzag32((int32_t)x)), x);
        ck_assert_int_eq(klog__unzigzag64(klog__zigzag64(x * 1000003)), x * 1000003);
    }
}
END_TEST

/* ---------------------------------------------------------------- golden */

START_TEST(golden_uncompressed)
{
    klog_record_t recs[2];
    golden_records(recs);
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(recs, 2, KLOG_COMPRESSION_NONE, &out, &len), 0);
    ck_assert_uint_eq(len, 97);
    ck_assert_mem_eq(out, golden_none, 97);
    free(out);

    klog_batch_info_t info;
    ck_assert_int_eq(klog_batch_validate(golden_none, 97, KLOG_VALIDATE_RECORDS, &info), 0);
    ck_assert_uint_eq(info.crc, 0xE58CF1FFu);
    ck_assert_int_eq(info.batch_length, 85);
    ck_assert_int_eq(info.record_count, 2);
    ck_assert_int_eq(info.last_offset_delta, 1);
    ck_assert_int_eq(info.base_timestamp, 283843);
    ck_assert_int_eq(info.max_timestamp, 283843);
    ck_assert_int_eq(info.producer_id, -1);
    ck_assert_int_eq(info.producer_epoch, -1);
    ck_assert_int_eq(info.base_sequence, -1);
    ck_assert_int_eq(info.leader_epoch, -1);
    ck_assert_int_eq(info.compression, KLOG_COMPRESSION_NONE);
    ck_assert_uint_eq(info.size, 97);

    klog_record_t got[2];
    ck_assert_int_eq(read_all(golden_none, 97, KLOG_VALIDATE_HEADER, got, 2), 2);
    for (int i = 0; i < 2; i++) {
        recs[i].offset = i;
        char why[128];
        ck_assert_msg(tu_record_cmp(&got[i], &recs[i], TU_CMP_OFFSET | TU_CMP_TIMESTAMP, why,
                                    sizeof why) == 0,
                      "record %d: %s", i, why);
        /* Uncompressed views point into the caller's buffer. */
        ck_assert((const uint8_t *)got[i].value > golden_none &&
                  (const uint8_t *)got[i].value < golden_none + 97);
    }
}
END_TEST

START_TEST(golden_lz4_batch)
{
    uint8_t want[112];
    golden_lz4(want);
    klog_record_t recs[2];
    golden_records(recs);
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(recs, 2, KLOG_COMPRESSION_LZ4, &out, &len), 0);
    ck_assert_uint_eq(len, 112);
    ck_assert_mem_eq(out, want, 112);
    ck_assert_uint_eq(klog__load32((uint8_t *)out + 17), 0xA3AC2AA2u);
    free(out);

    klog_batch_info_t info;
    ck_assert_int_eq(klog_batch_validate(want, 112, KLOG_VALIDATE_RECORDS, &info), 0);
    ck_assert_int_eq(info.compression, KLOG_COMPRESSION_LZ4);
    klog_record_t got[2];
    ck_assert_int_eq(read_all(want, 112, KLOG_VALIDATE_RECORDS, got, 2), 2);
    for (int i = 0; i < 2; i++) {
        recs[i].offset = i;
        ck_assert_int_eq(tu_record_cmp(&got[i], &recs[i], TU_CMP_OFFSET | TU_CMP_TIMESTAMP, NULL,
                                       0),
                         0);
    }
}
END_TEST

/* ------------------------------------------------------------ header rules */

START_TEST(header_errors)
{
    uint8_t b[98];
    memcpy(b, golden_none, 97);
    klog_batch_info_t info;
    ck_assert_int_eq(klog_batch_header(b, 16, &info), KLOG_ETRUNCATED);
    ck_assert_int_eq(klog_batch_header(b, 60, &info), KLOG_ETRUNCATED);
    ck_assert_int_eq(klog_batch_header(b, 96, &info), KLOG_ETRUNCATED);
    ck_assert_int_eq(klog_batch_header(b, 97, &info), 0);
    ck_assert_int_eq(klog_batch_validate(b, 96, KLOG_VALIDATE_HEADER, NULL), KLOG_ETRUNCATED);
    /* A trailing byte: not exactly one batch. */
    b[97] = 0;
    ck_assert_int_eq(klog_batch_header(b, 98, &info), 0);
    ck_assert_int_eq(klog_batch_validate(b, 98, KLOG_VALIDATE_HEADER, NULL), KLOG_EBATCHSIZE);
    /* The reader accepts a longer buffer and reads only the first batch. */
    ck_assert_int_eq(read_all(b, 98, KLOG_VALIDATE_RECORDS, NULL, 0), 2);
    /* Magic. */
    b[16] = 1;
    ck_assert_int_eq(klog_batch_header(b, 97, &info), KLOG_EMAGIC);
    ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_HEADER, NULL), KLOG_EMAGIC);
    ck_assert_int_eq(read_all(b, 97, 0, NULL, 0), KLOG_EMAGIC);
    b[16] = 2;
    /* batchLength below the 49 a header needs. */
    klog__store32(b + 8, 48);
    ck_assert_int_eq(klog_batch_header(b, 97, &info), KLOG_EBATCHSIZE);
    klog__store32(b + 8, (uint32_t)-5);
    ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_HEADER, NULL), KLOG_EBATCHSIZE);
    klog__store32(b + 8, 85);
    /* CRC: any covered byte flipped. */
    for (size_t i = 21; i < 97; i += 5) {
        b[i] ^= 0x10;
        ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_HEADER, NULL), KLOG_ECRC);
        ck_assert_int_eq(read_all(b, 97, KLOG_VALIDATE_HEADER, NULL, 0), KLOG_ECRC);
        b[i] ^= 0x10;
    }
    b[17] ^= 1;
    ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_HEADER, NULL), KLOG_ECRC);
    /* Without validation flags the reader does not look at the CRC. */
    ck_assert_int_eq(read_all(b, 97, 0, NULL, 0), 2);
    b[17] ^= 1;
    ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_RECORDS, NULL), 0);
}
END_TEST

START_TEST(set_offset_and_epoch_keep_crc)
{
    uint8_t b[97];
    memcpy(b, golden_none, 97);
    klog_batch_set_base_offset(b, 1234567890123ll);
    klog_batch_set_leader_epoch(b, 42);
    klog_batch_info_t info;
    ck_assert_int_eq(klog_batch_validate(b, 97, KLOG_VALIDATE_RECORDS, &info), 0);
    ck_assert_uint_eq(info.crc, 0xE58CF1FFu);
    ck_assert_int_eq(info.base_offset, 1234567890123ll);
    ck_assert_int_eq(info.leader_epoch, 42);
    ck_assert_mem_eq(b + 16, golden_none + 16, 97 - 16);
    klog_record_t got[2];
    ck_assert_int_eq(read_all(b, 97, KLOG_VALIDATE_HEADER, got, 2), 2);
    ck_assert_int_eq(got[0].offset, 1234567890123ll);
    ck_assert_int_eq(got[1].offset, 1234567890124ll);
}
END_TEST

START_TEST(log_append_time_reports_max_timestamp)
{
    uint8_t b[97];
    memcpy(b, golden_none, 97);
    klog__store16(b + 21, KLOG_ATTR_LOG_APPEND_TIME);
    klog__store64(b + 35, 1700000000000ll);
    fix_crc(b, 97);
    klog_record_t got[2];
    ck_assert_int_eq(read_all(b, 97, KLOG_VALIDATE_RECORDS, got, 2), 2);
    ck_assert_int_eq(got[0].timestamp, 1700000000000ll);
    ck_assert_int_eq(got[1].timestamp, 1700000000000ll);
}
END_TEST

START_TEST(empty_batch)
{
    size_t len;
    uint8_t *b = make_batch(NULL, 0, 0, 0, 0, &len);
    ck_assert_uint_eq(len, 61);
    ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL), 0);
    ck_assert_int_eq(read_all(b, len, KLOG_VALIDATE_RECORDS, NULL, 0), 0);
    free(b);
}
END_TEST

/* --------------------------------------------------- malformed records */

/* A good minimal record: len 6, attr, ts 0, off 0, key null, value null, 0 hdrs. */
#define REC_MIN 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00

START_TEST(malformed_varint)
{
    /* Record length varint with 5 continuation bytes. */
    static const uint8_t a[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_EVARINT);
    /* timestampDelta varlong of 11 bytes inside a consistent body. */
    static const uint8_t b[] = { 0x24, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0x01, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_EVARINT);
    /* offsetDelta over-long. */
    static const uint8_t c[] = { 0x16, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                                 0x01, 0x01, 0x00 };
    expect_bad(c, sizeof c, 1, 0, 0, KLOG_EVARINT);
}
END_TEST

START_TEST(malformed_record_length)
{
    /* Declared length 7 but the fields take 6: a byte left in the body. */
    static const uint8_t a[] = { 0x0e, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_ERECLEN);
    /* Declared length 5: the header count falls outside the body. */
    static const uint8_t b[] = { 0x0a, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_ERECLEN);
    /* Declared length beyond the records section. */
    static const uint8_t c[] = { 0x20, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
    expect_bad(c, sizeof c, 1, 0, 0, KLOG_ERECLEN);
    /* Negative length. */
    static const uint8_t d[] = { 0x03, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
    expect_bad(d, sizeof d, 1, 0, 0, KLOG_ERECLEN);
    /* Zero length: not even the attributes byte. */
    static const uint8_t e[] = { 0x00 };
    expect_bad(e, sizeof e, 1, 0, 0, KLOG_ERECLEN);
}
END_TEST

START_TEST(malformed_overrun)
{
    /* Key length 20 in a 7-byte body (length consistent with the section). */
    static const uint8_t a[] = { 0x0e, 0x00, 0x00, 0x00, 0x28, 0x61, 0x01, 0x00 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_ERECOVERRUN);
    /* Value length 3 with 2 bytes before the header count. */
    static const uint8_t b[] = { 0x0e, 0x00, 0x00, 0x00, 0x01, 0x06, 0x61, 0x00 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_ERECOVERRUN);
    /* Header key length 4 with 2 bytes left. */
    static const uint8_t c[] = { 0x12, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x08, 0x61, 0x01 };
    expect_bad(c, sizeof c, 1, 0, 0, KLOG_ERECOVERRUN);
    /* Header value length 5 with 1 byte left. */
    static const uint8_t d[] = { 0x14, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x02, 0x61, 0x0a, 0x62 };
    expect_bad(d, sizeof d, 1, 0, 0, KLOG_ERECOVERRUN);
}
END_TEST

START_TEST(malformed_header_count)
{
    /* Negative header count. */
    static const uint8_t a[] = { 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_EHDRCOUNT);
    /* 10 headers announced, 2 bytes remain. */
    static const uint8_t b[] = { 0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x14, 0x00, 0x01 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_EHDRCOUNT);
}
END_TEST

START_TEST(malformed_header_key)
{
    /* Header key length -1 (a null header key). */
    static const uint8_t a[] = { 0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_EHDRKEY);
    static const uint8_t b[] = { 0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x05, 0x01 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_EHDRKEY);
}
END_TEST

START_TEST(malformed_negative_length)
{
    /* Key length -2. */
    static const uint8_t a[] = { 0x0c, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00 };
    expect_bad(a, sizeof a, 1, 0, 0, KLOG_ENEGLEN);
    /* Value length -5. */
    static const uint8_t b[] = { 0x0c, 0x00, 0x00, 0x00, 0x01, 0x09, 0x00 };
    expect_bad(b, sizeof b, 1, 0, 0, KLOG_ENEGLEN);
    /* Header value length -2. */
    static const uint8_t c[] = { 0x12, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x02, 0x61, 0x03 };
    expect_bad(c, sizeof c, 1, 0, 0, KLOG_ENEGLEN);
}
END_TEST

START_TEST(malformed_record_count)
{
    static const uint8_t two[] = { REC_MIN, 0x0c, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00 };
    /* Sanity: the two records are fine as they are. */
    size_t len;
    uint8_t *b = make_batch(two, sizeof two, 2, 1, 0, &len);
    ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL), 0);
    ck_assert_int_eq(read_all(b, len, KLOG_VALIDATE_RECORDS, NULL, 0), 2);
    free(b);
    expect_bad(two, sizeof two, 3, 2, 0, KLOG_ERECCOUNT);  /* fewer than declared */
    expect_bad(two, sizeof two, 1, 1, 0, KLOG_ERECCOUNT);  /* bytes left over */
    expect_bad(two, sizeof two, -1, 1, 0, KLOG_ERECCOUNT); /* negative */
    expect_bad(NULL, 0, 1, 0, 0, KLOG_ERECCOUNT);
}
END_TEST

START_TEST(malformed_offset_delta)
{
    /* Two records both at delta 0. */
    static const uint8_t dup[] = { REC_MIN, REC_MIN };
    expect_bad(dup, sizeof dup, 2, 1, 0, KLOG_EOFFSETDELTA);
    /* Delta above lastOffsetDelta. */
    static const uint8_t hi[] = { 0x0c, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00 };
    expect_bad(hi, sizeof hi, 1, 1, 0, KLOG_EOFFSETDELTA);
    /* Negative delta. */
    static const uint8_t neg[] = { 0x0c, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00 };
    expect_bad(neg, sizeof neg, 1, 0, 0, KLOG_EOFFSETDELTA);
    /* Gaps (as compaction leaves them) are fine. */
    static const uint8_t gap[] = { REC_MIN, 0x0c, 0x00, 0x00, 0x0a, 0x01, 0x01, 0x00 };
    size_t len;
    uint8_t *b = make_batch(gap, sizeof gap, 2, 7, 0, &len);
    ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL), 0);
    klog_record_t got[2];
    ck_assert_int_eq(read_all(b, len, KLOG_VALIDATE_RECORDS, got, 2), 2);
    ck_assert_int_eq(got[1].offset, 5);
    free(b);
}
END_TEST

START_TEST(malformed_codec)
{
    static const uint8_t one[] = { REC_MIN };
    for (int16_t c = 5; c <= 7; c++)
        expect_bad(one, sizeof one, 1, 0, c, KLOG_ECODEC);
    /* Garbage behind each built codec. */
    static const uint8_t junk[] = { 0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x00, 0x13, 0x37, 0xde,
                                    0xad, 0xbe, 0xef, 0x01, 0x02, 0x03 };
    for (int16_t c = 1; c <= 4; c++)
        if (klog_compression_supported(c))
            expect_bad(junk, sizeof junk, 1, 0, c, KLOG_EDECOMPRESS);
}
END_TEST

/* ---------------------------------------------------------------- builder */

START_TEST(builder_rules)
{
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(9, &b), KLOG_ECODEC);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(klog_builder_new(-1, &b), KLOG_ECODEC);
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_NONE, &b), 0);
    const void *batch;
    size_t len;
    ck_assert_int_eq(klog_builder_finish(b, &batch, &len), KLOG_EEMPTY);

    klog_record_t r = { 0 };
    r.key_len = -2;
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    r.key_len = 3; /* NULL pointer with a length */
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    r.key_len = 0; /* empty key, NULL pointer: fine */
    r.value_len = -7;
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    r.value_len = KLOG_NULL_LEN;
    r.header_count = 1; /* headers NULL */
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    klog_header_t h = { NULL, 0, NULL, KLOG_NULL_LEN };
    r.headers = &h;
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL); /* null header key */
    h.key = "k";
    h.key_len = -1;
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    h.key_len = 1;
    h.value_len = -3;
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    h.value_len = 4; /* NULL value pointer with a length */
    ck_assert_int_eq(klog_builder_add(b, &r), -EINVAL);
    ck_assert_uint_eq(klog_builder_count(b), 0);
    ck_assert_uint_eq(klog_builder_size(b), 0);
    h.value_len = KLOG_NULL_LEN;
    r.timestamp = 5;
    ck_assert_int_eq(klog_builder_add(b, &r), 0);
    ck_assert_uint_eq(klog_builder_count(b), 1);
    /* length 9 + body: attr, ts, off, key 0, value -1, 1 header (1, "k", -1). */
    ck_assert_uint_eq(klog_builder_size(b), 10);
    ck_assert_int_eq(klog_builder_finish(b, &batch, &len), 0);
    ck_assert_uint_eq(len, 61 + 10);
    const void *again;
    size_t len2;
    ck_assert_int_eq(klog_builder_finish(b, &again, &len2), 0);
    ck_assert_ptr_eq(again, batch);
    ck_assert_uint_eq(len2, len);
    klog_record_t got;
    ck_assert_int_eq(read_all(batch, len, KLOG_VALIDATE_RECORDS, &got, 1), 1);
    ck_assert_int_eq(got.key_len, 0);
    ck_assert_ptr_nonnull(got.key); /* empty, not null */
    ck_assert_int_eq(got.value_len, KLOG_NULL_LEN);
    ck_assert_ptr_null(got.value);
    ck_assert_uint_eq(got.header_count, 1);
    ck_assert_int_eq(got.headers[0].key_len, 1);
    ck_assert_int_eq(got.headers[0].key[0], 'k');
    ck_assert_int_eq(got.headers[0].value_len, KLOG_NULL_LEN);

    /* Reset and reuse: a fresh batch equal to a one-shot encode. */
    klog_builder_reset(b);
    ck_assert_uint_eq(klog_builder_count(b), 0);
    klog_record_t recs[2];
    golden_records(recs);
    ck_assert_int_eq(klog_builder_add(b, &recs[0]), 0);
    ck_assert_int_eq(klog_builder_add(b, &recs[1]), 0);
    ck_assert_int_eq(klog_builder_finish(b, &batch, &len), 0);
    ck_assert_uint_eq(len, 97);
    ck_assert_mem_eq(batch, golden_none, 97);
    klog_builder_free(b);
    klog_builder_free(NULL);
    klog_batch_reader_free(NULL);

    void *out = (void *)1;
    ck_assert_int_eq(klog_batch_encode(recs, 0, KLOG_COMPRESSION_NONE, &out, &len), KLOG_EEMPTY);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(builder_timestamps)
{
    int64_t before = klog__now_ms();
    klog_record_t r[3] = { { 0 } };
    r[0].timestamp = KLOG_TIMESTAMP_NOW;
    r[0].key_len = r[0].value_len = KLOG_NULL_LEN;
    r[1] = r[0];
    r[1].timestamp = -5; /* far below the base: large negative delta */
    r[2] = r[0];
    r[2].timestamp = INT64_MAX;
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(r, 3, KLOG_COMPRESSION_NONE, &out, &len), 0);
    int64_t after = klog__now_ms();
    klog_batch_info_t info;
    ck_assert_int_eq(klog_batch_validate(out, len, KLOG_VALIDATE_RECORDS, &info), 0);
    ck_assert(info.base_timestamp >= before && info.base_timestamp <= after);
    ck_assert_int_eq(info.max_timestamp, INT64_MAX);
    klog_record_t got[3];
    ck_assert_int_eq(read_all(out, len, 0, got, 3), 3);
    ck_assert_int_eq(got[0].timestamp, info.base_timestamp);
    ck_assert_int_eq(got[1].timestamp, -5);
    ck_assert_int_eq(got[2].timestamp, INT64_MAX);
    ck_assert_int_eq(got[2].offset, 2);
    free(out);
}
END_TEST

START_TEST(compression_names)
{
    static const char *names[] = { "none", "gzip", "snappy", "lz4", "zstd" };
    for (int c = 0; c < 5; c++) {
        ck_assert_str_eq(klog_compression_name(c), names[c]);
        ck_assert_int_eq(klog_compression_parse(names[c]), c);
    }
    ck_assert_ptr_null(klog_compression_name(5));
    ck_assert_ptr_null(klog_compression_name(-1));
    ck_assert_int_eq(klog_compression_parse("LZ5"), KLOG_ECODEC);
    ck_assert_int_eq(klog_compression_parse(""), KLOG_ECODEC);
    ck_assert_int_eq(klog_compression_parse(NULL), KLOG_ECODEC);
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_NONE), 1);
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_LZ4), 1);
    ck_assert_int_eq(klog_compression_supported(5), 0);
    ck_assert_int_eq(klog_compression_supported(-1), 0);
#if KLOG_HAVE_ZSTD
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_ZSTD), 1);
#else
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_ZSTD), 0);
    klog_builder_t *b;
    ck_assert_int_eq(klog_builder_new(KLOG_COMPRESSION_ZSTD, &b), KLOG_ECODEC);
#endif
#if KLOG_HAVE_ZLIB
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_GZIP), 1);
#endif
#if KLOG_HAVE_SNAPPY
    ck_assert_int_eq(klog_compression_supported(KLOG_COMPRESSION_SNAPPY), 1);
#endif
}
END_TEST

/* ------------------------------------------------------------ round trips */

static void roundtrip(int codec, size_t n, uint64_t seed, const tu_recgen_opts_t *opts)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, seed);
    tu_records_t set;
    tu_records_gen(&set, &rng, n, opts);
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(set.recs, n, codec, &out, &len), 0);
    klog_batch_info_t info;
    int rc = klog_batch_validate(out, len, KLOG_VALIDATE_RECORDS, &info);
    ck_assert_msg(rc == 0, "codec %d n %zu: %s", codec, n, klog_err_name(rc));
    ck_assert_int_eq(info.compression, codec);
    ck_assert_int_eq(info.record_count, (int32_t)n);
    ck_assert_int_eq(info.last_offset_delta, (int32_t)n - 1);
    ck_assert_int_eq(info.base_timestamp, set.recs[0].timestamp);
    int64_t max = set.recs[0].timestamp;
    for (size_t i = 1; i < n; i++)
        if (set.recs[i].timestamp > max)
            max = set.recs[i].timestamp;
    ck_assert_int_eq(info.max_timestamp, max);

    klog_batch_set_base_offset(out, 1000);
    klog_batch_reader_t *r;
    ck_assert_int_eq(klog_batch_reader_new(&r), 0);
    ck_assert_int_eq(klog_batch_reader_open(r, out, len, KLOG_VALIDATE_HEADER), 0);
    ck_assert_int_eq(klog_batch_reader_info(r)->record_count, (int32_t)n);
    klog_record_t rec;
    size_t i = 0;
    while ((rc = klog_batch_reader_next(r, &rec)) == 1) {
        ck_assert_uint_lt(i, n);
        set.recs[i].offset = 1000 + (int64_t)i;
        char why[160];
        ck_assert_msg(tu_record_cmp(&rec, &set.recs[i], TU_CMP_OFFSET | TU_CMP_TIMESTAMP, why,
                                    sizeof why) == 0,
                      "codec %d n %zu record %zu: %s", codec, n, i, why);
        i++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(i, n);
    ck_assert_int_eq(klog_batch_reader_next(r, &rec), 0); /* stays at the end */
    /* Reopen the same reader (buffers reused) on the same batch. */
    ck_assert_int_eq(klog_batch_reader_open(r, out, len, KLOG_VALIDATE_RECORDS), 0);
    ck_assert_int_eq(klog_batch_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.offset, 1000);
    klog_batch_reader_free(r);
    free(out);
    tu_records_free(&set);
}

START_TEST(roundtrip_random)
{
    int codec = _i;
    if (!klog_compression_supported(codec))
        return;
    static const size_t sizes[] = { 1, 2, 3, 17, 50, 333, 2000, 10000 };
    uint64_t seed = tu_test_seed(0x5eed0000u + (uint64_t)codec);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        roundtrip(codec, sizes[k], seed + k, NULL);
    /* Large values spanning several LZ4 blocks; no headers; never null. */
    tu_recgen_opts_t big = { .max_value = 100000, .max_headers = -1, .null_pct = -1 };
    roundtrip(codec, 20, seed + 100, &big);
    /* Timestamps spread wide (negative deltas of every size). */
    tu_recgen_opts_t wide = { .ts_base = 1, .ts_jitter = (int64_t)1 << 60 };
    roundtrip(codec, 500, seed + 200, &wide);
}
END_TEST

START_TEST(reader_reuse_across_batches)
{
    /* One reader over batches of different codecs and sizes: state from a
     * previous batch (decompression buffer, header scratch) never leaks. */
    klog_batch_reader_t *r;
    ck_assert_int_eq(klog_batch_reader_new(&r), 0);
    klog_record_t rec;
    ck_assert_int_eq(klog_batch_reader_next(r, &rec), -EINVAL); /* not opened */
    tu_rng_t rng;
    tu_rng_seed(&rng, 7);
    for (int round = 0; round < 40; round++) {
        int codec = (int)tu_rng_below(&rng, 5);
        if (!klog_compression_supported(codec))
            continue;
        tu_records_t set;
        tu_recgen_opts_t o = { .max_headers = 40 };
        tu_records_gen(&set, &rng, 1 + tu_rng_below(&rng, 100), &o);
        void *out;
        size_t len;
        ck_assert_int_eq(klog_batch_encode(set.recs, set.n, codec, &out, &len), 0);
        ck_assert_int_eq(klog_batch_reader_open(r, out, len, KLOG_VALIDATE_HEADER), 0);
        size_t i = 0;
        int rc;
        while ((rc = klog_batch_reader_next(r, &rec)) == 1) {
            ck_assert_int_eq(tu_record_cmp(&rec, &set.recs[i], TU_CMP_OFFSET, NULL, 0), 0);
            i++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(i, set.n);
        free(out);
        tu_records_free(&set);
    }
    /* A failed open leaves the reader returning that error. */
    ck_assert_int_eq(klog_batch_reader_open(r, golden_none, 50, 0), KLOG_ETRUNCATED);
    ck_assert_int_eq(klog_batch_reader_next(r, &rec), KLOG_ETRUNCATED);
    klog_batch_reader_free(r);
}
END_TEST

/* ------------------------------------------------------------------- LZ4 */

/* Decode a frame with liblz4's own decoder. */
static uint8_t *lz4f_decode(const uint8_t *src, size_t n, size_t *out_len)
{
    LZ4F_dctx *d;
    ck_assert(!LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
    size_t cap = 1 << 20, len = 0;
    uint8_t *out = malloc(cap);
    size_t pos = 0, r = 1;
    while (pos < n && r != 0) {
        if (cap - len < 65536) {
            cap *= 2;
            out = realloc(out, cap);
        }
        size_t dst = cap - len, in = n - pos;
        r = LZ4F_decompress(d, out + len, &dst, src + pos, &in, NULL);
        ck_assert_msg(!LZ4F_isError(r), "LZ4F_decompress: %s", LZ4F_getErrorName(r));
        pos += in;
        len += dst;
    }
    ck_assert_uint_eq(r, 0); /* frame complete */
    ck_assert_uint_eq(pos, n);
    LZ4F_freeDecompressionContext(d);
    *out_len = len;
    return out;
}

START_TEST(lz4_frames_decode_with_liblz4)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, 99);
    uint8_t *pool = tu_word_pool(&rng, 1 << 20);
    for (size_t n = 1; n <= 3000; n *= 5) {
        klog_record_t *recs = calloc(n, sizeof *recs);
        for (size_t i = 0; i < n; i++) {
            recs[i].timestamp = 1000 + (int64_t)i;
            recs[i].key_len = KLOG_NULL_LEN;
            recs[i].value = pool + tu_rng_below(&rng, (1 << 20) - 200);
            recs[i].value_len = 200;
        }
        void *plain, *lz;
        size_t plen, llen;
        ck_assert_int_eq(klog_batch_encode(recs, n, KLOG_COMPRESSION_NONE, &plain, &plen), 0);
        ck_assert_int_eq(klog_batch_encode(recs, n, KLOG_COMPRESSION_LZ4, &lz, &llen), 0);
        const uint8_t *f = (const uint8_t *)lz + 61;
        /* Kafka's frame header: independent blocks, 64 KiB, no checksums. */
        ck_assert_mem_eq(f, "\x04\x22\x4d\x18\x60\x40\x82", 7);
        size_t dlen;
        uint8_t *d = lz4f_decode(f, llen - 61, &dlen);
        ck_assert_uint_eq(dlen, plen - 61);
        ck_assert_mem_eq(d, (uint8_t *)plain + 61, dlen);
        if (n >= 625)
            ck_assert_uint_lt(llen, plen); /* it compresses */
        free(d);
        free(plain);
        free(lz);
        free(recs);
    }
    free(pool);
}
END_TEST

/* Build an LZ4 batch around a frame made by liblz4 with given preferences. */
static uint8_t *lz4_batch_with(const LZ4F_preferences_t *prefs, const uint8_t *recs, size_t n,
                               int32_t count, size_t *len)
{
    size_t cap = LZ4F_compressFrameBound(n, prefs);
    uint8_t *frame = malloc(cap);
    size_t flen = LZ4F_compressFrame(frame, cap, recs, n, prefs);
    ck_assert(!LZ4F_isError(flen));
    uint8_t *b = make_batch(frame, flen, count, count - 1, KLOG_COMPRESSION_LZ4, len);
    free(frame);
    return b;
}

START_TEST(lz4_frames_kafka_accepts)
{
    /* Records section of 3000 records from a plain batch. */
    tu_rng_t rng;
    tu_rng_seed(&rng, 5);
    tu_records_t set;
    tu_records_gen(&set, &rng, 3000, NULL);
    void *plain;
    size_t plen;
    ck_assert_int_eq(klog_batch_encode(set.recs, set.n, KLOG_COMPRESSION_NONE, &plain, &plen), 0);
    const uint8_t *recs = (const uint8_t *)plain + 61;
    size_t rlen = plen - 61;

    static const LZ4F_blockSizeID_t sizes[] = { LZ4F_max64KB, LZ4F_max256KB, LZ4F_max1MB,
                                                LZ4F_max4MB };
    for (int s = 0; s < 4; s++)
        for (int variant = 0; variant < 2; variant++) {
            LZ4F_preferences_t p;
            memset(&p, 0, sizeof p);
            p.frameInfo.blockSizeID = sizes[s];
            p.frameInfo.blockMode = LZ4F_blockIndependent;
            if (variant) { /* everything optional switched on */
                p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
                p.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
                p.frameInfo.contentSize = rlen;
                p.compressionLevel = 9; /* HC */
            }
            size_t len;
            uint8_t *b = lz4_batch_with(&p, recs, rlen, 3000, &len);
            int rc = klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL);
            ck_assert_msg(rc == 0, "size %d variant %d: %s", s, variant, klog_err_name(rc));
            ck_assert_int_eq(read_all(b, len, KLOG_VALIDATE_HEADER, NULL, 0), 3000);
            if (variant) {
                /* Block checksums are verified: corrupt one compressed byte. */
                b[61 + 30] ^= 0x01;
                fix_crc(b, len);
                ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL),
                                 KLOG_EDECOMPRESS);
            }
            free(b);
        }

    /* Linked blocks (liblz4's default): rejected, as Kafka does. */
    LZ4F_preferences_t linked;
    memset(&linked, 0, sizeof linked);
    linked.frameInfo.blockSizeID = LZ4F_max64KB;
    linked.frameInfo.blockMode = LZ4F_blockLinked;
    size_t len;
    uint8_t *b = lz4_batch_with(&linked, recs, rlen, 3000, &len);
    ck_assert_int_eq(b[61 + 4], 0x40);
    ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL), KLOG_EDECOMPRESS);
    free(b);
    free(plain);
    tu_records_free(&set);
}
END_TEST

START_TEST(lz4_frame_header_rules)
{
    uint8_t g[112];
    golden_lz4(g);
    struct {
        size_t at;
        uint8_t val;
    } bad[] = {
        { 61, 0x05 },       /* magic */
        { 65, 0x20 },       /* FLG version 00 */
        { 65, 0x61 },       /* reserved bit 0 (dictionary id) */
        { 65, 0x62 },       /* reserved bit 1 */
        { 66, 0x30 },       /* block size code 3 */
        { 66, 0x41 },       /* BD reserved bits */
        { 66, 0xc0 },       /* BD high bit */
        { 67, 0x1a },       /* KAFKA-3160 header checksum */
        { 68, 0x25 },       /* stored block longer than the data */
        { 71, 0x00 },       /* block claims to be compressed: garbage */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[112];
        memcpy(b, g, sizeof b);
        b[bad[i].at] = bad[i].val;
        fix_crc(b, sizeof b);
        int rc = klog_batch_validate(b, sizeof b, KLOG_VALIDATE_RECORDS, NULL);
        ck_assert_msg(rc == KLOG_EDECOMPRESS, "case %zu: %s", i, klog_err_name(rc));
    }
    /* Linked-block FLG with a correct header checksum is still rejected. */
    uint8_t b[112];
    memcpy(b, g, sizeof b);
    b[65] = 0x40;
    b[67] = (uint8_t)(XXH32(b + 65, 2, 0) >> 8);
    fix_crc(b, sizeof b);
    ck_assert_int_eq(klog_batch_validate(b, sizeof b, KLOG_VALIDATE_RECORDS, NULL),
                     KLOG_EDECOMPRESS);
    /* Missing end mark. */
    memcpy(b, g, sizeof b);
    klog__store32(b + 8, 100 - 4);
    fix_crc(b, 108);
    ck_assert_int_eq(klog_batch_validate(b, 108, KLOG_VALIDATE_RECORDS, NULL), KLOG_EDECOMPRESS);
}
END_TEST

START_TEST(decompression_is_bounded)
{
    /* 100 concatenated streams (gzip members / zstd frames) of 1 MiB of
     * zeros each: a few KiB that would inflate to 100 MiB. The reader must
     * stop at max(64 MiB, 255 x input) instead of allocating it all. */
    size_t mib = (size_t)1 << 20;
    uint8_t *zeros = calloc(1, mib);
    static const int codecs[] = { KLOG_COMPRESSION_ZSTD, KLOG_COMPRESSION_GZIP };
    for (size_t i = 0; i < 2; i++) {
        if (!klog_compression_supported(codecs[i]))
            continue;
        klog__buf_t one = { 0 }, many = { 0 };
        ck_assert_int_eq(klog__compress(codecs[i], NULL, zeros, mib, &one), 0);
        for (int k = 0; k < 100; k++)
            ck_assert_int_eq(klog__buf_append(&many, one.data, one.len), 0);
        ck_assert_uint_lt(many.len * 255, (size_t)64 << 20);
        /* Two streams decompress fine (2 MiB). */
        klog__buf_t out = { 0 };
        ck_assert_int_eq(klog__decompress(codecs[i], NULL, many.data, 2 * one.len, &out), 0);
        ck_assert_uint_eq(out.len, 2 * mib);
        ck_assert_int_eq(klog__decompress(codecs[i], NULL, many.data, many.len, &out),
                         KLOG_EDECOMPRESS);
        ck_assert_uint_le(out.cap, (size_t)128 << 20);
        klog__buf_free(&out);
        size_t len;
        uint8_t *b = make_batch(many.data, many.len, 1, 0, (int16_t)codecs[i], &len);
        ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_HEADER, NULL), 0);
        ck_assert_int_eq(klog_batch_validate(b, len, KLOG_VALIDATE_RECORDS, NULL),
                         KLOG_EDECOMPRESS);
        ck_assert_int_eq(read_all(b, len, 0, NULL, 0), KLOG_EDECOMPRESS);
        free(b);
        klog__buf_free(&one);
        klog__buf_free(&many);
    }
    /* Below the cap a large value decodes. */
    klog_record_t r = { 0 };
    r.key_len = KLOG_NULL_LEN;
    r.value = zeros;
    r.value_len = (int32_t)mib;
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(&r, 1, KLOG_COMPRESSION_LZ4, &out, &len), 0);
    klog_record_t got;
    ck_assert_int_eq(read_all(out, len, KLOG_VALIDATE_RECORDS, &got, 1), 1);
    ck_assert_int_eq(got.value_len, (int32_t)mib);
    free(out);
    free(zeros);
}
END_TEST

START_TEST(snappy_xerial_framing)
{
    if (!klog_compression_supported(KLOG_COMPRESSION_SNAPPY))
        return;
    tu_rng_t rng;
    tu_rng_seed(&rng, 11);
    uint8_t *pool = tu_word_pool(&rng, 200000);
    klog_record_t r = { 0 };
    r.key_len = KLOG_NULL_LEN;
    r.value = pool;
    r.value_len = 100000; /* > 32 KiB: several xerial blocks */
    void *out;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(&r, 1, KLOG_COMPRESSION_SNAPPY, &out, &len), 0);
    const uint8_t *s = (const uint8_t *)out + 61;
    ck_assert_mem_eq(s, "\x82SNAPPY\0\0\0\0\x01\0\0\0\x01", 16);
    /* First block length, big-endian, and a plausible next block. */
    uint32_t first = klog__load32(s + 16);
    ck_assert_uint_gt(first, 0);
    ck_assert_uint_lt(16 + 4 + first + 4, len - 61);
    klog_record_t got;
    ck_assert_int_eq(read_all(out, len, KLOG_VALIDATE_RECORDS, &got, 1), 1);
    ck_assert_int_eq(got.value_len, 100000);
    ck_assert_mem_eq(got.value, pool, 100000);
    free(out);
    free(pool);
#if KLOG_HAVE_SNAPPY
    /* snappy-java's fallback: a stream without the xerial header is one raw
     * snappy block. */
    klog_record_t recs[2];
    golden_records(recs);
    const uint8_t *plain = golden_none + 61;
    size_t max = snappy_max_compressed_length(36), clen = max;
    char *raw = malloc(max);
    ck_assert_int_eq(snappy_compress((const char *)plain, 36, raw, &clen), SNAPPY_OK);
    size_t blen;
    uint8_t *b = make_batch((const uint8_t *)raw, clen, 2, 1, KLOG_COMPRESSION_SNAPPY, &blen);
    klog_record_t got2[2];
    ck_assert_int_eq(read_all(b, blen, KLOG_VALIDATE_RECORDS, got2, 2), 2);
    ck_assert_int_eq(tu_record_cmp(&got2[1], &recs[1], 0, NULL, 0), 0);
    free(b);
    free(raw);
#endif
}
END_TEST

START_TEST(allocation_failures)
{
    /* Every allocation the builder, reader and codecs make through the
     * platform layer may fail: the call reports -ENOMEM (or the codec's
     * error) and nothing leaks (ASan checks). */
    klog_record_t recs[2];
    golden_records(recs);
    for (int codec = 0; codec <= 4; codec++) {
        if (!klog_compression_supported(codec))
            continue;
        for (long nth = 1; nth < 50; nth++) {
            klog__fault_clear();
            klog__fault_arm(KLOG__FAULT_ALLOC, nth, ENOMEM, 0, 0);
            void *out = NULL;
            size_t len;
            int rc = klog_batch_encode(recs, 2, codec, &out, &len);
            long fired = klog__fault_fired();
            klog__fault_clear();
            if (fired == 0) {
                ck_assert_int_eq(rc, 0);
                free(out);
                break;
            }
            ck_assert_msg(rc == -ENOMEM, "codec %d nth %ld: %s", codec, nth, klog_err_name(rc));
            ck_assert_ptr_null(out);
        }
    }
    uint8_t lz[112];
    golden_lz4(lz);
    for (long nth = 1; nth < 20; nth++) {
        klog__fault_clear();
        klog__fault_arm(KLOG__FAULT_ALLOC, nth, ENOMEM, 0, 0);
        klog_batch_reader_t *r = NULL;
        int rc = klog_batch_reader_new(&r);
        if (rc == 0)
            rc = klog_batch_reader_open(r, lz, sizeof lz, KLOG_VALIDATE_RECORDS);
        long fired = klog__fault_fired();
        klog__fault_clear();
        klog_batch_reader_free(r);
        if (!fired) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        ck_assert_int_eq(rc, -ENOMEM);
    }
}
END_TEST

Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("crc");
    tcase_add_test(tc, crc_known_vectors);
    tcase_add_test(tc, crc_hw_matches_sw);
    suite_add_tcase(s, tc);

    tc = tcase_create("varint");
    tcase_add_test(tc, varint_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("batch");
    tcase_add_test(tc, golden_uncompressed);
    tcase_add_test(tc, golden_lz4_batch);
    tcase_add_test(tc, header_errors);
    tcase_add_test(tc, set_offset_and_epoch_keep_crc);
    tcase_add_test(tc, log_append_time_reports_max_timestamp);
    tcase_add_test(tc, empty_batch);
    tcase_add_test(tc, builder_rules);
    tcase_add_test(tc, builder_timestamps);
    tcase_add_test(tc, compression_names);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, malformed_varint);
    tcase_add_test(tc, malformed_record_length);
    tcase_add_test(tc, malformed_overrun);
    tcase_add_test(tc, malformed_header_count);
    tcase_add_test(tc, malformed_header_key);
    tcase_add_test(tc, malformed_negative_length);
    tcase_add_test(tc, malformed_record_count);
    tcase_add_test(tc, malformed_offset_delta);
    tcase_add_test(tc, malformed_codec);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, roundtrip_random, 0, 5);
    tcase_add_test(tc, reader_reuse_across_batches);
    tcase_add_test(tc, lz4_frames_decode_with_liblz4);
    tcase_add_test(tc, lz4_frames_kafka_accepts);
    tcase_add_test(tc, lz4_frame_header_rules);
    tcase_add_test(tc, decompression_is_bounded);
    tcase_add_test(tc, snappy_xerial_framing);
    suite_add_tcase(s, tc);
    return s;
}
