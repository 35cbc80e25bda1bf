/*
 * kwire.h — the few pieces of Kafka's wire protocol klogmirror's own client
 * needs (mirror_in.c): big-endian integers, unsigned varints, compact
 * strings and arrays, tagged fields, and one request/response exchange on
 * a blocking TCP socket.
 */
#ifndef KWIRE_H
#define KWIRE_H

#include <stddef.h>
#include <stdint.h>

/* A request being written: grows as needed; err set on allocation failure. */
typedef struct kw_out {
    uint8_t *p;
    size_t len, cap;
    int err;
} kw_out_t;

void kw_i8(kw_out_t *o, int8_t v);
void kw_i16(kw_out_t *o, int16_t v);
void kw_i32(kw_out_t *o, int32_t v);
void kw_i64(kw_out_t *o, int64_t v);
void kw_uvarint(kw_out_t *o, uint64_t v);
/* Compact (flexible-version) string: uvarint length + 1, then the bytes. */
void kw_cstr(kw_out_t *o, const char *s);
/* Classic string: int16 length, then the bytes. */
void kw_str(kw_out_t *o, const char *s);
/* Request header: api key, version, correlation id, client id (int16
 * length string), and for a flexible version (header v2) empty tagged
 * fields. Starts o with a 4-byte size that kw_exchange fills in. */
void kw_header(kw_out_t *o, int16_t api, int16_t version, int32_t corr, const char *client,
               int flexible);

/* A response being read: every get past the end sets err and returns 0. */
typedef struct kw_in {
    const uint8_t *p;
    size_t len, pos;
    int err;
} kw_in_t;

int8_t kw_get_i8(kw_in_t *in);
int16_t kw_get_i16(kw_in_t *in);
int32_t kw_get_i32(kw_in_t *in);
int64_t kw_get_i64(kw_in_t *in);
uint64_t kw_get_uvarint(kw_in_t *in);
/* n bytes in place (NULL and err set when fewer are left). */
const uint8_t *kw_get_bytes(kw_in_t *in, size_t n);
/* Skip a tagged-field section whose tags the caller does not want. */
void kw_skip_tags(kw_in_t *in);

/* Connect to HOST:PORT (blocking, 30 s send/receive timeouts): fd or -1. */
int kw_connect(const char *hostport);
/* Send o (size prefix filled in), read one response, check its correlation
 * id and return its body after the response header (v1: tagged fields
 * skipped when flexible) in *body (malloc'd; the caller frees *buf).
 * Returns 0 or -1 (message on stderr). */
int kw_exchange(int fd, kw_out_t *o, int32_t corr, int flexible, uint8_t **buf, kw_in_t *body);

#endif
