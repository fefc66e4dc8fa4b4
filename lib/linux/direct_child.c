/*
 * The child's half of the direct delivery (see direct.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Only what the parent sent counts: a process that holds a copy of the
 * channel cannot slip messages in, since the kernel stamps each with its
 * sender's pid (the parent set SO_PASSCRED on this end). */
int cph__direct_receive(int fd, pid_t parent, int64_t deadline_ms,
                        struct cph__handle **handles, size_t *count)
{
    return cph__receive_all(fd, deadline_ms, handles, count, receipt, parent);
}

/* The trailer, if it is already there: a pidfd of this process, closed
 * here, which ends the parent's watch on its exit (epoll drops it with
 * the file) so that the parent needs no wake-up for a child that took
 * its handles; or no fd, when the parent could not make one and kept its
 * sending end, where the ack must go then (*kept). Never waited for: a
 * parent that reaps its children may publish only after this process
 * is gone (direct.c reads the ack then). */
static int take_trailer(int fd, pid_t parent, bool *kept)
{
    struct cph__message_head head;
    struct cph__batch b;
    int flags = 0, err = 0;
    ssize_t n = cph__receive_message(fd, &head, sizeof head, &b, &flags);

    *kept = false;
    if (n < 0 || cph__eof(n, &b))
        return 0;
    if ((flags & MSG_TRUNC) || (size_t)n != sizeof head ||
        memcmp(head.magic, CPH__MAGIC, sizeof head.magic) != 0 ||
        head.count || head.last || head.extra > 1 || b.sender != parent)
        err = EPROTO;
    *kept = head.extra == 0;
    cph__batch_close(&b);
    return err;
}

static void close_receipt(void)
{
    for (size_t i = 0; i < CPH__EXTRA_MAX; i++) {
        if (receipt[i] >= 0)
            close(receipt[i]);
        receipt[i] = -1;
    }
}

/* The ack, the proof of who took the handles: the kernel stamps it with
 * this process's pid (the parent's end of it has SO_PASSCRED). Written
 * on the receipt, it lands in this end's own queue, where the parent
 * reads it from its copy; when the parent kept its sending end instead,
 * on this end, which queues it there. */
static int send_ack(int fd, pid_t parent)
{
    static const struct cph__message_head ack = {
        .magic = CPH__MAGIC, .count = 0, .last = 1, .extra = 0};
    bool kept = false;
    int err;

    if (receipt[0] < 0)
        return 0; /* expected keys: the ack goes on the give channel */
    err = take_trailer(fd, parent, &kept);
    if (!err && send(kept ? fd : receipt[0], &ack, sizeof ack,
                     MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        err = errno;
    return err;
}

/*
 * How the parent learns the outcome (see direct.c). Accepted: the ack
 * is queued, then closing the receipt releases the parent's sending end,
 * which hangs the pair up cleanly. Refused: a message written on the end
 * lands in the sending end's queue, whose release with something queued
 * marks its peer ECONNRESET (unix_release_sock), which the parent reads
 * on its copy of the end (or, when the parent kept its sending end,
 * finds queued); only then is the end shut down, since a shutdown alone
 * hangs the parent's copy up as cleanly as an acceptance does. A final
 * message still unread says the same. The refusal is sent without
 * SO_PASSCRED, which would make the kernel bind this end to an abstract
 * name (unix_dgram_sendmsg's autobind).
 */
int cph__direct_confirm(int fd, pid_t parent, int err)
{
    if (!err)
        err = send_ack(fd, parent);
    if (err) {
        cph__pass_creds(fd, false);
        send(fd, "no", 2, MSG_DONTWAIT | MSG_NOSIGNAL);
        close_receipt();
        shutdown(fd, SHUT_RDWR);
        return err;
    }
    close_receipt();
    return 0;
}
