/*
 * registry_zk.c — the ZooKeeper registry: the paper's own coordination
 * service and its layout, under a chroot taken from the connection string
 * ("host:port[,host:port...][/chroot]"; the chroot is created if absent):
 *   /brokers/topics/<topic>                         partition count, decimal
 *   /consumers/<group>/ids/<member>                 ephemeral; its topics
 *   /consumers/<group>/owners/<topic>/<partition>   ephemeral; owner's id
 *   /consumers/<group>/offsets/<topic>/<partition>  persistent; decimal
 * Persistent parents are created on demand. Each klog_registry_t is one
 * ZooKeeper session: its ephemeral nodes vanish when it closes or when the
 * server expires it (its process died and session_timeout_ms passed).
 *
 * Ownership: a claim creates the owner node; ZNODEEXISTS means someone
 * holds it — unless the node's ephemeralOwner is this session and its data
 * this member, which makes the claim idempotent (and lets a member check
 * after a reconnect that what it believes it owns is still its own).
 *
 * Changes: watches. changes() arms a child watch on the group's ids node
 * (or an exists watch while it does not exist), a child watch on
 * /brokers/topics and a data watch on each topic node; the session
 * (zk_session.c) bumps its counter on any event and disarms everything,
 * so the next changes() re-arms with a fresh read; a change between the
 * event and the re-arm is covered because the member's rebalance reads the
 * registry after re-arming. Session expiry and reconnection are the
 * session's too.
 *
 * Without the client library (KLOG_HAVE_ZOOKEEPER unset) the constructor
 * returns KLOG_ENOTSUP.
 */
#include <errno.h>

#include "klog_zookeeper.h" /* generated: KLOG_HAVE_ZOOKEEPER */
#include "group/group.h"

#if !KLOG_HAVE_ZOOKEEPER

int klog_registry_zk_new(const char *hosts_chroot, int session_timeout_ms, klog_registry_t **out)
{
    (void)hosts_chroot;
    (void)session_timeout_ms;
    (void)out;
    return KLOG_ENOTSUP;
}

#else

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/zk_session.h"

/* ------------------------------------------------------------ operations */

static int z_topic_publish(void *ctx, const char *topic, int32_t partitions)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partitions < 0)
        return -EINVAL;
    char *path = klog__zks_path(s, "/brokers/topics/%s", topic, "", "");
    if (!path)
        return -ENOMEM;
    char v[16];
    snprintf(v, sizeof v, "%d", (int)partitions);
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = klog__zks_put_persistent(s, path, v);
        klog__zks_release(s);
    }
    free(path);
    return rc;
}

static int z_topic_partitions(void *ctx, const char *topic, int32_t *partitions)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char *path = klog__zks_path(s, "/brokers/topics/%s", topic, "", "");
    if (!path)
        return -ENOMEM;
    int64_t v = 0;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = klog__zks_get_i64(s, path, 1, &v);
        klog__zks_release(s);
    }
    free(path);
    if (rc == 0 && (v < 0 || v > INT32_MAX))
        rc = KLOG_ECORRUPT;
    if (rc == 0)
        *partitions = (int32_t)v;
    return rc;
}

/* Create an ephemeral node for `member` at path with data; 0, or
 * KLOG_ECLAIMED when another session (or member) holds it. */
static int ephemeral(klog__zks_t *s, const char *path, const char *data, const char *member)
{
    int z = klog__zks_create_node(s, path, data, ZOO_EPHEMERAL);
    if (z == ZOK)
        return klog__zks_held_add(s, path, member);
    if (z != ZNODEEXISTS)
        return klog__zerr(z);
    /* Ours already (an idempotent claim, or a check after reconnecting)? */
    char buf[512];
    int len = (int)sizeof buf - 1;
    struct Stat st;
    z = zoo_get(klog__zks_zh(s), path, 0, buf, &len, &st);
    if (z == ZNONODE)
        return KLOG_ECLAIMED; /* just went away: the caller retries later */
    if (z != ZOK)
        return klog__zerr(z);
    const clientid_t *me = zoo_client_id(klog__zks_zh(s));
    char who[256];
    if (me && st.ephemeralOwner == me->client_id && klog__zks_held_by(s, path, who, sizeof who) &&
        strcmp(who, member) == 0)
        return 0;
    return KLOG_ECLAIMED;
}

static int z_member_register(void *ctx, const char *group, const char *member, const char *topics)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    char *path = klog__zks_path(s, "/consumers/%s/ids/%s", group, member, "");
    if (!path)
        return -ENOMEM;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        if (klog__zks_held_by(s, path, NULL, 0)) {
            const char *t = topics ? topics : "";
            rc = klog__zerr(zoo_set(klog__zks_zh(s), path, t, (int)strlen(t), -1));
        } else {
            rc = ephemeral(s, path, topics ? topics : "", member);
        }
        klog__zks_release(s);
    }
    free(path);
    return rc;
}

static int delete_held(klog__zks_t *s, const char *path, const char *member)
{
    if (!klog__zks_held_take(s, path, member))
        return KLOG_ENOTFOUND;
    int rc = klog__zks_acquire(s);
    if (rc)
        return rc;
    int z = zoo_delete(klog__zks_zh(s), path, -1);
    klog__zks_release(s);
    return z == ZOK || z == ZNONODE ? 0 : klog__zerr(z);
}

static int z_member_unregister(void *ctx, const char *group, const char *member)
{
    klog__zks_t *s = ctx;
    char *path = klog__zks_path(s, "/consumers/%s/ids/%s", group, member, "");
    if (!path)
        return -ENOMEM;
    int rc = delete_held(s, path, member);
    free(path);
    return rc;
}

/* Watch the topic registry (the paper's broker registry): its children
 * (topics created) and each topic's data (partition counts). */
static int arm_topics(klog__zks_t *s)
{
    char *dir = klog__zks_path(s, "/brokers/topics", "", "", "");
    if (!dir)
        return -ENOMEM;
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int z = zoo_wget_children(klog__zks_zh(s), dir, klog__zks_watcher, s, &kids);
    if (z == ZNONODE)
        z = zoo_wexists(klog__zks_zh(s), dir, klog__zks_watcher, s, &st);
    int rc = z == ZNONODE ? 0 : klog__zerr(z);
    for (int i = 0; rc == 0 && i < kids.count; i++) {
        char *p = klog__asprintf("%s/%s", dir, kids.data[i]);
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        z = zoo_wexists(klog__zks_zh(s), p, klog__zks_watcher, s, &st);
        free(p);
        if (z != ZOK && z != ZNONODE)
            rc = klog__zerr(z);
    }
    if (kids.data)
        deallocate_String_vector(&kids);
    free(dir);
    return rc;
}

/* Arm the group's watches (members and topics); with fn, visit members. */
static int read_members(klog__zks_t *s, const char *group, klog_registry_visit_fn fn, void *arg)
{
    char *dir = klog__zks_path(s, "/consumers/%s/ids", group, "", "");
    if (!dir)
        return -ENOMEM;
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int rc = klog__zks_acquire(s);
    if (rc) {
        free(dir);
        return rc;
    }
    int z = zoo_wget_children(klog__zks_zh(s), dir, klog__zks_watcher, s, &kids);
    if (z == ZNONODE) {
        z = zoo_wexists(klog__zks_zh(s), dir, klog__zks_watcher, s, &st);
        if (z == ZNONODE || z == ZOK) /* created meanwhile: the watch fires */
            z = ZOK;
    }
    rc = klog__zerr(z);
    if (rc == 0)
        rc = arm_topics(s);
    if (rc == 0)
        klog__zks_arm(s, group);
    char *buf = fn ? klog__malloc(65536) : NULL;
    if (fn && !buf)
        rc = -ENOMEM;
    for (int i = 0; rc == 0 && fn && i < kids.count; i++) {
        char *p = klog__asprintf("%s/%s", dir, kids.data[i]);
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        int len = 65535;
        z = zoo_get(klog__zks_zh(s), p, 0, buf, &len, &st);
        free(p);
        if (z == ZNONODE)
            continue; /* left meanwhile */
        if (z != ZOK) {
            rc = klog__zerr(z);
            break;
        }
        buf[len > 0 ? len : 0] = 0;
        if (!klog__group_name_valid(kids.data[i]))
            continue;
        klog__zks_release(s);
        rc = fn(arg, kids.data[i], buf);
        int arc = klog__zks_acquire(s);
        if (arc) {
            free(buf);
            deallocate_String_vector(&kids);
            free(dir);
            return rc ? rc : arc;
        }
    }
    klog__zks_release(s);
    free(buf);
    if (kids.data)
        deallocate_String_vector(&kids);
    free(dir);
    return rc;
}

static int z_member_list(void *ctx, const char *group, klog_registry_visit_fn fn, void *arg)
{
    if (!klog__group_name_valid(group))
        return KLOG_EBADNAME;
    return read_members(ctx, group, fn, arg);
}

static char *owner_path(klog__zks_t *s, const char *group, const char *topic, int32_t partition)
{
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    return klog__zks_path(s, "/consumers/%s/owners/%s/%s", group, topic, p);
}

static int z_claim(void *ctx, const char *group, const char *topic, int32_t partition,
                   const char *member)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic) ||
        !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char *path = owner_path(s, group, topic, partition);
    if (!path)
        return -ENOMEM;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = ephemeral(s, path, member, member);
        klog__zks_release(s);
    }
    free(path);
    return rc;
}

static int z_release(void *ctx, const char *group, const char *topic, int32_t partition,
                     const char *member)
{
    klog__zks_t *s = ctx;
    char *path = owner_path(s, group, topic, partition);
    if (!path)
        return -ENOMEM;
    int rc = delete_held(s, path, member);
    free(path);
    return rc;
}

static int z_owner(void *ctx, const char *group, const char *topic, int32_t partition, char *buf,
                   size_t cap)
{
    klog__zks_t *s = ctx;
    char *path = owner_path(s, group, topic, partition);
    if (!path)
        return -ENOMEM;
    char tmp[512];
    int len = (int)sizeof tmp - 1;
    struct Stat st;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = klog__zerr(zoo_get(klog__zks_zh(s), path, 0, tmp, &len, &st));
        klog__zks_release(s);
    }
    free(path);
    if (rc)
        return rc;
    tmp[len > 0 ? len : 0] = 0;
    size_t n = strlen(tmp);
    if (n >= cap)
        return -ENAMETOOLONG;
    memcpy(buf, tmp, n + 1);
    return 0;
}

static int z_commit(void *ctx, const char *group, const char *topic, int32_t partition,
                    int64_t offset)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char p[16], v[24];
    snprintf(p, sizeof p, "%d", (int)partition);
    snprintf(v, sizeof v, "%lld", (long long)offset);
    char *path = klog__zks_path(s, "/consumers/%s/offsets/%s/%s", group, topic, p);
    if (!path)
        return -ENOMEM;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = klog__zks_put_persistent(s, path, v);
        klog__zks_release(s);
    }
    free(path);
    return rc;
}

static int z_fetch(void *ctx, const char *group, const char *topic, int32_t partition,
                   int64_t *offset)
{
    klog__zks_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    char *path = klog__zks_path(s, "/consumers/%s/offsets/%s/%s", group, topic, p);
    if (!path)
        return -ENOMEM;
    int rc = klog__zks_acquire(s);
    if (rc == 0) {
        rc = klog__zks_get_i64(s, path, 0, offset);
        klog__zks_release(s);
    }
    free(path);
    return rc;
}

static int z_changes(void *ctx, const char *group, uint64_t *counter)
{
    klog__zks_t *s = ctx;
    if (!klog__zks_armed(s, group)) {
        int rc = read_members(s, group, NULL, NULL);
        if (rc)
            return rc;
    }
    *counter = klog__zks_counter(s);
    return 0;
}

static int z_wait(void *ctx, const char *group, uint64_t seen, int timeout_ms)
{
    klog__zks_t *s = ctx;
    uint64_t c;
    int rc = z_changes(s, group, &c);
    if (rc)
        return rc;
    return klog__zks_wait(s, seen, timeout_ms);
}

static void z_destroy(void *ctx) { klog__zks_free(ctx); }

int klog_registry_zk_new(const char *hosts_chroot, int session_timeout_ms, klog_registry_t **out)
{
    if (!hosts_chroot || !*hosts_chroot || !out || session_timeout_ms < 0)
        return -EINVAL;
    klog__zks_t *s;
    int rc = klog__zks_new(hosts_chroot, session_timeout_ms, &s);
    if (rc)
        return rc;
    klog_registry_ops_t ops = {
        .size = sizeof ops,
        .ctx = s,
        .topic_publish = z_topic_publish,
        .topic_partitions = z_topic_partitions,
        .member_register = z_member_register,
        .member_unregister = z_member_unregister,
        .member_list = z_member_list,
        .claim = z_claim,
        .release = z_release,
        .owner = z_owner,
        .commit = z_commit,
        .fetch = z_fetch,
        .changes = z_changes,
        .wait = z_wait,
        .destroy = z_destroy,
    };
    return klog__registry_wrap(&ops, out);
}

#endif /* KLOG_HAVE_ZOOKEEPER */
