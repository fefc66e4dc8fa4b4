#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

/* Makes msg carry n fds by SCM_RIGHTS, in space (at least
 * CMSG_SPACE(n * sizeof(int)) bytes, aligned for a cmsghdr); returns
 * where the n fds are to be copied. Padding is zeroed. */
unsigned char *cph__attach_fds(struct msghdr *msg, void *space, size_t n)
{
    struct cmsghdr *cm;

    msg->msg_control = space;
    msg->msg_controllen = CMSG_SPACE(sizeof(int) * n);
    memset(space, 0, msg->msg_controllen);
    cm = CMSG_FIRSTHDR(msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    return CMSG_DATA(cm);
}

int cph__take_fds(struct msghdr *msg, struct cph__batch *b)
{
    int err = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
         cm = CMSG_NXTHDR(msg, cm)) {
        size_t n;
        if (cm->cmsg_level == SOL_SOCKET &&
            cm->cmsg_type == SCM_CREDENTIALS &&
            cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(cm), sizeof cred);
            b->sender = cred.pid;
        }
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (b->n < sizeof b->fds / sizeof b->fds[0])
                b->fds[b->n++] = fd;
            else {
                close(fd);
                err = EPROTO;
            }
        }
    }
    return err;
}

void cph__batch_close(struct cph__batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->fds[i] >= 0)
            close(b->fds[i]);
    b->n = 0;
}

/*
 * On a SEQPACKET socket a non-blocking recvmsg looks at the queue, then,
 * finding it empty, at the shutdown (__unix_dgram_recvmsg: "Signal EOF on
 * disconnected non-blocking SEQPACKET socket"): a message the peer queued
 * between the two looks, just before it shut down or closed, reads as an
 * EOF. Nothing can be queued once the shutdown is set, so an EOF is
 * looked at once more.
 */
static ssize_t recvmsg_now(int fd, struct msghdr *msg)
{
    size_t room = msg->msg_controllen;
    ssize_t n = recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n == 0 && msg->msg_controllen == 0) {
        msg->msg_controllen = room;
        n = recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    }
    return n;
}

ssize_t cph__receive_message(int fd, void *buf, size_t len,
                             struct cph__batch *b, int *flags)
{
    union cph__control control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    ssize_t n = recvmsg_now(fd, &msg);

    b->n = 0;
    b->sender = 0;
    if (n < 0)
        return n;
    *flags = msg.msg_flags;
    if (cph__take_fds(&msg, b) != 0)
        *flags |= MSG_CTRUNC;
    return n;
}

int cph__pass_creds(int fd, bool on)
{
    int value = on;

    return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &value, sizeof value) < 0
               ? errno
               : 0;
}

/* The taker's ack: a bare head, count 0, last 1, no fds, sent by a
 * process other than this one (the parent's own final message carries
 * the receipt). */
static bool is_ack(const struct cph__message_head *head, ssize_t n,
                   const struct cph__batch *b)
{
    return (size_t)n == sizeof *head && !head->count && head->last &&
           !head->extra && b->n == 0 && b->sender != getpid();
}

/* A whole message that is nothing but a head of ours. */
static bool bare_head(const struct cph__message_head *head, ssize_t n,
                      int flags)
{
    return !(flags & MSG_TRUNC) && (size_t)n == sizeof *head &&
           memcmp(head->magic, CPH__MAGIC, sizeof head->magic) == 0;
}

/* A trailer is a bare head: anything longer is read only as far as
 * telling it is not one (SEQPACKET drops the rest of a message). */
bool cph__drain(int fd, pid_t *taker, unsigned *unread)
{
    pid_t self = getpid();
    bool any = false;

    if (taker)
        *taker = 0;
    if (unread)
        *unread = 0;
    for (;;) {
        struct cph__batch b;
        struct cph__message_head head;
        int flags = 0;
        ssize_t n = cph__receive_message(fd, &head, sizeof head, &b, &flags);

        if (n < 0 || cph__eof(n, &b))
            return any;
        bool bare = bare_head(&head, n, flags);
        /* The trailer announces no handle and one fd (a pidfd of the
         * child) or none (direct.c keep_sender). */
        bool trailer = bare && !head.count && !head.last && head.extra <= 1;

        if (bare && is_ack(&head, n, &b) && taker)
            *taker = *taker && *taker != b.sender ? -1 : b.sender;
        else if (!trailer)
            any = true;
        if (unread && b.sender == self && !trailer)
            (*unread)++;
        cph__batch_close(&b);
    }
}
