/*
 * metrics.c — the optional Prometheus endpoint (--metrics-port): a second
 * listener on the broker's host whose HTTP connections live in the same
 * event loop. GET /metrics answers the text exposition format (version
 * 0.0.4) built from klog_stats(), klog_partition_stats() of every
 * partition and the broker's own counters (connections, requests by API,
 * groups); any other path gets 404, any other method 405. One request per
 * connection (Connection: close). At most KB_METRICS_CONNS connections at
 * once: a new one beyond that replaces the oldest, so stalled scrapers
 * cannot pile up.
 *
 * The statistics are read on the loop thread, the only one that deletes
 * topics, so the walk over partitions never meets a topic being deleted
 * (klog_stats()'s rule).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "group.h"

#define KB_METRICS_CONNS 16
#define KB_METRICS_IN 4096

struct kb_mconn {
    int fd;                 /* -1: free slot */
    uint64_t seq;           /* accept order */
    size_t in_len;
    char in[KB_METRICS_IN];
    char *out;
    size_t out_len, out_off;
};

struct kb_metrics {
    int lfd;
    uint64_t seq;
    struct kb_mconn c[KB_METRICS_CONNS];
};

/* ------------------------------------------------------------ text */

struct kb_text {
    char *p;
    size_t len, cap;
    int oom;
};

static void tx(struct kb_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tx(struct kb_text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 16384;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->oom = 1;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

static void metric(struct kb_text *t, const char *name, const char *type, const char *help,
                   int64_t v)
{
    tx(t, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, (long long)v);
}

static void metric_s(struct kb_text *t, const char *name, const char *type, const char *help,
                     int64_t ns)
{
    tx(t, "# HELP %s %s\n# TYPE %s %s\n%s %lld.%09lld\n", name, help, name, type, name,
       (long long)(ns / 1000000000), (long long)(ns % 1000000000));
}

static const struct {
    int16_t key;
    const char *name;
} metrics_api_names[] = {
    {KB_API_PRODUCE, "Produce"},
    {KB_API_FETCH, "Fetch"},
    {KB_API_LIST_OFFSETS, "ListOffsets"},
    {KB_API_METADATA, "Metadata"},
    {KB_API_OFFSET_COMMIT, "OffsetCommit"},
    {KB_API_OFFSET_FETCH, "OffsetFetch"},
    {KB_API_FIND_COORDINATOR, "FindCoordinator"},
    {KB_API_JOIN_GROUP, "JoinGroup"},
    {KB_API_HEARTBEAT, "Heartbeat"},
    {KB_API_LEAVE_GROUP, "LeaveGroup"},
    {KB_API_SYNC_GROUP, "SyncGroup"},
    {KB_API_DESCRIBE_GROUPS, "DescribeGroups"},
    {KB_API_LIST_GROUPS, "ListGroups"},
    {KB_API_API_VERSIONS, "ApiVersions"},
    {KB_API_CREATE_TOPICS, "CreateTopics"},
    {KB_API_DELETE_TOPICS, "DeleteTopics"},
    {KB_API_DELETE_RECORDS, "DeleteRecords"},
    {KB_API_DESCRIBE_CONFIGS, "DescribeConfigs"},
    {KB_API_ALTER_CONFIGS, "AlterConfigs"},
    {KB_API_CREATE_PARTITIONS, "CreatePartitions"},
    {KB_API_DELETE_GROUPS, "DeleteGroups"},
    {KB_API_INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs"},
    {KB_API_OFFSET_DELETE, "OffsetDelete"},
    {KB_API_DESCRIBE_CLUSTER, "DescribeCluster"},
    {KB_API_INIT_PRODUCER_ID, "InitProducerId"},
    {KB_API_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn"},
    {KB_API_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn"},
    {KB_API_END_TXN, "EndTxn"},
    {KB_API_TXN_OFFSET_COMMIT, "TxnOffsetCommit"},
};

/* One family of per-partition values: HELP/TYPE once, a sample per
 * partition. field picks the value. */
enum pfield { PF_APPENDS, PF_BYTES, PF_RECORDS, PF_FSYNCS, PF_FSYNC_NS, PF_ROLLS, PF_LEASES,
              PF_LOG_START, PF_LOG_END, PF_HW, PF_SEGMENTS, PF_SIZE, PF_N };
static const struct {
    const char *name, *type, *help;
} pfam[PF_N] = {
    {"klog_partition_appends_total", "counter", "Writes appended to the partition."},
    {"klog_partition_append_bytes_total", "counter", "Bytes appended to the partition."},
    {"klog_partition_append_records_total", "counter", "Records appended to the partition."},
    {"klog_partition_fsyncs_total", "counter", "Data fsync rounds of the partition."},
    {"klog_partition_fsync_seconds_total", "counter", "Time in the partition's fsync rounds."},
    {"klog_partition_rolls_total", "counter", "New active segments of the partition."},
    {"klog_partition_leases", "gauge", "Leases held on the partition."},
    {"klog_partition_log_start_offset", "gauge", "First retained offset."},
    {"klog_partition_log_end_offset", "gauge", "Next offset to be assigned."},
    {"klog_partition_high_watermark", "gauge", "First offset not yet visible to consumers."},
    {"klog_partition_segments", "gauge", "Segments of the partition."},
    {"klog_partition_bytes", "gauge", "Bytes of the partition's log data."},
};

static void partition_family(struct kb_broker *b, struct kb_text *t, enum pfield f, char **names,
                             int n)
{
    tx(t, "# HELP %s %s\n# TYPE %s %s\n", pfam[f].name, pfam[f].help, pfam[f].name, pfam[f].type);
    for (int i = 0; i < n; i++) {
        klog_topic_t *tp;
        if (klog_topic_get(b->log, names[i], &tp))
            continue;
        int32_t np = klog_topic_partition_count(tp);
        for (int32_t j = 0; j < np; j++) {
            klog_partition_t *p;
            klog_partition_stats_t s;
            if (klog_partition_get(tp, j, &p) || klog_partition_stats(p, &s))
                continue;
            int64_t v[PF_N] = {s.appends, s.append_bytes, s.append_records, s.fsyncs, s.fsync_ns,
                               s.rolls, s.leases, s.log_start, s.log_end, s.high_watermark,
                               s.segments, s.bytes};
            tx(t, "%s{topic=\"%s\",partition=\"%d\"} ", pfam[f].name, names[i], j);
            if (f == PF_FSYNC_NS)
                tx(t, "%lld.%09lld\n", (long long)(v[f] / 1000000000),
                   (long long)(v[f] % 1000000000));
            else
                tx(t, "%lld\n", (long long)v[f]);
        }
    }
}

static int metrics_build(struct kb_broker *b, struct kb_text *t)
{
    klog_stats_t s;
    int rc = klog_stats(b->log, &s);
    if (rc)
        return rc;
    metric(t, "klog_topics", "gauge", "Topics in the log.", s.topics);
    metric(t, "klog_partitions", "gauge", "Partitions in the log.", s.partitions);
    metric(t, "klog_appends_total", "counter", "Writes appended (one per produced batch).",
           s.appends);
    metric(t, "klog_append_bytes_total", "counter", "Bytes appended.", s.append_bytes);
    metric(t, "klog_append_records_total", "counter", "Records appended.", s.append_records);
    metric(t, "klog_fsyncs_total", "counter", "Data fsync rounds (acks=all, flush policy).",
           s.fsyncs);
    metric_s(t, "klog_fsync_seconds_total", "counter", "Time spent in data fsync rounds.",
             s.fsync_ns);
    metric_s(t, "klog_fsync_max_seconds", "gauge", "The longest data fsync round.",
             s.fsync_max_ns);
    metric(t, "klog_rolls_total", "counter", "New active segments.", s.rolls);
    metric(t, "klog_leases", "gauge", "Zero-copy leases held (Fetch responses in flight).",
           s.leases);
    metric(t, "klog_leases_total", "counter", "Zero-copy leases acquired.", s.leases_total);
    metric(t, "klog_readers", "gauge", "Readers and leases open.", s.readers);
    metric(t, "klog_segments", "gauge", "Segments in the log.", s.segments);
    metric(t, "klog_bytes", "gauge", "Bytes of log data.", s.bytes);
    metric(t, "klog_open_files", "gauge", "Descriptors held by the descriptor cache.",
           s.open_files);
    metric(t, "klog_recovered_segments_total", "counter", "Segments scanned by recovery.",
           s.recovered_segments);
    metric(t, "klog_recovered_bytes_total", "counter", "Bytes scanned by recovery.",
           s.recovered_bytes);
    metric(t, "klog_recovery_truncated_bytes_total", "counter",
           "Torn or damaged bytes cut by recovery.", s.recovery_truncated_bytes);
    metric(t, "klog_rebuilt_indexes_total", "counter", "Index files rebuilt.", s.rebuilt_indexes);
    metric(t, "klog_compactions_total", "counter", "Compaction passes that cleaned something.", s.compactions);
    char **names;
    int n = klog_topic_list(b->log, &names);
    if (n < 0)
        return n;
    for (int f = 0; f < PF_N; f++)
        partition_family(b, t, (enum pfield)f, names, n);
    free(names);
    metric(t, "kbroker_connections", "gauge", "Kafka client connections open.",
           (int64_t)b->nconns);
    metric(t, "kbroker_connections_accepted_total", "counter", "Kafka client connections accepted.",
           (int64_t)b->next_conn_id);
    metric(t, "kbroker_groups", "gauge", "Consumer groups known to the coordinator.",
           b->groups ? (int64_t)b->groups->ngroups : 0);
    tx(t, "# HELP kbroker_requests_total Requests received, by API.\n"
          "# TYPE kbroker_requests_total counter\n");
    uint64_t named = 0;
    for (size_t i = 0; i < sizeof metrics_api_names / sizeof metrics_api_names[0]; i++) {
        uint64_t v = b->requests[metrics_api_names[i].key];
        named += v;
        tx(t, "kbroker_requests_total{api=\"%s\"} %llu\n", metrics_api_names[i].name,
           (unsigned long long)v);
    }
    uint64_t all = 0;
    for (size_t i = 0; i < KB_API_SLOTS + 1; i++)
        all += b->requests[i];
    tx(t, "kbroker_requests_total{api=\"other\"} %llu\n", (unsigned long long)(all - named));
    return t->oom ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ HTTP */

int kb_metrics_listen(struct kb_broker *b)
{
    if (b->cfg.metrics_port < 0)
        return 0;
    struct kb_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    for (int i = 0; i < KB_METRICS_CONNS; i++)
        m->c[i].fd = -1;
    if (kb_listen_on(b->cfg.host, &b->cfg.metrics_port, &m->lfd)) {
        free(m);
        return -1;
    }
    b->metrics = m;
    return 0;
}

int kb_metrics_fd(const struct kb_broker *b)
{
    return b->metrics ? b->metrics->lfd : -1;
}

static void mconn_close(struct kb_broker *b, struct kb_mconn *c)
{
    epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    c->out = NULL;
    c->fd = -1;
}

/* Returns 0, or -1 when there was nothing (more) to accept. */
static int metrics_accept_one(struct kb_broker *b, struct kb_metrics *m)
{
    int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return errno == EINTR || errno == ECONNABORTED ? 0 : -1;
    struct kb_mconn *slot = NULL;
    for (int i = 0; i < KB_METRICS_CONNS; i++) {
        struct kb_mconn *c = &m->c[i];
        if (c->fd < 0) {
            slot = c;
            break;
        }
        if (!slot || c->seq < slot->seq)
            slot = c; /* the oldest, if none is free */
    }
    if (slot->fd >= 0)
        mconn_close(b, slot);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &e)) {
        close(fd);
        return 0;
    }
    slot->fd = fd;
    slot->seq = ++m->seq;
    slot->in_len = 0;
    slot->out_len = slot->out_off = 0;
    return 0;
}

static void metrics_respond(struct kb_broker *b, struct kb_mconn *c, const char *status,
                    const struct kb_text *body)
{
    struct kb_text t = {0};
    tx(&t, "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
           "Content-Length: %zu\r\nConnection: close\r\n\r\n%.*s",
       status, body->len, (int)body->len, body->p ? body->p : "");
    if (t.oom) {
        free(t.p);
        mconn_close(b, c);
        return;
    }
    c->out = t.p;
    c->out_len = t.len;
    c->out_off = 0;
    struct epoll_event e = {.events = EPOLLOUT, .data.fd = c->fd};
    epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void metrics_on_request(struct kb_broker *b, struct kb_mconn *c)
{
    struct kb_text body = {0};
    const char *status = "200 OK";
    if (strncmp(c->in, "GET ", 4) != 0) {
        status = "405 Method Not Allowed";
        tx(&body, "only GET\n");
    } else if (strncmp(c->in + 4, "/metrics ", 9) != 0 && strncmp(c->in + 4, "/metrics?", 9) != 0) {
        status = "404 Not Found";
        tx(&body, "see /metrics\n");
    } else {
        int rc = metrics_build(b, &body);
        if (rc) {
            status = "500 Internal Server Error";
            body.len = 0;
            body.oom = 0;
            tx(&body, "statistics: %s\n", klog_strerror(rc));
        }
    }
    metrics_respond(b, c, status, &body);
    free(body.p);
}

static void on_mconn(struct kb_broker *b, struct kb_mconn *c, uint32_t events)
{
    if (c->out) {
        while (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                break;
            }
            c->out_off += (size_t)n;
        }
        mconn_close(b, c); /* sent (or failed): one request per connection */
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        mconn_close(b, c);
        return;
    }
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n"))
        metrics_on_request(b, c);
    else if (c->in_len == sizeof c->in - 1)
        mconn_close(b, c); /* headers too large */
}

int kb_metrics_event(struct kb_broker *b, int fd, uint32_t events)
{
    struct kb_metrics *m = b->metrics;
    if (!m)
        return 0;
    if (fd == m->lfd) {
        for (int i = 0; i < 16 && metrics_accept_one(b, m) == 0; i++)
            ;
        return 1;
    }
    for (int i = 0; i < KB_METRICS_CONNS; i++)
        if (m->c[i].fd == fd) {
            on_mconn(b, &m->c[i], events);
            return 1;
        }
    return 0;
}

void kb_metrics_close(struct kb_broker *b)
{
    struct kb_metrics *m = b->metrics;
    if (!m)
        return;
    for (int i = 0; i < KB_METRICS_CONNS; i++)
        if (m->c[i].fd >= 0) {
            close(m->c[i].fd);
            free(m->c[i].out);
        }
    close(m->lfd);
    free(m);
    b->metrics = NULL;
}
