/*
 * registry_memory.c — the in-process registry backend, for tests and for
 * members that are threads of one process.
 *
 * One store (a mutex, a condition variable and four lists: topics,
 * members, owners, offsets) is shared by any number of sessions. A session
 * is one klog_registry_t; every member entry and claim records the session
 * that made it, and freeing the session removes them, which is how this
 * backend plays "the process died" for the conformance tests. Offsets and
 * topics outlive sessions; the store lives until its last session goes.
 *
 * Change counters: each group has one, bumped when its membership changes;
 * one store-wide epoch is bumped when a topic's partition count changes.
 * changes() reports their sum, which only grows, so any change of either
 * makes it differ. Waiters sleep on the condition variable (monotonic
 * clock) and are woken by every bump. Lists are linear: a group has tens
 * of members and partitions, not millions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group/group.h"

typedef struct mtopic {
    struct mtopic *next;
    char *name;
    int32_t partitions;
} mtopic_t;

typedef struct mgroup {
    struct mgroup *next;
    char *name;
    uint64_t counter;
} mgroup_t;

typedef struct mmember {
    struct mmember *next;
    char *group, *id, *topics;
    const void *session;
} mmember_t;

typedef struct mowner {
    struct mowner *next;
    char *group, *topic, *member;
    int32_t partition;
    const void *session;
} mowner_t;

typedef struct moffset {
    struct moffset *next;
    char *group, *topic;
    int32_t partition;
    int64_t offset;
} moffset_t;

typedef struct mstore {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sessions;
    uint64_t topic_epoch;
    mtopic_t *topics;
    mgroup_t *groups;
    mmember_t *members;
    mowner_t *owners;
    moffset_t *offsets;
} mstore_t;

typedef struct msession {
    mstore_t *st;
} msession_t;

static mgroup_t *group_get(mstore_t *st, const char *name, int create)
{
    for (mgroup_t *g = st->groups; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return g;
    if (!create)
        return NULL;
    mgroup_t *g = klog__calloc(1, sizeof *g);
    if (!g || !(g->name = klog__strdup(name))) {
        free(g);
        return NULL;
    }
    g->next = st->groups;
    st->groups = g;
    return g;
}

static void bump(mstore_t *st, const char *group)
{
    mgroup_t *g = group_get(st, group, 1);
    if (g)
        g->counter++;
    else
        st->topic_epoch++; /* out of memory: still make every waiter look */
    pthread_cond_broadcast(&st->cv);
}

static int m_topic_publish(void *ctx, const char *topic, int32_t partitions)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    if (!klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partitions < 0)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    mtopic_t *t;
    for (t = st->topics; t; t = t->next)
        if (strcmp(t->name, topic) == 0)
            break;
    if (!t) {
        t = klog__calloc(1, sizeof *t);
        if (!t || !(t->name = klog__strdup(topic))) {
            free(t);
            rc = -ENOMEM;
            goto out;
        }
        t->partitions = -1;
        t->next = st->topics;
        st->topics = t;
    }
    if (t->partitions != partitions) {
        t->partitions = partitions;
        st->topic_epoch++;
        pthread_cond_broadcast(&st->cv);
    }
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int m_topic_partitions(void *ctx, const char *topic, int32_t *partitions)
{
    msession_t *s = ctx;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&s->st->mu);
    for (mtopic_t *t = s->st->topics; t; t = t->next)
        if (strcmp(t->name, topic) == 0) {
            *partitions = t->partitions;
            rc = 0;
        }
    pthread_mutex_unlock(&s->st->mu);
    return rc;
}

static int m_member_register(void *ctx, const char *group, const char *member, const char *topics)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    int rc = 0;
    char *tcopy = klog__strdup(topics ? topics : "");
    if (!tcopy)
        return -ENOMEM;
    pthread_mutex_lock(&st->mu);
    for (mmember_t *m = st->members; m; m = m->next)
        if (strcmp(m->group, group) == 0 && strcmp(m->id, member) == 0) {
            if (m->session != s) {
                rc = KLOG_ECLAIMED;
            } else {
                free(m->topics);
                m->topics = tcopy;
                tcopy = NULL;
                bump(st, group);
            }
            goto out;
        }
    mmember_t *m = klog__calloc(1, sizeof *m);
    if (!m || !(m->group = klog__strdup(group)) || !(m->id = klog__strdup(member))) {
        if (m)
            free(m->group);
        free(m);
        rc = -ENOMEM;
        goto out;
    }
    m->topics = tcopy;
    tcopy = NULL;
    m->session = s;
    m->next = st->members;
    st->members = m;
    bump(st, group);
out:
    pthread_mutex_unlock(&st->mu);
    free(tcopy);
    return rc;
}

static void member_free(mmember_t *m)
{
    free(m->group);
    free(m->id);
    free(m->topics);
    free(m);
}

static int m_member_unregister(void *ctx, const char *group, const char *member)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&st->mu);
    for (mmember_t **pp = &st->members; *pp; pp = &(*pp)->next) {
        mmember_t *m = *pp;
        if (m->session == s && strcmp(m->group, group) == 0 && strcmp(m->id, member) == 0) {
            *pp = m->next;
            member_free(m);
            bump(st, group);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int m_member_list(void *ctx, const char *group, klog_registry_visit_fn fn, void *arg)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    /* Copy under the lock, call back outside it: fn may call the registry. */
    size_t n = 0, i = 0;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    for (mmember_t *m = st->members; m; m = m->next)
        if (strcmp(m->group, group) == 0)
            n++;
    char **ids = klog__calloc(2 * n + 1, sizeof *ids);
    if (!ids) {
        pthread_mutex_unlock(&st->mu);
        return -ENOMEM;
    }
    for (mmember_t *m = st->members; m && rc == 0; m = m->next)
        if (strcmp(m->group, group) == 0) {
            ids[2 * i] = klog__strdup(m->id);
            ids[2 * i + 1] = klog__strdup(m->topics);
            if (!ids[2 * i] || !ids[2 * i + 1])
                rc = -ENOMEM;
            i++;
        }
    pthread_mutex_unlock(&st->mu);
    for (size_t j = 0; j < n && rc == 0; j++)
        rc = fn(arg, ids[2 * j], ids[2 * j + 1]);
    for (size_t j = 0; j < 2 * n; j++)
        free(ids[j]);
    free(ids);
    return rc;
}

static mowner_t **owner_find(mstore_t *st, const char *group, const char *topic, int32_t p)
{
    for (mowner_t **pp = &st->owners; *pp; pp = &(*pp)->next) {
        mowner_t *o = *pp;
        if (o->partition == p && strcmp(o->topic, topic) == 0 && strcmp(o->group, group) == 0)
            return pp;
    }
    return NULL;
}

static int m_claim(void *ctx, const char *group, const char *topic, int32_t partition,
                   const char *member)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic) ||
        !klog__group_name_valid(member))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    mowner_t **pp = owner_find(st, group, topic, partition);
    if (pp) {
        mowner_t *o = *pp;
        if (o->session != s || strcmp(o->member, member) != 0)
            rc = KLOG_ECLAIMED;
        goto out;
    }
    mowner_t *o = klog__calloc(1, sizeof *o);
    if (!o || !(o->group = klog__strdup(group)) || !(o->topic = klog__strdup(topic)) ||
        !(o->member = klog__strdup(member))) {
        if (o) {
            free(o->group);
            free(o->topic);
        }
        free(o);
        rc = -ENOMEM;
        goto out;
    }
    o->partition = partition;
    o->session = s;
    o->next = st->owners;
    st->owners = o;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void owner_free(mowner_t *o)
{
    free(o->group);
    free(o->topic);
    free(o->member);
    free(o);
}

static int m_release(void *ctx, const char *group, const char *topic, int32_t partition,
                     const char *member)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&st->mu);
    mowner_t **pp = owner_find(st, group, topic, partition);
    if (pp && (*pp)->session == s && strcmp((*pp)->member, member) == 0) {
        mowner_t *o = *pp;
        *pp = o->next;
        owner_free(o);
        rc = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int m_owner(void *ctx, const char *group, const char *topic, int32_t partition, char *buf,
                   size_t cap)
{
    msession_t *s = ctx;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&s->st->mu);
    mowner_t **pp = owner_find(s->st, group, topic, partition);
    if (pp) {
        size_t n = strlen((*pp)->member);
        if (n >= cap) {
            rc = -ENAMETOOLONG;
        } else {
            memcpy(buf, (*pp)->member, n + 1);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&s->st->mu);
    return rc;
}

static moffset_t *offset_find(mstore_t *st, const char *group, const char *topic, int32_t p)
{
    for (moffset_t *o = st->offsets; o; o = o->next)
        if (o->partition == p && strcmp(o->topic, topic) == 0 && strcmp(o->group, group) == 0)
            return o;
    return NULL;
}

static int m_commit(void *ctx, const char *group, const char *topic, int32_t partition,
                    int64_t offset)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    if (!klog__group_name_valid(group) || !klog__group_name_valid(topic))
        return KLOG_EBADNAME;
    if (partition < 0)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&st->mu);
    moffset_t *o = offset_find(st, group, topic, partition);
    if (!o) {
        o = klog__calloc(1, sizeof *o);
        if (!o || !(o->group = klog__strdup(group)) || !(o->topic = klog__strdup(topic))) {
            if (o)
                free(o->group);
            free(o);
            rc = -ENOMEM;
            goto out;
        }
        o->partition = partition;
        o->next = st->offsets;
        st->offsets = o;
    }
    o->offset = offset;
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static int m_fetch(void *ctx, const char *group, const char *topic, int32_t partition,
                   int64_t *offset)
{
    msession_t *s = ctx;
    int rc = KLOG_ENOTFOUND;
    pthread_mutex_lock(&s->st->mu);
    moffset_t *o = offset_find(s->st, group, topic, partition);
    if (o) {
        *offset = o->offset;
        rc = 0;
    }
    pthread_mutex_unlock(&s->st->mu);
    return rc;
}

static uint64_t counter_locked(mstore_t *st, const char *group)
{
    mgroup_t *g = group_get(st, group, 0);
    return (g ? g->counter : 0) + st->topic_epoch;
}

static int m_changes(void *ctx, const char *group, uint64_t *counter)
{
    msession_t *s = ctx;
    pthread_mutex_lock(&s->st->mu);
    *counter = counter_locked(s->st, group);
    pthread_mutex_unlock(&s->st->mu);
    return 0;
}

static int m_wait(void *ctx, const char *group, uint64_t seen, int timeout_ms)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    int changed = 0;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (counter_locked(st, group) != seen) {
            changed = 1;
            break;
        }
        if (timeout_ms == 0)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&st->cv, &st->mu);
        } else if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) == ETIMEDOUT) {
            changed = counter_locked(st, group) != seen;
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return changed;
}

static void store_free(mstore_t *st)
{
    while (st->topics) {
        mtopic_t *t = st->topics;
        st->topics = t->next;
        free(t->name);
        free(t);
    }
    while (st->groups) {
        mgroup_t *g = st->groups;
        st->groups = g->next;
        free(g->name);
        free(g);
    }
    while (st->offsets) {
        moffset_t *o = st->offsets;
        st->offsets = o->next;
        free(o->group);
        free(o->topic);
        free(o);
    }
    /* members and owners are gone with their sessions */
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

static void m_destroy(void *ctx)
{
    msession_t *s = ctx;
    mstore_t *st = s->st;
    pthread_mutex_lock(&st->mu);
    for (mmember_t **pp = &st->members; *pp;) {
        mmember_t *m = *pp;
        if (m->session == s) {
            *pp = m->next;
            bump(st, m->group);
            member_free(m);
        } else {
            pp = &m->next;
        }
    }
    for (mowner_t **pp = &st->owners; *pp;) {
        mowner_t *o = *pp;
        if (o->session == s) {
            *pp = o->next;
            owner_free(o);
        } else {
            pp = &o->next;
        }
    }
    int last = --st->sessions == 0;
    pthread_mutex_unlock(&st->mu);
    if (last)
        store_free(st);
    free(s);
}

int klog_registry_memory_new(klog_registry_t *share_with, klog_registry_t **out)
{
    if (!out)
        return -EINVAL;
    if (share_with && share_with->ops.destroy != m_destroy)
        return -EINVAL;
    msession_t *s = klog__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (share_with) {
        s->st = ((msession_t *)share_with->ops.ctx)->st;
        pthread_mutex_lock(&s->st->mu);
        s->st->sessions++;
        pthread_mutex_unlock(&s->st->mu);
    } else {
        mstore_t *st = klog__calloc(1, sizeof *st);
        if (!st) {
            free(s);
            return -ENOMEM;
        }
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&st->cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&st->mu, NULL);
        st->sessions = 1;
        s->st = st;
    }
    klog_registry_ops_t ops = {
        .size = sizeof ops,
        .ctx = s,
        .topic_publish = m_topic_publish,
        .topic_partitions = m_topic_partitions,
        .member_register = m_member_register,
        .member_unregister = m_member_unregister,
        .member_list = m_member_list,
        .claim = m_claim,
        .release = m_release,
        .owner = m_owner,
        .commit = m_commit,
        .fetch = m_fetch,
        .changes = m_changes,
        .wait = m_wait,
        .destroy = m_destroy,
    };
    return klog__registry_wrap(&ops, out);
}
