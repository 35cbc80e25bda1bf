/*
 * check_compact_util.c — fixtures of the compaction suites (see
 * util/tu_compact.h). It defines no suite; it sits beside the suites, not in
 * test/util/, because its checks are Check assertions and test/util/ is also
 * linked into the helper programs, which do not link libcheck.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"
#include "util/testutil.h"
#include "util/tu_compact.h"

/* ------------------------------------------------------------ the model */

void tc_model_add(model_t *m, const mrec_t *r)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        ck_assert_ptr_nonnull(m->v);
    }
    m->v[m->n++] = *r;
}

void tc_mrec_make(mrec_t *r, int key, int version, int tombstone, int64_t ts)
{
    memset(r, 0, sizeof *r);
    r->key_len = key < 0 ? -1 : snprintf(r->key, sizeof r->key, "k%04d", key);
    r->value_len = tombstone ? -1 : snprintf(r->value, sizeof r->value, "v%d-%d", key, version);
    r->ts = ts;
}

klog_record_t tc_to_rec(const mrec_t *r)
{
    klog_record_t k = {0};
    k.key = r->key_len < 0 ? NULL : r->key;
    k.key_len = r->key_len < 0 ? KLOG_NULL_LEN : r->key_len;
    k.value = r->value_len < 0 ? NULL : r->value;
    k.value_len = r->value_len < 0 ? KLOG_NULL_LEN : r->value_len;
    k.timestamp = r->ts;
    return k;
}

int tc_same(const mrec_t *m, const klog_record_t *r)
{
    if (r->timestamp != m->ts || r->header_count != 0)
        return 0;
    if ((m->key_len < 0) != (r->key_len == KLOG_NULL_LEN))
        return 0;
    if (m->key_len >= 0 && (r->key_len != m->key_len || memcmp(r->key, m->key, (size_t)m->key_len)))
        return 0;
    if ((m->value_len < 0) != (r->value_len == KLOG_NULL_LEN))
        return 0;
    return m->value_len < 0 ||
           (r->value_len == m->value_len && memcmp(r->value, m->value, (size_t)m->value_len) == 0);
}

/* Append m->v[from..to) in batches of `per` records. */
void tc_append_model(klog_partition_t *p, const model_t *m, size_t from, size_t to, size_t per)
{
    klog_record_t recs[16];
    for (size_t i = from; i < to;) {
        size_t k = 0;
        for (; k < per && i < to; k++, i++)
            recs[k] = tc_to_rec(&m->v[i]);
        int64_t base;
        ck_assert_int_eq(klog_append(p, recs, k, &base), 0);
        ck_assert_int_eq(base, (int64_t)(i - k));
    }
}

void tc_seen_free(seen_t *s)
{
    free(s->off);
    free(s->rec);
    memset(s, 0, sizeof *s);
}

void tc_read_all(klog_partition_t *p, seen_t *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    klog_reader_t *r;
    ck_assert_int_eq(klog_reader_open(p, KLOG_OFFSET_BEGINNING, &r), 0);
    klog_record_t rec;
    int rc;
    int64_t prev = -1;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        ck_assert_int_gt(rec.offset, prev);
        prev = rec.offset;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 256;
            out->off = realloc(out->off, cap * sizeof *out->off);
            out->rec = realloc(out->rec, cap * sizeof *out->rec);
        }
        mrec_t *m = &out->rec[out->n];
        memset(m, 0, sizeof *m);
        m->key_len = rec.key_len == KLOG_NULL_LEN ? -1 : rec.key_len;
        if (m->key_len > 0)
            memcpy(m->key, rec.key, (size_t)m->key_len);
        m->value_len = rec.value_len == KLOG_NULL_LEN ? -1 : rec.value_len;
        if (m->value_len > 0)
            memcpy(m->value, rec.value, (size_t)m->value_len);
        m->ts = rec.timestamp;
        out->off[out->n++] = rec.offset;
    }
    ck_assert_int_eq(rc, 0);
    klog_reader_close(r);
}

int tc_seen_equal(const seen_t *a, const seen_t *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->off[i] != b->off[i] || memcmp(&a->rec[i], &b->rec[i], sizeof a->rec[i]) != 0)
            return 0;
    return 1;
}

/* Every record present was appended at that offset, byte for byte. */
void tc_check_subset(const model_t *m, const seen_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        ck_assert_int_lt(s->off[i], (int64_t)m->n);
        klog_record_t r = tc_to_rec(&s->rec[i]);
        ck_assert_msg(tc_same(&m->v[s->off[i]], &r), "offset %lld changed", (long long)s->off[i]);
    }
}

/* Latest offset of key k's record among model offsets [0, below). */
int64_t tc_latest_of(const model_t *m, const mrec_t *r, size_t below)
{
    int64_t best = -1;
    for (size_t i = 0; i < below && i < m->n; i++)
        if (m->v[i].key_len == r->key_len && memcmp(m->v[i].key, r->key, (size_t)r->key_len) == 0)
            best = (int64_t)i;
    return best;
}

/* In the cleaned part [0, end) each key keeps only its latest record;
 * tombstones only if allowed; no record without a key. */
void tc_check_cleaned(const model_t *m, const seen_t *s, int64_t end, int tombstones_ok)
{
    for (size_t i = 0; i < s->n && s->off[i] < end; i++) {
        ck_assert_int_ge(s->rec[i].key_len, 0);
        ck_assert_int_eq(tc_latest_of(m, &s->rec[i], (size_t)end), s->off[i]);
        if (!tombstones_ok)
            ck_assert_int_ge(s->rec[i].value_len, 0);
    }
}

/* The latest record of every key is readable (tombstones: if allowed). */
void tc_check_latest_readable(const model_t *m, const seen_t *s, int tombstones_ok)
{
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].key_len < 0 || tc_latest_of(m, &m->v[i], m->n) != (int64_t)i)
            continue;
        if (m->v[i].value_len < 0 && !tombstones_ok)
            continue;
        while (j < s->n && s->off[j] < (int64_t)i)
            j++;
        ck_assert_msg(j < s->n && s->off[j] == (int64_t)i, "latest record at %zu missing", i);
    }
}

/* ------------------------------------------------------------ fixtures */

klog_config_t *tc_log_conf(int64_t dedupe)
{
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CHECKPOINT_MS, 0), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_RETENTION_CHECK_MS, 0), 0);
    if (dedupe)
        ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANER_DEDUPE_BYTES, dedupe), 0);
    return c;
}

klog_config_t *tc_topic_conf(int64_t seg_bytes, int64_t delete_retention)
{
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_CLEANUP_POLICY, KLOG_CLEANUP_COMPACT), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, seg_bytes), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_DELETE_RETENTION_MS, delete_retention), 0);
    return c;
}

void tc_fx_open(fx_t *f, int64_t dedupe)
{
    klog_config_t *c = tc_log_conf(dedupe);
    ck_assert_int_eq(klog_open(f->dir, c, 0, &f->log), 0);
    klog_config_free(c);
    ck_assert_int_eq(klog_partition(f->log, "t", 0, &f->p), 0);
}

void tc_fx_new(fx_t *f, const char *tag, int64_t seg_bytes, int64_t delete_retention)
{
    f->dir = tu_tmpdir(tag);
    klog_config_t *c = tc_log_conf(0);
    ck_assert_int_eq(klog_open(f->dir, c, 0, &f->log), 0);
    klog_config_free(c);
    klog_config_t *t = tc_topic_conf(seg_bytes, delete_retention);
    ck_assert_int_eq(klog_topic_create(f->log, "t", 1, t), 0);
    klog_config_free(t);
    ck_assert_int_eq(klog_partition(f->log, "t", 0, &f->p), 0);
}

void tc_fx_close(fx_t *f)
{
    ck_assert_int_eq(klog_close(f->log), 0);
    f->log = NULL;
    f->p = NULL;
}

void tc_fx_done(fx_t *f)
{
    if (f->log)
        tc_fx_close(f);
    tu_rmtree(f->dir);
    free(f->dir);
}

int64_t tc_nsegments(klog_partition_t *p)
{
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(p, &o), 0);
    return o.segments;
}

void tc_verify_clean(klog_t *log)
{
    klog_verify_stats_t vs;
    ck_assert_int_eq(klog_verify(log, NULL, -1, NULL, NULL, &vs), 0);
    ck_assert_int_eq(vs.damage, 0);
    ck_assert_int_eq(vs.recoverable, 0);
}

/* Keys 0..nkeys-1, `rounds` versions each, shuffled by rng; some tombstones. */
void tc_gen_model(model_t *m, tu_rng_t *rng, int nkeys, size_t n, int tomb_pct)
{
    for (size_t i = 0; i < n; i++) {
        mrec_t r;
        int key = (int)tu_rng_below(rng, (uint64_t)nkeys);
        tc_mrec_make(&r, key, (int)i, (int)tu_rng_below(rng, 100) < tomb_pct, TS0 + (int64_t)i);
        tc_model_add(m, &r);
    }
}


/* ------------------------------------------------------------ rules */

/* n records of keys key0..key0+nkeys-1 in turn, one record per batch. */
void tc_fill_keys(fx_t *f, model_t *m, int key0, int nkeys, int n)
{
    size_t from = m->n;
    for (int i = 0; i < n; i++) {
        mrec_t r;
        tc_mrec_make(&r, key0 + i % nkeys, (int)(from + (size_t)i), 0,
                     TS0 + (int64_t)(from + (size_t)i));
        tc_model_add(m, &r);
    }
    tc_append_model(f->p, m, from, m->n, 1);
}

void tc_fill(fx_t *f, model_t *m, int nkeys, int n) { tc_fill_keys(f, m, 0, nkeys, n); }

int tc_compact(fx_t *f, klog_compact_stats_t *st)
{
    ck_assert_int_eq(klog_sync(f->log), 0); /* rolled segments sealed */
    return klog_compact(f->log, "t", 0, st);
}

/* Every batch header of the partition's .log files, in offset order. */
size_t tc_batches(klog_partition_t *p, klog_batch_info_t *out, size_t cap)
{
    klog_segment_info_t *segs;
    size_t n, k = 0;
    ck_assert_int_eq(klog_segment_list(p, &segs, &n), 0);
    for (size_t i = 0; i < n; i++) {
        FILE *fp = fopen(segs[i].log_path, "rb");
        ck_assert_ptr_nonnull(fp);
        uint8_t h[KLOG_BATCH_HEADER_SIZE];
        long pos = 0;
        while (fseek(fp, pos, SEEK_SET) == 0 && fread(h, 1, sizeof h, fp) == sizeof h) {
            klog_batch_info_t bi;
            ck_assert_int_eq(klog__batch_peek(h, sizeof h, &bi), 0);
            if (k < cap)
                out[k] = bi;
            k++;
            pos += (long)bi.size;
        }
        fclose(fp);
    }
    free(segs);
    return k;
}

/* Append a batch of records with producer fields (and attributes) set. */
int64_t tc_append_producer(klog_partition_t *p, const klog_record_t *recs, size_t n,
                               int64_t pid, int16_t epoch, int32_t seq, int16_t attr_or)
{
    void *b;
    size_t len;
    ck_assert_int_eq(klog_batch_encode(recs, n, KLOG_COMPRESSION_NONE, &b, &len), 0);
    uint8_t *h = b;
    klog__store16(h + 21, (uint16_t)(klog__load16(h + 21) | (uint16_t)attr_or));
    klog__store64(h + 43, (uint64_t)pid);
    klog__store16(h + 51, (uint16_t)epoch);
    klog__store32(h + 53, (uint32_t)seq);
    klog__store32(h + 17, klog_crc32c(0, h + 21, len - 21));
    int64_t base;
    ck_assert_int_eq(klog_append_batch(p, b, len, &base), 0);
    free(b);
    return base;
}

