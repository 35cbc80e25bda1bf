/*
 * klogmirror.h — the way out of one machine: mirror libklog topics to an
 * Apache Kafka cluster (mirror_out.c, librdkafka's idempotent producer) and
 * Kafka partitions into a local log as exact replicas (mirror_in.c, its own
 * Fetch client in kwire.c). See README "Moving to Kafka".
 */
#ifndef KLOGMIRROR_H
#define KLOGMIRROR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* The record header mirror out adds to every record it ships: the record's
 * offset in the local log, as decimal ASCII. On start, the last record of
 * each destination partition tells where to resume. */
#define MIRROR_OFFSET_HEADER "klog.offset"

extern volatile sig_atomic_t mirror_stop;

int mirror_out_main(int argc, char **argv);
int mirror_in_main(int argc, char **argv);

#endif
