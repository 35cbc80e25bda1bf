/*
 * compact.c — `klogcat compact DIR [-t TOPIC [-p N]]`: run the log cleaner
 * now with klog_compact() on a read-write open (so no writer may hold the
 * log), one line per cleaning pass.
 */
#include <inttypes.h>
#include <stdio.h>

#include "klogcat.h"

static void print_pass(const klog_compact_stats_t *st)
{
    printf("compact: %s-%" PRId32 ": offsets %" PRId64 "..%" PRId64 " cleaned: %" PRId64
           " segment(s) into %" PRId64 ", %" PRId64 " bytes read, %" PRId64
           " written, %" PRId64 " of %" PRId64 " records removed, %.1f ms\n",
           st->topic, st->partition, st->first_dirty, st->end_offset - 1, st->segments_read,
           st->segments_written, st->bytes_read, st->bytes_written, st->records_removed,
           st->records_read, (double)st->duration_us / 1000.0);
}

/* Clean one partition until a pass finds nothing more (a full offset map
 * leaves the rest to the next pass). */
static int one(klog_t *log, const char *topic, int32_t p, long *passes)
{
    klog_compact_stats_t st;
    int rc;
    while ((rc = klog_compact(log, topic, p, &st)) == 1) {
        print_pass(&st);
        ++*passes;
    }
    if (rc < 0)
        kc_err("compact %s-%" PRId32 ": %s", topic, p, klog_strerror(rc));
    return rc;
}

int kc_compact(const kc_opts_t *o)
{
    klog_t *log;
    int rc = klog_open(o->dir, NULL, KLOG_OPEN_NOCREATE, &log);
    if (rc < 0) {
        kc_err("%s: cannot open: %s", o->dir, klog_strerror(rc));
        return KC_EXIT_FAIL;
    }
    long passes = 0;
    for (size_t i = 0; rc >= 0 && i < o->ntopics; i++) {
        klog_topic_t *t;
        if ((rc = klog_topic_get(log, o->topics[i], &t)) < 0) {
            kc_err("%s: %s", o->topics[i], klog_strerror(rc));
            break;
        }
        int32_t n = klog_topic_partition_count(t);
        for (int32_t p = o->partition < 0 ? 0 : o->partition;
             rc >= 0 && p < (o->partition < 0 ? n : o->partition + 1); p++)
            rc = one(log, o->topics[i], p, &passes);
    }
    if (o->ntopics == 0) {
        klog_compact_stats_t st;
        while ((rc = klog_compact(log, NULL, -1, &st)) == 1) {
            print_pass(&st);
            passes++;
        }
        if (rc < 0)
            kc_err("compact: %s", klog_strerror(rc));
    }
    int crc = klog_close(log);
    if (rc < 0 || crc < 0) {
        if (crc < 0)
            kc_err("%s: close: %s", o->dir, klog_strerror(crc));
        return KC_EXIT_FAIL;
    }
    printf("compact: %ld pass(es)\n", passes);
    return fflush(stdout) == 0 ? KC_EXIT_OK : KC_EXIT_FAIL;
}
