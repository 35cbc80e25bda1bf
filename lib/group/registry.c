/*
 * registry.c — the registry handle and helpers shared by the backends.
 *
 * A klog_registry_t is nothing but a full-size copy of an operations
 * table: the application's own (klog_registry_new) or a built-in
 * backend's. Copying by the caller's declared size means a table compiled
 * against an older, shorter header still works: fields it does not know
 * stay NULL. Freeing the handle calls destroy, which for every backend
 * ends the session (its ephemeral members and claims vanish).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group/group.h"

int klog__registry_wrap(const klog_registry_ops_t *ops, klog_registry_t **out)
{
    klog_registry_t *r = klog__calloc(1, sizeof *r);
    if (!r) {
        if (ops->destroy)
            ops->destroy(ops->ctx);
        return -ENOMEM;
    }
    size_t n = ops->size < sizeof r->ops ? ops->size : sizeof r->ops;
    memcpy(&r->ops, ops, n);
    r->ops.size = sizeof r->ops;
    *out = r;
    return 0;
}

int klog_registry_new(const klog_registry_ops_t *ops, klog_registry_t **out)
{
    if (!ops || !out || ops->size < offsetof(klog_registry_ops_t, wait))
        return -EINVAL;
    if (!ops->topic_publish || !ops->topic_partitions || !ops->member_register ||
        !ops->member_unregister || !ops->member_list || !ops->claim || !ops->release ||
        !ops->owner || !ops->commit || !ops->fetch || !ops->changes)
        return -EINVAL;
    klog_registry_t *r = klog__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    size_t n = ops->size < sizeof r->ops ? ops->size : sizeof r->ops;
    memcpy(&r->ops, ops, n);
    r->ops.size = sizeof r->ops;
    *out = r;
    return 0;
}

const klog_registry_ops_t *klog_registry_ops(const klog_registry_t *r)
{
    return r ? &r->ops : NULL;
}

void klog_registry_free(klog_registry_t *r)
{
    if (!r)
        return;
    if (r->ops.destroy)
        r->ops.destroy(r->ops.ctx);
    free(r);
}

int klog__group_name_valid(const char *s)
{
    return s && klog_topic_name_valid(s);
}

int klog__topics_split(const char *topics, int (*fn)(void *arg, const char *t, size_t len),
                       void *arg)
{
    int n = 0;
    const char *p = topics ? topics : "";
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len > 0) {
            int rc = fn(arg, p, len);
            if (rc)
                return rc;
            n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return n;
}

int klog__parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return -EINVAL;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (len == 1)
            return -EINVAL;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_C(9223372036854775807) - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}
