/*
 * vreport.h — where klog_verify() (verify.c) sends the problems it finds:
 * the caller's callback and counters, or, while a check may be raced by a
 * writer, a queue held back until the check is confirmed or dropped.
 */
#ifndef KLOG_STORAGE_VREPORT_H
#define KLOG_STORAGE_VREPORT_H

#include "klog.h"
#include "platform/platform.h"

/* Embedded by its user; its fields belong to vreport.c. */
typedef struct klog__vreport {
    klog_verify_fn cb;
    void *ctx;
    klog_verify_stats_t *st;       /* the caller's, updated as problems are reported */
    klog_verify_stats_t saved;     /* *st when the hold began */
    const char *topic;
    int32_t part;
    int holding;
    struct klog__vpending *pend;
    size_t npend, cap;
} klog__vreport_t;

/* cb may be NULL (counted only); st must not. */
KLOG__HIDDEN void klog__vreport_init(klog__vreport_t *r, klog_verify_fn cb, void *ctx,
                                     klog_verify_stats_t *st);
KLOG__HIDDEN void klog__vreport_free(klog__vreport_t *r);
/* The partition the next problems are about (NULL, -1: none). */
KLOG__HIDDEN void klog__vreport_where(klog__vreport_t *r, const char *topic, int32_t part);
/* The caller's counters (batches, bytes, ... are counted there directly). */
KLOG__HIDDEN klog_verify_stats_t *klog__vreport_stats(klog__vreport_t *r);
/* One problem of severity sev in the file at path, at byte pos; cut: the
 * bytes recovery would remove (recoverable problems). */
KLOG__HIDDEN void klog__vreport(klog__vreport_t *r, int sev, const char *path, int64_t pos,
                                int64_t cut, const char *fmt, ...) KLOG__PRINTF(6, 7);
/* Hold back what is reported (and counted) from now on ... */
KLOG__HIDDEN void klog__vreport_hold(klog__vreport_t *r);
/* ... until this: keep reports the held problems in order; otherwise they
 * are dropped and the counters go back to what they were at the hold. A
 * problem that cannot be held (no memory) was reported at once. */
KLOG__HIDDEN void klog__vreport_settle(klog__vreport_t *r, int keep);

#endif
