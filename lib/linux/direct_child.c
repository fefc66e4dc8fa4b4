/*
 * The child's half of the direct delivery (see direct.c).
 */
#define _GNU_SOURCE
#include <errno.h>
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

/* On error, shutting the channel down tells the parent at once: it sees
 * the hangup with its final message still queued, and gives the child
 * up (direct.c). */
int cph__direct_receive(int fd, int64_t deadline_ms,
                        struct cph__handle **handles, size_t *count)
{
    int err = cph__receive_all(fd, deadline_ms, handles, count);

    if (err)
        shutdown(fd, SHUT_RDWR);
    return err;
}
