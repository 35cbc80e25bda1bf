/*
 * main.c — klogmirror's command line: `klogmirror out ...` and
 * `klogmirror in ...` (each prints its options with --help).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "klog.h"
#include "klogmirror.h"

volatile sig_atomic_t mirror_stop;

static void on_signal(int sig)
{
    (void)sig;
    mirror_stop = 1;
}

static const char usage[] =
    "Usage: klogmirror out -d DIR -b HOST:PORT -t TOPIC [OPTIONS]\n"
    "       klogmirror in  -d DIR -b HOST:PORT -t TOPIC [OPTIONS]\n"
    "       klogmirror recover DIR\n"
    "  out  ship a local libklog topic to a Kafka cluster, every record exactly\n"
    "       once (idempotent producer; resumes from the cluster's tail)\n"
    "  in   replicate a Kafka topic's partitions into a local log, batches\n"
    "       and offsets as the leader has them (Fetch + follower appends)\n"
    "  recover  open DIR read-write once and close it: libklog's crash recovery\n"
    "       (torn tails cut, indexes rebuilt), printing what it did; the first\n"
    "       step of moving a directory to Kafka after a crash\n"
    "Run 'klogmirror out --help' or 'klogmirror in --help' for the options.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

static void print_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= KLOG_LOG_INFO)
        fprintf(stderr, "klogmirror recover: %s\n", msg);
}

/* Recovery alone: what a crashed writer's next open would do. */
static int recover_main(const char *dir)
{
    klog_config_t *cfg = NULL;
    klog_t *log = NULL;
    int rc = klog_config_new(&cfg);
    if (rc == 0) {
        klog_config_set_logger(cfg, print_log, NULL);
        rc = klog_open(dir, cfg, KLOG_OPEN_NOCREATE, &log);
    }
    if (rc == 0)
        rc = klog_close(log);
    klog_config_free(cfg);
    if (rc) {
        fprintf(stderr, "klogmirror recover: %s: %s\n", dir, klog_strerror(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && !strcmp(argv[1], "out"))
        return mirror_out_main(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "in"))
        return mirror_in_main(argc - 1, argv + 1);
    if (argc == 3 && !strcmp(argv[1], "recover"))
        return recover_main(argv[2]);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}
