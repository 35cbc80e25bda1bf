/*
 * handlers.c — the table of served versions and the request handlers for
 * ApiVersions, Metadata and ListOffsets (Produce lives in produce.c, Fetch
 * in fetch.c).
 *
 * Versions served (api_table below, which also lists the group APIs of
 * group*.c, the admin APIs of admin.c and the producer-id and transaction
 * APIs of pid.c and txn.c): ApiVersions 0-3, Metadata 0-12,
 * Produce 0-9, Fetch 4-12, ListOffsets 1-8 (isolation_level 1: LATEST is
 * the last stable offset). The flexible
 * versions (KIP-482: Metadata 9+, Produce 9+, Fetch 12+, ListOffsets 6+)
 * share each handler's body through the flex-aware reader and writer of
 * wire.c. Produce v7+ and Fetch v10+ are what make librdkafka and
 * kafka-python send zstd; batches of every codec are stored as they came.
 * Produce v0-v2 are served because librdkafka 2.0.2 compresses with
 * gzip/snappy/lz4 only if Produce v0 is in range; their magic 0/1 message
 * sets are refused with UNSUPPORTED_FOR_MESSAGE_FORMAT. Fetch sessions
 * (v7+) are declined with session id 0, so clients send full requests.
 * kafka-python infers "broker 2.4" from this list (Produce v8) and then uses
 * Produce v7, Fetch v4, Metadata v1 and ListOffsets v1.
 * A request whose key or version is not in the table gets a response of
 * just UNSUPPORTED_VERSION (net.c), except ApiVersions above 3, which gets
 * UNSUPPORTED_VERSION in v0 form (KIP-511) so the client can retry lower.
 *
 * Each handler parses the whole request with the bounds-checked reader
 * before acting on it where it can; a parse error returns -1 and the
 * connection is closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

#define KB_NODE_ID 1

/* Served versions; flex is the first flexible version of each API (its
 * requests then carry header v2 and its responses header v1). */
static const struct {
    int16_t key, min, max, flex;
} api_table[] = {
    {KB_API_PRODUCE, 0, 9, 9},
    {KB_API_FETCH, 4, 12, 12},
    {KB_API_LIST_OFFSETS, 1, 8, 6},
    {KB_API_METADATA, 0, 12, 9},
    {KB_API_API_VERSIONS, 0, 3, 3},
    {KB_API_FIND_COORDINATOR, 0, 4, 3},
    {KB_API_JOIN_GROUP, 0, 5, 6},
    {KB_API_SYNC_GROUP, 0, 3, 4},
    {KB_API_HEARTBEAT, 0, 3, 4},
    {KB_API_LEAVE_GROUP, 0, 3, 4},
    {KB_API_OFFSET_COMMIT, 0, 9, 8},
    {KB_API_OFFSET_FETCH, 0, 9, 6},
    {KB_API_LIST_GROUPS, 0, 5, 3},
    {KB_API_DESCRIBE_GROUPS, 0, 4, 5},
    {KB_API_DELETE_GROUPS, 0, 1, 2},
    {KB_API_OFFSET_DELETE, 0, 0, 99},
    {KB_API_CREATE_TOPICS, 0, 4, 5},
    {KB_API_DELETE_TOPICS, 0, 3, 4},
    {KB_API_CREATE_PARTITIONS, 0, 1, 2},
    {KB_API_DESCRIBE_CONFIGS, 0, 2, 4},
    {KB_API_ALTER_CONFIGS, 0, 1, 2},
    {KB_API_INCREMENTAL_ALTER_CONFIGS, 0, 0, 1},
    {KB_API_DELETE_RECORDS, 0, 1, 2},
    {KB_API_DESCRIBE_CLUSTER, 0, 0, 0},
    {KB_API_INIT_PRODUCER_ID, 0, 4, 2},
    {KB_API_ADD_PARTITIONS_TO_TXN, 0, 3, 3},
    {KB_API_ADD_OFFSETS_TO_TXN, 0, 3, 3},
    {KB_API_END_TXN, 0, 3, 3},
    {KB_API_TXN_OFFSET_COMMIT, 0, 3, 3},
    {KB_API_CONSUMER_GROUP_HEARTBEAT, 0, 1, 0},
    {KB_API_CONSUMER_GROUP_DESCRIBE, 0, 0, 0},
};
#define N_APIS (sizeof api_table / sizeof api_table[0])

int kb_api_supported(int16_t key, int16_t version, int *flex)
{
    for (size_t i = 0; i < N_APIS; i++) {
        if (api_table[i].key != key)
            continue;
        *flex = version >= api_table[i].flex;
        return version >= api_table[i].min && version <= api_table[i].max;
    }
    *flex = 0;
    return 0;
}

int kb_topic_name(const char *s, int16_t n, char name[256])
{
    if (!s || n <= 0 || n > 249)
        return KB_ERR_INVALID_TOPIC;
    memcpy(name, s, (size_t)n);
    name[n] = '\0';
    return klog_topic_name_valid(name) ? 0 : KB_ERR_INVALID_TOPIC;
}

/* ------------------------------------------------------------ ApiVersions */

int kb_handle_api_versions(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    (void)b;
    (void)r; /* the v3 body (client software name/version) is not needed */
    kb_wbuf_t *w = &q->resp->buf;
    int16_t v = q->api_version;
    if (v < 0 || v > 3) {
        kb_put_i16(w, KB_ERR_UNSUPPORTED_VERSION);
        v = 0; /* v0 body so any client can read the supported range */
    } else {
        kb_put_i16(w, KB_ERR_NONE);
    }
    if (v == 3)
        kb_put_uvarint(w, N_APIS + 1);
    else
        kb_put_i32(w, (int32_t)N_APIS);
    for (size_t i = 0; i < N_APIS; i++) {
        kb_put_i16(w, api_table[i].key);
        kb_put_i16(w, api_table[i].min);
        kb_put_i16(w, api_table[i].max);
        if (v == 3)
            kb_put_i8(w, 0); /* no tagged fields */
    }
    if (v >= 1)
        kb_put_i32(w, 0); /* throttle_time_ms */
    if (v == 3)
        kb_put_i8(w, 0);
    return 0;
}

/* ------------------------------------------------------------ Metadata */

static void put_partitions(kb_wbuf_t *w, int16_t v, int32_t n)
{
    int flex = v >= 9;
    kb_put_array(w, flex, n);
    for (int32_t i = 0; i < n; i++) {
        kb_put_i16(w, KB_ERR_NONE);
        kb_put_i32(w, i);
        kb_put_i32(w, KB_NODE_ID);
        if (v >= 7)
            kb_put_i32(w, KB_LEADER_EPOCH);
        kb_put_array(w, flex, 1);
        kb_put_i32(w, KB_NODE_ID); /* replicas */
        kb_put_array(w, flex, 1);
        kb_put_i32(w, KB_NODE_ID); /* isr */
        if (v >= 5)
            kb_put_array(w, flex, 0); /* offline replicas */
        kb_put_tags(w, flex);
    }
}

static void put_topic(kb_wbuf_t *w, int16_t v, int16_t err, const char *name, size_t len,
                      int32_t partitions, const uint8_t *id)
{
    int flex = v >= 9;
    kb_put_i16(w, err);
    kb_put_nstring(w, flex, name, len);
    if (v >= 10) {
        static const uint8_t zero[16];
        const uint8_t *u = err || !id ? zero : id; /* topic_ids.c */
        for (int i = 0; i < 16; i++)
            kb_put_i8(w, (int8_t)u[i]);
    }
    if (v >= 1) /* is_internal: the committed offsets of groups (group_offsets.c) */
        kb_put_i8(w, len == 18 && name && memcmp(name, "__consumer_offsets", 18) == 0);
    put_partitions(w, v, err ? 0 : partitions);
    if (v >= 8)
        kb_put_i32(w, INT32_MIN); /* topic_authorized_operations: not given */
    kb_put_tags(w, flex);
}

/*
 * What one Metadata request may still auto-create: `left` of the per-request
 * cap, and room under the total cap (counted once, when the first unknown
 * topic is met: listing the log is not free).
 */
struct create_budget {
    int32_t left;
    int32_t room;
    int room_known;
    int created;
};

/* Look a topic up, creating it when allowed and the budget has room.
 * Returns a Kafka error code: LEADER_NOT_AVAILABLE (retriable, Kafka's
 * answer while a topic is being created) past the per-request cap,
 * UNKNOWN_TOPIC_OR_PARTITION past the total cap. */
static int16_t metadata_topic(struct kb_broker *b, const char *name, struct create_budget *cb,
                              int32_t *parts)
{
    klog_topic_t *t;
    int rc = klog_topic_get(b->log, name, &t);
    if (rc == KLOG_ENOTOPIC && cb) {
        if (!cb->room_known) {
            char **names = NULL;
            int cnt = klog_topic_list(b->log, &names);
            free(names);
            if (cnt < 0)
                return KB_ERR_UNKNOWN;
            cb->room = cnt < b->cfg.create_max_topics ? b->cfg.create_max_topics - cnt : 0;
            cb->room_known = 1;
        }
        if (cb->room <= 0)
            return KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (cb->left <= 0)
            return KB_ERR_LEADER_NOT_AVAILABLE;
        rc = klog_topic_create(b->log, name, b->cfg.partitions, NULL);
        if (rc == 0) {
            cb->left--;
            cb->room--;
            cb->created = 1;
            kb_log(b, "created topic %s (%d partitions)", name, b->cfg.partitions);
        }
        if (rc == 0 || rc == KLOG_ETOPICEXISTS)
            rc = klog_topic_get(b->log, name, &t);
    }
    if (rc == KLOG_ENOTOPIC)
        return KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (rc == KLOG_EBADNAME)
        return KB_ERR_INVALID_TOPIC;
    if (rc)
        return KB_ERR_UNKNOWN;
    *parts = klog_topic_partition_count(t);
    return KB_ERR_NONE;
}

/* Read one requested topic: v10+ carry a topic id (into id[] when given)
 * before the (nullable) name; a null name asks by id. */
static void metadata_req_topic(kb_rd_t *r, int16_t v, const char **s, int16_t *len,
                               uint8_t *id)
{
    int flex = v >= 9;
    for (int i = 0; v >= 10 && i < 16; i++) {
        uint8_t c = (uint8_t)kb_rd_i8(r);
        if (id)
            id[i] = c;
    }
    kb_rd_string(r, flex, s, len);
    kb_rd_tags_if(r, flex);
}

int kb_handle_metadata(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int16_t v = q->api_version;
    int flex = v >= 9;
    int32_t n = kb_rd_array(r, flex, 2);
    const size_t req_at = r->pos;
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        int16_t len;
        metadata_req_topic(r, v, &s, &len, NULL);
    }
    int allow = 1; /* v0-v3: creation allowed, as in Kafka */
    if (v >= 4)
        allow = kb_rd_i8(r) != 0;
    if (v >= 8 && v <= 10)
        (void)kb_rd_i8(r); /* include_cluster_authorized_operations */
    if (v >= 8)
        (void)kb_rd_i8(r); /* include_topic_authorized_operations */
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    int all = v == 0 ? n <= 0 : n < 0;

    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 3)
        kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_array(w, flex, 1); /* brokers */
    kb_put_i32(w, KB_NODE_ID);
    kb_put_string(w, flex, kb_adv_host(&b->cfg), strlen(kb_adv_host(&b->cfg)));
    kb_put_i32(w, kb_adv_port(&b->cfg));
    if (v >= 1)
        kb_put_nstring(w, flex, NULL, 0); /* rack */
    kb_put_tags(w, flex);
    if (v >= 2)
        kb_put_nstring(w, flex, NULL, 0); /* cluster_id */
    if (v >= 1)
        kb_put_i32(w, KB_NODE_ID); /* controller_id */

    if (all) {
        char **names = NULL;
        int cnt = klog_topic_list(b->log, &names);
        if (cnt < 0)
            cnt = 0;
        kb_put_array(w, flex, cnt);
        for (int i = 0; i < cnt; i++) {
            int32_t parts = 0;
            uint8_t id[16];
            int16_t err = metadata_topic(b, names[i], NULL, &parts);
            int known = v >= 10 && !err && kb_topic_id(b, names[i], id) == 0;
            put_topic(w, v, err, names[i], strlen(names[i]), parts, known ? id : NULL);
        }
        free(names);
    } else {
        kb_put_array(w, flex, n);
        struct create_budget cb = {.left = b->cfg.create_per_request};
        int create = b->cfg.auto_create && allow;
        kb_rd_t again;
        kb_rd_init(&again, r->p, r->len);
        again.pos = req_at;
        for (int32_t i = 0; i < n; i++) {
            const char *s;
            int16_t len;
            char name[256];
            int32_t parts = 0;
            uint8_t id[16] = {0};
            metadata_req_topic(&again, v, &s, &len, id);
            int16_t err = (int16_t)kb_topic_name(s, len, name);
            if (!s) { /* by topic id: answered with its name */
                err = kb_topic_by_id(b, id, name) ? KB_ERR_UNKNOWN_TOPIC_ID : KB_ERR_NONE;
                if (!err) {
                    s = name;
                    len = (int16_t)strlen(name);
                }
            }
            if (!err)
                err = metadata_topic(b, name, create && s != name ? &cb : NULL, &parts);
            int known = v >= 10 && !err && kb_topic_id(b, name, id) == 0;
            put_topic(w, v, err, s ? s : (v >= 12 ? NULL : ""), len > 0 ? (size_t)len : 0, parts,
                      known ? id : NULL);
        }
        q->slow = cb.created;
    }
    if (v >= 8 && v <= 10)
        kb_put_i32(w, INT32_MIN); /* cluster_authorized_operations */
    kb_put_tags(w, flex);
    return 0;
}

/* ------------------------------------------------------------ ListOffsets */

/* ListOffsets -3 (KIP-734): the first record with the largest timestamp.
 * No index keeps it, so this reads the partition: linear in its size. */
static int16_t max_timestamp(klog_partition_t *p, const klog_offsets_t *o, int64_t *ts,
                             int64_t *off)
{
    if (o->log_start >= o->high_watermark)
        return KB_ERR_NONE; /* empty: offset -1, timestamp -1 */
    klog_reader_t *rd;
    if (klog_reader_open(p, o->log_start, &rd))
        return KB_ERR_KAFKA_STORAGE_ERROR;
    klog_record_t rec;
    int rc;
    while ((rc = klog_reader_next(rd, &rec)) == 1) {
        if (rec.offset >= o->high_watermark)
            break;
        if (*off < 0 || rec.timestamp > *ts) {
            *ts = rec.timestamp;
            *off = rec.offset;
        }
    }
    klog_reader_close(rd);
    return rc < 0 ? KB_ERR_KAFKA_STORAGE_ERROR : KB_ERR_NONE;
}

/* Offset (and its record's timestamp) for one ListOffsets query. */
static int16_t list_offset(struct kb_broker *b, const char *topic, int32_t idx, int64_t query,
                           int committed, int64_t *ts, int64_t *off)
{
    klog_partition_t *p;
    *ts = -1;
    *off = -1;
    int rc = klog_partition(b->log, topic, idx, &p);
    if (rc)
        return kb_append_error(rc);
    klog_offsets_t o;
    rc = klog_partition_offsets(p, &o);
    if (rc)
        return KB_ERR_UNKNOWN;
    if (query == -1) {
        /* read_committed: the end is the last stable offset, as in Kafka */
        *off = o.high_watermark;
        if (committed && klog_partition_lso(p, off))
            return KB_ERR_KAFKA_STORAGE_ERROR;
        return KB_ERR_NONE;
    }
    if (query == -2 || query == -4) {
        *off = o.log_start; /* -4: local log start, the same here */
        return KB_ERR_NONE;
    }
    if (query == -3)
        return max_timestamp(p, &o, ts, off);
    if (query < 0)
        return KB_ERR_INVALID_REQUEST;
    int64_t found;
    rc = klog_offset_for_time(p, query, &found);
    if (rc)
        return KB_ERR_KAFKA_STORAGE_ERROR;
    if (found < o.log_start)
        found = o.log_start;
    if (found >= o.high_watermark)
        return KB_ERR_NONE; /* no such record: offset -1, timestamp -1 */
    /* The answer carries that record's timestamp. */
    klog_reader_t *rd;
    if (klog_reader_open(p, found, &rd) == 0) {
        klog_record_t rec;
        while (klog_reader_next(rd, &rec) == 1) {
            if (rec.offset >= found) {
                *ts = rec.timestamp;
                found = rec.offset;
                break;
            }
        }
        klog_reader_close(rd);
    }
    *off = found;
    return KB_ERR_NONE;
}

int kb_handle_list_offsets(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    int16_t v = q->api_version;
    int flex = q->flex;
    (void)kb_rd_i32(r); /* replica_id */
    int committed = v >= 2 ? kb_rd_i8(r) == 1 : 0; /* isolation_level */
    int32_t ntopics = kb_rd_array(r, flex, flex ? 3 : 6);
    if (r->err || ntopics < 0)
        return -1;
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 2)
        kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_array(w, flex, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        const char *s;
        int16_t slen;
        char name[256];
        kb_rd_string(r, flex, &s, &slen);
        int32_t nparts = kb_rd_array(r, flex, 12);
        if (r->err || nparts < 0)
            return -1;
        int16_t terr = (int16_t)kb_topic_name(s, slen, name);
        if (terr)
            terr = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        kb_put_string(w, flex, s ? s : "", slen > 0 ? (size_t)slen : 0);
        kb_put_array(w, flex, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t idx = kb_rd_i32(r);
            if (v >= 4)
                (void)kb_rd_i32(r); /* current_leader_epoch */
            int64_t query = kb_rd_i64(r);
            kb_rd_tags_if(r, flex);
            if (r->err)
                return -1;
            int64_t ts = -1, off = -1;
            int16_t err = terr ? terr : list_offset(b, name, idx, query, committed, &ts, &off);
            kb_put_i32(w, idx);
            kb_put_i16(w, err);
            kb_put_i64(w, ts);
            kb_put_i64(w, off);
            if (v >= 4)
                kb_put_i32(w, err ? -1 : KB_LEADER_EPOCH);
            kb_put_tags(w, flex);
        }
        kb_rd_tags_if(r, flex);
        kb_put_tags(w, flex);
    }
    kb_rd_tags_if(r, flex);
    kb_put_tags(w, flex);
    return r->err ? -1 : 0;
}
