/*
 * ptopics.c — the producer's table of the topics it has produced to: per
 * topic its log handle, codec and batch limits, the sticky partitions for
 * records without a key, and one slot per partition for the producer's
 * per-partition state (struct klog__ppart, producer.c's).
 *
 * Sticky partitions are per producing thread (Kafka's are per producer):
 * each thread gets one of STICKY_SLOTS slots (threads numbered in the
 * order they first produce, modulo the slot count), fills its slot's
 * partition's batch and, once that batch closed, moves its slot on to a
 * partition no other slot is on when there is one. Threads producing null
 * keys then fill different batches under different locks instead of all
 * queueing on one partition's lock (issue 19); one thread behaves exactly
 * as Kafka's sticky partitioner.
 *
 * Topics and partition states are created on first use and live until
 * the producer closes, so the produce path finds them without locks: the
 * topic list and the slots are published with release stores and read
 * with acquire loads; creation takes the table's mutex and checks again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "produce/producer.h"

#define BATCH_SLACK 64 /* room kept under max batch bytes for compression growth */
#define STICKY_SLOTS 16

/* This thread's sticky slot, and how many slots threads took so far. */
static atomic_int slots_taken;
static _Thread_local int my_slot = -1;

static int thread_slot(void)
{
    if (KLOG__UNLIKELY(my_slot < 0))
        my_slot = atomic_fetch_add(&slots_taken, 1) % STICKY_SLOTS;
    return my_slot;
}

struct klog__ptopic {
    klog__ptopic_t *next;
    char *name;
    klog_topic_t *t;
    int32_t n;
    int codec;
    int64_t max_batch;   /* topic's KLOG_CONF_MAX_BATCH_BYTES */
    int64_t batch_bytes; /* effective batch size limit */
    _Atomic int32_t sticky[STICKY_SLOTS];
    _Atomic(struct klog__ppart *) *parts;
};

struct klog__ptable {
    pthread_mutex_t mu; /* creating topics and partition states */
    _Atomic(klog__ptopic_t *) head;
};

int klog__ptable_new(klog__ptable_t **out)
{
    klog__ptable_t *tab = klog__calloc(1, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    pthread_mutex_init(&tab->mu, NULL);
    atomic_init(&tab->head, NULL);
    *out = tab;
    return 0;
}

void klog__ptable_free(klog__ptable_t *tab, void (*free_part)(struct klog__ppart *pp))
{
    if (!tab)
        return;
    klog__ptopic_t *t = atomic_load(&tab->head);
    while (t) {
        klog__ptopic_t *next = t->next;
        for (int32_t i = 0; i < t->n; i++) {
            struct klog__ppart *pp = atomic_load(&t->parts[i]);
            if (pp)
                free_part(pp);
        }
        free(t->parts);
        free(t->name);
        free(t);
        t = next;
    }
    pthread_mutex_destroy(&tab->mu);
    free(tab);
}

static klog__ptopic_t *topic_find(klog__ptable_t *tab, const char *name)
{
    for (klog__ptopic_t *t = atomic_load_explicit(&tab->head, memory_order_acquire); t;
         t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

int klog__ptopic_lookup(klog__ptable_t *tab, klog_t *log, const char *name, int codec,
                        int64_t batch_bytes, klog__ptopic_t **out)
{
    klog__ptopic_t *t = topic_find(tab, name);
    if (KLOG__LIKELY(t != NULL)) {
        *out = t;
        return 0;
    }
    klog_topic_t *kt;
    int rc = klog_topic_get(log, name, &kt);
    if (rc)
        return rc;
    pthread_mutex_lock(&tab->mu);
    t = topic_find(tab, name);
    if (t)
        goto out;
    t = klog__calloc(1, sizeof *t);
    if (!t) {
        rc = -ENOMEM;
        goto out;
    }
    t->name = klog__strdup(name);
    t->n = klog_topic_partition_count(kt);
    t->parts = klog__calloc((size_t)t->n, sizeof *t->parts);
    if (!t->name || !t->parts) {
        free(t->name);
        free(t->parts);
        free(t);
        t = NULL;
        rc = -ENOMEM;
        goto out;
    }
    t->t = kt;
    int64_t v = KLOG_COMPRESSION_NONE;
    klog_topic_config(kt, KLOG_CONF_COMPRESSION, &v);
    t->codec = codec >= 0 ? codec : (int)v;
    v = 1048588;
    klog_topic_config(kt, KLOG_CONF_MAX_BATCH_BYTES, &v);
    t->max_batch = v;
    int64_t cap = v - KLOG_BATCH_HEADER_SIZE - BATCH_SLACK;
    t->batch_bytes = batch_bytes < cap ? batch_bytes : cap;
    if (t->batch_bytes < 1)
        t->batch_bytes = 1;
    for (int i = 0; i < STICKY_SLOTS; i++)
        atomic_init(&t->sticky[i], i % t->n);
    t->next = atomic_load(&tab->head);
    atomic_store_explicit(&tab->head, t, memory_order_release);
out:
    pthread_mutex_unlock(&tab->mu);
    *out = t;
    return rc;
}

int32_t klog__ptopic_partitions(const klog__ptopic_t *t) { return t->n; }
int klog__ptopic_codec(const klog__ptopic_t *t) { return t->codec; }
int64_t klog__ptopic_max_batch(const klog__ptopic_t *t) { return t->max_batch; }
int64_t klog__ptopic_batch_bytes(const klog__ptopic_t *t) { return t->batch_bytes; }

int32_t klog__ptopic_sticky(klog__ptopic_t *t, int *slot)
{
    *slot = thread_slot();
    return atomic_load_explicit(&t->sticky[*slot], memory_order_relaxed);
}

static uint32_t rng_next(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = (uint64_t)klog__mono_ns() ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (uint32_t)((s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Is partition id the sticky partition of a slot other than slot? */
static int taken(klog__ptopic_t *t, int slot, int32_t id, int used)
{
    for (int i = 0; i < used; i++)
        if (i != slot && atomic_load_explicit(&t->sticky[i], memory_order_relaxed) == id)
            return 1;
    return 0;
}

void klog__ptopic_sticky_next(klog__ptopic_t *t, int slot, int32_t from)
{
    if (t->n < 2)
        return;
    int used = atomic_load_explicit(&slots_taken, memory_order_relaxed);
    if (used > STICKY_SLOTS)
        used = STICKY_SLOTS;
    /* A random other partition, the first from there on that no other
     * slot is on (a bounded look: the choice is per closed batch). */
    uint32_t r = rng_next() % (uint32_t)(t->n - 1);
    int32_t to = -1;
    for (int32_t j = 0; j < t->n - 1 && j < 64; j++) {
        int32_t c = (int32_t)((from + 1 + (int32_t)((r + (uint32_t)j) % (uint32_t)(t->n - 1))) %
                              t->n);
        if (to < 0)
            to = c;
        if (!taken(t, slot, c, used)) {
            to = c;
            break;
        }
    }
    atomic_compare_exchange_strong(&t->sticky[slot], &from, to);
}

struct klog__ppart *klog__ptopic_part(klog__ptopic_t *t, int32_t id)
{
    return atomic_load_explicit(&t->parts[id], memory_order_acquire);
}

int klog__ptopic_part_create(klog__ptable_t *tab, klog__ptopic_t *t, int32_t id,
                             struct klog__ppart *(*make)(klog__ptopic_t *t,
                                                         klog_partition_t *part, int32_t id),
                             struct klog__ppart **out)
{
    klog_partition_t *kp;
    int rc = klog_partition_get(t->t, id, &kp);
    if (rc)
        return rc;
    pthread_mutex_lock(&tab->mu);
    struct klog__ppart *pp = atomic_load(&t->parts[id]);
    if (!pp) {
        pp = make(t, kp, id);
        if (!pp)
            rc = -ENOMEM;
        else
            atomic_store_explicit(&t->parts[id], pp, memory_order_release);
    }
    pthread_mutex_unlock(&tab->mu);
    *out = pp;
    return rc;
}

int klog__ptable_parts(klog__ptable_t *tab, struct klog__ppart ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    size_t n = 0, cap = 0;
    struct klog__ppart **v = NULL;
    pthread_mutex_lock(&tab->mu);
    for (klog__ptopic_t *t = atomic_load(&tab->head); t; t = t->next)
        for (int32_t i = 0; i < t->n; i++)
            cap += atomic_load(&t->parts[i]) != NULL;
    if (cap && !(v = klog__malloc(cap * sizeof *v))) {
        pthread_mutex_unlock(&tab->mu);
        return -ENOMEM;
    }
    for (klog__ptopic_t *t = atomic_load(&tab->head); t; t = t->next)
        for (int32_t i = 0; i < t->n; i++) {
            struct klog__ppart *pp = atomic_load(&t->parts[i]);
            if (pp)
                v[n++] = pp;
        }
    pthread_mutex_unlock(&tab->mu);
    *out = v;
    *count = n;
    return 0;
}
