/*
 * zk_session.h — one ZooKeeper session (zk_session.c) and the node
 * primitives over it, for the ZooKeeper registry (registry_zk.c). Only
 * built with KLOG_HAVE_ZOOKEEPER. Results: 0 or a negative code unless
 * stated.
 */
#ifndef KLOG_ZK_SESSION_H
#define KLOG_ZK_SESSION_H

#include <stddef.h>
#include <stdint.h>

#ifndef THREADED
#define THREADED 1 /* the multi-threaded client: synchronous calls */
#endif
#include <zookeeper/zookeeper.h>

#include "platform/platform.h"

typedef struct klog__zks klog__zks_t;

/* Connect to "host:port[,host:port...][/chroot]" (the chroot is created if
 * absent), waiting up to the session timeout (0: 6000 ms). */
KLOG__HIDDEN int klog__zks_new(const char *hosts_chroot, int session_timeout_ms,
                               klog__zks_t **out);
/* Close the session (its ephemeral nodes go at once) and free it. */
KLOG__HIDDEN void klog__zks_free(klog__zks_t *s);

/* Bracket every use of the handle: acquire replaces an expired session
 * first (KLOG_ETIMEDOUT when it cannot reconnect; nothing to release). */
KLOG__HIDDEN int klog__zks_acquire(klog__zks_t *s);
KLOG__HIDDEN void klog__zks_release(klog__zks_t *s);
/* The handle, between acquire and release. */
KLOG__HIDDEN zhandle_t *klog__zks_zh(klog__zks_t *s);
/* The watcher to pass with s as its context for every watch. */
KLOG__HIDDEN void klog__zks_watcher(zhandle_t *zh, int type, int state, const char *path,
                                    void *ctx);

/* chroot + fmt formatted with a, b, c (malloc'd; NULL without memory). */
KLOG__HIDDEN char *klog__zks_path(klog__zks_t *s, const char *fmt, const char *a, const char *b,
                                  const char *c);
/* ZooKeeper result code -> libklog code. */
KLOG__HIDDEN int klog__zerr(int zrc);
/* Create every missing persistent node on the way to (and including) path. */
KLOG__HIDDEN int klog__zks_make_path(klog__zks_t *s, const char *path);
/* Create a node, making its parents when missing. Returns the ZooKeeper code. */
KLOG__HIDDEN int klog__zks_create_node(klog__zks_t *s, const char *path, const char *data,
                                       int mode);
/* Set a persistent node's data, creating it when absent. */
KLOG__HIDDEN int klog__zks_put_persistent(klog__zks_t *s, const char *path, const char *data);
/* A node's decimal data; watch_it arms a data watch (or an exists watch
 * while it is missing). KLOG_ENOTFOUND, KLOG_ECORRUPT. */
KLOG__HIDDEN int klog__zks_get_i64(klog__zks_t *s, const char *path, int watch_it, int64_t *out);

/* Ephemeral nodes this session created, and for which member. */
KLOG__HIDDEN int klog__zks_held_add(klog__zks_t *s, const char *path, const char *member);
/* Forget a held path; 1 if it was held by member (any member when NULL). */
KLOG__HIDDEN int klog__zks_held_take(klog__zks_t *s, const char *path, const char *member);
/* 1 if path is held (its member copied to member_out when given), else 0. */
KLOG__HIDDEN int klog__zks_held_by(klog__zks_t *s, const char *path, char *member_out,
                                   size_t cap);

/* Change detection: is the group's ids watch armed; mark it armed; the
 * session-wide change counter; wait until it differs from seen (timeout
 * -1: forever, 0: no wait). wait returns 1 changed, 0 not. */
KLOG__HIDDEN int klog__zks_armed(klog__zks_t *s, const char *group);
KLOG__HIDDEN void klog__zks_arm(klog__zks_t *s, const char *group);
KLOG__HIDDEN uint64_t klog__zks_counter(klog__zks_t *s);
KLOG__HIDDEN int klog__zks_wait(klog__zks_t *s, uint64_t seen, int timeout_ms);

#endif
