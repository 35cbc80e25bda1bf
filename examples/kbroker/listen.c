/*
 * listen.c — kbroker's listener: bind and listen on the configured address
 * (port 0 picks one, read back for the "listening on" line), and accepting
 * connections into net.c's table of connections indexed by fd. Running out
 * of descriptors drops the newest connection with a spare descriptor kept
 * for that, so the listener does not stay readable forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kbroker.h"

/* ------------------------------------------------------------ listener */

int kb_listen_on(const char *host, int *port_io, int *fd_out)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", *port_io);
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "kbroker: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024))
        goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl))
        goto fail;
    *port_io = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(ai);
    *fd_out = fd;
    return 0;
fail:
    fprintf(stderr, "kbroker: listen on %s:%d: %s\n", host, *port_io, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

int kb_net_listen(struct kb_broker *b)
{
    return kb_listen_on(b->cfg.host, &b->cfg.port, &b->lfd);
}

/* ------------------------------------------------------------ accepting */

static void conn_accept_one(struct kb_broker *b, int fd)
{
    if ((size_t)fd >= b->conns_cap) {
        size_t cap = b->conns_cap ? b->conns_cap : 256;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct kb_conn **t = realloc(b->conns, cap * sizeof *t);
        if (!t) {
            close(fd);
            return;
        }
        memset(t + b->conns_cap, 0, (cap - b->conns_cap) * sizeof *t);
        b->conns = t;
        b->conns_cap = cap;
    }
    struct kb_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->id = ++b->next_conn_id;
    c->events = EPOLLIN;
    struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &e)) {
        free(c);
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    b->conns[fd] = c;
    b->nconns++;
    kb_log(b, "connection %llu accepted (fd %d, %zu open)", (unsigned long long)c->id, fd,
           b->nconns);
}

void kb_net_accept(struct kb_broker *b)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_accept_one(b, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && b->spare_fd >= 0) {
            /* Out of descriptors: accept and drop one so the listener does
             * not stay readable forever, then take the reserve back. */
            close(b->spare_fd);
            fd = accept(b->lfd, NULL, NULL);
            if (fd >= 0)
                close(fd);
            b->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            fprintf(stderr, "kbroker: out of file descriptors, connection refused\n");
        }
        return;
    }
}

