/*
 * The child's half of the Linux check-in (see protocol.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../transport.h"
#include "protocol.h"

struct cph__checkin {
    int fd;
};

static void set_send_timeout(int fd, int64_t deadline_ms)
{
    int ms = cph__ms_left(deadline_ms);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    /* A zero timeval means "no timeout" to the kernel. */
    if (ms == 0)
        tv.tv_usec = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The listener's credentials are those of whoever called listen(). */
static int check_server(int fd, pid_t parent)
{
    struct ucred cred;
    socklen_t len = sizeof cred;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return errno;
    return cred.pid == parent ? 0 : EPERM;
}

int cph__checkin_send(const char *service, const uint8_t *token,
                      pid_t parent, int64_t deadline_ms,
                      struct cph__checkin **out)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    struct cph__checkin *c;
    int fd, err;

    if (len == 0)
        return EINVAL;
    c = malloc(sizeof *c);
    if (!c)
        return ENOMEM;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    /* connect waits (up to SO_SNDTIMEO) while the listener's backlog is
     * full. */
    set_send_timeout(fd, deadline_ms);
    memcpy(req.token, token, sizeof req.token);
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) {
        err = errno;
        if (err == ENOENT)
            err = ECONNREFUSED;
        else if (err == EAGAIN || err == EINPROGRESS)
            err = ETIMEDOUT;
        goto fail_fd;
    }
    /* Before the token goes anywhere. */
    err = check_server(fd, parent);
    if (err)
        goto fail_fd;
    if (send(fd, &req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) {
        err = errno == EAGAIN ? ETIMEDOUT : errno;
        goto fail_fd;
    }
    c->fd = fd;
    *out = c;
    return 0;
fail_fd:
    close(fd);
fail:
    free(c);
    return err == EPIPE ? ECONNRESET : err;
}

/* Moves the fds of msg's SCM_RIGHTS into fds[*nfds...]; too many is an
 * error but every fd is still taken (and later closed). */
static int take_fds(struct msghdr *msg, int *fds, size_t *nfds, size_t max)
{
    int err = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
         cm = CMSG_NXTHDR(msg, cm)) {
        size_t n;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (*nfds < max)
                fds[(*nfds)++] = fd;
            else {
                close(fd);
                err = EPROTO;
            }
        }
    }
    return err;
}

/* Receives one reply and appends its handles to *h. */
static int receive_reply(int fd, int64_t deadline_ms, uint8_t *buf,
                         struct cph__handle **h, size_t *count, bool *last)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * CPH__FDS_PER_REPLY)];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = CPH__REPLY_MAX};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int fds[CPH__FDS_PER_REPLY];
    size_t nfds = 0, off = sizeof(struct cph__reply_head);
    struct cph__reply_head head;
    struct cph__handle *grown;
    ssize_t n;
    int err, ready;

    do
        ready = poll(&pfd, 1, cph__ms_left(deadline_ms));
    while (ready < 0 && errno == EINTR);
    if (ready <= 0)
        return ready == 0 ? ETIMEDOUT : errno;
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n <= 0)
        return n == 0 || errno == EPIPE ? ECONNRESET : errno;
    err = take_fds(&msg, fds, &nfds, CPH__FDS_PER_REPLY);
    if (err || (size_t)n < sizeof head ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        goto fail_proto;
    memcpy(&head, buf, sizeof head);
    if (memcmp(head.magic, CPH__MAGIC, sizeof head.magic) != 0 ||
        head.count != nfds)
        goto fail_proto;
    grown = realloc(*h, (*count + nfds + 1) * sizeof **h);
    if (!grown) {
        err = ENOMEM;
        goto fail;
    }
    *h = grown;
    /* Every key is checked before any fd is committed. */
    for (size_t i = 0; i < nfds; i++) {
        struct cph__handle *e = &grown[*count + i];
        if (cph__wire_get(buf, (size_t)n, &off, e) != 0 ||
            e->kind != CPH__KIND_FD)
            goto fail_proto;
    }
    if (off != (size_t)n)
        goto fail_proto;
    for (size_t i = 0; i < nfds; i++)
        grown[*count + i].fd = fds[i];
    *count += nfds;
    *last = head.last != 0;
    return 0;
fail_proto:
    err = EPROTO;
fail:
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    return err;
}

int cph__checkin_receive(struct cph__checkin *c, int64_t deadline_ms,
                         struct cph__handle **handles, size_t *count)
{
    struct cph__handle *h = NULL;
    uint8_t *buf = malloc(CPH__REPLY_MAX);
    size_t n = 0;
    bool last = false;
    int err = buf ? 0 : ENOMEM;

    while (!err && !last)
        err = receive_reply(c->fd, deadline_ms, buf, &h, &n, &last);
    close(c->fd);
    free(c);
    free(buf);
    if (err) {
        cph__handles_release(h, n);
        free(h);
        return err;
    }
    *handles = h;
    *count = n;
    return 0;
}
