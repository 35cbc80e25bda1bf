/*
 * cgroup_target.c — what a consumer group of the new protocol (KIP-848)
 * assigns: the broker computes the assignment itself, with klog_assign(),
 * and hands it out member by member so that no partition has two owners.
 *
 * The state of a group is an epoch, a target assignment and, per member,
 * what it owns. The rules, as Kafka's GroupMetadataManager applies them:
 *   * The group epoch is bumped when a member joins, leaves, is fenced or
 *     removed, or changes its subscription (topic names or regex) or its
 *     server assignor, and when the partitions of the subscribed topics
 *     change (a topic created or grown, checked on every heartbeat).
 *   * When the group epoch is ahead of the target assignment's, a new
 *     target is computed with klog_assign(): assignor "uniform" is
 *     KLOG_ASSIGN_STICKY with the previous target as current owners,
 *     "range" is KLOG_ASSIGN_RANGE; the assignor named by most members
 *     wins (ties: the first by name), default "uniform".
 *   * Each member reconciles towards its target on its own heartbeats:
 *     partitions it keeps stay; partitions it must give up are "revoking",
 *     and while it still lists any of them in its heartbeat it stays at its
 *     epoch (KB_CM_UNREVOKED) with only the kept ones assigned; a partition
 *     of its target still assigned to or being revoked by another member is
 *     withheld (KB_CM_UNRELEASED) until that member has let it go. So no
 *     partition is ever assigned to two members at once. Once it owns no
 *     revoked partition, the member moves to the target's epoch.
 *   * A member that does not revoke within its rebalance timeout is fenced
 *     (removed); one not heard from within the session timeout is removed.
 *     Either frees its partitions for the others.
 *   * Member epochs: a heartbeat with an epoch above the member's, or below
 *     it unless it is the previous epoch with a subset of the assignment
 *     (a lost response), gets FENCED_MEMBER_EPOCH. Epoch 0 joins; -1
 *     leaves; -2 is a static member's temporary leave (it keeps its
 *     assignment until its session times out or its instance id rejoins).
 *     A dynamic member rejoining with epoch 0 under a member id still
 *     known (after it was fenced) replaces its old self, whose partitions
 *     it has released before rejoining (the Java client does so).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

/* ------------------------------------------------------------ sets */

static int tp_cmp(struct kb_tp a, struct kb_tp b)
{
    return a.t != b.t ? (a.t > b.t) - (a.t < b.t) : (a.p > b.p) - (a.p < b.p);
}

static size_t tps_pos(const struct kb_tpset *s, struct kb_tp x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tp_cmp(s->v[mid], x) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int kb_tps_has(const struct kb_tpset *s, struct kb_tp x)
{
    size_t i = tps_pos(s, x);
    return i < s->n && tp_cmp(s->v[i], x) == 0;
}

/* Add x (no duplicates). 0 or -1 (out of memory). */
int kb_tps_add(struct kb_tpset *s, struct kb_tp x)
{
    size_t i = tps_pos(s, x);
    if (i < s->n && tp_cmp(s->v[i], x) == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct kb_tp *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
    s->v[i] = x;
    s->n++;
    return 0;
}

void kb_tps_free(struct kb_tpset *s)
{
    free(s->v);
    *s = (struct kb_tpset){0};
}

int kb_tps_equal(const struct kb_tpset *a, const struct kb_tpset *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

/* ------------------------------------------------------------ subscriptions */

static int regex_full_match(const char *re, const char *name)
{
    regex_t rx;
    size_t n = strlen(re);
    char *anchored = malloc(n + 5);
    if (!anchored)
        return 0;
    memcpy(anchored, "^(", 2);
    memcpy(anchored + 2, re, n);
    memcpy(anchored + 2 + n, ")$", 3);
    int ok = regcomp(&rx, anchored, REG_EXTENDED | REG_NOSUB) == 0;
    free(anchored);
    if (!ok)
        return 0;
    int hit = regexec(&rx, name, 0, NULL, 0) == 0;
    regfree(&rx);
    return hit;
}

/* Does m subscribe to the topic name? */
static int subscribes(const struct kb_cmember *m, const char *name)
{
    for (size_t i = 0; i < m->nsubs; i++)
        if (strcmp(m->subs[i], name) == 0)
            return 1;
    return m->regex && name[0] != '_' && regex_full_match(m->regex, name);
}

static int32_t partitions_of(struct kb_broker *b, const char *name)
{
    klog_topic_t *t;
    if (klog_topic_get(b->log, name, &t))
        return 0;
    int32_t n = klog_topic_partition_count(t);
    return n > 0 ? n : 0;
}

/*
 * Refresh the subscription metadata: intern every topic a member subscribes
 * to (names, and existing topics matching a regex) and their partition
 * counts. Returns 1 when it changed since the last refresh (the group epoch
 * must then be bumped), 0 when not, -1 when out of memory.
 */
int kb_cg_refresh(struct kb_broker *b, struct kb_cgroup *cg)
{
    int any_regex = 0;
    for (size_t i = 0; i < cg->n; i++) {
        any_regex |= cg->m[i]->regex != NULL;
        for (size_t k = 0; k < cg->m[i]->nsubs; k++)
            if (kb_cg_name(cg, cg->m[i]->subs[k]) < 0)
                return -1;
    }
    if (any_regex) {
        char **names = NULL;
        int cnt = klog_topic_list(b->log, &names);
        for (int i = 0; i < cnt; i++)
            for (size_t j = 0; j < cg->n; j++)
                if (cg->m[j]->regex && subscribes(cg->m[j], names[i])) {
                    if (kb_cg_name(cg, names[i]) < 0) {
                        free(names);
                        return -1;
                    }
                    break;
                }
        free(names);
    }
    int changed = 0;
    for (size_t i = 0; i < cg->nnames; i++) {
        int used = 0;
        for (size_t j = 0; j < cg->n && !used; j++)
            used = subscribes(cg->m[j], cg->names[i]);
        int32_t np = used ? partitions_of(b, cg->names[i]) : 0;
        if (np != cg->nparts[i]) {
            cg->nparts[i] = np;
            changed = 1;
        }
    }
    return changed;
}

/* ------------------------------------------------------------ target assignment */

static int strategy_of(const char *name)
{
    return strcmp(name, "range") == 0 ? KLOG_ASSIGN_RANGE : KLOG_ASSIGN_STICKY;
}

/* The assignor most members name (ties: the first by name), else uniform. */
static const char *preferred_assignor(const struct kb_cgroup *cg)
{
    static const char *const known[] = {"range", "uniform"};
    size_t best = 0;
    const char *pick = "uniform";
    for (size_t k = 0; k < 2; k++) {
        size_t c = 0;
        for (size_t i = 0; i < cg->n; i++)
            c += cg->m[i]->assignor && strcmp(cg->m[i]->assignor, known[k]) == 0;
        if (c > best) {
            best = c;
            pick = known[k];
        }
    }
    return pick;
}

/* Compute every member's target at the group epoch. 0 or -1 (no memory:
 * the previous target stays, and the next heartbeat tries again). */
int kb_cg_target(struct kb_cgroup *cg)
{
    const char *assignor = preferred_assignor(cg);
    size_t nt = 0, nsub = 0, ncur = 0;
    for (size_t i = 0; i < cg->nnames; i++)
        nt += cg->nparts[i] > 0;
    for (size_t j = 0; j < cg->n; j++)
        ncur += cg->m[j]->target.n;
    klog_assign_topic_t *topics = calloc(nt + 1, sizeof *topics);
    int32_t *tidx = calloc(nt + 1, sizeof *tidx);
    klog_assign_member_t *members = calloc(cg->n + 1, sizeof *members);
    const char **subs = calloc(cg->n * (nt + 1) + 1, sizeof *subs);
    klog_assign_owner_t *cur = calloc(ncur + 1, sizeof *cur);
    klog_assignment_t out = {0};
    int rc = -1;
    if (!topics || !tidx || !members || !subs || !cur)
        goto out;
    nt = 0;
    for (size_t i = 0; i < cg->nnames; i++)
        if (cg->nparts[i] > 0) {
            tidx[nt] = (int32_t)i;
            topics[nt++] = (klog_assign_topic_t){cg->names[i], cg->nparts[i]};
        }
    for (size_t j = 0; j < cg->n; j++) {
        const struct kb_cmember *m = cg->m[j];
        members[j].id = m->id;
        members[j].topics = subs + nsub;
        for (size_t k = 0; k < nt; k++)
            if (subscribes(m, topics[k].name))
                subs[nsub++] = topics[k].name;
        members[j].topic_count = (size_t)(subs + nsub - members[j].topics);
    }
    ncur = 0;
    for (size_t j = 0; j < cg->n; j++)
        for (size_t k = 0; k < cg->m[j]->target.n; k++) {
            const struct kb_tp *tp = &cg->m[j]->target.v[k];
            cur[ncur++] = (klog_assign_owner_t){cg->names[tp->t], tp->p, cg->m[j]->id};
        }
    klog_assign_input_t in = {topics, nt, members, cg->n, cur, ncur};
    if (klog_assign(strategy_of(assignor), &in, &out))
        goto out;
    struct kb_tpset *next = calloc(cg->n + 1, sizeof *next);
    if (!next)
        goto out;
    rc = 0;
    for (size_t e = 0; e < out.count && !rc; e++) {
        const klog_assignment_entry_t *a = &out.entries[e];
        if (!a->member)
            continue;
        int32_t t = -1;
        for (size_t k = 0; k < nt && t < 0; k++)
            if (topics[k].name == a->topic)
                t = tidx[k];
        for (size_t j = 0; j < cg->n; j++)
            if (cg->m[j]->id == a->member) {
                rc = kb_tps_add(&next[j], (struct kb_tp){t, a->partition});
                break;
            }
    }
    for (size_t j = 0; j < cg->n; j++) {
        if (!rc) {
            kb_tps_free(&cg->m[j]->target);
            cg->m[j]->target = next[j];
        } else {
            kb_tps_free(&next[j]);
        }
    }
    free(next);
    if (!rc)
        snprintf(cg->assignor, sizeof cg->assignor, "%s", assignor);
out:
    klog_assignment_free(&out);
    free(topics);
    free(tidx);
    free(members);
    free(subs);
    free(cur);
    return rc;
}

/* ------------------------------------------------------------ reconciliation */

/* Is tp assigned to, or being revoked by, a member other than m? */
static int held_elsewhere(const struct kb_cgroup *cg, const struct kb_cmember *m, struct kb_tp tp)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->m[i] != m && (kb_tps_has(&cg->m[i]->assigned, tp) || kb_tps_has(&cg->m[i]->revoking, tp)))
            return 1;
    return 0;
}

/* Does the heartbeat's owned list name any partition of s? Not sent: it
 * must be assumed to. */
static int owns_any(const struct kb_chb *h, const struct kb_tpset *s)
{
    if (!h || !h->owned_given)
        return s->n > 0;
    for (size_t i = 0; i < h->nowned; i++)
        if (kb_tps_has(s, h->owned[i]))
            return 1;
    return 0;
}

static void set_epoch(struct kb_cmember *m, int32_t e)
{
    m->prev_epoch = m->epoch;
    m->epoch = e;
}

/* Kafka's CurrentAssignmentBuilder.computeNextAssignment. 0 or -1. */
static int next_assignment(struct kb_cgroup *cg, struct kb_cmember *m, const struct kb_chb *h,
                           int64_t now)
{
    struct kb_tpset keep = {0}, revoke = {0};
    int unreleased = 0, rc = 0;
    for (size_t i = 0; i < m->assigned.n && !rc; i++)
        rc = kb_tps_add(kb_tps_has(&m->target, m->assigned.v[i]) ? &keep : &revoke, m->assigned.v[i]);
    for (size_t i = 0; i < m->target.n && !rc; i++) {
        struct kb_tp tp = m->target.v[i];
        if (kb_tps_has(&m->assigned, tp))
            continue;
        if (held_elsewhere(cg, m, tp))
            unreleased = 1;
        else
            rc = kb_tps_add(&keep, tp);
    }
    if (rc) {
        kb_tps_free(&keep);
        kb_tps_free(&revoke);
        return -1;
    }
    kb_tps_free(&m->assigned);
    kb_tps_free(&m->revoking);
    m->assigned = keep;
    if (revoke.n && owns_any(h, &revoke)) {
        m->revoking = revoke;
        m->state = KB_CM_UNREVOKED;
        set_epoch(m, m->epoch);
        m->revoke_deadline = now + (m->rebalance_ms > 0 ? m->rebalance_ms : 0);
        return 0;
    }
    kb_tps_free(&revoke);
    m->state = unreleased ? KB_CM_UNRELEASED : KB_CM_STABLE;
    set_epoch(m, cg->assign_epoch);
    return 0;
}

int kb_cg_reconcile(struct kb_cgroup *cg, struct kb_cmember *m, const struct kb_chb *h,
                     int64_t now)
{
    switch (m->state) {
    case KB_CM_STABLE:
        return m->epoch != cg->assign_epoch ? next_assignment(cg, m, h, now) : 0;
    case KB_CM_UNREVOKED:
        if (h && h->owned_given && !owns_any(h, &m->revoking))
            return next_assignment(cg, m, h, now);
        return 0;
    default:
        return next_assignment(cg, m, h, now);
    }
}

