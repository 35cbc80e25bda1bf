/*
 * pidalloc.c — producer ids unique for the life of a log directory
 * (klog_producer_id_alloc), the way Kafka's controller hands out blocks of
 * ids: a block is reserved durably in "klog.producer-ids" before any id of
 * it is handed out, so a reopen (clean or after kill -9) starts past every
 * id that may have been used. The ids of a block not used before a crash
 * are skipped, never reused.
 *
 * LAYOUT (32 bytes, integers big-endian; libklog's own file convention)
 *   offset size field
 *        0    8 magic "KLOGPIDS"
 *        8    4 u32 format version, 1
 *       12    4 reserved, zero
 *       16    8 i64 reserved_end   every id below it may have been handed out
 *       24    8 u64 XXH3-64 (seed 0) of bytes [0, 24)
 *
 * A missing file (a log written before the file existed, or one adopted
 * from Kafka) starts past the largest producer id in any partition's
 * producer state. A corrupt file is reported through the log callback and
 * starts past that largest id plus KLOG__PID_CORRUPT_MARGIN, since ids of
 * the lost block may be held by producers that have not written yet.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/log.h"
#include "storage/logstate.h"
#include "storage/partition.h"
#include "storage/pidalloc.h"

#define PIDS_FILE "klog.producer-ids"
#define PIDS_MAGIC "KLOGPIDS"
#define PIDS_VERSION 1u
#define PIDS_SIZE 32
#define PIDS_BODY 24
#define PID_BLOCK 1000 /* Kafka's ProducerIdsBlock size */
#define KLOG__PID_CORRUPT_MARGIN 1000000

struct klog__pidalloc {
    pthread_mutex_t mu;
    int loaded;
    int64_t next, end; /* ids [next, end) are reserved on disk, unused */
};

int klog__pidalloc_new(klog__pidalloc_t **out)
{
    klog__pidalloc_t *a = klog__calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return 0;
}

void klog__pidalloc_free(klog__pidalloc_t *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int klog__pids_decode(const uint8_t *buf, size_t len, int64_t *end)
{
    if (len < 12 || memcmp(buf, PIDS_MAGIC, 8) != 0)
        return KLOG_ECORRUPT;
    if (klog__load32(buf + 8) != PIDS_VERSION)
        return KLOG_EVERSION;
    if (len != PIDS_SIZE || klog__load32(buf + 12) != 0 ||
        klog__load64(buf + PIDS_BODY) != XXH3_64bits(buf, PIDS_BODY))
        return KLOG_ECORRUPT;
    int64_t v = (int64_t)klog__load64(buf + 16);
    if (v < 0)
        return KLOG_ECORRUPT;
    *end = v;
    return 0;
}

void klog__pids_encode(int64_t end, uint8_t buf[KLOG__PIDS_SIZE])
{
    memcpy(buf, PIDS_MAGIC, 8);
    klog__store32(buf + 8, PIDS_VERSION);
    klog__store32(buf + 12, 0);
    klog__store64(buf + 16, (uint64_t)end);
    klog__store64(buf + PIDS_BODY, XXH3_64bits(buf, PIDS_BODY));
}
_Static_assert(KLOG__PIDS_SIZE == PIDS_SIZE, "klog.producer-ids layout");

/* Largest producer id any partition's state holds, -1 for none. */
static int max_pid_cb(void *ctx, klog__partition_t *p)
{
    int64_t *max = ctx;
    klog__logstate_t *ls = klog__partition_logstate(p);
    if (!ls)
        return 0;
    klog__producer_t *v;
    size_t n;
    int rc = klog__ls_producers(ls, &v, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (v[i].producer_id > *max)
            *max = v[i].producer_id;
    free(v);
    return 0;
}

/* First use since open: the reserved end from the file, or from the data. */
static int load(klog__log_t *log, klog__pidalloc_t *a, const klog__logger_t *lg)
{
    char path[4096];
    const char *dir = klog__log_dir(log);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, PIDS_FILE) >= sizeof path)
        return -ENAMETOOLONG;
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t end = 0;
    int rc = klog__read_file(path, 4096, &buf, &len);
    if (rc == 0) {
        rc = klog__pids_decode(buf, len, &end);
        free(buf);
    } else if (rc == -EFBIG) {
        rc = KLOG_ECORRUPT;
    }
    if (rc == 0) {
        a->next = a->end = end;
        a->loaded = 1;
        return 0;
    }
    if (rc != -ENOENT && rc != KLOG_ECORRUPT)
        return rc; /* an I/O error or a newer version: refuse, guess nothing */
    int64_t max = -1;
    int scan = klog__log_each_partition(log, max_pid_cb, &max);
    if (scan)
        return scan;
    end = max + 1;
    if (rc == KLOG_ECORRUPT) {
        klog__log(lg, KLOG_LOG_WARN,
                  "%s: corrupt, producer ids restart past %lld plus a margin", path,
                  (long long)max);
        end += KLOG__PID_CORRUPT_MARGIN;
    }
    a->next = a->end = end;
    a->loaded = 1;
    return 0;
}

int klog__pidalloc_next(klog__log_t *log, klog__pidalloc_t *a, const klog__logger_t *lg,
                        int64_t *id)
{
    pthread_mutex_lock(&a->mu);
    int rc = a->loaded ? 0 : load(log, a, lg);
    if (!rc && a->next == a->end) {
        if (a->end > INT64_MAX - PID_BLOCK) {
            rc = -EOVERFLOW;
        } else {
            uint8_t buf[PIDS_SIZE];
            klog__pids_encode(a->end + PID_BLOCK, buf);
            rc = klog__write_file_atomic(klog__log_dir(log), PIDS_FILE, buf, sizeof buf);
            if (!rc)
                a->end += PID_BLOCK;
        }
    }
    if (!rc)
        *id = a->next++;
    pthread_mutex_unlock(&a->mu);
    return rc;
}
