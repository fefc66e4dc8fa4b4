/*
 * The child's half of the direct delivery (see direct.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../transport.h"
#include "protocol.h"

/* A socketpair's SO_PEERCRED names whoever made the pair. */
int cph__direct_check(int fd, pid_t pid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    int type;
    socklen_t type_len = sizeof type;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0 ||
        type != SOCK_SEQPACKET ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        cred.pid != pid)
        return EBADF;
    return 0;
}

/* The final message's extra fds: the parent's sending end (the receipt)
 * and a pidfd, held until the core has accepted the handles. */
static int receipt[CPH__EXTRA_MAX] = {-1, -1};

int cph__direct_receive(int fd, int64_t deadline_ms,
                        struct cph__handle **handles, size_t *count)
{
    return cph__receive_all(fd, deadline_ms, handles, count, receipt);
}

/* The trailer, if it is already there: closing its pidfd ends the
 * parent's watch on this process's exit (epoll drops it with the file),
 * so that the parent needs no wake-up for a child that took its handles.
 * Nothing else can follow the final message. */
static void close_trailer(int fd)
{
    struct cph__message_head head;
    struct cph__batch b;
    int flags;

    if (cph__receive_message(fd, &head, sizeof head, &b, &flags) >= 0)
        cph__batch_close(&b);
}

static void close_receipt(void)
{
    for (size_t i = 0; i < CPH__EXTRA_MAX; i++) {
        if (receipt[i] >= 0)
            close(receipt[i]);
        receipt[i] = -1;
    }
}

/*
 * How the parent learns the outcome (see direct.c). Accepted: closing the
 * receipt releases the parent's sending end, which hangs the pair up
 * cleanly. Refused: a message written on the end lands in the sending
 * end's queue, whose release with something queued marks its peer
 * ECONNRESET (unix_release_sock), which the parent reads on its copy of
 * the end (or, when the parent kept its sending end, finds queued); only
 * then is the end shut down, since a shutdown alone hangs the parent's
 * copy up as cleanly as an acceptance does. A final message still unread
 * says the same.
 */
void cph__direct_confirm(int fd, int err)
{
    if (err) {
        send(fd, "no", 2, MSG_DONTWAIT | MSG_NOSIGNAL);
        close_receipt();
        shutdown(fd, SHUT_RDWR);
        return;
    }
    close_trailer(fd);
    close_receipt();
}
