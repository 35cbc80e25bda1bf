/*
 * vreport.c — the problem sink of klog_verify() (see vreport.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/vreport.h"

typedef struct klog__vpending {
    int sev;
    char *path, *msg;
    int64_t pos, cut;
} pending_t;

void klog__vreport_init(klog__vreport_t *r, klog_verify_fn cb, void *ctx,
                        klog_verify_stats_t *st)
{
    *r = (klog__vreport_t){.cb = cb, .ctx = ctx, .st = st, .part = -1};
}

void klog__vreport_free(klog__vreport_t *r)
{
    klog__vreport_settle(r, 0);
    free(r->pend);
    r->pend = NULL, r->cap = 0;
}

void klog__vreport_where(klog__vreport_t *r, const char *topic, int32_t part)
{
    r->topic = topic, r->part = part;
}

klog_verify_stats_t *klog__vreport_stats(klog__vreport_t *r) { return r->st; }

static void emit(klog__vreport_t *r, int sev, const char *path, int64_t pos, int64_t cut,
                 const char *msg)
{
    if (sev == KLOG_VERIFY_DAMAGE)
        r->st->damage++;
    else if (sev == KLOG_VERIFY_RECOVERABLE)
        r->st->recoverable++, r->st->truncate_bytes += cut;
    else
        r->st->warnings++;
    if (r->cb) {
        klog_verify_problem_t p = {sev, r->topic, r->part, path, pos, msg, cut};
        r->cb(r->ctx, &p);
    }
}

static int hold(klog__vreport_t *r, int sev, const char *path, int64_t pos, int64_t cut,
                const char *msg)
{
    if (r->npend == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        pending_t *np = klog__realloc(r->pend, cap * sizeof *np);
        if (!np)
            return -1;
        r->pend = np, r->cap = cap;
    }
    pending_t *q = &r->pend[r->npend];
    q->path = klog__strdup(path);
    q->msg = klog__strdup(msg);
    if (!q->path || !q->msg) {
        free(q->path);
        free(q->msg);
        return -1;
    }
    q->sev = sev, q->pos = pos, q->cut = cut;
    r->npend++;
    return 0;
}

void klog__vreport(klog__vreport_t *r, int sev, const char *path, int64_t pos, int64_t cut,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!r->holding || hold(r, sev, path, pos, cut, msg) != 0)
        emit(r, sev, path, pos, cut, msg);
}

void klog__vreport_hold(klog__vreport_t *r)
{
    r->saved = *r->st;
    r->holding = 1;
}

void klog__vreport_settle(klog__vreport_t *r, int keep)
{
    if (!r->holding)
        return;
    r->holding = 0;
    if (!keep)
        *r->st = r->saved;
    for (size_t i = 0; i < r->npend; i++) {
        pending_t *q = &r->pend[i];
        if (keep)
            emit(r, q->sev, q->path, q->pos, q->cut, q->msg);
        free(q->path);
        free(q->msg);
    }
    r->npend = 0;
}
