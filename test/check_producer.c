/*
 * check_producer.c — the produce layer (lib/produce): partitioners (XXH3,
 * Kafka's murmur2 against Kafka's own hash values, a table derived from
 * the Java definition and librdkafka's implementation), sticky spreading
 * of null keys, the accumulator's three ways to close a batch (bytes,
 * records, linger) and flush, delivery callbacks (offsets in order per
 * partition, record views, durable delivery after the fsync, append
 * errors), the bounded buffer (fail fast, block then fail, block then
 * proceed) and, in producer_threads_suite (run under TSan by
 * `make tsan-check`), many threads producing to one producer.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_records.h"

static char *tmp;
static klog_t *log_;
static int close_rc; /* what klog_close must return at teardown */

static void setup(void)
{
    close_rc = 0;
    tmp = tu_tmpdir("producer");
    ck_assert_int_eq(klog_open(tmp, NULL, 0, &log_), 0);
}

static void teardown(void)
{
    klog__fault_clear();
    ck_assert_int_eq(klog_close(log_), close_rc);
    log_ = NULL;
    tu_rmtree(tmp);
    free(tmp);
    tmp = NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_topic(const char *name, int32_t parts, int codec)
{
    klog_config_t *c = NULL;
    if (codec != KLOG_COMPRESSION_NONE) {
        ck_assert_int_eq(klog_config_new(&c), 0);
        ck_assert_int_eq(klog_config_set(c, KLOG_CONF_COMPRESSION, codec), 0);
    }
    ck_assert_int_eq(klog_topic_create(log_, name, parts, c), 0);
    klog_config_free(c);
}

/* A producer with the given (key, value) settings, 0-terminated. */
static klog_producer_t *make_producer(const int64_t *kv)
{
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    for (; kv && kv[0]; kv += 2)
        ck_assert_int_eq(klog_config_set(c, (int)kv[0], kv[1]), 0);
    klog_producer_t *p;
    ck_assert_int_eq(klog_producer_new(log_, c, &p), 0);
    klog_config_free(c);
    return p;
}

static int64_t log_end(const char *topic, int32_t part)
{
    klog_partition_t *kp;
    ck_assert_int_eq(klog_partition(log_, topic, part, &kp), 0);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    return o.log_end;
}

static klog_record_t value_rec(const void *v, int32_t len)
{
    klog_record_t r;
    memset(&r, 0, sizeof r);
    r.timestamp = 1700000000000;
    r.key_len = KLOG_NULL_LEN;
    r.value = v;
    r.value_len = len;
    return r;
}

/* ============================================================ partitioners */

START_TEST(partition_for_key_arguments)
{
    ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_XXH3, "k", 1, 0), -EINVAL);
    ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_XXH3, "k", 1, -3), -EINVAL);
    ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_MURMUR2, NULL, 4, 8), -EINVAL);
    ck_assert_int_eq(klog_partition_for_key(7, "k", 1, 8), KLOG_ECONFIG);
    /* NULL with length 0 is the empty key. */
    for (int pt = 0; pt <= 1; pt++)
        ck_assert_int_eq(klog_partition_for_key(pt, NULL, 0, 1000),
                         klog_partition_for_key(pt, "", 0, 1000));
    ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_XXH3, "anything", 8, 1), 0);
}
END_TEST

/* Kafka's UtilsTest.testMurmur2 values (Java int results of Utils.murmur2)
 * and a few from other Kafka clients' suites that copy them. With
 * INT32_MAX partitions, the partition is toPositive(hash) itself. */
START_TEST(murmur2_kafka_hash_values)
{
    static const struct {
        const char *key;
        int32_t hash;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
        {"1", -1993445489},
        {"12", 126087238},
        {"123", -267702483},
        {"1234", -1614185708},
        {"12345", -1188365604},
        {"kafka", -798503068},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int32_t want = (int32_t)((uint32_t)v[i].hash & 0x7fffffffu);
        if (want == INT32_MAX)
            want = 0;
        int32_t got = klog_partition_for_key(KLOG_PARTITIONER_MURMUR2, v[i].key,
                                             strlen(v[i].key), INT32_MAX);
        ck_assert_msg(got == want, "%s: %d, want %d", v[i].key, got, want);
    }
}
END_TEST

/* Partitions for 3, 6, 10, 12 and 100 partitions, computed from the Java
 * definition (Utils.murmur2 with Java int arithmetic, toPositive, %). */
START_TEST(murmur2_kafka_placement_table)
{
    static const struct {
        const char *key;
        int32_t hash;
        int32_t part[5];
    } t[] = {
        {"", 275646681, {0, 3, 1, 9, 81}},
        {"a", -1563381124, {1, 4, 4, 4, 24}},
        {"key", -1079937367, {1, 1, 1, 1, 81}},
        {"user-1", 1404122828, {2, 2, 8, 8, 28}},
        {"user-42", 1459644460, {1, 4, 0, 4, 60}},
        {"order:12345", -408361232, {0, 0, 6, 0, 16}},
        {"kafka", -798503068, {1, 4, 0, 4, 80}},
        {"partition-me", -180318688, {1, 4, 0, 4, 60}},
        {"\xc3\xa9t\xc3\xa9", -2101193575, {1, 1, 3, 1, 73}},
        {"0", 971027396, {2, 2, 6, 8, 96}},
        {"1", -1993445489, {0, 3, 9, 3, 59}},
        {"2", 648968168, {2, 2, 8, 8, 68}},
        {"3", -1148165505, {2, 5, 3, 11, 43}},
        {"customer_000001", -596184445, {1, 1, 3, 7, 3}},
        {"the quick brown fox jumps over the lazy dog", -890066680, {1, 4, 8, 4, 68}},
    };
    static const int32_t counts[5] = {3, 6, 10, 12, 100};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        for (int j = 0; j < 5; j++) {
            int32_t got = klog_partition_for_key(KLOG_PARTITIONER_MURMUR2, t[i].key,
                                                 strlen(t[i].key), counts[j]);
            ck_assert_msg(got == t[i].part[j], "\"%s\" over %d: %d, want %d", t[i].key,
                          counts[j], got, t[i].part[j]);
            ck_assert_int_eq(t[i].part[j],
                             (int32_t)(((uint32_t)t[i].hash & 0x7fffffffu) % (uint32_t)counts[j]));
        }
}
END_TEST

typedef int32_t (*rdk_part_fn)(const void *rkt, const void *key, size_t keylen, int32_t cnt,
                               void *rkt_opaque, void *msg_opaque);

/* librdkafka's "murmur2" partitioner is documented as Java-compatible:
 * random keys of every length 0..64 must land on the same partitions. */
START_TEST(murmur2_matches_librdkafka)
{
    void *h = dlopen("librdkafka.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "murmur2_matches_librdkafka: skipped (%s)\n", dlerror());
        return;
    }
    rdk_part_fn fn;
    *(void **)&fn = dlsym(h, "rd_kafka_msg_partitioner_murmur2");
    ck_assert_ptr_nonnull(fn);
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(0x6d75726d));
    uint8_t key[64];
    static const int32_t counts[] = {1, 2, 3, 7, 12, 64, 1000, 65537, INT32_MAX};
    for (int i = 0; i < 5000; i++) {
        size_t len = (size_t)(i % 65);
        tu_rng_fill(&rng, key, len);
        int32_t cnt = counts[tu_rng_below(&rng, sizeof counts / sizeof counts[0])];
        int32_t want = fn(NULL, key, len, cnt, NULL, NULL);
        int32_t got = klog_partition_for_key(KLOG_PARTITIONER_MURMUR2, key, len, cnt);
        ck_assert_msg(got == want, "key %d (len %zu) over %d: %d, librdkafka %d", i, len, cnt,
                      got, want);
    }
    dlclose(h);
}
END_TEST

START_TEST(xxh3_definition)
{
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(0x78786833));
    uint8_t key[100];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)(i % 100);
        tu_rng_fill(&rng, key, len);
        int32_t n = (int32_t)(1 + tu_rng_below(&rng, 5000));
        ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_XXH3, key, len, n),
                         (int32_t)(XXH3_64bits(key, len) % (uint64_t)n));
        /* Deterministic: the same key, the same answer. */
        ck_assert_int_eq(klog_partition_for_key(KLOG_PARTITIONER_XXH3, key, len, n),
                         klog_partition_for_key(KLOG_PARTITIONER_XXH3, key, len, n));
    }
}
END_TEST

/* Sequential keys spread evenly: chi-square over 12 partitions (11 degrees
 * of freedom; the 1e-6 tail starts near 45). The keys are fixed, so the
 * statistic is a constant: this cannot flake, only catch a bad spread. */
START_TEST(partitioner_distribution)
{
    enum { N = 60000, P = 12 };
    for (int pt = 0; pt <= 1; pt++) {
        long hist[P] = {0};
        char key[32];
        for (int i = 0; i < N; i++) {
            int len = snprintf(key, sizeof key, "key-%d", i);
            int32_t part = klog_partition_for_key(pt, key, (size_t)len, P);
            ck_assert(part >= 0 && part < P);
            hist[part]++;
        }
        double expect = (double)N / P, chi = 0;
        for (int i = 0; i < P; i++)
            chi += (hist[i] - expect) * (hist[i] - expect) / expect;
        ck_assert_msg(chi < 45.0, "partitioner %d: chi-square %.1f", pt, chi);
    }
}
END_TEST

/* ============================================================ configuration */

START_TEST(config_keys)
{
    klog_config_t *c;
    ck_assert_int_eq(klog_config_new(&c), 0);
    int64_t v;
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_LINGER_MS, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_BATCH_BYTES, &v), 0);
    ck_assert_int_eq(v, 16384);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_BUFFER_BYTES, &v), 0);
    ck_assert_int_eq(v, 32 << 20);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_PARTITIONER, &v), 0);
    ck_assert_int_eq(v, KLOG_PARTITIONER_XXH3);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_LINGER_MS, -1), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_BATCH_BYTES, 0), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_BUFFER_BYTES, 10), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_PARTITIONER, 2), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_DURABLE_DELIVERY, 2), KLOG_ECONFIG);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_PARTITIONER, KLOG_PARTITIONER_MURMUR2), 0);
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_BLOCK_MS, 0), 0);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_PARTITIONER, &v), 0);
    ck_assert_int_eq(v, KLOG_PARTITIONER_MURMUR2);
    /* Producer keys are not topic keys: a topic refuses them. */
    ck_assert_int_eq(klog_topic_create(log_, "t", 1, c), KLOG_ECONFIG);
    /* A log's configuration keeps them apart from its topic defaults. */
    ck_assert_int_eq(klog_config_set(c, KLOG_CONF_SEGMENT_BYTES, 4096), 0);
    ck_assert_int_eq(klog_config_get(c, KLOG_CONF_SEGMENT_BYTES, &v), 0);
    ck_assert_int_eq(v, 4096);
    klog_config_free(c);
}
END_TEST

/* ============================================================ produce errors */

START_TEST(produce_errors)
{
    make_topic("t", 2, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BUFFER_BYTES, 4096, 0});
    char big[8192] = {0};
    klog_record_t r = value_rec("v", 1);
    ck_assert_int_eq(klog_produce(p, "nope", KLOG_PARTITION_ANY, &r, NULL), KLOG_ENOTOPIC);
    ck_assert_int_eq(klog_produce(p, "bad/name", KLOG_PARTITION_ANY, &r, NULL), KLOG_EBADNAME);
    ck_assert_int_eq(klog_produce(p, "t", 2, &r, NULL), KLOG_ENOPARTITION);
    ck_assert_int_eq(klog_produce(p, "t", -2, &r, NULL), -EINVAL);
    ck_assert_int_eq(klog_produce(p, NULL, 0, &r, NULL), -EINVAL);
    ck_assert_int_eq(klog_produce(p, "t", 0, NULL, NULL), -EINVAL);
    klog_record_t bad = value_rec(NULL, 5);
    ck_assert_int_eq(klog_produce(p, "t", 0, &bad, NULL), -EINVAL);
    bad = value_rec("v", -2);
    ck_assert_int_eq(klog_produce(p, "t", 0, &bad, NULL), -EINVAL);
    klog_header_t h = {NULL, 1, "x", 1};
    bad = value_rec("v", 1);
    bad.headers = &h;
    bad.header_count = 1;
    ck_assert_int_eq(klog_produce(p, "t", 0, &bad, NULL), -EINVAL);
    /* Larger than the whole buffer. */
    klog_record_t huge = value_rec(big, sizeof big);
    ck_assert_int_eq(klog_produce(p, "t", 0, &huge, NULL), KLOG_ETOOLARGE);
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_eq(log_end("t", 0) + log_end("t", 1), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);

    /* Larger than the topic's largest batch. */
    klog_config_t *tc;
    ck_assert_int_eq(klog_config_new(&tc), 0);
    ck_assert_int_eq(klog_config_set(tc, KLOG_CONF_MAX_BATCH_BYTES, 1000), 0);
    ck_assert_int_eq(klog_topic_create(log_, "small", 1, tc), 0);
    klog_config_free(tc);
    p = make_producer(NULL);
    klog_record_t mid = value_rec(big, 2000);
    ck_assert_int_eq(klog_produce(p, "small", 0, &mid, NULL), KLOG_ETOOLARGE);
    mid.value_len = 500;
    ck_assert_int_eq(klog_produce(p, "small", 0, &mid, NULL), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("small", 0), 1);
    ck_assert_int_eq(klog_producer_close(NULL), 0);
}
END_TEST

/* ============================================================ batching */

/* Closing by record count: the batch that reaches the limit is appended
 * inside the klog_produce() call that filled it. */
START_TEST(batch_closes_by_count)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p =
        make_producer((int64_t[]){KLOG_CONF_BATCH_RECORDS, 10, KLOG_CONF_LINGER_MS, 3600000, 0});
    for (int i = 1; i <= 25; i++) {
        klog_record_t r = value_rec("abc", 3);
        ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0);
        ck_assert_int_eq(log_end("t", 0), (i / 10) * 10);
    }
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_eq(log_end("t", 0), 25);
    /* Three batches: 10, 10, 5 records (base offsets 0, 10, 20). */
    klog_reader_t *rd;
    klog_partition_t *kp;
    ck_assert_int_eq(klog_partition(log_, "t", 0, &kp), 0);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    ck_assert_int_eq(o.bytes, 3 * KLOG_BATCH_HEADER_SIZE + 25 * 10);
    ck_assert_int_eq(klog_reader_open(kp, 0, &rd), 0);
    klog_record_t rec;
    int n = 0;
    while (klog_reader_next(rd, &rec) == 1) {
        ck_assert_int_eq(rec.offset, n);
        ck_assert_int_eq(rec.value_len, 3);
        n++;
    }
    ck_assert_int_eq(n, 25);
    klog_reader_close(rd);
    ck_assert_int_eq(klog_producer_close(p), 0);
}
END_TEST

/* Closing by size: 200-byte values with a fixed timestamp encode to 209
 * bytes; a 1000-byte batch takes 4 of them (a 5th would pass the limit). */
START_TEST(batch_closes_by_size)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p =
        make_producer((int64_t[]){KLOG_CONF_BATCH_BYTES, 1000, KLOG_CONF_LINGER_MS, 3600000, 0});
    char v[200];
    memset(v, 'x', sizeof v);
    for (int i = 1; i <= 22; i++) {
        klog_record_t r = value_rec(v, sizeof v);
        ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0);
        ck_assert_int_eq(log_end("t", 0), ((i - 1) / 4) * 4);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0), 22);
    klog_partition_t *kp;
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition(log_, "t", 0, &kp), 0);
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    ck_assert_int_eq(o.bytes, 6 * KLOG_BATCH_HEADER_SIZE + 22 * 209);
}
END_TEST

/* Closing by time: records appear once linger has passed (never before),
 * closed by the background thread. */
START_TEST(batch_closes_by_linger)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    const int linger = 150;
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_LINGER_MS, linger, 0});
    klog_partition_t *kp;
    ck_assert_int_eq(klog_partition(log_, "t", 0, &kp), 0);
    for (int round = 0; round < 2; round++) {
        int64_t t0 = now_ms();
        for (int i = 0; i < 3; i++) {
            klog_record_t r = value_rec("abc", 3);
            ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0);
        }
        int64_t end_now = log_end("t", 0);
        if (now_ms() - t0 < linger - 10) /* only meaningful if we were quick */
            ck_assert_int_eq(end_now, round * 3);
        ck_assert_int_eq(klog_partition_wait(kp, round * 3 + 2, 30000), 1);
        int64_t waited = now_ms() - t0;
        ck_assert_msg(waited >= linger - 2, "appended after %lld ms, linger %d",
                      (long long)waited, linger);
        ck_assert_int_eq(log_end("t", 0), round * 3 + 3);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
}
END_TEST

START_TEST(flush_appends_everything)
{
    make_topic("t", 4, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 3600000, 0});
    ck_assert_int_eq(klog_producer_flush(p, 0), 0); /* nothing pending */
    char key[16];
    for (int i = 0; i < 1000; i++) {
        klog_record_t r = value_rec("value", 5);
        r.key = key;
        r.key_len = snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(klog_produce(p, "t", KLOG_PARTITION_ANY, &r, NULL), 0);
    }
    ck_assert_int_eq(log_end("t", 0) + log_end("t", 1) + log_end("t", 2) + log_end("t", 3), 0);
    ck_assert_int_eq(klog_producer_flush(p, 10000), 0);
    int64_t total = 0;
    for (int i = 0; i < 4; i++) {
        int64_t e = log_end("t", i);
        ck_assert_int_gt(e, 100); /* 1000 keys over 4 partitions */
        total += e;
    }
    ck_assert_int_eq(total, 1000);
    ck_assert_int_eq(klog_producer_close(p), 0);
}
END_TEST

/* ============================================================ delivery */

typedef struct seen {
    int32_t partition;
    int64_t offset;
    int err;
    intptr_t id;
    int64_t ts;
    char key[32];
    int key_len;
    char value[64];
    int value_len;
    int64_t recovery_point; /* durable callback: partition's at call time */
} seen_t;

typedef struct collector {
    pthread_mutex_t mu;
    seen_t *v;
    size_t n, cap;
    const char *topic;
} collector_t;

static void collector_init(collector_t *c, const char *topic)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->topic = topic;
}

static void collector_free(collector_t *c)
{
    free(c->v);
    pthread_mutex_destroy(&c->mu);
}

static void collect(void *ctx, const klog_record_t *rec, int32_t partition, int64_t offset,
                    int err, void *opaque)
{
    collector_t *c = ctx;
    seen_t s;
    memset(&s, 0, sizeof s);
    s.partition = partition;
    s.offset = offset;
    s.err = err;
    s.id = (intptr_t)opaque;
    s.ts = rec->timestamp;
    s.key_len = rec->key_len;
    if (rec->key_len > 0)
        memcpy(s.key, rec->key, (size_t)(rec->key_len < 32 ? rec->key_len : 32));
    s.value_len = rec->value_len;
    if (rec->value_len > 0)
        memcpy(s.value, rec->value, (size_t)(rec->value_len < 64 ? rec->value_len : 64));
    ck_assert_int_eq(rec->offset, offset);
    if (c->topic && err == 0) {
        klog_partition_t *kp;
        klog_offsets_t o;
        if (klog_partition(log_, c->topic, partition, &kp) == 0 &&
            klog_partition_offsets(kp, &o) == 0)
            s.recovery_point = o.recovery_point;
    }
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        ck_assert_ptr_nonnull(c->v);
    }
    c->v[c->n++] = s;
    pthread_mutex_unlock(&c->mu);
}

/* Offsets are consecutive from 0 in callback order per partition, records
 * of one partition come in produce order, and the views carry the record. */
static void check_in_order(const collector_t *c, int nparts, size_t total)
{
    ck_assert_int_eq(c->n, total);
    int64_t next[16] = {0};
    intptr_t last_id[16];
    for (int i = 0; i < 16; i++)
        last_id[i] = -1;
    for (size_t i = 0; i < c->n; i++) {
        const seen_t *s = &c->v[i];
        ck_assert_int_eq(s->err, 0);
        ck_assert(s->partition >= 0 && s->partition < nparts);
        ck_assert_int_eq(s->offset, next[s->partition]);
        next[s->partition]++;
        ck_assert_int_gt(s->id, last_id[s->partition]);
        last_id[s->partition] = s->id;
    }
}

START_TEST(callbacks_offsets_in_order)
{
    enum { N = 3000, P = 3 };
    make_topic("t", P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BATCH_RECORDS, 37, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    char key[16], val[32];
    for (intptr_t i = 0; i < N; i++) {
        klog_record_t r = value_rec(val, snprintf(val, sizeof val, "value-%ld", (long)i));
        r.key = key;
        r.key_len = snprintf(key, sizeof key, "k%ld", (long)i);
        r.timestamp = 1700000000000 + i;
        ck_assert_int_eq(klog_produce(p, "t", KLOG_PARTITION_ANY, &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    check_in_order(&c, P, N);
    for (size_t i = 0; i < c.n; i++) {
        const seen_t *s = &c.v[i];
        snprintf(key, sizeof key, "k%ld", (long)s->id);
        snprintf(val, sizeof val, "value-%ld", (long)s->id);
        ck_assert_int_eq(s->key_len, (int)strlen(key));
        ck_assert(memcmp(s->key, key, strlen(key)) == 0);
        ck_assert_int_eq(s->value_len, (int)strlen(val));
        ck_assert(memcmp(s->value, val, strlen(val)) == 0);
        ck_assert_int_eq(s->ts, 1700000000000 + s->id);
        ck_assert_int_eq(s->partition, klog_partition_for_key(KLOG_PARTITIONER_XXH3, key,
                                                              strlen(key), P));
    }
    /* What the log holds at each reported offset is that record. */
    for (int part = 0; part < P; part++) {
        klog_partition_t *kp;
        klog_reader_t *rd;
        ck_assert_int_eq(klog_partition(log_, "t", part, &kp), 0);
        ck_assert_int_eq(klog_reader_open(kp, 0, &rd), 0);
        size_t j = 0;
        klog_record_t rec;
        while (klog_reader_next(rd, &rec) == 1) {
            while (c.v[j].partition != part)
                j++;
            ck_assert_int_eq(rec.offset, c.v[j].offset);
            ck_assert_int_eq(rec.value_len, c.v[j].value_len);
            ck_assert(memcmp(rec.value, c.v[j].value, (size_t)rec.value_len) == 0);
            j++;
        }
        klog_reader_close(rd);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    collector_free(&c);
}
END_TEST

/* Compressed topics: views in callbacks and records in the log are intact. */
START_TEST(callbacks_with_lz4)
{
    enum { N = 2000 };
    make_topic("z", 2, KLOG_COMPRESSION_LZ4);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 3600000, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    tu_rng_t rng;
    tu_rng_seed(&rng, tu_test_seed(42));
    uint8_t *pool = tu_word_pool(&rng, 1 << 16);
    for (intptr_t i = 0; i < N; i++) {
        klog_record_t r = value_rec(pool + (i * 7) % 60000, 60);
        ck_assert_int_eq(klog_produce(p, "z", (int32_t)(i % 2), &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    check_in_order(&c, 2, N);
    for (size_t i = 0; i < c.n; i++)
        ck_assert(memcmp(c.v[i].value, pool + (c.v[i].id * 7) % 60000, 60) == 0);
    klog_partition_t *kp;
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition(log_, "z", 0, &kp), 0);
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    ck_assert_int_eq(o.log_end, N / 2);
    ck_assert_int_lt(o.bytes, (N / 2) * 60); /* compressed */
    ck_assert_int_eq(klog_producer_close(p), 0);
    free(pool);
    collector_free(&c);
}
END_TEST

/* KLOG_CONF_COMPRESSION in the producer's configuration overrides the
 * topic's codec, as Kafka's producer-side compression.type. */
START_TEST(producer_compression_overrides_topic)
{
    make_topic("plain", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer(
        (int64_t[]){KLOG_CONF_COMPRESSION, KLOG_COMPRESSION_LZ4, KLOG_CONF_BATCH_RECORDS, 100, 0});
    char v[200];
    memset(v, 'a', sizeof v);
    for (int i = 0; i < 1000; i++) {
        klog_record_t r = value_rec(v, sizeof v);
        ck_assert_int_eq(klog_produce(p, "plain", 0, &r, NULL), 0);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    klog_partition_t *kp;
    ck_assert_int_eq(klog_partition(log_, "plain", 0, &kp), 0);
    klog_reader_t *rd;
    ck_assert_int_eq(klog_reader_open(kp, 0, &rd), 0);
    klog_record_t rec;
    int n = 0;
    while (klog_reader_next(rd, &rec) == 1) {
        ck_assert_int_eq(rec.value_len, 200);
        ck_assert(memcmp(rec.value, v, 200) == 0);
        n++;
    }
    klog_reader_close(rd);
    ck_assert_int_eq(n, 1000);
    klog_offsets_t o;
    ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
    ck_assert_int_lt(o.bytes, 1000 * 20); /* 10 LZ4 batches of repeated bytes */
}
END_TEST

/* Durable delivery: every record is reported twice; the durable report
 * comes after an fsync that covers it. */
START_TEST(durable_delivery)
{
    enum { N = 1500, P = 2 };
    make_topic("t", P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer(
        (int64_t[]){KLOG_CONF_DURABLE_DELIVERY, 1, KLOG_CONF_BATCH_RECORDS, 50, 0});
    collector_t dur;
    collector_init(&dur, "t");
    klog_producer_set_delivery(p, NULL, collect, &dur);
    for (intptr_t i = 0; i < N; i++) {
        klog_record_t r = value_rec("durable", 7);
        ck_assert_int_eq(klog_produce(p, "t", (int32_t)(i % P), &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    check_in_order(&dur, P, N);
    for (size_t i = 0; i < dur.n; i++)
        ck_assert_msg(dur.v[i].recovery_point > dur.v[i].offset,
                      "offset %lld reported durable, recovery point %lld",
                      (long long)dur.v[i].offset, (long long)dur.v[i].recovery_point);
    for (int part = 0; part < P; part++) {
        klog_partition_t *kp;
        klog_offsets_t o;
        ck_assert_int_eq(klog_partition(log_, "t", part, &kp), 0);
        ck_assert_int_eq(klog_partition_offsets(kp, &o), 0);
        ck_assert_int_eq(o.recovery_point, N / P);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    collector_free(&dur);
}
END_TEST

/* Both callbacks on one context: appended first, then durable, per record. */
static collector_t *both_app, *both_dur;
static void on_app(void *ctx, const klog_record_t *rec, int32_t part, int64_t off, int err,
                   void *op)
{
    (void)ctx;
    collect(both_app, rec, part, off, err, op);
}
static void on_dur(void *ctx, const klog_record_t *rec, int32_t part, int64_t off, int err,
                   void *op)
{
    (void)ctx;
    collect(both_dur, rec, part, off, err, op);
    /* Its appended report came first. */
    pthread_mutex_lock(&both_app->mu);
    int found = 0;
    for (size_t i = 0; i < both_app->n && !found; i++)
        found = both_app->v[i].id == (intptr_t)op && both_app->v[i].offset == off;
    pthread_mutex_unlock(&both_app->mu);
    ck_assert_msg(found, "durable report of %ld before its appended report", (long)(intptr_t)op);
}

START_TEST(durable_after_appended)
{
    enum { N = 300 };
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_DURABLE_DELIVERY, 1, 0});
    collector_t app, dur;
    collector_init(&app, NULL);
    collector_init(&dur, NULL);
    both_app = &app;
    both_dur = &dur;
    klog_producer_set_delivery(p, on_app, on_dur, NULL);
    for (intptr_t i = 0; i < N; i++) {
        klog_record_t r = value_rec("x", 1);
        ck_assert_int_eq(klog_produce(p, "t", 0, &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    check_in_order(&app, 1, N);
    check_in_order(&dur, 1, N);
    collector_free(&app);
    collector_free(&dur);
}
END_TEST

/* A failed write reaches the callbacks of that batch's records and the
 * next flush; the partition stays failed (as klog_append reports). */
START_TEST(append_error_reported)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p =
        make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 3600000, KLOG_CONF_BATCH_RECORDS, 5, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    for (intptr_t i = 0; i < 5; i++) {
        klog_record_t r = value_rec("ok", 2);
        ck_assert_int_eq(klog_produce(p, "t", 0, &r, (void *)i), 0);
    }
    klog__fault_arm(KLOG__FAULT_WRITE, 1, EIO, 0, 1);
    for (intptr_t i = 5; i < 10; i++) {
        klog_record_t r = value_rec("no", 2);
        ck_assert_int_eq(klog_produce(p, "t", 0, &r, (void *)i), 0);
    }
    klog__fault_clear();
    ck_assert_int_eq(klog_producer_flush(p, -1), -EIO);
    ck_assert_int_eq(klog_producer_flush(p, -1), 0); /* reported once */
    ck_assert_int_eq(c.n, 10);
    for (size_t i = 0; i < 10; i++) {
        ck_assert_int_eq(c.v[i].id, (intptr_t)i);
        ck_assert_int_eq(c.v[i].err, i < 5 ? 0 : -EIO);
        ck_assert_int_eq(c.v[i].offset, i < 5 ? (int64_t)i : -1);
        if (i >= 5) /* the view still shows the record */
            ck_assert(c.v[i].value_len == 2 && memcmp(c.v[i].value, "no", 2) == 0);
    }
    klog_record_t r = value_rec("later", 5);
    ck_assert_int_eq(klog_produce(p, "t", 0, &r, (void *)99), 0);
    ck_assert_int_eq(klog_producer_close(p), KLOG_EFAILED);
    ck_assert_int_eq(c.v[10].err, KLOG_EFAILED);
    ck_assert_int_eq(log_end("t", 0), 5);
    collector_free(&c);
    close_rc = KLOG_EFAILED; /* the log cannot close clean either */
}
END_TEST

/* ============================================================ sticky */

START_TEST(sticky_null_keys)
{
    enum { N = 200, B = 10, P = 4 };
    make_topic("t", P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p =
        make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 3600000, KLOG_CONF_BATCH_RECORDS, B, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    for (intptr_t i = 0; i < N; i++) {
        klog_record_t r = value_rec("null-key", 8);
        ck_assert_int_eq(klog_produce(p, "t", KLOG_PARTITION_ANY, &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(c.n, N);
    /* Each run of B consecutive records fills one partition's batch, and
     * the next run goes to a different partition. */
    int32_t part_of[N / B];
    for (size_t i = 0; i < c.n; i++) {
        intptr_t id = c.v[i].id;
        if (id % B == 0)
            part_of[id / B] = c.v[i].partition;
        else
            ck_assert_int_eq(c.v[i].partition, part_of[id / B]);
    }
    int used[P] = {0};
    for (int b = 0; b < N / B; b++) {
        used[part_of[b]] = 1;
        if (b > 0)
            ck_assert_int_ne(part_of[b], part_of[b - 1]);
    }
    int nused = 0;
    for (int i = 0; i < P; i++)
        nused += used[i];
    ck_assert_int_ge(nused, 2);
    collector_free(&c);
}
END_TEST

/* With KLOG_CONF_PARTITIONER = MURMUR2 keyed records land where Kafka's
 * producer puts them; null keys are still spread sticky, not hashed. */
START_TEST(murmur2_producer_placement)
{
    enum { P = 6 };
    make_topic("t", P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_PARTITIONER, KLOG_PARTITIONER_MURMUR2,
                                                   KLOG_CONF_BATCH_RECORDS, 10, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    static const char *keys[] = {"", "a", "key", "user-1", "user-42", "order:12345", "kafka"};
    static const int32_t want[] = {3, 4, 1, 2, 4, 0, 4}; /* the Java table above, 6 partitions */
    for (intptr_t i = 100; i < 160; i++) {
        klog_record_t r = value_rec("null", 4);
        ck_assert_int_eq(klog_produce(p, "t", KLOG_PARTITION_ANY, &r, (void *)i), 0);
    }
    for (intptr_t i = 0; i < 7; i++) {
        klog_record_t r = value_rec("v", 1);
        r.key = keys[i];
        r.key_len = (int32_t)strlen(keys[i]);
        ck_assert_int_eq(klog_produce(p, "t", KLOG_PARTITION_ANY, &r, (void *)i), 0);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(c.n, 67);
    int32_t null_part[6];
    for (size_t i = 0; i < c.n; i++) {
        intptr_t id = c.v[i].id;
        if (id < 100)
            ck_assert_int_eq(c.v[i].partition, want[id]);
        else if ((id - 100) % 10 == 0)
            null_part[(id - 100) / 10] = c.v[i].partition;
    }
    for (size_t i = 0; i < c.n; i++) /* null keys: 10 per partition in a row */
        if (c.v[i].id >= 100)
            ck_assert_int_eq(c.v[i].partition, null_part[(c.v[i].id - 100) / 10]);
    for (int b = 1; b < 6; b++)
        ck_assert_int_ne(null_part[b], null_part[b - 1]);
    collector_free(&c);
}
END_TEST

/* ============================================================ buffer */

START_TEST(buffer_full_fails_fast)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BUFFER_BYTES, 4096,
                                                   KLOG_CONF_BLOCK_MS, 0, KLOG_CONF_LINGER_MS,
                                                   3600000, 0});
    char v[200] = {0};
    int accepted = 0, rc;
    while ((rc = klog_produce(p, "t", 0, &(klog_record_t){.key_len = KLOG_NULL_LEN,
                                                          .value = v, .value_len = 200},
                              NULL)) == 0)
        accepted++;
    ck_assert_int_eq(rc, KLOG_EBUFFERFULL);
    ck_assert(accepted >= 10 && accepted * 200 <= 4096);
    ck_assert_int_eq(log_end("t", 0), 0); /* nothing was forced out */
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_eq(log_end("t", 0), accepted);
    klog_record_t r = value_rec(v, 200);
    ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0); /* room again */
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0), accepted + 1);
}
END_TEST

/* Blocking: a producer that waits for room gets it when the lingering
 * batches holding the buffer are closed early (not after the hour). */
START_TEST(buffer_full_blocks_then_proceeds)
{
    make_topic("t", 3, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BUFFER_BYTES, 4096,
                                                   KLOG_CONF_BLOCK_MS, 60000, KLOG_CONF_LINGER_MS,
                                                   3600000, 0});
    char v[200] = {0};
    for (int i = 0; i < 300; i++) {
        klog_record_t r = value_rec(v, 200);
        ck_assert_int_eq(klog_produce(p, "t", i % 3, &r, NULL), 0);
    }
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0) + log_end("t", 1) + log_end("t", 2), 300);
}
END_TEST

/* Blocking that cannot succeed: the appended callback holds the first
 * batch (and so its buffer share) until released; produce waits
 * KLOG_CONF_BLOCK_MS, then fails with KLOG_EBUFFERFULL. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed, gate_entered;

static void gate_cb(void *ctx, const klog_record_t *rec, int32_t part, int64_t off, int err,
                    void *op)
{
    (void)ctx, (void)rec, (void)part, (void)off, (void)err, (void)op;
    pthread_mutex_lock(&gate_mu);
    gate_entered = 1;
    pthread_cond_broadcast(&gate_cv);
    while (gate_closed)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

START_TEST(buffer_full_blocks_then_fails)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    const int block = 200;
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BUFFER_BYTES, 4096,
                                                   KLOG_CONF_BLOCK_MS, block, KLOG_CONF_LINGER_MS,
                                                   0, 0});
    klog_producer_set_delivery(p, gate_cb, NULL, NULL);
    gate_closed = 1;
    gate_entered = 0;
    char v[200] = {0};
    klog_record_t r = value_rec(v, 200);
    ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0);
    /* The background thread closes that batch at once (linger 0) and
     * blocks in its callback. */
    pthread_mutex_lock(&gate_mu);
    while (!gate_entered)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    int rc, accepted = 1;
    int64_t t0 = 0;
    for (;;) {
        t0 = now_ms();
        rc = klog_produce(p, "t", 0, &r, NULL);
        if (rc)
            break;
        accepted++;
        ck_assert_int_lt(accepted, 100);
    }
    int64_t waited = now_ms() - t0;
    ck_assert_int_eq(rc, KLOG_EBUFFERFULL);
    ck_assert_msg(waited >= block - 2, "gave up after %lld ms", (long long)waited);
    pthread_mutex_lock(&gate_mu);
    gate_closed = 0;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_eq(log_end("t", 0), accepted);
    ck_assert_int_eq(klog_producer_close(p), 0);
}
END_TEST

START_TEST(flush_times_out)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 0, 0});
    klog_producer_set_delivery(p, gate_cb, NULL, NULL);
    gate_closed = 1;
    gate_entered = 0;
    klog_record_t r = value_rec("x", 1);
    ck_assert_int_eq(klog_produce(p, "t", 0, &r, NULL), 0);
    int64_t t0 = now_ms();
    ck_assert_int_eq(klog_producer_flush(p, 50), KLOG_ETIMEDOUT);
    ck_assert_int_ge(now_ms() - t0, 48);
    pthread_mutex_lock(&gate_mu);
    gate_closed = 0;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    ck_assert_int_eq(klog_producer_flush(p, -1), 0);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0), 1);
}
END_TEST

START_TEST(readonly_log_refused)
{
    make_topic("t", 1, KLOG_COMPRESSION_NONE);
    klog_t *ro;
    ck_assert_int_eq(klog_open(tmp, NULL, KLOG_OPEN_RDONLY, &ro), 0);
    klog_producer_t *p = (klog_producer_t *)1;
    ck_assert_int_eq(klog_producer_new(ro, NULL, &p), KLOG_EREADONLY);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(klog_close(ro), 0);
}
END_TEST

/* ============================================================ threads */

enum { TH = 4, TH_N = 20000, TH_P = 3 };

typedef struct th_arg {
    klog_producer_t *p;
    int id;
    int n;
} th_arg_t;

static void *th_produce(void *v)
{
    th_arg_t *a = v;
    char key[32];
    for (int i = 0; i < a->n; i++) {
        klog_record_t r;
        memset(&r, 0, sizeof r);
        r.timestamp = KLOG_TIMESTAMP_NOW;
        r.key = key;
        r.key_len = snprintf(key, sizeof key, "t%d-%d", a->id, i % 50);
        r.value = &i;
        r.value_len = sizeof i;
        /* opaque: thread in the top bits, sequence below */
        intptr_t op = (intptr_t)a->id << 24 | i;
        int rc = klog_produce(a->p, "t", i % 7 == 0 ? KLOG_PARTITION_ANY : i % TH_P, &r,
                              (void *)op);
        ck_assert_int_eq(rc, 0);
        if (i % 5000 == 4999)
            ck_assert_int_eq(klog_producer_flush(a->p, -1), 0);
    }
    return NULL;
}

static void threads_run(int durable)
{
    make_topic("t", TH_P, KLOG_COMPRESSION_NONE);
    int n = durable ? TH_N / 4 : TH_N;
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_DURABLE_DELIVERY, durable,
                                                   KLOG_CONF_BATCH_RECORDS, 64,
                                                   KLOG_CONF_BUFFER_BYTES, 64 << 10, 0});
    collector_t c;
    collector_init(&c, NULL);
    if (durable)
        klog_producer_set_delivery(p, NULL, collect, &c);
    else
        klog_producer_set_delivery(p, collect, NULL, &c);
    pthread_t th[TH];
    th_arg_t args[TH];
    for (int i = 0; i < TH; i++) {
        args[i] = (th_arg_t){p, i, n};
        ck_assert_int_eq(pthread_create(&th[i], NULL, th_produce, &args[i]), 0);
    }
    for (int i = 0; i < TH; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(c.n, (size_t)TH * n);
    /* Per partition: offsets 0.. in callback order; per thread and
     * partition: produce order. Every record exactly once. */
    int64_t next[TH_P] = {0};
    int last[TH_P][TH];
    memset(last, -1, sizeof last);
    char *seen = calloc((size_t)TH * n, 1);
    for (size_t i = 0; i < c.n; i++) {
        const seen_t *s = &c.v[i];
        ck_assert_int_eq(s->err, 0);
        ck_assert_int_eq(s->offset, next[s->partition]);
        next[s->partition]++;
        int th_id = (int)(s->id >> 24), seq = (int)(s->id & 0xffffff);
        ck_assert(th_id >= 0 && th_id < TH && seq < n);
        ck_assert_int_gt(seq, last[s->partition][th_id]);
        last[s->partition][th_id] = seq;
        ck_assert_int_eq(seen[th_id * n + seq], 0);
        seen[th_id * n + seq] = 1;
        int val;
        ck_assert_int_eq(s->value_len, (int)sizeof val);
        memcpy(&val, s->value, sizeof val);
        ck_assert_int_eq(val, seq);
    }
    free(seen);
    int64_t total = 0;
    for (int i = 0; i < TH_P; i++) {
        ck_assert_int_eq(log_end("t", i), next[i]);
        total += next[i];
    }
    ck_assert_int_eq(total, (int64_t)TH * n);
    collector_free(&c);
}

START_TEST(threads_produce)
{
    threads_run(0);
}
END_TEST

START_TEST(threads_produce_durable)
{
    threads_run(1);
}
END_TEST

/* Null-key records of different threads go to different sticky
 * partitions (issue 19: threads must not queue on one partition's lock):
 * thread A fills and moves on many times while thread B sits on its
 * partition, and A's moves avoid B's partition. 64 partitions: there is
 * always one no thread is on, whatever slots earlier threads took. */
typedef struct sticky_arg {
    klog_producer_t *p;
    int first, n;
} sticky_arg_t;

static void *sticky_thread(void *v)
{
    sticky_arg_t *a = v;
    for (int i = a->first; i < a->first + a->n; i++) {
        klog_record_t r = value_rec("s", 1);
        ck_assert_int_eq(klog_produce(a->p, "t", KLOG_PARTITION_ANY, &r, (void *)(intptr_t)i),
                         0);
    }
    return NULL;
}

START_TEST(threads_sticky_per_thread)
{
    enum { P = 64, B = 10 };
    make_topic("t", P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p =
        make_producer((int64_t[]){KLOG_CONF_LINGER_MS, 3600000, KLOG_CONF_BATCH_RECORDS, B, 0});
    collector_t c;
    collector_init(&c, NULL);
    klog_producer_set_delivery(p, collect, NULL, &c);
    pthread_t th;
    /* B takes its slot and partition first (5 records: no batch closes). */
    sticky_arg_t b = {p, 1000, 5}, a = {p, 0, 300};
    ck_assert_int_eq(pthread_create(&th, NULL, sticky_thread, &b), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(pthread_create(&th, NULL, sticky_thread, &a), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(c.n, 305);
    int32_t bpart = -1;
    for (size_t i = 0; i < c.n; i++)
        if (c.v[i].id >= 1000)
            bpart = c.v[i].partition;
    ck_assert_int_ge(bpart, 0);
    for (size_t i = 0; i < c.n; i++) {
        if (c.v[i].id >= 1000)
            ck_assert_int_eq(c.v[i].partition, bpart);
        else
            ck_assert_int_ne(c.v[i].partition, bpart);
    }
    collector_free(&c);
}
END_TEST

/* Blocked producers on a tiny buffer, woken by deliveries from others. */
START_TEST(threads_tiny_buffer)
{
    make_topic("t", TH_P, KLOG_COMPRESSION_NONE);
    klog_producer_t *p = make_producer((int64_t[]){KLOG_CONF_BUFFER_BYTES, 2048,
                                                   KLOG_CONF_LINGER_MS, 1, 0});
    pthread_t th[TH];
    th_arg_t args[TH];
    for (int i = 0; i < TH; i++) {
        args[i] = (th_arg_t){p, i, 3000};
        ck_assert_int_eq(pthread_create(&th[i], NULL, th_produce, &args[i]), 0);
    }
    for (int i = 0; i < TH; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(klog_producer_close(p), 0);
    ck_assert_int_eq(log_end("t", 0) + log_end("t", 1) + log_end("t", 2), TH * 3000);
}
END_TEST

/* ============================================================ suites */

Suite *producer_suite(void)
{
    Suite *s = suite_create("producer");
    TCase *tc = tcase_create("partitioner");
    tcase_add_test(tc, partition_for_key_arguments);
    tcase_add_test(tc, murmur2_kafka_hash_values);
    tcase_add_test(tc, murmur2_kafka_placement_table);
    tcase_add_test(tc, murmur2_matches_librdkafka);
    tcase_add_test(tc, xxh3_definition);
    tcase_add_test(tc, partitioner_distribution);
    suite_add_tcase(s, tc);

    tc = tcase_create("accumulator");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_keys);
    tcase_add_test(tc, produce_errors);
    tcase_add_test(tc, batch_closes_by_count);
    tcase_add_test(tc, batch_closes_by_size);
    tcase_add_test(tc, batch_closes_by_linger);
    tcase_add_test(tc, flush_appends_everything);
    tcase_add_test(tc, callbacks_offsets_in_order);
    tcase_add_test(tc, callbacks_with_lz4);
    tcase_add_test(tc, producer_compression_overrides_topic);
    tcase_add_test(tc, durable_delivery);
    tcase_add_test(tc, durable_after_appended);
    tcase_add_test(tc, append_error_reported);
    tcase_add_test(tc, sticky_null_keys);
    tcase_add_test(tc, murmur2_producer_placement);
    tcase_add_test(tc, buffer_full_fails_fast);
    tcase_add_test(tc, buffer_full_blocks_then_proceeds);
    tcase_add_test(tc, buffer_full_blocks_then_fails);
    tcase_add_test(tc, flush_times_out);
    tcase_add_test(tc, readonly_log_refused);
    suite_add_tcase(s, tc);
    return s;
}

Suite *producer_threads_suite(void)
{
    Suite *s = suite_create("producer_threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, threads_produce);
    tcase_add_test(tc, threads_produce_durable);
    tcase_add_test(tc, threads_tiny_buffer);
    tcase_add_test(tc, threads_sticky_per_thread);
    suite_add_tcase(s, tc);
    return s;
}
