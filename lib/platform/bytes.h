/*
 * bytes.h — big-endian load/store helpers. Kafka files and wire bytes are
 * big-endian; every access to them goes through these, never through a
 * struct cast, so alignment and endianness never matter.
 */
#ifndef KLOG_BYTES_H
#define KLOG_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t klog__load16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}
static inline uint32_t klog__load32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline uint64_t klog__load64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)klog__load32(b) << 32 | klog__load32(b + 4);
}
static inline void klog__store16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void klog__store32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void klog__store64(void *p, uint64_t v)
{
    klog__store32(p, (uint32_t)(v >> 32));
    klog__store32((uint8_t *)p + 4, (uint32_t)v);
}
static inline uint32_t klog__load32le(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline void klog__store32le(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

#endif
