/*
 * cgroup.h — kbroker's consumer groups of the new protocol (KIP-848),
 * shared by
 *   cgroup_target.c the rules (its essay): subscription metadata, target
 *                   assignment (klog_assign), per-member reconciliation
 *   cgroup.c        members, heartbeats, epochs, fencing, session and
 *                   rebalance timeouts
 *   cgroup_api.c    ConsumerGroupHeartbeat, ConsumerGroupDescribe, and the
 *                   member-epoch checks of OffsetCommit v9 / OffsetFetch v9
 * A group of this kind is a struct kb_group (group.h) whose cg is set; its
 * committed offsets live in the group as for classic groups. Membership
 * lives in memory only. Everything runs on the event-loop thread; no locks.
 */
#ifndef KB_CGROUP_H
#define KB_CGROUP_H

#include "group.h"

/* One topic-partition; t indexes the group's interned topic names. */
struct kb_tp {
    int32_t t, p;
};

/* A set of topic-partitions, kept sorted by (t, p). */
struct kb_tpset {
    struct kb_tp *v;
    size_t n, cap;
};

enum kb_cm_state {
    KB_CM_STABLE,     /* owns its whole target assignment */
    KB_CM_UNREVOKED,  /* must give up partitions first (revoking) */
    KB_CM_UNRELEASED  /* waits for partitions others still own */
};

struct kb_cmember {
    char *id;
    char *instance_id; /* static membership; NULL for dynamic members */
    char *rack_id, *client_id, *client_host;
    char *assignor;    /* its ServerAssignor; NULL: none named */
    char *regex;       /* its SubscribedTopicRegex; NULL: none */
    char **subs;       /* its SubscribedTopicNames, sorted */
    size_t nsubs;
    int32_t epoch, prev_epoch;
    enum kb_cm_state state;
    int32_t rebalance_ms;
    int64_t seen_ms;          /* last heartbeat */
    int64_t revoke_deadline;  /* KB_CM_UNREVOKED: fenced if still so then */
    struct kb_tpset assigned; /* what it may use now */
    struct kb_tpset revoking; /* what it must give up, still its own */
    struct kb_tpset target;   /* its share of the target assignment */
};

struct kb_cgroup {
    int32_t epoch;        /* group epoch: bumped by every membership change */
    int32_t assign_epoch; /* the group epoch the target was computed at */
    char assignor[16];    /* the assignor of the last target */
    struct kb_cmember **m;
    size_t n, cap;
    char **names;         /* interned topic names (never shrinks) */
    int32_t *nparts;      /* partitions of names[i] when last computed */
    size_t nnames;
    int dirty;            /* subscription metadata changed: bump the epoch */
};

/* Kafka error codes of the new protocol. */
enum {
    KB_ERR_FENCED_MEMBER_EPOCH = 110,
    KB_ERR_UNRELEASED_INSTANCE_ID = 111,
    KB_ERR_UNSUPPORTED_ASSIGNOR = 112,
    KB_ERR_STALE_MEMBER_EPOCH = 113,
    KB_ERR_INVALID_REGULAR_EXPRESSION = 128
};

/* A heartbeat, parsed (strings NUL-terminated copies or NULL = not sent). */
struct kb_chb {
    char *member_id;
    int32_t epoch;
    char *instance_id, *rack_id, *regex, *assignor;
    int32_t rebalance_ms;
    char **subs;          /* NULL: not sent */
    size_t nsubs;
    int subs_given;
    struct kb_tp *owned;  /* with topics named in owned_names */
    char **owned_names;
    size_t nowned;
    int owned_given;      /* the TopicPartitions field was not null */
    const char *client_id; /* from the request header */
    size_t client_id_len;
    char *client_host;     /* the connection's peer address */
};

/* cgroup_target.c: sets (sorted, no duplicates; kb_tps_add: 0 or -1 when
 * out of memory), subscription metadata, target assignment and
 * reconciliation. kb_cg_refresh: 1 when the subscribed topics or their
 * partitions changed (bump the group epoch), 0 not, -1 out of memory.
 * kb_cg_target: every member's target at the group epoch (0, or -1: out of
 * memory, the previous target stays). kb_cg_reconcile: move m towards its
 * target, h its heartbeat (0 or -1). */
int kb_tps_has(const struct kb_tpset *s, struct kb_tp x);
int kb_tps_add(struct kb_tpset *s, struct kb_tp x);
void kb_tps_free(struct kb_tpset *s);
int kb_tps_equal(const struct kb_tpset *a, const struct kb_tpset *b);
int kb_cg_refresh(struct kb_broker *b, struct kb_cgroup *cg);
int kb_cg_target(struct kb_cgroup *cg);
int kb_cg_reconcile(struct kb_cgroup *cg, struct kb_cmember *m, const struct kb_chb *h,
                    int64_t now);

/* cgroup.c */
/* The group's consumer-protocol state, made when absent (NULL: out of
 * memory). */
struct kb_cgroup *kb_cg_get(struct kb_group *g);
/* Index of topic name in cg->names, interned when absent (-1: no memory). */
int32_t kb_cg_name(struct kb_cgroup *cg, const char *name);
/* Handle one heartbeat of group g: fills *mout with the member (NULL when
 * it left or on error); returns a Kafka error code. *changed tells whether
 * its assignment changed. */
int16_t kb_cg_heartbeat(struct kb_broker *b, struct kb_group *g, struct kb_chb *h,
                        struct kb_cmember **mout, int *changed);
struct kb_cmember *kb_cg_member(struct kb_cgroup *cg, const char *id, size_t n);
const char *kb_cg_state_name(const struct kb_cgroup *cg);
/* Timers: session expiry and revocation deadlines. kb_cg_next_deadline
 * gives the earliest (absolute, kb_now_ms time); *any = 0 when none. */
void kb_cg_tick(struct kb_broker *b, struct kb_group *g, int64_t now);
int64_t kb_cg_next_deadline(const struct kb_broker *b, const struct kb_group *g, int *any);

/* cgroup_api.c (kb_cg_handle, kb_cg_commit_check: group.h) */
/* OffsetFetch v9's member check (mlen < 0: no member id). */
int16_t kb_cg_fetch_check(struct kb_group *g, const char *mid, int16_t mlen, int32_t epoch);

#endif /* KB_CGROUP_H */
