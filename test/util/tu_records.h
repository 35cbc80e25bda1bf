/*
 * tu_records.h — test fixtures for records: a seeded PRNG, random record
 * sets (keys, values, headers, null vs empty, timestamps around a base),
 * Kafka-benchmark-like payloads, record comparison and hex formatting.
 * Everything is deterministic for a given seed.
 */
#ifndef KLOG_TU_RECORDS_H
#define KLOG_TU_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"

/* xorshift64* PRNG. */
typedef struct tu_rng {
    uint64_t s;
} tu_rng_t;
void tu_rng_seed(tu_rng_t *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng_t *r);
/* Uniform in [0, n) (n > 0). */
uint64_t tu_rng_below(tu_rng_t *r, uint64_t n);
void tu_rng_fill(tu_rng_t *r, void *buf, size_t n);
/* The seed tests should use: $KLOG_TEST_SEED if set, else `fallback`. */
uint64_t tu_test_seed(uint64_t fallback);

/* What tu_records_gen() produces. Zero fields take the defaults noted. */
typedef struct tu_recgen_opts {
    size_t max_key;          /* key length in [0, max_key]; default 32 */
    size_t max_value;        /* value length in [0, max_value]; default 256 */
    int max_headers;         /* header count in [0, max_headers]; default 3; -1 = none */
    size_t max_header_value; /* default 16 */
    int null_pct;            /* % of null keys, values, header values; default 10; -1 = never */
    int64_t ts_base;         /* default 1700000000000 */
    int64_t ts_jitter;       /* timestamps in base +- jitter; default 100000 */
    int printable;           /* keys/values of [a-z0-9] only (e.g. for text tools) */
} tu_recgen_opts_t;

/* A generated record set; recs[i] point into memory owned by the set. */
typedef struct tu_records {
    klog_record_t *recs;
    size_t n;
    void **blocks; /* private */
    size_t nblocks;
} tu_records_t;

/* Generate n records (opts may be NULL). Aborts on allocation failure. */
void tu_records_gen(tu_records_t *out, tu_rng_t *rng, size_t n, const tu_recgen_opts_t *opts);
void tu_records_free(tu_records_t *set);

/* Compare two records. Always compares key, value (null vs empty differ)
 * and headers; timestamp and offset when the flags ask. Returns 0 when
 * equal, else 1 and a description in why (may be NULL). */
#define TU_CMP_TIMESTAMP 0x1
#define TU_CMP_OFFSET 0x2
int tu_record_cmp(const klog_record_t *a, const klog_record_t *b, unsigned flags, char *why,
                  size_t whylen);

/* A payload pool like the benchmark baseline's: `size` bytes of
 * pseudo-random words from a 256-word vocabulary with a skewed choice, so
 * that 200-byte slices of it compress about 1.9x with LZ4. malloc'd. */
uint8_t *tu_word_pool(tu_rng_t *rng, size_t size);

/* Lower-case hex of n bytes into a malloc'd NUL-terminated string. */
char *tu_hex(const void *p, size_t n);
/* Parse hex (even length, no separators) into a malloc'd buffer; NULL on a
 * malformed string. *n receives the byte count. */
uint8_t *tu_unhex(const char *s, size_t *n);

#endif
