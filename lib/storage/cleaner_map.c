/*
 * cleaner_map.c — the cleaner's offset map: key -> latest offset, over the
 * dirty part of one partition (Kafka's SkimpyOffsetMap).
 *
 * An array of slots bounded by KLOG_CONF_CLEANER_DEDUPE_BYTES, each holding
 * a 128-bit XXH3 digest of a key and the latest offset seen for it (24
 * bytes), open addressing with linear probing. It starts small and doubles
 * (rehashing from the stored digests) when 90% full, up to the bound, so a
 * pass over few keys probes a table that stays in cache; at the bound it
 * counts as full at 90% of its slots (Kafka's
 * log.cleaner.io.buffer.load.factor), so a probe always ends. Keys are never stored: two keys with the same 128-bit
 * digest would be taken for one (Kafka makes the same bet with MD5). Not
 * thread-safe: one cleaning pass owns a map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "storage/cleaner.h"

typedef struct slot {
    uint64_t lo, hi;
    int64_t offset; /* -1: empty */
} slot_t;

struct klog__offset_map {
    slot_t *slots;
    size_t nslots, max_slots, used, max_used;
};

#define SLOT_BYTES sizeof(slot_t)

#define FIRST_SLOTS 4096

static void clear(klog__offset_map_t *m)
{
    for (size_t i = 0; i < m->nslots; i++)
        m->slots[i] = (slot_t){0, 0, -1};
    m->used = 0;
}

static size_t fill_limit(size_t n) { return n / 10 * 9 + (n % 10) * 9 / 10; }

int klog__offset_map_new(int64_t bytes, klog__offset_map_t **out)
{
    size_t max = (size_t)(bytes / (int64_t)SLOT_BYTES);
    if (max < 16)
        max = 16;
    klog__offset_map_t *m = klog__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->max_slots = max;
    m->nslots = max < FIRST_SLOTS ? max : FIRST_SLOTS;
    m->slots = klog__malloc(m->nslots * SLOT_BYTES);
    if (!m->slots) {
        free(m);
        return -ENOMEM;
    }
    m->max_used = fill_limit(m->nslots);
    clear(m);
    *out = m;
    return 0;
}

/* Double the table (at most max_slots): 0, or -ENOMEM (the map stays as
 * it was and counts as full). */
static int grow(klog__offset_map_t *m)
{
    size_t n = m->nslots * 2 < m->max_slots ? m->nslots * 2 : m->max_slots;
    slot_t *v = klog__malloc(n * SLOT_BYTES);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (slot_t){0, 0, -1};
    for (size_t i = 0; i < m->nslots; i++) {
        const slot_t *s = &m->slots[i];
        if (s->offset < 0)
            continue;
        size_t j = (size_t)(s->lo % n);
        while (v[j].offset >= 0)
            j = j + 1 == n ? 0 : j + 1;
        v[j] = *s;
    }
    free(m->slots);
    m->slots = v;
    m->nslots = n;
    m->max_used = fill_limit(n);
    return 0;
}

void klog__offset_map_free(klog__offset_map_t *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}


static slot_t *probe(const klog__offset_map_t *m, const void *key, size_t len, XXH128_hash_t *h)
{
    *h = XXH3_128bits(key, len);
    size_t i = (size_t)(h->low64 % m->nslots);
    for (;;) {
        slot_t *s = &m->slots[i];
        if (s->offset < 0 || (s->lo == h->low64 && s->hi == h->high64))
            return s;
        if (++i == m->nslots)
            i = 0;
    }
}

int klog__offset_map_put(klog__offset_map_t *m, const void *key, size_t len, int64_t offset)
{
    XXH128_hash_t h;
    slot_t *s = probe(m, key, len, &h);
    if (s->offset < 0 && m->used >= m->max_used) {
        if (m->nslots == m->max_slots || grow(m) != 0)
            return 0;
        s = probe(m, key, len, &h);
    }
    if (s->offset < 0) {
        s->lo = h.low64;
        s->hi = h.high64;
        m->used++;
    }
    s->offset = offset;
    return 1;
}

int64_t klog__offset_map_get(const klog__offset_map_t *m, const void *key, size_t len)
{
    XXH128_hash_t h;
    return probe(m, key, len, &h)->offset;
}

size_t klog__offset_map_size(const klog__offset_map_t *m) { return m->used; }
size_t klog__offset_map_capacity(const klog__offset_map_t *m) { return fill_limit(m->max_slots); }
