/*
 * registry_zk.c — the ZooKeeper registry (placeholder while the backend
 * is written).
 */
#include "group/group.h"

int klog_registry_zk_new(const char *hosts_chroot, int session_timeout_ms, klog_registry_t **out)
{
    (void)hosts_chroot;
    (void)session_timeout_ms;
    (void)out;
    return KLOG_ENOTSUP;
}
