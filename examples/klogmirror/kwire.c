/*
 * kwire.c — encoding, decoding and one request/response exchange of Kafka's
 * wire protocol for klogmirror (see kwire.h). Written from Kafka's protocol
 * documentation (docs/kafka-protocol.md, Kafka's message JSON schemas).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "kwire.h"

static void put(kw_out_t *o, const void *b, size_t n)
{
    if (o->err)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *np = realloc(o->p, cap);
        if (!np) {
            o->err = 1;
            return;
        }
        o->p = np;
        o->cap = cap;
    }
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static void put_be(kw_out_t *o, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    put(o, b, (size_t)n);
}

void kw_i8(kw_out_t *o, int8_t v) { put_be(o, (uint8_t)v, 1); }
void kw_i16(kw_out_t *o, int16_t v) { put_be(o, (uint16_t)v, 2); }
void kw_i32(kw_out_t *o, int32_t v) { put_be(o, (uint32_t)v, 4); }
void kw_i64(kw_out_t *o, int64_t v) { put_be(o, (uint64_t)v, 8); }

void kw_uvarint(kw_out_t *o, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    put(o, b, (size_t)n);
}

void kw_cstr(kw_out_t *o, const char *s)
{
    size_t n = strlen(s);
    kw_uvarint(o, n + 1);
    put(o, s, n);
}

void kw_str(kw_out_t *o, const char *s)
{
    kw_i16(o, (int16_t)strlen(s));
    put(o, s, strlen(s));
}

void kw_header(kw_out_t *o, int16_t api, int16_t version, int32_t corr, const char *client,
               int flexible)
{
    o->len = 0;
    kw_i32(o, 0); /* size, filled in by kw_exchange */
    kw_i16(o, api);
    kw_i16(o, version);
    kw_i32(o, corr);
    kw_str(o, client);
    if (flexible)
        kw_uvarint(o, 0); /* no tagged fields */
}

static uint64_t get_be(kw_in_t *in, int n)
{
    if (in->err || in->len - in->pos < (size_t)n) {
        in->err = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | in->p[in->pos++];
    return v;
}

int8_t kw_get_i8(kw_in_t *in) { return (int8_t)get_be(in, 1); }
int16_t kw_get_i16(kw_in_t *in) { return (int16_t)get_be(in, 2); }
int32_t kw_get_i32(kw_in_t *in) { return (int32_t)get_be(in, 4); }
int64_t kw_get_i64(kw_in_t *in) { return (int64_t)get_be(in, 8); }

uint64_t kw_get_uvarint(kw_in_t *in)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->err || in->pos >= in->len) {
            in->err = 1;
            return 0;
        }
        uint8_t b = in->p[in->pos++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    in->err = 1;
    return 0;
}

const uint8_t *kw_get_bytes(kw_in_t *in, size_t n)
{
    if (in->err || in->len - in->pos < n) {
        in->err = 1;
        return NULL;
    }
    const uint8_t *b = in->p + in->pos;
    in->pos += n;
    return b;
}

void kw_skip_tags(kw_in_t *in)
{
    uint64_t n = kw_get_uvarint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        kw_get_uvarint(in); /* tag */
        kw_get_bytes(in, (size_t)kw_get_uvarint(in));
    }
}

int kw_connect(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "klogmirror: broker address %s is not HOST:PORT\n", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc) {
        fprintf(stderr, "klogmirror: %s: %s\n", hostport, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fprintf(stderr, "klogmirror: connect %s: %s\n", hostport, strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = 30};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int io_all(int fd, void *b, size_t n, int wr)
{
    uint8_t *p = b;
    while (n) {
        ssize_t k = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            fprintf(stderr, "klogmirror: %s broker: %s\n", wr ? "sending to" : "reading from",
                    k == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int kw_exchange(int fd, kw_out_t *o, int32_t corr, int flexible, uint8_t **buf, kw_in_t *body)
{
    *buf = NULL;
    if (o->err) {
        fprintf(stderr, "klogmirror: out of memory\n");
        return -1;
    }
    uint32_t size = (uint32_t)(o->len - 4);
    for (int i = 0; i < 4; i++)
        o->p[i] = (uint8_t)(size >> (24 - 8 * i));
    uint8_t hdr[4];
    if (io_all(fd, o->p, o->len, 1) || io_all(fd, hdr, 4, 0))
        return -1;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n < 4 || n > (1u << 30)) {
        fprintf(stderr, "klogmirror: bad response size %u\n", n);
        return -1;
    }
    *buf = malloc(n);
    if (!*buf || io_all(fd, *buf, n, 0)) {
        free(*buf);
        *buf = NULL;
        return -1;
    }
    *body = (kw_in_t){.p = *buf, .len = n};
    if (kw_get_i32(body) != corr) {
        fprintf(stderr, "klogmirror: response to another request\n");
        free(*buf);
        *buf = NULL;
        return -1;
    }
    if (flexible)
        kw_skip_tags(body);
    return body->err ? -1 : 0;
}
