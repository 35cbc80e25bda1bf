/*
 * tu_compact.h — fixtures of the compaction suites (check_compact_util.c;
 * used by check_compact.c,
 * check_compact_rules.c): a model of every record appended, snapshots of
 * what a partition holds, and the checks the properties ask for.
 * Failures are Check assertions.
 */
#ifndef KLOG_TU_COMPACT_H
#define KLOG_TU_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"
#include "util/tu_records.h"

#define TS0 1700000000000LL

typedef struct mrec {
    char key[16];
    int key_len;     /* -1: no key */
    char value[48];
    int value_len;   /* -1: tombstone */
    int64_t ts;
} mrec_t;

typedef struct model {
    mrec_t *v;
    size_t n, cap;
} model_t;

/* A snapshot of what the partition holds: offsets (sorted) and records. */
typedef struct seen {
    int64_t *off;
    mrec_t *rec;
    size_t n;
} seen_t;

typedef struct fx {
    char *dir;
    klog_t *log;
    klog_partition_t *p;
} fx_t;

void tc_model_add(model_t *m, const mrec_t *r);
void tc_mrec_make(mrec_t *r, int key, int version, int tombstone, int64_t ts);
klog_record_t tc_to_rec(const mrec_t *r);
int tc_same(const mrec_t *m, const klog_record_t *r);
void tc_append_model(klog_partition_t *p, const model_t *m, size_t from, size_t to, size_t per);
void tc_seen_free(seen_t *s);
void tc_read_all(klog_partition_t *p, seen_t *out);
int tc_seen_equal(const seen_t *a, const seen_t *b);
void tc_check_subset(const model_t *m, const seen_t *s);
int64_t tc_latest_of(const model_t *m, const mrec_t *r, size_t below);
void tc_check_cleaned(const model_t *m, const seen_t *s, int64_t end, int tombstones_ok);
void tc_check_latest_readable(const model_t *m, const seen_t *s, int tombstones_ok);
klog_config_t *tc_log_conf(int64_t dedupe);
klog_config_t *tc_topic_conf(int64_t seg_bytes, int64_t delete_retention);
void tc_fx_open(fx_t *f, int64_t dedupe);
void tc_fx_new(fx_t *f, const char *tag, int64_t seg_bytes, int64_t delete_retention);
void tc_fx_close(fx_t *f);
void tc_fx_done(fx_t *f);
int64_t tc_nsegments(klog_partition_t *p);
void tc_verify_clean(klog_t *log);
void tc_gen_model(model_t *m, tu_rng_t *rng, int nkeys, size_t n, int tomb_pct);

/* n records of keys key0.. in turn (nkeys of them), one record per batch. */
void tc_fill_keys(fx_t *f, model_t *m, int key0, int nkeys, int n);
void tc_fill(fx_t *f, model_t *m, int nkeys, int n);
/* klog_sync (rolled segments sealed), then klog_compact of "t" 0. */
int tc_compact(fx_t *f, klog_compact_stats_t *st);
/* Every batch header of the partition's .log files (up to cap kept);
 * returns the count. */
size_t tc_batches(klog_partition_t *p, klog_batch_info_t *out, size_t cap);
/* Append a batch of records with producer fields and attribute bits set. */
int64_t tc_append_producer(klog_partition_t *p, const klog_record_t *recs, size_t n, int64_t pid,
                           int16_t epoch, int32_t seq, int16_t attr_or);

#endif
