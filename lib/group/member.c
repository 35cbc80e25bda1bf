/*
 * member.c — one member of a consumer group (the paper's consumer, with
 * design.md's "consume in a group" flow).
 *
 * State: the partitions this member owns, each with a reader and the
 * position after the last record poll returned from it (the offset a
 * commit stores: "next to consume"), and the registry change counter seen
 * at the last settled rebalance.
 *
 * Everything happens on the thread that calls poll/commit/close; there is
 * no background thread. Each poll first compares the registry's change
 * counter with the one seen; when it moved (or the last attempt did not
 * settle and its backoff has passed) it runs a rebalance:
 *   1. read the members of the group (re-registering this member if its
 *      entry vanished, e.g. a ZooKeeper session expired), the partition
 *      counts of every topic any member subscribes to and, for the sticky
 *      strategy, the current owners (group_view.c);
 *   2. compute the global assignment with klog_assign() and take this
 *      member's share;
 *   3. for each owned partition no longer in it: commit its position, tell
 *      the event callback, release it;
 *   4. claim each new partition; if another member still holds one (it has
 *      not yet noticed the change), do as the paper says: commit and release
 *      everything, back off for a jittered, growing delay, and try again on
 *      a later poll, from fresh registry reads;
 *   5. start each claimed partition at the group's committed offset, or at
 *      the reset policy when there is none or it is no longer retained.
 * Ownership intervals never overlap between members because a partition
 * is released (after its commit) before anyone else's claim can succeed,
 * and the claim is what the registry arbitrates.
 *
 * Delivery is at-least-once: a record counts as consumed once a commit
 * covers it (auto-commit at the start of a later poll, an explicit commit,
 * a release or close). A member that dies loses only what it read since
 * its last commit, and the next owner reads that again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group/group.h"
#include "group/group_view.h"

typedef struct owned {
    char *topic;
    int32_t partition;
    klog_reader_t *r;
    int64_t position;  /* offset after the last record returned */
    int64_t committed; /* last value committed by this member, -1 none */
} owned_t;

struct klog_member {
    klog_t *log;
    klog_registry_t *reg;
    const klog_registry_ops_t *ops;
    char *group, *id;
    char **topics; /* subscribed, sorted, distinct */
    size_t ntopics;
    char *topics_csv;
    klog_member_opts_t opt;
    klog__logger_t logger;

    owned_t *owned;
    size_t nowned, capowned;
    size_t rr; /* next partition poll looks at */

    uint64_t seen;
    int settled;
    int attempt;
    int64_t retry_at_ns;
    int64_t next_check_ns;   /* next registry change check while settled */
    int64_t next_commit_ns;
    uint64_t rng;
};

static uint64_t rng_next(klog_member_t *m)
{
    /* xorshift64*: jitter only, not security. */
    uint64_t x = m->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void emit(klog_member_t *m, const owned_t *o, int owned, int64_t offset)
{
    if (m->opt.on_event)
        m->opt.on_event(m->opt.event_ctx, o->topic, o->partition, owned, offset, klog__now_ms());
}

/* ------------------------------------------------------------ owned set */

static int commit_one(klog_member_t *m, owned_t *o)
{
    if (o->position < 0 || o->position == o->committed)
        return 0;
    int rc = m->ops->commit(m->ops->ctx, m->group, o->topic, o->partition, o->position);
    if (rc == 0)
        o->committed = o->position;
    else
        klog__log(&m->logger, KLOG_LOG_WARN, "group %s: commit %s-%d at %lld failed: %s",
                  m->group, o->topic, o->partition, (long long)o->position, klog_strerror(rc));
    return rc;
}

/* Commit, announce, release and forget owned[i] (swapped with the last). */
static int drop_owned(klog_member_t *m, size_t i)
{
    owned_t *o = &m->owned[i];
    int rc = commit_one(m, o);
    emit(m, o, 0, o->position);
    int rc2 = m->ops->release(m->ops->ctx, m->group, o->topic, o->partition, m->id);
    if (rc2 == KLOG_ENOTFOUND)
        rc2 = 0; /* already gone (session loss): nothing to give back */
    klog_reader_close(o->r);
    free(o->topic);
    m->owned[i] = m->owned[--m->nowned];
    if (m->rr >= m->nowned)
        m->rr = 0;
    return rc ? rc : rc2;
}

static int release_all(klog_member_t *m)
{
    int first = 0;
    while (m->nowned > 0) {
        int rc = drop_owned(m, m->nowned - 1);
        if (rc && !first)
            first = rc;
    }
    return first;
}

static long find_owned(const klog_member_t *m, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < m->nowned; i++)
        if (m->owned[i].partition == partition && strcmp(m->owned[i].topic, topic) == 0)
            return (long)i;
    return -1;
}

/* Open a reader on a freshly claimed partition at its committed offset. */
static int start_partition(klog_member_t *m, owned_t *o)
{
    klog_partition_t *p;
    int rc = klog_partition(m->log, o->topic, o->partition, &p);
    if (rc)
        return rc;
    int64_t off;
    int have = m->ops->fetch(m->ops->ctx, m->group, o->topic, o->partition, &off);
    if (have != 0 && have != KLOG_ENOTFOUND)
        return have;
    int64_t reset = m->opt.reset == KLOG_RESET_LATEST ? KLOG_OFFSET_END : KLOG_OFFSET_BEGINNING;
    if (have == 0 && off < 0)
        have = KLOG_ENOTFOUND;
    rc = klog_reader_open(p, have == 0 ? off : reset, &o->r);
    if (rc == KLOG_EOFFSET && have == 0) {
        klog__log(&m->logger, KLOG_LOG_WARN,
                  "group %s: committed offset %lld of %s-%d not retained; resetting", m->group,
                  (long long)off, o->topic, o->partition);
        rc = klog_reader_open(p, reset, &o->r);
    }
    if (rc)
        return rc;
    o->position = klog_reader_position(o->r);
    o->committed = have == 0 ? off : -1;
    return 0;
}

static int claim_one(klog_member_t *m, const char *topic, int32_t partition)
{
    if (m->nowned == m->capowned) {
        size_t nc = m->capowned ? m->capowned * 2 : 8;
        owned_t *n = klog__realloc(m->owned, nc * sizeof *n);
        if (!n)
            return -ENOMEM;
        m->owned = n;
        m->capowned = nc;
    }
    int rc = m->ops->claim(m->ops->ctx, m->group, topic, partition, m->id);
    if (rc)
        return rc;
    owned_t *o = &m->owned[m->nowned];
    memset(o, 0, sizeof *o);
    o->topic = klog__strdup(topic);
    o->partition = partition;
    o->position = -1;
    o->committed = -1;
    if (!o->topic) {
        m->ops->release(m->ops->ctx, m->group, topic, partition, m->id);
        return -ENOMEM;
    }
    m->nowned++;
    rc = start_partition(m, o);
    emit(m, o, 1, o->position);
    if (rc) {
        klog__log(&m->logger, KLOG_LOG_ERROR, "group %s: cannot start %s-%d: %s", m->group, topic,
                  partition, klog_strerror(rc));
        drop_owned(m, m->nowned - 1);
    }
    return rc;
}

/* ------------------------------------------------------------- rebalance */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void backoff(klog_member_t *m)
{
    if (m->attempt < 16)
        m->attempt++;
    int steps = m->attempt < 8 ? m->attempt : 8;
    int64_t base = (int64_t)m->opt.backoff_ms * 1000000 * steps;
    int64_t jitter = (int64_t)(rng_next(m) % (uint64_t)(base + 1));
    m->retry_at_ns = klog__mono_ns() + base / 2 + jitter;
    m->settled = 0;
}

static int rebalance(klog_member_t *m)
{
    const klog_registry_ops_t *ops = m->ops;
    uint64_t counter;
    int rc = ops->changes(ops->ctx, m->group, &counter);
    if (rc)
        return rc;
    klog__gview_t *gv = NULL;
    klog_assignment_t out = {0};
    klog_assign_input_t in;
    rc = klog__gview_read(ops, m->group, m->id, m->topics_csv,
                          m->opt.strategy == KLOG_ASSIGN_STICKY, &m->logger, &gv, &in);
    if (rc)
        goto out;
    rc = klog_assign(m->opt.strategy, &in, &out);
    if (rc)
        goto out;

    /* Release what is no longer ours (committing first). */
    for (size_t i = 0; i < m->nowned;) {
        int keep = 0;
        for (size_t e = 0; e < out.count && !keep; e++)
            keep = out.entries[e].member && strcmp(out.entries[e].member, m->id) == 0 &&
                   out.entries[e].partition == m->owned[i].partition &&
                   strcmp(out.entries[e].topic, m->owned[i].topic) == 0;
        if (keep) {
            i++;
            continue;
        }
        rc = drop_owned(m, i);
        if (rc)
            goto out;
    }
    /* Claim what is ours. Partitions kept are claimed again too: the call
     * is idempotent for the holder, and it catches a claim lost with a
     * registry session (an expired ZooKeeper session) that someone else
     * took meanwhile. */
    for (size_t e = 0; e < out.count; e++) {
        const klog_assignment_entry_t *en = &out.entries[e];
        if (!en->member || strcmp(en->member, m->id) != 0)
            continue;
        if (find_owned(m, en->topic, en->partition) >= 0)
            rc = ops->claim(ops->ctx, m->group, en->topic, en->partition, m->id);
        else
            rc = claim_one(m, en->topic, en->partition);
        if (rc == KLOG_ECLAIMED) {
            klog__log(&m->logger, KLOG_LOG_DEBUG,
                      "group %s: %s-%d still owned elsewhere; releasing all, backing off",
                      m->group, en->topic, en->partition);
            rc = release_all(m);
            backoff(m);
            goto out;
        }
        if (rc)
            goto out;
    }
    m->seen = counter;
    m->settled = 1;
    m->attempt = 0;
out:
    if (rc && rc != KLOG_ECLAIMED)
        backoff(m); /* a failed attempt is retried on a later poll */
    klog_assignment_free(&out);
    klog__gview_free(gv);
    return rc;
}

/* ------------------------------------------------------------------ API */

static int publish_topic(klog_member_t *m, const char *name)
{
    klog_topic_t *t;
    int rc = klog_topic_get(m->log, name, &t);
    if (rc)
        return rc;
    int32_t n = klog_topic_partition_count(t), have = -1;
    rc = m->ops->topic_partitions(m->ops->ctx, name, &have);
    if (rc == 0 && have == n)
        return 0;
    if (rc != 0 && rc != KLOG_ENOTFOUND)
        return rc;
    if (rc == 0 && have > n) /* another writer's log has more: keep theirs */
        return 0;
    return m->ops->topic_publish(m->ops->ctx, name, n);
}

static char *default_id(uint64_t r)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            *p = '_';
    return klog__asprintf("%s-%ld-%08llx", host, (long)getpid(),
                          (unsigned long long)(r & 0xffffffffu));
}

int klog_member_new(klog_t *log, klog_registry_t *registry, const char *group,
                    const char *const *topics, const klog_member_opts_t *opts,
                    klog_member_t **out)
{
    if (!log || !registry || !group || !topics || !topics[0] || !out)
        return -EINVAL;
    if (!klog__group_name_valid(group))
        return KLOG_EBADNAME;
    klog_member_opts_t o = {0};
    if (opts) {
        if (opts->size == 0 || opts->size > sizeof o)
            return KLOG_ECONFIG;
        memcpy(&o, opts, opts->size);
    }
    o.size = sizeof o;
    if (o.strategy < KLOG_ASSIGN_RANGE || o.strategy > KLOG_ASSIGN_STICKY ||
        (o.reset != KLOG_RESET_EARLIEST && o.reset != KLOG_RESET_LATEST) ||
        o.auto_commit_ms < -1 || o.backoff_ms < 0 || o.check_ms < 0)
        return KLOG_ECONFIG;
    if (o.auto_commit_ms == 0)
        o.auto_commit_ms = 5000;
    if (o.backoff_ms == 0)
        o.backoff_ms = 20;
    if (o.check_ms == 0)
        o.check_ms = 10;
    if (o.member_id && !klog__group_name_valid(o.member_id))
        return KLOG_EBADNAME;

    klog_member_t *m = klog__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    int rc = -ENOMEM;
    m->log = log;
    m->reg = registry;
    m->ops = klog_registry_ops(registry);
    m->opt = o;
    m->logger.fn = o.log;
    m->logger.ctx = o.log_ctx;
    m->rng = (uint64_t)klog__mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)m;
    if (m->rng == 0)
        m->rng = 1;
    rng_next(m);
    m->group = klog__strdup(group);
    m->id = o.member_id ? klog__strdup(o.member_id) : default_id(rng_next(m));
    m->opt.member_id = NULL;
    size_t n = 0;
    while (topics[n])
        n++;
    m->topics = klog__calloc(n + 1, sizeof *m->topics);
    if (!m->group || !m->id || !m->topics)
        goto fail;
    size_t csvlen = 1;
    for (size_t i = 0; i < n; i++) {
        if (!klog_topic_name_valid(topics[i])) {
            rc = KLOG_EBADNAME;
            goto fail;
        }
        int dup = 0;
        for (size_t j = 0; j < m->ntopics; j++)
            dup |= strcmp(m->topics[j], topics[i]) == 0;
        if (dup)
            continue;
        if (!(m->topics[m->ntopics] = klog__strdup(topics[i])))
            goto fail;
        m->ntopics++;
        csvlen += strlen(topics[i]) + 1;
    }
    qsort(m->topics, m->ntopics, sizeof *m->topics, cmp_str);
    if (!(m->topics_csv = klog__malloc(csvlen)))
        goto fail;
    m->topics_csv[0] = 0;
    for (size_t i = 0; i < m->ntopics; i++) {
        if (i)
            strcat(m->topics_csv, ",");
        strcat(m->topics_csv, m->topics[i]);
    }
    for (size_t i = 0; i < m->ntopics; i++)
        if ((rc = publish_topic(m, m->topics[i])) != 0)
            goto fail;
    rc = m->ops->member_register(m->ops->ctx, m->group, m->id, m->topics_csv);
    if (rc)
        goto fail;
    m->settled = 0;
    m->next_commit_ns = klog__mono_ns() + (int64_t)o.auto_commit_ms * 1000000;
    *out = m;
    return 0;
fail:
    for (size_t i = 0; m->topics && i < m->ntopics; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->topics_csv);
    free(m->group);
    free(m->id);
    free(m);
    return rc;
}

const char *klog_member_id(const klog_member_t *m)
{
    return m ? m->id : NULL;
}

int klog_member_commit(klog_member_t *m)
{
    if (!m)
        return -EINVAL;
    int first = 0;
    for (size_t i = 0; i < m->nowned; i++) {
        int rc = commit_one(m, &m->owned[i]);
        if (rc && !first)
            first = rc;
    }
    return first;
}

int klog_member_assignment(klog_member_t *m, klog_assignment_entry_t *out, size_t cap)
{
    if (!m || (cap && !out))
        return -EINVAL;
    for (size_t i = 0; i < m->nowned && i < cap; i++) {
        out[i].topic = m->owned[i].topic;
        out[i].partition = m->owned[i].partition;
        out[i].member = m->id;
    }
    return (int)m->nowned;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    nanosleep(&ts, NULL);
}

int klog_member_poll(klog_member_t *m, klog_member_record_t *out, int timeout_ms)
{
    if (!m || !out)
        return -EINVAL;
    int64_t start = klog__mono_ns();
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t)timeout_ms * 1000000;
    for (;;) {
        int64_t now = klog__mono_ns();
        uint64_t counter = m->seen;
        /* Asking the registry can cost a directory walk or a round trip:
         * while records flow, ask at most once per check interval. */
        int rc = 0;
        if (!m->settled || now >= m->next_check_ns) {
            rc = m->ops->changes(m->ops->ctx, m->group, &counter);
            if (rc)
                return rc;
            m->next_check_ns = now + (int64_t)m->opt.check_ms * 1000000;
        }
        if ((!m->settled || counter != m->seen) && now >= m->retry_at_ns) {
            rc = rebalance(m);
            if (rc && rc != KLOG_ECLAIMED)
                return rc;
        }
        if (m->opt.auto_commit_ms > 0 && now >= m->next_commit_ns) {
            klog_member_commit(m); /* failures are logged; retried next time */
            m->next_commit_ns = now + (int64_t)m->opt.auto_commit_ms * 1000000;
        }
        for (size_t i = 0; i < m->nowned; i++) {
            size_t idx = (m->rr + i) % m->nowned;
            owned_t *o = &m->owned[idx];
            rc = klog_reader_next(o->r, &out->rec);
            if (rc == 1) {
                o->position = out->rec.offset + 1;
                out->topic = o->topic;
                out->partition = o->partition;
                m->rr = (idx + 1) % m->nowned;
                return 1;
            }
            if (rc < 0)
                return rc;
        }
        now = klog__mono_ns();
        if (now >= deadline)
            return 0;
        int64_t nap = (int64_t)m->opt.check_ms * 1000000;
        if (deadline - now < nap)
            nap = deadline - now;
        if (!m->settled && m->retry_at_ns > now && m->retry_at_ns - now < nap)
            nap = m->retry_at_ns - now;
        if (m->ops->wait && m->settled) {
            int wrc = m->ops->wait(m->ops->ctx, m->group, m->seen, (int)((nap + 999999) / 1000000));
            if (wrc < 0)
                sleep_ns(nap);
        } else {
            sleep_ns(nap);
        }
    }
}

int klog_member_close(klog_member_t *m)
{
    if (!m)
        return 0;
    int rc = release_all(m);
    int rc2 = m->ops->member_unregister(m->ops->ctx, m->group, m->id);
    if (rc2 == KLOG_ENOTFOUND)
        rc2 = 0;
    if (!rc)
        rc = rc2;
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->topics_csv);
    free(m->owned);
    free(m->group);
    free(m->id);
    free(m);
    return rc;
}
