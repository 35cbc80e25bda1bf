/*
 * partition.c — one partition: the directory "<topic>-<id>" holding its
 * segments, the append path, rolling, the flush policy (group commit), the
 * high watermark, retention and truncation, and crash recovery at load.
 *
 * Offsets: log_start <= hw <= log_end. The recovery point (everything
 * below it is fsynced) is <= log_end; under KLOG_VISIBLE_FLUSHED the
 * watermark follows it, under KLOG_VISIBLE_WRITTEN the log end.
 *
 * Append: encode outside any lock; under append_mu assign the base offset,
 * roll if needed, one pwritev at the active segment's end, index entries
 * every index.interval.bytes, then publish size, log end and watermark
 * (release stores) and wake waiters. A failed write or fsync marks the
 * partition failed: appends are refused until the log is reopened, since
 * neither can be retried safely.
 *
 * Group commit: klog_flush() takes the log end it must cover; one caller
 * at a time runs the fdatasync while others wait on sync_cv, and every
 * waiter whose target the finished fsync covered returns without its own.
 *
 * Recovery at load: leftover .deleted, .tmp, .cleaned and .swap files and
 * orphan indexes are removed; segments whose seal is valid and matches the
 * file size are trusted; every other segment is scanned with CRC checks,
 * its indexes rebuilt and a torn or corrupt tail truncated (and, as Kafka
 * does, segments after a truncated one are deleted). Missing or
 * inconsistent indexes of sealed segments are rebuilt from the .log.
 *
 * The state file "klog.state" (mmap'd, see klog__pstate_t) publishes the
 * watermark, log start, log end and a generation counter (bumped when the
 * segment list changes) to read-only openers in other processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/bytes.h"
#include "storage/storage.h"

#define STATE_MAGIC "KLOGSTAT"

int64_t klog__topic_conf(const struct klog_topic *t, int key)
{
    return klog__config_value(&t->cfg, &t->log->cfg, key);
}

/* ------------------------------------------------------------ seglist */

static klog__seglist_t *seglist_new(size_t n)
{
    klog__seglist_t *l = klog__calloc(1, sizeof *l + n * sizeof l->seg[0]);
    if (l) {
        atomic_init(&l->refs, 1);
        l->n = n;
    }
    return l;
}

void klog__seglist_unref(klog__seglist_t *l)
{
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        klog__segment_unref(l->seg[i]);
    free(l);
}

klog__seglist_t *klog__partition_segments(struct klog_partition *p)
{
    pthread_mutex_lock(&p->list_mu);
    klog__seglist_t *l = p->segs;
    if (l)
        atomic_fetch_add(&l->refs, 1);
    pthread_mutex_unlock(&p->list_mu);
    return l;
}

/* Publish a new list (takes ownership of nl; drops the old list's ref). */
static void publish_list(struct klog_partition *p, klog__seglist_t *nl)
{
    pthread_mutex_lock(&p->list_mu);
    klog__seglist_t *old = p->segs;
    p->segs = nl;
    pthread_mutex_unlock(&p->list_mu);
    /* Read-only openers map the state file read-only: only the writer
     * announces list changes. */
    if (p->state && !klog__is_rdonly(p->log))
        atomic_fetch_add(&p->state->generation, 1);
    klog__seglist_unref(old);
}

/* A copy of l with segments [from, to) and optionally `extra` appended. */
static klog__seglist_t *seglist_slice(const klog__seglist_t *l, size_t from, size_t to,
                                      klog__segment_t *extra)
{
    klog__seglist_t *nl = seglist_new(to - from + (extra ? 1 : 0));
    if (!nl)
        return NULL;
    size_t k = 0;
    for (size_t i = from; i < to; i++) {
        klog__segment_ref(l->seg[i]);
        nl->seg[k++] = l->seg[i];
    }
    if (extra)
        nl->seg[k] = extra; /* the caller's reference moves into the list */
    return nl;
}

/* ------------------------------------------------------------ watermark */

static void notify(struct klog_partition *p)
{
    if (atomic_load(&p->waiters) > 0) {
        pthread_mutex_lock(&p->wait_mu);
        pthread_cond_broadcast(&p->wait_cv);
        pthread_mutex_unlock(&p->wait_mu);
    }
    int efd = atomic_load(&p->event_fd);
    if (efd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(efd, &one, sizeof one);
        (void)n; /* EAGAIN means it is already readable */
    }
}

static void set_hw(struct klog_partition *p, int64_t hw)
{
    int64_t cur = atomic_load(&p->hw);
    while (hw > cur && !atomic_compare_exchange_weak(&p->hw, &cur, hw))
        ;
    if (p->state)
        atomic_store(&p->state->high_watermark, atomic_load(&p->hw));
    notify(p);
}

int64_t klog__partition_hw(struct klog_partition *p)
{
    if (klog__is_rdonly(p->log) && p->state)
        return atomic_load(&p->state->high_watermark);
    return atomic_load_explicit(&p->hw, memory_order_acquire);
}

int64_t klog__partition_log_start(struct klog_partition *p)
{
    if (klog__is_rdonly(p->log) && p->state)
        return atomic_load(&p->state->log_start);
    return atomic_load(&p->log_start);
}

static void publish_offsets(struct klog_partition *p)
{
    if (!p->state)
        return;
    atomic_store(&p->state->log_start, atomic_load(&p->log_start));
    atomic_store(&p->state->log_end, atomic_load(&p->log_end));
    atomic_store(&p->state->high_watermark, atomic_load(&p->hw));
}

/* ------------------------------------------------------------ state file */

static int state_open(struct klog_partition *p)
{
    int rdonly = klog__is_rdonly(p->log);
    char *path = klog__asprintf("%s/klog.state", p->dir);
    if (!path)
        return -ENOMEM;
    int fd = klog__open(path, rdonly ? O_RDONLY : (O_RDWR | O_CREAT), 0644);
    free(path);
    if (fd < 0)
        return rdonly && fd == -ENOENT ? 0 : fd;
    int rc = 0;
    int64_t size = klog__fsize(fd);
    if (size < (int64_t)sizeof(klog__pstate_t)) {
        if (rdonly)
            goto out; /* writer has not created it yet */
        rc = klog__ftruncate(fd, sizeof(klog__pstate_t));
        if (!rc) /* blocks now, so the shared mapping never meets a full disk */
            rc = klog__reserve_blocks(fd, 0, sizeof(klog__pstate_t));
        if (rc)
            goto out;
    }
    void *m;
    rc = klog__mmap(fd, sizeof(klog__pstate_t), !rdonly, &m);
    if (rc)
        goto out;
    klog__pstate_t *st = m;
    if (rdonly) {
        if (memcmp(st->magic, STATE_MAGIC, 8) != 0 || st->version != 1) {
            klog__munmap(m, sizeof *st);
            goto out;
        }
    } else {
        memcpy(st->magic, STATE_MAGIC, 8);
        st->version = 1;
    }
    p->state = st;
out:
    klog__close(fd); /* the mapping stays valid */
    return rc;
}

/* ------------------------------------------------------------ load */

typedef struct seg_files {
    int64_t base;
    unsigned has; /* 1 log, 2 index, 4 timeindex, 8 seal */
} seg_files_t;

static int cmp_files(const void *a, const void *b)
{
    int64_t x = ((const seg_files_t *)a)->base, y = ((const seg_files_t *)b)->base;
    return x < y ? -1 : x > y;
}

/* Parse "<20 digits><ext>" → base and kind bit; 0 if not a segment file. */
static unsigned parse_name(const char *name, int64_t *base)
{
    static const struct {
        const char *ext;
        unsigned bit;
    } kinds[] = {{".log", 1}, {".index", 2}, {".timeindex", 4}, {".seal", 8}};
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strcmp(name + 20, kinds[k].ext) == 0) {
            char digits[21];
            memcpy(digits, name, 20);
            digits[20] = 0;
            unsigned long long v = strtoull(digits, NULL, 10);
            if (v > INT64_MAX)
                return 0;
            *base = (int64_t)v;
            return kinds[k].bit;
        }
    }
    return 0;
}

static int is_leftover(const char *name)
{
    static const char *suffixes[] = {".deleted", ".tmp", ".cleaned", ".swap"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

/* List the directory into a sorted array of segment file sets. */
static int list_dir(struct klog_partition *p, seg_files_t **out, size_t *count)
{
    int rdonly = klog__is_rdonly(p->log);
    DIR *d = opendir(p->dir);
    if (!d)
        return -errno;
    seg_files_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!rdonly && is_leftover(e->d_name)) {
            char *path = klog__asprintf("%s/%s", p->dir, e->d_name);
            if (path) {
                klog__log(&p->log->cfg.logger, KLOG_LOG_INFO, "recovery: removing leftover %s",
                          path);
                unlink(path);
            }
            free(path);
            continue;
        }
        int64_t base;
        unsigned bit = parse_name(e->d_name, &base);
        if (!bit)
            continue;
        size_t i;
        for (i = 0; i < n && v[i].base != base; i++)
            ;
        if (i == n) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                seg_files_t *nv = klog__realloc(v, cap * sizeof *v);
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                v = nv;
            }
            v[n].base = base;
            v[n].has = 0;
            n++;
        }
        v[i].has |= bit;
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    /* Orphans: index or seal files whose .log is gone. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].has & 1) {
            v[k++] = v[i];
            continue;
        }
        if (rdonly)
            continue;
        static const char *exts[] = {".index", ".timeindex", ".seal"};
        for (size_t x = 0; x < 3; x++) {
            char *path = klog__asprintf("%s/%020" PRId64 "%s", p->dir, v[i].base, exts[x]);
            if (path)
                unlink(path);
            free(path);
        }
    }
    if (k > 1)
        qsort(v, k, sizeof *v, cmp_files);
    *out = v;
    *count = k;
    return 0;
}

/* A sealed .log that grew past its seal (bytes appended after sealing,
 * by a crash of some other writer or by hand): the seal checksums itself,
 * so a seal that decodes says where the sealed data ends. Only the excess
 * goes; the segment and those after it stay. When the sealed prefix no
 * longer has the seal's digest, its damage is kept as it is (sealed data is
 * never cut away): reads of the damaged batch and verify report it.
 * 1 trimmed, 0 not (the segment is then scanned as damaged). */
static int trim_past_seal(klog__segment_t *s, const char *lp, int64_t fsize)
{
    char *sp = klog__asprintf("%s.seal", s->stem);
    klog__seal_t seal;
    int ok = sp && klog__seal_read(sp, &seal) == 0;
    free(sp);
    int fd = ok ? klog__open(lp, O_RDWR | O_NOFOLLOW, 0) : -1;
    uint64_t digest;
    ok = fd >= 0 && klog__file_digest(fd, seal.log_size, &digest) == 0;
    int intact = ok && digest == seal.log_digest;
    ok = ok && klog__ftruncate(fd, (off_t)seal.log_size) == 0 && klog__fdatasync(fd) == 0;
    klog__close(fd);
    if (ok) {
        klog__log(&s->part->log->cfg.logger, intact ? KLOG_LOG_WARN : KLOG_LOG_ERROR,
                  intact ? "recovery: %s.log: %lld bytes past its sealed end removed (sealed data intact)"
                         : "recovery: %s.log: %lld bytes past its sealed end removed; the sealed data "
                           "does not match its seal's digest and is kept as it is (reads report the damage)",
                  s->stem, (long long)(fsize - seal.log_size));
        atomic_fetch_add(&s->part->log->stat_truncated_bytes, fsize - seal.log_size);
    }
    return ok;
}

/* 1 when the seal is usable (decodes, names this segment, matches the file
 * size), 0 when it is absent or damaged (the segment is then scanned), or a
 * negative error when it could not be read at all: an I/O error must fail
 * the open, not turn into a rescan that may truncate sealed data. */
static int seal_matches(klog__segment_t *s)
{
    int rc = klog__segment_load_meta(s);
    if (rc == KLOG_ECORRUPT || rc == KLOG_EVERSION || rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    char *lp = klog__asprintf("%s.log", s->stem);
    if (!lp)
        return -ENOMEM;
    struct stat st;
    int ok = stat(lp, &st) == 0 && st.st_size == atomic_load(&s->size);
    if (!ok && st.st_size > atomic_load(&s->size))
        ok = trim_past_seal(s, lp, st.st_size);
    free(lp);
    if (!ok) {
        s->meta_loaded = 0;
        s->sealed = 0;
    }
    return ok;
}

/* Scan one segment (recover), reporting what it did. */
static int recover_segment(struct klog_partition *p, klog__segment_t *s, int64_t *truncated)
{
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    rc = klog__segment_recover(s, 1, truncated);
    if (!rc && atomic_load(&s->size) > 0)
        rc = klog__fdatasync(s->fd);
    klog__segment_unpin(s);
    if (!rc)
        klog__log(&p->log->cfg.logger, KLOG_LOG_INFO,
                  "recovery: %s.log scanned: %lld valid bytes, %lld truncated, indexes rebuilt",
                  s->stem, (long long)atomic_load(&s->size), (long long)*truncated);
    return rc;
}

/* Rebuild the indexes (and seal) of a sealed, inactive segment. */
static int rebuild_sealed(struct klog_partition *p, klog__segment_t *s, const char *why)
{
    klog__log(&p->log->cfg.logger, KLOG_LOG_WARN, "recovery: %s: %s; rebuilding indexes", s->stem,
              why);
    int64_t truncated = 0;
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    rc = klog__segment_recover(s, 0, &truncated);
    if (!rc)
        rc = klog__segment_seal(s);
    klog__segment_unpin(s);
    if (!rc) {
        atomic_fetch_add(&p->log->stat_rebuilt_indexes, 1);
        s->ix_checked = 1;
        /* The mapping was made writable for the rebuild: reopen read-only. */
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->pins) == 0)
            klog__segment_close_files(s);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* Read-only openers learn the log end from the writer's state file, or,
 * when there is none, by walking the batch headers of the last segment. */
static int rdonly_tail(klog__segment_t *s)
{
    int rc = klog__segment_pin(s, 0);
    if (rc)
        return rc;
    int64_t limit = klog__segment_readable(s), pos = 0, next = s->base;
    uint8_t h[KLOG_BATCH_HEADER_SIZE];
    while (pos + (int64_t)sizeof h <= limit) {
        if (klog__pread_full(s->fd, h, sizeof h, (off_t)pos) < (ssize_t)sizeof h)
            break;
        int32_t blen = (int32_t)klog__load32(h + 8);
        if (blen < KLOG_BATCH_HEADER_SIZE - 12 || h[16] != 2 || pos + blen + 12 > limit)
            break;
        next = (int64_t)klog__load64(h) + (int32_t)klog__load32(h + 23) + 1;
        pos += blen + 12;
    }
    klog__segment_unpin(s);
    atomic_store(&s->size, pos);
    atomic_store(&s->next_offset, next);
    return 0;
}

int klog__partition_load(struct klog_partition *p)
{
    klog__log_t *log = p->log;
    int rdonly = klog__is_rdonly(log);
    seg_files_t *files = NULL;
    size_t nfiles = 0;
    klog__seglist_t *list = NULL;
    int rc;

    if (!rdonly) {
        rc = klog__mkdir(p->dir, 0755);
        if (rc)
            return rc;
    }
    rc = state_open(p);
    if (rc)
        return rc;
    rc = list_dir(p, &files, &nfiles);
    if (rc)
        return rc;

    int64_t ckpt_start = atomic_load(&p->log_start);
    if (nfiles == 0) {
        if (rdonly) {
            list = seglist_new(0);
            rc = list ? 0 : -ENOMEM;
            if (!rc) {
                publish_list(p, list);
                p->loaded = 1;
            }
            free(files);
            return rc;
        }
        files = klog__realloc(files, sizeof *files);
        if (!files)
            return -ENOMEM;
        files[0].base = ckpt_start;
        files[0].has = 0;
        nfiles = 1;
    }
    list = seglist_new(nfiles);
    if (!list) {
        rc = -ENOMEM;
        goto fail;
    }
    list->n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        klog__segment_t *s;
        rc = klog__segment_new(p, files[i].base, &s);
        if (rc)
            goto fail;
        list->seg[list->n++] = s;
    }

    if (rdonly) {
        rc = rdonly_tail(list->seg[list->n - 1]);
        if (rc)
            goto fail;
    } else {
        for (size_t i = 0; i < list->n; i++) {
            klog__segment_t *s = list->seg[i];
            int last = i + 1 == list->n;
            unsigned has = files[i].has;
            int trusted = (has & 8) ? seal_matches(s) : 0;
            if (trusted < 0) {
                rc = trusted;
                klog__log(&log->cfg.logger, KLOG_LOG_ERROR, "%s.seal: %s", s->stem,
                          klog_strerror(rc));
                goto fail;
            }
            if (trusted && (has & 6) != 6) {
                rc = rebuild_sealed(p, s, "index file missing");
                if (rc)
                    goto fail;
                continue;
            }
            if (trusted) {
                if (last) {
                    /* Appends will change it: the seal goes first. */
                    rc = klog__segment_unseal(s);
                    if (rc)
                        goto fail;
                    s->expect_ix = 1; /* check its indexes when first opened */
                    s->meta_loaded = 1;
                    s->dirty_seal = 0;
                }
                continue;
            }
            int64_t truncated = 0;
            if (has == 0) {
                s->meta_loaded = 1; /* a new partition: nothing to recover */
                continue;
            }
            rc = recover_segment(p, s, &truncated);
            if (rc)
                goto fail;
            if (!last) {
                rc = klog__segment_pin(s, 1);
                if (!rc) {
                    rc = klog__segment_seal(s);
                    klog__segment_unpin(s);
                }
                if (rc)
                    goto fail;
            }
            if (truncated && !last) {
                /* Kafka's rule: what follows a damaged segment is discarded. */
                for (size_t j = i + 1; j < list->n; j++) {
                    klog__log(&log->cfg.logger, KLOG_LOG_WARN,
                              "recovery: deleting %s.log after damaged segment", list->seg[j]->stem);
                    klog__segment_mark_deleted(list->seg[j]);
                    klog__segment_unref(list->seg[j]);
                }
                list->n = i + 1;
                break;
            }
        }
    }

    klog__segment_t *active = list->seg[list->n - 1];
    int64_t end = atomic_load(&active->next_offset);
    int64_t first_base = list->seg[0]->base;
    int64_t start = ckpt_start > first_base ? ckpt_start : first_base;
    if (start > end)
        start = end;
    atomic_store(&p->log_start, start);
    atomic_store(&p->log_end, end);
    atomic_store(&p->recovery_point, end);
    if (rdonly && p->state) {
        atomic_store(&p->hw, atomic_load(&p->state->high_watermark));
    } else {
        atomic_store(&p->hw, end);
    }
    active->created_ms = klog__now_ms();
    if (!rdonly && active->meta_loaded && !active->sealed && atomic_load(&active->size) == 0 &&
        files[nfiles - 1].has == 0) {
        /* Brand-new partition: create its files now so the layout is complete. */
        rc = klog__segment_pin(active, 1);
        if (rc)
            goto fail;
        klog__segment_unpin(active);
        rc = klog__fsync_dir(p->dir);
        if (rc)
            goto fail;
    }
    free(files);
    publish_list(p, list);
    if (p->state)
        p->seen_generation = atomic_load(&p->state->generation);
    if (!rdonly)
        publish_offsets(p);
    p->loaded = 1;
    return 0;
fail:
    free(files);
    klog__seglist_unref(list);
    return rc;
}

int klog__partition_refresh(struct klog_partition *p)
{
    if (!klog__is_rdonly(p->log))
        return 0;
    if (p->state && atomic_load(&p->state->generation) == p->seen_generation)
        return 0;
    pthread_mutex_lock(&p->append_mu);
    uint64_t gen = p->state ? atomic_load(&p->state->generation) : 0;
    seg_files_t *files = NULL;
    size_t n = 0;
    int rc = list_dir(p, &files, &n);
    klog__seglist_t *old = NULL, *nl = NULL;
    if (rc)
        goto out;
    old = klog__partition_segments(p);
    nl = seglist_new(n);
    if (!nl) {
        rc = -ENOMEM;
        goto out;
    }
    /* Reuse segments we already have (they may be pinned by readers). */
    for (size_t i = 0; i < n; i++) {
        klog__segment_t *s = NULL;
        for (size_t j = 0; old && j < old->n; j++)
            if (old->seg[j]->base == files[i].base && !old->seg[j]->deleted) {
                s = old->seg[j];
                klog__segment_ref(s);
                break;
            }
        if (!s && (rc = klog__segment_new(p, files[i].base, &s)) != 0) {
            nl->n = i;
            goto out;
        }
        nl->seg[i] = s;
    }
    publish_list(p, nl);
    nl = NULL;
    p->seen_generation = gen;
    if (p->state)
        atomic_store(&p->log_start, atomic_load(&p->state->log_start));
out:
    pthread_mutex_unlock(&p->append_mu);
    klog__seglist_unref(nl);
    klog__seglist_unref(old);
    free(files);
    return rc;
}

int klog__partition_open(klog__log_t *log, struct klog_topic *t, int32_t id,
                         struct klog_partition **out)
{
    struct klog_partition *p = klog__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->topic = t;
    p->log = log;
    p->id = id;
    p->dir = klog__asprintf("%s/%s-%d", log->dir, t->meta.name, (int)id);
    if (!p->dir) {
        free(p);
        return -ENOMEM;
    }
    pthread_mutex_init(&p->append_mu, NULL);
    pthread_mutex_init(&p->list_mu, NULL);
    pthread_mutex_init(&p->sync_mu, NULL);
    pthread_cond_init(&p->sync_cv, NULL);
    pthread_mutex_init(&p->wait_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->event_fd, -1);
    p->last_flush_ms = klog__now_ms();
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ roll */

static int create_segment(struct klog_partition *p, int64_t base, klog__segment_t **out)
{
    klog__segment_t *s;
    int rc = klog__segment_new(p, base, &s);
    if (rc)
        return rc;
    s->meta_loaded = 1;
    /* A leftover empty file at this base (an earlier failed roll) is reused. */
    rc = klog__segment_pin(s, 1);
    if (rc) {
        klog__segment_unref(s);
        return rc;
    }
    int64_t len = klog__fsize(s->fd);
    if (len > 0) {
        klog__segment_unpin(s);
        klog__segment_unref(s);
        return KLOG_ECORRUPT; /* never roll onto a non-empty segment */
    }
    klog__segment_unpin(s);
    rc = klog__fsync_dir(p->dir);
    if (rc) {
        /* A failed fsync cannot be retried safely: the new file's entry
         * may never reach the disk, and a later directory fsync would
         * not report it again. */
        atomic_store(&p->failed, 1);
        klog__segment_unref(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Roll to a new active segment at `base`; append_mu held. */
static int roll(struct klog_partition *p, klog__seglist_t *l, int64_t base)
{
    klog__segment_t *old = l->seg[l->n - 1], *s;
    int rc = create_segment(p, base, &s);
    if (rc)
        return rc;
    klog__seglist_t *nl = seglist_slice(l, 0, l->n, s);
    if (!nl) {
        klog__segment_mark_deleted(s);
        klog__segment_unref(s);
        return -ENOMEM;
    }
    publish_list(p, nl);
    klog__segment_ref(old);
    klog__log_queue_seal(p->log, old);
    return 0;
}

static int should_roll(struct klog_partition *p, klog__segment_t *s, int64_t size, int64_t last,
                       int64_t max_ts)
{
    int64_t cur = atomic_load(&s->size);
    if (cur == 0)
        return 0;
    if (cur > klog__topic_conf(p->topic, KLOG_CONF_SEGMENT_BYTES) - size)
        return 1;
    int64_t seg_ms = klog__topic_conf(p->topic, KLOG_CONF_SEGMENT_MS);
    int64_t waited = s->first_batch_ts >= 0 && max_ts >= 0 ? max_ts - s->first_batch_ts
                                                            : klog__now_ms() - s->created_ms;
    if (waited > seg_ms)
        return 1;
    if (klog__index_full(&s->oix) || klog__index_full(&s->tix))
        return 1;
    return last - s->base > INT32_MAX;
}

/* ------------------------------------------------------------ append */

/*
 * Write one or more batches (len bytes, offsets [first, last], count
 * records, max timestamp). hdr, when non-NULL, replaces the first 8 bytes
 * (the base offset) of data. append_mu held.
 */
static int write_locked(struct klog_partition *p, const uint8_t *hdr, const uint8_t *data,
                        size_t len, int64_t first, int64_t last, int64_t max_ts, int64_t count)
{
    klog__seglist_t *l = p->segs; /* stable: only append_mu holders replace it */
    klog__segment_t *s = l->seg[l->n - 1];
    /* Pin first: the roll test reads the mapped indexes. */
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    if (should_roll(p, s, (int64_t)len, last, max_ts) || first - s->base > INT32_MAX) {
        klog__segment_unpin(s);
        int64_t end = atomic_load(&p->log_end);
        rc = roll(p, l, first > end ? first : end);
        if (rc)
            return rc;
        l = p->segs;
        s = l->seg[l->n - 1];
        rc = klog__segment_pin(s, 1);
        if (rc)
            return rc;
    }
    if (s->sealed || s->dirty_seal) {
        rc = klog__segment_unseal(s);
        if (rc)
            goto out;
        s->dirty_seal = 0;
    }
    int64_t pos = atomic_load(&s->size);
    struct iovec iov[2];
    int iovcnt = 0;
    if (hdr) {
        iov[iovcnt++] = (struct iovec){(void *)hdr, 8};
        iov[iovcnt++] = (struct iovec){(void *)(data + 8), len - 8};
    } else {
        iov[iovcnt++] = (struct iovec){(void *)data, len};
    }
    rc = klog__pwritev_all(s->fd, iov, iovcnt, (off_t)pos);
    if (rc) {
        /* Remove whatever part landed; the partition is failed either way. */
        klog__ftruncate(s->fd, (off_t)pos);
        atomic_store(&p->failed, 1);
        klog__log(&p->log->cfg.logger, KLOG_LOG_ERROR, "append: %s.log: write failed: %s",
                  s->stem, klog_strerror(rc));
        goto out;
    }
    atomic_store(&s->unsynced, 1);
    /* The seal's digest is taken off the append path (the sealer reads the
     * rolled file on the other core); a digest left by a recovery scan no
     * longer covers the file. */
    klog__segment_digest_drop(s);
    if (pos == 0)
        s->first_batch_ts = max_ts;
    /* As Kafka's LogSegment.append: the max timestamp takes this batch in
     * before the index check, so a time entry written now covers it. */
    if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
        s->max_ts_off = last;
    }
    int64_t interval = klog__topic_conf(p->topic, KLOG_CONF_INDEX_INTERVAL_BYTES);
    if (s->bytes_since_index > interval) {
        klog__offidx_append(&s->oix, last, (uint32_t)pos);
        klog__timeidx_append(&s->tix, s->max_ts, s->max_ts_off);
        s->bytes_since_index = 0;
    }
    s->bytes_since_index += (int64_t)len;
    atomic_store(&s->next_offset, last + 1);
    atomic_store_explicit(&s->size, pos + (int64_t)len, memory_order_release);
    atomic_store_explicit(&p->log_end, last + 1, memory_order_release);
    atomic_fetch_add(&p->appended_msgs, count);
    if (p->state)
        atomic_store(&p->state->log_end, last + 1);
out:
    klog__segment_unpin(s);
    return rc;
}

static int check_writable(struct klog_partition *p)
{
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    if (p->topic->deleted)
        return KLOG_ENOTOPIC;
    return 0;
}

/* After an append: visibility and the flush policy (outside append_mu). */
static int after_append(struct klog_partition *p)
{
    int64_t every = klog__topic_conf(p->topic, KLOG_CONF_FLUSH_MESSAGES);
    int flushed_vis = klog__topic_conf(p->topic, KLOG_CONF_VISIBILITY) == KLOG_VISIBLE_FLUSHED;
    if (every > 0 &&
        atomic_load(&p->appended_msgs) - atomic_load(&p->flushed_msgs) >= every)
        return klog_flush(p);
    if (!flushed_vis)
        set_hw(p, atomic_load(&p->log_end));
    return 0;
}

int klog__partition_append_encoded(struct klog_partition *p, const uint8_t *batch, size_t len,
                                   int64_t *base_out)
{
    int rc = check_writable(p);
    if (rc)
        return rc;
    klog_batch_info_t bi;
    rc = klog_batch_header(batch, len, &bi);
    if (rc)
        return rc;
    if (bi.size != len)
        return KLOG_EBATCHSIZE;
    int64_t maxb = klog__topic_conf(p->topic, KLOG_CONF_MAX_BATCH_BYTES);
    int64_t segb = klog__topic_conf(p->topic, KLOG_CONF_SEGMENT_BYTES);
    if ((int64_t)len > maxb || (int64_t)len > segb)
        return KLOG_ETOOLARGE;
    if (bi.last_offset_delta < 0)
        return KLOG_EOFFSETDELTA;
    uint8_t hdr[8];
    pthread_mutex_lock(&p->append_mu);
    int64_t base = atomic_load(&p->log_end);
    klog__store64(hdr, (uint64_t)base);
    rc = write_locked(p, hdr, batch, len, base, base + bi.last_offset_delta, bi.max_timestamp,
                      bi.record_count);
    pthread_mutex_unlock(&p->append_mu);
    if (rc)
        return rc;
    if (base_out)
        *base_out = base;
    return after_append(p);
}

int klog_append_batch(klog_partition_t *p, const void *batch, size_t len, int64_t *base_offset)
{
    if (!p || !batch)
        return -EINVAL;
    int rc = klog_batch_validate(batch, len, KLOG_VALIDATE_HEADER | KLOG_VALIDATE_RECORDS, NULL);
    if (rc)
        return rc;
    return klog__partition_append_encoded(p, batch, len, base_offset);
}

/* Per-thread builder cache: klog_append encodes without allocating. The
 * key's destructor frees a thread's builders when it exits. */
typedef struct tl_builders {
    klog_builder_t *b[5];
} tl_builders_t;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_free(void *v)
{
    tl_builders_t *t = v;
    for (int i = 0; i < 5; i++)
        klog_builder_free(t->b[i]);
    free(t);
}

static void tl_init(void) { pthread_key_create(&tl_key, tl_free); }

static tl_builders_t *tl_get(void)
{
    pthread_once(&tl_once, tl_init);
    tl_builders_t *t = pthread_getspecific(tl_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (t && pthread_setspecific(tl_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

int klog_append(klog_partition_t *p, const klog_record_t *recs, size_t n, int64_t *base_offset)
{
    if (!p || (!recs && n))
        return -EINVAL;
    if (n == 0)
        return KLOG_EEMPTY;
    int rc = check_writable(p);
    if (rc)
        return rc;
    int codec = (int)klog__topic_conf(p->topic, KLOG_CONF_COMPRESSION);
    tl_builders_t *tl = tl_get();
    if (!tl)
        return -ENOMEM;
    klog_builder_t *b = tl->b[codec];
    if (!b) {
        rc = klog_builder_new(codec, &b);
        if (rc)
            return rc;
        tl->b[codec] = b;
    }
    klog_builder_reset(b);
    for (size_t i = 0; i < n; i++) {
        rc = klog_builder_add(b, &recs[i]);
        if (rc)
            goto out;
    }
    const void *batch;
    size_t len = 0;
    rc = klog_builder_finish(b, &batch, &len);
    if (rc)
        goto out;
    rc = klog__partition_append_encoded(p, batch, len, base_offset);
out:
    klog_builder_reset(b);
    if (len > (8u << 20)) {
        /* Do not keep a huge buffer alive per thread. */
        klog_builder_free(b);
        tl->b[codec] = NULL;
    }
    return rc;
}

int klog_append_follower(klog_partition_t *p, const void *batches, size_t len)
{
    if (!p || (!batches && len))
        return -EINVAL;
    int rc = check_writable(p);
    if (rc)
        return rc;
    if (len == 0)
        return KLOG_EEMPTY;
    /* Validate everything first: all or nothing. */
    const uint8_t *b = batches;
    size_t off = 0;
    int64_t prev_next = -1, first = -1, last = -1, max_ts = -1, count = 0;
    while (off < len) {
        klog_batch_info_t bi;
        rc = klog_batch_validate(b + off, len - off, KLOG_VALIDATE_HEADER, &bi);
        if (rc == 0 && bi.size < len - off) {
            /* validate() wants exactly one batch; re-check the slice. */
            rc = klog_batch_validate(b + off, bi.size, KLOG_VALIDATE_HEADER, &bi);
        } else if (rc == KLOG_EBATCHSIZE || rc == KLOG_ETRUNCATED) {
            klog_batch_info_t hi;
            if (klog_batch_header(b + off, len - off, &hi) == 0 && hi.size < len - off)
                rc = klog_batch_validate(b + off, hi.size, KLOG_VALIDATE_HEADER, &bi);
        }
        if (rc)
            return rc;
        if (bi.last_offset_delta < 0 || bi.base_offset < 0 ||
            (prev_next >= 0 && bi.base_offset < prev_next))
            return KLOG_ESEQUENCE;
        if (first < 0)
            first = bi.base_offset;
        prev_next = bi.base_offset + bi.last_offset_delta + 1;
        last = prev_next - 1;
        if (bi.max_timestamp > max_ts)
            max_ts = bi.max_timestamp;
        count += bi.record_count;
        off += bi.size;
    }
    int64_t maxb = klog__topic_conf(p->topic, KLOG_CONF_SEGMENT_BYTES);
    if ((int64_t)len > maxb)
        return KLOG_ETOOLARGE;
    pthread_mutex_lock(&p->append_mu);
    if (first < atomic_load(&p->log_end)) {
        pthread_mutex_unlock(&p->append_mu);
        return KLOG_ESEQUENCE;
    }
    /* Batches are written one by one so each gets its index entries and
     * rolls happen at batch boundaries. */
    off = 0;
    while (off < len && !rc) {
        klog_batch_info_t bi;
        klog_batch_header(b + off, len - off, &bi);
        int64_t bl = bi.base_offset + bi.last_offset_delta;
        rc = write_locked(p, NULL, b + off, bi.size, bi.base_offset, bl, bi.max_timestamp,
                          bi.record_count);
        off += bi.size;
    }
    pthread_mutex_unlock(&p->append_mu);
    if (rc)
        return rc;
    (void)last;
    (void)max_ts;
    (void)count;
    return after_append(p);
}

/* ------------------------------------------------------------ flush */

int klog_flush(klog_partition_t *p)
{
    if (!p)
        return -EINVAL;
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    int64_t target = atomic_load(&p->log_end);
    int64_t msgs = atomic_load(&p->appended_msgs);
    int rc = 0;
    pthread_mutex_lock(&p->sync_mu);
    for (;;) {
        if (atomic_load(&p->failed)) {
            rc = KLOG_EFAILED;
            break;
        }
        if (atomic_load(&p->recovery_point) >= target)
            break;
        if (p->syncing) {
            pthread_cond_wait(&p->sync_cv, &p->sync_mu);
            continue;
        }
        p->syncing = 1;
        pthread_mutex_unlock(&p->sync_mu);

        /* Everything written before this point is covered by the fsyncs. */
        int64_t end = atomic_load(&p->log_end);
        int64_t end_msgs = atomic_load(&p->appended_msgs);
        klog__seglist_t *l = klog__partition_segments(p);
        for (size_t i = 0; i < l->n && !rc; i++) {
            klog__segment_t *s = l->seg[i];
            if (!atomic_load(&s->unsynced))
                continue;
            atomic_store(&s->unsynced, 0);
            rc = klog__segment_pin(s, 0);
            if (!rc) {
                rc = klog__fdatasync(s->fd);
                klog__segment_unpin(s);
            }
            if (rc)
                atomic_store(&s->unsynced, 1);
        }
        klog__seglist_unref(l);
        atomic_fetch_add(&p->fsyncs, 1);

        pthread_mutex_lock(&p->sync_mu);
        p->syncing = 0;
        if (rc) {
            atomic_store(&p->failed, 1);
            klog__log(&p->log->cfg.logger, KLOG_LOG_ERROR, "flush: %s: fsync failed: %s", p->dir,
                      klog_strerror(rc));
        } else {
            int64_t cur = atomic_load(&p->recovery_point);
            if (end > cur)
                atomic_store(&p->recovery_point, end);
            if (end_msgs > atomic_load(&p->flushed_msgs))
                atomic_store(&p->flushed_msgs, end_msgs);
            p->last_flush_ms = klog__now_ms();
        }
        pthread_cond_broadcast(&p->sync_cv);
        if (rc)
            break;
    }
    pthread_mutex_unlock(&p->sync_mu);
    (void)msgs;
    if (!rc) {
        if (klog__topic_conf(p->topic, KLOG_CONF_VISIBILITY) == KLOG_VISIBLE_FLUSHED)
            set_hw(p, atomic_load(&p->recovery_point));
        else
            set_hw(p, atomic_load(&p->log_end));
    }
    return rc;
}

void klog__partition_tick(struct klog_partition *p, int64_t now_ms)
{
    int64_t ms = klog__topic_conf(p->topic, KLOG_CONF_FLUSH_MS);
    if (ms <= 0 || atomic_load(&p->failed))
        return;
    if (atomic_load(&p->log_end) > atomic_load(&p->recovery_point) &&
        now_ms - p->last_flush_ms >= ms)
        klog_flush(p);
}

/* ------------------------------------------------------------ offsets */

int klog_partition_offsets(klog_partition_t *p, klog_offsets_t *out)
{
    if (!p || !out)
        return -EINVAL;
    int rc = klog__partition_refresh(p);
    if (rc)
        return rc;
    klog__seglist_t *l = klog__partition_segments(p);
    int rdonly = klog__is_rdonly(p->log);
    out->log_start = klog__partition_log_start(p);
    out->high_watermark = klog__partition_hw(p);
    out->log_end = rdonly && p->state ? atomic_load(&p->state->log_end) : atomic_load(&p->log_end);
    out->recovery_point = atomic_load(&p->recovery_point);
    out->segments = l ? (int64_t)l->n : 0;
    out->bytes = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        klog__segment_t *s = l->seg[i];
        if (!s->meta_loaded || rdonly) {
            char *lp = klog__asprintf("%s.log", s->stem);
            struct stat st;
            if (lp && stat(lp, &st) == 0)
                out->bytes += st.st_size;
            free(lp);
        } else {
            out->bytes += atomic_load(&s->size);
        }
    }
    klog__seglist_unref(l);
    return 0;
}

const char *klog_partition_topic(const klog_partition_t *p) { return p->topic->meta.name; }
int32_t klog_partition_id(const klog_partition_t *p) { return p->id; }

int klog_set_high_watermark(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    if (offset < atomic_load(&p->hw) || offset > atomic_load(&p->log_end))
        return KLOG_EOFFSET;
    set_hw(p, offset);
    return 0;
}

int klog_partition_wait(klog_partition_t *p, int64_t offset, int timeout_ms)
{
    if (!p)
        return -EINVAL;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : klog__mono_ns() + (int64_t)timeout_ms * 1000000;
    if (klog__is_rdonly(p->log)) {
        /* Another process writes: poll its published watermark. */
        int64_t sleep_us = 200;
        for (;;) {
            if (p->state && atomic_load(&p->state->high_watermark) > offset)
                return 1;
            if (!p->state) {
                int rc = state_open(p);
                if (rc)
                    return rc;
                if (p->state)
                    continue;
            }
            int64_t now = klog__mono_ns();
            if (now >= deadline)
                return 0;
            int64_t left_us = (deadline - now) / 1000;
            int64_t us = sleep_us < left_us ? sleep_us : left_us;
            struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
            nanosleep(&ts, NULL);
            if (sleep_us < 5000)
                sleep_us *= 2;
        }
    }
    if (atomic_load(&p->hw) > offset)
        return 1;
    if (timeout_ms == 0)
        return 0;
    pthread_mutex_lock(&p->wait_mu);
    atomic_fetch_add(&p->waiters, 1);
    int ready = 0;
    for (;;) {
        if (atomic_load(&p->hw) > offset) {
            ready = 1;
            break;
        }
        if (p->topic->deleted || p->closing)
            break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&p->wait_cv, &p->wait_mu);
        } else {
            int64_t now = klog__mono_ns();
            if (now >= deadline)
                break;
            struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
            pthread_cond_timedwait(&p->wait_cv, &p->wait_mu, &ts);
        }
    }
    atomic_fetch_sub(&p->waiters, 1);
    pthread_mutex_unlock(&p->wait_mu);
    return ready;
}

/* ------------------------------------------------------------ retention */

/* Max timestamp of an inactive segment (seal), or the .log mtime. */
static int64_t segment_max_ts(klog__segment_t *s)
{
    if (klog__segment_load_meta(s) == 0 && s->max_ts >= 0)
        return s->max_ts;
    char *lp = klog__asprintf("%s.log", s->stem);
    struct stat st;
    int64_t ts = -1;
    if (lp && stat(lp, &st) == 0)
        ts = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    free(lp);
    return ts;
}

static int64_t segment_size(klog__segment_t *s)
{
    if (s->meta_loaded)
        return atomic_load(&s->size);
    if (klog__segment_load_meta(s) == 0)
        return atomic_load(&s->size);
    char *lp = klog__asprintf("%s.log", s->stem);
    struct stat st;
    int64_t n = lp && stat(lp, &st) == 0 ? st.st_size : 0;
    free(lp);
    return n;
}

/* Delete the first `k` segments (append_mu held). */
static int drop_prefix(struct klog_partition *p, size_t k)
{
    klog__seglist_t *l = p->segs;
    if (k == 0)
        return 0;
    klog__seglist_t *nl = seglist_slice(l, k, l->n, NULL);
    if (!nl)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++) {
        klog__log(&p->log->cfg.logger, KLOG_LOG_INFO, "retention: deleting %s.log",
                  l->seg[i]->stem);
        klog__segment_mark_deleted(l->seg[i]);
    }
    int64_t first = nl->seg[0]->base;
    if (atomic_load(&p->log_start) < first)
        atomic_store(&p->log_start, first);
    publish_list(p, nl);
    publish_offsets(p);
    return (int)k;
}

int klog__partition_retention(struct klog_partition *p, int64_t now_ms)
{
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    int64_t rms = klog__topic_conf(p->topic, KLOG_CONF_RETENTION_MS);
    int64_t rbytes = klog__topic_conf(p->topic, KLOG_CONF_RETENTION_BYTES);
    pthread_mutex_lock(&p->append_mu);
    klog__seglist_t *l = p->segs;
    int64_t hw = atomic_load(&p->hw), start = atomic_load(&p->log_start);
    int64_t total = 0;
    if (rbytes >= 0)
        for (size_t i = 0; i < l->n; i++)
            total += segment_size(l->seg[i]);
    size_t k = 0;
    while (k + 1 < l->n) { /* never the active segment */
        klog__segment_t *s = l->seg[k];
        int64_t upper = l->seg[k + 1]->base;
        if (upper > hw)
            break;
        int del = upper <= start;
        if (!del && rms >= 0 && now_ms - segment_max_ts(s) > rms)
            del = 1;
        int64_t sz = segment_size(s);
        if (!del && rbytes >= 0 && total - rbytes - sz >= 0)
            del = 1;
        if (!del)
            break;
        total -= sz;
        k++;
    }
    int rc = drop_prefix(p, k);
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

int klog_delete_records(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    pthread_mutex_lock(&p->append_mu);
    int rc = 0;
    if (offset > atomic_load(&p->hw) || offset < 0) {
        rc = KLOG_EOFFSET;
        goto out;
    }
    if (offset <= atomic_load(&p->log_start))
        goto out;
    atomic_store(&p->log_start, offset);
    klog__seglist_t *l = p->segs;
    size_t k = 0;
    while (k + 1 < l->n && l->seg[k + 1]->base <= offset)
        k++;
    rc = drop_prefix(p, k);
    if (rc >= 0)
        rc = 0;
    publish_offsets(p);
out:
    pthread_mutex_unlock(&p->append_mu);
    if (!rc)
        rc = klog__log_write_checkpoints(p->log);
    return rc;
}

/* ------------------------------------------------------------ truncate */

int klog_truncate(klog_partition_t *p, int64_t offset)
{
    if (!p)
        return -EINVAL;
    if (klog__is_rdonly(p->log))
        return KLOG_EREADONLY;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    pthread_mutex_lock(&p->append_mu);
    int rc = 0;
    klog__seglist_t *l = p->segs;
    if (offset < atomic_load(&p->log_start)) {
        rc = KLOG_EOFFSET;
        goto out;
    }
    if (offset >= atomic_load(&p->log_end))
        goto out;
    /* The segment holding offset: last with base <= offset. */
    size_t k = 0;
    while (k + 1 < l->n && l->seg[k + 1]->base <= offset)
        k++;
    for (size_t i = k; i < l->n; i++)
        if (atomic_load(&l->seg[i]->lease_pins) > 0) {
            rc = KLOG_EBUSY;
            goto out;
        }
    klog__segment_t *s = l->seg[k];
    klog__log_wait_seals(p->log, p); /* the sealer must not hold s */
    rc = klog__segment_pin(s, 1);
    if (rc)
        goto out;
    int64_t pos = 0, bsize, bbase = offset, blast;
    int64_t limit = atomic_load(&s->size);
    int found = klog__segment_find(s, offset, limit, &pos, &bsize, &bbase, &blast);
    if (found < 0) {
        rc = found;
        klog__segment_unpin(s);
        goto out;
    }
    if (!found) {
        pos = limit;
        bbase = offset;
    }
    if (s->sealed)
        klog__segment_unseal(s);
    rc = klog__ftruncate(s->fd, (off_t)pos);
    if (rc) {
        atomic_store(&p->failed, 1);
        klog__segment_unpin(s);
        goto out;
    }
    int64_t new_end = bbase < offset ? bbase : offset;
    klog__index_truncate_offset(&s->oix, new_end);
    klog__index_truncate_offset(&s->tix, new_end);
    atomic_store(&s->size, pos);
    /* Re-derive the segment's max timestamp and counters from its data. */
    int64_t truncated = 0;
    rc = klog__segment_recover(s, 1, &truncated);
    klog__segment_unpin(s);
    if (rc) {
        atomic_store(&p->failed, 1);
        goto out;
    }
    if (atomic_load(&s->next_offset) < new_end)
        atomic_store(&s->next_offset, new_end);
    klog__seglist_t *nl = seglist_slice(l, 0, k + 1, NULL);
    if (!nl) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = k + 1; i < l->n; i++)
        klog__segment_mark_deleted(l->seg[i]);
    s->created_ms = klog__now_ms();
    atomic_fetch_add(&p->truncations, 1);
    publish_list(p, nl);
    atomic_store(&p->log_end, new_end);
    if (atomic_load(&p->hw) > new_end)
        atomic_store(&p->hw, new_end);
    if (atomic_load(&p->recovery_point) > new_end)
        atomic_store(&p->recovery_point, new_end);
    atomic_store(&s->unsynced, 1);
    publish_offsets(p);
    rc = klog__fsync_dir(p->dir);
out:
    pthread_mutex_unlock(&p->append_mu);
    return rc;
}

/* ------------------------------------------------------------ close */

/* Clean shutdown: flush, then seal the active segment so the next open
 * trusts it without scanning. */
int klog__partition_shutdown(struct klog_partition *p)
{
    if (!p->loaded || klog__is_rdonly(p->log))
        return 0;
    if (atomic_load(&p->failed))
        return KLOG_EFAILED;
    int rc = klog_flush(p);
    klog__seglist_t *l = p->segs;
    if (!rc && l && l->n) {
        klog__segment_t *s = l->seg[l->n - 1];
        rc = klog__segment_pin(s, 1);
        if (!rc) {
            rc = klog__segment_seal(s);
            klog__segment_unpin(s);
        }
    }
    return rc;
}

void klog__partition_close(struct klog_partition *p)
{
    if (!p)
        return;
    p->closing = 1;
    pthread_mutex_lock(&p->wait_mu);
    pthread_cond_broadcast(&p->wait_cv);
    pthread_mutex_unlock(&p->wait_mu);
    klog__seglist_unref(p->segs);
    p->segs = NULL;
    if (p->state)
        klog__munmap(p->state, sizeof *p->state);
    if (atomic_load(&p->event_fd) >= 0)
        close(atomic_load(&p->event_fd));
    pthread_mutex_destroy(&p->append_mu);
    pthread_mutex_destroy(&p->list_mu);
    pthread_mutex_destroy(&p->sync_mu);
    pthread_cond_destroy(&p->sync_cv);
    pthread_mutex_destroy(&p->wait_mu);
    pthread_cond_destroy(&p->wait_cv);
    free(p->dir);
    free(p);
}
