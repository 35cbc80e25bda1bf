/*
 * pid.c — producer ids and InitProducerId.
 *
 * Producer ids must never be handed out twice, also across a restart or
 * kill -9 of the broker: partitions keep producer state by id, so a reused
 * id would make a new producer's batches look like an old one's retries.
 * They come from libklog's allocator, klog_producer_id_alloc(): blocks of
 * 1000 reserved durably in the log directory's klog.producer-ids before
 * any id of a block is used, as Kafka's controller records its blocks
 * (the unused rest of a block is skipped after a restart).
 *
 * InitProducerId without a transactional id (an idempotent producer)
 * always gets a fresh id with epoch 0, as from Kafka's coordinator; with
 * one it is the transaction coordinator's (txn.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbroker.h"

int kb_pid_alloc(struct kb_broker *b, int64_t *id)
{
    int rc = klog_producer_id_alloc(b->log, id);
    if (rc)
        kb_log(b, "allocating a producer id: %s", klog_strerror(rc));
    return rc;
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
