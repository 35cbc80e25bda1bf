/*
 * assign.c — the rebalance as a pure function (design decision 7).
 *
 * Input: topics with partition counts, members with their subscriptions
 * and, for the sticky strategy, the current owners. Output: one entry per
 * partition of every topic, sorted by (topic name, partition), naming the
 * member that owns it or NULL when no member subscribes to its topic.
 * Nothing here does I/O, reads a clock or touches global state: every
 * member of a group that reads the same registry computes the same global
 * assignment and takes its own share of it.
 *
 * Everything is first put in a canonical order — topics and members sorted
 * by strcmp of their names, partitions by number — so the result depends
 * only on the sets given, never on the order they were listed in.
 *
 * RANGE is the paper's Algorithm 1 per topic: with n partitions and the k
 * sorted members subscribed, member j takes n/k contiguous partitions
 * starting at j*(n/k) + min(j, n%k), so the first n%k members take one
 * extra each (as Kafka's range assignor hands out the remainder).
 *
 * ROUNDROBIN deals the sorted (topic, partition) pairs to the sorted
 * members in turn, skipping a member not subscribed to the pair's topic.
 *
 * STICKY works on a pool of partitions and the members eligible for it:
 * the whole set when every member subscribes to the same topics, else one
 * topic at a time. With n partitions and k members, r = n%k members may
 * hold q+1 = n/k+1 and the rest q. The r chosen are those with the
 * largest min(current, q+1), ties by name: that keeps the most current
 * owners (choosing a member gains one kept partition exactly when it holds
 * more than q), and it is stable while a rebalance is half applied — a
 * member that already gave back its surplus still ranks where it ranked
 * before. Each member keeps its lowest current partitions up to its cap;
 * the freed partitions, in order, fill the members below their cap in name
 * order. Applied to its own output the function changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group/group.h"

typedef struct actx {
    const klog_assign_input_t *in;
    size_t *torder;   /* topic indices sorted by name */
    size_t *morder;   /* member indices sorted by id */
    size_t *tbase;    /* entry index of partition 0 of sorted topic i */
    unsigned char *sub; /* sub[m * T + t]: sorted member m subscribes to sorted topic t */
    int32_t *cur;     /* per entry: sorted member index of its current owner, or -1 */
    const char **tnames; /* topic names, input order */
    const char **mnames; /* member ids, input order */
    klog_assignment_entry_t *e;
    size_t nentries;
} actx_t;

static void sort_indices(size_t *idx, size_t n, const char **names)
{
    /* Insertion sort on pointers through idx: inputs are group-sized (tens
     * to thousands), and this keeps the function free of globals. */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && strcmp(names[idx[j - 1]], names[v]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* Sorted position of name among n sorted names (via order), or -1. */
static long find_sorted(const char **names, const size_t *order, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(names[order[mid]], name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void assign_range(actx_t *a, size_t T, size_t M, size_t *scratch)
{
    for (size_t t = 0; t < T; t++) {
        size_t k = 0;
        for (size_t m = 0; m < M; m++)
            if (a->sub[m * T + t])
                scratch[k++] = m;
        if (k == 0)
            continue;
        size_t n = (size_t)a->in->topics[a->torder[t]].partitions;
        size_t q = n / k, r = n % k;
        for (size_t j = 0; j < k; j++) {
            size_t start = j * q + (j < r ? j : r);
            size_t len = q + (j < r ? 1 : 0);
            const char *id = a->in->members[a->morder[scratch[j]]].id;
            for (size_t p = start; p < start + len; p++)
                a->e[a->tbase[t] + p].member = id;
        }
    }
}

static void assign_roundrobin(actx_t *a, size_t T, size_t M)
{
    size_t next = 0;
    for (size_t t = 0; t < T; t++) {
        size_t n = (size_t)a->in->topics[a->torder[t]].partitions;
        for (size_t p = 0; p < n && M > 0; p++) {
            size_t m = next, tries = 0;
            while (tries < M && !a->sub[m * T + t]) {
                m = (m + 1) % M;
                tries++;
            }
            if (tries == M)
                break; /* nobody subscribes to this topic */
            a->e[a->tbase[t] + p].member = a->in->members[a->morder[m]].id;
            next = (m + 1) % M;
        }
    }
}

/*
 * Sticky over one pool: entries pool[0..n) (ascending), members
 * mem[0..k) (sorted member indices, ascending). Scratch: count/cap/rank
 * arrays of k.
 */
static void sticky_pool(actx_t *a, const size_t *pool, size_t n, const size_t *mem, size_t k,
                        size_t *count, size_t *cap, size_t *rank, long *slot_of)
{
    if (k == 0 || n == 0)
        return;
    size_t q = n / k, r = n % k;
    for (size_t i = 0; i < k; i++) {
        count[i] = 0;
        slot_of[mem[i]] = (long)i;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t o = a->cur[pool[i]];
        if (o >= 0 && slot_of[o] >= 0)
            count[slot_of[o]]++;
    }
    /* Rank by min(count, q+1) descending, then by name (stable insertion). */
    for (size_t i = 0; i < k; i++) {
        size_t v = i, j = i;
        size_t kv = count[v] < q + 1 ? count[v] : q + 1;
        while (j > 0) {
            size_t u = rank[j - 1];
            size_t ku = count[u] < q + 1 ? count[u] : q + 1;
            if (ku >= kv)
                break;
            rank[j] = u;
            j--;
        }
        rank[j] = v;
    }
    for (size_t i = 0; i < k; i++)
        cap[rank[i]] = q + (i < r ? 1 : 0);
    /* Keep current owners up to their cap, lowest partitions first. */
    for (size_t i = 0; i < k; i++)
        count[i] = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t o = a->cur[pool[i]];
        if (o >= 0 && slot_of[o] >= 0 && count[slot_of[o]] < cap[slot_of[o]]) {
            count[slot_of[o]]++;
            a->e[pool[i]].member = a->in->members[a->morder[o]].id;
        }
    }
    /* Freed partitions, in order, to members below their cap, in name order. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (a->e[pool[i]].member)
            continue;
        while (m < k && count[m] >= cap[m])
            m++;
        if (m == k)
            break; /* cannot happen: caps sum to n */
        count[m]++;
        a->e[pool[i]].member = a->in->members[a->morder[mem[m]]].id;
    }
    for (size_t i = 0; i < k; i++)
        slot_of[mem[i]] = -1;
}

static int assign_sticky(actx_t *a, size_t T, size_t M)
{
    const klog_assign_input_t *in = a->in;
    int rc = -ENOMEM;
    size_t *pool = malloc((a->nentries + 1) * sizeof *pool);
    size_t *mem = malloc((M + 1) * sizeof *mem);
    size_t *count = malloc((M + 1) * sizeof *count);
    size_t *cap = malloc((M + 1) * sizeof *cap);
    size_t *rank = malloc((M + 1) * sizeof *rank);
    long *slot_of = malloc((M + 1) * sizeof *slot_of);
    if (!pool || !mem || !count || !cap || !rank || !slot_of)
        goto out;
    for (size_t m = 0; m < M; m++)
        slot_of[m] = -1;

    /* Current owners, validated. */
    for (size_t i = 0; i < a->nentries; i++)
        a->cur[i] = -1;
    for (size_t i = 0; i < in->current_count; i++) {
        const klog_assign_owner_t *o = &in->current[i];
        if (!o->topic || !o->member)
            continue;
        long t = find_sorted(a->tnames, a->torder, T, o->topic);
        if (t < 0 || o->partition < 0 || o->partition >= in->topics[a->torder[t]].partitions)
            continue;
        long m = find_sorted(a->mnames, a->morder, M, o->member);
        if (m < 0 || !a->sub[(size_t)m * T + (size_t)t])
            continue;
        size_t e = a->tbase[t] + (size_t)o->partition;
        if (a->cur[e] < 0)
            a->cur[e] = (int32_t)m;
    }

    int homogeneous = 1;
    for (size_t m = 1; m < M && homogeneous; m++)
        if (memcmp(a->sub + m * T, a->sub, T) != 0)
            homogeneous = 0;

    if (homogeneous) {
        size_t n = 0, k = 0;
        for (size_t t = 0; t < T; t++)
            if (M > 0 && a->sub[t])
                for (int32_t p = 0; p < in->topics[a->torder[t]].partitions; p++)
                    pool[n++] = a->tbase[t] + (size_t)p;
        for (size_t m = 0; m < M; m++)
            mem[k++] = m;
        sticky_pool(a, pool, n, mem, k, count, cap, rank, slot_of);
    } else {
        for (size_t t = 0; t < T; t++) {
            size_t n = 0, k = 0;
            for (int32_t p = 0; p < in->topics[a->torder[t]].partitions; p++)
                pool[n++] = a->tbase[t] + (size_t)p;
            for (size_t m = 0; m < M; m++)
                if (a->sub[m * T + t])
                    mem[k++] = m;
            sticky_pool(a, pool, n, mem, k, count, cap, rank, slot_of);
        }
    }
    rc = 0;
out:
    free(pool);
    free(mem);
    free(count);
    free(cap);
    free(rank);
    free(slot_of);
    return rc;
}

static int validate(const klog_assign_input_t *in)
{
    if ((in->topic_count && !in->topics) || (in->member_count && !in->members) ||
        (in->current_count && !in->current))
        return -EINVAL;
    for (size_t i = 0; i < in->topic_count; i++)
        if (!in->topics[i].name || in->topics[i].partitions < 0)
            return -EINVAL;
    for (size_t i = 0; i < in->member_count; i++) {
        const klog_assign_member_t *m = &in->members[i];
        if (!m->id || (m->topic_count && !m->topics))
            return -EINVAL;
        for (size_t j = 0; j < m->topic_count; j++)
            if (!m->topics[j])
                return -EINVAL;
    }
    return 0;
}

int klog_assign(int strategy, const klog_assign_input_t *in, klog_assignment_t *out)
{
    if (!in || !out)
        return -EINVAL;
    if (strategy != KLOG_ASSIGN_RANGE && strategy != KLOG_ASSIGN_ROUNDROBIN &&
        strategy != KLOG_ASSIGN_STICKY)
        return KLOG_ECONFIG;
    int rc = validate(in);
    if (rc)
        return rc;
    size_t T = in->topic_count, M = in->member_count;
    actx_t a = {.in = in};
    const char **tnames = a.tnames = malloc((T + 1) * sizeof *tnames);
    const char **mnames = a.mnames = malloc((M + 1) * sizeof *mnames);
    a.torder = malloc((T + 1) * sizeof *a.torder);
    a.morder = malloc((M + 1) * sizeof *a.morder);
    a.tbase = malloc((T + 1) * sizeof *a.tbase);
    a.sub = calloc(M * T + 1, 1);
    size_t *scratch = malloc((M + 1) * sizeof *scratch);
    rc = -ENOMEM;
    if (!tnames || !mnames || !a.torder || !a.morder || !a.tbase || !a.sub || !scratch)
        goto out;
    for (size_t i = 0; i < T; i++) {
        tnames[i] = in->topics[i].name;
        a.torder[i] = i;
    }
    for (size_t i = 0; i < M; i++) {
        mnames[i] = in->members[i].id;
        a.morder[i] = i;
    }
    sort_indices(a.torder, T, tnames);
    sort_indices(a.morder, M, mnames);
    rc = -EINVAL;
    for (size_t i = 1; i < T; i++)
        if (strcmp(tnames[a.torder[i - 1]], tnames[a.torder[i]]) == 0)
            goto out;
    for (size_t i = 1; i < M; i++)
        if (strcmp(mnames[a.morder[i - 1]], mnames[a.morder[i]]) == 0)
            goto out;
    size_t total = 0;
    for (size_t t = 0; t < T; t++) {
        a.tbase[t] = total;
        total += (size_t)in->topics[a.torder[t]].partitions;
    }
    for (size_t m = 0; m < M; m++) {
        const klog_assign_member_t *mb = &in->members[a.morder[m]];
        for (size_t j = 0; j < mb->topic_count; j++) {
            long t = find_sorted(tnames, a.torder, T, mb->topics[j]);
            if (t >= 0)
                a.sub[m * T + (size_t)t] = 1;
        }
    }
    rc = -ENOMEM;
    a.nentries = total;
    a.e = malloc((total + 1) * sizeof *a.e);
    a.cur = malloc((total + 1) * sizeof *a.cur);
    if (!a.e || !a.cur)
        goto out;
    for (size_t t = 0; t < T; t++)
        for (int32_t p = 0; p < in->topics[a.torder[t]].partitions; p++) {
            klog_assignment_entry_t *e = &a.e[a.tbase[t] + (size_t)p];
            e->topic = in->topics[a.torder[t]].name;
            e->partition = p;
            e->member = NULL;
        }
    rc = 0;
    if (strategy == KLOG_ASSIGN_RANGE)
        assign_range(&a, T, M, scratch);
    else if (strategy == KLOG_ASSIGN_ROUNDROBIN)
        assign_roundrobin(&a, T, M);
    else
        rc = assign_sticky(&a, T, M);
    if (rc == 0) {
        out->entries = a.e;
        out->count = total;
        a.e = NULL;
    }
out:
    free(tnames);
    free(mnames);
    free(a.torder);
    free(a.morder);
    free(a.tbase);
    free(a.sub);
    free(a.cur);
    free(a.e);
    free(scratch);
    return rc;
}

void klog_assignment_free(klog_assignment_t *a)
{
    if (!a)
        return;
    free(a->entries);
    a->entries = NULL;
    a->count = 0;
}
