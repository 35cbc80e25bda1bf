/*
 * pstate.c — the partition's state page, klog.state (see pstate.h).
 *
 * A pin is a count beside the page pointer: a user adds itself to `users`
 * and then loads `page`; an eviction swaps `page` for NULL and then loads
 * `users`, putting the page back when anyone is there. Both pairs are
 * sequentially consistent, so either the user sees NULL (and maps again,
 * under `mu`) or the eviction sees the user (and leaves the page). A pin
 * that finds the page marks it referenced; the eviction pass skips a
 * referenced page once, clearing the mark (a second chance, so a hot page
 * is not unmapped because the LRU is touched only when a page is mapped).
 *
 * The writer is the file's only writer: when it unmaps, `snap` keeps what
 * the page holds, and a publish of the same offsets maps nothing (a clean
 * open of many partitions maps none of their pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "storage/index.h"
#include "storage/partition_impl.h"

#define STATE_MAGIC "KLOGSTAT"

/* The file's layout: one shared page. */
struct klog__statefile {
    uint8_t magic[8]; /* "KLOGSTAT" */
    uint32_t version; /* 1 */
    uint32_t pad;
    _Atomic int64_t high_watermark;
    _Atomic int64_t log_start;
    _Atomic int64_t log_end;
    _Atomic uint64_t generation;
};
typedef struct klog__statefile klog__statefile_t;

/* Offsets a writer can have published. */
static int vals_sane(const klog__pstate_vals_t *v)
{
    return v->log_start >= 0 && v->log_start <= v->hw && v->hw <= v->log_end;
}

static void load_vals(const klog__statefile_t *st, klog__pstate_vals_t *v)
{
    v->log_start = atomic_load(&st->log_start);
    v->hw = atomic_load(&st->high_watermark);
    v->log_end = atomic_load(&st->log_end);
    v->generation = atomic_load(&st->generation);
}

static int header_ok(const klog__statefile_t *st)
{
    return memcmp(st->magic, STATE_MAGIC, 8) == 0 && st->version == 1;
}

/* ------------------------------------------------------------ the LRU */

static int evict(klog__fdcache_link_t *link)
{
    klog__pstate_t *s = (klog__pstate_t *)link;
    if (atomic_exchange(&s->ref, 0))
        return 0; /* used since the last pass: a second chance */
    if (pthread_mutex_trylock(&s->mu) != 0)
        return 0;
    klog__statefile_t *pg = atomic_exchange(&s->page, NULL);
    if (pg && atomic_load(&s->users) > 0) {
        atomic_store(&s->page, pg);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    if (pg) {
        load_vals(pg, &s->snap); /* what the file holds now */
        s->snap_valid = 1;
        klog__munmap(pg, sizeof *pg);
    }
    pthread_mutex_unlock(&s->mu);
    return 1;
}

int klog__pstate_cache_new(int max, klog__fdcache_t **out)
{
    return klog__fdcache_new(max, evict, out);
}

void klog__pstate_init(klog__pstate_t *s, klog__fdcache_t *cache)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cache = cache;
    s->held_fd = -1;
}

/* ------------------------------------------------------------ the file */

static char *state_path(const klog__partition_t *p)
{
    return klog__asprintf("%s/klog.state", p->dir);
}

int klog__pstate_open(klog__partition_t *p)
{
    klog__pstate_t *s = &p->pst;
    int rdonly = p->env->rdonly;
    char *path = state_path(p);
    if (!path)
        return -ENOMEM;
    int fd = klog__open(path, rdonly ? O_RDONLY : (O_RDWR | O_CREAT), 0644);
    free(path);
    if (fd < 0)
        return rdonly && fd == -ENOENT ? 0 : fd;
    klog__statefile_t st = {0};
    int rc = 0;
    int64_t size = klog__fsize(fd);
    if (size < 0) {
        rc = (int)size;
        goto out;
    }
    if (size < (int64_t)sizeof st) {
        if (rdonly)
            goto out; /* the writer has not created it yet */
        rc = klog__ftruncate(fd, sizeof st);
        if (!rc)
            rc = klog__reserve_blocks(fd, 0, sizeof st);
        if (rc)
            goto out;
    } else {
        ssize_t n = klog__pread_full(fd, &st, sizeof st, 0);
        if (n < 0) {
            rc = (int)n;
            goto out;
        }
    }
    klog__pstate_vals_t v;
    load_vals(&st, &v);
    int good = header_ok(&st) && vals_sane(&v);
    pthread_mutex_lock(&s->mu);
    s->snap = v;
    s->snap_valid = good;
    pthread_mutex_unlock(&s->mu);
    if (rdonly) {
        atomic_store(&s->avail, good);
    } else {
        /* The writer publishes a raised log start here before the
         * checkpoint file has it (and before retention's files go): a
         * crash in between must not move it back for readers that saw it
         * (the load uses it, recover.c). */
        p->state_log_start = good ? v.log_start : -1;
        atomic_store(&s->avail, 1);
        pthread_mutex_lock(&s->mu);
        klog__close(s->held_fd); /* (a second open of the same load) */
        s->held_fd = fd; /* a map in this load needs no second open */
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
out:
    klog__close(fd);
    return rc;
}

void klog__pstate_loaded(klog__partition_t *p)
{
    pthread_mutex_lock(&p->pst.mu);
    klog__close(p->pst.held_fd);
    p->pst.held_fd = -1;
    pthread_mutex_unlock(&p->pst.mu);
}

/* Map the page (mu held, page NULL): 0, or an error (a read-only opener's
 * file that is no longer sane is not usable any more: -EINVAL). */
static int map_locked(klog__partition_t *p)
{
    klog__pstate_t *s = &p->pst;
    int rdonly = p->env->rdonly;
    int fd = s->held_fd; /* the load's, of a file klog__pstate_open sized */
    s->held_fd = -1;
    if (fd < 0) {
        char *path = state_path(p);
        if (!path)
            return -ENOMEM;
        fd = klog__open(path, rdonly ? O_RDONLY : O_RDWR, 0);
        if (fd == -EMFILE || fd == -ENFILE) {
            if (klog__fdcache_shed(p->env->fdcache, 3) > 0)
                fd = klog__open(path, rdonly ? O_RDONLY : O_RDWR, 0);
        }
        free(path);
        if (fd < 0)
            return fd;
        if (klog__fsize(fd) < (int64_t)sizeof(klog__statefile_t)) {
            klog__close(fd);
            return -EINVAL;
        }
    }
    void *m = NULL;
    int rc = klog__mmap(fd, sizeof(klog__statefile_t), !rdonly, &m);
    klog__close(fd); /* the mapping stays valid */
    if (rc)
        return rc;
    klog__statefile_t *st = m;
    if (rdonly) {
        klog__pstate_vals_t v;
        load_vals(st, &v);
        if (!header_ok(st) || !vals_sane(&v)) {
            klog__munmap(m, sizeof *st);
            return -EINVAL;
        }
    } else if (!header_ok(st)) {
        memcpy(st->magic, STATE_MAGIC, 8);
        st->version = 1;
    }
    atomic_store(&s->page, st);
    return 0;
}

/* Make the page mapped unless `want` (writer) is what the unmapped file
 * holds: 1 mapped, 0 nothing to do (want matched, or not usable). */
static int ensure_mapped(klog__partition_t *p, const klog__pstate_vals_t *want)
{
    klog__pstate_t *s = &p->pst;
    int mapped_now = 0, ok;
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->page) && atomic_load(&s->avail)) {
        if (want && s->snap_valid && memcmp(want, &s->snap, sizeof *want) == 0) {
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
        int rc = map_locked(p);
        if (rc == 0) {
            mapped_now = 1;
            s->snap_valid = 0; /* the page is the truth while mapped */
        } else {
            if (p->env->rdonly && rc == -EINVAL)
                atomic_store(&s->avail, 0); /* as if never written: open again later */
            if (!s->warned || rc != -EINVAL)
                klog__log(p->env->logger, KLOG_LOG_ERROR, "%s/klog.state: map: %s%s", p->dir,
                          klog_strerror(rc),
                          rc == -ENOMEM ? " (raise vm.max_map_count, or lower "
                                          "KLOG_CONF_MAX_STATE_MAPS)"
                                        : "");
            s->warned = 1;
        }
    }
    ok = atomic_load(&s->page) != NULL;
    pthread_mutex_unlock(&s->mu);
    if (mapped_now)
        klog__fdcache_touch(s->cache, &s->lru, 1); /* may unmap colder pages */
    return ok;
}

/* The page pinned (klog__pstate_t's users) if it is mapped, else NULL. */
static klog__statefile_t *pin_mapped(klog__pstate_t *s)
{
    atomic_fetch_add(&s->users, 1);
    klog__statefile_t *st = atomic_load(&s->page);
    if (KLOG__LIKELY(st != NULL)) {
        if (!atomic_load_explicit(&s->ref, memory_order_relaxed))
            atomic_store_explicit(&s->ref, 1, memory_order_relaxed);
        return st;
    }
    atomic_fetch_sub(&s->users, 1);
    return NULL;
}

/* The page pinned, mapped first if need be (see ensure_mapped), or NULL. */
static klog__statefile_t *pin(klog__partition_t *p, const klog__pstate_vals_t *want)
{
    for (;;) {
        klog__statefile_t *st = pin_mapped(&p->pst);
        if (st || !ensure_mapped(p, want))
            return st;
    }
}

static void unpin(klog__partition_t *p) { atomic_fetch_sub(&p->pst.users, 1); }

void klog__pstate_close(klog__partition_t *p)
{
    klog__pstate_t *s = &p->pst;
    if (s->cache)
        klog__fdcache_remove(s->cache, &s->lru);
    klog__statefile_t *st = atomic_exchange(&s->page, NULL);
    if (st)
        klog__munmap(st, sizeof *st);
    klog__close(s->held_fd);
    s->held_fd = -1;
    pthread_mutex_destroy(&s->mu);
}

int klog__pstate_opened(klog__partition_t *p, klog__pstate_vals_t *v)
{
    pthread_mutex_lock(&p->pst.mu);
    *v = p->pst.snap;
    int ok = atomic_load(&p->pst.avail);
    pthread_mutex_unlock(&p->pst.mu);
    return ok;
}

int klog__pstate_read(klog__partition_t *p, klog__pstate_vals_t *v)
{
    if (!atomic_load_explicit(&p->pst.avail, memory_order_relaxed) &&
        !atomic_load(&p->pst.page))
        return 0;
    klog__statefile_t *st = pin(p, NULL);
    if (!st)
        return 0;
    load_vals(st, v);
    unpin(p);
    return 1;
}

/* Unmapped: map the page, unless the file holds the partition's offsets
 * already and only they are published (nothing to store: NULL). */
static klog__statefile_t *pin_to_publish(klog__partition_t *p, unsigned what)
{
    if (what & KLOG__PST_GEN)
        return pin(p, NULL);
    klog__pstate_vals_t want = {
        .hw = atomic_load(&p->hw),
        .log_start = atomic_load(&p->log_start),
        .log_end = atomic_load(&p->log_end),
    };
    /* The generation is the file's: the writer alone bumps it, and snap
     * keeps it. */
    pthread_mutex_lock(&p->pst.mu);
    want.generation = p->pst.snap.generation;
    pthread_mutex_unlock(&p->pst.mu);
    return pin(p, &want);
}

/* Raise *a to v: a publish racing this one with an older value (loaded
 * before this one's, stored after) cannot lower what the page holds. */
static void store_max(_Atomic int64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);
    while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

void klog__pstate_publish(klog__partition_t *p, unsigned what)
{
    klog__statefile_t *st = pin_mapped(&p->pst);
    if (KLOG__UNLIKELY(st == NULL) && (st = pin_to_publish(p, what)) == NULL)
        return;
    if (what & KLOG__PST_OFFSETS) {
        int64_t hw = atomic_load(&p->hw), end = atomic_load(&p->log_end);
        if (hw < atomic_load(&st->high_watermark)) {
            atomic_store(&st->high_watermark, hw);
            atomic_store(&st->log_end, end);
        } else {
            atomic_store(&st->log_end, end);
            atomic_store(&st->high_watermark, hw);
        }
        atomic_store(&st->log_start, atomic_load(&p->log_start));
    }
    if (what & KLOG__PST_END) /* first: the watermark never passes it */
        store_max(&st->log_end, atomic_load(&p->log_end));
    if (what & KLOG__PST_HW)
        store_max(&st->high_watermark, atomic_load(&p->hw));
    if (what & KLOG__PST_GEN)
        atomic_fetch_add(&st->generation, 1);
    unpin(p);
}

void klog__pstate_distrust(klog__partition_t *p)
{
    klog__pstate_t *s = &p->pst;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->avail, 0);
    klog__statefile_t *st = atomic_exchange(&s->page, NULL);
    pthread_mutex_unlock(&s->mu);
    if (st)
        klog__munmap(st, sizeof *st);
}
