/*
 * group.h — kbroker's group coordinator (classic protocol), shared by
 *   group.c          the rebalance state machine and JoinGroup
 *   group_member.c   SyncGroup, Heartbeat, LeaveGroup, session timeouts,
 *                    dispatch
 *   group_offsets.c  committed offsets: OffsetCommit, OffsetDelete, kept in
 *                    the topic __consumer_offsets
 *   group_fetch.c    OffsetFetch
 *   group_api.c      FindCoordinator, ListGroups, DescribeGroups,
 *                    DeleteGroups, lookup and freeing of groups
 * Groups of the new protocol (KIP-848) are the same struct kb_group with
 * cg set: cgroup.h.
 * Everything runs on the event-loop thread; no locks.
 */
#ifndef KB_GROUP_H
#define KB_GROUP_H

#include "kbroker.h"

#define KB_OFFSETS_TOPIC "__consumer_offsets"
#define KB_MAX_GROUPS 10000
#define KB_MAX_MEMBERS 1000         /* per group */
#define KB_MAX_GROUP_OFFSETS 100000 /* committed partitions per group */
#define KB_MAX_OFFSET_METADATA 4096 /* Kafka's offset.metadata.max.bytes */

enum kb_group_state { KB_G_EMPTY, KB_G_PREPARING, KB_G_COMPLETING, KB_G_STABLE };

struct kb_proto {
    char *name;
    uint8_t *meta;
    int32_t len;
};

/* A parked JoinGroup or SyncGroup response. */
struct kb_wait {
    struct kb_resp *resp; /* NULL: none (or its connection closed) */
    struct kb_conn *conn;
    int16_t version;
    int flex;
};

struct kb_member {
    char *id;
    char *instance_id; /* static membership; NULL for dynamic members */
    char *client_id, *client_host;
    int32_t session_ms, rebalance_ms;
    int64_t seen_ms;     /* last request from it */
    int pending;         /* id handed out with MEMBER_ID_REQUIRED, not joined yet */
    struct kb_proto *protos;
    int32_t nprotos;
    uint8_t *assignment;
    int32_t assignment_len;
    struct kb_wait join, sync;
    struct kb_group *group;
};

struct kb_offset {
    char *topic;
    int32_t partition;
    int32_t leader_epoch;
    int64_t offset;
    char *metadata;
};

struct kb_group {
    struct kb_group *next;
    char *id;
    enum kb_group_state state;
    int32_t generation;
    char *protocol_type; /* NULL while empty */
    char *protocol;      /* chosen protocol of this generation */
    char *leader;        /* member id */
    struct kb_member **members;
    size_t nmembers, members_cap;
    int64_t rebalance_deadline;
    int64_t initial_until; /* a rebalance from Empty waits this long for more members */
    struct kb_offset *offs;
    size_t noffs, offs_cap;
    struct kb_cgroup *cg; /* consumer-protocol (KIP-848) state (cgroup.h); NULL: none */
};

struct kb_groups {
    struct kb_group *head;
    size_t ngroups;
    uint64_t next_member;
    klog_partition_t *offsets; /* partition 0 of __consumer_offsets, once opened */
};

/* Kafka group error codes. */
enum {
    KB_ERR_ILLEGAL_GENERATION = 22,
    KB_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KB_ERR_INVALID_GROUP_ID = 24,
    KB_ERR_UNKNOWN_MEMBER_ID = 25,
    KB_ERR_INVALID_SESSION_TIMEOUT = 26,
    KB_ERR_REBALANCE_IN_PROGRESS = 27,
    KB_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    KB_ERR_NOT_COORDINATOR = 16,
    KB_ERR_NON_EMPTY_GROUP = 68,
    KB_ERR_GROUP_ID_NOT_FOUND = 69,
    KB_ERR_MEMBER_ID_REQUIRED = 79,
    KB_ERR_FENCED_INSTANCE_ID = 82,
    KB_ERR_GROUP_MAX_SIZE_REACHED = 81,
    KB_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86
};

/* group_api.c */
struct kb_groups *kb_groups(struct kb_broker *b); /* NULL: out of memory */
/* Find a group; with create, make it (Empty) when absent. NULL: absent,
 * out of memory or KB_MAX_GROUPS reached. */
struct kb_group *kb_group_find(struct kb_broker *b, const char *id, size_t len, int create);
void kb_group_free(struct kb_broker *b, struct kb_group *g);
char *kb_strndup(const char *s, size_t n);
const char *kb_group_state_name(enum kb_group_state s);

/* cgroup.c: does the group have members of the consumer protocol? Such a
 * group refuses JoinGroup with INCONSISTENT_GROUP_PROTOCOL. */
int kb_cg_busy(const struct kb_group *g);
void kb_cg_free(struct kb_cgroup *cg);
/* cgroup_api.c */
int kb_cg_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int16_t kb_cg_commit_check(struct kb_group *g, int16_t v, int32_t epoch, const char *mid,
                           int16_t mlen);
/* group_fetch.c: OffsetFetch */
int kb_offset_fetch(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);

/* group.c */
/* "/ADDRESS" of the connection's peer (Kafka's client host form); NULL:
 * out of memory. */
char *kb_peer_host(struct kb_conn *c);
void kb_member_remove(struct kb_broker *b, struct kb_group *g, struct kb_member *m);
void kb_member_free(struct kb_member *m);
struct kb_member *kb_member_find(struct kb_group *g, const char *id, size_t n);
struct kb_member *kb_member_by_instance(struct kb_group *g, const char *id, size_t n);
/* Park the request's response in w until the group answers it. */
void kb_wait_park(struct kb_wait *w, struct kb_req *q);
void kb_put_sync(struct kb_group *g, kb_wbuf_t *w, int16_t v, int flex, int16_t err,
                 const uint8_t *a, int32_t alen);
/* Answer m's parked JoinGroup / SyncGroup (if any) with err or its result. */
void kb_join_reply(struct kb_broker *b, struct kb_group *g, struct kb_member *m, int16_t err);
void kb_sync_reply(struct kb_broker *b, struct kb_group *g, struct kb_member *m, int16_t err);
void kb_group_prepare_rebalance(struct kb_broker *b, struct kb_group *g);
void kb_group_try_complete(struct kb_broker *b, struct kb_group *g, int64_t now);
int kb_join_group(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);

/* group_offsets.c, group_api.c: their requests */
int kb_group_offsets_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
int kb_group_api_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);

/* group_offsets.c */
/* kb_offsets_open, kb_offsets_apply: kbroker.h (the transaction
 * coordinator uses them). */
/* group_commit.c: write tombstones for all of g's offsets (DeleteGroups). Returns 0 or a
 * klog error. */
int kb_offsets_delete_all(struct kb_broker *b, struct kb_group *g);
/* Tombstones for n offsets of g, appended and fsynced. */
int kb_offsets_tombstones(struct kb_broker *b, struct kb_group *g, struct kb_offset **offs,
                          size_t n);
struct kb_offset *kb_offset_find(struct kb_group *g, const char *topic, size_t tlen,
                                 int32_t partition);
/* Forget one offset in memory (o points into g->offs). */
void kb_offset_drop(struct kb_group *g, struct kb_offset *o);
int kb_offset_delete(struct kb_broker *b, struct kb_req *q, kb_rd_t *r);
/* Kafka's offset-commit key v1 appended to w; returns where it starts. */
size_t kb_offsets_put_key(kb_wbuf_t *w, const char *group, size_t glen, const char *topic,
                          size_t tlen, int32_t partition);
/* Append records to __consumer_offsets (opened, created when absent) and,
 * with sync, fsync them (else group_commit.c does). 0 or a klog error. */
int kb_offsets_store(struct kb_broker *b, const klog_record_t *recs, size_t n, int sync);
/* One offset-commit record (Kafka's key v1, value v3) appended to w; returns
 * where its key starts, *val_at where its value does. */
size_t kb_offsets_put_record(kb_wbuf_t *w, const char *group, size_t glen, const char *topic,
                             size_t tlen, int32_t partition, int64_t offset, int32_t epoch,
                             const char *meta, size_t mlen, int64_t now, size_t *val_at);

/* Replay one __consumer_offsets record into its group, or with pend_pid
 * >= 0 as a pending offset of that producer's open transaction. */
void kb_offsets_replay_one(struct kb_broker *b, const klog_record_t *rec, int64_t pend_pid,
                           int16_t pend_epoch);
/* group_commit.c: the replay from the last stable offset of p to hw (the
 * committed and pending records there); *n counts them. 0 or an error. */
int kb_offsets_replay_unstable(struct kb_broker *b, klog_partition_t *p, int64_t hw, int64_t *n);

/* group_commit.c: __consumer_offsets fsyncs on the flush thread. A commit
 * collects what its answer waits for: offsets to apply to group (NULL for
 * TxnOffsetCommit, whose offsets are pending in the transaction) and where
 * each partition's error code is in the response. */
struct kb_commit;
struct kb_commit *kb_commit_new(const char *group, size_t glen); /* NULL: out of memory */
void kb_commit_free(struct kb_commit *c);
/* 0 or -1 (out of memory). topic may be NULL: only the error position. */
int kb_commit_add(struct kb_commit *c, const char *topic, size_t tlen, int32_t partition,
                  int64_t offset, int32_t epoch, const char *meta, size_t mlen, size_t err_at);
/* The records are appended to __consumer_offsets (opened): finish q's
 * response and park it until their fsync, holding q's connection; c is
 * consumed. Without a flush thread the fsync runs here. 0 or -1 (out of
 * memory: close the connection). */
int kb_commit_submit(struct kb_broker *b, struct kb_req *q, struct kb_commit *c);
/* Complete every commit in flight (before writing tombstones). */
void kb_commit_settle(struct kb_broker *b);
/* The group error answered for a failed __consumer_offsets append or
 * fsync: NOT_COORDINATOR for a storage error, as Kafka's coordinator. */
int16_t kb_commit_error(int rc);
/* TxnOffsetCommit v3's group check, Kafka's: generation -1 on an Empty
 * (or unknown) group, or with no member and no instance id, is not
 * checked; else the instance id (nullable: ilen -1) must be the member's
 * (FENCED_INSTANCE_ID when another member holds it), the member must be
 * in the group (UNKNOWN_MEMBER_ID) and the generation its
 * (ILLEGAL_GENERATION). Returns the Kafka error or 0. */
int16_t kb_group_txn_check(struct kb_broker *b, const char *gid, size_t glen, int32_t gen,
                           const char *mid, int16_t mlen, const char *inst, int16_t ilen);

#endif /* KB_GROUP_H */
