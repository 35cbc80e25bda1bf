/*
 * tu_rdwatch.h — a read-only reader in a second process beside a writer
 * under test (fault sweeps, kill -9 suites): it opens the log with
 * KLOG_OPEN_RDONLY again and again until stopped, reads every listed
 * partition from its log start to its high watermark and checks what a
 * reader in another process may rely on:
 *   - every record is the one the writer put at its offset (check()),
 *     offsets consecutive from the log start (records of a batch that
 *     straddles the log start are skipped), none past the watermark;
 *   - a partition's log start never moves backwards, across the writer's
 *     failures, reopens and recoveries as across its own reopens.
 * Errors from the library (the writer is failing, a segment vanished:
 * KLOG_EOFFSET) only end a pass; they are counted, not failures.
 */
#ifndef KLOG_TU_RDWATCH_H
#define KLOG_TU_RDWATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "klog.h"

typedef struct tu_rdwatch_part {
    const char *topic;
    int32_t id;
} tu_rdwatch_part_t;

/* 1 when r is the record partition parts[i] holds at offset o. */
typedef int (*tu_rdwatch_check_fn)(int i, const klog_record_t *r, int64_t o);

typedef struct tu_rdwatch {
    pid_t pid;
    int stop_fd, report_fd;
} tu_rdwatch_t;

/* Fork the reader of log directory dir (which may not exist yet). Call
 * before arming a fault: the child clears the fault state it inherits. */
void tu_rdwatch_start(tu_rdwatch_t *w, const char *dir, const tu_rdwatch_part_t *parts, int n,
                      tu_rdwatch_check_fn check);
/* Stop it and collect its verdict: 0 when every check held (msg and
 * counts: its passes, records checked and errors met), -1 with the first
 * violation in msg. */
int tu_rdwatch_stop(tu_rdwatch_t *w, char *msg, size_t cap, long counts[3]);

#endif
