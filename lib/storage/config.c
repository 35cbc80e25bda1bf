/*
 * config.c — keyed configuration for logs, topics and producers.
 *
 * A configuration is a fixed table of int64 values indexed by key, with a
 * bit per key saying whether it was set explicitly. Keys never renumber
 * (they are persisted in klog.topics); each has a default (Kafka's where
 * Kafka has one) and a valid range checked on set, so a bad value is
 * refused at the call that made it, not discovered later.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/config.h"

#define DAY_MS (24LL * 3600 * 1000)

/* Indexed by key; a slot whose key is 0 is no key (keys start at 1). */
#define DEF(k, ...) [k] = {k, __VA_ARGS__}
const klog__conf_def_t klog__conf_defs[KLOG__CONF_SLOTS] = {
    DEF(KLOG_CONF_SEGMENT_BYTES, 1, 1073741824, 1024, INT32_MAX),
    DEF(KLOG_CONF_SEGMENT_MS, 1, 7 * DAY_MS, 1, INT64_MAX),
    DEF(KLOG_CONF_INDEX_INTERVAL_BYTES, 1, 4096, 0, INT32_MAX),
    DEF(KLOG_CONF_INDEX_MAX_BYTES, 1, 10485760, 64, INT32_MAX),
    DEF(KLOG_CONF_RETENTION_MS, 1, 7 * DAY_MS, -1, INT64_MAX),
    DEF(KLOG_CONF_RETENTION_BYTES, 1, -1, -1, INT64_MAX),
    DEF(KLOG_CONF_MAX_BATCH_BYTES, 1, 1048588, KLOG_BATCH_HEADER_SIZE, INT32_MAX),
    DEF(KLOG_CONF_FLUSH_MESSAGES, 1, 0, 0, INT64_MAX),
    DEF(KLOG_CONF_FLUSH_MS, 1, 0, 0, INT64_MAX),
    DEF(KLOG_CONF_VISIBILITY, 1, KLOG_VISIBLE_WRITTEN, KLOG_VISIBLE_WRITTEN, KLOG_VISIBLE_FLUSHED),
    DEF(KLOG_CONF_COMPRESSION, 1, KLOG_COMPRESSION_NONE, 0, 4),
    DEF(KLOG_CONF_CLEANUP_POLICY, 1, KLOG_CLEANUP_DELETE, 1, 3),
    DEF(KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, 1, 500, 0, 1000),
    DEF(KLOG_CONF_MIN_COMPACTION_LAG_MS, 1, 0, 0, INT64_MAX),
    DEF(KLOG_CONF_MAX_COMPACTION_LAG_MS, 1, INT64_MAX, 1, INT64_MAX),
    DEF(KLOG_CONF_DELETE_RETENTION_MS, 1, DAY_MS, 0, INT64_MAX),
    DEF(KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, 1, DAY_MS, 1, INT64_MAX),
    DEF(KLOG_CONF_MAX_OPEN_FILES, 0, 1024, 4, 1 << 20),
    DEF(KLOG_CONF_CHECKPOINT_MS, 0, 60000, 0, INT64_MAX),
    DEF(KLOG_CONF_DEFAULT_PARTITIONS, 0, 1, 1, 100000),
    DEF(KLOG_CONF_RETENTION_CHECK_MS, 0, 300000, 0, INT64_MAX),
    /* the cleaner (Kafka's log.cleaner.*; enabled on request) */
    DEF(KLOG_CONF_CLEANER_ENABLE, 0, 0, 0, 1),
    DEF(KLOG_CONF_CLEANER_IO_MAX_BYTES, 0, 0, 0, INT64_MAX),
    DEF(KLOG_CONF_CLEANER_DEDUPE_BYTES, 0, 128 << 20, 4096, 1LL << 40),
    DEF(KLOG_CONF_CLEANER_BACKOFF_MS, 0, 15000, 1, INT64_MAX),
    DEF(KLOG_CONF_MAX_STATE_MAPS, 0, 16384, 1, 1 << 24),
    /* producer (lib/produce); Kafka's linger.ms, batch.size, buffer.memory,
     * max.block.ms defaults, except linger (Kafka 4's 5 ms, not 0) */
    DEF(KLOG_CONF_LINGER_MS, 0, 5, 0, 3600000),
    DEF(KLOG_CONF_BATCH_BYTES, 0, 16384, 1, 1 << 30),
    DEF(KLOG_CONF_BATCH_RECORDS, 0, 0, 0, INT32_MAX),
    DEF(KLOG_CONF_BUFFER_BYTES, 0, 32 << 20, 1024, INT64_MAX / 2),
    DEF(KLOG_CONF_BLOCK_MS, 0, 60000, 0, INT32_MAX),
    DEF(KLOG_CONF_PARTITIONER, 0, KLOG_PARTITIONER_XXH3, KLOG_PARTITIONER_XXH3,
        KLOG_PARTITIONER_MURMUR2),
    DEF(KLOG_CONF_DURABLE_DELIVERY, 0, 0, 0, 1),
    /* idempotence and retries (enable.idempotence, retries, retry.backoff.ms,
     * delivery.timeout.ms; retries' default is the producer's, see
     * producer.c) */
    DEF(KLOG_CONF_ENABLE_IDEMPOTENCE, 0, 0, 0, 1),
    DEF(KLOG_CONF_RETRIES, 0, 0, 0, INT32_MAX),
    DEF(KLOG_CONF_RETRY_BACKOFF_MS, 0, 100, 0, 60000),
    DEF(KLOG_CONF_DELIVERY_TIMEOUT_MS, 0, 120000, 1, INT32_MAX),
    DEF(KLOG_CONF_PRODUCER_ID, 0, -1, -1, INT64_MAX),
    DEF(KLOG_CONF_PRODUCER_EPOCH, 0, 0, 0, INT16_MAX),
};

static const klog__conf_def_t *find(int key)
{
    if (key <= 0 || key >= KLOG__CONF_SLOTS || klog__conf_defs[key].key != key)
        return NULL;
    return &klog__conf_defs[key];
}

int klog__config_default(int key, int64_t *value)
{
    const klog__conf_def_t *d = find(key);
    if (!d)
        return KLOG_ECONFIG;
    *value = d->dflt;
    return 0;
}

int klog__config_is_topic_key(int key)
{
    const klog__conf_def_t *d = find(key);
    return d && d->topic;
}

int klog_config_new(klog_config_t **out)
{
    klog_config_t *c = klog__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    *out = c;
    return 0;
}

int klog_config_set(klog_config_t *cfg, int key, int64_t value)
{
    const klog__conf_def_t *d = find(key);
    if (!cfg)
        return -EINVAL;
    if (!d || value < d->min || value > d->max)
        return KLOG_ECONFIG;
    if (key == KLOG_CONF_COMPRESSION && !klog_compression_supported((int)value))
        return KLOG_ECODEC;
    cfg->value[key] = value;
    KLOG__CONF_MARK(cfg, key);
    return 0;
}

int klog_config_get(const klog_config_t *cfg, int key, int64_t *value)
{
    if (!find(key))
        return KLOG_ECONFIG;
    *value = klog__config_value(cfg, NULL, key);
    return 0;
}

void klog_config_set_logger(klog_config_t *cfg, klog_log_fn fn, void *ctx)
{
    if (!cfg)
        return;
    cfg->logger.fn = fn;
    cfg->logger.ctx = ctx;
}

void klog_config_free(klog_config_t *cfg)
{
    free(cfg);
}
