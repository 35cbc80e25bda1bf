/*
 * check_fdcache.c — the descriptor LRU (lib/storage/fdcache.c) on its own:
 * accounting, eviction from the cold end, and the lock-free touch of the
 * head (a touch that finds its link and descriptor count in `mru` changes
 * nothing; every unlink of that link must clear it, or a re-touched link
 * would stay outside the list and its descriptors unaccounted). Named
 * "_threads" so `make tsan-check` runs it.
 */
#include <check.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "storage/fdcache.h"

/* Owners: a link and whether it may be evicted. */
typedef struct owner {
    klog__fdcache_link_t link; /* first: the callback's pointer is the owner's */
    int busy;
    int evicted;
} owner_t;

static int evict_cb(klog__fdcache_link_t *l)
{
    owner_t *o = (owner_t *)l;
    if (o->busy)
        return 0;
    o->evicted++;
    return l->fds;
}

START_TEST(test_touch_head_again)
{
    klog__fdcache_t *c;
    ck_assert_int_eq(klog__fdcache_new(100, evict_cb, &c), 0);
    owner_t a = {0};
    klog__fdcache_touch(c, &a.link, 3);
    klog__fdcache_touch(c, &a.link, 3); /* the head again: no change */
    ck_assert_int_eq(klog__fdcache_count(c), 3);
    /* The same link with more descriptors is a change. */
    klog__fdcache_touch(c, &a.link, 1);
    ck_assert_int_eq(klog__fdcache_count(c), 1);
    klog__fdcache_touch(c, &a.link, 3);
    ck_assert_int_eq(klog__fdcache_count(c), 3);
    klog__fdcache_free(c);
}
END_TEST

START_TEST(test_removed_head_comes_back)
{
    klog__fdcache_t *c;
    ck_assert_int_eq(klog__fdcache_new(100, evict_cb, &c), 0);
    owner_t a = {0}, b = {0};
    klog__fdcache_touch(c, &a.link, 3);
    klog__fdcache_remove(c, &a.link); /* the head leaves: its files closed */
    ck_assert_int_eq(klog__fdcache_count(c), 0);
    klog__fdcache_touch(c, &a.link, 3); /* reopened: accounted again */
    ck_assert_int_eq(klog__fdcache_count(c), 3);
    ck_assert_int_eq(a.link.fds, 3);
    /* A head evicted by another's touch comes back the same way. */
    klog__fdcache_touch(c, &b.link, 2);
    klog__fdcache_touch(c, &a.link, 3);
    ck_assert_int_eq(klog__fdcache_count(c), 5);
    klog__fdcache_shed(c, 3); /* from the cold end: b, then a */
    ck_assert_int_eq(b.evicted, 1);
    ck_assert_int_eq(a.evicted, 1);
    ck_assert_int_eq(klog__fdcache_count(c), 0);
    klog__fdcache_touch(c, &a.link, 3);
    ck_assert_int_eq(klog__fdcache_count(c), 3);
    klog__fdcache_free(c);
}
END_TEST

START_TEST(test_bound_from_cold_end)
{
    klog__fdcache_t *c;
    ck_assert_int_eq(klog__fdcache_new(6, evict_cb, &c), 0);
    owner_t o[4];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 3; i++)
        klog__fdcache_touch(c, &o[i].link, 2);
    ck_assert_int_eq(klog__fdcache_count(c), 6);
    klog__fdcache_touch(c, &o[0].link, 2); /* o[0] most recent: o[1] coldest */
    klog__fdcache_touch(c, &o[3].link, 2);
    ck_assert_int_eq(o[1].evicted, 1);
    ck_assert_int_eq(o[0].evicted + o[2].evicted, 0);
    ck_assert_int_eq(klog__fdcache_count(c), 6);
    /* A busy cold owner stays; the next one goes. */
    o[2].busy = 1;
    klog__fdcache_touch(c, &o[1].link, 2);
    ck_assert_int_eq(o[2].evicted, 0);
    ck_assert_int_eq(o[0].evicted, 1);
    klog__fdcache_free(c);
}
END_TEST

/* An owner that reopens and touches while an eviction of it is under way
 * (its callback has closed the files and let go of the owner's lock, the
 * unlink has not happened yet) must end up in the list, counted. The
 * callback lets the owner's thread touch and waits for it a while: with
 * `mru` still naming the evicted head the touch returns at once and the
 * unlink then drops the reopened descriptors from the count; cleared
 * before the callback, the touch waits for the lock and relinks. */
static klog__fdcache_t *race_c;
static owner_t race_x;
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t race_cv = PTHREAD_COND_INITIALIZER;
static int race_go, race_done;

static int race_evict(klog__fdcache_link_t *l)
{
    if (l != &race_x.link)
        return 0;
    pthread_mutex_lock(&race_mu);
    race_go = 1;
    pthread_cond_broadcast(&race_cv);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 300 * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!race_done && pthread_cond_timedwait(&race_cv, &race_mu, &until) == 0)
        ;
    pthread_mutex_unlock(&race_mu);
    return l->fds;
}

static void *race_owner(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&race_mu);
    while (!race_go)
        pthread_cond_wait(&race_cv, &race_mu);
    pthread_mutex_unlock(&race_mu);
    klog__fdcache_touch(race_c, &race_x.link, 3); /* reopened: 3 descriptors again */
    pthread_mutex_lock(&race_mu);
    race_done = 1;
    pthread_cond_broadcast(&race_cv);
    pthread_mutex_unlock(&race_mu);
    return NULL;
}

START_TEST(test_touch_during_eviction)
{
    ck_assert_int_eq(klog__fdcache_new(100, race_evict, &race_c), 0);
    memset(&race_x, 0, sizeof race_x);
    race_go = race_done = 0;
    klog__fdcache_touch(race_c, &race_x.link, 3); /* the head, named by mru */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, race_owner, NULL), 0);
    klog__fdcache_shed(race_c, 3); /* evicts the head; the owner touches meanwhile */
    pthread_join(t, NULL);
    ck_assert_int_eq(race_x.link.fds, 3);
    ck_assert_int_eq(klog__fdcache_count(race_c), 3);
    klog__fdcache_remove(race_c, &race_x.link);
    ck_assert_int_eq(klog__fdcache_count(race_c), 0);
    klog__fdcache_free(race_c);
}
END_TEST

/* Threads touching their own links and removing them: the count stays
 * the sum of what is in the list (TSan checks the lock-free path). */
enum { NT = 4, TURNS = 20000 };
static klog__fdcache_t *shared;
static owner_t towners[NT][2];

static void *toucher(void *arg)
{
    owner_t *mine = arg;
    for (int i = 0; i < TURNS; i++) {
        klog__fdcache_touch(shared, &mine[i & 1].link, 1 + (i % 3 == 0));
        klog__fdcache_touch(shared, &mine[i & 1].link, 1 + (i % 3 == 0));
        if (i % 7 == 0)
            klog__fdcache_remove(shared, &mine[(i >> 1) & 1].link);
    }
    return NULL;
}

START_TEST(test_threads_account)
{
    ck_assert_int_eq(klog__fdcache_new(1000, evict_cb, &shared), 0);
    memset(towners, 0, sizeof towners);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, toucher, towners[i]), 0);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    int sum = 0;
    for (int i = 0; i < NT; i++)
        sum += towners[i][0].link.fds + towners[i][1].link.fds;
    ck_assert_int_eq(klog__fdcache_count(shared), sum);
    for (int i = 0; i < NT; i++)
        for (int k = 0; k < 2; k++)
            klog__fdcache_remove(shared, &towners[i][k].link);
    ck_assert_int_eq(klog__fdcache_count(shared), 0);
    klog__fdcache_free(shared);
}
END_TEST

Suite *fdcache_threads_suite(void)
{
    Suite *s = suite_create("fdcache_threads");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_touch_head_again);
    tcase_add_test(tc, test_removed_head_comes_back);
    tcase_add_test(tc, test_bound_from_cold_end);
    tcase_add_test(tc, test_threads_account);
    tcase_add_test(tc, test_touch_during_eviction);
    suite_add_tcase(s, tc);
    return s;
}
