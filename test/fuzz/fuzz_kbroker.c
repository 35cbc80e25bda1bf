/*
 * fuzz_kbroker.c — libFuzzer target for kbroker's request path (the example
 * broker in examples/kbroker): framing, the request header and every API's
 * request decoder and handler (ApiVersions, Metadata, Produce, Fetch,
 * ListOffsets, and the group coordinator's), without sockets.
 *
 * The broker's sources are compiled into this file (the replay rule builds
 * one target file against libklog.a), so the static framing and header
 * functions of net.c are driven directly. Each process opens one log under
 * /dev/shm (or $TMPDIR) holding topics "t" (2 partitions, plain records)
 * and "u" (1 partition, LZ4), both with a few batches, and a broker around
 * it with auto-creation on.
 *
 * Input: when its first byte is 0 (as it is for any captured connection:
 * request sizes are below 16 MiB), the whole input is a client's byte
 * stream of size-prefixed requests, fed through process_frames() like
 * received bytes; otherwise the bytes after the first are one request
 * frame (header and body) for handle_frame(). Each response built must be
 * exactly as long as its size prefix says. After each input the state is
 * put back: responses and parked Fetches freed, topics the input created
 * deleted, produced records truncated away, so runs are deterministic.
 *
 * Corpus: test/fuzz/corpus/fuzz_kbroker/ (captured kcat sessions and
 * hand-built requests; see make_corpus_fuzz_kbroker.py).
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../examples/kbroker/wire.c"
/* handlers.c and net.c each have a static be32(): one unit needs two names. */
#define be32 kb_handlers_be32
#include "../../examples/kbroker/handlers.c"
#undef be32
#include "../../examples/kbroker/produce.c"
#include "../../examples/kbroker/flush.c"
#include "../../examples/kbroker/fetch.c"
#include "../../examples/kbroker/net.c"
#include "../../examples/kbroker/listen.c"
#include "../../examples/kbroker/metrics.c"
#include "../../examples/kbroker/group.c"
#include "../../examples/kbroker/group_member.c"
#include "../../examples/kbroker/group_offsets.c"
#include "../../examples/kbroker/group_commit.c"
#include "../../examples/kbroker/group_api.c"
#include "../../examples/kbroker/group_fetch.c"
#include "../../examples/kbroker/cgroup.c"
#include "../../examples/kbroker/cgroup_target.c"
#include "../../examples/kbroker/cgroup_api.c"
#include "../../examples/kbroker/admin.c"
#include "../../examples/kbroker/pid.c"
#include "../../examples/kbroker/txn.c"
#include "../../examples/kbroker/txn_state.c"
#include "../../examples/kbroker/topic_ids.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kb_broker fzk_broker;
static char fzk_root[256];
static const char *const fzk_topics[] = {"t", "u"};
#define FZK_NTOPICS 2
static int64_t fzk_end[FZK_NTOPICS][2]; /* log end of each base partition */
static int64_t fzk_conf[FZK_NTOPICS][KLOG_CONF_COMPRESSION + 1]; /* their topic configs */

static void fzk_quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (getenv("KLOG_FUZZ_VERBOSE"))
        fprintf(stderr, "klog[%d]: %s\n", level, msg);
}

static int fzk_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void fzk_cleanup(void)
{
    if (fzk_broker.log && klog_close(fzk_broker.log) == 0)
        fzk_broker.log = NULL;
    if (fzk_broker.ep >= 0)
        close(fzk_broker.ep);
    if (fzk_root[0])
        nftw(fzk_root, fzk_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A few batches per base partition: timestamps spread so that ListOffsets
 * by time finds something, values long enough for Fetch budgets to matter. */
static void fzk_fill(void)
{
    klog_t *log = fzk_broker.log;
    for (int t = 0; t < FZK_NTOPICS; t++) {
        klog_config_t *cfg;
        if (klog_config_new(&cfg))
            abort();
        klog_config_set(cfg, KLOG_CONF_SEGMENT_BYTES, 2048);
        if (t == 1 && klog_compression_supported(KLOG_COMPRESSION_LZ4))
            klog_config_set(cfg, KLOG_CONF_COMPRESSION, KLOG_COMPRESSION_LZ4);
        if (klog_topic_create(log, fzk_topics[t], t == 0 ? 2 : 1, cfg))
            abort();
        klog_config_free(cfg);
        for (int32_t p = 0; p < (t == 0 ? 2 : 1); p++) {
            klog_partition_t *part;
            if (klog_partition(log, fzk_topics[t], p, &part))
                abort();
            for (int b = 0; b < 6; b++) {
                klog_record_t recs[4];
                char vals[4][120], keys[4][16];
                for (int i = 0; i < 4; i++) {
                    int off = b * 4 + i;
                    memset(&recs[i], 0, sizeof recs[i]);
                    recs[i].key_len = snprintf(keys[i], sizeof keys[i], "k%d", off);
                    recs[i].key = keys[i];
                    int n = snprintf(vals[i], sizeof vals[i], "value %d of %s/%d ", off,
                                     fzk_topics[t], (int)p);
                    memset(vals[i] + n, 'a' + off % 26, sizeof vals[i] - (size_t)n);
                    recs[i].value = vals[i];
                    recs[i].value_len = (int32_t)sizeof vals[i];
                    recs[i].timestamp = 1700000000000LL + off * 1000;
                }
                if (klog_append(part, recs, 4, NULL))
                    abort();
            }
            klog_offsets_t of;
            if (klog_partition_offsets(part, &of))
                abort();
            fzk_end[t][p] = of.log_end;
        }
        klog_topic_t *tp;
        if (klog_topic_get(log, fzk_topics[t], &tp))
            abort();
        for (int k = KLOG_CONF_SEGMENT_BYTES; k <= KLOG_CONF_COMPRESSION; k++)
            if (klog_topic_config(tp, k, &fzk_conf[t][k]))
                abort();
    }
}

static void fzk_init(void)
{
    struct kb_broker *b = &fzk_broker;
    if (b->log)
        return;
    b->ep = b->lfd = b->sfd = b->spare_fd = -1;
    strcpy(b->cfg.host, "127.0.0.1");
    b->cfg.port = 9092;
    b->cfg.partitions = 2;
    b->cfg.auto_create = 1;
    b->cfg.create_per_request = 16;
    b->cfg.create_max_topics = 10000;
    b->cfg.flush_messages = b->cfg.flush_ms = -1;
    b->cfg.max_request = 1u << 20;
    b->cfg.verbose = getenv("KLOG_FUZZ_VERBOSE") != NULL;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : getenv("TMPDIR")                                           ? getenv("TMPDIR")
                                                                                    : "/tmp";
    snprintf(fzk_root, sizeof fzk_root, "%s/klog-fuzzkb-%ld-XXXXXX", base, (long)getpid());
    if (!mkdtemp(fzk_root))
        abort();
    b->cfg.dir = fzk_root;
    klog_config_t *cfg;
    if (klog_config_new(&cfg))
        abort();
    klog_config_set(cfg, KLOG_CONF_CHECKPOINT_MS, 3600000);
    klog_config_set(cfg, KLOG_CONF_RETENTION_CHECK_MS, 0);
    klog_config_set(cfg, KLOG_CONF_INDEX_MAX_BYTES, 4096);
    klog_config_set_logger(cfg, fzk_quiet, NULL);
    int rc = klog_open(fzk_root, cfg, 0, &b->log);
    klog_config_free(cfg);
    if (rc)
        abort();
    b->ep = epoll_create1(EPOLL_CLOEXEC); /* parked Fetches watch partitions */
    if (b->ep < 0)
        abort();
    fzk_fill();
    atexit(fzk_cleanup);
}

/* Check and free every queued response of c. */
static void fzk_drain(struct kb_broker *b, struct kb_conn *c)
{
    while (c->head) {
        struct kb_resp *r = c->head;
        c->head = r->next;
        if (r->ready) {
            /* The size prefix covers the buffer after it plus the leases. */
            uint64_t total = r->buf.len;
            for (size_t i = 0; i < r->npieces; i++)
                total += klog_lease_bytes(r->pieces[i].lease);
            if (r->buf.len < 8 || be32(r->buf.p) != total - 4)
                abort();
        }
        resp_free(b, r);
    }
    c->tail = NULL;
    c->nresp = 0;
}

/* Put the log back as fzk_fill left it. */
static void fzk_restore(struct kb_broker *b)
{
    if (b->parked)
        abort(); /* every parked Fetch belongs to a response freed above */
    /* Groups and committed offsets go too (before __consumer_offsets is
     * deleted below); parked group responses were freed with c's queue. */
    kb_groups_free_all(b);
    kb_txn_free_all(b); /* its __transaction_state handle goes with the topic */
    char **names = NULL;
    int n = klog_topic_list(b->log, &names);
    if (n < 0)
        abort();
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], "t") != 0 && strcmp(names[i], "u") != 0 &&
            klog_topic_delete(b->log, names[i]))
            abort();
    free(names);
    /* Admin requests may have deleted, grown, trimmed (DeleteRecords) or
     * reconfigured a base topic: then both are made again. */
    int rebuild = 0;
    for (int t = 0; t < FZK_NTOPICS && !rebuild; t++) {
        klog_topic_t *tp;
        if (klog_topic_get(b->log, fzk_topics[t], &tp) ||
            klog_topic_partition_count(tp) != (t == 0 ? 2 : 1)) {
            rebuild = 1;
            break;
        }
        for (int k = KLOG_CONF_SEGMENT_BYTES; k <= KLOG_CONF_COMPRESSION && !rebuild; k++) {
            int64_t val;
            if (klog_topic_config(tp, k, &val) || val != fzk_conf[t][k])
                rebuild = 1;
        }
        for (int32_t p = 0; p < (t == 0 ? 2 : 1) && !rebuild; p++) {
            klog_partition_t *part;
            klog_offsets_t of;
            if (klog_partition(b->log, fzk_topics[t], p, &part) ||
                klog_partition_offsets(part, &of) || of.log_start != 0)
                rebuild = 1;
        }
    }
    if (rebuild) {
        for (int t = 0; t < FZK_NTOPICS; t++) {
            int rc = klog_topic_delete(b->log, fzk_topics[t]);
            if (rc && rc != KLOG_ENOTOPIC)
                abort();
        }
        fzk_fill();
        return;
    }
    for (int t = 0; t < FZK_NTOPICS; t++)
        for (int32_t p = 0; p < (t == 0 ? 2 : 1); p++) {
            klog_partition_t *part;
            klog_offsets_t of;
            if (klog_partition(b->log, fzk_topics[t], p, &part) ||
                klog_partition_offsets(part, &of))
                abort();
            if (of.log_end != fzk_end[t][p] && klog_truncate(part, fzk_end[t][p]))
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fzk_init();
    struct kb_broker *b = &fzk_broker;
    struct kb_conn c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.id = 1;
    if (size > 0 && data[0] == 0) {
        /* A connection's byte stream. */
        c.in = malloc(size);
        if (!c.in)
            return 0;
        memcpy(c.in, data, size);
        c.in_len = c.in_cap = size;
        for (int rounds = 0; rounds < 10000; rounds++) {
            int rc = process_frames(b, &c);
            fzk_drain(b, &c);
            int yielded = c.yielded; /* created topics: the loop's next turn */
            c.yielded = 0;
            b->nyielded = 0;
            if (rc < 0 || (rc == 0 && !yielded))
                break;
        }
        free(c.in);
    } else if (size > 0) {
        /* One request frame, as handle_frame receives it (an exact-size
         * copy, so reading past the frame is caught). */
        uint8_t *frame = malloc(size - 1 ? size - 1 : 1);
        if (!frame)
            return 0;
        memcpy(frame, data + 1, size - 1);
        int rc = handle_frame(b, &c, frame, size - 1);
        if (rc != 0 && rc != -1)
            abort();
        fzk_drain(b, &c);
        b->nyielded = 0;
        free(frame);
    }
    fzk_restore(b);
    return 0;
}
