/*
 * group.h — internal interfaces of the group layer: the registry handle
 * (an operations table plus the session it belongs to), the built-in
 * backends' constructors, and small name helpers shared by the backends
 * and the member. The group layer sits on top of the public storage API
 * (klog_reader_*, klog_partition_*, klog_topic_*) and the platform layer;
 * it knows nothing of storage internals.
 */
#ifndef KLOG_GROUP_H
#define KLOG_GROUP_H

#include "platform/platform.h"

struct klog_registry {
    klog_registry_ops_t ops; /* full-size copy; unknown tail fields zero */
};

/* Make a handle over ops (copied). ops->ctx is owned from then on: on
 * failure ops->destroy(ops->ctx) is called. */
KLOG__HIDDEN int klog__registry_wrap(const klog_registry_ops_t *ops, klog_registry_t **out);

/* Is s a valid group, member or topic name (the topic-name rule)? */
KLOG__HIDDEN int klog__group_name_valid(const char *s);

/* Split a ','-joined topic list: calls fn for each non-empty name. Returns
 * the count, or fn's first non-zero result. */
KLOG__HIDDEN int klog__topics_split(const char *topics, int (*fn)(void *arg, const char *t,
                                                                  size_t len),
                                    void *arg);

/* Parse / format decimal int64 (whole string; no sign for offsets < 0
 * except "-1"). 0 or -EINVAL. */
KLOG__HIDDEN int klog__parse_i64(const char *s, size_t len, int64_t *out);

#endif
