/*
 * config.h — klog_config_t's layout and the effective-value rule (explicit
 * topic setting, else the log's, else the default). Owned by config.c; the
 * upper layers read settings only through klog__config_value().
 */
#ifndef KLOG_STORAGE_CONFIG_H
#define KLOG_STORAGE_CONFIG_H

#include "platform/platform.h"

#define KLOG__CONF_SLOTS 96
struct klog_config {
    int64_t value[KLOG__CONF_SLOTS];
    uint64_t set[(KLOG__CONF_SLOTS + 63) / 64]; /* bit k: key k set explicitly */
    klog__logger_t logger;
};
/* Was key k set explicitly in c? (k must be in [0, KLOG__CONF_SLOTS).) */
#define KLOG__CONF_ISSET(c, k) ((c)->set[(k) / 64] >> ((k) % 64) & 1)
#define KLOG__CONF_MARK(c, k) ((c)->set[(k) / 64] |= 1ULL << ((k) % 64))
/* Default value for key, or KLOG_ECONFIG if unknown. */
KLOG__HIDDEN int klog__config_default(int key, int64_t *value);
KLOG__HIDDEN int klog__config_is_topic_key(int key);
/* Effective value: cfg's explicit value, else fallback's, else default. */
KLOG__HIDDEN int64_t klog__config_value(const klog_config_t *cfg, const klog_config_t *fallback,
                                        int key);

#endif
