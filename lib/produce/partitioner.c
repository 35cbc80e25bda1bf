/*
 * partitioner.c — where a keyed record goes: pure functions of the key
 * bytes and the partition count.
 *
 * XXH3 (the default): XXH3_64bits(key) % partitions. Fast on any key
 * length and well spread; not what any Kafka client does.
 *
 * MURMUR2: Kafka's DefaultPartitioner/BuiltInPartitioner for keyed records,
 * so that a key lands on the partition a Java (or librdkafka "murmur2")
 * producer would pick: h = Utils.murmur2(key) (MurmurHash2, 32-bit, seed
 * 0x9747b28c, little-endian 4-byte blocks, Java int arithmetic), then
 * Utils.toPositive(h) = h & 0x7fffffff, then % partitions. The arithmetic
 * is done on uint32_t, which wraps exactly like Java's int; Java's ">>>"
 * is a logical shift, which is what ">>" does on an unsigned type.
 *
 * Null keys never reach these functions: the producer spreads them with the
 * sticky rule (see producer.c).
 */
#include <errno.h>
#include <xxhash.h>

#include "produce/producer.h"

uint32_t klog__murmur2(const void *key, size_t len)
{
    const uint8_t *d = key;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    /* Java: int h = seed ^ length (length is an int). */
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *b = d + i * 4;
        uint32_t k = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = d + (len & ~(size_t)3);
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t klog_partition_for_key(int partitioner, const void *key, size_t len, int32_t partitions)
{
    if (partitions < 1 || (!key && len > 0))
        return -EINVAL;
    static const uint8_t empty[1];
    if (!key)
        key = empty;
    switch (partitioner) {
    case KLOG_PARTITIONER_XXH3:
        return (int32_t)(XXH3_64bits(key, len) % (uint64_t)partitions);
    case KLOG_PARTITIONER_MURMUR2:
        return (int32_t)((klog__murmur2(key, len) & 0x7fffffffu) % (uint32_t)partitions);
    default:
        return KLOG_ECONFIG;
    }
}
