/*
 * backup.c — `klogcat backup DIR DEST`: a consistent copy of the log at
 * DIR in the new directory DEST with klog_backup(), on a read-only open,
 * so a writer in another process may keep appending meanwhile. Prints each
 * partition's copied offset range and a summary.
 */
#include <inttypes.h>
#include <stdio.h>

#include "klogcat.h"

static void print_partition(void *ctx, const char *topic, int32_t partition, int64_t log_start,
                            int64_t end)
{
    (void)ctx;
    printf("backup: %s-%" PRId32 ": offsets %" PRId64 "..%" PRId64 "\n", topic, partition,
           log_start, end);
}

int kc_backup(const kc_opts_t *o)
{
    klog_t *log;
    klog_backup_stats_t st;
    int rc = kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log);
    if (rc < 0)
        return KC_EXIT_FAIL;
    rc = klog_backup(log, o->args[1], print_partition, NULL, &st);
    klog_close(log);
    if (rc < 0) {
        kc_err("backup to %s: %s", o->args[1], klog_strerror(rc));
        return KC_EXIT_FAIL;
    }
    printf("backup: %ld partition(s), %ld segment(s), %" PRId64 " bytes written to %s\n",
           st.partitions, st.segments, st.bytes, o->args[1]);
    return fflush(stdout) == 0 ? KC_EXIT_OK : KC_EXIT_FAIL;
}
