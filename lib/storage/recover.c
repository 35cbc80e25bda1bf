/*
 * recover.c — loading a partition: list its directory, decide per segment
 * whether to trust its seal, rebuild its indexes or scan it, and publish
 * the result; and, for read-only openers, following another process's
 * segment list.
 *
 * Recovery at load: an interrupted compaction's .swap is finished or its
 * .cleaned rolled back (cleaner_swap.c); then leftover .deleted, .tmp files and
 * orphan indexes are removed (an orphan seal covering offsets above the log
 * start is missing data: the load fails, naming it); segments whose seal is valid and matches the
 * file size are trusted; every other segment is scanned with CRC checks,
 * its indexes rebuilt and a torn or corrupt tail truncated (and, as Kafka
 * does, segments after a truncated one are deleted) — except in a rolled
 * segment whose data was durable (durable_segment()): there damage is
 * kept, the offsets it costs are logged, and later segments stay. Missing
 * or inconsistent indexes of sealed segments are rebuilt from the .log.
 *
 * Rolled segments with a seal and both indexes are trusted without reading
 * anything: their seal is checked at first use (klog__segment_ensure_meta),
 * with the outcome an open's check would have had, so an open costs a few
 * calls per partition, not per segment. Scans fsync nothing: the recovery point
 * stays at the first scanned segment's base, the scanned rolled segments
 * go to the sealer in order, the active one is covered by the next flush.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/cleaner.h"
#include "storage/files.h"
#include "storage/partition_impl.h"

/* Which of a segment's files exist. */
enum {
    HAS_LOG = 1,
    HAS_INDEX = 2,
    HAS_TIMEINDEX = 4,
    HAS_SEAL = 8,
    HAS_INDEXES = HAS_INDEX | HAS_TIMEINDEX,
};

typedef struct seg_files {
    int64_t base;
    unsigned has; /* HAS_* */
} seg_files_t;

static int cmp_files(const void *a, const void *b)
{
    int64_t x = ((const seg_files_t *)a)->base, y = ((const seg_files_t *)b)->base;
    return x < y ? -1 : x > y;
}

/* Parse "<20 digits><ext>" into base and HAS_* kind; 0 if not a segment file. */
static unsigned parse_name(const char *name, int64_t *base)
{
    static const struct {
        const char *ext;
        unsigned bit;
    } kinds[] = {{".log", HAS_LOG}, {".index", HAS_INDEX}, {".timeindex", HAS_TIMEINDEX},
                 {".seal", HAS_SEAL}};
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

typedef struct listing {
    klog__partition_t *p;
    seg_files_t *v;
    size_t n, cap;
    int swaps; /* stop at a compaction's file (.log.swap, .log.cleaned,
                  .cleanrange): the cleaner must see it first */
    klog__ls_files_t *state; /* the log state's files, when wanted */
} listing_t;

#define LIST_SWAP 1 /* list_dir: a compaction file came first */

static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

static int list_one(void *ctx, const char *name)
{
    listing_t *ls = ctx;
    klog__partition_t *p = ls->p;
    if (ls->swaps && (ends_with(name, ".log.swap") || ends_with(name, ".log.cleaned") ||
                      ends_with(name, ".cleanrange")))
        return LIST_SWAP;
    if (!p->env->rdonly && is_leftover(name)) {
        char *path = klog__asprintf("%s/%s", p->dir, name);
        if (path) {
            klog__log(p->env->logger, KLOG_LOG_INFO, "recovery: removing leftover %s", path);
            klog__unlink(path); /* best effort: tried again at the next open */
        }
        free(path);
        return 0;
    }
    int64_t base;
    unsigned bit = parse_name(name, &base);
    if (!bit)
        return ls->state ? klog__ls_files_add(ls->state, name) < 0 ? -ENOMEM : 0 : 0;
    size_t i;
    for (i = 0; i < ls->n && ls->v[i].base != base; i++)
        ;
    if (i == ls->n) {
        if (ls->n == ls->cap) {
            size_t cap = ls->cap ? ls->cap * 2 : 16;
            seg_files_t *nv = klog__realloc(ls->v, cap * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            ls->v = nv;
            ls->cap = cap;
        }
        ls->v[ls->n].base = base;
        ls->v[ls->n].has = 0;
        ls->n++;
    }
    ls->v[i].has |= bit;
    return 0;
}

/*
 * An orphan seal whose .log is gone: when it decodes and covers offsets at
 * or above the log start, data the log's own metadata says existed is
 * missing. Named with its offsets; KLOG_ECORRUPT (the seal is kept: an
 * operator who accepts the loss removes it). 0 when the orphan may go.
 */
static int missing_log(klog__partition_t *p, int64_t base)
{
    char *sp = klog__asprintf("%s/%020" PRId64 ".seal", p->dir, base);
    if (!sp)
        return -ENOMEM;
    klog__seal_t seal;
    int rc = klog__seal_read(sp, &seal);
    int64_t start = atomic_load(&p->log_start);
    if (rc == 0 && seal.base_offset == base && seal.next_offset > start &&
        seal.next_offset > base) {
        int64_t from = base > start ? base : start;
        klog__log(p->env->logger, KLOG_LOG_ERROR,
                  "%s/%020" PRId64 ".log is missing: its seal says offsets %lld to %lld existed "
                  "(remove %s to accept the loss)",
                  p->dir, base, (long long)from, (long long)(seal.next_offset - 1), sp);
        free(sp);
        return KLOG_ECORRUPT;
    }
    free(sp);
    return rc < 0 && rc != KLOG_ECORRUPT && rc != KLOG_EVERSION && rc != -ENOENT ? rc : 0;
}

/* List the directory into a sorted array of segment file sets, and the
 * log state's files into *state when not NULL (emptied first); at load
 * (check_orphans) an orphan seal of missing data is an error. */
static int list_dir(klog__partition_t *p, int check_orphans, int swaps, seg_files_t **out,
                    size_t *count, klog__ls_files_t *state)
{
    int rdonly = p->env->rdonly;
    if (state)
        klog__ls_files_free(state);
    listing_t ls = {p, NULL, 0, 0, swaps, state};
    int rc = klog__dir_list(p->dir, list_one, &ls);
    if (rc) {
        free(ls.v);
        return rc;
    }
    seg_files_t *v = ls.v;
    size_t n = ls.n;
    /* Orphans: index or seal files whose .log is gone. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].has & HAS_LOG) {
            v[k++] = v[i];
            continue;
        }
        if (check_orphans && (v[i].has & HAS_SEAL)) {
            rc = missing_log(p, v[i].base);
            if (rc) {
                free(v);
                return rc;
            }
        }
        if (rdonly)
            continue;
        static const char *exts[] = {".index", ".timeindex", ".seal"};
        for (size_t x = 0; x < 3; x++) {
            char *path = klog__asprintf("%s/%020" PRId64 "%s", p->dir, v[i].base, exts[x]);
            if (path)
                klog__unlink(path);
            free(path);
        }
    }
    if (k > 1)
        qsort(v, k, sizeof *v, cmp_files);
    *out = v;
    *count = k;
    return 0;
}

/*
 * Is damage in rolled segment i (not the last) bit rot in durable data
 * rather than a write a crash tore? Yes when it had a seal (the sealer
 * fsyncs before sealing), when it lies wholly below the checkpointed
 * recovery point, or when a later segment has a seal (the sealer works in
 * order, so this one was fsynced before). Such data is never cut, and the
 * segments after it are never deleted.
 */
static int durable_segment(const seg_files_t *files, size_t n, size_t i, int64_t rp)
{
    if ((files[i].has & HAS_SEAL) || files[i + 1].base <= rp)
        return 1;
    for (size_t j = i + 1; j < n; j++)
        if (files[j].has & HAS_SEAL)
            return 1;
    return 0;
}

static int checkpoint_present(const klog__partition_t *p)
{
    char *path = klog__asprintf("%s/log-start-offset-checkpoint", p->env->logdir);
    struct stat st;
    int ok = path && klog__stat(path, &st) == 0;
    free(path);
    return ok;
}

/* After a scan of s: when it met a batch s cannot index, split it off
 * (crash-safe, cursor.c). 1 when split (the caller lists the directory
 * again), 0 when nothing to do, or an error. */
static int split_overflow(klog__segment_t *s)
{
    if (klog__segment_split_pos(s) < 0)
        return 0;
    int64_t nb;
    int rc = klog__segment_pin(s, 1);
    if (rc)
        return rc;
    rc = klog__segment_split_tail(s, &nb);
    klog__segment_unpin(s);
    return rc ? rc : 1;
}

/* Kafka's LogLoader rule: when every segment ends below the checkpointed
 * log start offset (DeleteRecords moved it, then recovery found the segment
 * holding it damaged and cut it), the log restarts as one empty segment at
 * the log start: offsets below it were deleted and are never handed out
 * again. The old segments go first (renamed *.deleted); a crash before the
 * new one exists leaves no segment, and the next open creates it at the
 * same log start. */
static int restart_at_log_start(klog__partition_t *p, klog__seglist_t *list, int64_t start)
{
    int64_t end = klog__segment_next_offset(list->seg[list->n - 1]);
    klog__log(p->env->logger, KLOG_LOG_WARN,
              "recovery: %s: every segment ends below the log start offset %" PRId64
              " (log end %" PRId64 "): the log restarts empty at %" PRId64,
              p->dir, start, end, start);
    for (size_t j = 0; j < list->n; j++) {
        int rc = klog__segment_mark_deleted(list->seg[j]);
        if (rc)
            return rc;
    }
    for (size_t j = 0; j < list->n; j++)
        klog__segment_unref(list->seg[j]);
    list->n = 0;
    klog__segment_t *s;
    int rc = klog__segment_new(&p->segenv, start, &s);
    if (rc)
        return rc;
    list->seg[list->n++] = s;
    klog__segment_mark_new(s);
    rc = klog__segment_create(s);
    return rc ? rc : klog__fsync_dir(p->dir);
}

static int list_add_seal(klog__segment_t ***v, size_t *n, klog__segment_t *s)
{
    klog__segment_t **nv = klog__realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    nv[(*n)++] = s; /* no reference: the list holds one until it is queued */
    *v = nv;
    return 0;
}

int klog__partition_load(klog__partition_t *p)
{
    const klog__logger_t *logger = p->env->logger;
    int rdonly = p->env->rdonly;
    seg_files_t *files = NULL;
    size_t nfiles = 0;
    klog__seglist_t *list = NULL;
    klog__segment_t **seals = NULL; /* recovered rolled segments, in order */
    size_t nseals = 0;
    int64_t durable = INT64_MAX;    /* the recovery point's bound */
    klog__ls_files_t state = {0};   /* the log state's files, from the same listing */
    int rc;

    /* The state file first: its open (which creates it) fails only when
     * the directory is missing too, so an existing partition costs no
     * mkdir (and the lstat after its EEXIST): two calls of ~33 per
     * partition in an open after kill -9. */
    rc = klog__pstate_open(p);
    if (rc == -ENOENT && !rdonly) {
        rc = klog__mkdir(p->dir, 0755); /* a new partition */
        if (!rc)
            rc = klog__pstate_open(p);
    }
    if (rc)
        return rc;
    int swaps_done = rdonly;
    /* No file changed (every segment trusted as it was): readers' lists
     * stand, and the load announces nothing. */
    int untouched = 1;
relist:;
    /* Read before listing: the writer publishes an end only after its
     * data, so the files listed next hold at least this much. */
    klog__pstate_vals_t opened;
    int64_t published_end = klog__pstate_opened(p, &opened) ? opened.log_end : 0;
    rc = list_dir(p, 1, !swaps_done, &files, &nfiles, &state);
    if (rc == LIST_SWAP) {
        /* An interrupted compaction: finish or roll back its swap first
         * (one listing per partition when there is none). */
        if ((rc = klog__cleaner_recover_dir(p->dir, logger)) != 0)
            goto fail;
        swaps_done = 1;
        untouched = 0;
        goto relist;
    }
    if (rc)
        goto fail;

    int64_t ckpt_start = atomic_load(&p->log_start);
    int64_t ckpt_rp = atomic_load(&p->recovery_point);
    if (nfiles == 0) {
        if (rdonly) {
            list = klog__seglist_new(0);
            rc = list ? 0 : -ENOMEM;
            if (!rc) {
                klog__partition_publish_list(p, list);
                p->loaded = 1;
            }
            free(files);
            klog__ls_files_free(&state);
            return rc;
        }
        seg_files_t *nf = klog__realloc(files, sizeof *files);
        if (!nf) {
            rc = -ENOMEM;
            goto fail;
        }
        files = nf;
        files[0].base = ckpt_start;
        files[0].has = 0;
        nfiles = 1;
    }
    list = klog__seglist_new(nfiles);
    if (!list) {
        rc = -ENOMEM;
        goto fail;
    }
    list->n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        klog__segment_t *s;
        rc = klog__segment_new(&p->segenv, files[i].base, &s);
        if (rc)
            goto fail;
        list->seg[list->n++] = s;
    }

    if (rdonly) {
        rc = klog__segment_scan_tail(list->seg[list->n - 1]);
        if (rc)
            goto fail;
        klog__partition_state_check(p, published_end,
                                    klog__segment_next_offset(list->seg[list->n - 1]));
    } else {
        for (size_t i = 0; i < list->n; i++) {
            klog__segment_t *s = list->seg[i];
            int last = i + 1 == list->n;
            unsigned has = files[i].has;
            if (!last && (has & (HAS_SEAL | HAS_INDEXES)) == (HAS_SEAL | HAS_INDEXES)) {
                /* A rolled segment with a seal was durable before the seal
                 * was written: whatever the seal's state, it is never cut
                 * and never costs a later segment (durable_segment), so
                 * the check of its seal can wait for its first use and
                 * end the same way (klog__segment_ensure_meta: bytes past
                 * the seal removed, or a rebuild keeping the damage). */
                klog__segment_trust(s, files[i + 1].base);
                continue;
            }
            int trusted = (has & HAS_SEAL) ? klog__segment_check_seal(s) : 0;
            if (trusted < 0) {
                rc = trusted;
                klog__log(logger, KLOG_LOG_ERROR, "%s.seal: %s", klog__segment_stem(s),
                          klog_strerror(rc));
                goto fail;
            }
            if (!trusted || (has & HAS_INDEXES) != HAS_INDEXES)
                untouched = 0;
            if (trusted && (has & HAS_INDEXES) != HAS_INDEXES) {
                rc = klog__segment_rebuild(s, "index file missing");
                if (rc)
                    goto fail;
                goto scanned;
            }
            if (trusted) {
                if (last && (rc = klog__segment_reopen_active(s)) != 0)
                    goto fail;
                continue;
            }
            int64_t truncated = 0;
            if (has == 0) {
                klog__segment_mark_new(s); /* a new partition: nothing to recover */
                continue;
            }
            if (!last && durable_segment(files, nfiles, i, ckpt_rp)) {
                /* Never cut: rebuild keeps any damage in place (reads
                 * report it) and the segments after it stay. */
                rc = klog__segment_rebuild(s, (has & HAS_SEAL) ? "seal does not match the .log"
                                                               : "seal missing");
                if (rc)
                    goto fail;
                klog__segment_report_lost(s, files[i + 1].base);
                goto scanned;
            }
            rc = klog__segment_recover(s, &truncated);
            if (rc)
                goto fail;
            if ((rc = split_overflow(s)) != 0)
                goto split;
            /* Not fsynced by the scan: durable only up to its base until
             * the sealer (rolled) or a flush (active) covers it. */
            if (klog__segment_base(s) < durable)
                durable = klog__segment_base(s);
            if (!last) {
                rc = list_add_seal(&seals, &nseals, s);
                if (rc)
                    goto fail;
            }
            if (truncated && !last) {
                /* Kafka's rule, only for data no fsync ever covered (a
                 * torn write): what follows a damaged segment is discarded. */
                for (size_t j = i + 1; j < list->n; j++) {
                    klog__log(logger, KLOG_LOG_WARN,
                              "recovery: deleting %s.log after damaged segment",
                              klog__segment_stem(list->seg[j]));
                    klog__segment_mark_deleted(list->seg[j]);
                    klog__segment_unref(list->seg[j]);
                }
                list->n = i + 1;
                break;
            }
            continue;
        scanned:
            if ((rc = split_overflow(s)) != 0)
                goto split;
        }
    }

    if (!rdonly && klog__segment_next_offset(list->seg[list->n - 1]) < ckpt_start) {
        nseals = 0; /* every segment goes */
        untouched = 0;
        if ((rc = restart_at_log_start(p, list, ckpt_start)) != 0)
            goto fail;
    }
    klog__segment_t *active = list->seg[list->n - 1];
    int64_t end = klog__segment_next_offset(active);
    int64_t first_base = klog__segment_base(list->seg[0]);
    int64_t start = ckpt_start > first_base ? ckpt_start : first_base;
    /* A log start other processes saw in klog.state before the crash, not
     * yet in the checkpoint: kept, so it never moves backwards for them
     * (only within the data: a damaged state file never empties a log).
     * Without any log-start checkpoint file, Kafka's rule stands alone:
     * the first segment's base. */
    if (!rdonly && p->state_log_start > start && p->state_log_start <= end &&
        checkpoint_present(p))
        start = p->state_log_start;
    if (start > end)
        start = end;
    atomic_store(&p->log_start, start);
    atomic_store(&p->log_end, end);
    atomic_store(&p->recovery_point, durable < end ? durable : end);
    if (rdonly && klog__pstate_opened(p, &opened)) {
        atomic_store(&p->hw, opened.hw);
    } else {
        atomic_store(&p->hw, end);
    }
    klog__segment_restart_clock(active);
    if (!rdonly && files[nfiles - 1].has == 0) {
        untouched = 0;
        /* Brand-new partition: create its files now so the layout is complete. */
        rc = klog__segment_create(active);
        if (!rc)
            rc = klog__fsync_dir(p->dir);
        if (rc)
            goto fail;
    }
    free(files);
    files = NULL;
    if (!rdonly && (rc = klog__partstate_load(p, list, ckpt_rp, &state)) != 0)
        goto fail;
    klog__ls_files_free(&state);
    klog__partition_install_list(p, list, !untouched);
    /* The generation read at open, before the listing: a writer's change
     * since then refreshes again. */
    p->seen_generation = klog__pstate_opened(p, &opened) ? opened.generation : 0;
    if (!rdonly)
        klog__partition_publish_offsets(p);
    klog__pstate_loaded(p);
    p->loaded = 1;
    /* The scanned rolled segments are sealed on the background thread (in
     * order, before anything rolled later): the open waits for no fsync. A
     * segment cut from the list meanwhile (after a damaged one) is not. */
    for (size_t i = 0; i < nseals; i++) {
        for (size_t j = 0; j < list->n; j++)
            if (list->seg[j] == seals[i]) {
                klog__partition_queue_seal(p, seals[i]);
                break;
            }
    }
    free(seals);
    return 0;
split:
    if (rc == 1) {
        /* The directory changed: load it again (each split leaves fewer
         * offsets to split, so this ends). */
        free(files);
        klog__seglist_unref(list);
        free(seals);
        files = NULL;
        list = NULL;
        seals = NULL;
        nseals = 0;
        durable = INT64_MAX;
        goto relist;
    }
fail:
    klog__pstate_loaded(p);
    free(files);
    free(seals);
    klog__ls_files_free(&state);
    klog__seglist_unref(list);
    return rc;
}

int klog__partition_refresh(klog__partition_t *p)
{
    if (!p->env->rdonly)
        return 0;
    klog__pstate_vals_t v;
    if (klog__pstate_read(p, &v) && v.generation == p->seen_generation)
        return 0;
    pthread_mutex_lock(&p->append_mu);
    uint64_t gen = klog__partition_generation(p);
    seg_files_t *files = NULL;
    size_t n = 0;
    int rc = list_dir(p, 0, 0, &files, &n, NULL);
    klog__seglist_t *old = NULL, *nl = NULL;
    if (rc)
        goto out;
    old = klog__partition_segments(p);
    nl = klog__seglist_new(n);
    if (!nl) {
        rc = -ENOMEM;
        goto out;
    }
    /* Reuse segments we already have (they may be pinned by readers). */
    for (size_t i = 0; i < n; i++) {
        klog__segment_t *s = NULL;
        for (size_t j = 0; old && j < old->n; j++)
            if (klog__segment_base(old->seg[j]) == files[i].base &&
                !klog__segment_is_deleted(old->seg[j]) &&
                klog__segment_same_file(old->seg[j])) {
                s = old->seg[j];
                klog__segment_ref(s);
                break;
            }
        if (!s && (rc = klog__segment_new(&p->segenv, files[i].base, &s)) != 0) {
            nl->n = i;
            goto out;
        }
        nl->seg[i] = s;
    }
    klog__partition_publish_list(p, nl);
    nl = NULL;
    p->seen_generation = gen;
    if (klog__pstate_read(p, &v))
        atomic_store(&p->log_start, v.log_start);
out:
    pthread_mutex_unlock(&p->append_mu);
    klog__seglist_unref(nl);
    klog__seglist_unref(old);
    free(files);
    return rc;
}

