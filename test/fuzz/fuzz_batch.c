/*
 * fuzz_batch.c — libFuzzer target for the RecordBatch v2 decoder.
 *
 * Feeds arbitrary bytes to klog_batch_validate() and the batch reader, then
 * the same bytes with the CRC repaired (so the fuzzer reaches the record
 * grammar and the decompressors instead of stopping at the checksum), and
 * checks that the two decoders agree: validate(RECORDS) must return exactly
 * the error the reader reports while iterating, or 0 when the reader
 * produces every record. A valid batch is re-encoded with the builder and
 * must read back identically. Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static klog_batch_reader_t *reader;
static volatile uint8_t sink;

static void touch(const void *p, int32_t len)
{
    const uint8_t *b = p;
    if (len > 0)
        sink ^= b[0] ^ b[len - 1];
}

/* Iterate every record; returns the reader's final status (0 or error) and
 * the record count in *n. */
static int iterate(const uint8_t *buf, size_t len, unsigned flags, int *n)
{
    *n = 0;
    int rc = klog_batch_reader_open(reader, buf, len, flags);
    if (rc)
        return rc;
    klog_record_t rec;
    while ((rc = klog_batch_reader_next(reader, &rec)) == 1) {
        touch(rec.key, rec.key_len);
        touch(rec.value, rec.value_len);
        for (uint32_t i = 0; i < rec.header_count; i++) {
            touch(rec.headers[i].key, rec.headers[i].key_len);
            touch(rec.headers[i].value, rec.headers[i].value_len);
        }
        (*n)++;
    }
    return rc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Re-encode the records of a valid batch and compare. */
static void reencode(const uint8_t *buf, size_t len, const klog_batch_info_t *info)
{
    if (info->record_count > 2000 || (info->attributes & KLOG_ATTR_LOG_APPEND_TIME))
        return;
    klog_batch_reader_t *r;
    if (klog_batch_reader_new(&r))
        return;
    klog_builder_t *b;
    int codec = klog_compression_supported(info->compression) ? info->compression : 0;
    if (klog_builder_new(codec, &b)) {
        klog_batch_reader_free(r);
        return;
    }
    klog_record_t rec;
    if (klog_batch_reader_open(r, buf, len, 0))
        abort();
    while (klog_batch_reader_next(r, &rec) == 1) {
        if (rec.timestamp == KLOG_TIMESTAMP_NOW)
            goto out; /* would be read as "now" on input */
        if (klog_builder_add(b, &rec))
            abort();
    }
    const void *out;
    size_t out_len;
    if (klog_builder_finish(b, &out, &out_len) == 0) {
        if (klog_batch_validate(out, out_len, KLOG_VALIDATE_RECORDS, NULL))
            abort();
        klog_batch_reader_t *r2;
        if (klog_batch_reader_new(&r2) == 0) {
            klog_record_t a, c;
            int ra, rb;
            klog_batch_reader_open(r, buf, len, 0);
            klog_batch_reader_open(r2, out, out_len, 0);
            do {
                ra = klog_batch_reader_next(r, &a);
                rb = klog_batch_reader_next(r2, &c);
                if (ra != rb)
                    abort();
                if (ra == 1 &&
                    (a.timestamp != c.timestamp || a.key_len != c.key_len ||
                     a.value_len != c.value_len || a.header_count != c.header_count ||
                     (a.key_len > 0 && memcmp(a.key, c.key, (size_t)a.key_len)) ||
                     (a.value_len > 0 && memcmp(a.value, c.value, (size_t)a.value_len))))
                    abort();
            } while (ra == 1);
            klog_batch_reader_free(r2);
        }
    }
out:
    klog_builder_free(b);
    klog_batch_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reader && klog_batch_reader_new(&reader))
        return 0;
    klog_batch_info_t info;
    int n;
    /* As given: the checks must simply not crash. */
    (void)klog_batch_validate(data, size, KLOG_VALIDATE_RECORDS, &info);
    (void)iterate(data, size, KLOG_VALIDATE_HEADER, &n);
    (void)iterate(data, size, 0, &n);

    /* With the CRC repaired, trimmed to exactly the declared batch. */
    if (klog_batch_header(data, size, &info) != 0)
        return 0;
    uint8_t *copy = malloc(info.size);
    if (!copy)
        return 0;
    memcpy(copy, data, info.size);
    put32(copy + 17, klog_crc32c(0, copy + 21, info.size - 21));
    int v = klog_batch_validate(copy, info.size, KLOG_VALIDATE_RECORDS, &info);
    int rc = iterate(copy, info.size, KLOG_VALIDATE_HEADER, &n);
    if (v != rc)
        abort(); /* validate and the reader disagree */
    if (v == 0 && n != info.record_count)
        abort();
    if (iterate(copy, info.size, KLOG_VALIDATE_RECORDS, &n) != v)
        abort();
    if (v == 0)
        reencode(copy, info.size, &info);
    free(copy);
    return 0;
}
