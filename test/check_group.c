/*
 * check_group.c — consumer groups: the assignment functions (properties
 * over random inputs), one conformance suite run against every registry
 * backend (memory, directory, and ZooKeeper against a real server when the
 * package is installed), and the group member (joins, leaves, handover at
 * committed offsets, reset policies). Threaded members are in
 * group_threads_suite (run under TSan by `make tsan-check`).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog_zookeeper.h"
#include "klog.h"
#include "util/testutil.h"
#include "util/tu_records.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* =============================================================== assign */

#define MAXT 6
#define MAXM 24

typedef struct gen {
    char tnames[MAXT][32];
    klog_assign_topic_t topics[MAXT];
    size_t nt;
    char mnames[MAXM][32];
    const char *subs[MAXM][MAXT];
    klog_assign_member_t members[MAXM];
    size_t nm;
} gen_t;

/* Random topics and members; homogeneous subscriptions unless hetero. */
static void gen_random(gen_t *g, tu_rng_t *r, int hetero)
{
    memset(g, 0, sizeof *g);
    g->nt = 1 + tu_rng_below(r, MAXT);
    for (size_t t = 0; t < g->nt; t++) {
        snprintf(g->tnames[t], sizeof g->tnames[t], "t%zu", (size_t)tu_rng_below(r, 1000) * 10 + t);
        g->topics[t].name = g->tnames[t];
        g->topics[t].partitions = (int32_t)tu_rng_below(r, 40);
    }
    g->nm = 1 + tu_rng_below(r, MAXM);
    for (size_t m = 0; m < g->nm; m++) {
        snprintf(g->mnames[m], sizeof g->mnames[m], "m%03zu-%zu", (size_t)tu_rng_below(r, 1000), m);
        size_t k = 0;
        for (size_t t = 0; t < g->nt; t++)
            if (!hetero || tu_rng_below(r, 3) != 0)
                g->subs[m][k++] = g->tnames[t];
        g->members[m].id = g->mnames[m];
        g->members[m].topics = g->subs[m];
        g->members[m].topic_count = k;
    }
}

static klog_assign_input_t gen_input(gen_t *g)
{
    klog_assign_input_t in = {.topics = g->topics, .topic_count = g->nt, .members = g->members,
                              .member_count = g->nm};
    return in;
}

static int subscribed(const klog_assign_member_t *m, const char *topic)
{
    for (size_t i = 0; i < m->topic_count; i++)
        if (strcmp(m->topics[i], topic) == 0)
            return 1;
    return 0;
}

static const klog_assign_member_t *member_by_id(const klog_assign_input_t *in, const char *id)
{
    for (size_t i = 0; i < in->member_count; i++)
        if (strcmp(in->members[i].id, id) == 0)
            return &in->members[i];
    return NULL;
}

/* Every partition exactly once, sorted, to a subscribed member (or NULL
 * only when nobody subscribes). */
static void check_complete(const klog_assign_input_t *in, const klog_assignment_t *a)
{
    size_t total = 0;
    for (size_t t = 0; t < in->topic_count; t++)
        total += (size_t)in->topics[t].partitions;
    ck_assert_uint_eq(a->count, total);
    for (size_t i = 0; i < a->count; i++) {
        const klog_assignment_entry_t *e = &a->entries[i];
        if (i > 0) {
            int c = strcmp(a->entries[i - 1].topic, e->topic);
            ck_assert(c < 0 || (c == 0 && a->entries[i - 1].partition + 1 == e->partition));
        }
        int anyone = 0;
        for (size_t m = 0; m < in->member_count; m++)
            anyone |= subscribed(&in->members[m], e->topic);
        if (!anyone) {
            ck_assert_ptr_null(e->member);
            continue;
        }
        ck_assert_ptr_nonnull(e->member);
        const klog_assign_member_t *mb = member_by_id(in, e->member);
        ck_assert_ptr_nonnull(mb);
        ck_assert(subscribed(mb, e->topic));
    }
}

static size_t load_of(const klog_assignment_t *a, const char *id, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->entries[i].member && strcmp(a->entries[i].member, id) == 0 &&
            (!topic || strcmp(a->entries[i].topic, topic) == 0))
            n++;
    return n;
}

/* Loads (over all topics, or one) of members differ by at most one. */
static void check_balanced(const klog_assign_input_t *in, const klog_assignment_t *a,
                           const char *topic)
{
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t m = 0; m < in->member_count; m++) {
        if (topic && !subscribed(&in->members[m], topic))
            continue;
        size_t l = load_of(a, in->members[m].id, topic);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    if (hi > 0)
        ck_assert_msg(hi - lo <= 1, "loads %zu..%zu", lo, hi);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The paper's Algorithm 1 with Kafka's remainder rule, written out
 * independently: sort the consumers subscribed to T; N = |PT| / |CT|; walk
 * the sorted partitions handing the first consumers N + 1 while the
 * remainder lasts, then N. */
static const char *algorithm1_owner(const klog_assign_input_t *in, const char *topic,
                                    int32_t nparts, int32_t partition)
{
    const char *ct[MAXM];
    size_t k = 0;
    for (size_t m = 0; m < in->member_count; m++)
        if (subscribed(&in->members[m], topic))
            ct[k++] = in->members[m].id;
    if (k == 0)
        return NULL;
    qsort(ct, k, sizeof *ct, cmp_cstr);
    int32_t N = nparts / (int32_t)k, extra = nparts % (int32_t)k, next = 0;
    for (size_t j = 0; j < k; j++) {
        int32_t take = N + (extra > 0 ? 1 : 0);
        if (extra > 0)
            extra--;
        if (partition >= next && partition < next + take)
            return ct[j];
        next += take;
    }
    return NULL;
}

START_TEST(assign_range_is_algorithm1)
{
    tu_rng_t r;
    tu_rng_seed(&r, tu_test_seed(0x61));
    for (int round = 0; round < 300; round++) {
        gen_t g;
        gen_random(&g, &r, round % 2);
        klog_assign_input_t in = gen_input(&g);
        klog_assignment_t a;
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_RANGE, &in, &a), 0);
        check_complete(&in, &a);
        for (size_t i = 0; i < a.count; i++) {
            const klog_assignment_entry_t *e = &a.entries[i];
            int32_t np = 0;
            for (size_t t = 0; t < g.nt; t++)
                if (strcmp(g.tnames[t], e->topic) == 0)
                    np = g.topics[t].partitions;
            const char *want = algorithm1_owner(&in, e->topic, np, e->partition);
            if (!want)
                ck_assert_ptr_null(e->member);
            else
                ck_assert_str_eq(e->member, want);
        }
        for (size_t t = 0; t < g.nt; t++)
            check_balanced(&in, &a, g.tnames[t]);
        klog_assignment_free(&a);
    }
}
END_TEST

START_TEST(assign_roundrobin_balanced)
{
    tu_rng_t r;
    tu_rng_seed(&r, tu_test_seed(0x62));
    for (int round = 0; round < 300; round++) {
        gen_t g;
        gen_random(&g, &r, round % 3 == 0);
        klog_assign_input_t in = gen_input(&g);
        klog_assignment_t a;
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_ROUNDROBIN, &in, &a), 0);
        check_complete(&in, &a);
        if (round % 3 != 0)
            check_balanced(&in, &a, NULL);
        klog_assignment_free(&a);
    }
}
END_TEST

/* The same sets in another order give the same assignment, for every
 * strategy: what lets every member compute the same global result. */
START_TEST(assign_order_independent)
{
    tu_rng_t r;
    tu_rng_seed(&r, tu_test_seed(0x63));
    for (int round = 0; round < 200; round++) {
        gen_t g;
        gen_random(&g, &r, round % 2);
        klog_assign_input_t in = gen_input(&g);
        gen_t h = g;
        /* Shuffle members and topics of the copy (pointers re-aimed). */
        for (size_t i = h.nm; i > 1; i--) {
            size_t j = tu_rng_below(&r, i);
            klog_assign_member_t tmp = h.members[i - 1];
            h.members[i - 1] = h.members[j];
            h.members[j] = tmp;
        }
        for (size_t i = h.nt; i > 1; i--) {
            size_t j = tu_rng_below(&r, i);
            klog_assign_topic_t tmp = h.topics[i - 1];
            h.topics[i - 1] = h.topics[j];
            h.topics[j] = tmp;
        }
        klog_assign_input_t in2 = gen_input(&h);
        for (int s = KLOG_ASSIGN_RANGE; s <= KLOG_ASSIGN_STICKY; s++) {
            klog_assignment_t a, b;
            ck_assert_int_eq(klog_assign(s, &in, &a), 0);
            ck_assert_int_eq(klog_assign(s, &in2, &b), 0);
            ck_assert_uint_eq(a.count, b.count);
            for (size_t i = 0; i < a.count; i++) {
                ck_assert_str_eq(a.entries[i].topic, b.entries[i].topic);
                ck_assert_int_eq(a.entries[i].partition, b.entries[i].partition);
                if (a.entries[i].member)
                    ck_assert_str_eq(a.entries[i].member, b.entries[i].member);
                else
                    ck_assert_ptr_null(b.entries[i].member);
            }
            klog_assignment_free(&a);
            klog_assignment_free(&b);
        }
    }
}
END_TEST

/* Sticky: owners from a previous assignment `prev` (entries point into a
 * previous input that may have a member more or less). */
static size_t to_owners(const klog_assignment_t *prev, klog_assign_owner_t *own)
{
    size_t n = 0;
    for (size_t i = 0; i < prev->count; i++)
        if (prev->entries[i].member) {
            own[n].topic = prev->entries[i].topic;
            own[n].partition = prev->entries[i].partition;
            own[n].member = prev->entries[i].member;
            n++;
        }
    return n;
}

static size_t moved(const klog_assignment_t *a, const klog_assignment_t *b)
{
    ck_assert_uint_eq(a->count, b->count);
    size_t n = 0;
    for (size_t i = 0; i < a->count; i++) {
        const char *x = a->entries[i].member, *y = b->entries[i].member;
        if (x && (!y || strcmp(x, y) != 0))
            n++;
    }
    return n;
}

static int cmp_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Fewest moves any balanced assignment needs, from per-member counts of
 * the partitions each keeps being eligible for (a new member counts 0). */
static size_t min_moves(size_t *counts, size_t k, size_t total)
{
    size_t q = total / k, r = total % k, kept = 0, owned = 0;
    qsort(counts, k, sizeof *counts, cmp_desc);
    for (size_t i = 0; i < k; i++) {
        size_t cap = q + (i < r ? 1 : 0);
        kept += counts[i] < cap ? counts[i] : cap;
        owned += counts[i];
    }
    return owned - kept;
}

START_TEST(assign_sticky_minimal_moves)
{
    tu_rng_t r;
    tu_rng_seed(&r, tu_test_seed(0x64));
    for (int round = 0; round < 300; round++) {
        gen_t g;
        gen_random(&g, &r, 0);
        if (g.nm < 2)
            continue;
        /* A history: some random current owners, then stabilise. */
        klog_assign_input_t in = gen_input(&g);
        klog_assignment_t a0, a;
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_ROUNDROBIN, &in, &a0), 0);
        for (size_t i = 0; i < a0.count; i++) /* scramble so counts vary */
            if (tu_rng_below(&r, 2))
                a0.entries[i].member = g.mnames[tu_rng_below(&r, g.nm)];
        static klog_assign_owner_t own[MAXT * 40];
        in.current = own;
        in.current_count = to_owners(&a0, own);
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in, &a), 0);
        check_complete(&in, &a);
        check_balanced(&in, &a, NULL);
        klog_assignment_free(&a0);

        /* Stable: re-running on its own output moves nothing. */
        klog_assignment_t same;
        in.current_count = to_owners(&a, own);
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in, &same), 0);
        ck_assert_uint_eq(moved(&a, &same), 0);
        klog_assignment_free(&same);

        size_t total = a.count;
        if (round % 2 == 0) {
            /* One member leaves: exactly its partitions move. */
            size_t gone = tu_rng_below(&r, g.nm);
            size_t its = load_of(&a, g.mnames[gone], NULL);
            gen_t h = g;
            h.members[gone] = h.members[h.nm - 1];
            h.nm--;
            klog_assign_input_t in2 = gen_input(&h);
            in2.current = own;
            in2.current_count = to_owners(&a, own);
            klog_assignment_t b;
            ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in2, &b), 0);
            check_complete(&in2, &b);
            check_balanced(&in2, &b, NULL);
            ck_assert_uint_eq(moved(&a, &b), its);
            klog_assignment_free(&b);
        } else if (g.nm < MAXM) {
            /* One member joins: the fewest moves a balanced result allows. */
            gen_t h = g;
            snprintf(h.mnames[h.nm], sizeof h.mnames[h.nm], "new-%d", round);
            h.members[h.nm].id = h.mnames[h.nm];
            h.members[h.nm].topics = h.subs[0];
            h.members[h.nm].topic_count = h.members[0].topic_count;
            h.nm++;
            klog_assign_input_t in2 = gen_input(&h);
            in2.current = own;
            in2.current_count = to_owners(&a, own);
            size_t counts[MAXM];
            for (size_t m = 0; m < h.nm; m++)
                counts[m] = load_of(&a, h.mnames[m], NULL);
            counts[h.nm - 1] = 0;
            size_t want = min_moves(counts, h.nm, total);
            klog_assignment_t b;
            ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in2, &b), 0);
            check_complete(&in2, &b);
            check_balanced(&in2, &b, NULL);
            ck_assert_uint_eq(moved(&a, &b), want);
            klog_assignment_free(&b);
        }
        klog_assignment_free(&a);
    }
}
END_TEST

START_TEST(assign_sticky_hetero)
{
    tu_rng_t r;
    tu_rng_seed(&r, tu_test_seed(0x65));
    for (int round = 0; round < 200; round++) {
        gen_t g;
        gen_random(&g, &r, 1);
        klog_assign_input_t in = gen_input(&g);
        klog_assignment_t a;
        ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in, &a), 0);
        check_complete(&in, &a);
        for (size_t t = 0; t < g.nt; t++)
            check_balanced(&in, &a, g.tnames[t]);
        klog_assignment_free(&a);
    }
}
END_TEST

START_TEST(assign_errors)
{
    klog_assign_topic_t t[2] = {{"a", 3}, {"a", 2}};
    const char *subs[] = {"a"};
    klog_assign_member_t m[2] = {{"x", subs, 1}, {"x", subs, 1}};
    klog_assign_input_t in = {.topics = t, .topic_count = 1, .members = m, .member_count = 1};
    klog_assignment_t a;
    ck_assert_int_eq(klog_assign(99, &in, &a), KLOG_ECONFIG);
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_RANGE, NULL, &a), -EINVAL);
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_RANGE, &in, NULL), -EINVAL);
    in.topic_count = 2;
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_RANGE, &in, &a), -EINVAL); /* duplicate topic */
    in.topic_count = 1;
    in.member_count = 2;
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in, &a), -EINVAL); /* duplicate member */
    in.member_count = 1;
    t[0].partitions = -1;
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_RANGE, &in, &a), -EINVAL);
    t[0].partitions = 3;
    /* No members: every entry present, unowned. Garbage owners ignored. */
    klog_assign_owner_t junk[] = {
        {"a", 7, "x"}, {"zz", 0, "x"}, {"a", 0, "nobody"}, {NULL, 0, NULL}};
    in.current = junk;
    in.current_count = 4;
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_STICKY, &in, &a), 0);
    ck_assert_uint_eq(a.count, 3);
    ck_assert_str_eq(a.entries[2].member, "x");
    klog_assignment_free(&a);
    in.member_count = 0;
    ck_assert_int_eq(klog_assign(KLOG_ASSIGN_ROUNDROBIN, &in, &a), 0);
    ck_assert_uint_eq(a.count, 3);
    ck_assert_ptr_null(a.entries[0].member);
    klog_assignment_free(&a);
    klog_assignment_free(NULL);
}
END_TEST

/* ============================================================ backends */

typedef struct backend {
    const char *name;
    /* Open a new session on the fixture's store. */
    int (*open)(klog_registry_t **out);
} backend_t;

static char *tmp;
static klog_registry_t *mem_root; /* keeps the memory store alive */
static char zk_hosts[128];        /* set when a ZooKeeper server runs */
static pid_t zk_pid = -1;
static int zk_seq;

static int open_memory(klog_registry_t **out) { return klog_registry_memory_new(mem_root, out); }
static int open_dir(klog_registry_t **out)
{
    char p[512];
    snprintf(p, sizeof p, "%s/reg", tmp);
    return klog_registry_dir_new(p, out);
}
static int open_zk(klog_registry_t **out)
{
    char h[256];
    snprintf(h, sizeof h, "%s/t%d-%d", zk_hosts, (int)getpid(), zk_seq);
    return klog_registry_zk_new(h, 4000, out);
}

static const backend_t backends[] = {
    {"memory", open_memory},
    {"dir", open_dir},
    {"zk", open_zk},
};
#define NBACKENDS 3

static void setup(void)
{
    tmp = tu_tmpdir("group");
    ck_assert_int_eq(klog_registry_memory_new(NULL, &mem_root), 0);
    zk_seq++;
}
static void teardown(void)
{
    klog_registry_free(mem_root);
    mem_root = NULL;
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

/* Resolve the backend for loop index i; returns NULL (test passes with a
 * note) when it is ZooKeeper and no server could be started. */
static const backend_t *backend(int i)
{
    if (strcmp(backends[i].name, "zk") == 0 && !zk_hosts[0]) {
        fprintf(stderr, "group: ZooKeeper conformance skipped (no server)\n");
        return NULL;
    }
    return &backends[i];
}

typedef struct seen_members {
    char ids[16][64];
    char topics[16][128];
    int n;
} seen_members_t;

static int collect(void *arg, const char *id, const char *topics)
{
    seen_members_t *s = arg;
    ck_assert_int_lt(s->n, 16);
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", id);
    snprintf(s->topics[s->n], sizeof s->topics[0], "%s", topics);
    s->n++;
    return 0;
}

static int list_members(klog_registry_t *r, const char *group, seen_members_t *s)
{
    const klog_registry_ops_t *o = klog_registry_ops(r);
    memset(s, 0, sizeof *s);
    return o->member_list(o->ctx, group, collect, s);
}

static const char *topics_of(const seen_members_t *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return s->topics[i];
    return NULL;
}

static uint64_t changes(klog_registry_t *r, const char *group)
{
    const klog_registry_ops_t *o = klog_registry_ops(r);
    uint64_t c = 0;
    ck_assert_int_eq(o->changes(o->ctx, group, &c), 0);
    return c;
}

/* A change made by another session is visible within a bounded time (the
 * directory backend scans; ZooKeeper delivers watches asynchronously). */
static void expect_change(klog_registry_t *r, const char *group, uint64_t before)
{
    int64_t end = mono_ms() + 5000;
    while (changes(r, group) == before) {
        ck_assert_msg(mono_ms() < end, "no change seen");
        usleep(2000);
    }
}

START_TEST(conf_topics)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    klog_registry_t *r, *r2;
    ck_assert_int_eq(b->open(&r), 0);
    ck_assert_int_eq(b->open(&r2), 0);
    const klog_registry_ops_t *o = klog_registry_ops(r), *o2 = klog_registry_ops(r2);
    int32_t n = -5;
    ck_assert_int_eq(o->topic_partitions(o->ctx, "events", &n), KLOG_ENOTFOUND);
    uint64_t c0 = changes(r2, "g");
    ck_assert_int_eq(o->topic_publish(o->ctx, "events", 12), 0);
    ck_assert_int_eq(o2->topic_partitions(o2->ctx, "events", &n), 0);
    ck_assert_int_eq(n, 12);
    expect_change(r2, "g", c0);
    uint64_t c1 = changes(r2, "g");
    ck_assert_int_eq(o->topic_publish(o->ctx, "events", 16), 0);
    ck_assert_int_eq(o2->topic_partitions(o2->ctx, "events", &n), 0);
    ck_assert_int_eq(n, 16);
    expect_change(r2, "g", c1);
    ck_assert_int_eq(o->topic_publish(o->ctx, "bad/name", 1), KLOG_EBADNAME);
    ck_assert_int_eq(o->topic_publish(o->ctx, "ok", -1), -EINVAL);
    klog_registry_free(r2);
    klog_registry_free(r);
}
END_TEST

START_TEST(conf_members)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    klog_registry_t *r1, *r2;
    ck_assert_int_eq(b->open(&r1), 0);
    ck_assert_int_eq(b->open(&r2), 0);
    const klog_registry_ops_t *o1 = klog_registry_ops(r1), *o2 = klog_registry_ops(r2);
    seen_members_t s;
    ck_assert_int_eq(list_members(r1, "g", &s), 0);
    ck_assert_int_eq(s.n, 0);

    uint64_t c = changes(r1, "g");
    ck_assert_int_eq(o1->member_register(o1->ctx, "g", "a", "t1,t2"), 0);
    ck_assert_int_eq(o1->member_register(o1->ctx, "g", "b", "t1"), 0);
    ck_assert_int_eq(o2->member_register(o2->ctx, "g", "c", "t2"), 0);
    ck_assert_int_eq(o2->member_register(o2->ctx, "other", "a", "t9"), 0);
    expect_change(r1, "g", c);
    ck_assert_int_eq(list_members(r2, "g", &s), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(topics_of(&s, "a"), "t1,t2");
    ck_assert_str_eq(topics_of(&s, "b"), "t1");
    ck_assert_str_eq(topics_of(&s, "c"), "t2");
    /* Live elsewhere: refused. Same session: topics replaced. */
    ck_assert_int_eq(o2->member_register(o2->ctx, "g", "a", "t3"), KLOG_ECLAIMED);
    ck_assert_int_eq(o1->member_register(o1->ctx, "g", "a", "t3"), 0);
    ck_assert_int_eq(list_members(r2, "g", &s), 0);
    ck_assert_str_eq(topics_of(&s, "a"), "t3");
    /* Unregister: only one's own. */
    ck_assert_int_eq(o2->member_unregister(o2->ctx, "g", "b"), KLOG_ENOTFOUND);
    c = changes(r2, "g");
    ck_assert_int_eq(o1->member_unregister(o1->ctx, "g", "b"), 0);
    expect_change(r2, "g", c);
    ck_assert_int_eq(list_members(r2, "g", &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_ptr_null(topics_of(&s, "b"));
    /* The session ends (a process death for memory and directory): its
     * members vanish, and the others see a change. */
    c = changes(r1, "g");
    klog_registry_free(r2);
    expect_change(r1, "g", c);
    ck_assert_int_eq(list_members(r1, "g", &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.ids[0], "a");
    ck_assert_int_eq(list_members(r1, "other", &s), 0);
    ck_assert_int_eq(s.n, 0);
    /* The id is free again. */
    ck_assert_int_eq(b->open(&r2), 0);
    o2 = klog_registry_ops(r2);
    ck_assert_int_eq(o2->member_register(o2->ctx, "g", "c", ""), 0);
    ck_assert_int_eq(o1->member_register(o1->ctx, "g", "bad/id", "t"), KLOG_EBADNAME);
    klog_registry_free(r2);
    klog_registry_free(r1);
}
END_TEST

START_TEST(conf_claims)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    klog_registry_t *r1, *r2, *r3;
    ck_assert_int_eq(b->open(&r1), 0);
    ck_assert_int_eq(b->open(&r2), 0);
    ck_assert_int_eq(b->open(&r3), 0);
    const klog_registry_ops_t *o1 = klog_registry_ops(r1), *o2 = klog_registry_ops(r2),
                              *o3 = klog_registry_ops(r3);
    char buf[64];
    ck_assert_int_eq(o1->owner(o1->ctx, "g", "t", 0, buf, sizeof buf), KLOG_ENOTFOUND);
    ck_assert_int_eq(o1->claim(o1->ctx, "g", "t", 0, "a"), 0);
    ck_assert_int_eq(o1->claim(o1->ctx, "g", "t", 0, "a"), 0); /* idempotent */
    ck_assert_int_eq(o2->claim(o2->ctx, "g", "t", 0, "b"), KLOG_ECLAIMED);
    ck_assert_int_eq(o2->claim(o2->ctx, "g", "t", 0, "a"), KLOG_ECLAIMED); /* other session */
    ck_assert_int_eq(o2->claim(o2->ctx, "g", "t", 1, "b"), 0);
    ck_assert_int_eq(o2->claim(o2->ctx, "h", "t", 0, "b"), 0); /* other group */
    ck_assert_int_eq(o3->owner(o3->ctx, "g", "t", 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a");
    ck_assert_int_eq(o3->owner(o3->ctx, "g", "t", 1, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "b");
    ck_assert_int_eq(o3->owner(o3->ctx, "g", "t", 0, buf, 1), -ENAMETOOLONG);
    /* Release: only by the holder. */
    ck_assert_int_eq(o2->release(o2->ctx, "g", "t", 0, "b"), KLOG_ENOTFOUND);
    ck_assert_int_eq(o1->release(o1->ctx, "g", "t", 0, "z"), KLOG_ENOTFOUND);
    ck_assert_int_eq(o1->release(o1->ctx, "g", "t", 0, "a"), 0);
    ck_assert_int_eq(o1->release(o1->ctx, "g", "t", 0, "a"), KLOG_ENOTFOUND);
    ck_assert_int_eq(o3->owner(o3->ctx, "g", "t", 0, buf, sizeof buf), KLOG_ENOTFOUND);
    ck_assert_int_eq(o2->claim(o2->ctx, "g", "t", 0, "b"), 0);
    /* The holder's session ends: its claims vanish. */
    klog_registry_free(r2);
    int64_t end = mono_ms() + 5000;
    while (o3->owner(o3->ctx, "g", "t", 0, buf, sizeof buf) == 0)
        ck_assert(mono_ms() < end);
    ck_assert_int_eq(o3->claim(o3->ctx, "g", "t", 0, "c"), 0);
    ck_assert_int_eq(o3->claim(o3->ctx, "g", "t", 1, "c"), 0);
    ck_assert_int_eq(o1->claim(o1->ctx, "g", "t", 0, "a"), KLOG_ECLAIMED);
    ck_assert_int_eq(o1->claim(o1->ctx, "g", "t", -1, "a"), -EINVAL);
    ck_assert_int_eq(o1->claim(o1->ctx, "g", "../t", 0, "a"), KLOG_EBADNAME);
    klog_registry_free(r3);
    klog_registry_free(r1);
}
END_TEST

START_TEST(conf_offsets)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    klog_registry_t *r1, *r2;
    ck_assert_int_eq(b->open(&r1), 0);
    const klog_registry_ops_t *o1 = klog_registry_ops(r1);
    int64_t off = -7;
    ck_assert_int_eq(o1->fetch(o1->ctx, "g", "t", 3, &off), KLOG_ENOTFOUND);
    ck_assert_int_eq(o1->commit(o1->ctx, "g", "t", 3, 42), 0);
    ck_assert_int_eq(o1->commit(o1->ctx, "g", "t", 4, 0), 0);
    ck_assert_int_eq(o1->commit(o1->ctx, "g2", "t", 3, INT64_MAX - 1), 0);
    ck_assert_int_eq(o1->fetch(o1->ctx, "g", "t", 3, &off), 0);
    ck_assert_int_eq(off, 42);
    ck_assert_int_eq(o1->commit(o1->ctx, "g", "t", 3, 7), 0); /* may go back (a reset) */
    klog_registry_free(r1);
    /* Persistent: another, later session reads them. */
    ck_assert_int_eq(b->open(&r2), 0);
    const klog_registry_ops_t *o2 = klog_registry_ops(r2);
    ck_assert_int_eq(o2->fetch(o2->ctx, "g", "t", 3, &off), 0);
    ck_assert_int_eq(off, 7);
    ck_assert_int_eq(o2->fetch(o2->ctx, "g", "t", 4, &off), 0);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(o2->fetch(o2->ctx, "g2", "t", 3, &off), 0);
    ck_assert_int_eq(off, INT64_MAX - 1);
    ck_assert_int_eq(o2->fetch(o2->ctx, "g", "t", 5, &off), KLOG_ENOTFOUND);
    ck_assert_int_eq(o2->commit(o2->ctx, "g", "t", -1, 1), -EINVAL);
    klog_registry_free(r2);
}
END_TEST

typedef struct later {
    klog_registry_t *r;
    int delay_ms;
} later_t;

static void *register_later(void *v)
{
    later_t *l = v;
    usleep((useconds_t)l->delay_ms * 1000);
    const klog_registry_ops_t *o = klog_registry_ops(l->r);
    o->member_register(o->ctx, "g", "late", "t");
    return NULL;
}

START_TEST(conf_wait)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    klog_registry_t *r1, *r2;
    ck_assert_int_eq(b->open(&r1), 0);
    ck_assert_int_eq(b->open(&r2), 0);
    const klog_registry_ops_t *o1 = klog_registry_ops(r1);
    ck_assert_ptr_nonnull(o1->wait);
    uint64_t c = changes(r1, "g");
    int64_t t0 = mono_ms();
    ck_assert_int_eq(o1->wait(o1->ctx, "g", c, 60), 0);
    ck_assert_int_ge(mono_ms() - t0, 50);
    ck_assert_int_eq(o1->wait(o1->ctx, "g", c + 1, 0), 1);
    later_t l = {r2, 50};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, register_later, &l), 0);
    t0 = mono_ms();
    int got = 0;
    while (!got && mono_ms() - t0 < 5000)
        got = o1->wait(o1->ctx, "g", c, 1000);
    pthread_join(th, NULL);
    ck_assert_int_eq(got, 1);
    ck_assert_int_lt(mono_ms() - t0, 3000);
    klog_registry_free(r2);
    klog_registry_free(r1);
}
END_TEST

/* An application's own registry through klog_registry_new: a thin
 * wrapper forwarding to a memory registry proves the table is enough. */
START_TEST(registry_custom_table)
{
    klog_registry_ops_t ops = *klog_registry_ops(mem_root);
    ops.destroy = NULL; /* mem_root owns the ctx */
    ops.wait = NULL;
    klog_registry_t *r;
    ck_assert_int_eq(klog_registry_new(&ops, &r), 0);
    const klog_registry_ops_t *o = klog_registry_ops(r);
    ck_assert_ptr_null(o->wait);
    ck_assert_int_eq(o->claim(o->ctx, "g", "t", 0, "a"), 0);
    klog_registry_free(r);
    ops.claim = NULL;
    ck_assert_int_eq(klog_registry_new(&ops, &r), -EINVAL);
    ck_assert_int_eq(klog_registry_new(NULL, &r), -EINVAL);
    klog_registry_free(NULL);
#if !KLOG_HAVE_ZOOKEEPER
    ck_assert_int_eq(klog_registry_zk_new("127.0.0.1:1", 0, &r), KLOG_ENOTSUP);
#endif
}
END_TEST

/* ============================================================= member */

#define NPART 6
#define PER_PART 50

static klog_t *make_log(const char *dir, int nparts, int per_part)
{
    klog_t *log;
    ck_assert_int_eq(klog_open(dir, NULL, 0, &log), 0);
    ck_assert_int_eq(klog_topic_create(log, "events", nparts, NULL), 0);
    for (int p = 0; p < nparts; p++) {
        klog_partition_t *part;
        ck_assert_int_eq(klog_partition(log, "events", p, &part), 0);
        for (int i = 0; i < per_part; i++) {
            char v[32];
            int n = snprintf(v, sizeof v, "%d:%d", p, i);
            klog_record_t rec = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN,
                                 .value = v, .value_len = n};
            ck_assert_int_eq(klog_append(part, &rec, 1, NULL), 0);
        }
    }
    return log;
}

static void append_one(klog_t *log, int p, int i)
{
    klog_partition_t *part;
    ck_assert_int_eq(klog_partition(log, "events", p, &part), 0);
    char v[32];
    int n = snprintf(v, sizeof v, "%d:%d", p, i);
    klog_record_t rec = {.timestamp = KLOG_TIMESTAMP_NOW, .key_len = KLOG_NULL_LEN, .value = v,
                         .value_len = n};
    ck_assert_int_eq(klog_append(part, &rec, 1, NULL), 0);
}

static klog_member_opts_t opts_for(const char *id, int strategy)
{
    klog_member_opts_t o = {.size = sizeof o, .member_id = id, .strategy = strategy,
                            .auto_commit_ms = -1, .backoff_ms = 5, .check_ms = 2};
    return o;
}

/* Poll until n records came or the time is up; counts[p*PER+i]++. */
static int drain(klog_member_t *m, int *counts, int per, int want, int ms)
{
    int got = 0;
    int64_t end = mono_ms() + ms;
    klog_member_record_t mr;
    while (got < want && mono_ms() < end) {
        int rc = klog_member_poll(m, &mr, 20);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            int p, i;
            ck_assert_int_eq(sscanf((const char *)mr.rec.value, "%d:%d", &p, &i), 2);
            ck_assert_int_eq(p, mr.partition);
            ck_assert_str_eq(mr.topic, "events");
            counts[p * per + i]++;
            got++;
        }
    }
    return got;
}

static const char *const events_only[] = {"events", NULL};

START_TEST(member_single_resumes)
{
    const backend_t *b = backend(_i);
    if (!b)
        return;
    char d[512];
    snprintf(d, sizeof d, "%s/log", tmp);
    klog_t *log = make_log(d, NPART, PER_PART);
    klog_registry_t *r;
    ck_assert_int_eq(b->open(&r), 0);
    klog_member_opts_t o = opts_for("solo", KLOG_ASSIGN_RANGE);
    klog_member_t *m;
    ck_assert_int_eq(klog_member_new(log, r, "g", events_only, &o, &m), 0);
    ck_assert_str_eq(klog_member_id(m), "solo");
    int counts[NPART * PER_PART] = {0};
    ck_assert_int_eq(drain(m, counts, PER_PART, NPART * PER_PART, 10000), NPART * PER_PART);
    for (int i = 0; i < NPART * PER_PART; i++)
        ck_assert_int_eq(counts[i], 1);
    klog_member_record_t mr;
    ck_assert_int_eq(klog_member_poll(m, &mr, 0), 0);
    klog_assignment_entry_t own[NPART + 2];
    ck_assert_int_eq(klog_member_assignment(m, own, NPART + 2), NPART);
    ck_assert_int_eq(klog_member_commit(m), 0);
    ck_assert_int_eq(klog_member_close(m), 0);
    /* The committed offsets are where the next member starts. */
    const klog_registry_ops_t *ops = klog_registry_ops(r);
    int64_t off;
    ck_assert_int_eq(ops->fetch(ops->ctx, "g", "events", 0, &off), 0);
    ck_assert_int_eq(off, PER_PART);
    append_one(log, 2, PER_PART);
    ck_assert_int_eq(klog_member_new(log, r, "g", events_only, &o, &m), 0);
    ck_assert_int_eq(klog_member_poll(m, &mr, 5000), 1);
    ck_assert_int_eq(mr.partition, 2);
    ck_assert_int_eq(mr.rec.offset, PER_PART);
    ck_assert_int_eq(klog_member_poll(m, &mr, 50), 0);
    ck_assert_int_eq(klog_member_close(m), 0);
    /* A new group with the latest reset sees only what comes later. */
    o.reset = KLOG_RESET_LATEST;
    ck_assert_int_eq(klog_member_new(log, r, "g-latest", events_only, &o, &m), 0);
    ck_assert_int_eq(klog_member_poll(m, &mr, 100), 0);
    append_one(log, 4, PER_PART);
    ck_assert_int_eq(klog_member_poll(m, &mr, 5000), 1);
    ck_assert_int_eq(mr.partition, 4);
    ck_assert_int_eq(mr.rec.offset, PER_PART);
    ck_assert_int_eq(klog_member_close(m), 0);
    klog_registry_free(r);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* Two members, then a third joins, then one leaves: the partitions are
 * always split without overlap and every record is read exactly once
 * (each handover commits first). */
static void member_handover(const backend_t *b, int strategy)
{
    char d[512];
    snprintf(d, sizeof d, "%s/log", tmp);
    klog_t *log = make_log(d, NPART, PER_PART);
    klog_registry_t *r[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(b->open(&r[i]), 0);
    klog_member_opts_t oa = opts_for("a", strategy), ob = opts_for("b", strategy),
                       oc = opts_for("c", strategy);
    klog_member_t *ma, *mb, *mc;
    ck_assert_int_eq(klog_member_new(log, r[0], "g", events_only, &oa, &ma), 0);
    int counts[NPART * PER_PART] = {0};
    /* a reads a little alone, then b joins. */
    ck_assert_int_eq(drain(ma, counts, PER_PART, 40, 5000), 40);
    ck_assert_int_eq(klog_member_new(log, r[1], "g", events_only, &ob, &mb), 0);
    int total = 40;
    for (int round = 0; round < 400 && total < 200; round++) {
        total += drain(ma, counts, PER_PART, 1, 5);
        total += drain(mb, counts, PER_PART, 1, 5);
    }
    ck_assert_int_eq(klog_member_new(log, r[2], "g", events_only, &oc, &mc), 0);
    int64_t end = mono_ms() + 10000;
    while (total < NPART * PER_PART && mono_ms() < end) {
        total += drain(ma, counts, PER_PART, 1, 5);
        total += drain(mb, counts, PER_PART, 1, 5);
        total += drain(mc, counts, PER_PART, 1, 5);
    }
    ck_assert_int_eq(total, NPART * PER_PART);
    for (int i = 0; i < NPART * PER_PART; i++)
        ck_assert_msg(counts[i] == 1, "record %d read %d times", i, counts[i]);
    /* Settled: 2 partitions each, disjoint. */
    klog_assignment_entry_t ea[NPART], eb[NPART], ec[NPART];
    int na = klog_member_assignment(ma, ea, NPART), nb = klog_member_assignment(mb, eb, NPART),
        nc = klog_member_assignment(mc, ec, NPART);
    ck_assert_int_eq(na + nb + nc, NPART);
    ck_assert_int_eq(na, 2);
    ck_assert_int_eq(nb, 2);
    ck_assert_int_eq(nc, 2);
    /* b leaves cleanly; new records go to a and c only. */
    ck_assert_int_eq(klog_member_close(mb), 0);
    for (int p = 0; p < NPART; p++)
        append_one(log, p, PER_PART);
    int extra[NPART * (PER_PART + 1)] = {0};
    int got = 0;
    end = mono_ms() + 10000;
    while (got < NPART && mono_ms() < end) {
        got += drain(ma, extra, PER_PART + 1, 1, 5);
        got += drain(mc, extra, PER_PART + 1, 1, 5);
    }
    ck_assert_int_eq(got, NPART);
    na = klog_member_assignment(ma, ea, NPART);
    nc = klog_member_assignment(mc, ec, NPART);
    ck_assert_int_eq(na, 3);
    ck_assert_int_eq(nc, 3);
    ck_assert_int_eq(klog_member_close(ma), 0);
    ck_assert_int_eq(klog_member_close(mc), 0);
    for (int i = 0; i < 3; i++)
        klog_registry_free(r[i]);
    ck_assert_int_eq(klog_close(log), 0);
}

START_TEST(member_handover_range)
{
    const backend_t *b = backend(_i);
    if (b)
        member_handover(b, KLOG_ASSIGN_RANGE);
}
END_TEST

START_TEST(member_handover_sticky)
{
    const backend_t *b = backend(_i);
    if (b)
        member_handover(b, KLOG_ASSIGN_STICKY);
}
END_TEST

START_TEST(member_handover_roundrobin)
{
    const backend_t *b = backend(_i);
    if (b)
        member_handover(b, KLOG_ASSIGN_ROUNDROBIN);
}
END_TEST

START_TEST(member_errors)
{
    char d[512];
    snprintf(d, sizeof d, "%s/log", tmp);
    klog_t *log = make_log(d, 2, 3);
    klog_member_t *m;
    klog_member_opts_t o = opts_for("x", KLOG_ASSIGN_RANGE);
    const char *const none[] = {NULL};
    const char *const missing[] = {"nope", NULL};
    const char *const bad[] = {"a/b", NULL};
    ck_assert_int_eq(klog_member_new(NULL, mem_root, "g", events_only, &o, &m), -EINVAL);
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", none, &o, &m), -EINVAL);
    ck_assert_int_eq(klog_member_new(log, mem_root, "g/x", events_only, &o, &m), KLOG_EBADNAME);
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", missing, &o, &m), KLOG_ENOTOPIC);
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", bad, &o, &m), KLOG_EBADNAME);
    o.strategy = 9;
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", events_only, &o, &m), KLOG_ECONFIG);
    o = opts_for("x", KLOG_ASSIGN_RANGE);
    o.size = 0;
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", events_only, &o, &m), KLOG_ECONFIG);
    o = opts_for("x", KLOG_ASSIGN_RANGE);
    klog_member_t *m2;
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", events_only, &o, &m), 0);
    klog_registry_t *other;
    ck_assert_int_eq(klog_registry_memory_new(mem_root, &other), 0);
    ck_assert_int_eq(klog_member_new(log, other, "g", events_only, &o, &m2), KLOG_ECLAIMED);
    /* Default options: generated id. */
    ck_assert_int_eq(klog_member_new(log, other, "g", events_only, NULL, &m2), 0);
    ck_assert(klog_topic_name_valid(klog_member_id(m2)));
    ck_assert_int_eq(klog_member_close(m2), 0);
    ck_assert_int_eq(klog_member_close(m), 0);
    ck_assert_int_eq(klog_member_close(NULL), 0);
    klog_registry_free(other);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* The committed offset is no longer retained: the member starts at the
 * reset position instead. */
START_TEST(member_committed_not_retained)
{
    char d[512];
    snprintf(d, sizeof d, "%s/log", tmp);
    klog_t *log = make_log(d, 1, 10);
    const klog_registry_ops_t *ops = klog_registry_ops(mem_root);
    ck_assert_int_eq(ops->commit(ops->ctx, "g", "events", 0, 2), 0);
    klog_partition_t *p;
    ck_assert_int_eq(klog_partition(log, "events", 0, &p), 0);
    ck_assert_int_eq(klog_delete_records(p, 5), 0);
    klog_member_opts_t o = opts_for("x", KLOG_ASSIGN_RANGE);
    klog_member_t *m;
    ck_assert_int_eq(klog_member_new(log, mem_root, "g", events_only, &o, &m), 0);
    klog_member_record_t mr;
    ck_assert_int_eq(klog_member_poll(m, &mr, 5000), 1);
    ck_assert_int_eq(mr.rec.offset, 5);
    ck_assert_int_eq(klog_member_close(m), 0);
    int64_t off;
    ck_assert_int_eq(ops->fetch(ops->ctx, "g", "events", 0, &off), 0);
    ck_assert_int_eq(off, 6);
    ck_assert_int_eq(klog_close(log), 0);
}
END_TEST

/* ======================================================= ZooKeeper server */

/* Start a ZooKeeper server through the group_zkserver helper, which prints
 * "PORT n" once the server answers, and stops it when its stdin closes. */
static FILE *zk_pipe_in;
static void zk_start(void)
{
    const char *build = getenv("KLOG_BUILD");
    char helper[512];
    snprintf(helper, sizeof helper, "%s/test/group_zkserver", build ? build : "build");
    if (access(helper, X_OK) != 0)
        return;
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(helper, helper, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    zk_pid = pid;
    zk_pipe_in = fdopen(to[1], "w");
    FILE *f = fdopen(from[0], "r");
    char line[256];
    int port = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "PORT %d", &port) == 1 || strncmp(line, "SKIP", 4) == 0)
            break;
    if (port > 0)
        snprintf(zk_hosts, sizeof zk_hosts, "127.0.0.1:%d", port);
    else
        fprintf(stderr, "group_zk: %s", line);
    if (f)
        fclose(f);
}

static void zk_stop(void)
{
    if (zk_pid > 0) {
        if (zk_pipe_in)
            fclose(zk_pipe_in);
        zk_pipe_in = NULL;
        int st;
        int64_t end = mono_ms() + 15000;
        while (waitpid(zk_pid, &st, WNOHANG) == 0 && mono_ms() < end)
            usleep(20000);
        kill(zk_pid, SIGKILL);
        waitpid(zk_pid, &st, 0);
        zk_pid = -1;
    }
    zk_hosts[0] = 0;
}

/* ============================================================== suites */

static void add_conformance(TCase *tc, int lo, int hi)
{
    tcase_add_loop_test(tc, conf_topics, lo, hi);
    tcase_add_loop_test(tc, conf_members, lo, hi);
    tcase_add_loop_test(tc, conf_claims, lo, hi);
    tcase_add_loop_test(tc, conf_offsets, lo, hi);
    tcase_add_loop_test(tc, conf_wait, lo, hi);
    tcase_add_loop_test(tc, member_single_resumes, lo, hi);
    tcase_add_loop_test(tc, member_handover_range, lo, hi);
    tcase_add_loop_test(tc, member_handover_sticky, lo, hi);
    tcase_add_loop_test(tc, member_handover_roundrobin, lo, hi);
}

Suite *group_suite(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("assign");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, assign_range_is_algorithm1);
    tcase_add_test(tc, assign_roundrobin_balanced);
    tcase_add_test(tc, assign_order_independent);
    tcase_add_test(tc, assign_sticky_minimal_moves);
    tcase_add_test(tc, assign_sticky_hetero);
    tcase_add_test(tc, assign_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("conformance");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    add_conformance(tc, 0, 2); /* memory, directory */
    tcase_add_test(tc, registry_custom_table);
    tcase_add_test(tc, member_errors);
    tcase_add_test(tc, member_committed_not_retained);
    suite_add_tcase(s, tc);
    return s;
}

/* The same conformance tests against a real ZooKeeper server, started for
 * this suite (and skipped with a note when the package is missing). */
Suite *group_zk_suite(void)
{
    Suite *s = suite_create("group_zk");
    TCase *tc = tcase_create("zookeeper");
    tcase_add_unchecked_fixture(tc, zk_start, zk_stop);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    add_conformance(tc, 2, 3);
    suite_add_tcase(s, tc);
    return s;
}

/* ============================================================== threads */

/* Members as threads of one process over one memory registry (and one
 * directory registry session each): every record is read at least once,
 * none twice (handovers commit first, nobody dies here), and the owners
 * table kept by the event callbacks never sees a partition claimed while
 * another member holds it. */
#define TPART 12
#define TPER 400
#define TMEMBERS 4

typedef struct tshared {
    klog_t *log;
    pthread_mutex_t mu;
    int owner[TPART]; /* member index + 1, 0 = free */
    int violations;
    atomic_int counts[TPART * TPER];
    atomic_int total;
    atomic_int stop_all;
} tshared_t;

typedef struct tmember {
    tshared_t *sh;
    klog_registry_t *reg;
    int idx;
    int strategy;
    int64_t leave_after_ms; /* leave early (0: stay to the end) */
    int rc;
} tmember_t;

static void t_event(void *ctx, const char *topic, int32_t partition, int owned, int64_t offset,
                    int64_t time_ms)
{
    (void)topic;
    (void)offset;
    (void)time_ms;
    tmember_t *tm = ctx;
    tshared_t *sh = tm->sh;
    pthread_mutex_lock(&sh->mu);
    if (owned) {
        if (sh->owner[partition] != 0)
            sh->violations++;
        sh->owner[partition] = tm->idx + 1;
    } else {
        if (sh->owner[partition] != tm->idx + 1)
            sh->violations++;
        sh->owner[partition] = 0;
    }
    pthread_mutex_unlock(&sh->mu);
}

static void *t_member(void *v)
{
    tmember_t *tm = v;
    char id[16];
    snprintf(id, sizeof id, "w%d", tm->idx);
    klog_member_opts_t o = {.size = sizeof o, .member_id = id, .strategy = tm->strategy,
                            .auto_commit_ms = 20, .backoff_ms = 2, .check_ms = 2,
                            .on_event = t_event, .event_ctx = tm};
    klog_member_t *m;
    tm->rc = klog_member_new(tm->sh->log, tm->reg, "g", events_only, &o, &m);
    if (tm->rc)
        return NULL;
    int64_t start = mono_ms();
    while (!atomic_load(&tm->sh->stop_all)) {
        if (tm->leave_after_ms && mono_ms() - start > tm->leave_after_ms)
            break;
        klog_member_record_t mr;
        int rc = klog_member_poll(m, &mr, 10);
        if (rc < 0) {
            tm->rc = rc;
            break;
        }
        if (rc == 1) {
            int p, i;
            if (sscanf((const char *)mr.rec.value, "%d:%d", &p, &i) == 2 && p < TPART && i < TPER) {
                atomic_fetch_add(&tm->sh->counts[p * TPER + i], 1);
                atomic_fetch_add(&tm->sh->total, 1);
            }
            if (i % 50 == 0)
                usleep(200); /* let the others interleave */
        }
    }
    int rc = klog_member_close(m);
    if (!tm->rc)
        tm->rc = rc;
    return NULL;
}

static void threads_run(int use_dir, int strategy)
{
    tshared_t *sh = calloc(1, sizeof *sh);
    pthread_mutex_init(&sh->mu, NULL);
    char d[512];
    snprintf(d, sizeof d, "%s/log", tmp);
    sh->log = make_log(d, TPART, TPER);
    tmember_t tm[TMEMBERS + 1];
    pthread_t th[TMEMBERS + 1];
    for (int i = 0; i <= TMEMBERS; i++) {
        tm[i] = (tmember_t){.sh = sh, .idx = i, .strategy = strategy};
        if (use_dir)
            ck_assert_int_eq(open_dir(&tm[i].reg), 0);
        else
            ck_assert_int_eq(klog_registry_memory_new(mem_root, &tm[i].reg), 0);
    }
    tm[1].leave_after_ms = 100; /* one member leaves early */
    for (int i = 0; i < TMEMBERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, t_member, &tm[i]), 0);
    usleep(50000);
    ck_assert_int_eq(pthread_create(&th[TMEMBERS], NULL, t_member, &tm[TMEMBERS]), 0); /* joins */
    int64_t end = mono_ms() + 30000;
    while (atomic_load(&sh->total) < TPART * TPER && mono_ms() < end)
        usleep(5000);
    atomic_store(&sh->stop_all, 1);
    for (int i = 0; i <= TMEMBERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(tm[i].rc == 0, "member %d: %s", i, klog_strerror(tm[i].rc));
        klog_registry_free(tm[i].reg);
    }
    ck_assert_int_eq(sh->violations, 0);
    for (int i = 0; i < TPART * TPER; i++)
        ck_assert_msg(atomic_load(&sh->counts[i]) == 1, "record %d read %d times", i,
                      atomic_load(&sh->counts[i]));
    for (int p = 0; p < TPART; p++)
        ck_assert_int_eq(sh->owner[p], 0);
    ck_assert_int_eq(klog_close(sh->log), 0);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

START_TEST(threads_memory_range) { threads_run(0, KLOG_ASSIGN_RANGE); }
END_TEST
START_TEST(threads_memory_sticky) { threads_run(0, KLOG_ASSIGN_STICKY); }
END_TEST
START_TEST(threads_dir_roundrobin) { threads_run(1, KLOG_ASSIGN_ROUNDROBIN); }
END_TEST

Suite *group_threads_suite(void)
{
    Suite *s = suite_create("group_threads");
    TCase *tc = tcase_create("members");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, threads_memory_range);
    tcase_add_test(tc, threads_memory_sticky);
    tcase_add_test(tc, threads_dir_roundrobin);
    suite_add_tcase(s, tc);
    return s;
}
