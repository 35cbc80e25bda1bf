/*
 * config.h — klog_config_t's layout and the effective-value rule (explicit
 * topic setting, else the log's, else the default). Owned by config.c; the
 * upper layers read settings only through klog__config_value(), inline
 * here because an append makes seven look-ups of constant keys (a call
 * each cost ~20 instructions; inlined a constant key is ~6).
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
/* Each key's default and range, indexed by key (config.c; an unused slot
 * has key 0). */
typedef struct klog__conf_def {
    int key;
    int topic; /* may be set per topic */
    int64_t dflt, min, max;
} klog__conf_def_t;
KLOG__HIDDEN extern const klog__conf_def_t klog__conf_defs[KLOG__CONF_SLOTS];

/* Effective value: cfg's explicit value, else fallback's, else default
 * (0 for no key). A topic's settings can change under a reader
 * (klog_topic_alter_config, topic.c): bits and values are loaded
 * atomically (plain loads on the machines we run on). */
static inline int64_t klog__config_value(const klog_config_t *cfg, const klog_config_t *fallback,
                                         int key)
{
    if (key < 0 || key >= KLOG__CONF_SLOTS)
        return 0;
    uint64_t bit = 1ULL << (key % 64);
    if (cfg && (__atomic_load_n(&cfg->set[key / 64], __ATOMIC_ACQUIRE) & bit))
        return __atomic_load_n(&cfg->value[key], __ATOMIC_RELAXED);
    if (fallback && (__atomic_load_n(&fallback->set[key / 64], __ATOMIC_ACQUIRE) & bit))
        return __atomic_load_n(&fallback->value[key], __ATOMIC_RELAXED);
    return klog__conf_defs[key].key == key ? klog__conf_defs[key].dflt : 0;
}

#endif
