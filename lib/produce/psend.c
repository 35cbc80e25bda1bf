/*
 * psend.c — the producer's send path: how one closed batch becomes one
 * append. It owns the sender (struct klog__psender: the producer's
 * identity in idempotent mode and its retry settings); the accumulator
 * (accum.c) calls klog__psend() for each batch, holding the partition's
 * send_mu, so the batches of a partition are sent one at a time, in
 * closing order (Kafka's max.in.flight.requests.per.connection = 1).
 *
 * Idempotent mode. The batch is stamped with the producer id, the epoch
 * and the partition's next sequence (klog_builder_set_producer), encoded
 * once, and the same bytes are appended on every attempt. The sequence
 * moves on (by the record count, wrapping after INT32_MAX to 0 as Kafka's
 * DefaultRecordBatch.incrementSequence) only once an append returned 0,
 * so a batch that finally fails leaves the sequence where it was and the
 * next batch takes it: nothing of the failed batch was written, or the
 * partition is failed (below) and takes nothing more. An append the
 * storage recognises as a retry of one of the producer's last 5 batches
 * returns 0 with the original offsets (klog_append_batch), which is what
 * the delivery callback reports: a duplicate is a success at the offsets
 * the records were first stored at.
 *
 * Retries (both modes). An append is attempted again, after
 * KLOG_CONF_RETRY_BACKOFF_MS, up to KLOG_CONF_RETRIES times and while
 * KLOG_CONF_DELIVERY_TIMEOUT_MS has not passed since the first attempt,
 * when it failed with an error that may pass (a full disk or quota, out
 * of descriptors or memory, an I/O error, EINTR/EAGAIN) AND the partition
 * is not failed. The storage marks a partition failed whenever a write or
 * fsync failed, that is whenever the batch might have reached the file
 * (klog_append's rule), and then refuses every append until the log is
 * reopened; so a retry is only made when nothing of the batch was
 * written, and even without idempotence no retry stores a batch twice.
 * Everything else is final (the producer's own refusals, KLOG_EFAILED,
 * KLOG_ETOOLARGE, the sequence and epoch refusals). KLOG_EFENCED (a newer
 * instance of this producer id wrote to the partition) is fatal: the
 * producer stops sending, every later batch fails with it and
 * klog_produce() refuses with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "produce/producer.h"
#include "storage/partition.h"

struct klog__psender {
    int64_t pid;          /* -1: not idempotent */
    int16_t epoch;
    int64_t retries, backoff_ms, timeout_ms;
    atomic_int fenced;
    _Atomic int64_t retried; /* attempts after the first, for tests and stats */
    pthread_mutex_t mu;   /* backoff waits */
    pthread_cond_t cv;    /* monotonic */
};

int klog__psender_new(int64_t pid, int16_t epoch, int64_t retries, int64_t backoff_ms,
                      int64_t timeout_ms, klog__psender_t **out)
{
    klog__psender_t *S = klog__calloc(1, sizeof *S);
    if (!S)
        return -ENOMEM;
    S->pid = pid;
    S->epoch = epoch;
    S->retries = retries;
    S->backoff_ms = backoff_ms;
    S->timeout_ms = timeout_ms;
    atomic_init(&S->fenced, 0);
    atomic_init(&S->retried, 0);
    pthread_mutex_init(&S->mu, NULL);
    int rc = klog__cond_init_mono(&S->cv);
    if (rc) {
        pthread_mutex_destroy(&S->mu);
        free(S);
        return rc;
    }
    *out = S;
    return 0;
}

void klog__psender_free(klog__psender_t *S)
{
    if (!S)
        return;
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
    free(S);
}

int64_t klog__psender_pid(const klog__psender_t *S) { return S->pid; }
int16_t klog__psender_epoch(const klog__psender_t *S) { return S->epoch; }
int klog__psender_fenced(klog__psender_t *S) { return atomic_load(&S->fenced); }
int64_t klog__psender_retried(klog__psender_t *S) { return atomic_load(&S->retried); }

int32_t klog__pseq_add(int32_t seq, int64_t n)
{
    /* Kafka: seq + n, wrapping past INT32_MAX to 0. */
    int64_t s = (int64_t)seq + n;
    return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

/* Errors a later attempt may not see (when the partition is not failed). */
static int transient(int rc)
{
    switch (rc) {
    case -ENOSPC:
    case -EDQUOT:
    case -EIO:
    case -EMFILE:
    case -ENFILE:
    case -ENOMEM:
    case -EAGAIN:
    case -EINTR:
        return 1;
    default:
        return 0;
    }
}

static void backoff(klog__psender_t *S)
{
    if (S->backoff_ms <= 0)
        return;
    int64_t until = klog__mono_ms() + S->backoff_ms;
    pthread_mutex_lock(&S->mu);
    for (int64_t left; (left = until - klog__mono_ms()) > 0;) {
        struct timespec ts;
        klog__deadline_ts(left, &ts);
        pthread_cond_timedwait(&S->cv, &S->mu, &ts); /* nobody signals: a sleep */
    }
    pthread_mutex_unlock(&S->mu);
}

int klog__psend(klog__psender_t *S, klog_partition_t *part, klog__pbatch_t *b, int32_t *next_seq,
                int64_t *base)
{
    *base = -1;
    if (atomic_load(&S->fenced))
        return KLOG_EFENCED;
    int idem = S->pid >= 0;
    int32_t seq = idem ? *next_seq : -1;
    uint8_t *bytes;
    size_t len;
    int rc = klog__pbatch_encode(b, idem ? S->pid : -1, S->epoch, seq, &bytes, &len);
    if (rc)
        return rc;
    int64_t start = klog__mono_ms();
    for (int64_t tries = 0;; tries++) {
        rc = klog__partition_append_encoded(part, bytes, len, base);
        if (rc == 0 || !transient(rc) || klog__partition_failed(part) || tries >= S->retries ||
            klog__mono_ms() + S->backoff_ms - start > S->timeout_ms)
            break;
        backoff(S);
        atomic_fetch_add(&S->retried, 1);
    }
    if (rc == 0 && idem)
        *next_seq = klog__pseq_add(seq, (int64_t)klog__pbatch_records(b));
    if (rc == KLOG_EFENCED)
        atomic_store(&S->fenced, 1);
    if (rc)
        *base = -1;
    return rc;
}
