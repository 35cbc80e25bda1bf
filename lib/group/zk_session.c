/*
 * zk_session.c — one ZooKeeper session of the ZooKeeper registry
 * (registry_zk.c): the handle, its watcher, and what the session holds.
 *
 * The handle is shared by operations (read lock on hl) and replaced, under
 * the write lock, when the server expired the session: the next
 * operation reconnects (bounded wait), forgets the ephemeral nodes the old
 * session held and bumps the change counter, so the member finds itself
 * missing and registers again.
 *
 * One watcher serves every watch: session events record the state; any
 * node event bumps the session-wide change counter and disarms the
 * groups' watches, so the next changes() re-arms them with a fresh read.
 * Waiters sleep on a condition variable the watcher signals. The client
 * library's own log goes to a callback that drops it: the library never
 * writes to stderr.
 *
 * Also here: the node primitives every operation uses (error mapping,
 * persistent paths made on demand, decimal node data).
 */
#include "klog_zookeeper.h" /* generated: KLOG_HAVE_ZOOKEEPER */

#if KLOG_HAVE_ZOOKEEPER

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group/group.h"
#include "group/zk_session.h"

typedef struct zheld {
    struct zheld *next;
    char *path;
    char *member;
} zheld_t;

struct klog__zks {
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
};

static void zlog_drop(const char *msg)
{
    (void)msg;
}

int klog__zerr(int zrc)
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

static void disarm_locked(klog__zks_t *s)
{
    for (size_t i = 0; i < s->narmed; i++)
        free(s->armed[i]);
    s->narmed = 0;
}

/* Watcher for everything: session events update the state; node events
 * bump the counter. Runs on the client library's thread. */
void klog__zks_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    klog__zks_t *s = ctx;
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
static int connect_locked(klog__zks_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->state = 0;
    pthread_mutex_unlock(&s->mu);
    zhandle_t *zh = zookeeper_init2(s->hosts, klog__zks_watcher, s->timeout_ms, NULL, s, 0, zlog_drop);
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
int klog__zks_acquire(klog__zks_t *s)
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

void klog__zks_release(klog__zks_t *s)
{
    pthread_rwlock_unlock(&s->hl);
}

/* Create every missing persistent node on the way to (and including) path. */
int klog__zks_make_path(klog__zks_t *s, const char *path)
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
                rc = klog__zerr(z);
                break;
            }
            if (save == 0)
                break;
        }
    }
    free(p);
    return rc;
}

static int make_parent(klog__zks_t *s, const char *path)
{
    char *p = klog__strdup(path);
    if (!p)
        return -ENOMEM;
    char *slash = strrchr(p, '/');
    int rc = 0;
    if (slash && slash != p) {
        *slash = 0;
        rc = klog__zks_make_path(s, p);
    }
    free(p);
    return rc;
}

/* Create a node, making its parents when missing. Returns the ZooKeeper code. */
int klog__zks_create_node(klog__zks_t *s, const char *path, const char *data, int mode)
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
int klog__zks_put_persistent(klog__zks_t *s, const char *path, const char *data)
{
    for (int tries = 0; tries < 3; tries++) {
        int z = zoo_set(s->zh, path, data, (int)strlen(data), -1);
        if (z == ZOK)
            return 0;
        if (z != ZNONODE)
            return klog__zerr(z);
        z = klog__zks_create_node(s, path, data, ZOO_PERSISTENT);
        if (z == ZOK)
            return 0;
        if (z != ZNODEEXISTS)
            return klog__zerr(z);
    }
    return -EIO;
}

int klog__zks_get_i64(klog__zks_t *s, const char *path, int watch_it, int64_t *out)
{
    char buf[32];
    int len = (int)sizeof buf - 1;
    struct Stat st;
    int z = watch_it ? zoo_wget(s->zh, path, klog__zks_watcher, s, buf, &len, &st)
                     : zoo_get(s->zh, path, 0, buf, &len, &st);
    if (z == ZNONODE && watch_it)
        zoo_wexists(s->zh, path, klog__zks_watcher, s, &st); /* hear of its creation */
    if (z != ZOK)
        return klog__zerr(z);
    if (len < 0)
        return KLOG_ECORRUPT;
    return klog__parse_i64(buf, (size_t)len, out) ? KLOG_ECORRUPT : 0;
}

char *klog__zks_path(klog__zks_t *s, const char *fmt, const char *a, const char *b, const char *c)
{
    char *rel = klog__asprintf(fmt, a, b, c);
    if (!rel)
        return NULL;
    char *full = klog__asprintf("%s%s", s->chroot, rel);
    free(rel);
    return full;
}

static zheld_t *held_find(klog__zks_t *s, const char *path)
{
    for (zheld_t *h = s->held; h; h = h->next)
        if (strcmp(h->path, path) == 0)
            return h;
    return NULL;
}

int klog__zks_held_add(klog__zks_t *s, const char *path, const char *member)
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
int klog__zks_held_take(klog__zks_t *s, const char *path, const char *member)
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

int klog__zks_held_by(klog__zks_t *s, const char *path, char *member_out, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    zheld_t *h = held_find(s, path);
    int r = h != NULL;
    if (h && member_out)
        snprintf(member_out, cap, "%s", h->member);
    pthread_mutex_unlock(&s->mu);
    return r;
}

int klog__zks_armed(klog__zks_t *s, const char *group)
{
    pthread_mutex_lock(&s->mu);
    int armed = 0;
    for (size_t i = 0; i < s->narmed && !armed; i++)
        armed = strcmp(s->armed[i], group) == 0;
    pthread_mutex_unlock(&s->mu);
    return armed;
}

void klog__zks_arm(klog__zks_t *s, const char *group)
{
    pthread_mutex_lock(&s->mu);
    char **n = klog__realloc(s->armed, (s->narmed + 1) * sizeof *n);
    if (n) {
        s->armed = n;
        if ((n[s->narmed] = klog__strdup(group)) != NULL)
            s->narmed++;
    }
    pthread_mutex_unlock(&s->mu);
}

uint64_t klog__zks_counter(klog__zks_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t c = s->counter;
    pthread_mutex_unlock(&s->mu);
    return c;
}

int klog__zks_wait(klog__zks_t *s, uint64_t seen, int timeout_ms)
{
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

zhandle_t *klog__zks_zh(klog__zks_t *s) { return s->zh; }

void klog__zks_free(klog__zks_t *s)
{
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

int klog__zks_new(const char *hosts_chroot, int session_timeout_ms, klog__zks_t **out)
{
    klog__zks_t *s = klog__calloc(1, sizeof *s);
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
        rc = klog__zks_make_path(s, s->chroot);
    if (rc) {
        klog__zks_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

#endif /* KLOG_HAVE_ZOOKEEPER */
