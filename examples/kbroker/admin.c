/*
 * admin.c — topic administration: CreateTopics (v0-4), DeleteTopics (v0-3),
 * CreatePartitions (v0-1), DescribeConfigs (v0-2), AlterConfigs (v0-1),
 * IncrementalAlterConfigs (v0), DeleteRecords (v0-1), DescribeCluster (v0).
 *
 * Topic configuration is libklog's: the Kafka names below map to the
 * topic-level keys of klog.h, stored in klog.topics by
 * klog_topic_alter_config. Values are integers (milliseconds, bytes,
 * counts); other Kafka topic configs are refused with INVALID_CONFIG.
 * Replication factors other than 1 (or -1, "the default") are refused:
 * this is a single node. Broker resources describe as an empty list.
 * Deleting a topic first points parked Fetches on it at "unknown topic";
 * a topic with records still in flight to a client (a lease) answers
 * UNKNOWN_SERVER_ERROR and stays. __consumer_offsets cannot be deleted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

enum {
    KB_ERR_REQUEST_TIMED_OUT = 7,
    KB_ERR_TOPIC_ALREADY_EXISTS = 36,
    KB_ERR_INVALID_PARTITIONS = 37,
    KB_ERR_INVALID_REPLICATION_FACTOR = 38,
    KB_ERR_INVALID_CONFIG = 40
};

/* How a key's value is written: a decimal integer, cleanup.policy's
 * names, or a ratio 0..1 that libklog keeps in thousandths. */
enum { CONF_INT, CONF_POLICY, CONF_RATIO };

static const struct {
    const char *name;
    int key;
    int kind;
} conf_names[] = {
    {"segment.bytes", KLOG_CONF_SEGMENT_BYTES, CONF_INT},
    {"segment.ms", KLOG_CONF_SEGMENT_MS, CONF_INT},
    {"index.interval.bytes", KLOG_CONF_INDEX_INTERVAL_BYTES, CONF_INT},
    {"segment.index.bytes", KLOG_CONF_INDEX_MAX_BYTES, CONF_INT},
    {"retention.ms", KLOG_CONF_RETENTION_MS, CONF_INT},
    {"retention.bytes", KLOG_CONF_RETENTION_BYTES, CONF_INT},
    {"max.message.bytes", KLOG_CONF_MAX_BATCH_BYTES, CONF_INT},
    {"flush.messages", KLOG_CONF_FLUSH_MESSAGES, CONF_INT},
    {"flush.ms", KLOG_CONF_FLUSH_MS, CONF_INT},
    {"cleanup.policy", KLOG_CONF_CLEANUP_POLICY, CONF_POLICY},
    {"min.cleanable.dirty.ratio", KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, CONF_RATIO},
    {"min.compaction.lag.ms", KLOG_CONF_MIN_COMPACTION_LAG_MS, CONF_INT},
    {"max.compaction.lag.ms", KLOG_CONF_MAX_COMPACTION_LAG_MS, CONF_INT},
    {"delete.retention.ms", KLOG_CONF_DELETE_RETENTION_MS, CONF_INT},
    {"producer.id.expiration.ms", KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, CONF_INT},
};
#define N_CONF (sizeof conf_names / sizeof conf_names[0])

int kb_conf_key(const char *s, size_t n)
{
    for (size_t i = 0; s && i < N_CONF; i++)
        if (strlen(conf_names[i].name) == n && memcmp(conf_names[i].name, s, n) == 0)
            return conf_names[i].key;
    return -1;
}

static int conf_kind(int key)
{
    for (size_t i = 0; i < N_CONF; i++)
        if (conf_names[i].key == key)
            return conf_names[i].kind;
    return CONF_INT;
}

int kb_conf_value(int key, const char *s, size_t n, int64_t *v)
{
    char buf[32];
    if (!s || n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int kind = conf_kind(key);
    if (kind == CONF_POLICY) {
        if (strcmp(buf, "delete") == 0)
            *v = KLOG_CLEANUP_DELETE;
        else if (strcmp(buf, "compact") == 0)
            *v = KLOG_CLEANUP_COMPACT;
        else if (strcmp(buf, "compact,delete") == 0 || strcmp(buf, "delete,compact") == 0)
            *v = KLOG_CLEANUP_COMPACT | KLOG_CLEANUP_DELETE;
        else
            return -1;
        return 0;
    }
    char *end;
    if (kind == CONF_RATIO) {
        double d = strtod(buf, &end);
        if (*end || !(d >= 0 && d <= 1))
            return -1;
        *v = (int64_t)(d * 1000 + 0.5);
        return 0;
    }
    long long x = strtoll(buf, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

/* The value as Kafka's tools print it; its length. */
static int conf_format(int key, int64_t v, char *buf, size_t cap)
{
    switch (conf_kind(key)) {
    case CONF_POLICY:
        return snprintf(buf, cap, "%s",
                        v == (KLOG_CLEANUP_COMPACT | KLOG_CLEANUP_DELETE) ? "compact,delete"
                        : v == KLOG_CLEANUP_COMPACT                       ? "compact"
                                                                          : "delete");
    case CONF_RATIO: return snprintf(buf, cap, "%g", (double)v / 1000);
    default: return snprintf(buf, cap, "%lld", (long long)v);
    }
}

/* A request's config value for key. Returns 0 or -1. */
static int conf_value(int key, const char *s, int16_t n, int64_t *v)
{
    return n <= 0 ? -1 : kb_conf_value(key, s, (size_t)n, v);
}

static int name_of(const char *s, int16_t n, char name[256])
{
    if (!s || n <= 0 || n > 249 || memchr(s, '\0', (size_t)n))
        return -1;
    memcpy(name, s, (size_t)n);
    name[n] = '\0';
    return klog_topic_name_valid(name) ? 0 : -1;
}

static int16_t klog_to_kafka(int rc)
{
    switch (rc) {
    case 0: return KB_ERR_NONE;
    case KLOG_ENOTOPIC: return KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    case KLOG_ETOPICEXISTS: return KB_ERR_TOPIC_ALREADY_EXISTS;
    case KLOG_EBADNAME: return KB_ERR_INVALID_TOPIC;
    case KLOG_ECONFIG: return KB_ERR_INVALID_CONFIG;
    case KLOG_EOFFSET: return KB_ERR_OFFSET_OUT_OF_RANGE;
    case -EINVAL: return KB_ERR_INVALID_PARTITIONS;
    default: return KB_ERR_UNKNOWN;
    }
}

static void put_msg(kb_wbuf_t *w, int16_t err, const int rc)
{
    const char *m = err ? (rc ? klog_strerror(rc) : "invalid request") : NULL;
    kb_put_nstring(w, 0, m, m ? strlen(m) : 0);
}

/* ------------------------------------------------------------ CreateTopics */

static int create_topics(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    int32_t n = kb_rd_count(r, 14);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
        (void)kb_rd_i32(r);
        (void)kb_rd_i16(r);
        int32_t na = kb_rd_count(r, 8);
        for (int32_t j = 0; j < na && !r->err; j++) {
            (void)kb_rd_i32(r);
            int32_t nb = kb_rd_count(r, 4);
            for (int32_t k = 0; k < nb && !r->err; k++)
                (void)kb_rd_i32(r);
        }
        int32_t nc = kb_rd_count(r, 4);
        for (int32_t j = 0; j < nc && !r->err; j++) {
            kb_rd_str(r, &s, &sl);
            kb_rd_str(r, &s, &sl);
        }
    }
    (void)kb_rd_i32(r); /* timeout_ms */
    int validate = v >= 1 ? kb_rd_i8(r) != 0 : 0;
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 2)
        kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s, *cs, *vs;
        int16_t sl, csl, vsl;
        char name[256];
        kb_rd_str(&at, &s, &sl);
        int32_t parts = kb_rd_i32(&at);
        int16_t rf = kb_rd_i16(&at);
        int32_t na = kb_rd_count(&at, 8);
        int16_t err = KB_ERR_NONE;
        for (int32_t j = 0; j < na; j++) {
            (void)kb_rd_i32(&at);
            int32_t nb = kb_rd_count(&at, 4);
            for (int32_t k = 0; k < nb; k++)
                if (kb_rd_i32(&at) != 1)
                    err = KB_ERR_INVALID_REQUEST; /* only node 1 exists */
        }
        if (na > 0)
            parts = na;
        klog_config_t *cfg = NULL;
        int rc = klog_config_new(&cfg);
        if (rc)
            err = KB_ERR_UNKNOWN;
        int32_t nc = kb_rd_count(&at, 4);
        for (int32_t j = 0; j < nc; j++) {
            kb_rd_str(&at, &cs, &csl);
            kb_rd_str(&at, &vs, &vsl);
            int key = kb_conf_key(cs, csl > 0 ? (size_t)csl : 0);
            int64_t val;
            if (!err && (key < 0 || conf_value(key, vs, vsl, &val) || klog_config_set(cfg, key, val)))
                err = KB_ERR_INVALID_CONFIG;
        }
        if (parts == -1)
            parts = b->cfg.partitions;
        if (!err && name_of(s, sl, name))
            err = KB_ERR_INVALID_TOPIC;
        else if (!err && (parts <= 0 || parts > 100000))
            err = KB_ERR_INVALID_PARTITIONS;
        else if (!err && rf != -1 && rf != 1)
            err = KB_ERR_INVALID_REPLICATION_FACTOR;
        if (!err && validate) {
            klog_topic_t *t;
            if (klog_topic_get(b->log, name, &t) == 0)
                err = KB_ERR_TOPIC_ALREADY_EXISTS;
        } else if (!err) {
            rc = klog_topic_create(b->log, name, parts, cfg);
            err = klog_to_kafka(rc);
            if (!rc) {
                kb_log(b, "created topic %s (%d partitions) by request", name, parts);
                q->slow = 1;
                uint8_t id[16]; /* partition.metadata from the start */
                (void)kb_topic_id(b, name, id);
            }
        }
        klog_config_free(cfg);
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        kb_put_i16(w, err);
        if (v >= 1)
            put_msg(w, err, err == KB_ERR_TOPIC_ALREADY_EXISTS ? KLOG_ETOPICEXISTS : 0);
    }
    return 0;
}

/* ------------------------------------------------------------ DeleteTopics */

static int delete_topics(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int32_t n = kb_rd_count(r, 2);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
    }
    (void)kb_rd_i32(r);
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    if (q->api_version >= 1)
        kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        char name[256];
        kb_rd_str(&at, &s, &sl);
        int16_t err = KB_ERR_NONE;
        if (name_of(s, sl, name))
            err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (strcmp(name, "__consumer_offsets") == 0)
            err = KB_ERR_INVALID_TOPIC;
        else {
            kb_fetch_forget_topic(b, name);
            kb_flush_quiesce(b); /* no fsync of its partitions in flight */
            int rc = klog_topic_delete(b->log, name);
            err = klog_to_kafka(rc);
            if (!rc) {
                kb_log(b, "deleted topic %s", name);
                kb_topic_id_forget(b, name); /* a new topic of this name: new id */
                q->slow = 1;
            }
        }
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        kb_put_i16(w, err);
    }
    return 0;
}

/* ------------------------------------------------------------ CreatePartitions */

static int create_partitions(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int32_t n = kb_rd_count(r, 10);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
        (void)kb_rd_i32(r);
        int32_t na = kb_rd_count(r, 4);
        for (int32_t j = 0; j < na && !r->err; j++) {
            int32_t nb = kb_rd_count(r, 4);
            for (int32_t k = 0; k < nb && !r->err; k++)
                (void)kb_rd_i32(r);
        }
    }
    (void)kb_rd_i32(r);
    int validate = kb_rd_i8(r) != 0;
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        char name[256];
        kb_rd_str(&at, &s, &sl);
        int32_t count = kb_rd_i32(&at);
        int32_t na = kb_rd_count(&at, 4);
        for (int32_t j = 0; j < na; j++) {
            int32_t nb = kb_rd_count(&at, 4);
            for (int32_t k = 0; k < nb; k++)
                (void)kb_rd_i32(&at);
        }
        int16_t err = KB_ERR_NONE;
        int rc = 0;
        klog_topic_t *t;
        if (name_of(s, sl, name) || klog_topic_get(b->log, name, &t))
            err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (count <= klog_topic_partition_count(t) || count > 100000)
            err = KB_ERR_INVALID_PARTITIONS;
        else if (!validate) {
            rc = klog_topic_add_partitions(b->log, name, count);
            err = klog_to_kafka(rc);
            if (!rc)
                kb_log(b, "topic %s: %d partitions", name, count);
        }
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        kb_put_i16(w, err);
        put_msg(w, err, rc);
    }
    return 0;
}

/* ------------------------------------------------------------ configs */

static int describe_configs(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    int32_t n = kb_rd_count(r, 7);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        (void)kb_rd_i8(r);
        kb_rd_str(r, &s, &sl);
        int32_t nk = kb_rd_count(r, 2);
        for (int32_t j = 0; j < nk && !r->err; j++)
            kb_rd_str(r, &s, &sl);
    }
    if (v >= 1)
        (void)kb_rd_i8(r); /* include_synonyms: there are none */
    if (r->err || n < 0)
        return -1;
    klog_config_t *defaults;
    if (klog_config_new(&defaults))
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        char name[256];
        int8_t type = kb_rd_i8(&at);
        kb_rd_str(&at, &s, &sl);
        int32_t nk = kb_rd_count(&at, 2);
        kb_rd_t keys = at;
        for (int32_t j = 0; j < nk; j++) {
            const char *k;
            int16_t kl;
            kb_rd_str(&at, &k, &kl);
        }
        klog_topic_t *t = NULL;
        int16_t err = KB_ERR_NONE;
        if (type == 2 && (name_of(s, sl, name) || klog_topic_get(b->log, name, &t)))
            err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (type != 2 && type != 4)
            err = KB_ERR_INVALID_REQUEST;
        kb_put_i16(w, err);
        put_msg(w, err, err == KB_ERR_UNKNOWN_TOPIC_OR_PARTITION ? KLOG_ENOTOPIC : 0);
        kb_put_i8(w, type);
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        size_t count_at = w->len;
        int32_t cnt = 0;
        kb_put_i32(w, 0);
        for (size_t c = 0; t && !err && c < N_CONF; c++) {
            int wanted = nk < 0;
            kb_rd_t kr = keys;
            for (int32_t j = 0; j < nk && !wanted; j++) {
                const char *k;
                int16_t kl;
                kb_rd_str(&kr, &k, &kl);
                wanted = kb_conf_key(k, kl > 0 ? (size_t)kl : 0) == conf_names[c].key;
            }
            int64_t val, def = 0;
            if (!wanted || klog_topic_config(t, conf_names[c].key, &val))
                continue;
            klog_config_get(defaults, conf_names[c].key, &def);
            char num[32];
            int len = conf_format(conf_names[c].key, val, num, sizeof num);
            kb_put_str(w, conf_names[c].name, strlen(conf_names[c].name));
            kb_put_str(w, num, (size_t)len);
            kb_put_i8(w, 0); /* read_only */
            if (v == 0)
                kb_put_i8(w, val == def); /* is_default */
            else
                kb_put_i8(w, val == def ? 5 : 1); /* DEFAULT_CONFIG / DYNAMIC_TOPIC_CONFIG */
            kb_put_i8(w, 0); /* is_sensitive */
            if (v >= 1)
                kb_put_i32(w, 0); /* synonyms */
            cnt++;
        }
        kb_patch_i32(w, count_at, cnt);
    }
    klog_config_free(defaults);
    return 0;
}

/* AlterConfigs (incremental = 0: the listed keys replace the topic's whole
 * configuration) and IncrementalAlterConfigs (SET / DELETE per key). */
static int alter_configs(struct kb_broker *b, struct kb_req *q, kb_rd_t *r, int incremental)
{
    int32_t n = kb_rd_count(r, 7);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        (void)kb_rd_i8(r);
        kb_rd_str(r, &s, &sl);
        int32_t nc = kb_rd_count(r, 4);
        for (int32_t j = 0; j < nc && !r->err; j++) {
            kb_rd_str(r, &s, &sl);
            if (incremental)
                (void)kb_rd_i8(r);
            kb_rd_str(r, &s, &sl);
        }
    }
    int validate = kb_rd_i8(r) != 0;
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        char name[256];
        int8_t type = kb_rd_i8(&at);
        kb_rd_str(&at, &s, &sl);
        int32_t nc = kb_rd_count(&at, 4);
        klog_config_t *changes = NULL;
        int remove[N_CONF];
        size_t nremove = 0;
        int listed[N_CONF] = {0};
        int16_t err = klog_config_new(&changes) ? KB_ERR_UNKNOWN : KB_ERR_NONE;
        for (int32_t j = 0; j < nc; j++) {
            const char *k, *vs;
            int16_t kl, vl;
            kb_rd_str(&at, &k, &kl);
            int8_t op = incremental ? kb_rd_i8(&at) : 0;
            kb_rd_str(&at, &vs, &vl);
            int key = kb_conf_key(k, kl > 0 ? (size_t)kl : 0);
            int64_t val;
            size_t c = 0;
            while (c < N_CONF && conf_names[c].key != key)
                c++;
            if (err || key < 0)
                err = err ? err : KB_ERR_INVALID_CONFIG;
            else if (op == 0 && (conf_value(key, vs, vl, &val) || klog_config_set(changes, key, val)))
                err = KB_ERR_INVALID_CONFIG;
            else if (op == 1 && !listed[c])
                remove[nremove++] = key;
            else if (op != 0 && op != 1)
                err = KB_ERR_INVALID_CONFIG; /* APPEND/SUBTRACT: no list-valued keys */
            if (c < N_CONF)
                listed[c] = 1;
        }
        if (!incremental)
            for (size_t c = 0; c < N_CONF; c++)
                if (!listed[c])
                    remove[nremove++] = conf_names[c].key;
        int rc = 0;
        klog_topic_t *t;
        if (!err && type != 2)
            err = KB_ERR_INVALID_REQUEST; /* broker configs are not alterable */
        else if (!err && (name_of(s, sl, name) || klog_topic_get(b->log, name, &t)))
            err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (!err && !validate) {
            rc = klog_topic_alter_config(b->log, name, changes, remove, nremove);
            err = klog_to_kafka(rc);
        }
        klog_config_free(changes);
        kb_put_i16(w, err);
        put_msg(w, err, rc);
        kb_put_i8(w, type);
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
    }
    return 0;
}

/* ------------------------------------------------------------ DeleteRecords */

static int delete_records(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int32_t n = kb_rd_count(r, 6);
    kb_rd_t at = *r;
    for (int32_t i = 0; i < n && !r->err; i++) {
        const char *s;
        int16_t sl;
        kb_rd_str(r, &s, &sl);
        int32_t np = kb_rd_count(r, 12);
        for (int32_t j = 0; j < np && !r->err; j++) {
            (void)kb_rd_i32(r);
            (void)kb_rd_i64(r);
        }
    }
    (void)kb_rd_i32(r);
    if (r->err || n < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i32(w, n);
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t sl;
        char name[256];
        kb_rd_str(&at, &s, &sl);
        int32_t np = kb_rd_count(&at, 12);
        int bad = name_of(s, sl, name) != 0;
        kb_put_str(w, s ? s : "", sl > 0 ? (size_t)sl : 0);
        kb_put_i32(w, np);
        for (int32_t j = 0; j < np; j++) {
            int32_t idx = kb_rd_i32(&at);
            int64_t off = kb_rd_i64(&at);
            klog_partition_t *p;
            klog_offsets_t o;
            int64_t low = -1;
            int16_t err = KB_ERR_NONE;
            if (bad || klog_partition(b->log, name, idx, &p) || klog_partition_offsets(p, &o))
                err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else {
                if (off == -1)
                    off = o.high_watermark;
                int rc = off < 0 ? KLOG_EOFFSET : klog_delete_records(p, off);
                err = klog_to_kafka(rc);
                if (!rc && klog_partition_offsets(p, &o) == 0)
                    low = o.log_start;
            }
            kb_put_i32(w, idx);
            kb_put_i64(w, low);
            kb_put_i16(w, err);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ DescribeCluster */

static int describe_cluster(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    (void)kb_rd_i8(r); /* include_cluster_authorized_operations */
    kb_rd_tags(r);
    if (r->err)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0);
    kb_put_i16(w, KB_ERR_NONE);
    kb_put_nstring(w, 1, NULL, 0);
    kb_put_string(w, 1, "kbroker", 7); /* cluster id */
    kb_put_i32(w, 1);                  /* controller */
    kb_put_array(w, 1, 1);
    kb_put_i32(w, 1);
    kb_put_string(w, 1, kb_adv_host(&b->cfg), strlen(kb_adv_host(&b->cfg)));
    kb_put_i32(w, kb_adv_port(&b->cfg));
    kb_put_nstring(w, 1, NULL, 0); /* rack */
    kb_put_tags(w, 1);
    kb_put_i32(w, INT32_MIN);
    kb_put_tags(w, 1);
    return 0;
}

int kb_handle_admin(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    switch (q->api_key) {
    case KB_API_CREATE_TOPICS: return create_topics(b, q, r);
    case KB_API_DELETE_TOPICS: return delete_topics(b, q, r);
    case KB_API_CREATE_PARTITIONS: return create_partitions(b, q, r);
    case KB_API_DESCRIBE_CONFIGS: return describe_configs(b, q, r);
    case KB_API_ALTER_CONFIGS: return alter_configs(b, q, r, 0);
    case KB_API_INCREMENTAL_ALTER_CONFIGS: return alter_configs(b, q, r, 1);
    case KB_API_DELETE_RECORDS: return delete_records(b, q, r);
    case KB_API_DESCRIBE_CLUSTER: return describe_cluster(b, q, r);
    default: return -1;
    }
}
