/*
 * flush.c — the flush thread: acks=all fsyncs off the event loop.
 *
 * A Produce with acks=all appends on the loop thread as any other, builds
 * its whole response, and then, instead of fsyncing there, hands a job (the
 * partitions it appended to) to this thread and leaves its response parked
 * (not ready) in the connection's queue. The loop goes on serving every
 * connection, this one's later requests included (their responses queue
 * behind the parked one, so the order per connection stays). The thread
 * takes every job queued at once and calls klog_flush() on each partition
 * of each: the first flush of a partition covers all the jobs appended to
 * it before it was taken (later ones find nothing new), so concurrent
 * acks=all producers share fsyncs. Finished jobs go on a done list and an
 * eventfd in the loop's epoll set wakes the loop, which marks each response
 * ready, patching in KAFKA_STORAGE_ERROR (and base offset -1) for a
 * partition whose fsync failed. A response is thus sent only after the data
 * it acknowledges is on disk.
 *
 * Ownership: the thread touches only a job's partitions and results; the
 * response and connection fields are the loop's. A connection that closes
 * with a parked response detaches it from its job (resp = NULL); the job is
 * freed when it comes back. Partition handles stay valid while their topic
 * exists: a topic is deleted only after kb_flush_quiesce(), which waits for
 * the thread to finish what it was given.
 *
 * A job can instead carry a completion (kb_flush_on_done): the group and
 * transaction coordinators' __consumer_offsets writes (group_commit.c).
 * It runs on the loop once the fsync is over, exactly once, also when the
 * connection has gone (then with no response) or at shutdown, and decides
 * itself what the response says; the loop then marks the response ready.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kbroker.h"

struct kb_flush_part {
    klog_partition_t *p;
    size_t err_at; /* response offset of the partition's error code */
    int rc;        /* klog_flush result (thread side) */
};

struct kb_flush_job {
    struct kb_flush_job *next;
    struct kb_resp *resp; /* loop side; NULL once detached */
    struct kb_conn *conn;
    size_t n, cap;
    struct kb_flush_part *parts;
    kb_flush_done_fn *done; /* completion, or NULL: patch produce errors */
    void *ctx;
};

struct kb_flusher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    struct kb_flush_job *todo, **todo_tail;
    struct kb_flush_job *done, **done_tail;
    int busy; /* the thread holds jobs it has not finished */
    int stop;
    int efd;
};

int kb_flush_add(struct kb_flush_job **jp, klog_partition_t *p, size_t err_at)
{
    struct kb_flush_job *j = *jp;
    if (!j && !(j = *jp = calloc(1, sizeof *j)))
        return -1;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 4;
        struct kb_flush_part *t = realloc(j->parts, cap * sizeof *t);
        if (!t)
            return -1;
        j->parts = t;
        j->cap = cap;
    }
    j->parts[j->n++] = (struct kb_flush_part){.p = p, .err_at = err_at};
    return 0;
}

void kb_flush_on_done(struct kb_flush_job *j, kb_flush_done_fn *fn, void *ctx)
{
    j->done = fn;
    j->ctx = ctx;
}

/* The first failed fsync of j, or 0. */
static int job_rc(const struct kb_flush_job *j)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->parts[i].rc)
            return j->parts[i].rc;
    return 0;
}

void kb_flush_job_free(struct kb_flush_job *j)
{
    if (j) {
        free(j->parts);
        free(j);
    }
}

static void *flush_main(void *arg)
{
    struct kb_flusher *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->todo && !f->stop)
            pthread_cond_wait(&f->work, &f->mu);
        if (!f->todo)
            break; /* stopping, nothing left */
        struct kb_flush_job *list = f->todo;
        f->todo = NULL;
        f->todo_tail = &f->todo;
        f->busy = 1;
        pthread_mutex_unlock(&f->mu);
        struct kb_flush_job *last = NULL;
        for (struct kb_flush_job *j = list; j; j = j->next) {
            for (size_t i = 0; i < j->n; i++)
                j->parts[i].rc = klog_flush(j->parts[i].p);
            last = j;
        }
        pthread_mutex_lock(&f->mu);
        *f->done_tail = list;
        f->done_tail = &last->next;
        f->busy = 0;
        pthread_cond_broadcast(&f->idle);
        uint64_t one = 1;
        ssize_t wn = write(f->efd, &one, sizeof one); /* eventfd: cannot be short */
        (void)wn;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int kb_flush_start(struct kb_broker *b)
{
    struct kb_flusher *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->todo_tail = &f->todo;
    f->done_tail = &f->done;
    f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->efd < 0) {
        int e = -errno;
        free(f);
        return e;
    }
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->work, NULL);
    pthread_cond_init(&f->idle, NULL);
    int rc = pthread_create(&f->thread, NULL, flush_main, f);
    if (rc) {
        close(f->efd);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->work);
        pthread_cond_destroy(&f->idle);
        free(f);
        return -rc;
    }
    b->flusher = f;
    return 0;
}

int kb_flush_fd(const struct kb_broker *b)
{
    return b->flusher ? b->flusher->efd : -1;
}

int kb_flush_submit(struct kb_broker *b, struct kb_conn *c, struct kb_resp *r,
                    struct kb_flush_job *j)
{
    struct kb_flusher *f = b->flusher;
    if (!f)
        return -1;
    j->resp = r;
    j->conn = c;
    j->next = NULL;
    r->flush = j;
    r->ready = 0;
    pthread_mutex_lock(&f->mu);
    *f->todo_tail = j;
    f->todo_tail = &j->next;
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

void kb_flush_detach(struct kb_flush_job *j)
{
    j->resp = NULL;
    j->conn = NULL;
}

static void patch_error(kb_wbuf_t *w, size_t at, int16_t err)
{
    if (at + 10 > w->len)
        return;
    w->p[at] = (uint8_t)((uint16_t)err >> 8);
    w->p[at + 1] = (uint8_t)err;
    memset(w->p + at + 2, 0xff, 8); /* base_offset -1 */
}

void kb_flush_reap(struct kb_broker *b)
{
    struct kb_flusher *f = b->flusher;
    if (!f)
        return;
    uint64_t v;
    ssize_t rn = read(f->efd, &v, sizeof v);
    (void)rn;
    pthread_mutex_lock(&f->mu);
    struct kb_flush_job *list = f->done;
    f->done = NULL;
    f->done_tail = &f->done;
    pthread_mutex_unlock(&f->mu);
    while (list) {
        struct kb_flush_job *j = list;
        list = j->next;
        if (j->done)
            j->done(b, j->conn, j->resp, job_rc(j), j->ctx);
        if (j->resp) {
            for (size_t i = 0; i < j->n && !j->done; i++)
                if (j->parts[i].rc) {
                    kb_log(b, "acks=all flush: %s", klog_strerror(j->parts[i].rc));
                    patch_error(&j->resp->buf, j->parts[i].err_at,
                                kb_append_error(j->parts[i].rc));
                }
            j->resp->flush = NULL;
            j->resp->ready = 1;
            kb_net_resp_ready(b, j->conn);
        }
        kb_flush_job_free(j);
    }
}

void kb_flush_quiesce(struct kb_broker *b)
{
    struct kb_flusher *f = b->flusher;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    while (f->todo || f->busy)
        pthread_cond_wait(&f->idle, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void kb_flush_stop(struct kb_broker *b)
{
    struct kb_flusher *f = b->flusher;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    /* Whatever is left has no connection any more (closed first). */
    while (f->done) {
        struct kb_flush_job *j = f->done;
        f->done = j->next;
        if (j->done) /* what it fsynced is durable: apply it all the same */
            j->done(b, NULL, NULL, job_rc(j), j->ctx);
        kb_flush_job_free(j);
    }
    close(f->efd);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->work);
    pthread_cond_destroy(&f->idle);
    free(f);
    b->flusher = NULL;
}
