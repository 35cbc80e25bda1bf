/*
 * cleaner_pass.c — one cleaning pass over one partition (Kafka's
 * Cleaner.doClean, cleanSegments and cleanInto; kafka-format.md 6).
 *
 * RANGES
 *   log start <= first dirty <= end <= first uncleanable. The first
 *   uncleanable offset is the least of: the base of the first segment that
 *   is active or not yet sealed, the high watermark, the first offset of a
 *   transaction still open (from the batch headers), and the base of the
 *   first dirty segment whose max timestamp is newer than
 *   min.compaction.lag.ms. The offset map covers [first dirty, end): end is
 *   the first uncleanable offset, or the offset of the first keyed record
 *   that found the map full. Every segment overlapping [log start, end) is
 *   rewritten, in groups of consecutive segments whose bytes fit
 *   segment.bytes and whose offsets fit an int32 delta.
 *
 * RECORD RULES (shouldRetainRecord): a record at or past `end` stays; a
 *   record without a key goes; a record whose key's mapped offset is
 *   later goes; a tombstone stays until its batch's delete horizon (set,
 *   when absent, to now + delete.retention.ms the first time a batch
 *   keeping it is rewritten).
 * BATCH RULES (checkBatchRetention, CleanedTransactionMetadata): aborted
 *   transactions come from the .txnindex files; a data batch of an aborted
 *   transaction is discarded, and an ABORT marker goes once no batch of
 *   its transaction was seen in the pass (and its horizon passed); a
 *   COMMIT marker likewise once no batch of its transaction was seen. The
 *   batch holding a producer's last data offset (or its last marker, when
 *   its epoch has no data) is kept, empty if all its records go. Producer
 *   facts come from a walk of every batch header of the partition (each
 *   producer counts as active: the producer-state wiring can narrow this).
 * The pass reads the snapshot of the segment list it started with; the
 * swap checks, under the append lock, that the group is still there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"
#include "storage/cleaner.h"
#include "storage/txnindex.h"

#define CHUNK (1u << 20)

/* ------------------------------------------------------------ producers */

typedef struct prod {
    int64_t pid;
    int16_t epoch;
    int64_t last_data;   /* lastOffset of its last data batch in this epoch, -1 */
    int64_t open_first;  /* first offset of its open transaction, -1 */
    /* transaction tracking while cleaning (CleanedTransactionMetadata) */
    int aborted;         /* an aborted transaction is in progress */
    int64_t seen_aborted;/* last batch of it seen, -1 */
    int committed;       /* a batch of a committed transaction was seen */
} prod_t;

typedef struct pass {
    klog__clean_job_t *job;
    klog__partition_t *p;
    klog__seglist_t *l;
    size_t ncand;          /* candidate segments: l->seg[0..ncand) are sealed, inactive */
    int64_t first_dirty, uncleanable, end, log_start, horizon_ms;
    int64_t dirty_records; /* records in [first dirty, first uncleanable): the map's need */
    prod_t *prods;
    size_t nprods, capprods;
    klog__aborted_txn_t *aborted;
    size_t naborted, next_aborted;
    int discard_records;   /* the current batch's records all go */
    klog__filter_t filter;
    klog__buf_t out;
    klog_batch_reader_t *br;
    klog__cleaned_t *cur;  /* the group's output */
} pass_t;

static prod_t *prod_get(pass_t *ps, int64_t pid)
{
    for (size_t i = 0; i < ps->nprods; i++)
        if (ps->prods[i].pid == pid)
            return &ps->prods[i];
    if (ps->nprods == ps->capprods) {
        size_t cap = ps->capprods ? 2 * ps->capprods : 16;
        prod_t *nv = klog__realloc(ps->prods, cap * sizeof *nv);
        if (!nv)
            return NULL;
        ps->prods = nv;
        ps->capprods = cap;
    }
    prod_t *e = &ps->prods[ps->nprods++];
    *e = (prod_t){pid, -1, -1, -1, 0, -1, 0};
    return e;
}

static int64_t seg_end(const pass_t *ps, size_t i)
{
    return i + 1 < ps->l->n ? klog__segment_base(ps->l->seg[i + 1])
                            : klog__segment_next_offset(ps->l->seg[i]);
}

/* Walk the batches of segment s; fn(ps, bi, data) per batch. check_crc < 0:
 * headers only (data NULL). */
static int walk(pass_t *ps, klog__segment_t *s, int check_crc,
                int (*fn)(pass_t *, const klog_batch_info_t *, const uint8_t *))
{
    klog__cursor_t c = {0};
    int64_t limit = klog__segment_readable(s);
    klog__cursor_init(&c, s, 0, limit, check_crc < 0 ? 0 : CHUNK, 1);
    int rc = 0;
    for (;;) {
        klog_batch_info_t bi;
        int k = klog__cursor_peek(&c, &bi);
        if (k == KLOG__CUR_END)
            break;
        if (k != KLOG__CUR_BATCH) {
            rc = k < 0 ? k : KLOG_ECORRUPT;
            break;
        }
        const uint8_t *data = NULL;
        k = check_crc < 0 ? 1 : klog__cursor_batch(&c, bi.size, &data);
        if (k != 1) {
            rc = k < 0 ? k : KLOG_ECORRUPT;
            break;
        }
        if (check_crc > 0 &&
            (rc = klog_batch_validate(data, bi.size, KLOG_VALIDATE_HEADER, NULL)) != 0)
            break;
        if ((rc = fn(ps, &bi, data)) != 0)
            break;
        klog__cursor_seek(&c, c.pos + (int64_t)bi.size, -1);
    }
    klog__cursor_free(&c);
    if (rc == KLOG_ECORRUPT || rc == KLOG_ECRC)
        klog__log(klog__partition_logger(ps->p), KLOG_LOG_ERROR,
                  "cleaner: %s.log: %s: the partition is left as it is", klog__segment_stem(s),
                  klog_strerror(rc));
    return rc;
}

static int scan_producer(pass_t *ps, const klog_batch_info_t *bi, const uint8_t *data)
{
    (void)data;
    if (bi->base_offset + bi->last_offset_delta >= ps->first_dirty &&
        bi->base_offset < ps->uncleanable && !(bi->attributes & KLOG_ATTR_CONTROL))
        ps->dirty_records += bi->record_count;
    if (bi->producer_id < 0)
        return 0;
    prod_t *e = prod_get(ps, bi->producer_id);
    if (!e)
        return -ENOMEM;
    if (bi->producer_epoch != e->epoch) {
        e->epoch = bi->producer_epoch;
        e->last_data = -1; /* a new epoch starts without batch metadata */
    }
    if (bi->attributes & KLOG_ATTR_CONTROL) {
        e->open_first = -1;
    } else {
        e->last_data = bi->base_offset + bi->last_offset_delta;
        if ((bi->attributes & KLOG_ATTR_TRANSACTIONAL) && e->open_first < 0)
            e->open_first = bi->base_offset;
    }
    return 0;
}

/* A producer's last batch: kept (empty if need be) for its state. */
static int last_of_producer(pass_t *ps, const klog_batch_info_t *bi)
{
    if (bi->producer_id < 0)
        return 0;
    for (size_t i = 0; i < ps->nprods; i++) {
        const prod_t *e = &ps->prods[i];
        if (e->pid != bi->producer_id)
            continue;
        if (e->last_data >= 0)
            return bi->base_offset + bi->last_offset_delta == e->last_data;
        return (bi->attributes & KLOG_ATTR_CONTROL) && bi->producer_epoch == e->epoch;
    }
    return 0;
}

/* ------------------------------------------------------------ transactions */

static int cmp_first(const void *a, const void *b)
{
    int64_t x = ((const klog__aborted_txn_t *)a)->first_offset;
    int64_t y = ((const klog__aborted_txn_t *)b)->first_offset;
    return x < y ? -1 : x > y;
}

/* Aborted transactions of every segment from index `from` on (the .txnindex
 * of a segment holds those whose marker it holds; a trailing partial
 * entry of the active one is being written and is left out). */
static int load_aborted(pass_t *ps, size_t from)
{
    free(ps->aborted);
    ps->aborted = NULL;
    ps->naborted = ps->next_aborted = 0;
    const char *dir = klog__partition_dir(ps->p);
    for (size_t i = from; i < ps->l->n; i++) {
        char name[32];
        int64_t base = klog__segment_base(ps->l->seg[i]);
        klog__txnidx_name(base, name);
        char *path = klog__asprintf("%s/%s", dir, name);
        if (!path)
            return -ENOMEM;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = klog__read_file(path, (size_t)1 << 30, &buf, &len);
        free(path);
        if (rc == -ENOENT)
            continue;
        if (rc)
            return rc;
        klog__aborted_txn_t *v = NULL;
        size_t n = 0;
        rc = klog__txnidx_decode(buf, len - len % KLOG__TXNIDX_ENTRY_SIZE, base, &v, &n);
        free(buf);
        if (rc)
            return rc;
        klog__aborted_txn_t *nv =
            n ? klog__realloc(ps->aborted, (ps->naborted + n) * sizeof *nv) : ps->aborted;
        if (n && !nv) {
            free(v);
            return -ENOMEM;
        }
        ps->aborted = nv;
        memcpy(ps->aborted + ps->naborted, v, n * sizeof *v);
        ps->naborted += n;
        free(v);
    }
    if (ps->naborted > 1)
        qsort(ps->aborted, ps->naborted, sizeof *ps->aborted, cmp_first);
    for (size_t i = 0; i < ps->nprods; i++) {
        ps->prods[i].aborted = ps->prods[i].committed = 0;
        ps->prods[i].seen_aborted = -1;
    }
    return 0;
}

/* Control record type of a marker batch (0 abort, 1 commit), -1 none. */
static int marker_type(pass_t *ps, const klog_batch_info_t *bi, const uint8_t *data)
{
    klog_record_t r;
    if (bi->record_count < 1 || klog_batch_reader_open(ps->br, data, bi->size, 0) ||
        klog_batch_reader_next(ps->br, &r) != 1 || r.key_len < 4)
        return -1;
    return (int)(int16_t)klog__load16((const uint8_t *)r.key + 2);
}

/* Kafka's onBatchRead: may the batch be discarded as transaction data? */
static int txn_discard(pass_t *ps, const klog_batch_info_t *bi, const uint8_t *data)
{
    int64_t last = bi->base_offset + bi->last_offset_delta;
    while (ps->next_aborted < ps->naborted && ps->aborted[ps->next_aborted].first_offset <= last) {
        prod_t *e = prod_get(ps, ps->aborted[ps->next_aborted++].producer_id);
        if (!e)
            return -ENOMEM;
        e->aborted = 1;
        e->seen_aborted = -1;
    }
    if (bi->producer_id < 0 || !(bi->attributes & (KLOG_ATTR_CONTROL | KLOG_ATTR_TRANSACTIONAL)))
        return 0;
    prod_t *e = prod_get(ps, bi->producer_id);
    if (!e)
        return -ENOMEM;
    if (bi->attributes & KLOG_ATTR_CONTROL) {
        if (bi->record_count == 0)
            return 1; /* an empty control batch was cleaned before */
        int type = marker_type(ps, bi, data);
        if (type == 0) {
            int had = e->aborted && e->seen_aborted >= 0;
            e->aborted = 0;
            return !had; /* kept while data of its transaction was seen */
        }
        if (type == 1) {
            int had = e->committed;
            e->committed = 0;
            return !had;
        }
        return 0;
    }
    if (e->aborted) {
        e->seen_aborted = last;
        return 1;
    }
    e->committed = 1;
    return 0;
}

/* ------------------------------------------------------------ map build */

static int map_batch(pass_t *ps, const klog_batch_info_t *bi, const uint8_t *data)
{
    klog_compact_stats_t *st = ps->job->st;
    int64_t last = bi->base_offset + bi->last_offset_delta;
    if (bi->base_offset >= ps->uncleanable)
        return 1; /* stop */
    st->bytes_read += (int64_t)bi->size;
    int d = txn_discard(ps, bi, data);
    if (d < 0)
        return d;
    if (last < ps->first_dirty || d || (bi->attributes & KLOG_ATTR_CONTROL))
        goto done;
    int rc = klog_batch_reader_open(ps->br, data, bi->size, 0);
    klog_record_t r;
    while (!rc && (rc = klog_batch_reader_next(ps->br, &r)) == 1) {
        if (r.offset < ps->first_dirty || r.key_len < 0)
            continue;
        if (r.offset >= ps->uncleanable)
            break;
        if (!klog__offset_map_put(ps->job->map, r.key, (size_t)r.key_len, r.offset)) {
            ps->end = r.offset; /* full: the next pass goes on from here */
            return 1;
        }
        rc = 0;
    }
    if (rc < 0)
        return rc;
done:
    if (ps->job->throttle && ps->job->throttle(ps->job->ctx, (int64_t)bi->size))
        return KLOG_ECLOSED;
    return 0;
}

/* ------------------------------------------------------------ rewrite */

static int keep_record(void *arg, const klog_batch_info_t *bi, const klog_record_t *r)
{
    pass_t *ps = arg;
    if (ps->discard_records)
        return 0;
    if ((bi->attributes & KLOG_ATTR_CONTROL) || r->offset >= ps->end)
        return 1;
    if (r->key_len < 0)
        return 0; /* Kafka refuses keyless records on compacted topics */
    if (klog__offset_map_get(ps->job->map, r->key, (size_t)r->key_len) > r->offset)
        return 0;
    if (r->value_len == KLOG_NULL_LEN && (bi->attributes & KLOG__ATTR_DELETE_HORIZON))
        return ps->job->now_ms < bi->base_timestamp;
    return 1;
}

static int clean_batch(pass_t *ps, const klog_batch_info_t *bi, const uint8_t *data)
{
    klog_compact_stats_t *st = ps->job->st;
    st->bytes_read += (int64_t)bi->size;
    st->records_read += bi->record_count;
    int discard = txn_discard(ps, bi, data);
    if (discard < 0)
        return discard;
    int control = (bi->attributes & KLOG_ATTR_CONTROL) != 0;
    int has_horizon = (bi->attributes & KLOG__ATTR_DELETE_HORIZON) != 0;
    ps->discard_records =
        control ? discard && has_horizon && bi->base_timestamp <= ps->job->now_ms : discard;
    int retain_empty = last_of_producer(ps, bi);
    int rc = 0;
    const uint8_t *w = NULL;
    size_t wn = 0;
    if (!retain_empty && ps->discard_records) {
        st->records_removed += bi->record_count;
        st->batches_removed++;
        goto done;
    }
    ps->filter.len = bi->size;
    ps->filter.keep_fn = keep_record;
    ps->filter.arg = ps;
    ps->filter.horizon = ps->horizon_ms;
    ps->filter.marker = discard && control;
    if ((rc = klog__batch_filter(data, &ps->filter, &ps->out)) != 0)
        return rc;
    st->records_removed += ps->filter.removed;
    if (ps->filter.rewritten) {
        w = ps->out.data;
        wn = ps->out.len;
    } else if (ps->filter.kept > 0) {
        w = data;
        wn = bi->size;
    } else if (retain_empty) {
        if ((rc = klog__batch_empty(bi, &ps->out)) != 0)
            return rc;
        w = ps->out.data;
        wn = ps->out.len;
        st->empty_batches++;
    } else {
        st->batches_removed++;
    }
    if (wn) {
        if ((rc = klog__cleaned_write(ps->cur, w, wn)) != 0)
            return rc;
        st->bytes_written += (int64_t)wn;
    }
done:
    if (ps->job->throttle && ps->job->throttle(ps->job->ctx, (int64_t)(bi->size + wn)))
        return KLOG_ECLOSED;
    return 0;
}

/* Clean segments [g, h) of the snapshot into one and swap it in. */
static int clean_group(pass_t *ps, size_t g, size_t h)
{
    klog__cleaned_t c;
    const char *dir = klog__partition_dir(ps->p);
    int64_t base = klog__segment_base(ps->l->seg[g]);
    int rc = klog__cleaned_open(&c, dir, base, seg_end(ps, h - 1));
    if (!rc)
        rc = load_aborted(ps, g);
    ps->cur = &c;
    for (size_t i = g; !rc && i < h; i++) {
        rc = walk(ps, ps->l->seg[i], 1, clean_batch);
        ps->job->st->segments_read++;
    }
    ps->cur = NULL;
    if (!rc)
        rc = klog__cleaned_to_swap(&c);
    if (!rc)
        rc = klog__partition_replace(ps->p, &ps->l->seg[g], h - g, &c);
    if (rc && !klog__partition_failed(ps->p))
        klog__cleaned_discard(&c);
    if (!rc)
        ps->job->st->segments_written++;
    klog__cleaned_free(&c);
    return rc;
}

/* ------------------------------------------------------------ the pass */

/* Candidates: sealed inactive segments from the front; the first
 * uncleanable offset without the transaction bound. */
static void bounds(pass_t *ps, int64_t now, int64_t first_dirty)
{
    klog__seglist_t *l = ps->l;
    int64_t hw = klog__partition_hw(ps->p);
    int64_t lag = klog__partition_conf(ps->p, KLOG_CONF_MIN_COMPACTION_LAG_MS);
    size_t k = 0;
    while (k + 1 < l->n && klog__segment_is_sealed(l->seg[k]) && seg_end(ps, k) <= hw) {
        if (seg_end(ps, k) > first_dirty && lag > 0 &&
            klog__segment_max_ts(l->seg[k]) > now - lag)
            break;
        k++;
    }
    ps->ncand = k;
    ps->uncleanable = l->n ? klog__segment_base(l->seg[k]) : 0;
}

static int64_t start_dirty(klog__partition_t *p, int64_t ckpt)
{
    int64_t start = klog__partition_log_start(p), end = klog__partition_log_end(p);
    return ckpt < start || ckpt > end ? start : ckpt;
}

void klog__clean_assess(klog__partition_t *p, int64_t first_dirty, int64_t now_ms, int *ratio_pm,
                        int *must, int64_t *dirty_bytes)
{
    pass_t ps = {.p = p};
    ps.l = klog__partition_segments(p);
    *ratio_pm = 0;
    *must = 0;
    *dirty_bytes = 0;
    first_dirty = start_dirty(p, first_dirty);
    bounds(&ps, now_ms, first_dirty);
    int64_t clean = 0, dirty = 0, max_lag = klog__partition_conf(p, KLOG_CONF_MAX_COMPACTION_LAG_MS);
    for (size_t i = 0; i < ps.ncand; i++) {
        klog__segment_t *s = ps.l->seg[i];
        int64_t b = klog__segment_bytes(s, 1);
        if (klog__segment_base(s) < first_dirty)
            clean += b;
        if (seg_end(&ps, i) > first_dirty) {
            if (dirty == 0 && b > 0) {
                int64_t ts = klog__segment_first_ts(s);
                *must = ts >= 0 && now_ms - ts > max_lag;
            }
            dirty += b;
        }
    }
    *dirty_bytes = dirty;
    if (dirty > 0)
        *ratio_pm = (int)(dirty * 1000 / (clean + dirty));
    klog__seglist_unref(ps.l);
}

int klog__clean_partition(klog__clean_job_t *job)
{
    klog_compact_stats_t *st = job->st;
    klog__partition_t *p = job->p;
    pass_t ps = {.job = job, .p = p};
    int rc = klog_batch_reader_new(&ps.br);
    if (rc)
        return rc;
    ps.l = klog__partition_segments(p);
    ps.log_start = klog__partition_log_start(p);
    ps.first_dirty = start_dirty(p, job->first_dirty);
    ps.horizon_ms = job->now_ms + klog__partition_conf(p, KLOG_CONF_DELETE_RETENTION_MS);
    bounds(&ps, job->now_ms, ps.first_dirty);
    st->first_dirty = st->end_offset = ps.first_dirty;
    /* Producers and open transactions, from every header. */
    for (size_t i = 0; !rc && i < ps.l->n; i++)
        rc = walk(&ps, ps.l->seg[i], -1, scan_producer);
    for (size_t i = 0; i < ps.nprods; i++)
        if (ps.prods[i].open_first >= 0 && ps.prods[i].open_first < ps.uncleanable)
            ps.uncleanable = ps.prods[i].open_first;
    if (rc || ps.first_dirty >= ps.uncleanable)
        goto out;
    /* The offset map over [first dirty, first uncleanable), never larger
     * than those records could need. */
    int64_t need = (ps.dirty_records + 1) * 24 * 10 / 9 + 24 * 16;
    if ((rc = klog__offset_map_new(need < job->map_bytes ? need : job->map_bytes, &job->map)))
        goto out;
    ps.end = ps.uncleanable;
    size_t first = 0;
    while (first < ps.ncand && seg_end(&ps, first) <= ps.first_dirty)
        first++;
    rc = load_aborted(&ps, first);
    for (size_t i = first; !rc && i < ps.ncand; i++) {
        if (klog__segment_base(ps.l->seg[i]) >= ps.uncleanable)
            break;
        st->dirty_bytes += klog__segment_bytes(ps.l->seg[i], 1);
        rc = walk(&ps, ps.l->seg[i], 1, map_batch);
    }
    if (rc == 1)
        rc = 0;
    if (rc)
        goto out;
    st->map_entries = (int64_t)klog__offset_map_size(job->map);
    st->map_capacity = (int64_t)klog__offset_map_capacity(job->map);
    /* Rewrite [log start, end) in groups. */
    int64_t seg_bytes = klog__partition_conf(p, KLOG_CONF_SEGMENT_BYTES);
    size_t g = 0;
    while (g < ps.ncand && klog__segment_base(ps.l->seg[g]) < ps.end) {
        size_t h = g + 1;
        int64_t size = klog__segment_bytes(ps.l->seg[g], 1);
        int64_t base = klog__segment_base(ps.l->seg[g]);
        while (h < ps.ncand && klog__segment_base(ps.l->seg[h]) < ps.end) {
            int64_t sz = klog__segment_bytes(ps.l->seg[h], 1);
            if (size + sz > seg_bytes || seg_end(&ps, h) - 1 - base > INT32_MAX)
                break;
            size += sz;
            h++;
        }
        if ((rc = clean_group(&ps, g, h)) != 0)
            goto out;
        g = h;
    }
    job->first_dirty = ps.end;
    st->end_offset = ps.end;
    rc = 1;
out:
    klog__filter_free(&ps.filter);
    klog__buf_free(&ps.out);
    klog_batch_reader_free(ps.br);
    klog__offset_map_free(job->map);
    job->map = NULL;
    free(ps.prods);
    free(ps.aborted);
    klog__seglist_unref(ps.l);
    return rc;
}
