/*
 * pid.c — producer ids and InitProducerId.
 *
 * Producer ids must never be handed out twice, also across a restart or
 * kill -9 of the broker: partitions keep producer state by id, so a reused
 * id would make a new producer's batches look like an old one's retries.
 * Kafka's controller hands brokers blocks of 1000 ids and records each
 * block durably before any id of it is used; kbroker does the same with a
 * file of the log directory:
 *   kbroker-producer-ids   "kbroker-producer-ids 1 <end>\n"
 * where <end> is the first id past the last reserved block. The file is
 * written to a temporary name, fsynced, renamed over the old one and the
 * directory fsynced before an id of the new block is returned, so after
 * any crash the next start begins at <end>, past every id handed out
 * (the unused rest of a block is skipped, as in Kafka).
 *
 * InitProducerId without a transactional id (an idempotent producer)
 * always gets a fresh id with epoch 0, as from Kafka's coordinator; with
 * one it is the transaction coordinator's (txn.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kbroker.h"

#define PID_FILE "kbroker-producer-ids"
#define PID_BLOCK 1000

static char *pid_path(const struct kb_broker *b, const char *suffix)
{
    size_t n = strlen(b->cfg.dir) + sizeof PID_FILE + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s%s", b->cfg.dir, PID_FILE, suffix);
    return p;
}

int kb_pid_load(struct kb_broker *b)
{
    b->pid_next = b->pid_block_end = 0;
    char *path = pid_path(b, "");
    if (!path)
        return -ENOMEM;
    FILE *f = fopen(path, "r");
    int rc = 0;
    if (!f) {
        rc = errno == ENOENT ? 0 : -errno;
    } else {
        int version = 0;
        int64_t end = -1;
        if (fscanf(f, "kbroker-producer-ids %d %" SCNd64, &version, &end) != 2 || version != 1 ||
            end < 0) {
            fprintf(stderr, "kbroker: %s: not a producer-id file\n", path);
            rc = -EINVAL;
        } else {
            b->pid_next = b->pid_block_end = end;
        }
        fclose(f);
    }
    free(path);
    return rc;
}

/* Durably record end as the first id past the reserved ids. */
static int pid_store(struct kb_broker *b, int64_t end)
{
    char *tmp = pid_path(b, ".tmp"), *path = pid_path(b, "");
    int rc = -ENOMEM, fd = -1;
    if (!tmp || !path)
        goto out;
    char line[64];
    int n = snprintf(line, sizeof line, "kbroker-producer-ids 1 %" PRId64 "\n", end);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    errno = 0;
    if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd)) {
        rc = errno ? -errno : -EIO;
        if (fd >= 0)
            close(fd);
        goto out;
    }
    if (close(fd) || rename(tmp, path)) {
        rc = -errno;
        goto out;
    }
    fd = open(b->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = fd < 0 || fsync(fd) ? -errno : 0;
    if (fd >= 0)
        close(fd);
out:
    free(tmp);
    free(path);
    return rc;
}

int kb_pid_alloc(struct kb_broker *b, int64_t *id)
{
    if (b->pid_next >= b->pid_block_end) {
        if (b->pid_block_end > INT64_MAX - PID_BLOCK)
            return -EOVERFLOW;
        int rc = pid_store(b, b->pid_block_end + PID_BLOCK);
        if (rc) {
            kb_log(b, "%s: %s", PID_FILE, strerror(-rc));
            return rc;
        }
        b->pid_next = b->pid_block_end;
        b->pid_block_end += PID_BLOCK;
    }
    *id = b->pid_next++;
    return 0;
}

/* ------------------------------------------------------------ InitProducerId */

int kb_handle_init_producer_id(struct kb_broker *b, struct kb_req *q, kb_rd_t *r)
{
    const int16_t v = q->api_version;
    const int flex = q->flex;
    const char *tid;
    int16_t tlen;
    kb_rd_string(r, flex, &tid, &tlen);
    int32_t timeout_ms = kb_rd_i32(r);
    int64_t pid = -1;
    int16_t epoch = -1;
    if (v >= 3) {
        pid = kb_rd_i64(r);
        epoch = kb_rd_i16(r);
    }
    kb_rd_tags_if(r, flex);
    if (r->err)
        return -1;
    int64_t out_pid = -1;
    int16_t out_epoch = -1, err;
    if (tlen < 0) {
        /* Idempotent only: Kafka blindly hands out a new id. */
        err = kb_pid_alloc(b, &out_pid) ? KB_ERR_COORDINATOR_NOT_AVAILABLE : KB_ERR_NONE;
        out_epoch = err ? -1 : 0;
    } else {
        err = (int16_t)kb_txn_init_producer(b, tid, tlen, timeout_ms, pid, epoch, v, &out_pid,
                                            &out_epoch);
    }
    kb_wbuf_t *w = &q->resp->buf;
    kb_put_i32(w, 0); /* throttle_time_ms */
    kb_put_i16(w, err);
    kb_put_i64(w, err ? -1 : out_pid);
    kb_put_i16(w, err ? -1 : out_epoch);
    kb_put_tags(w, flex);
    return 0;
}
