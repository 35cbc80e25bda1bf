/*
 * producer.c — the producer's API: single records in, one encoded batch
 * per partition out, delivery reports back.
 *
 * Objects. A producer keeps, per topic it has seen, an entry in its topic
 * table (ptopics.c: the topic handle, its codec and batch limits, the
 * sticky partitions for null keys, one per producing thread), and per partition it has written a
 * partition state (accum.c's, holding at most one open batch: pbatch.c's
 * klog_builder_t plus the msg_opaque of each record). Topics and
 * partitions are created on first use and live until close, so the
 * produce path reaches them without locks (atomic pointers, never freed
 * while the producer is open). Accepted bytes are counted by the buffer
 * (pbuffer.c); batching, appending, linger, fsync rounds and the
 * background thread are the accumulator's (accum.c).
 *
 * Produce path (any thread). Check the record and estimate its size,
 * charge that to the buffer (waiting or failing when full: in durable mode
 * the waiting thread first fsyncs its own partition, so fsyncs of
 * different partitions overlap), pick the partition (explicit, by key, or
 * the calling thread's sticky partition of the topic for null keys, moved
 * on once its batch closed), and hand the record to the accumulator. A record it did not
 * take gives its charge back.
 *
 * Flush snapshots each partition's accepted count and lets the
 * accumulator wait until completion passes them.
 *
 * Idempotence (KLOG_CONF_ENABLE_IDEMPOTENCE): the producer takes a
 * producer id from klog_producer_id_alloc() (or the application's own
 * KLOG_CONF_PRODUCER_ID and _EPOCH) at creation; the sender (psend.c)
 * stamps every batch with it and the partition's sequence and retries
 * transient failures with the same bytes.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "produce/producer.h"
#include "storage/config.h"
#include "storage/log.h"
#include "storage/partition.h"

#define REC_OVERHEAD 24   /* estimated per-record encoding + bookkeeping */
#define HDR_OVERHEAD 10   /* estimated varints per header */

struct klog_producer {
    klog_t *log;
    int64_t linger_ms, batch_bytes, batch_records, buffer_bytes, block_ms;
    int partitioner, durable;
    int codec;                 /* KLOG_CONF_COMPRESSION if set in cfg, else -1 */

    klog__ptable_t *topics;
    klog__pbuffer_t *buf;
    klog__pbpool_t *pool;
    klog__accum_t *acc;
    klog__psender_t *sender;
    atomic_int closing;
};

/* ------------------------------------------------------------ buffer */

static int mem_reserve(klog_producer_t *P, klog_partition_t *part, int64_t sz)
{
    if (KLOG__LIKELY(klog__pbuffer_try(P->buf, sz)))
        return 0;
    if (P->block_ms == 0)
        return KLOG_EBUFFERFULL;
    if (P->durable) {
        /* The buffer is (mostly) appended batches waiting for an fsync.
         * Spend the wait on one: fsyncs of different partitions then run
         * in parallel instead of one after another on the background
         * thread, which finds this one done and only delivers. */
        klog_flush(part);
        klog__accum_wake(P->acc);
        if (klog__pbuffer_try(P->buf, sz))
            return 0;
    }
    int64_t until = klog__mono_ms() + P->block_ms;
    /* Count ourselves before the buffer's check, so a release either is
     * seen by it or sees us and broadcasts. */
    klog__pbuffer_wait_begin(P->buf);
    /* Waiting for room: ask the background thread to close open batches
     * now instead of at their linger deadline. */
    klog__accum_wake(P->acc);
    return klog__pbuffer_wait(P->buf, sz, until, &P->closing);
}

/* ------------------------------------------------------------ produce */

static int ppart_get(klog_producer_t *P, klog__ptopic_t *t, int32_t id, klog__ppart_t **out)
{
    klog__ppart_t *pp = klog__ptopic_part(t, id);
    if (KLOG__LIKELY(pp != NULL)) {
        *out = pp;
        return 0;
    }
    return klog__ptopic_part_create(P->topics, t, id, klog__ppart_new, out);
}

static int bytes_ok(const void *p, int32_t len)
{
    return len >= KLOG_NULL_LEN && !(len > 0 && p == NULL);
}

/* Check rec as the builder will and estimate what it takes in a batch. */
static int rec_size(const klog_record_t *rec, int64_t *est)
{
    if (!bytes_ok(rec->key, rec->key_len) || !bytes_ok(rec->value, rec->value_len) ||
        (rec->header_count > 0 && !rec->headers) || rec->header_count > INT32_MAX / 2)
        return -EINVAL;
    int64_t sz = REC_OVERHEAD;
    sz += rec->key_len > 0 ? rec->key_len : 0;
    sz += rec->value_len > 0 ? rec->value_len : 0;
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        if (!h->key || h->key_len < 0 || !bytes_ok(h->value, h->value_len))
            return -EINVAL;
        sz += HDR_OVERHEAD + h->key_len + (h->value_len > 0 ? h->value_len : 0);
    }
    *est = sz;
    return 0;
}

int klog_produce(klog_producer_t *P, const char *topic, int32_t partition,
                 const klog_record_t *rec, void *msg_opaque)
{
    if (!P || !topic || !rec || partition < KLOG_PARTITION_ANY)
        return -EINVAL;
    if (atomic_load_explicit(&P->closing, memory_order_relaxed))
        return KLOG_ECLOSED;
    if (KLOG__UNLIKELY(klog__psender_fenced(P->sender)))
        return KLOG_EFENCED;
    int64_t est;
    int rc = rec_size(rec, &est);
    if (rc)
        return rc;
    klog__ptopic_t *t;
    rc = klog__ptopic_lookup(P->topics, P->log, topic, P->codec, P->batch_bytes, &t);
    if (rc)
        return rc;
    if (est + KLOG_BATCH_HEADER_SIZE > klog__ptopic_max_batch(t) || est > P->buffer_bytes)
        return KLOG_ETOOLARGE;

    int32_t nparts = klog__ptopic_partitions(t);
    int sticky = 0, slot = 0;
    int32_t pid = partition;
    if (partition == KLOG_PARTITION_ANY) {
        if (rec->key_len == KLOG_NULL_LEN) {
            pid = klog__ptopic_sticky(t, &slot);
            sticky = 1;
        } else {
            pid = klog_partition_for_key(P->partitioner, rec->key, (size_t)rec->key_len, nparts);
        }
    } else if (partition >= nparts) {
        return KLOG_ENOPARTITION;
    }
    klog__ppart_t *pp;
    rc = ppart_get(P, t, pid, &pp);
    if (rc)
        return rc;
    rc = mem_reserve(P, klog__ppart_partition(pp), est);
    if (rc)
        return rc;

    int closed = 0;
    rc = klog__accum_add(P->acc, pp, t, rec, msg_opaque, est, &closed);
    if (closed && sticky)
        klog__ptopic_sticky_next(t, slot, pid);
    if (rc == 0)
        return 0;
    klog__pbuffer_release(P->buf, est); /* not accepted: give the charge back */
    return rc;
}

/* ------------------------------------------------------------ flush */

int klog_producer_flush(klog_producer_t *P, int timeout_ms)
{
    if (!P)
        return -EINVAL;
    /* Snapshot what has been accepted so far, partition by partition. */
    klog__ppart_t **parts;
    size_t n;
    int rc = klog__ptable_parts(P->topics, &parts, &n);
    if (rc)
        return rc;
    int64_t *targets = NULL;
    if (n && !(targets = klog__malloc(n * sizeof *targets))) {
        free(parts);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        targets[i] = klog__ppart_accepted(parts[i]);
    rc = klog__accum_flush(P->acc, parts, targets, n, timeout_ms);
    free(targets);
    free(parts);
    if (rc == 0)
        rc = klog__accum_take_error(P->acc);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

static void producer_free(klog_producer_t *P)
{
    klog__accum_stop(P->acc); /* its thread uses the pool and buffer */
    klog__ptable_free(P->topics, klog__ppart_free);
    klog__accum_free(P->acc);
    klog__pbpool_free(P->pool);
    klog__pbuffer_free(P->buf);
    klog__psender_free(P->sender);
    free(P);
}

/* The sender: identity (idempotent mode) and retry settings. */
static int sender_new(klog_producer_t *P, const klog_config_t *cfg)
{
    int idem = (int)klog__config_value(cfg, NULL, KLOG_CONF_ENABLE_IDEMPOTENCE);
    int64_t pid = -1, epoch = 0;
    if (idem) {
        pid = klog__config_value(cfg, NULL, KLOG_CONF_PRODUCER_ID);
        epoch = klog__config_value(cfg, NULL, KLOG_CONF_PRODUCER_EPOCH);
        if (pid < 0) {
            int rc = klog_producer_id_alloc(P->log, &pid);
            if (rc)
                return rc;
            epoch = 0;
        }
    }
    /* Kafka: retries default to "forever" (bounded by delivery.timeout.ms)
     * once idempotence is on. */
    int64_t retries = cfg && KLOG__CONF_ISSET(cfg, KLOG_CONF_RETRIES)
                          ? klog__config_value(cfg, NULL, KLOG_CONF_RETRIES)
                          : (idem ? INT32_MAX : 0);
    return klog__psender_new(pid, (int16_t)epoch, retries,
                             klog__config_value(cfg, NULL, KLOG_CONF_RETRY_BACKOFF_MS),
                             klog__config_value(cfg, NULL, KLOG_CONF_DELIVERY_TIMEOUT_MS),
                             &P->sender);
}

int klog_producer_new(klog_t *log, const klog_config_t *cfg, klog_producer_t **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!log)
        return -EINVAL;
    if (klog__is_rdonly(log))
        return KLOG_EREADONLY;
    klog_producer_t *P = klog__calloc(1, sizeof *P);
    if (!P)
        return -ENOMEM;
    P->log = log;
    P->linger_ms = klog__config_value(cfg, NULL, KLOG_CONF_LINGER_MS);
    P->batch_bytes = klog__config_value(cfg, NULL, KLOG_CONF_BATCH_BYTES);
    P->batch_records = klog__config_value(cfg, NULL, KLOG_CONF_BATCH_RECORDS);
    P->buffer_bytes = klog__config_value(cfg, NULL, KLOG_CONF_BUFFER_BYTES);
    P->block_ms = klog__config_value(cfg, NULL, KLOG_CONF_BLOCK_MS);
    P->partitioner = (int)klog__config_value(cfg, NULL, KLOG_CONF_PARTITIONER);
    P->durable = (int)klog__config_value(cfg, NULL, KLOG_CONF_DURABLE_DELIVERY);
    P->codec = cfg && KLOG__CONF_ISSET(cfg, KLOG_CONF_COMPRESSION)
                   ? (int)klog__config_value(cfg, NULL, KLOG_CONF_COMPRESSION)
                   : -1;
    atomic_init(&P->closing, 0);
    int rc = sender_new(P, cfg);
    if (!rc)
        rc = klog__ptable_new(&P->topics);
    if (!rc)
        rc = klog__pbuffer_new(P->buffer_bytes, &P->buf);
    if (!rc)
        rc = klog__pbpool_new(&P->pool);
    if (!rc)
        rc = klog__accum_new(P->linger_ms, P->batch_records, P->durable, P->buffer_bytes / 4,
                             P->buf, P->pool, P->sender, &P->acc);
    if (rc) {
        producer_free(P);
        return rc;
    }
    *out = P;
    return 0;
}

void klog_producer_set_delivery(klog_producer_t *P, klog_delivery_fn appended,
                                klog_delivery_fn durable, void *ctx)
{
    if (!P)
        return;
    klog__accum_set_delivery(P->acc, appended, durable, ctx);
}

int klog_producer_identity(const klog_producer_t *P, int64_t *producer_id,
                           int16_t *producer_epoch)
{
    if (!P)
        return -EINVAL;
    if (producer_id)
        *producer_id = klog__psender_pid(P->sender);
    if (producer_epoch)
        *producer_epoch = klog__psender_pid(P->sender) >= 0 ? klog__psender_epoch(P->sender) : -1;
    return 0;
}

int klog__producer_set_sequence(klog_producer_t *P, const char *topic, int32_t partition,
                                int32_t seq)
{
    klog__ptopic_t *t;
    int rc = klog__ptopic_lookup(P->topics, P->log, topic, P->codec, P->batch_bytes, &t);
    if (rc)
        return rc;
    if (partition < 0 || partition >= klog__ptopic_partitions(t))
        return KLOG_ENOPARTITION;
    klog__ppart_t *pp;
    rc = ppart_get(P, t, partition, &pp);
    if (rc == 0)
        klog__ppart_set_next_seq(pp, seq);
    return rc;
}

int64_t klog__producer_retries(klog_producer_t *P) { return klog__psender_retried(P->sender); }

int klog_producer_close(klog_producer_t *P)
{
    if (!P)
        return 0;
    atomic_store(&P->closing, 1);
    int rc = klog_producer_flush(P, -1);
    /* Batches a failed flush left behind are reported by the background
     * thread's last passes (it drains both queues before it stops). */
    klog__accum_stop(P->acc);
    if (rc == 0)
        rc = klog__accum_take_error(P->acc);
    producer_free(P);
    return rc;
}
