/*
 * group.c — -C -G GROUP -R REGISTRY: consume as one member of a consumer
 * group (kcat's -G), through libklog's klog_member_* API.
 *
 * The log is opened read-only, so members run beside a writer process. The
 * member joins GROUP for every topic given, and klog_member_poll() does the
 * rest: rebalancing when members come and go (claims, releases, backoff),
 * starting each partition at the group's committed offset or at the -o
 * reset policy (beginning or end), and committing every 5 s
 * (auto_commit_ms). Records are printed as plain -C prints them.
 *
 * Output before commits: a commit records what poll returned, and poll
 * commits (auto-commit, or a release during a rebalance) before it reads.
 * So stdout is flushed before every poll that follows a printed record:
 * what the group has committed has always been written out, and a member
 * killed at any moment loses nothing (it may print again, at least once,
 * what it printed after the last commit).
 *
 * Exit: after -c COUNT records; with -e once this member owns at least
 * one partition and every partition it owns is at its high watermark (a
 * poll that found nothing to read); on SIGINT/SIGTERM. Each way commits,
 * releases and leaves the group (klog_member_close) and exits 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klogcat.h"

#define POLL_MS 100 /* longest wait inside poll: bounds the SIGINT/SIGTERM delay */

typedef struct gstate {
    const kc_opts_t *o;
    int verbose; /* for kc_stderr_log */
} gstate_t;

/* -v: claims and releases, as the member makes them. */
static void on_event(void *ctx, const char *topic, int32_t partition, int owned, int64_t offset,
                     int64_t time_ms)
{
    const gstate_t *g = ctx;
    (void)time_ms;
    if (!g->verbose)
        return;
    fflush(stdout);
    fprintf(stderr, "klogcat: group %s: %s %s-%" PRId32 " at offset %" PRId64 "\n", g->o->group,
            owned ? "assigned" : "released", topic, partition, offset);
}

/* Open the registry named by -R (checked for its form by main.c). */
int kc_open_registry(const char *spec, klog_registry_t **out)
{
    int rc;
    if (strncmp(spec, "dir:", 4) == 0) {
        rc = klog_registry_dir_new(spec + 4, out);
        if (rc < 0)
            kc_err("-R %s: %s", spec, klog_strerror(rc));
        return rc;
    }
    rc = klog_registry_zk_new(spec + 3, 0, out);
    if (rc == KLOG_ENOTSUP)
        kc_err("-R %s: this libklog was built without ZooKeeper support; use -R dir:PATH, or "
               "rebuild libklog with libzookeeper-mt-dev installed",
               spec);
    else if (rc == KLOG_ETIMEDOUT)
        kc_err("-R %s: no connection to ZooKeeper (%s)", spec, klog_strerror(rc));
    else if (rc < 0)
        kc_err("-R %s: %s", spec, klog_strerror(rc));
    return rc;
}

/* Print records until -c, -e or a signal. *lost is set when writing the
 * output failed: what poll returned since the last flush was not written. */
static int consume_loop(klog_member_t *m, const kc_printer_t *pr, int *lost)
{
    const kc_opts_t *o = pr->o;
    int64_t left = o->count;
    int printed = 0; /* records printed since the last flush */
    klog_member_record_t mr;

    while (!kc_stop) {
        /* Flush before poll may commit what was printed (see the top). */
        if (printed) {
            if (kc_output_failed()) {
                *lost = 1;
                return KC_EXIT_FAIL;
            }
            printed = 0;
        }
        int rc = klog_member_poll(m, &mr, POLL_MS);
        if (rc == 1) {
            kc_print_record(pr, mr.topic, mr.partition, &mr.rec, NULL);
            printed = 1;
            if (left > 0 && --left == 0)
                break;
            continue;
        }
        if (rc < 0) {
            fflush(stdout);
            kc_err("group %s: %s", o->group, klog_strerror(rc));
            return KC_EXIT_FAIL;
        }
        /* Nothing to read now in any partition this member owns. */
        if (o->exit_at_end && klog_member_assignment(m, NULL, 0) > 0)
            break;
    }
    if (kc_output_failed()) {
        *lost = 1;
        return KC_EXIT_FAIL;
    }
    return KC_EXIT_OK;
}

int kc_consume_group(const kc_opts_t *o)
{
    gstate_t g; /* the member's callbacks run inside poll and close, below */
    kc_printer_t pr;
    klog_t *log = NULL;
    klog_registry_t *reg = NULL;
    klog_member_t *m = NULL;
    const char **topics = NULL;
    int status = KC_EXIT_FAIL, rc, lost = 0;

    g.o = o;
    g.verbose = o->verbose;
    if ((rc = kc_printer_init(&pr, o)) != 0)
        return rc;
    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        goto out;
    topics = calloc(o->ntopics + 1, sizeof *topics);
    if (!topics) {
        kc_err("out of memory");
        goto out;
    }
    for (size_t i = 0; i < o->ntopics; i++) {
        klog_topic_t *t;
        rc = klog_topic_get(log, o->topics[i], &t);
        if (rc < 0) {
            kc_err("topic %s: %s", o->topics[i], klog_strerror(rc));
            goto out;
        }
        topics[i] = o->topics[i];
    }
    if (kc_open_registry(o->registry, &reg) < 0)
        goto out;

    klog_member_opts_t mo;
    memset(&mo, 0, sizeof mo);
    mo.size = sizeof mo;
    mo.reset = o->start == KC_START_END ? KLOG_RESET_LATEST : KLOG_RESET_EARLIEST;
    mo.auto_commit_ms = 5000;
    mo.on_event = on_event;
    mo.event_ctx = &g;
    mo.log = kc_stderr_log;
    mo.log_ctx = &g.verbose;
    kc_catch_signals(); /* before joining: a signal always leaves cleanly */
    rc = klog_member_new(log, reg, o->group, topics, &mo, &m);
    if (rc < 0) {
        kc_err("joining group %s: %s", o->group, klog_strerror(rc));
        goto out;
    }
    if (o->verbose)
        fprintf(stderr, "klogcat: group %s: joined as %s\n", o->group, klog_member_id(m));
    status = consume_loop(m, &pr, &lost);
    if (lost) {
        /* Leave as a crash would, so that the records not written are
         * read again: klog_member_close() would commit them. Ending the
         * registry session drops the membership and claims at once (the
         * member, never used again, is left to the exit). */
        klog_registry_free(reg);
        _exit(KC_EXIT_FAIL);
    }
out:
    if (m) {
        const char *why = kc_stop ? "signal" : "exit";
        rc = klog_member_close(m); /* commits, releases, unregisters */
        if (rc < 0) {
            kc_err("leaving group %s: %s", o->group, klog_strerror(rc));
            status = KC_EXIT_FAIL;
        } else if (o->verbose) {
            fprintf(stderr, "klogcat: group %s: left (%s), offsets committed\n", o->group, why);
        }
    }
    klog_registry_free(reg);
    if (log && (rc = klog_close(log)) < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(rc));
        status = KC_EXIT_FAIL;
    }
    free(topics);
    kc_printer_free(&pr);
    return status;
}
