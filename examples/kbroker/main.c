/*
 * main.c — kbroker's command line: options, opening the log directory,
 * the listening socket, the pid file, and a clean shutdown on SIGINT or
 * SIGTERM (connections closed, leases released, klog_close: everything
 * acknowledged is served again after a restart).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kbroker.h"

/* kbroker ships with libklog and carries its version. */
#define KB_STR2(x) #x
#define KB_STR(x) KB_STR2(x)
#define KBROKER_VERSION \
    KB_STR(KLOG_VERSION_MAJOR) "." KB_STR(KLOG_VERSION_MINOR) "." KB_STR(KLOG_VERSION_PATCH)

static const char usage[] =
    "Usage: kbroker -d DIR [-l HOST:PORT] [OPTIONS]\n"
    "A single-node Kafka broker (produce, fetch, consumer groups, topic admin)\n"
    "storing topics in a libklog directory. See kbroker(1).\n"
    "  -d DIR              log directory (created if absent)\n"
    "  -l HOST:PORT        listen and advertise (default 127.0.0.1:9092);\n"
    "                      port 0 picks a free port; the line\n"
    "                      'listening on HOST:PORT' is printed on stdout\n"
    "      --advertise HOST:PORT\n"
    "                      the address Metadata, FindCoordinator and\n"
    "                      DescribeCluster give clients instead (a proxy or\n"
    "                      NAT in front of the broker)\n"
    "  -N COUNT            partitions of auto-created topics (default 1)\n"
    "  -a, --auto-create   create unknown topics on Metadata (default)\n"
    "      --no-auto-create\n"
    "      --auto-create-per-request COUNT\n"
    "                      create at most COUNT topics per Metadata request\n"
    "                      (default 16); the others get LEADER_NOT_AVAILABLE,\n"
    "                      which clients retry, so they come COUNT at a time\n"
    "      --auto-create-max-topics COUNT\n"
    "                      auto-create nothing once the log holds COUNT topics\n"
    "                      (default 10000); unknown topics then get\n"
    "                      UNKNOWN_TOPIC_OR_PARTITION\n"
    "  -F MESSAGES         fsync after this many messages (flush.messages)\n"
    "  -T MS               fsync data older than MS (flush.ms)\n"
    "      --visible-flushed  consumers see only fsynced data\n"
    "  -m BYTES            largest request accepted (default 104857600)\n"
    "  -p PIDFILE          write the process id there (removed at exit)\n"
    "  -v                  log connections and errors on stderr\n"
    "      --topic-default NAME=VALUE\n"
    "                      default topic configuration (repeatable): segment.bytes,\n"
    "                      segment.ms, index.interval.bytes, segment.index.bytes,\n"
    "                      retention.ms, retention.bytes, max.message.bytes,\n"
    "                      flush.messages, flush.ms, cleanup.policy,\n"
    "                      min.cleanable.dirty.ratio, min.compaction.lag.ms,\n"
    "                      max.compaction.lag.ms, delete.retention.ms,\n"
    "                      producer.id.expiration.ms; applies to every topic\n"
    "                      without its own value, auto-created ones included\n"
    "      --version       print the version and exit\n"
    "      --metrics-port PORT\n"
    "                      serve Prometheus metrics (GET /metrics) over HTTP on\n"
    "                      the listen host; 0 picks a free port; the line\n"
    "                      'metrics on HOST:PORT' is printed on stdout\n"
    "      --group-initial-delay MS\n"
    "                      a consumer group forming from empty waits MS for\n"
    "                      more members before its first generation (default 0)\n"
    "      --group-consumer-session-timeout MS\n"
    "                      a member of a consumer-protocol (KIP-848) group not\n"
    "                      heard from for MS is removed (default 45000)\n"
    "      --group-consumer-heartbeat-interval MS\n"
    "                      the heartbeat interval such members are told to keep\n"
    "                      (default 5000)\n"
    "      --transactional-id-expiration MS\n"
    "                      forget a transactional id with no open transaction\n"
    "                      and no update for MS (Kafka's\n"
    "                      transactional.id.expiration.ms; default 604800000)\n"
    "Produce with acks=all is answered after the partition is fsynced, by a\n"
    "flush thread: other requests are served meanwhile. A\n"
    "connection whose request created topics waits one turn of the event loop\n"
    "before its next request, so other connections are answered meanwhile.\n";

enum {
    OPT_NO_AUTO = 256,
    OPT_VISIBLE_FLUSHED,
    OPT_CREATE_PER_REQUEST,
    OPT_CREATE_MAX_TOPICS,
    OPT_GROUP_DELAY,
    OPT_CG_SESSION,
    OPT_CG_HEARTBEAT,
    OPT_TXN_ID_EXPIRATION,
    OPT_METRICS_PORT,
    OPT_TOPIC_DEFAULT,
    OPT_ADVERTISE,
    OPT_VERSION
};

static int parse_num(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* NAME=VALUE of --topic-default. Returns 0 or -1. */
static int parse_default(const char *s, struct kb_config *cfg)
{
    const char *eq = strchr(s, '=');
    int64_t v;
    if (!eq || cfg->ndefaults == (int)(sizeof cfg->defaults / sizeof cfg->defaults[0]))
        return -1;
    int key = kb_conf_key(s, (size_t)(eq - s));
    if (key < 0 || kb_conf_value(key, eq + 1, strlen(eq + 1), &v))
        return -1;
    cfg->defaults[cfg->ndefaults].key = key;
    cfg->defaults[cfg->ndefaults++].value = v;
    return 0;
}

/* HOST:PORT ([v6]:PORT too) into host (sizeof cfg->host) and *port. */
static int parse_hostport(const char *s, char *host, size_t cap, int *port_out)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    int64_t port;
    if (parse_num(colon + 1, 0, 65535, &port))
        return -1;
    *port_out = (int)port;
    return 0;
}

static void log_to_stderr(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= KLOG_LOG_WARN)
        fprintf(stderr, "kbroker: libklog: %s\n", msg);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_log(struct kb_broker *b)
{
    klog_config_t *cfg;
    int rc = klog_config_new(&cfg);
    if (rc)
        return rc;
    if (b->cfg.flush_messages >= 0)
        rc = klog_config_set(cfg, KLOG_CONF_FLUSH_MESSAGES, b->cfg.flush_messages);
    if (!rc && b->cfg.flush_ms >= 0)
        rc = klog_config_set(cfg, KLOG_CONF_FLUSH_MS, b->cfg.flush_ms);
    if (!rc && b->cfg.visible_flushed)
        rc = klog_config_set(cfg, KLOG_CONF_VISIBILITY, KLOG_VISIBLE_FLUSHED);
    if (!rc)
        rc = klog_config_set(cfg, KLOG_CONF_DEFAULT_PARTITIONS, b->cfg.partitions);
    /* The background cleaner compacts __consumer_offsets,
     * __transaction_state and any topic created with cleanup.policy
     * compact, as Kafka's log cleaner does. */
    if (!rc)
        rc = klog_config_set(cfg, KLOG_CONF_CLEANER_ENABLE, 1);
    for (int i = 0; !rc && i < b->cfg.ndefaults; i++)
        rc = klog_config_set(cfg, b->cfg.defaults[i].key, b->cfg.defaults[i].value);
    if (!rc) {
        klog_config_set_logger(cfg, log_to_stderr, NULL);
        rc = klog_open(b->cfg.dir, cfg, 0, &b->log);
    }
    klog_config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    static struct kb_broker broker;
    struct kb_broker *b = &broker;
    b->ep = b->lfd = b->sfd = b->spare_fd = -1;
    struct kb_config *cfg = &b->cfg;
    strcpy(cfg->host, "127.0.0.1");
    cfg->port = 9092;
    cfg->partitions = 1;
    cfg->auto_create = 1;
    cfg->create_per_request = 16;
    cfg->create_max_topics = 10000;
    cfg->flush_messages = cfg->flush_ms = -1;
    cfg->max_request = 100u << 20;
    cfg->metrics_port = -1;
    cfg->cg_session_ms = 45000;  /* Kafka's group.consumer.session.timeout.ms */
    cfg->cg_heartbeat_ms = 5000; /* group.consumer.heartbeat.interval.ms */
    cfg->txn_id_expiration_ms = 604800000; /* Kafka's 7 days */

    static const struct option opts[] = {
        {"auto-create", no_argument, NULL, 'a'},
        {"no-auto-create", no_argument, NULL, OPT_NO_AUTO},
        {"auto-create-per-request", required_argument, NULL, OPT_CREATE_PER_REQUEST},
        {"auto-create-max-topics", required_argument, NULL, OPT_CREATE_MAX_TOPICS},
        {"visible-flushed", no_argument, NULL, OPT_VISIBLE_FLUSHED},
        {"group-initial-delay", required_argument, NULL, OPT_GROUP_DELAY},
        {"group-consumer-session-timeout", required_argument, NULL, OPT_CG_SESSION},
        {"group-consumer-heartbeat-interval", required_argument, NULL, OPT_CG_HEARTBEAT},
        {"transactional-id-expiration", required_argument, NULL, OPT_TXN_ID_EXPIRATION},
        {"topic-default", required_argument, NULL, OPT_TOPIC_DEFAULT},
        {"version", no_argument, NULL, OPT_VERSION},
        {"metrics-port", required_argument, NULL, OPT_METRICS_PORT},
        {"advertise", required_argument, NULL, OPT_ADVERTISE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, "d:l:N:aF:T:m:p:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': cfg->dir = optarg; break;
        case 'l':
            if (parse_hostport(optarg, cfg->host, sizeof cfg->host, &cfg->port))
                goto bad;
            break;
        case 'N':
            if (parse_num(optarg, 1, 100000, &v))
                goto bad;
            cfg->partitions = (int32_t)v;
            break;
        case 'a': cfg->auto_create = 1; break;
        case OPT_NO_AUTO: cfg->auto_create = 0; break;
        case OPT_CREATE_PER_REQUEST:
            if (parse_num(optarg, 1, 100000, &v))
                goto bad_long;
            cfg->create_per_request = (int32_t)v;
            break;
        case OPT_CREATE_MAX_TOPICS:
            if (parse_num(optarg, 0, 1000000, &v))
                goto bad_long;
            cfg->create_max_topics = (int32_t)v;
            break;
        case 'F':
            if (parse_num(optarg, 0, INT64_MAX, &cfg->flush_messages))
                goto bad;
            break;
        case 'T':
            if (parse_num(optarg, 0, INT64_MAX, &cfg->flush_ms))
                goto bad;
            break;
        case OPT_VISIBLE_FLUSHED: cfg->visible_flushed = 1; break;
        case OPT_TOPIC_DEFAULT:
            if (parse_default(optarg, cfg))
                goto bad_long;
            break;
        case OPT_VERSION:
            printf("kbroker %s (libklog %s)\n", KBROKER_VERSION, klog_version_string());
            return 0;
        case OPT_ADVERTISE:
            if (parse_hostport(optarg, cfg->adv_host, sizeof cfg->adv_host, &cfg->adv_port) ||
                cfg->adv_port == 0)
                goto bad_long;
            break;
        case OPT_METRICS_PORT:
            if (parse_num(optarg, 0, 65535, &v))
                goto bad_long;
            cfg->metrics_port = (int)v;
            break;
        case OPT_GROUP_DELAY:
            if (parse_num(optarg, 0, 300000, &v))
                goto bad_long;
            cfg->group_initial_delay_ms = (int32_t)v;
            break;
        case OPT_CG_SESSION:
            if (parse_num(optarg, 100, 3600000, &v))
                goto bad_long;
            cfg->cg_session_ms = (int32_t)v;
            break;
        case OPT_CG_HEARTBEAT:
            if (parse_num(optarg, 10, 3600000, &v))
                goto bad_long;
            cfg->cg_heartbeat_ms = (int32_t)v;
            break;
        case OPT_TXN_ID_EXPIRATION:
            if (parse_num(optarg, 1, INT32_MAX, &cfg->txn_id_expiration_ms))
                goto bad_long;
            break;
        case 'm':
            if (parse_num(optarg, 64, INT32_MAX, &v))
                goto bad;
            cfg->max_request = (size_t)v;
            break;
        case 'p': cfg->pidfile = optarg; break;
        case 'v': cfg->verbose = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: goto usage_error;
        }
    }
    if (!cfg->dir || optind != argc)
        goto usage_error;

    /* Block the shutdown signals before any thread exists (klog_open starts
     * the library's background thread): they are read from a signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* sendfile has no MSG_NOSIGNAL */
    raise_fd_limit();
    int rc = open_log(b);
    if (rc) {
        fprintf(stderr, "kbroker: %s: %s\n", cfg->dir, klog_strerror(rc));
        return 1;
    }
    rc = kb_txn_load(b);
    if (rc) {
        fprintf(stderr, "kbroker: %s: recovering transactions: %s\n", cfg->dir, klog_strerror(rc));
        kb_txn_free_all(b);
        klog_close(b->log);
        return 1;
    }
    rc = kb_groups_load(b);
    if (rc) {
        fprintf(stderr, "kbroker: %s: reading committed offsets: %s\n", cfg->dir,
                klog_strerror(rc));
        kb_groups_free_all(b);
        kb_txn_free_all(b);
        klog_close(b->log);
        return 1;
    }
    rc = kb_flush_start(b);
    if (rc)
        fprintf(stderr, "kbroker: no flush thread (%s): acks=all fsyncs run on the event loop\n",
                klog_strerror(rc));
    if (kb_net_listen(b) || kb_metrics_listen(b)) {
        kb_flush_stop(b);
        kb_groups_free_all(b);
        kb_txn_free_all(b);
        klog_close(b->log);
        return 1;
    }
    if (cfg->pidfile) {
        FILE *f = fopen(cfg->pidfile, "w");
        if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f)) {
            perror(cfg->pidfile);
            kb_flush_stop(b);
            kb_groups_free_all(b);
            kb_txn_free_all(b);
            klog_close(b->log);
            return 1;
        }
    }
    printf("listening on %s:%d\n", cfg->host, cfg->port);
    if (b->metrics)
        printf("metrics on %s:%d\n", cfg->host, cfg->metrics_port);
    fflush(stdout);

    int status = kb_net_run(b) ? 1 : 0;
    kb_net_close_all(b);
    kb_metrics_close(b);
    kb_flush_stop(b); /* after the connections: their parked responses detached */
    kb_groups_free_all(b); /* after the connections: their parked responses point in */
    kb_txn_free_all(b);
    kb_topic_ids_free(b);
    rc = klog_close(b->log);
    if (rc) {
        fprintf(stderr, "kbroker: close: %s\n", klog_strerror(rc));
        status = 1;
    }
    if (cfg->pidfile)
        unlink(cfg->pidfile);
    return status;

bad:
    fprintf(stderr, "kbroker: invalid value for -%c: %s\n", c, optarg);
    goto usage_error;
bad_long:
    fprintf(stderr, "kbroker: invalid value for --%s: %s\n",
            c == OPT_CREATE_PER_REQUEST  ? "auto-create-per-request"
            : c == OPT_GROUP_DELAY       ? "group-initial-delay"
            : c == OPT_CG_SESSION        ? "group-consumer-session-timeout"
            : c == OPT_CG_HEARTBEAT      ? "group-consumer-heartbeat-interval"
            : c == OPT_TXN_ID_EXPIRATION ? "transactional-id-expiration"
            : c == OPT_METRICS_PORT      ? "metrics-port"
            : c == OPT_TOPIC_DEFAULT     ? "topic-default"
                                         : "auto-create-max-topics",
            optarg);
usage_error:
    fputs(usage, stderr);
    return 2;
}
