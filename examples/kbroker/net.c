/*
 * net.c — kbroker's event loop: one thread, one epoll set, level-triggered
 * (the listener and accepting are in listen.c).
 *
 * Descriptors in the set: the listener, a signalfd (SIGINT/SIGTERM), the
 * flush thread's eventfd (acks=all responses whose fsync is done, flush.c),
 * the metrics endpoint's listener and connections (metrics.c),
 * every connection, and the pollfd (eventfd) of each partition a Fetch has
 * waited on. epoll data carries the fd; connections are found in a table
 * indexed by fd, so any other readable fd is a partition wake-up.
 *
 * Per connection: received bytes collect in one buffer that grows with what
 * actually arrived (never to a size a client merely declared) up to the
 * request limit, and is freed when empty, so idle connections cost a few
 * hundred bytes. Each complete frame is handled at once and its response
 * appended to the connection's queue; responses leave strictly in request
 * order. A parked (long-polling) Fetch blocks only its own connection's
 * queue. A connection with KB_MAX_PENDING queued responses is not read
 * until the queue drains: memory per connection stays bounded.
 *
 * Slow requests (a Metadata request that created topics: fsyncs of
 * klog.topics and directories) make their connection yield: its further
 * frames wait, unread, until the next turn of the loop, after every other
 * ready connection has been served. With the per-request creation cap
 * this bounds how long one client can hold the loop.
 *
 * Sending: a response is buffer pieces and leases; buffer pieces go out
 * with send(MSG_MORE while more follows), leases with klog_lease_sendfile.
 * Either may stop on EAGAIN; the loop resumes on EPOLLOUT from the same
 * piece and byte.
 *
 * Any framing or parse error closes that connection only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kbroker.h"

#define KB_MAX_PENDING 64          /* queued responses before reads pause */
#define KB_IN_MIN (16u << 10)      /* receive buffer when reading headers */
#define KB_IN_KEEP (64u << 10)     /* free an empty buffer larger than this */
#define KB_IN_STEP (1u << 20)      /* frames up to this are allocated at once */
#define KB_READS_PER_EVENT 16

int64_t kb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kb_log(const struct kb_broker *b, const char *fmt, ...)
{
    if (!b->cfg.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("kbroker: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------ connections */

static void resp_free(struct kb_broker *b, struct kb_resp *r)
{
    if (r->fetch) {
        kb_fetch_unpark(b, r->fetch);
        kb_fetch_free(r->fetch);
    }
    if (r->wait)
        kb_group_wait_detach(r->wait);
    if (r->flush)
        kb_flush_detach(r->flush);
    kb_resp_clear(r);
    kb_wbuf_free(&r->buf);
    free(r->pieces);
    free(r);
}

static void conn_close(struct kb_broker *b, struct kb_conn *c, const char *why)
{
    kb_log(b, "connection %llu closed: %s", (unsigned long long)c->id, why);
    epoll_ctl(b->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    b->conns[c->fd] = NULL;
    b->nconns--;
    while (c->head) {
        struct kb_resp *r = c->head;
        c->head = r->next;
        resp_free(b, r);
    }
    free(c->in);
    free(c);
}

static void conn_update_events(struct kb_broker *b, struct kb_conn *c)
{
    uint32_t ev = 0;
    if (c->nresp < KB_MAX_PENDING && !c->yielded && !c->held)
        ev |= EPOLLIN;
    if (c->head && c->head->ready)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = {.events = ev, .data.fd = c->fd};
        epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &e);
        c->events = ev;
    }
}

void kb_net_resp_ready(struct kb_broker *b, struct kb_conn *c)
{
    /* Sending happens from the loop on EPOLLOUT, never from inside a
     * recheck that is walking the parked list. */
    conn_update_events(b, c);
}

static void conn_yield(struct kb_broker *b, struct kb_conn *c);

void kb_net_hold(struct kb_conn *c)
{
    c->held = 1;
}

void kb_net_release(struct kb_broker *b, struct kb_conn *c)
{
    c->held = 0;
    conn_yield(b, c); /* its buffered frames: next turn, not from inside a reap */
    conn_update_events(b, c);
}

/* ------------------------------------------------------------ requests */

static int handle_frame(struct kb_broker *b, struct kb_conn *c, const uint8_t *frame, size_t size)
{
    kb_rd_t r;
    kb_rd_init(&r, frame, size);
    struct kb_req q = {0};
    q.api_key = kb_rd_i16(&r);
    q.api_version = kb_rd_i16(&r);
    q.correlation_id = kb_rd_i32(&r);
    const char *client;
    int16_t client_len;
    kb_rd_str(&r, &client, &client_len);
    if (r.err)
        return -1;
    q.client_id = client;
    q.client_id_len = client_len;
    b->requests[q.api_key >= 0 && q.api_key < KB_API_SLOTS ? q.api_key : KB_API_SLOTS]++;
    int supported = kb_api_supported(q.api_key, q.api_version, &q.flex);
    if (q.api_key == KB_API_API_VERSIONS && q.api_version >= 3) {
        /* Request header v2 (flexible). Its tags and the body are not
         * needed: a version we do not know must still get its answer. */
        kb_rd_tags(&r);
        r.err = 0;
    } else if (supported && q.flex) {
        kb_rd_tags(&r); /* request header v2 */
        if (r.err)
            return -1;
    }
    q.conn = c;
    q.resp = calloc(1, sizeof *q.resp);
    if (!q.resp)
        return -1;
    q.resp->ready = 1;
    kb_resp_begin(q.resp, q.correlation_id);
    /* Response header v1 (its empty tag buffer) for flexible responses,
     * except ApiVersions, whose response header is always v0. */
    if (supported && q.flex && q.api_key != KB_API_API_VERSIONS)
        kb_put_tags(&q.resp->buf, 1);
    int rc;
    if (!supported && q.api_key != KB_API_API_VERSIONS) {
        /* Not served: answer UNSUPPORTED_VERSION rather than close, so the
         * connection stays usable. Clients negotiate from ApiVersions and
         * do not send these; a raw client reads the code after the
         * correlation id. */
        kb_log(b, "connection %llu: unsupported request (key %d v%d)", (unsigned long long)c->id,
               q.api_key, q.api_version);
        kb_put_i16(&q.resp->buf, KB_ERR_UNSUPPORTED_VERSION);
        rc = 0;
    } else {
        switch (q.api_key) {
        case KB_API_API_VERSIONS: rc = kb_handle_api_versions(b, &q, &r); break;
        case KB_API_METADATA: rc = kb_handle_metadata(b, &q, &r); break;
        case KB_API_PRODUCE: rc = kb_handle_produce(b, &q, &r); break;
        case KB_API_FETCH: rc = kb_handle_fetch(b, &q, &r); break;
        case KB_API_LIST_OFFSETS: rc = kb_handle_list_offsets(b, &q, &r); break;
        case KB_API_INIT_PRODUCER_ID: rc = kb_handle_init_producer_id(b, &q, &r); break;
        case KB_API_ADD_PARTITIONS_TO_TXN:
        case KB_API_ADD_OFFSETS_TO_TXN:
        case KB_API_END_TXN:
        case KB_API_TXN_OFFSET_COMMIT: rc = kb_handle_txn(b, &q, &r); break;
        case KB_API_CREATE_TOPICS:
        case KB_API_DELETE_TOPICS:
        case KB_API_CREATE_PARTITIONS:
        case KB_API_DESCRIBE_CONFIGS:
        case KB_API_ALTER_CONFIGS:
        case KB_API_INCREMENTAL_ALTER_CONFIGS:
        case KB_API_DELETE_RECORDS:
        case KB_API_DESCRIBE_CLUSTER: rc = kb_handle_admin(b, &q, &r); break;
        default: rc = kb_handle_group(b, &q, &r); break;
        }
    }
    if (q.slow)
        conn_yield(b, c);
    if (rc < 0)
        kb_log(b, "connection %llu: bad or unsupported request (key %d v%d)",
               (unsigned long long)c->id, q.api_key, q.api_version);
    if (rc == 0 && q.resp->ready && kb_resp_finish(q.resp))
        rc = -1;
    if (rc != 0) {
        resp_free(b, q.resp);
        return rc < 0 ? -1 : 0;
    }
    if (c->tail)
        c->tail->next = q.resp;
    else
        c->head = q.resp;
    c->tail = q.resp;
    c->nresp++;
    return 0;
}

/* Let the other connections go first: c's next frames wait for the next
 * turn of the loop. */
static void conn_yield(struct kb_broker *b, struct kb_conn *c)
{
    if (b->nyielded == b->yielded_cap) {
        size_t cap = b->yielded_cap ? b->yielded_cap * 2 : 16;
        int *t = realloc(b->yielded, cap * sizeof *t);
        if (!t)
            return; /* no memory to be fair with: carry on */
        b->yielded = t;
        b->yielded_cap = cap;
    }
    if (!c->yielded)
        b->yielded[b->nyielded++] = c->fd;
    c->yielded = 1;
}

/* Handle every complete frame in the buffer (while the queue has room and
 * no frame was slow). Returns the number handled or -1 to close the
 * connection. */
static int process_frames(struct kb_broker *b, struct kb_conn *c)
{
    size_t off = 0;
    int handled = 0;
    while (!c->yielded && !c->held && c->nresp < KB_MAX_PENDING && c->in_len - off >= 4) {
        uint32_t size = be32(c->in + off);
        if (size < 8 || size > b->cfg.max_request) {
            kb_log(b, "connection %llu: request size %u refused", (unsigned long long)c->id, size);
            return -1;
        }
        if (c->in_len - off - 4 < size)
            break;
        if (handle_frame(b, c, c->in + off + 4, size))
            return -1;
        off += 4 + (size_t)size;
        handled++;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->in_len == 0 && c->in_cap > KB_IN_KEEP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    return handled;
}

/* Make room for the next read: enough for the frame being received, grown
 * in steps so a declared size alone never allocates much. */
static int in_reserve(struct kb_broker *b, struct kb_conn *c)
{
    size_t need = KB_IN_MIN;
    if (c->in_len >= 4) {
        uint32_t size = be32(c->in);
        if (size < 8 || size > b->cfg.max_request)
            return -1;
        need = 4 + (size_t)size;
        if (need < KB_IN_MIN)
            need = KB_IN_MIN;
    }
    if (c->in_cap > c->in_len && (c->in_cap >= need || c->in_cap - c->in_len >= KB_IN_MIN))
        return 0;
    size_t cap = need;
    if (need > KB_IN_STEP) {
        size_t step = c->in_cap * 2 > KB_IN_STEP ? c->in_cap * 2 : KB_IN_STEP;
        if (step < need)
            cap = step;
    }
    if (cap <= c->in_cap) {
        if (c->in_cap > c->in_len)
            return 0;
        cap = c->in_cap * 2; /* full of unhandled frames: cannot happen */
    }
    uint8_t *p = realloc(c->in, cap);
    if (!p)
        return -1;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* Read what is available. Returns 0, or -1 when the connection must close. */
static int conn_read(struct kb_broker *b, struct kb_conn *c, const char **why)
{
    for (int i = 0; i < KB_READS_PER_EVENT && c->nresp < KB_MAX_PENDING && !c->yielded && !c->held;
         i++) {
        if (in_reserve(b, c)) {
            *why = "request too large or out of memory";
            return -1;
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n == 0) {
            *why = "closed by peer";
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            *why = strerror(errno);
            return -1;
        }
        c->in_len += (size_t)n;
        if (process_frames(b, c) < 0) {
            *why = "malformed request";
            return -1;
        }
        if ((size_t)n < room)
            return 0; /* drained the socket */
    }
    return 0;
}

/* Send ready responses in order. Returns 0 or -1 (connection broken). */
static int conn_send(struct kb_broker *b, struct kb_conn *c)
{
    struct kb_resp *r;
    while ((r = c->head) && r->ready) {
        if (r->kill)
            return -1;
        while (r->cur < r->npieces) {
            struct kb_piece *pc = &r->pieces[r->cur];
            if (pc->lease) {
                int rc = klog_lease_sendfile(pc->lease, c->fd, NULL);
                if (rc == 0)
                    return 0;
                if (rc < 0)
                    return -1;
                r->cur++;
                continue;
            }
            int more = r->cur + 1 < r->npieces || (r->next && r->next->ready);
            ssize_t n = send(c->fd, r->buf.p + pc->off + r->cur_done, pc->len - r->cur_done,
                             MSG_NOSIGNAL | (more ? MSG_MORE : 0));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
            }
            r->cur_done += (size_t)n;
            if (r->cur_done == pc->len) {
                r->cur++;
                r->cur_done = 0;
            }
        }
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        c->nresp--;
        resp_free(b, r);
    }
    return 0;
}

static void on_conn(struct kb_broker *b, struct kb_conn *c, uint32_t events)
{
    const char *why = "connection error";
    if (c->held && (events & (EPOLLHUP | EPOLLERR)))
        goto close; /* (epoll reports these unasked: not reading would spin) */
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (conn_read(b, c, &why))
            goto close;
    }
    /* Send, and whenever the queue drains below the limit handle frames
     * that were left in the buffer. */
    for (;;) {
        size_t before = c->nresp;
        if (conn_send(b, c)) {
            why = "send failed";
            goto close;
        }
        if (c->nresp == before || c->in_len < 4)
            break;
        int h = process_frames(b, c);
        if (h < 0) {
            why = "malformed request";
            goto close;
        }
        if (h == 0)
            break;
    }
    conn_update_events(b, c);
    return;
close:
    conn_close(b, c, why);
}

/* ------------------------------------------------------------ loop */

/* The next turn for connections that yielded in the last one. */
static void serve_yielded(struct kb_broker *b)
{
    int *list = b->yielded;
    size_t n = b->nyielded;
    b->yielded = NULL;
    b->nyielded = b->yielded_cap = 0;
    for (size_t i = 0; i < n; i++) {
        struct kb_conn *c = (size_t)list[i] < b->conns_cap ? b->conns[list[i]] : NULL;
        if (!c || !c->yielded)
            continue; /* closed meanwhile (the fd may be another connection's now) */
        c->yielded = 0;
        if (process_frames(b, c) < 0) {
            conn_close(b, c, "malformed request");
            continue;
        }
        on_conn(b, c, 0); /* send, handle what sending made room for, re-arm */
    }
    free(list);
}

int kb_net_watch_partition(struct kb_broker *b, klog_partition_t *p)
{
    int fd;
    int rc = klog_partition_pollfd(p, &fd);
    if (rc)
        return rc;
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &e) && errno != EEXIST)
        return -errno;
    return 0;
}

/* SIGINT/SIGTERM arrive through a signalfd. main() blocked them before
 * klog_open started the library's threads, which inherit the mask. */
static int setup_signals(struct kb_broker *b)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    b->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return b->sfd < 0 ? -1 : 0;
}

int kb_net_run(struct kb_broker *b)
{
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep < 0 || setup_signals(b)) {
        perror("kbroker: epoll/signalfd");
        return -1;
    }
    b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = b->lfd};
    struct epoll_event s = {.events = EPOLLIN, .data.fd = b->sfd};
    struct epoll_event fl = {.events = EPOLLIN, .data.fd = kb_flush_fd(b)};
    struct epoll_event me = {.events = EPOLLIN, .data.fd = kb_metrics_fd(b)};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, b->lfd, &e) || epoll_ctl(b->ep, EPOLL_CTL_ADD, b->sfd, &s) ||
        (fl.data.fd >= 0 && epoll_ctl(b->ep, EPOLL_CTL_ADD, fl.data.fd, &fl)) ||
        (me.data.fd >= 0 && epoll_ctl(b->ep, EPOLL_CTL_ADD, me.data.fd, &me))) {
        perror("kbroker: epoll_ctl");
        return -1;
    }
    struct epoll_event evs[256];
    while (!b->stop) {
        int64_t now = kb_now_ms();
        int timeout = b->nyielded ? 0 : kb_fetch_next_timeout(b, now);
        int gt = kb_groups_next_timeout(b, now);
        if (gt >= 0 && (timeout < 0 || gt < timeout))
            timeout = gt;
        int tt = kb_txn_next_timeout(b, now);
        if (tt >= 0 && (timeout < 0 || tt < timeout))
            timeout = tt;
        int n = epoll_wait(b->ep, evs, 256, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("kbroker: epoll_wait");
            return -1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == b->lfd) {
                kb_net_accept(b);
            } else if (fd == b->sfd) {
                struct signalfd_siginfo si;
                if (read(b->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    kb_log(b, "signal %u: shutting down", si.ssi_signo);
                    b->stop = 1;
                }
            } else if (fd == kb_flush_fd(b)) {
                kb_flush_reap(b);
            } else if ((size_t)fd < b->conns_cap && b->conns[fd]) {
                on_conn(b, b->conns[fd], evs[i].events);
            } else if (kb_metrics_event(b, fd, evs[i].events)) {
                /* the metrics endpoint's */
            } else {
                uint64_t v;
                ssize_t rn = read(fd, &v, sizeof v); /* partition pollfd: reset */
                (void)rn;
            }
        }
        if (b->parked)
            kb_fetch_recheck(b, kb_now_ms());
        if (b->groups)
            kb_groups_tick(b, kb_now_ms());
        if (b->txns)
            kb_txn_tick(b, kb_now_ms());
        if (b->nyielded)
            serve_yielded(b);
    }
    return 0;
}

void kb_net_close_all(struct kb_broker *b)
{
    for (size_t fd = 0; fd < b->conns_cap; fd++)
        if (b->conns[fd])
            conn_close(b, b->conns[fd], "shutdown");
    free(b->conns);
    b->conns = NULL;
    b->conns_cap = 0;
    free(b->yielded);
    b->yielded = NULL;
    b->nyielded = b->yielded_cap = 0;
    if (b->lfd >= 0)
        close(b->lfd);
    if (b->sfd >= 0)
        close(b->sfd);
    if (b->spare_fd >= 0)
        close(b->spare_fd);
    if (b->ep >= 0)
        close(b->ep);
    b->lfd = b->sfd = b->spare_fd = b->ep = -1;
}
