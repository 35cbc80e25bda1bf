/*
 * kbroker.h — shared declarations of kbroker, a single-node Kafka broker that
 * embeds libklog as its storage engine.
 *
 * The broker is one thread around one epoll set (plus a flush thread for
 * acks=all fsyncs). The pieces:
 *   wire.c      bounds-checked request reader and growable response writer
 *   net.c       listener, connections, framing, per-connection response
 *               queues (in request order), sending (memory + lease sendfile),
 *               long-poll timers and partition wake-ups, the event loop
 *   listen.c    listener and accepting connections
 *   handlers.c  the versions table, ApiVersions, Metadata, ListOffsets
 *   produce.c   Produce
 *   flush.c     the flush thread: acks=all and __consumer_offsets fsyncs off
 *               the event loop
 *   metrics.c   the Prometheus endpoint (--metrics-port)
 *   fetch.c     Fetch: parse, long-poll, build the response around leases
 *   group*.c    the group coordinator (group.h); cgroup*.c its KIP-848
 *               consumer groups (cgroup.h)
 *   pid.c       producer ids: durable id blocks, InitProducerId
 *   txn*.c      the transaction coordinator (txn.h)
 *   admin.c     topic administration
 *   main.c      options, signals, pid file, start and clean shutdown
 * Only the public API of klog.h is used: this is how a server embeds libklog.
 */
#ifndef KBROKER_H
#define KBROKER_H

#include <stddef.h>
#include <stdint.h>

#include "klog.h"

/* ------------------------------------------------------------ configuration */

struct kb_config {
    const char *dir;          /* log directory (-d) */
    char host[256];           /* listen and advertised host (-l) */
    int port;                 /* listen port; 0 = pick one (then the real one) */
    char adv_host[256];       /* advertised host (--advertise), "" = host */
    int adv_port;             /* advertised port, 0 = port */
    int32_t partitions;       /* partitions of auto-created topics (-N) */
    int auto_create;          /* create unknown topics on Metadata (-a) */
    int32_t create_per_request; /* at most this many created per Metadata */
    int32_t create_max_topics;  /* no auto-creation once the log has this many */
    int64_t flush_messages;   /* -F: KLOG_CONF_FLUSH_MESSAGES (-1 = unset) */
    int64_t flush_ms;         /* -T: KLOG_CONF_FLUSH_MS (-1 = unset) */
    int visible_flushed;      /* --visible-flushed */
    size_t max_request;       /* largest accepted request frame (-m) */
    const char *pidfile;      /* -p */
    int verbose;              /* -v: connection and error messages on stderr */
    int32_t group_initial_delay_ms; /* --group-initial-delay */
    int32_t cg_session_ms;    /* --group-consumer-session-timeout (KIP-848 groups) */
    int32_t cg_heartbeat_ms;  /* --group-consumer-heartbeat-interval */
    int64_t txn_id_expiration_ms; /* --transactional-id-expiration */
    int metrics_port;         /* --metrics-port; -1: no metrics endpoint */
    int ndefaults;            /* --topic-default NAME=VALUE, for every topic */
    struct { int key; int64_t value; } defaults[16];
};

/* The address clients are told to connect to (--advertise, else -l). */
static inline const char *kb_adv_host(const struct kb_config *c)
{
    return c->adv_host[0] ? c->adv_host : c->host;
}
static inline int32_t kb_adv_port(const struct kb_config *c)
{
    return c->adv_port > 0 ? c->adv_port : c->port;
}

/* ------------------------------------------------------------ wire codec */

/* A bounds-checked cursor over a request. Any read past the end (or a bad
 * length) sets err and returns zero values; handlers check err once. */
typedef struct kb_rd {
    const uint8_t *p;
    size_t len, pos;
    int err;
} kb_rd_t;

void kb_rd_init(kb_rd_t *r, const void *p, size_t len);
int8_t kb_rd_i8(kb_rd_t *r);
int16_t kb_rd_i16(kb_rd_t *r);
int32_t kb_rd_i32(kb_rd_t *r);
int64_t kb_rd_i64(kb_rd_t *r);
/* STR / NSTR: *s points into the request (not NUL-terminated); *n = -1 for
 * null. Returns 0 or -1 (err set). */
int kb_rd_str(kb_rd_t *r, const char **s, int16_t *n);
/* NBYTES: as kb_rd_str with an int32 length. */
int kb_rd_bytes(kb_rd_t *r, const uint8_t **b, int32_t *n);
/* Array count (i32). -1 (null) is returned as is; a count that cannot fit in
 * the remaining bytes at min_elem bytes each sets err. */
int32_t kb_rd_count(kb_rd_t *r, size_t min_elem);
/* Skip flexible-version tagged fields. */
void kb_rd_tags(kb_rd_t *r);

/* A growable response buffer. Allocation failure sets oom; later writes are
 * dropped, so builders check oom once at the end. */
typedef struct kb_wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} kb_wbuf_t;

void kb_put_i8(kb_wbuf_t *w, int8_t v);
void kb_put_i16(kb_wbuf_t *w, int16_t v);
void kb_put_i32(kb_wbuf_t *w, int32_t v);
void kb_put_i64(kb_wbuf_t *w, int64_t v);
void kb_put_uvarint(kb_wbuf_t *w, uint64_t v);
void kb_put_str(kb_wbuf_t *w, const char *s, size_t n);
void kb_patch_i32(kb_wbuf_t *w, size_t at, int32_t v);
void kb_wbuf_free(kb_wbuf_t *w);

/* Flexible-version forms (KIP-482): with flex set, lengths and counts are
 * unsigned varints plus one (0 = null) and structs end in tagged fields;
 * with flex clear these are the classic forms above. */
uint64_t kb_rd_uvarint(kb_rd_t *r);
int kb_rd_string(kb_rd_t *r, int flex, const char **s, int16_t *n);
int kb_rd_bytes_f(kb_rd_t *r, int flex, const uint8_t **b, int32_t *n);
int32_t kb_rd_array(kb_rd_t *r, int flex, size_t min_elem);
void kb_rd_tags_if(kb_rd_t *r, int flex);
void kb_put_string(kb_wbuf_t *w, int flex, const char *s, size_t n);
void kb_put_nstring(kb_wbuf_t *w, int flex, const char *s, size_t n);
void kb_put_bytes_f(kb_wbuf_t *w, int flex, const void *b, size_t n);
void kb_put_array(kb_wbuf_t *w, int flex, int32_t n);
void kb_put_tags(kb_wbuf_t *w, int flex);

/* ------------------------------------------------------------ responses */

/* A response is a list of pieces sent in order: byte ranges of its buffer
 * and leases (sent with sendfile). The size prefix is in the buffer. */
struct kb_piece {
    size_t off, len;        /* buffer range, when lease is NULL */
    klog_lease_t *lease;    /* records of one Fetch partition */
};

struct kb_fetch;
struct kb_wait;
struct kb_groups;
struct kb_flusher;
struct kb_flush_job;
struct kb_metrics;
struct kb_txns;
struct kb_topic_ids;

#define KB_API_SLOTS 128 /* API keys counted one by one */

struct kb_resp {
    struct kb_resp *next;
    kb_wbuf_t buf;
    struct kb_piece *pieces;
    size_t npieces, cap;
    size_t cur, cur_done;   /* send progress */
    size_t mark;            /* buffer bytes already covered by pieces */
    int ready;              /* 0 while a Fetch is parked */
    int kill;               /* could not be built: close the connection here */
    struct kb_fetch *fetch; /* the parked Fetch, if any */
    struct kb_wait *wait;   /* the parked JoinGroup/SyncGroup slot, if any */
    struct kb_flush_job *flush; /* the acks=all fsync it waits for, if any */
};

/* Close the buffer bytes since the last piece into a piece and append the
 * lease (NULL: only close the buffer piece). Returns 0 or -ENOMEM (the lease
 * is then released). */
int kb_resp_add_lease(struct kb_resp *r, klog_lease_t *lease);
/* Drop pieces, leases and buffer contents (keeps the response queued). */
void kb_resp_clear(struct kb_resp *r);
/* Start a response: clear it, then the size placeholder and the response
 * header v0 (correlation id). */
void kb_resp_begin(struct kb_resp *r, int32_t correlation_id);
/* Close it: patch the size (buffer plus lease bytes) and close the last
 * buffer piece. Returns 0, or -ENOMEM / -EOVERFLOW (nothing to send). */
int kb_resp_finish(struct kb_resp *r);

/* ------------------------------------------------------------ broker */

struct kb_conn {
    int fd;
    int yielded;            /* created topics: its next frames wait a loop turn */
    int held;               /* its next frames wait for a commit's fsync (kb_net_hold) */
    uint8_t *in;            /* received bytes not yet handled */
    size_t in_len, in_cap;
    struct kb_resp *head, *tail;
    size_t nresp;
    uint32_t events;        /* current epoll interest */
    uint64_t id;
};

struct kb_broker {
    struct kb_config cfg;
    klog_t *log;
    int ep;                 /* epoll */
    int lfd;                /* listener */
    int sfd;                /* signalfd */
    int spare_fd;           /* reserve descriptor for EMFILE on accept */
    struct kb_conn **conns; /* indexed by fd */
    size_t conns_cap, nconns;
    struct kb_fetch *parked;/* parked Fetches (long-poll), any connection */
    int *yielded;           /* fds of yielded connections, for the next turn */
    size_t nyielded, yielded_cap;
    uint64_t next_conn_id;
    struct kb_groups *groups; /* group coordinator state (group*.c) */
    struct kb_flusher *flusher; /* acks=all fsync thread (flush.c); NULL: inline */
    struct kb_metrics *metrics; /* --metrics-port endpoint (metrics.c) */
    struct kb_txns *txns;   /* transaction coordinator state (txn*.c) */
    struct kb_topic_ids *topic_ids; /* topic ids by name (topic_ids.c) */
    uint64_t requests[KB_API_SLOTS + 1]; /* by API key; the last: larger keys */
    int stop;
};

/* Handler result: 0 response queued, 1 no response (acks=0), <0 close the
 * connection (malformed request). */
struct kb_req {
    int16_t api_key, api_version;
    int32_t correlation_id;
    struct kb_conn *conn;
    struct kb_resp *resp;   /* buffer starts with size + correlation id */
    int slow;               /* the handler did slow work (created topics) */
    int flex;               /* flexible version: compact forms, tagged fields */
    const char *client_id;  /* from the request header (not NUL-terminated) */
    int16_t client_id_len;  /* -1: null */
};

/* Is (key, version) served? *flex is set to whether that version of the API
 * is flexible (also for versions not served, where it is known). */
int kb_api_supported(int16_t key, int16_t version, int *flex);

/* The partition leader epoch a Kafka leader stamps into each batch it
 * appends. This single node has led every partition since it was created,
 * which in Kafka is epoch 0; stamping it makes the stored batches equal, byte
 * for byte, to those a Kafka broker stores (test/interop/kafka_bytes.sh). */
#define KB_LEADER_EPOCH 0

/* Copy a wire topic name into name[] (NUL-terminated). Returns 0 when it is
 * a valid topic name, else KB_ERR_INVALID_TOPIC. */
int kb_topic_name(const char *s, int16_t n, char name[256]);
/* The Kafka error code of a klog append (or partition lookup) error. */
int16_t kb_append_error(int rc);

int kb_handle_api_versions(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int kb_handle_metadata(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int kb_handle_produce(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int kb_handle_list_offsets(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int kb_handle_fetch(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);

/* A producer id never handed out before by this log directory
 * (klog_producer_id_alloc, logged on failure): 0 or its error. */
int kb_pid_alloc(struct kb_broker *b, int64_t *id);
/* InitProducerId (pid.c; transactional ids go to txn.c). */
int kb_handle_init_producer_id(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);

/* Transaction coordinator (txn*.c, txn.h). */
int kb_txn_init_producer(struct kb_broker *b, const char *tid, int16_t tlen, int32_t timeout_ms,
                         int64_t pid, int16_t epoch, int16_t version, int64_t *out_pid,
                         int16_t *out_epoch);
/* AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit. */
int kb_handle_txn(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
/* Replay __transaction_state (at start, before kb_groups_load): completes
 * every Prepare* the last run left; Ongoing transactions stay open until
 * their timeout (from their start). Returns 0 or a klog error. */
int kb_txn_load(struct kb_broker *b);
/* Abort transactions open past their timeout, and forget transactional
 * ids idle past --transactional-id-expiration (a tombstone stored for
 * each); next_timeout: ms until the next deadline, -1 for none. */
void kb_txn_tick(struct kb_broker *b, int64_t now_ms);
int kb_txn_next_timeout(struct kb_broker *b, int64_t now_ms);
void kb_txn_free_all(struct kb_broker *b);
/* Produce: the Kafka error for a batch with this header bound for
 * topic[partition] (a transactional batch must belong to an open
 * transaction of its producer that holds the partition), 0 when fine. */
int16_t kb_txn_check_produce(struct kb_broker *b, const klog_batch_info_t *bi, const char *topic,
                             int32_t partition);
/* Replay of __consumer_offsets: an offset of producer pid/epoch's open
 * transaction goes back into it as pending (nothing when pid has no open
 * transaction of that epoch). 0 or -1 (out of memory). */
int kb_txn_pend_replayed(struct kb_broker *b, int64_t pid, int16_t epoch, const char *group,
                         size_t glen, const char *topic, size_t tlen, int32_t partition,
                         int64_t offset, int32_t leader_epoch, const char *meta, size_t mlen);
/* Replay of __consumer_offsets: a batch of producer pid/epoch ends before
 * sequence next. */
void kb_txn_offsets_seen(struct kb_broker *b, int64_t pid, int16_t epoch, int64_t next);
/* Is an offset of group for topic[partition] pending in an open
 * transaction (OffsetFetch require_stable)? */
int kb_txn_pending_offset(struct kb_broker *b, const char *group, size_t glen, const char *topic,
                          size_t tlen, int32_t partition);
/* Group offsets (group_offsets.c) the transaction coordinator uses. Open
 * __consumer_offsets when it exists (create: also when it does not) and
 * replay it into the groups' offsets once. Returns 0 or a klog error. */
int kb_offsets_open(struct kb_broker *b, int create);
/* Set a committed offset in memory (a transaction committed it). 0 or -1. */
int kb_offsets_apply(struct kb_broker *b, const char *group, const char *topic,
                     int32_t partition, int64_t offset, int32_t epoch, const char *meta);
/* Make an internal topic compacted, never deleted by retention. 0 or a
 * klog error. */
int kb_topic_internal(struct kb_broker *b, const char *topic);
int64_t kb_wall_ms(void); /* CLOCK_REALTIME in ms */

/* Group coordinator (group*.c, cgroup*.c): JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
 * DeleteGroups, OffsetDelete, ConsumerGroupHeartbeat, ConsumerGroupDescribe. */
int kb_handle_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
/* Replay committed offsets from __consumer_offsets (at start). Returns 0
 * or a klog error. */
int kb_groups_load(struct kb_broker *b);
/* Session and rebalance timeouts; next_timeout is -1 when none is pending. */
void kb_groups_tick(struct kb_broker *b, int64_t now_ms);
int kb_groups_next_timeout(struct kb_broker *b, int64_t now_ms);
/* A parked group response is being freed (its connection closed). */
void kb_group_wait_detach(struct kb_wait *w);
/* Free every group (shutdown). */
void kb_groups_free_all(struct kb_broker *b);

/* Topic administration (admin.c): CreateTopics, DeleteTopics,
 * CreatePartitions, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
 * DeleteRecords, DescribeCluster. */
int kb_handle_admin(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
/* The klog.h key of a Kafka topic config name (retention.ms, ...), or -1. */
int kb_conf_key(const char *name, size_t len);
/* Parse s[0..n) as key's value (integers; cleanup.policy "delete",
 * "compact", "compact,delete"; min.cleanable.dirty.ratio 0..1). 0 or -1. */
int kb_conf_value(int key, const char *s, size_t n, int64_t *v);

/* Topic ids (topic_ids.c): Kafka's partition.metadata in each partition
 * directory. kb_topic_id sets id[] of an existing topic, writing the file
 * where it is missing (a new random id when no directory has one); returns
 * 0 or -1 (no such topic, I/O error). kb_topic_by_id finds the topic of an
 * id (0, or -1: none). A deleted topic is forgotten so a new one of the same
 * name gets a new id. */
int kb_topic_id(struct kb_broker *b, const char *name, uint8_t id[16]);
int kb_topic_by_id(struct kb_broker *b, const uint8_t id[16], char name[256]);
void kb_topic_id_forget(struct kb_broker *b, const char *name);
void kb_topic_ids_free(struct kb_broker *b);
/* base64url (no padding, 22 characters) form of an id, and back (0 / -1). */
void kb_uuid_format(const uint8_t id[16], char out[23]);
int kb_uuid_parse(const char *s, size_t n, uint8_t id[16]);

/* The flush thread (flush.c). */
int kb_flush_start(struct kb_broker *b);  /* 0 or -errno (then fsyncs stay inline) */
void kb_flush_stop(struct kb_broker *b);  /* after the connections are closed */
int kb_flush_fd(const struct kb_broker *b); /* its eventfd for the loop, or -1 */
/* Add partition p (its response error code at err_at) to *jp, created on
 * first use. Returns 0 or -1 (out of memory). */
int kb_flush_add(struct kb_flush_job **jp, klog_partition_t *p, size_t err_at);
void kb_flush_job_free(struct kb_flush_job *j);
/* A completion instead of Produce's error patching: fn(b, c, r, rc, ctx)
 * runs on the loop exactly once when j's fsyncs are over (rc: the first
 * failure, or 0), with c and r NULL when the connection closed meanwhile
 * or at shutdown; it owns ctx. r is then marked ready. */
typedef void kb_flush_done_fn(struct kb_broker *b, struct kb_conn *c, struct kb_resp *r, int rc,
                              void *ctx);
void kb_flush_on_done(struct kb_flush_job *j, kb_flush_done_fn *fn, void *ctx);
/* Hand j to the thread; r (finished) is parked until its fsyncs are done.
 * Returns 0, or -1 when there is no thread (j is then still the caller's). */
int kb_flush_submit(struct kb_broker *b, struct kb_conn *c, struct kb_resp *r,
                    struct kb_flush_job *j);
void kb_flush_detach(struct kb_flush_job *j); /* r's connection is closing */
void kb_flush_reap(struct kb_broker *b);      /* the eventfd is readable */
void kb_flush_quiesce(struct kb_broker *b);   /* wait until every job is done */

/* The Prometheus endpoint (metrics.c). */
int kb_metrics_listen(struct kb_broker *b); /* 0 (also when off) or -1 */
int kb_metrics_fd(const struct kb_broker *b); /* its listener, or -1 */
/* An epoll event on fd: 1 if it was the endpoint's (handled), else 0. */
int kb_metrics_event(struct kb_broker *b, int fd, uint32_t events);
void kb_metrics_close(struct kb_broker *b);

/* Long-poll support (fetch.c). */
/* A topic is about to be deleted: parked Fetches stop pointing into it
 * (those partitions then answer UNKNOWN_TOPIC_OR_PARTITION). */
void kb_fetch_forget_topic(struct kb_broker *b, const char *topic);
void kb_fetch_free(struct kb_fetch *f);
/* Re-evaluate parked Fetches (force: deadline passed or shutting down).
 * Returns the number that completed. */
int kb_fetch_recheck(struct kb_broker *b, int64_t now_ms);
/* Milliseconds until the earliest parked deadline, -1 for none. */
int kb_fetch_next_timeout(struct kb_broker *b, int64_t now_ms);
/* Parked list maintenance (a connection closing drops its Fetches). */
void kb_fetch_unpark(struct kb_broker *b, struct kb_fetch *f);

/* listen.c */
/* Listen on host:*port_io (0: any free port; the real one is written
 * back); *fd_out is non-blocking. Returns 0 or -1 (reported on stderr). */
int kb_listen_on(const char *host, int *port_io, int *fd_out);
int kb_net_listen(struct kb_broker *b);
/* Accept the pending connections (listener readable). */
void kb_net_accept(struct kb_broker *b);

/* net.c */
int kb_net_run(struct kb_broker *b);
void kb_net_close_all(struct kb_broker *b);
/* Register a partition's pollfd with the loop (idempotent). */
int kb_net_watch_partition(struct kb_broker *b, klog_partition_t *p);
/* A response became ready: try sending on its connection. */
void kb_net_resp_ready(struct kb_broker *b, struct kb_conn *c);
/* Read no more requests of c until kb_net_release: what it sends next must
 * see the state its parked request is about to make durable (an
 * OffsetCommit followed by an OffsetFetch, as Kafka, which handles one
 * request of a connection at a time). Release serves its buffered
 * requests on the next loop turn. */
void kb_net_hold(struct kb_conn *c);
void kb_net_release(struct kb_broker *b, struct kb_conn *c);
int64_t kb_now_ms(void);
void kb_log(const struct kb_broker *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Kafka error codes used here. */
enum {
    KB_ERR_UNKNOWN = -1,
    KB_ERR_NONE = 0,
    KB_ERR_OFFSET_OUT_OF_RANGE = 1,
    KB_ERR_CORRUPT_MESSAGE = 2,
    KB_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KB_ERR_LEADER_NOT_AVAILABLE = 5,
    KB_ERR_MESSAGE_TOO_LARGE = 10,
    KB_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    KB_ERR_INVALID_TOPIC = 17,
    KB_ERR_INVALID_REQUIRED_ACKS = 21,
    KB_ERR_UNSUPPORTED_VERSION = 35,
    KB_ERR_INVALID_REQUEST = 42,
    KB_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KB_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KB_ERR_INVALID_PRODUCER_EPOCH = 47,
    KB_ERR_INVALID_TXN_STATE = 48,
    KB_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
    KB_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
    KB_ERR_CONCURRENT_TRANSACTIONS = 51,
    KB_ERR_TRANSACTION_COORDINATOR_FENCED = 52,
    KB_ERR_KAFKA_STORAGE_ERROR = 56,
    KB_ERR_UNKNOWN_PRODUCER_ID = 59,
    KB_ERR_INVALID_RECORD = 87,
    KB_ERR_UNSTABLE_OFFSET_COMMIT = 88,
    KB_ERR_PRODUCER_FENCED = 90,
    KB_ERR_UNKNOWN_TOPIC_ID = 100
};

/* API keys and the versions served (kafka-protocol.md section 0). */
enum {
    KB_API_PRODUCE = 0,
    KB_API_FETCH = 1,
    KB_API_LIST_OFFSETS = 2,
    KB_API_METADATA = 3,
    KB_API_OFFSET_COMMIT = 8,
    KB_API_OFFSET_FETCH = 9,
    KB_API_FIND_COORDINATOR = 10,
    KB_API_JOIN_GROUP = 11,
    KB_API_HEARTBEAT = 12,
    KB_API_LEAVE_GROUP = 13,
    KB_API_SYNC_GROUP = 14,
    KB_API_DESCRIBE_GROUPS = 15,
    KB_API_LIST_GROUPS = 16,
    KB_API_API_VERSIONS = 18,
    KB_API_DELETE_RECORDS = 21,
    KB_API_CREATE_TOPICS = 19,
    KB_API_DELETE_TOPICS = 20,
    KB_API_DESCRIBE_CONFIGS = 32,
    KB_API_ALTER_CONFIGS = 33,
    KB_API_CREATE_PARTITIONS = 37,
    KB_API_DELETE_GROUPS = 42,
    KB_API_INIT_PRODUCER_ID = 22,
    KB_API_ADD_PARTITIONS_TO_TXN = 24,
    KB_API_ADD_OFFSETS_TO_TXN = 25,
    KB_API_END_TXN = 26,
    KB_API_TXN_OFFSET_COMMIT = 28,
    KB_API_INCREMENTAL_ALTER_CONFIGS = 44,
    KB_API_OFFSET_DELETE = 47,
    KB_API_DESCRIBE_CLUSTER = 60,
    KB_API_CONSUMER_GROUP_HEARTBEAT = 68,
    KB_API_CONSUMER_GROUP_DESCRIBE = 69
};

#endif /* KBROKER_H */
