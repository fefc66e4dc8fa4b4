/*
 * Giving back, child side (see protocol.h): the messages a child sends
 * on its give channel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "../transport.h"
#include "protocol.h"

/* Sends m, waiting until deadline_ms for room in the parent's queue. */
static int send_waiting(int fd, struct msghdr *m, int64_t deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ready;

        if (sendmsg(fd, m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return 0;
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
            return EPIPE;
        if (errno == ETOOMANYREFS)
            return EMFILE;
        if (errno != EAGAIN && errno != EINTR)
            return errno;
        ready = poll(&pfd, 1, cph__ms_left(deadline_ms));
        if (ready == 0)
            return ETIMEDOUT;
        if (ready < 0 && errno != EINTR)
            return errno;
    }
}

/* The caller serializes (transport.h): one buffer serves every give. */
static struct cph__message m;

/* Direct: the parent set SO_PASSCRED on this end to stamp what it sent;
 * sending with it set would bind the end to an abstract name
 * (unix_dgram_sendmsg's autobind). The parent's end has it: the kernel
 * stamps the ack with this process's pid all the same. */
int cph__give_ack(int fd, int64_t deadline_ms)
{
    cph__pass_creds(fd, false);
    cph__message_build(&m, NULL, 0, 0, true, NULL, 0);
    return send_waiting(fd, &m.msg, deadline_ms);
}

int cph__give_send(int fd, const struct cph__handle *h, int64_t deadline_ms)
{
    cph__message_build(&m, h, sizeof *h, 1, false, NULL, 0);
    return send_waiting(fd, &m.msg, deadline_ms);
}
