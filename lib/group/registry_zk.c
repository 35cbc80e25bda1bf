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
 * /brokers/topics and a data watch on each topic node. Any watch event
 * bumps one session-wide counter and disarms everything, so the next changes() re-arms with a fresh read;
 * a change between the event and the re-arm is covered because the
 * member's rebalance reads the registry after re-arming. Waiters sleep on a
 * condition variable the watcher signals.
 *
 * Session expiry: the next operation replaces the handle by a new session
 * (bounded wait for the connection), forgets what the old one held and
 * bumps the counter; the member then finds itself missing and registers
 * again. The client library's own log goes to a callback that drops it:
 * the library never writes to stderr.
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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef THREADED
#define THREADED 1 /* the multi-threaded client: synchronous calls */
#endif
#include <zookeeper/zookeeper.h>

typedef struct zheld {
    struct zheld *next;
    char *path;
    char *member;
} zheld_t;

typedef struct zsess {
    char *hosts;  /* without the chroot */
    char *chroot; /* "" or "/a/b" */
    int timeout_ms;

    pthread_rwlock_t hl; /* read: operations; write: replacing zh */
    zhandle_t *zh;

    pthread_mutex_t mu; /* the fields below */
    pthread_cond_t cv;
    int state;          /* last session state seen */
    uint64_t counter;
    char **armed;       /* groups whose ids watch is armed */
    size_t narmed;
    zheld_t *held;
} zsess_t;

static void zlog_drop(const char *msg)
{
    (void)msg;
}

static int zerr(int zrc)
{
    switch (zrc) {
    case ZOK:
        return 0;
    case ZNONODE:
        return KLOG_ENOTFOUND;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
        return KLOG_ETIMEDOUT;
    case ZNOAUTH:
        return -EACCES;
    case ZBADARGUMENTS:
        return -EINVAL;
    default:
        return -EIO;
    }
}

static void disarm_locked(zsess_t *s)
{
    for (size_t i = 0; i < s->narmed; i++)
        free(s->armed[i]);
    s->narmed = 0;
}

/* Watcher for everything: session events update the state; node events
 * bump the counter. Runs on the client library's thread. */
static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    zsess_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (type == ZOO_SESSION_EVENT) {
        s->state = state;
        if (state == ZOO_EXPIRED_SESSION_STATE) {
            disarm_locked(s);
            s->counter++;
        }
    } else {
        disarm_locked(s);
        s->counter++;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void deadline_in(struct timespec *dl, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, dl);
    dl->tv_sec += ms / 1000;
    dl->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}

/* Connect (s->hl held for writing or not yet shared). */
static int connect_locked(zsess_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->state = 0;
    pthread_mutex_unlock(&s->mu);
    zhandle_t *zh = zookeeper_init2(s->hosts, watcher, s->timeout_ms, NULL, s, 0, zlog_drop);
    if (!zh)
        return errno ? -errno : -EIO;
    struct timespec dl;
    deadline_in(&dl, s->timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (s->state != ZOO_CONNECTED_STATE && rc == 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            rc = KLOG_ETIMEDOUT;
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        zookeeper_close(zh);
        return rc;
    }
    s->zh = zh;
    return 0;
}

/* Take the handle for an operation, replacing an expired session first. */
static int zh_acquire(zsess_t *s)
{
    pthread_rwlock_rdlock(&s->hl);
    pthread_mutex_lock(&s->mu);
    int expired = s->state == ZOO_EXPIRED_SESSION_STATE;
    pthread_mutex_unlock(&s->mu);
    if (!expired)
        return 0;
    pthread_rwlock_unlock(&s->hl);
    pthread_rwlock_wrlock(&s->hl);
    pthread_mutex_lock(&s->mu);
    expired = s->state == ZOO_EXPIRED_SESSION_STATE;
    pthread_mutex_unlock(&s->mu);
    int rc = 0;
    if (expired) {
        zookeeper_close(s->zh);
        s->zh = NULL;
        pthread_mutex_lock(&s->mu);
        while (s->held) {
            zheld_t *h = s->held;
            s->held = h->next;
            free(h->path);
            free(h->member);
            free(h);
        }
        s->counter++;
        pthread_mutex_unlock(&s->mu);
        rc = connect_locked(s);
    }
    pthread_rwlock_unlock(&s->hl);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->hl);
    return s->zh ? 0 : KLOG_ETIMEDOUT;
}

static void zh_release(zsess_t *s)
{
    pthread_rwlock_unlock(&s->hl);
}

/* Create every missing persistent node on the way to (and including) path. */
static int make_path(zsess_t *s, const char *path)
{
    char *p = klog__strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == 0) {
            char save = *c;
            *c = 0;
            int z = zoo_create(s->zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
            *c = save;
            if (z != ZOK && z != ZNODEEXISTS) {
                rc = zerr(z);
                break;
            }
            if (save == 0)
                break;
        }
    }
    free(p);
    return rc;
}

static int make_parent(zsess_t *s, const char *path)
{
    char *p = klog__strdup(path);
    if (!p)
        return -ENOMEM;
    char *slash = strrchr(p, '/');
    int rc = 0;
    if (slash && slash != p) {
        *slash = 0;
        rc = make_path(s, p);
    }
    free(p);
    return rc;
}

/* Create a node, making its parents when missing. Returns the ZooKeeper code. */
static int create_node(zsess_t *s, const char *path, const char *data, int mode)
{
    int len = (int)strlen(data);
    int z = zoo_create(s->zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, mode, NULL, 0);
    if (z == ZNONODE) {
        int rc = make_parent(s, path);
        if (rc)
            return ZSYSTEMERROR;
        z = zoo_create(s->zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, mode, NULL, 0);
    }
    return z;
}

/* Set a persistent node's data, creating it when absent. */
static int put_persistent(zsess_t *s, const char *path, const char *data)
{
    for (int tries = 0; tries < 3; tries++) {
        int z = zoo_set(s->zh, path, data, (int)strlen(data), -1);
        if (z == ZOK)
            return 0;
        if (z != ZNONODE)
            return zerr(z);
        z = create_node(s, path, data, ZOO_PERSISTENT);
        if (z == ZOK)
            return 0;
        if (z != ZNODEEXISTS)
            return zerr(z);
    }
    return -EIO;
}

static int get_i64(zsess_t *s, const char *path, int watch_it, int64_t *out)
{
    char buf[32];
    int len = (int)sizeof buf - 1;
    struct Stat st;
    int z = watch_it ? zoo_wget(s->zh, path, watcher, s, buf, &len, &st)
                     : zoo_get(s->zh, path, 0, buf, &len, &st);
    if (z == ZNONODE && watch_it)
        zoo_wexists(s->zh, path, watcher, s, &st); /* hear of its creation */
    if (z != ZOK)
        return zerr(z);
    if (len < 0)
        return KLOG_ECORRUPT;
    return klog__parse_i64(buf, (size_t)len, out) ? KLOG_ECORRUPT : 0;
}

static char *zpath(zsess_t *s, const char *fmt, const char *a, const char *b, const char *c)
{
    char *rel = klog__asprintf(fmt, a, b, c);
    if (!rel)
        return NULL;
    char *full = klog__asprintf("%s%s", s->chroot, rel);
    free(rel);
    return full;
}

/* ------------------------------------------------------------ operations */

static int z_topic_publish(void *ctx, const char *topic, int32_t partitions)
{
    zsess_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partitions < 0)
        return -EINVAL;
    char *path = zpath(s, "/brokers/topics/%s", topic, "", "");
    if (!path)
        return -ENOMEM;
    char v[16];
    snprintf(v, sizeof v, "%d", (int)partitions);
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = put_persistent(s, path, v);
        zh_release(s);
    }
    free(path);
    return rc;
}

static int z_topic_partitions(void *ctx, const char *topic, int32_t *partitions)
{
    zsess_t *s = ctx;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char *path = zpath(s, "/brokers/topics/%s", topic, "", "");
    if (!path)
        return -ENOMEM;
    int64_t v = 0;
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = get_i64(s, path, 1, &v);
        zh_release(s);
    }
    free(path);
    if (rc == 0 && (v < 0 || v > INT32_MAX))
        rc = KLOG_ECORRUPT;
    if (rc == 0)
        *partitions = (int32_t)v;
    return rc;
}

static zheld_t *held_find(zsess_t *s, const char *path)
{
    for (zheld_t *h = s->held; h; h = h->next)
        if (strcmp(h->path, path) == 0)
            return h;
    return NULL;
}

static int held_add(zsess_t *s, const char *path, const char *member)
{
    zheld_t *h = klog__calloc(1, sizeof *h);
    if (!h || !(h->path = klog__strdup(path)) || !(h->member = klog__strdup(member))) {
        if (h)
            free(h->path);
        free(h);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    h->next = s->held;
    s->held = h;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Forget a held path; returns 1 if it was held by `member`. */
static int held_take(zsess_t *s, const char *path, const char *member)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (zheld_t **pp = &s->held; *pp; pp = &(*pp)->next) {
        zheld_t *h = *pp;
        if (strcmp(h->path, path) == 0 && (!member || strcmp(h->member, member) == 0)) {
            *pp = h->next;
            free(h->path);
            free(h->member);
            free(h);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int held_by(zsess_t *s, const char *path, char *member_out, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    zheld_t *h = held_find(s, path);
    int r = h != NULL;
    if (h && member_out)
        snprintf(member_out, cap, "%s", h->member);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Create an ephemeral node for `member` at path with data; 0, or
 * KLOG_ECLAIMED when another session (or member) holds it. */
static int ephemeral(zsess_t *s, const char *path, const char *data, const char *member)
{
    int z = create_node(s, path, data, ZOO_EPHEMERAL);
    if (z == ZOK)
        return held_add(s, path, member);
    if (z != ZNODEEXISTS)
        return zerr(z);
    /* Ours already (an idempotent claim, or a check after reconnecting)? */
    char buf[512];
    int len = (int)sizeof buf - 1;
    struct Stat st;
    z = zoo_get(s->zh, path, 0, buf, &len, &st);
    if (z == ZNONODE)
        return KLOG_ECLAIMED; /* just went away: the caller retries later */
    if (z != ZOK)
        return zerr(z);
    const clientid_t *me = zoo_client_id(s->zh);
    char who[256];
    if (me && st.ephemeralOwner == me->client_id && held_by(s, path, who, sizeof who) &&
        strcmp(who, member) == 0)
        return 0;
    return KLOG_ECLAIMED;
}

static int z_member_register(void *ctx, const char *group, const char *member, const char *topics)
{
    zsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    char *path = zpath(s, "/consumers/%s/ids/%s", group, member, "");
    if (!path)
        return -ENOMEM;
    int rc = zh_acquire(s);
    if (rc == 0) {
        if (held_by(s, path, NULL, 0)) {
            const char *t = topics ? topics : "";
            rc = zerr(zoo_set(s->zh, path, t, (int)strlen(t), -1));
        } else {
            rc = ephemeral(s, path, topics ? topics : "", member);
        }
        zh_release(s);
    }
    free(path);
    return rc;
}

static int delete_held(zsess_t *s, const char *path, const char *member)
{
    if (!held_take(s, path, member))
        return KLOG_ENOTFOUND;
    int rc = zh_acquire(s);
    if (rc)
        return rc;
    int z = zoo_delete(s->zh, path, -1);
    zh_release(s);
    return z == ZOK || z == ZNONODE ? 0 : zerr(z);
}

static int z_member_unregister(void *ctx, const char *group, const char *member)
{
    zsess_t *s = ctx;
    char *path = zpath(s, "/consumers/%s/ids/%s", group, member, "");
    if (!path)
        return -ENOMEM;
    int rc = delete_held(s, path, member);
    free(path);
    return rc;
}

/* Watch the topic registry (the paper's broker registry): its children
 * (topics created) and each topic's data (partition counts). */
static int arm_topics(zsess_t *s)
{
    char *dir = zpath(s, "/brokers/topics", "", "", "");
    if (!dir)
        return -ENOMEM;
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int z = zoo_wget_children(s->zh, dir, watcher, s, &kids);
    if (z == ZNONODE)
        z = zoo_wexists(s->zh, dir, watcher, s, &st);
    int rc = z == ZNONODE ? 0 : zerr(z);
    for (int i = 0; rc == 0 && i < kids.count; i++) {
        char *p = klog__asprintf("%s/%s", dir, kids.data[i]);
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        z = zoo_wexists(s->zh, p, watcher, s, &st);
        free(p);
        if (z != ZOK && z != ZNONODE)
            rc = zerr(z);
    }
    if (kids.data)
        deallocate_String_vector(&kids);
    free(dir);
    return rc;
}

/* Arm the group's watches (members and topics); with fn, visit members. */
static int read_members(zsess_t *s, const char *group, klog_registry_visit_fn fn, void *arg)
{
    char *dir = zpath(s, "/consumers/%s/ids", group, "", "");
    if (!dir)
        return -ENOMEM;
    struct String_vector kids = {0, NULL};
    struct Stat st;
    int rc = zh_acquire(s);
    if (rc) {
        free(dir);
        return rc;
    }
    int z = zoo_wget_children(s->zh, dir, watcher, s, &kids);
    if (z == ZNONODE) {
        z = zoo_wexists(s->zh, dir, watcher, s, &st);
        if (z == ZNONODE || z == ZOK) /* created meanwhile: the watch fires */
            z = ZOK;
    }
    rc = zerr(z);
    if (rc == 0)
        rc = arm_topics(s);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        char **n = klog__realloc(s->armed, (s->narmed + 1) * sizeof *n);
        if (n) {
            s->armed = n;
            if ((n[s->narmed] = klog__strdup(group)) != NULL)
                s->narmed++;
        }
        pthread_mutex_unlock(&s->mu);
    }
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
        z = zoo_get(s->zh, p, 0, buf, &len, &st);
        free(p);
        if (z == ZNONODE)
            continue; /* left meanwhile */
        if (z != ZOK) {
            rc = zerr(z);
            break;
        }
        buf[len > 0 ? len : 0] = 0;
        if (!klog__group_name_valid(kids.data[i]))
            continue;
        zh_release(s);
        rc = fn(arg, kids.data[i], buf);
        int arc = zh_acquire(s);
        if (arc) {
            free(buf);
            deallocate_String_vector(&kids);
            free(dir);
            return rc ? rc : arc;
        }
    }
    zh_release(s);
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

static char *owner_path(zsess_t *s, const char *group, const char *topic, int32_t partition)
{
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    return zpath(s, "/consumers/%s/owners/%s/%s", group, topic, p);
}

static int z_claim(void *ctx, const char *group, const char *topic, int32_t partition,
                   const char *member)
{
    zsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic) ||
        !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char *path = owner_path(s, group, topic, partition);
    if (!path)
        return -ENOMEM;
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = ephemeral(s, path, member, member);
        zh_release(s);
    }
    free(path);
    return rc;
}

static int z_release(void *ctx, const char *group, const char *topic, int32_t partition,
                     const char *member)
{
    zsess_t *s = ctx;
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
    zsess_t *s = ctx;
    char *path = owner_path(s, group, topic, partition);
    if (!path)
        return -ENOMEM;
    char tmp[512];
    int len = (int)sizeof tmp - 1;
    struct Stat st;
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = zerr(zoo_get(s->zh, path, 0, tmp, &len, &st));
        zh_release(s);
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
    zsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    char p[16], v[24];
    snprintf(p, sizeof p, "%d", (int)partition);
    snprintf(v, sizeof v, "%lld", (long long)offset);
    char *path = zpath(s, "/consumers/%s/offsets/%s/%s", group, topic, p);
    if (!path)
        return -ENOMEM;
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = put_persistent(s, path, v);
        zh_release(s);
    }
    free(path);
    return rc;
}

static int z_fetch(void *ctx, const char *group, const char *topic, int32_t partition,
                   int64_t *offset)
{
    zsess_t *s = ctx;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    char p[16];
    snprintf(p, sizeof p, "%d", (int)partition);
    char *path = zpath(s, "/consumers/%s/offsets/%s/%s", group, topic, p);
    if (!path)
        return -ENOMEM;
    int rc = zh_acquire(s);
    if (rc == 0) {
        rc = get_i64(s, path, 0, offset);
        zh_release(s);
    }
    free(path);
    return rc;
}

static int armed_for(zsess_t *s, const char *group)
{
    for (size_t i = 0; i < s->narmed; i++)
        if (strcmp(s->armed[i], group) == 0)
            return 1;
    return 0;
}

static int z_changes(void *ctx, const char *group, uint64_t *counter)
{
    zsess_t *s = ctx;
    pthread_mutex_lock(&s->mu);
    int armed = armed_for(s, group);
    pthread_mutex_unlock(&s->mu);
    if (!armed) {
        int rc = read_members(s, group, NULL, NULL);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&s->mu);
    *counter = s->counter;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int z_wait(void *ctx, const char *group, uint64_t seen, int timeout_ms)
{
    zsess_t *s = ctx;
    uint64_t c;
    int rc = z_changes(s, group, &c);
    if (rc)
        return rc;
    struct timespec dl;
    if (timeout_ms >= 0)
        deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    int changed = s->counter != seen;
    while (!changed && timeout_ms != 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cv, &s->mu);
        else if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) {
            changed = s->counter != seen;
            break;
        }
        changed = s->counter != seen;
    }
    pthread_mutex_unlock(&s->mu);
    return changed;
}

static void z_destroy(void *ctx)
{
    zsess_t *s = ctx;
    if (s->zh)
        zookeeper_close(s->zh); /* ends the session: ephemerals go at once */
    while (s->held) {
        zheld_t *h = s->held;
        s->held = h->next;
        free(h->path);
        free(h->member);
        free(h);
    }
    disarm_locked(s);
    free(s->armed);
    pthread_rwlock_destroy(&s->hl);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->hosts);
    free(s->chroot);
    free(s);
}

int klog_registry_zk_new(const char *hosts_chroot, int session_timeout_ms, klog_registry_t **out)
{
    if (!hosts_chroot || !*hosts_chroot || !out || session_timeout_ms < 0)
        return -EINVAL;
    zsess_t *s = klog__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    const char *slash = strchr(hosts_chroot, '/');
    s->hosts = slash ? strndup(hosts_chroot, (size_t)(slash - hosts_chroot))
                     : klog__strdup(hosts_chroot);
    s->chroot = klog__strdup(slash ? slash : "");
    s->timeout_ms = session_timeout_ms ? session_timeout_ms : 6000;
    if (!s->hosts || !s->chroot) {
        free(s->hosts);
        free(s->chroot);
        free(s);
        return -ENOMEM;
    }
    size_t cl = strlen(s->chroot);
    while (cl > 0 && s->chroot[cl - 1] == '/')
        s->chroot[--cl] = 0;
    pthread_rwlock_init(&s->hl, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = connect_locked(s);
    if (rc == 0 && cl > 0)
        rc = make_path(s, s->chroot);
    if (rc) {
        z_destroy(s);
        return rc;
    }
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
