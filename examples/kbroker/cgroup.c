/*
 * cgroup.c — consumer groups of the new protocol (KIP-848): members and
 * their heartbeats, leaving, fencing, session and rebalance timeouts. The
 * rules are cgroup_target.c's essay; this file applies them per heartbeat:
 * validate the member and its epoch, update its subscription, bump the
 * group epoch when membership or metadata changed, recompute the target
 * when the group epoch is ahead of it, reconcile the member.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

/* ------------------------------------------------------------ group and members */

struct kb_cgroup *kb_cg_get(struct kb_group *g)
{
    if (!g->cg)
        g->cg = calloc(1, sizeof *g->cg);
    return g->cg;
}

static void cm_free(struct kb_cmember *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    free(m->assignor);
    free(m->regex);
    for (size_t i = 0; i < m->nsubs; i++)
        free(m->subs[i]);
    free(m->subs);
    kb_tps_free(&m->assigned);
    kb_tps_free(&m->revoking);
    kb_tps_free(&m->target);
    free(m);
}

void kb_cg_free(struct kb_cgroup *cg)
{
    if (!cg)
        return;
    for (size_t i = 0; i < cg->n; i++)
        cm_free(cg->m[i]);
    free(cg->m);
    for (size_t i = 0; i < cg->nnames; i++)
        free(cg->names[i]);
    free(cg->names);
    free(cg->nparts);
    free(cg);
}

int32_t kb_cg_name(struct kb_cgroup *cg, const char *name)
{
    for (size_t i = 0; i < cg->nnames; i++)
        if (strcmp(cg->names[i], name) == 0)
            return (int32_t)i;
    if (cg->nnames >= INT32_MAX)
        return -1;
    char **nv = realloc(cg->names, (cg->nnames + 1) * sizeof *nv);
    if (!nv)
        return -1;
    cg->names = nv;
    int32_t *pv = realloc(cg->nparts, (cg->nnames + 1) * sizeof *pv);
    if (!pv)
        return -1;
    cg->nparts = pv;
    if (!(cg->names[cg->nnames] = kb_strndup(name, strlen(name))))
        return -1;
    cg->nparts[cg->nnames] = 0;
    return (int32_t)cg->nnames++;
}

struct kb_cmember *kb_cg_member(struct kb_cgroup *cg, const char *id, size_t n)
{
    for (size_t i = 0; cg && i < cg->n; i++)
        if (strlen(cg->m[i]->id) == n && memcmp(cg->m[i]->id, id, n) == 0)
            return cg->m[i];
    return NULL;
}

static struct kb_cmember *cm_by_instance(struct kb_cgroup *cg, const char *inst)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->m[i]->instance_id && strcmp(cg->m[i]->instance_id, inst) == 0)
            return cg->m[i];
    return NULL;
}

int kb_cg_busy(const struct kb_group *g)
{
    return g->cg && g->cg->n > 0;
}

/* Remove m from the group (its partitions become free); bumps the epoch. */
static void cm_remove(struct kb_cgroup *cg, struct kb_cmember *m)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->m[i] == m) {
            cg->m[i] = cg->m[--cg->n];
            break;
        }
    cm_free(m);
    cg->epoch++;
}

const char *kb_cg_state_name(const struct kb_cgroup *cg)
{
    if (!cg || cg->n == 0)
        return "Empty";
    if (cg->epoch != cg->assign_epoch)
        return "Assigning";
    for (size_t i = 0; i < cg->n; i++)
        if (cg->m[i]->state != KB_CM_STABLE || cg->m[i]->epoch != cg->assign_epoch)
            return "Reconciling";
    return "Stable";
}

/* ------------------------------------------------------------ heartbeat */

static int known_assignor(const char *a)
{
    return strcmp(a, "uniform") == 0 || strcmp(a, "range") == 0;
}

static int strs_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static int nstr_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct kb_cmember *cm_new(struct kb_cgroup *cg, const char *id)
{
    if (cg->n == cg->cap) {
        size_t cap = cg->cap ? cg->cap * 2 : 8;
        struct kb_cmember **v = realloc(cg->m, cap * sizeof *v);
        if (!v)
            return NULL;
        cg->m = v;
        cg->cap = cap;
    }
    struct kb_cmember *m = calloc(1, sizeof *m);
    if (!m || !(m->id = kb_strndup(id, strlen(id)))) {
        free(m);
        return NULL;
    }
    m->prev_epoch = -1;
    m->rebalance_ms = 300000;
    cg->m[cg->n++] = m;
    return m;
}

/* Move h's changed fields into m (h gives them up). Returns whether the
 * group epoch must be bumped. */
static int cm_update(struct kb_cmember *m, struct kb_chb *h)
{
    int bump = 0;
    if (h->instance_id && !m->instance_id) {
        m->instance_id = h->instance_id;
        h->instance_id = NULL;
    }
    if (h->rack_id) {
        free(m->rack_id);
        m->rack_id = h->rack_id;
        h->rack_id = NULL;
    }
    if (h->rebalance_ms >= 0)
        m->rebalance_ms = h->rebalance_ms;
    if (h->assignor) {
        bump |= !nstr_equal(m->assignor, h->assignor);
        free(m->assignor);
        m->assignor = h->assignor;
        h->assignor = NULL;
    }
    if (h->regex) {
        if (!h->regex[0]) {
            free(h->regex);
            h->regex = NULL;
        }
        bump |= !nstr_equal(m->regex, h->regex);
        free(m->regex);
        m->regex = h->regex;
        h->regex = NULL;
    }
    if (h->subs_given) {
        bump |= !strs_equal(m->subs, m->nsubs, h->subs, h->nsubs);
        for (size_t i = 0; i < m->nsubs; i++)
            free(m->subs[i]);
        free(m->subs);
        m->subs = h->subs;
        m->nsubs = h->nsubs;
        h->subs = NULL;
        h->nsubs = 0;
    }
    char *cid = kb_strndup(h->client_id ? h->client_id : "", h->client_id ? h->client_id_len : 0);
    if (cid) {
        free(m->client_id);
        m->client_id = cid;
    }
    if (h->client_host) {
        free(m->client_host);
        m->client_host = h->client_host;
        h->client_host = NULL;
    }
    return bump;
}

static int is_subset(const struct kb_chb *h, const struct kb_tpset *s)
{
    if (!h->owned_given)
        return 0;
    for (size_t i = 0; i < h->nowned; i++)
        if (!kb_tps_has(s, h->owned[i]))
            return 0;
    return 1;
}

static int16_t epoch_check(const struct kb_cmember *m, const struct kb_chb *h)
{
    if (h->epoch > m->epoch)
        return KB_ERR_FENCED_MEMBER_EPOCH;
    if (h->epoch < m->epoch && (h->epoch != m->prev_epoch || !is_subset(h, &m->assigned)))
        return KB_ERR_FENCED_MEMBER_EPOCH;
    return KB_ERR_NONE;
}

static int16_t cm_leave(struct kb_cgroup *cg, struct kb_chb *h, struct kb_cmember **mout)
{
    struct kb_cmember *m = h->instance_id ? cm_by_instance(cg, h->instance_id)
                                          : kb_cg_member(cg, h->member_id, strlen(h->member_id));
    if (!m)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    if (h->instance_id && strcmp(m->id, h->member_id) != 0)
        return KB_ERR_FENCED_INSTANCE_ID;
    if (h->epoch == -2 && m->instance_id) {
        m->epoch = -2; /* keeps its assignment until it rejoins or times out */
        *mout = NULL;
        return KB_ERR_NONE;
    }
    cm_remove(cg, m);
    *mout = NULL;
    return KB_ERR_NONE;
}

int16_t kb_cg_heartbeat(struct kb_broker *b, struct kb_group *g, struct kb_chb *h,
                        struct kb_cmember **mout, int *changed)
{
    struct kb_cgroup *cg = kb_cg_get(g);
    int64_t now = kb_now_ms();
    *mout = NULL;
    *changed = 0;
    if (!cg)
        return KB_ERR_COORDINATOR_NOT_AVAILABLE;
    if (h->epoch < 0)
        return cm_leave(cg, h, mout);
    if (h->assignor && !known_assignor(h->assignor))
        return KB_ERR_UNSUPPORTED_ASSIGNOR;
    struct kb_cmember *m = NULL, *old = NULL;
    int bump = 0;
    if (!h->instance_id) {
        m = kb_cg_member(cg, h->member_id, strlen(h->member_id));
        if (!m && h->epoch != 0)
            return KB_ERR_UNKNOWN_MEMBER_ID;
        if (m) {
            int16_t err = epoch_check(m, h);
            if (err && h->epoch != 0)
                return err;
            if (err) { /* rejoins after being fenced: its old self goes */
                cm_remove(cg, m);
                m = NULL;
            }
        }
    } else {
        struct kb_cmember *s = cm_by_instance(cg, h->instance_id);
        if (h->epoch == 0) {
            if (s && s->epoch != -2)
                return KB_ERR_UNRELEASED_INSTANCE_ID;
            old = s;
        } else {
            if (!s)
                return KB_ERR_UNKNOWN_MEMBER_ID;
            if (strcmp(s->id, h->member_id) != 0)
                return KB_ERR_FENCED_INSTANCE_ID;
            int16_t err = epoch_check(s, h);
            if (err)
                return err;
            m = s;
        }
    }
    if (!m) {
        if (cg->n >= KB_MAX_MEMBERS)
            return KB_ERR_GROUP_MAX_SIZE_REACHED;
        if (old) { /* a static member replaces its previous instance */
            free(old->id);
            if (!(old->id = kb_strndup(h->member_id, strlen(h->member_id))))
                return KB_ERR_COORDINATOR_NOT_AVAILABLE;
            m = old;
            m->epoch = 0;
            m->prev_epoch = -1;
            m->state = KB_CM_STABLE;
        } else {
            if (!(m = cm_new(cg, h->member_id)))
                return KB_ERR_COORDINATOR_NOT_AVAILABLE;
            bump = 1;
        }
    }
    struct kb_tpset before = {0};
    for (size_t i = 0; i < m->assigned.n; i++)
        if (kb_tps_add(&before, m->assigned.v[i]))
            break;
    bump |= cm_update(m, h);
    m->seen_ms = now;
    int meta = kb_cg_refresh(b, cg);
    if (bump || meta > 0)
        cg->epoch++;
    if (cg->epoch > cg->assign_epoch && kb_cg_target(cg) == 0) {
        cg->assign_epoch = cg->epoch;
        kb_log(b, "group %s: target assignment of epoch %d (%s)", g->id, cg->epoch, cg->assignor);
    }
    int16_t err = kb_cg_reconcile(cg, m, h, now) ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_NONE;
    *changed = !kb_tps_equal(&before, &m->assigned);
    kb_tps_free(&before);
    *mout = m;
    return err;
}

/* ------------------------------------------------------------ timers */

void kb_cg_tick(struct kb_broker *b, struct kb_group *g, int64_t now)
{
    struct kb_cgroup *cg = g->cg;
    for (size_t i = cg ? cg->n : 0; i-- > 0;) {
        struct kb_cmember *m = cg->m[i];
        if (now - m->seen_ms > b->cfg.cg_session_ms) {
            kb_log(b, "group %s: member %s session timed out", g->id, m->id);
            cm_remove(cg, m);
        } else if (m->state == KB_CM_UNREVOKED && now > m->revoke_deadline) {
            kb_log(b, "group %s: member %s fenced: did not revoke in time", g->id, m->id);
            cm_remove(cg, m);
        }
    }
}

int64_t kb_cg_next_deadline(const struct kb_broker *b, const struct kb_group *g, int *any)
{
    const struct kb_cgroup *cg = g->cg;
    int64_t best = 0;
    *any = 0;
    for (size_t i = 0; cg && i < cg->n; i++) {
        const struct kb_cmember *m = cg->m[i];
        int64_t d = m->seen_ms + b->cfg.cg_session_ms + 1;
        if (m->state == KB_CM_UNREVOKED && m->revoke_deadline + 1 < d)
            d = m->revoke_deadline + 1;
        if (!*any || d < best)
            best = d;
        *any = 1;
    }
    return best;
}
