/*
 * verify.c — `klogcat verify DIR [-t TOPIC]`: a thin caller of
 * klog_verify() on a read-only open of DIR (so it also runs beside a
 * writer in another process). Each problem is printed as
 * FILE:POSITION: [warning: |recoverable: ]problem; then a summary.
 * Exit status: 0 clean (warnings allowed), 1 damage (or an error),
 * KC_EXIT_RECOVERABLE when the only problems are ones the next read-write
 * open repairs (a torn tail left by a crash).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "klogcat.h"

static void print_problem(void *ctx, const klog_verify_problem_t *p)
{
    (void)ctx;
    const char *tag = p->severity == KLOG_VERIFY_WARNING       ? "warning: "
                      : p->severity == KLOG_VERIFY_RECOVERABLE ? "recoverable: "
                                                               : "";
    printf("%s:%" PRId64 ": %s%s\n", p->path, p->position, tag, p->message);
    fflush(stdout);
}

int kc_verify(const kc_opts_t *o)
{
    struct stat st;
    klog_t *log = NULL;
    klog_verify_stats_t vs;

    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        kc_err("%s: %s", o->dir, errno ? strerror(errno) : "not a directory");
        return KC_EXIT_FAIL;
    }
    /* kc_open_log names the file that stops the open (a damaged
     * klog.topics, say) through the library's log callback. */
    int rc = kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log);
    if (rc < 0)
        return KC_EXIT_FAIL;
    char **names = NULL;
    int ntopics = o->topic ? 1 : klog_topic_list(log, &names);
    free(names);
    rc = klog_verify(log, o->topic, -1, print_problem, NULL, &vs);
    klog_close(log);
    if (rc == KLOG_ENOTOPIC) {
        printf("%s:0: no topic %s\n", o->dir, o->topic);
        vs.damage++;
    } else if (rc < 0) {
        kc_err("%s: verify: %s", o->dir, klog_strerror(rc));
        return KC_EXIT_FAIL;
    }
    printf("verify: %d topic(s), %ld partition(s), %ld segment(s), %" PRId64 " batches, %" PRId64
           " bytes: %ld problem(s), %ld warning(s), %ld recoverable (%" PRId64
           " bytes to truncate)\n",
           ntopics < 0 ? 0 : ntopics, vs.partitions, vs.segments, vs.batches, vs.bytes, vs.damage,
           vs.warnings, vs.recoverable, vs.truncate_bytes);
    if (fflush(stdout) != 0)
        return KC_EXIT_FAIL;
    if (vs.damage)
        return KC_EXIT_FAIL;
    return vs.recoverable ? KC_EXIT_RECOVERABLE : KC_EXIT_OK;
}
