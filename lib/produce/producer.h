/*
 * producer.h — internals of the produce layer shared between its files.
 * The producer's structures stay private to producer.c; what is shared is
 * the hash behind Kafka's partitioner, which tests and the producer use.
 */
#ifndef KLOG_PRODUCER_H
#define KLOG_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"

/* Kafka's Utils.murmur2 (MurmurHash2, seed 0x9747b28c) as an unsigned
 * 32-bit value: the bits of Java's int result. */
KLOG__HIDDEN uint32_t klog__murmur2(const void *key, size_t len);

#endif
