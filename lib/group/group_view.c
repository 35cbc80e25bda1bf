/*
 * group_view.c — what a rebalance reads from the registry: the group's
 * live members and their subscriptions, the union of their topics with
 * each topic's partition count, and (for the sticky strategy) who owns
 * each partition now; turned into klog_assign()'s input.
 *
 * A member that does not find itself among the live members (its entry
 * vanished, e.g. with an expired ZooKeeper session) registers again and is
 * counted. A topic the registry does not know counts as 0 partitions; a
 * partition without an owner (or whose owner's name does not fit) is not
 * "current". The view owns every string the input points to, so the
 * input lives exactly as long as the view.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group/group.h"
#include "group/group_view.h"

typedef struct rmember {
    char *id;
    char *topics_csv;
    const char **topics; /* pointers into a copy split on ',' */
    char *split;
    size_t ntopics;
} rmember_t;

typedef struct view {
    rmember_t *mem;
    size_t n, cap;
    int rc;
} view_t;

static void view_free(view_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->mem[i].id);
        free(v->mem[i].topics_csv);
        free(v->mem[i].topics);
        free(v->mem[i].split);
    }
    free(v->mem);
    memset(v, 0, sizeof *v);
}

static int count_cb(void *arg, const char *t, size_t len)
{
    (void)t;
    (void)len;
    (*(size_t *)arg)++;
    return 0;
}

static int visit_member(void *arg, const char *id, const char *topics)
{
    view_t *v = arg;
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 8;
        rmember_t *n = klog__realloc(v->mem, nc * sizeof *n);
        if (!n)
            return -ENOMEM;
        v->mem = n;
        v->cap = nc;
    }
    rmember_t *r = &v->mem[v->n];
    memset(r, 0, sizeof *r);
    r->id = klog__strdup(id);
    r->topics_csv = klog__strdup(topics ? topics : "");
    r->split = klog__strdup(topics ? topics : "");
    size_t cnt = 0;
    klog__topics_split(topics, count_cb, &cnt);
    r->topics = klog__calloc(cnt + 1, sizeof *r->topics);
    if (!r->id || !r->topics_csv || !r->split || !r->topics) {
        free(r->id);
        free(r->topics_csv);
        free(r->split);
        free(r->topics);
        return -ENOMEM;
    }
    for (char *p = r->split, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)); p = NULL)
        if (r->ntopics < cnt)
            r->topics[r->ntopics++] = tok;
    v->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct klog__gview {
    view_t v;
    const char **tnames;
    klog_assign_topic_t *topics;
    klog_assign_member_t *members;
    klog_assign_owner_t *cur;
    char (*curbuf)[256];
};

void klog__gview_free(klog__gview_t *g)
{
    if (!g)
        return;
    free(g->cur);
    free(g->curbuf);
    free(g->tnames);
    free(g->topics);
    free(g->members);
    view_free(&g->v);
    free(g);
}

int klog__gview_read(const klog_registry_ops_t *ops, const char *group, const char *self_id,
                     const char *self_topics, int sticky, const klog__logger_t *lg,
                     klog__gview_t **out, klog_assign_input_t *in)
{
    *out = NULL;
    klog__gview_t *g = klog__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    view_t *v = &g->v;
    size_t ntn = 0, nt = 0, ncur = 0, total = 0;
    int rc;

    rc = ops->member_list(ops->ctx, group, visit_member, v);
    if (rc)
        goto fail;
    int present = 0;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->mem[i].id, self_id) == 0)
            present = 1;
    if (!present) {
        klog__log(lg, KLOG_LOG_WARN, "group %s: member %s missing; registering again",
                  group, self_id);
        rc = ops->member_register(ops->ctx, group, self_id, self_topics);
        if (rc == 0)
            rc = visit_member(v, self_id, self_topics);
        if (rc)
            goto fail;
    }
    /* Topics: the union of every member's subscriptions. */
    size_t all = 0;
    for (size_t i = 0; i < v->n; i++)
        all += v->mem[i].ntopics;
    rc = -ENOMEM;
    g->tnames = klog__calloc(all + 1, sizeof *g->tnames);
    g->topics = klog__calloc(all + 1, sizeof *g->topics);
    g->members = klog__calloc(v->n + 1, sizeof *g->members);
    if (!g->tnames || !g->topics || !g->members)
        goto fail;
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = 0; j < v->mem[i].ntopics; j++)
            g->tnames[ntn++] = v->mem[i].topics[j];
    qsort(g->tnames, ntn, sizeof *g->tnames, cmp_str);
    for (size_t i = 0; i < ntn; i++) {
        if (nt > 0 && strcmp(g->topics[nt - 1].name, g->tnames[i]) == 0)
            continue;
        int32_t np = 0;
        rc = ops->topic_partitions(ops->ctx, g->tnames[i], &np);
        if (rc == KLOG_ENOTFOUND)
            np = 0;
        else if (rc)
            goto fail;
        g->topics[nt].name = g->tnames[i];
        g->topics[nt].partitions = np;
        total += (size_t)np;
        nt++;
    }
    for (size_t i = 0; i < v->n; i++) {
        g->members[i].id = v->mem[i].id;
        g->members[i].topics = v->mem[i].topics;
        g->members[i].topic_count = v->mem[i].ntopics;
    }
    if (sticky && total > 0) {
        rc = -ENOMEM;
        g->cur = klog__calloc(total, sizeof *g->cur);
        g->curbuf = klog__calloc(total, sizeof *g->curbuf);
        if (!g->cur || !g->curbuf)
            goto fail;
        for (size_t t = 0; t < nt; t++)
            for (int32_t p = 0; p < g->topics[t].partitions; p++) {
                int orc = ops->owner(ops->ctx, group, g->topics[t].name, p, g->curbuf[ncur],
                                     sizeof g->curbuf[ncur]);
                if (orc == KLOG_ENOTFOUND || orc == -ENAMETOOLONG)
                    continue;
                if (orc) {
                    rc = orc;
                    goto fail;
                }
                g->cur[ncur].topic = g->topics[t].name;
                g->cur[ncur].partition = p;
                g->cur[ncur].member = g->curbuf[ncur];
                ncur++;
            }
    }
    *in = (klog_assign_input_t){
        .topics = g->topics,
        .topic_count = nt,
        .members = g->members,
        .member_count = v->n,
        .current = g->cur,
        .current_count = ncur,
    };
    *out = g;
    return 0;
fail:
    klog__gview_free(g);
    return rc;
}
