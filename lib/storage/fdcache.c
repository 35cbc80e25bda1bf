/*
 * fdcache.c — the descriptor LRU (see fdcache.h). A doubly linked list,
 * head most recent, and a descriptor count, under one mutex. Eviction walks
 * from the cold end (twice at most) and asks each owner to close through
 * the callback; an owner that is pinned (or whose lock is taken) stays, so
 * the bound is a target that pinned files may exceed for a while, never a
 * reason to wait.
 *
 * Every pin touches its segment, so the common touch (the head again,
 * with the same descriptors: an appender's active segment, a reader's
 * current one) takes no lock: `mru` names the head and its descriptor
 * count in one word, stored under the lock by each touch and cleared by
 * each unlink of the link it names. A touch that finds its own link there
 * is one that would have changed nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "storage/fdcache.h"

struct klog__fdcache {
    pthread_mutex_t mu;
    klog__fdcache_link_t *head, *tail; /* head = most recent */
    int count;                         /* descriptors accounted */
    int max;
    klog__fdcache_evict_fn evict;
    _Atomic uintptr_t mru; /* the head | its fds (1..7), or 0 */
};

_Static_assert(_Alignof(klog__fdcache_link_t) >= 8, "mru keeps fds in a link's low 3 bits");

/* The head and its descriptors as `mru` holds them; 0 when fds does not
 * fit beside the pointer's alignment bits. */
static uintptr_t mru_word(const klog__fdcache_link_t *l, int fds)
{
    return fds > 0 && fds < 8 ? (uintptr_t)l | (uintptr_t)fds : 0;
}

int klog__fdcache_new(int max_fds, klog__fdcache_evict_fn evict, klog__fdcache_t **out)
{
    klog__fdcache_t *c = klog__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->max = max_fds > 0 ? max_fds : 1;
    c->evict = evict;
    *out = c;
    return 0;
}

void klog__fdcache_free(klog__fdcache_t *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Forget that l is the head (lock held). Before an eviction asks l's owner
 * to close: an owner that reopens its files once the callback let go of
 * its lock, and touches, must not find itself in `mru` while the evicting
 * thread is about to unlink it (it would stay out of the list with its
 * descriptors uncounted). The owner's lock orders this store before its
 * reopen and touch. */
static void mru_forget(klog__fdcache_t *c, const klog__fdcache_link_t *l)
{
    if ((atomic_load_explicit(&c->mru, memory_order_relaxed) & ~(uintptr_t)7) == (uintptr_t)l)
        atomic_store_explicit(&c->mru, 0, memory_order_relaxed);
}

static void unlink_locked(klog__fdcache_t *c, klog__fdcache_link_t *l)
{
    mru_forget(c, l);
    if (l->prev)
        l->prev->next = l->next;
    else
        c->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        c->tail = l->prev;
    l->prev = l->next = NULL;
    c->count -= l->fds;
    l->fds = 0;
}

void klog__fdcache_touch(klog__fdcache_t *c, klog__fdcache_link_t *link, int fds)
{
    uintptr_t w = mru_word(link, fds);
    if (w && atomic_load_explicit(&c->mru, memory_order_acquire) == w)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->head == link && link->fds == fds) {
        atomic_store_explicit(&c->mru, w, memory_order_release);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (link->fds)
        unlink_locked(c, link);
    link->next = c->head;
    link->prev = NULL;
    if (c->head)
        c->head->prev = link;
    c->head = link;
    if (!c->tail)
        c->tail = link;
    link->fds = fds > 0 ? fds : 1;
    c->count += link->fds;
    /* Evict from the cold end: owners nobody has pinned. A second pass
     * takes those that refused only the first time (an owner may give its
     * recently used link a second chance, pstate.c). */
    for (int pass = 0; pass < 2 && c->count > c->max; pass++) {
        klog__fdcache_link_t *v = c->tail;
        while (c->count > c->max && v) {
            klog__fdcache_link_t *prev = v->prev;
            if (v != link) {
                mru_forget(c, v);
                if (c->evict(v) > 0)
                    unlink_locked(c, v);
            }
            v = prev;
        }
    }
    /* link is the head still: eviction never takes it. */
    atomic_store_explicit(&c->mru, mru_word(link, link->fds), memory_order_release);
    pthread_mutex_unlock(&c->mu);
}

int klog__fdcache_shed(klog__fdcache_t *c, int fds)
{
    pthread_mutex_lock(&c->mu);
    int freed = 0;
    klog__fdcache_link_t *v = c->tail;
    while (freed < fds && v) {
        klog__fdcache_link_t *prev = v->prev;
        mru_forget(c, v);
        int n = c->evict(v);
        if (n > 0) {
            unlink_locked(c, v);
            freed += n;
        }
        v = prev;
    }
    pthread_mutex_unlock(&c->mu);
    return freed;
}

void klog__fdcache_remove(klog__fdcache_t *c, klog__fdcache_link_t *link)
{
    pthread_mutex_lock(&c->mu);
    if (link->fds)
        unlink_locked(c, link);
    pthread_mutex_unlock(&c->mu);
}

int klog__fdcache_count(klog__fdcache_t *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
