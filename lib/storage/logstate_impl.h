/*
 * logstate_impl.h — struct klog__logstate, private to logstate.c and
 * logstate_load.c (`make check-layers` refuses other includers).
 */
#ifndef KLOG_STORAGE_LOGSTATE_IMPL_H
#define KLOG_STORAGE_LOGSTATE_IMPL_H

#include <pthread.h>

#include "storage/logstate.h"

/* One segment's aborted-transaction index. */
typedef struct klog__ls_tx {
    int64_t base;
    klog__txnidx_t *idx;
    int dirty; /* appended to since the last fsync */
} klog__ls_tx_t;

struct klog__logstate {
    const char *dir;
    const klog__logger_t *lg;
    pthread_mutex_t mu;
    klog__pstate_t *ps;
    klog__pstage_t st;           /* the append in progress (append_mu) */
    klog__epoch_cache_t *epochs;
    klog__ls_tx_t *tx;           /* ascending base, one per segment */
    size_t ntx, captx;
    /* A snapshot file no segment is based at and that the open kept (the
     * clean close's, or the one a recovery took), or -1. Once a rolled
     * segment past it is sealed, the next open would delete it (Kafka's
     * removeStraySnapshots): klog__ls_reap does it then, on the sealer's
     * thread, instead of every partition's open after a kill -9. Only the
     * oldest such file is tracked; another one waits for the next open. */
    int64_t stray;
};

/* logstate.c, with mu held */
KLOG__HIDDEN klog__ls_tx_t *klog__ls_tx_floor(klog__logstate_t *ls, int64_t offset);
KLOG__HIDDEN int klog__ls_commit_locked(klog__logstate_t *ls, int64_t txn_from, int64_t next);
KLOG__HIDDEN int klog__ls_epoch_locked(klog__logstate_t *ls, int32_t epoch, int64_t base);
KLOG__HIDDEN int klog__ls_add_locked(klog__logstate_t *ls, int64_t base);
/* The same; absent: the directory listing has no .txnindex at base. */
KLOG__HIDDEN int klog__ls_add_known(klog__logstate_t *ls, int64_t base, int absent);
KLOG__HIDDEN void klog__ls_remove_tx(klog__logstate_t *ls, size_t i);
KLOG__HIDDEN int klog__ls_sync_locked(klog__logstate_t *ls);

#endif
