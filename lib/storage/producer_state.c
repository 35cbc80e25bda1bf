/*
 * producer_state.c — Kafka's producer state for one partition: what makes
 * idempotent and transactional appends safe (ProducerStateManager,
 * ProducerAppendInfo and ProducerStateEntry in Kafka's storage module).
 *
 * WHAT IS KEPT
 *   Per producer id: the epoch, the metadata of its last 5 batches (last
 *   sequence, last offset, offset delta, max timestamp; first sequence and
 *   first offset are derived), the coordinator epoch of the last marker, the
 *   timestamp of its last write, and the first offset of its open
 *   transaction. Producers sit in an array sorted by id (binary search; a
 *   partition has few producers and snapshots come out in a stable order).
 *   Beside it: the open transactions sorted by first offset, and the ended
 *   ones whose marker is not yet below the high watermark ("unreplicated"),
 *   which together give the first unstable offset and so the LSO.
 *
 * THE RULES (client origin; coordinator origin skips sequences, replica
 * origin skips everything but the transaction-state check)
 *   1. Duplicate: same epoch as the state and (first seq, last seq) equal
 *      to one of the 5 cached batches: not written again, answered with the
 *      cached batch's offsets. Checked first, before any refusal.
 *   2. Fenced: batch epoch < state epoch -> KLOG_EFENCED
 *      (InvalidProducerEpochException).
 *   3. New epoch (batch epoch != state epoch): the first sequence must be 0
 *      -> KLOG_EEPOCHSEQ; for a producer with no state at all that is
 *      KLOG_EUNKNOWNPRODUCER when the state is strict (see klog__pstate_new),
 *      accepted otherwise, as Kafka 2.5+ does.
 *   4. Same epoch: the first sequence must follow the last cached one
 *      (last + 1, or 0 after INT32_MAX) -> KLOG_EOUTOFORDER. A producer with
 *      no epoch (-1) accepts anything.
 *   5. A non-transactional batch while a transaction is open ->
 *      KLOG_ETXNSTATE (every origin, as Kafka). A transactional batch with
 *      none open begins one at its base offset.
 *   6. A marker (control batch) with an older epoch -> KLOG_EFENCED, with a
 *      coordinator epoch below the state's -> KLOG_ECOORDFENCED. It ends the
 *      open transaction (if any: an empty transaction completes nothing),
 *      takes the marker's epoch (a new epoch clears the cached batches) and
 *      coordinator epoch. An emptied marker (no record) changes nothing.
 *   A new epoch always clears the cached batches before the batch is added;
 *   at most 5 are kept, the oldest dropped first.
 *
 * INVARIANTS
 *   - The state is changed only by klog__pstate_commit, after the append
 *     was written: a check that fails, or a write that fails, leaves it as
 *     it was (the stage holds copies of the entries one append changes).
 *   - Each open transaction appears once in `ongoing`, under its producer's
 *     txn_first_offset; `ongoing` and `unreplicated` are sorted by first
 *     offset.
 *   - end_offset only grows, except through reset and reload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "platform/bytes.h"
#include "storage/producer_state.h"

typedef struct txn_ref {
    int64_t first_offset;
    int64_t last_offset; /* unreplicated only: the marker's offset */
    int64_t producer_id;
} txn_ref_t;

typedef struct txn_list {
    txn_ref_t *v;
    size_t n, cap;
} txn_list_t;

struct klog__pstate {
    klog__producer_t *prod;
    size_t nprod, capprod;
    txn_list_t ongoing;
    txn_list_t unreplicated;
    int64_t expiration_ms;
    int strict_unknown;
    int64_t end_offset;  /* lastMapOffset */
    int64_t snap_offset; /* lastSnapOffset */
};

/* --------------------------------------------------------------- helpers */

int32_t klog__seq_add(int32_t seq, int32_t n)
{
    if (seq > INT32_MAX - n)
        return n - (INT32_MAX - seq) - 1;
    return seq + n;
}

int32_t klog__seq_sub(int32_t seq, int32_t n)
{
    if (seq < n)
        return INT32_MAX - (n - seq) + 1;
    return seq - n;
}

int32_t klog__pbatch_first_seq(const klog__pbatch_t *b)
{
    return b->last_seq < 0 ? -1 : klog__seq_sub(b->last_seq, b->offset_delta);
}

static int in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    void *p = klog__realloc(*v, ncap * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = ncap;
    return 0;
}

/* Index of pid in the sorted array, or where it would go (*found = 0). */
static size_t find(const klog__producer_t *v, size_t n, int64_t pid, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].producer_id < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && v[lo].producer_id == pid;
    return lo;
}

static int txn_insert(txn_list_t *l, txn_ref_t t)
{
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return -ENOMEM;
    size_t i = l->n;
    while (i > 0 && l->v[i - 1].first_offset > t.first_offset)
        i--;
    memmove(l->v + i + 1, l->v + i, (l->n - i) * sizeof *l->v);
    l->v[i] = t;
    l->n++;
    return 0;
}

/* Remove the entry of producer pid starting at first; 1 if found. */
static int txn_remove(txn_list_t *l, int64_t first, int64_t pid, txn_ref_t *out)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].first_offset == first && l->v[i].producer_id == pid) {
            if (out)
                *out = l->v[i];
            memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof *l->v);
            l->n--;
            return 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- state */

int klog__pstate_new(int64_t expiration_ms, int strict_unknown, klog__pstate_t **out)
{
    if (expiration_ms < 1)
        return -EINVAL;
    klog__pstate_t *ps = klog__calloc(1, sizeof *ps);
    if (!ps)
        return -ENOMEM;
    ps->expiration_ms = expiration_ms;
    ps->strict_unknown = !!strict_unknown;
    *out = ps;
    return 0;
}

void klog__pstate_free(klog__pstate_t *ps)
{
    if (!ps)
        return;
    free(ps->prod);
    free(ps->ongoing.v);
    free(ps->unreplicated.v);
    free(ps);
}

const klog__producer_t *klog__pstate_get(const klog__pstate_t *ps, int64_t pid)
{
    int found;
    size_t i = find(ps->prod, ps->nprod, pid, &found);
    return found ? &ps->prod[i] : NULL;
}

size_t klog__pstate_count(const klog__pstate_t *ps) { return ps->nprod; }
const klog__producer_t *klog__pstate_at(const klog__pstate_t *ps, size_t i)
{
    return i < ps->nprod ? &ps->prod[i] : NULL;
}
int64_t klog__pstate_end_offset(const klog__pstate_t *ps) { return ps->end_offset; }
int64_t klog__pstate_snapshot_offset(const klog__pstate_t *ps) { return ps->snap_offset; }

/* Put p in the sorted array (replacing an entry with its id). */
static int put_producer(klog__producer_t **v, size_t *n, size_t *cap, const klog__producer_t *p,
                        int replace)
{
    int found;
    size_t i = find(*v, *n, p->producer_id, &found);
    if (found) {
        if (!replace)
            return KLOG_ECORRUPT;
        (*v)[i] = *p;
        return 0;
    }
    if (grow((void **)v, cap, *n + 1, sizeof **v))
        return -ENOMEM;
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof **v);
    (*v)[i] = *p;
    (*n)++;
    return 0;
}

int klog__pstate_load_entry(klog__pstate_t *ps, const klog__producer_t *p)
{
    if (p->txn_first_offset >= 0) {
        /* Reserve first so a failure leaves no half-loaded entry. */
        if (grow((void **)&ps->ongoing.v, &ps->ongoing.cap, ps->ongoing.n + 1,
                 sizeof *ps->ongoing.v))
            return -ENOMEM;
    }
    int rc = put_producer(&ps->prod, &ps->nprod, &ps->capprod, p, 0);
    if (rc)
        return rc;
    if (p->txn_first_offset >= 0)
        txn_insert(&ps->ongoing, (txn_ref_t){p->txn_first_offset, -1, p->producer_id});
    return 0;
}

void klog__pstate_reset(klog__pstate_t *ps, int64_t offset)
{
    ps->nprod = 0;
    ps->ongoing.n = 0;
    ps->unreplicated.n = 0;
    ps->end_offset = offset;
    ps->snap_offset = 0;
}

/* --------------------------------------------------------------- checks */

void klog__pstage_reset(klog__pstage_t *st)
{
    st->nprod = 0;
    st->nstarted = 0;
    st->ndone = 0;
}

void klog__pstage_free(klog__pstage_t *st)
{
    if (!st)
        return;
    free(st->prod);
    free(st->started);
    free(st->started_pid);
    free(st->done);
    memset(st, 0, sizeof *st);
}

static void entry_set_epoch(klog__producer_t *e, int16_t epoch)
{
    if (e->epoch != epoch) {
        e->nbatches = 0;
        e->epoch = epoch;
    }
}

static void entry_add_batch(klog__producer_t *e, const klog__pbatch_t *b)
{
    if (e->nbatches == KLOG__PSTATE_BATCHES) {
        memmove(e->batches, e->batches + 1, (KLOG__PSTATE_BATCHES - 1) * sizeof *b);
        e->nbatches--;
    }
    e->batches[e->nbatches++] = *b;
}

/* Sequence rules 3 and 4 for a client data batch. `known` says whether the
 * partition has any state for the producer before this append. */
static int check_sequence(const klog__pstate_t *ps, const klog__producer_t *e, int known,
                          const klog__pbatch_in_t *b)
{
    if (b->epoch != e->epoch) {
        if (b->base_seq == 0)
            return 0;
        if (e->epoch != -1)
            return KLOG_EEPOCHSEQ;
        return known || !ps->strict_unknown ? 0 : KLOG_EUNKNOWNPRODUCER;
    }
    int32_t last = e->nbatches ? e->batches[e->nbatches - 1].last_seq : -1;
    if (e->epoch == -1 || in_sequence(last, b->base_seq))
        return 0;
    return KLOG_EOUTOFORDER;
}

/* The duplicate rule: a cached batch with the same epoch and sequences. */
static const klog__pbatch_t *find_duplicate(const klog__producer_t *e, const klog__pbatch_in_t *b)
{
    if (e->epoch != b->epoch || b->base_seq < 0)
        return NULL;
    int32_t last = klog__seq_add(b->base_seq, b->last_offset_delta);
    for (int i = 0; i < e->nbatches; i++)
        if (klog__pbatch_first_seq(&e->batches[i]) == b->base_seq &&
            e->batches[i].last_seq == last)
            return &e->batches[i];
    return NULL;
}

static int stage_push_started(klog__pstage_t *st, int64_t pid, int64_t first)
{
    size_t cap = st->capstarted;
    if (grow((void **)&st->started, &cap, st->nstarted + 1, sizeof *st->started))
        return -ENOMEM;
    cap = st->capstarted;
    if (grow((void **)&st->started_pid, &cap, st->nstarted + 1, sizeof *st->started_pid))
        return -ENOMEM;
    st->capstarted = cap;
    st->started[st->nstarted] = first;
    st->started_pid[st->nstarted++] = pid;
    return 0;
}

int klog__pstate_check(klog__pstate_t *ps, klog__pstage_t *st, const klog__pbatch_in_t *b,
                       int origin, klog__pcheck_t *res)
{
    memset(res, 0, sizeof *res);
    if (b->producer_id < 0)
        return 0;
    if (b->last_offset_delta < 0 || b->base_offset < 0 ||
        b->base_offset > INT64_MAX - 1 - b->last_offset_delta)
        return -EINVAL;
    if (origin == KLOG__ORIGIN_CLIENT && (b->is_control || b->base_seq < 0))
        return -EINVAL; /* Kafka's LogValidator refuses both from clients */

    /* The entry as earlier batches of this append left it, else as stored. */
    int staged, known;
    size_t si = find(st->prod, st->nprod, b->producer_id, &staged);
    const klog__producer_t *cur = staged ? &st->prod[si] : klog__pstate_get(ps, b->producer_id);
    known = cur != NULL;
    klog__producer_t e;
    if (cur) {
        e = *cur;
    } else {
        memset(&e, 0, sizeof e);
        e.producer_id = b->producer_id;
        e.epoch = -1;
        e.coordinator_epoch = -1;
        e.last_timestamp = -1;
        e.txn_first_offset = -1;
    }

    if (origin == KLOG__ORIGIN_CLIENT) {
        /* Kafka looks for duplicates in the stored entry only. */
        const klog__producer_t *stored = klog__pstate_get(ps, b->producer_id);
        const klog__pbatch_t *dup = stored ? find_duplicate(stored, b) : NULL;
        if (dup) {
            res->duplicate = 1;
            res->first_offset = dup->last_offset - dup->offset_delta;
            res->last_offset = dup->last_offset;
            res->timestamp = dup->timestamp;
            return 0;
        }
    }

    int64_t first_started = -1;
    klog__txn_done_t done = {0};
    int ended = 0;
    if (b->is_control) {
        if (b->record_count == 0)
            goto stage; /* an emptied marker: the entry is only registered */
        if (origin != KLOG__ORIGIN_REPLICA) {
            if (b->epoch < e.epoch)
                return KLOG_EFENCED;
            if (e.coordinator_epoch > b->coordinator_epoch)
                return KLOG_ECOORDFENCED;
        }
        if (e.txn_first_offset >= 0) {
            done.producer_id = b->producer_id;
            done.first_offset = e.txn_first_offset;
            done.last_offset = b->base_offset;
            done.aborted = !b->marker_commit;
            ended = 1;
        }
        entry_set_epoch(&e, b->epoch);
        e.coordinator_epoch = b->coordinator_epoch;
        e.txn_first_offset = -1;
        e.last_timestamp = b->max_timestamp;
    } else {
        if (origin != KLOG__ORIGIN_REPLICA && b->epoch < e.epoch)
            return KLOG_EFENCED;
        if (origin == KLOG__ORIGIN_CLIENT) {
            int rc = check_sequence(ps, &e, known, b);
            if (rc)
                return rc;
        }
        if (e.txn_first_offset >= 0 && !b->is_transactional)
            return KLOG_ETXNSTATE;
        klog__pbatch_t nb = {
            .last_seq = b->base_seq < 0 ? -1 : klog__seq_add(b->base_seq, b->last_offset_delta),
            .offset_delta = b->last_offset_delta,
            .last_offset = b->base_offset + b->last_offset_delta,
            .timestamp = b->max_timestamp,
        };
        entry_set_epoch(&e, b->epoch);
        entry_add_batch(&e, &nb);
        e.last_timestamp = b->max_timestamp;
        if (e.txn_first_offset < 0 && b->is_transactional) {
            e.txn_first_offset = b->base_offset;
            first_started = b->base_offset;
        }
    }

stage:
    /* Reserve everything the stage and the later commit need before
     * changing anything: a failure leaves both as they were, and commit
     * cannot fail. */
    if (!staged && grow((void **)&st->prod, &st->capprod, st->nprod + 1, sizeof *st->prod))
        return -ENOMEM;
    if (ended && grow((void **)&st->done, &st->capdone, st->ndone + 1, sizeof *st->done))
        return -ENOMEM;
    if (grow((void **)&ps->prod, &ps->capprod, ps->nprod + st->nprod + 1, sizeof *ps->prod) ||
        grow((void **)&ps->ongoing.v, &ps->ongoing.cap,
             ps->ongoing.n + st->nstarted + (first_started >= 0), sizeof *ps->ongoing.v) ||
        grow((void **)&ps->unreplicated.v, &ps->unreplicated.cap,
             ps->unreplicated.n + st->ndone + ended, sizeof *ps->unreplicated.v))
        return -ENOMEM;
    if (first_started >= 0 && stage_push_started(st, b->producer_id, first_started))
        return -ENOMEM;
    put_producer(&st->prod, &st->nprod, &st->capprod, &e, 1);
    if (ended)
        st->done[st->ndone++] = done;
    return 0;
}

/* Kafka's lastStableOffset(completedTxn): the first open transaction of
 * another producer, else just past the marker. */
static int64_t txn_lso(const klog__pstate_t *ps, const klog__txn_done_t *d)
{
    for (size_t i = 0; i < ps->ongoing.n; i++)
        if (ps->ongoing.v[i].producer_id != d->producer_id)
            return ps->ongoing.v[i].first_offset;
    return d->last_offset + 1;
}

void klog__pstate_commit(klog__pstate_t *ps, klog__pstage_t *st, int64_t next_offset)
{
    /* klog__pstate_check reserved room for all of this: nothing below
     * allocates, so nothing can fail. */
    for (size_t i = 0; i < st->nprod; i++)
        put_producer(&ps->prod, &ps->nprod, &ps->capprod, &st->prod[i], 1);
    for (size_t i = 0; i < st->nstarted; i++)
        txn_insert(&ps->ongoing, (txn_ref_t){st->started[i], -1, st->started_pid[i]});
    for (size_t i = 0; i < st->ndone; i++) {
        klog__txn_done_t *d = &st->done[i];
        txn_ref_t t;
        d->lso = txn_lso(ps, d);
        if (txn_remove(&ps->ongoing, d->first_offset, d->producer_id, &t)) {
            t.last_offset = d->last_offset;
            txn_insert(&ps->unreplicated, t);
        }
    }
    if (next_offset > ps->end_offset)
        ps->end_offset = next_offset;
    st->nprod = st->nstarted = 0;
}

/* ------------------------------------------------------- stable offsets */

int64_t klog__pstate_first_undecided(const klog__pstate_t *ps)
{
    return ps->ongoing.n ? ps->ongoing.v[0].first_offset : -1;
}

int64_t klog__pstate_first_unstable(const klog__pstate_t *ps)
{
    int64_t a = klog__pstate_first_undecided(ps);
    int64_t b = ps->unreplicated.n ? ps->unreplicated.v[0].first_offset : -1;
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int64_t klog__pstate_lso(const klog__pstate_t *ps, int64_t hw)
{
    int64_t u = klog__pstate_first_unstable(ps);
    return u >= 0 && u < hw ? u : hw;
}

static void drop_unreplicated_below(klog__pstate_t *ps, int64_t offset)
{
    size_t k = 0;
    for (size_t i = 0; i < ps->unreplicated.n; i++)
        if (ps->unreplicated.v[i].last_offset >= offset)
            ps->unreplicated.v[k++] = ps->unreplicated.v[i];
    ps->unreplicated.n = k;
}

void klog__pstate_hw_updated(klog__pstate_t *ps, int64_t hw) { drop_unreplicated_below(ps, hw); }

void klog__pstate_log_start_moved(klog__pstate_t *ps, int64_t log_start, int64_t latest_snapshot)
{
    drop_unreplicated_below(ps, log_start);
    if (ps->end_offset < log_start)
        ps->end_offset = log_start;
    ps->snap_offset = latest_snapshot >= 0 ? latest_snapshot : log_start;
}

size_t klog__pstate_expire(klog__pstate_t *ps, int64_t now_ms)
{
    size_t k = 0, n = ps->nprod;
    for (size_t i = 0; i < n; i++) {
        const klog__producer_t *p = &ps->prod[i];
        if (p->txn_first_offset < 0 && now_ms - p->last_timestamp >= ps->expiration_ms)
            continue;
        ps->prod[k++] = ps->prod[i];
    }
    ps->nprod = k;
    return n - k;
}

void klog__pstate_set_expiration(klog__pstate_t *ps, int64_t expiration_ms)
{
    if (expiration_ms >= 1)
        ps->expiration_ms = expiration_ms;
}

int klog__pstate_is_expired(const klog__pstate_t *ps, const klog__producer_t *p, int64_t now_ms)
{
    return p->txn_first_offset < 0 && now_ms - p->last_timestamp >= ps->expiration_ms;
}

void klog__pstate_set_offsets(klog__pstate_t *ps, int64_t end_offset, int64_t snap_offset)
{
    if (end_offset >= 0)
        ps->end_offset = end_offset;
    if (snap_offset >= 0)
        ps->snap_offset = snap_offset;
}

/* -------------------------------------------------------------- markers */

void klog__marker_encode(int commit, int32_t coordinator_epoch, uint8_t key[KLOG__MARKER_KEY_SIZE],
                         uint8_t value[KLOG__MARKER_VALUE_SIZE])
{
    klog__store16(key, 0);
    klog__store16(key + 2, commit ? 1 : 0);
    klog__store16(value, 0);
    klog__store32(value + 2, (uint32_t)coordinator_epoch);
}

int klog__marker_decode(const uint8_t *key, size_t klen, const uint8_t *value, size_t vlen,
                        int *commit, int32_t *coordinator_epoch)
{
    /* As Kafka's EndTransactionMarker: a negative version is invalid, a
     * newer one is read as far as version 0 goes. */
    if (!key || klen < KLOG__MARKER_KEY_SIZE || (int16_t)klog__load16(key) < 0)
        return KLOG_ECORRUPT;
    int16_t type = (int16_t)klog__load16(key + 2);
    if (type != 0 && type != 1)
        return type >= 2 ? -ENOTSUP : KLOG_ECORRUPT;
    if (!value || vlen < KLOG__MARKER_VALUE_SIZE || (int16_t)klog__load16(value) < 0)
        return KLOG_ECORRUPT;
    *commit = type == 1;
    *coordinator_epoch = (int32_t)klog__load32(value + 2);
    return 0;
}
