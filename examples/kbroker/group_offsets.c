/*
 * group_offsets.c — committed offsets: OffsetCommit, OffsetDelete, and
 * their storage (OffsetFetch reads them in group_fetch.c).
 *
 * Storage is Kafka's own: the topic __consumer_offsets (one partition,
 * retention.ms and retention.bytes -1, set on whatever topic of that name
 * exists, so that retention never drops a commit), written with
 * klog_append and fsynced with klog_flush (on the flush thread,
 * group_commit.c) before OffsetCommit is answered and the offset is shown
 * to OffsetFetch, so a commit that was acknowledged survives kill -9 of the
 * broker and a power cut. Records use Kafka's schemas, so Kafka's tools can read them:
 *   key   v1: version i16 = 1 | group STR | topic STR | partition i32
 *   value v3: version i16 = 3 | offset i64 | leader_epoch i32 | metadata STR
 *             | commit_timestamp i64
 *   a null value (tombstone) deletes the key (OffsetDelete, DeleteGroups).
 * At start the whole topic is replayed into memory (last record per key
 * wins; values v0-v3 are read, group metadata records, key v2, skipped).
 * libklog has no compaction yet, so the topic grows with every commit and
 * the replay is linear in it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"

struct kb_offset *kb_offset_find(struct kb_group *g, const char *topic, size_t tlen,
                                     int32_t partition)
{
    for (size_t i = 0; i < g->noffs; i++) {
        struct kb_offset *o = &g->offs[i];
        if (o->partition == partition && strlen(o->topic) == tlen &&
            memcmp(o->topic, topic, tlen) == 0)
            return o;
    }
    return NULL;
}

void kb_offset_drop(struct kb_group *g, struct kb_offset *o)
{
    free(o->topic);
    free(o->metadata);
    *o = g->offs[--g->noffs];
}

/* Set (or, with offset < 0, remove) one committed offset in memory. */
static int offset_set(struct kb_group *g, const char *topic, size_t tlen, int32_t partition,
                      int64_t offset, int32_t epoch, const char *meta, size_t mlen)
{
    struct kb_offset *o = kb_offset_find(g, topic, tlen, partition);
    if (offset < 0) {
        if (o)
            kb_offset_drop(g, o);
        return 0;
    }
    char *m = kb_strndup(meta ? meta : "", meta ? mlen : 0);
    if (!m)
        return -1;
    if (!o) {
        if (g->noffs >= KB_MAX_GROUP_OFFSETS)
            goto fail;
        if (g->noffs == g->offs_cap) {
            size_t cap = g->offs_cap ? g->offs_cap * 2 : 16;
            struct kb_offset *t = realloc(g->offs, cap * sizeof *t);
            if (!t)
                goto fail;
            g->offs = t;
            g->offs_cap = cap;
        }
        o = &g->offs[g->noffs];
        o->topic = kb_strndup(topic, tlen);
        if (!o->topic)
            goto fail;
        o->partition = partition;
        o->metadata = NULL;
        g->noffs++;
    }
    free(o->metadata);
    o->metadata = m;
    o->offset = offset;
    o->leader_epoch = epoch;
    return 0;
fail:
    free(m);
    return -1;
}

/* ------------------------------------------------------------ storage */

size_t kb_offsets_put_key(kb_wbuf_t *w, const char *group, size_t glen, const char *topic,
                      size_t tlen, int32_t partition)
{
    size_t at = w->len;
    kb_put_i16(w, 1);
    kb_put_str(w, group, glen);
    kb_put_str(w, topic, tlen);
    kb_put_i32(w, partition);
    return at;
}

size_t kb_offsets_put_record(kb_wbuf_t *w, const char *group, size_t glen, const char *topic,
                             size_t tlen, int32_t partition, int64_t offset, int32_t epoch,
                             const char *meta, size_t mlen, int64_t now, size_t *val_at)
{
    size_t at = kb_offsets_put_key(w, group, glen, topic, tlen, partition);
    *val_at = w->len;
    kb_put_i16(w, 3);
    kb_put_i64(w, offset);
    kb_put_i32(w, epoch);
    kb_put_str(w, meta ? meta : "", meta ? mlen : 0);
    kb_put_i64(w, now);
    return at;
}

int kb_offsets_apply(struct kb_broker *b, const char *group, const char *topic,
                     int32_t partition, int64_t offset, int32_t epoch, const char *meta)
{
    struct kb_group *g = kb_group_find(b, group, strlen(group), 1);
    if (!g)
        return -1;
    return offset_set(g, topic, strlen(topic), partition, offset, epoch, meta,
                      meta ? strlen(meta) : 0);
}

void kb_offsets_replay_one(struct kb_broker *b, const klog_record_t *rec, int64_t pend_pid,
                           int16_t pend_epoch)
{
    kb_rd_t k;
    kb_rd_init(&k, rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0);
    int16_t kv = kb_rd_i16(&k);
    if (k.err || (kv != 0 && kv != 1))
        return; /* group metadata (v2) or not ours */
    const char *group, *topic;
    int16_t glen, tlen;
    kb_rd_str(&k, &group, &glen);
    kb_rd_str(&k, &topic, &tlen);
    int32_t partition = kb_rd_i32(&k);
    if (k.err || glen <= 0 || tlen <= 0)
        return;
    struct kb_group *g = kb_group_find(b, group, (size_t)glen, rec->value_len >= 0);
    if (!g)
        return;
    if (rec->value_len < 0) {
        offset_set(g, topic, (size_t)tlen, partition, -1, -1, NULL, 0);
        return;
    }
    kb_rd_t v;
    kb_rd_init(&v, rec->value, (size_t)rec->value_len);
    int16_t vv = kb_rd_i16(&v);
    int64_t offset = kb_rd_i64(&v);
    int32_t epoch = vv >= 3 ? kb_rd_i32(&v) : -1;
    const char *meta;
    int16_t mlen;
    kb_rd_str(&v, &meta, &mlen);
    if (v.err || vv < 0 || vv > 3 || offset < 0)
        return;
    size_t ml = mlen > 0 ? (size_t)mlen : 0;
    if (pend_pid >= 0)
        kb_txn_pend_replayed(b, pend_pid, pend_epoch, group, (size_t)glen, topic, (size_t)tlen,
                             partition, offset, epoch, meta, ml);
    else
        offset_set(g, topic, (size_t)tlen, partition, offset, epoch, meta, ml);
}

/* Kafka's internal topics are compacted and never deleted by time or
 * size: whoever created the topic (a client may have, through
 * auto-creation), its configuration is made so. The latest record of each
 * key (a group's offset, a transactional id's state) is what replay
 * needs, and libklog's cleaner keeps exactly that. */
int kb_topic_internal(struct kb_broker *b, const char *topic)
{
    klog_topic_t *t;
    int64_t ms = 0, bytes = 0, policy = 0;
    int rc = klog_topic_get(b->log, topic, &t);
    if (rc)
        return rc;
    klog_topic_config(t, KLOG_CONF_RETENTION_MS, &ms);
    klog_topic_config(t, KLOG_CONF_RETENTION_BYTES, &bytes);
    klog_topic_config(t, KLOG_CONF_CLEANUP_POLICY, &policy);
    if (ms == -1 && bytes == -1 && policy == KLOG_CLEANUP_COMPACT)
        return 0;
    klog_config_t *cfg;
    rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    rc = klog_config_set(cfg, KLOG_CONF_RETENTION_MS, -1);
    if (!rc)
        rc = klog_config_set(cfg, KLOG_CONF_RETENTION_BYTES, -1);
    if (!rc)
        rc = klog_config_set(cfg, KLOG_CONF_CLEANUP_POLICY, KLOG_CLEANUP_COMPACT);
    if (!rc)
        rc = klog_topic_alter_config(b->log, topic, cfg, NULL, 0);
    klog_config_free(cfg);
    return rc;
}

int kb_offsets_open(struct kb_broker *b, int create)
{
    struct kb_groups *gs = kb_groups(b);
    if (!gs)
        return -ENOMEM;
    if (gs->offsets)
        return 0;
    klog_partition_t *p;
    int rc = klog_partition(b->log, KB_OFFSETS_TOPIC, 0, &p);
    if (rc == KLOG_ENOTOPIC && create) {
        rc = klog_topic_create(b->log, KB_OFFSETS_TOPIC, 1, NULL);
        if (rc && rc != KLOG_ETOPICEXISTS)
            return rc;
        rc = klog_partition(b->log, KB_OFFSETS_TOPIC, 0, &p);
        if (rc)
            return rc;
    } else if (rc) {
        return rc == KLOG_ENOTOPIC ? 0 : rc;
    }
    rc = kb_topic_internal(b, KB_OFFSETS_TOPIC);
    if (rc)
        return rc;
    klog_offsets_t o;
    rc = klog_partition_offsets(p, &o);
    if (rc)
        return rc;
    /* Two passes: every batch (aborted ones too) for the sequences of the
     * transaction coordinator's batches, then the committed records up to
     * the last stable offset; past it, transactions left open (kept by
     * kb_txn_load) get their offsets back as pending (group_commit.c). */
    int64_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        klog_reader_t *rd;
        rc = klog_reader_open(p, o.log_start, &rd);
        if (!rc && pass == 1)
            rc = klog_reader_set_isolation(rd, KLOG_ISOLATION_READ_COMMITTED);
        if (rc) {
            klog_reader_close(rd);
            return rc;
        }
        klog_record_t rec;
        int64_t last_base = -1;
        while ((rc = klog_reader_next(rd, &rec)) == 1) {
            if (rec.offset >= o.high_watermark)
                break;
            const klog_batch_info_t *bi = klog_reader_batch_info(rd);
            if (pass == 0) {
                if (bi && bi->producer_id >= 0 && bi->base_offset != last_base)
                    kb_txn_offsets_seen(b, bi->producer_id, bi->producer_epoch,
                                        (int64_t)bi->base_sequence + bi->record_count);
                last_base = bi ? bi->base_offset : -1;
                continue;
            }
            kb_offsets_replay_one(b, &rec, -1, -1);
            n++;
        }
        klog_reader_close(rd);
        if (rc < 0)
            return rc;
    }
    rc = kb_offsets_replay_unstable(b, p, o.high_watermark, &n);
    if (rc)
        return rc;
    if (n)
        kb_log(b, "replayed %lld records of %s", (long long)n, KB_OFFSETS_TOPIC);
    gs->offsets = p;
    return 0;
}

int kb_groups_load(struct kb_broker *b)
{
    return kb_offsets_open(b, 0);
}

int kb_offsets_store(struct kb_broker *b, const klog_record_t *recs, size_t n, int sync)
{
    if (n == 0)
        return 0;
    int rc = kb_offsets_open(b, 1);
    if (rc)
        return rc;
    rc = klog_append(b->groups->offsets, recs, n, NULL);
    if (!rc && sync)
        rc = klog_flush(b->groups->offsets);
    if (rc)
        kb_log(b, "%s: %s", KB_OFFSETS_TOPIC, klog_strerror(rc));
    return rc;
}

int64_t kb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ OffsetCommit */

struct commit_part {
    const char *topic;
    int16_t tlen;
    int32_t partition, epoch;
    int64_t offset;
    const char *meta;
    int16_t mlen;
    int16_t err;
    size_t key_at, val_at;
};

static int16_t commit_check(struct kb_broker *b, struct kb_group **gp, const char *gid,
                            int16_t glen, int32_t gen, const char *mid, int16_t mlen, int16_t v)
{
    if (glen <= 0)
        return KB_ERR_INVALID_GROUP_ID;
    struct kb_group *g = kb_group_find(b, gid, (size_t)glen, 1);
    if (!g)
        return KB_ERR_COORDINATOR_NOT_AVAILABLE;
    *gp = g;
    if (g->cg && !g->nmembers) /* consumer protocol: member epochs (cgroup_api.c) */
        return kb_cg_commit_check(g, v, gen, mid, mlen);
    if (gen < 0 && g->state == KB_G_EMPTY)
        return KB_ERR_NONE; /* a consumer that only stores offsets here */
    struct kb_member *m = NULL;
    for (size_t i = 0; mlen > 0 && i < g->nmembers; i++)
        if (strlen(g->members[i]->id) == (size_t)mlen && !memcmp(g->members[i]->id, mid, (size_t)mlen))
            m = g->members[i];
    if (!m || m->pending)
        return KB_ERR_UNKNOWN_MEMBER_ID;
    m->seen_ms = kb_now_ms();
    if (gen != g->generation)
        return KB_ERR_ILLEGAL_GENERATION;
    if (g->state == KB_G_COMPLETING)
        return KB_ERR_REBALANCE_IN_PROGRESS;
    return KB_ERR_NONE;
}

static int offset_commit(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *gid, *mid = NULL, *inst;
    int16_t glen, mlen = 0, ilen;
    int32_t gen = -1;
    kb_rd_string(r, flex, &gid, &glen);
    if (v >= 1) {
        gen = kb_rd_i32(r);
        kb_rd_string(r, flex, &mid, &mlen);
    }
    if (v >= 7)
        kb_rd_string(r, flex, &inst, &ilen);
    if (v >= 2 && v <= 4)
        (void)kb_rd_i64(r); /* retention_time_ms: offsets are kept until deleted */
    int32_t ntopics = kb_rd_array(r, flex, flex ? 3 : 6);
    if (r->err || ntopics < 0)
        return -1;
    /* Parse into parts[] (bounded by the request's own size). */
    size_t cap = (r->len - r->pos) / 12 + 1, np = 0;
    struct commit_part *parts = calloc(cap, sizeof *parts);
    int32_t *tcount = calloc((size_t)ntopics + 1, sizeof *tcount);
    if (!parts || !tcount) {
        free(parts);
        free(tcount);
        return -1;
    }
    for (int32_t i = 0; i < ntopics && !r->err; i++) {
        const char *t;
        int16_t tl;
        kb_rd_string(r, flex, &t, &tl);
        int32_t n = kb_rd_array(r, flex, 12);
        for (int32_t j = 0; j < n && !r->err && np < cap; j++, np++) {
            struct commit_part *cp = &parts[np];
            cp->topic = t;
            cp->tlen = tl;
            cp->partition = kb_rd_i32(r);
            cp->offset = kb_rd_i64(r);
            cp->epoch = v >= 6 ? kb_rd_i32(r) : -1;
            if (v == 1)
                (void)kb_rd_i64(r); /* commit_timestamp */
            kb_rd_string(r, flex, &cp->meta, &cp->mlen);
            kb_rd_tags_if(r, flex);
        }
        tcount[i] = n < 0 ? 0 : n;
        kb_rd_tags_if(r, flex);
    }
    kb_rd_tags_if(r, flex);
    int rc = -1;
    if (r->err)
        goto out;
    struct kb_group *g = NULL;
    int16_t gerr = commit_check(b, &g, gid, glen, gen, mid, mlen, v);
    if (gerr)
        kb_log(b, "OffsetCommit v%d (generation %d, %zu partitions): error %d", v, gen, np, gerr);
    kb_wbuf_t data = {0};
    klog_record_t *recs = calloc(np + 1, sizeof *recs);
    size_t nrec = 0;
    if (!recs)
        goto out;
    int64_t now = kb_wall_ms();
    for (size_t i = 0; i < np; i++) {
        struct commit_part *cp = &parts[i];
        cp->err = gerr;
        if (!cp->err && (cp->tlen <= 0 || !cp->topic))
            cp->err = KB_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (!cp->err && cp->mlen > KB_MAX_OFFSET_METADATA)
            cp->err = KB_ERR_OFFSET_METADATA_TOO_LARGE;
        if (!cp->err && cp->offset < 0)
            cp->err = KB_ERR_INVALID_REQUEST;
        if (cp->err)
            continue;
        cp->key_at = kb_offsets_put_record(&data, g->id, strlen(g->id), cp->topic,
                                           (size_t)cp->tlen, cp->partition, cp->offset,
                                           cp->epoch, cp->meta,
                                           cp->mlen > 0 ? (size_t)cp->mlen : 0, now, &cp->val_at);
        nrec++;
    }
    int16_t serr = data.oom ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_NONE;
    if (!serr) {
        size_t k = 0;
        for (size_t i = 0; i < np; i++) {
            struct commit_part *cp = &parts[i];
            if (cp->err)
                continue;
            size_t end = data.len;
            for (size_t j = i + 1; j < np; j++)
                if (!parts[j].err) {
                    end = parts[j].key_at;
                    break;
                }
            recs[k++] = (klog_record_t){.timestamp = now, .key = data.p + cp->key_at,
                                        .key_len = (int32_t)(cp->val_at - cp->key_at),
                                        .value = data.p + cp->val_at,
                                        .value_len = (int32_t)(end - cp->val_at)};
        }
        int src = kb_offsets_store(b, recs, nrec, 0);
        if (src)
            serr = kb_commit_error(src);
    }
    /* Applied to the group once fsynced (group_commit.c). */
    struct kb_commit *commit = nrec && !serr ? kb_commit_new(g->id, strlen(g->id)) : NULL;
    if (nrec && !serr && !commit)
        serr = KB_ERR_COORDINATOR_NOT_AVAILABLE;
    for (size_t i = 0; i < np; i++)
        if (!parts[i].err && serr)
            parts[i].err = serr;
    free(recs);
    kb_wbuf_free(&data);
    kb_wbuf_t *w = &q->resp->buf;
    if (v >= 3)
        kb_put_i32(w, 0);
    kb_put_array(w, flex, ntopics);
    for (int32_t i = 0, pi = 0; i < ntopics; i++) {
        const char *t = tcount[i] ? parts[pi].topic : "";
        int16_t tl = tcount[i] ? parts[pi].tlen : 0;
        kb_put_string(w, flex, t ? t : "", tl > 0 ? (size_t)tl : 0);
        kb_put_array(w, flex, tcount[i]);
        for (int32_t j = 0; j < tcount[i]; j++, pi++) {
            struct commit_part *cp = &parts[pi];
            kb_put_i32(w, cp->partition);
            if (!cp->err && commit &&
                kb_commit_add(commit, cp->topic, (size_t)cp->tlen, cp->partition, cp->offset,
                              cp->epoch, cp->meta, cp->mlen > 0 ? (size_t)cp->mlen : 0, w->len))
                w->oom = 1;
            kb_put_i16(w, cp->err);
            kb_put_tags(w, flex);
        }
        kb_put_tags(w, flex);
    }
    kb_put_tags(w, flex);
    rc = 0;
    if (commit && w->oom) {
        kb_commit_free(commit);
        rc = -1;
    } else if (commit) {
        rc = kb_commit_submit(b, q, commit);
    }
out:
    free(parts);
    free(tcount);
    return rc;
}

int kb_group_offsets_handle(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    switch (q->api_key) {
    case KB_API_OFFSET_COMMIT: return offset_commit(b, q, r);
    case KB_API_OFFSET_FETCH: return kb_offset_fetch(b, q, r);
    default: return kb_offset_delete(b, q, r);
    }
}
