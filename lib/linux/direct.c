/*
 * The direct delivery, parent side. Per spawn, one SOCK_SEQPACKET
 * socketpair: the parent queues every handle in it before posix_spawn
 * (the kernel holds the in-flight references: no per-spawn duplicates),
 * the child inherits its end and reads them in libcph_child's
 * constructor. No server round trip, no name: the inherited socket is
 * the capability.
 *
 * The final message, queued before posix_spawn too, carries the parent's
 * sending end itself (the receipt); right after posix_spawn a trailer
 * carries a pidfd of the child, which the child closes if it is there
 * when it has taken its handles. The parent closes its own copies and
 * keeps one fd per pending child, a copy of the child's end:
 *
 *  - The child consumes the final message, accepts the handles, writes
 *    the ack on the receipt (stamped with its pid: the child's end has
 *    SO_PASSCRED) and closes it: the sending end's last reference is
 *    gone, so the kernel shuts the pair down (unix_release_sock) and the
 *    parent's copy hangs up with nothing but the ack and the trailer, if
 *    anything, queued: handed over (outcome 0) if the ack came from the
 *    spawned process or a descendant (taker.c), EACCES otherwise.
 *  - The child fails before the final message (out of fds, a malformed
 *    message) and shuts its end down: hangup with messages still queued,
 *    or the trailer's send finds the pair shut down (EPIPE); or after it,
 *    and leaves a message in the receipt's queue before closing it,
 *    which marks the parent's copy ECONNRESET: given up (ECONNABORTED).
 *  - The spawned process exits first: the pidfd, watched by epoll while
 *    only the queue holds it (epoll drops a watch when the file is
 *    released, not when an fd is closed), becomes readable. The parent
 *    drains what is queued and closes it, even if a descendant still
 *    holds the child's end: given up if anything was left.
 *
 * No thread wakes for a child that takes its handles: its pidfd is gone
 * with the trailer it closed, and the hangup lands in the quiet set,
 * which is collected many at a time (handed.c). Only a child that leaves
 * its handles, or a thread waiting for an outcome, wakes the thread.
 *
 * A list with expected keys instead keeps three fds per child until the
 * check-in and two until it exits (give.c): the sending end, which the
 * child acknowledges and gives on, a pidfd, and the copy of the child's
 * end (closed at the check-in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../core/attachments.h"
#include "../transport.h"
#include "loop.h"
#include "protocol.h"

/* Under the lock, so one buffer serves every spawn. */
static struct cph__message message;

/* Sends without blocking; the queue grows as the kernel allows
 * (net.core.wmem_max) when one message does not fit. */
static int send_message(int fd)
{
    int size, more;
    socklen_t len = sizeof size;

    for (;;) {
        if (sendmsg(fd, &message.msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno == ETOOMANYREFS)
            return EMFILE; /* too many fds in flight for this user */
        if (errno != EAGAIN)
            return errno;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0)
            return errno;
        more = size; /* the kernel doubles what it is given */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &more, sizeof more) < 0)
            return errno;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &more, &len) < 0)
            return errno;
        if (more <= size)
            return ENOBUFS;
    }
}

/* Nearly out of fds: the channels of children that took their handles
 * may be what is missing (after the pair, a spawn needs the child's copy
 * of its end and a pidfd; fds are allocated lowest first). Running out
 * altogether is the caller's to retry (cph__handed_collect). */
static int make_pair(int pair[2])
{
    struct rlimit rl;
    int err;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return errno;
    /* Every message the child's end receives carries its sender's pid:
     * the child takes only the parent's, the parent only an ack from the
     * child's tree. */
    err = cph__pass_creds(pair[1], true);
    if (err) {
        close(pair[0]);
        close(pair[1]);
        return err;
    }
    if (cph__loop_quiet_count() > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        (rlim_t)pair[1] + 3 >= rl.rlim_cur)
        cph__handed_collect();
    return 0;
}

int cph__direct_prepare(struct cph__record *r,
                        const struct cph_attachments *list)
{
    int pair[2], err;

    /* Only gives need the thread: started before the child exists, so
     * that a thread that cannot start fails the spawn rather than every
     * outcome. */
    err = list->nexpects > 0 ? cph__loop_start() : 0;
    if (!err)
        err = make_pair(pair);
    if (err)
        return err;
    r->spawn_fds[0] = pair[0];
    r->end_fd = pair[1];
    r->sent = 0;
    for (size_t sent = 0; sent < list->count + list->nexpects;) {
        sent += cph__message_next(&message, list->items, sizeof *list->items,
                                  list->count, list->expects,
                                  list->nexpects, sent, false);
        err = send_message(pair[0]);
        if (err)
            return err;
        r->sent++;
    }
    /* The final message, with the sending end itself as the receipt
     * unless the channel stays open for gives. Apart from the handles, so
     * that a child that could not take them all leaves it unread. */
    cph__message_build(&message, NULL, 0, 0, true, &pair[0],
                       list->nexpects ? 0 : 1);
    err = send_message(pair[0]);
    if (!err)
        r->sent++;
    /* The give channel's ack is stamped too. Only now: a sender with
     * SO_PASSCRED gets bound to an abstract name (autobind). */
    if (!err && list->nexpects)
        err = cph__pass_creds(pair[0], true);
    return err;
}

/* Whether the first message queued on fd, the copy of a child's end, is
 * its ack (a bare head, no handle, last, nothing more), or, if or_empty,
 * nothing is queued. */
static bool ack_first(int fd, bool or_empty)
{
    struct cph__message_head head;
    ssize_t n = recv(fd, &head, sizeof head, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0)
        return or_empty && errno == EAGAIN;
    return (size_t)n == sizeof head && !head.count && head.last &&
           !head.extra;
}

/* The outcome of r once its channel was left with messages, unread of
 * them the parent's from before the spawn (cph__drain): whether it
 * began to check in is the transport's to say, the outcome the core's. */
int cph__direct_gone(const struct cph__record *r, unsigned unread)
{
    return cph__outcome_gone(r->delivery != CPH_DELIVERY_DIRECT ||
                             unread != r->sent);
}

/* Without a pidfd (Linux < 5.3, a seccomp filter, valgrind, or a child
 * already reaped that posix_spawn made) the parent
 * keeps its sending end instead of the copy of the child's end: it hangs
 * up once every copy of the child's end is closed, marked ECONNRESET if
 * anything was left unread (unix_release_sock), and a child that refused
 * what it read says so in its queue (direct_child.c). A descendant that
 * holds the child's end then delays the outcome, and what it never reads,
 * until it exits. */
static int keep_sender(struct cph__record *r)
{
    int err;

    /* A trailer without a pidfd tells the child to ack on its end, which
     * queues it here (direct_child.c); stamped, since the end has
     * SO_PASSCRED, and read with the pid only where this end asks. */
    cph__message_build(&message, NULL, 0, 0, false, NULL, 0);
    err = send_message(r->spawn_fds[0]);
    if (!err)
        err = cph__pass_creds(r->spawn_fds[0], true);
    if (err)
        return err == EPIPE ? ECONNABORTED : EIO;
    /* A child that read on before the trailer came acked on the receipt:
     * its ack waits on the copy of its end, the only place to read it,
     * and the hangup comes there once the receipt and this end are
     * closed. */
    if (ack_first(r->end_fd, false)) {
        cph__close_fd(&r->spawn_fds[0]);
        return cph__handed_watch(r, CPH__TAG_END);
    }
    close(r->end_fd);
    r->end_fd = r->spawn_fds[0];
    r->spawn_fds[0] = -1;
    return cph__handed_watch(r, CPH__TAG_SENDER);
}

/* With expected keys: the parent keeps its sending end as the give
 * channel, and the child acknowledges on it (give.c). Without a pidfd
 * the parent's copy of the child's end goes, so that the channel's hangup
 * says what the exit would have; a child reaped already (ESRCH) that
 * never read its channel has not checked in, and cannot. */
static int publish_giving(struct cph__record *r)
{
    int pidfd = cph__child_pidfd(r);
    unsigned unread;
    int err;

    if (pidfd < 0 && errno == ESRCH) {
        cph__drain(r->end_fd, NULL, &unread);
        if (unread == r->sent)
            return cph__direct_gone(r, unread);
    }
    if (pidfd < 0)
        cph__close_fd(&r->end_fd);
    err = cph__give_watch(r->id, pidfd, r->spawn_fds[0]);
    r->spawn_fds[0] = -1;
    return err ? EIO : 0;
}

/* The trailer: a pidfd of the child, watched while only the queue holds
 * it. EPIPE: the child already shut its end down, giving up. */
static int send_trailer(struct cph__record *r, int pidfd)
{
    int err = cph__loop_quiet_watch(pidfd, EPOLLIN | EPOLLONESHOT,
                                    cph__tagged(r->id, CPH__TAG_DIED), false);

    if (!err) {
        cph__message_build(&message, NULL, 0, 0, false, &pidfd, 1);
        err = send_message(r->spawn_fds[0]);
    }
    close(pidfd);
    return err;
}

/* The child exited and was reaped before the parent looked (SIGCHLD
 * ignored, or a handler that reaps): it took its handles if nothing but
 * its ack is queued, and the hangup comes once the receipt is closed;
 * anything else queued will never be read. */
static int reaped(struct cph__record *r)
{
    unsigned unread;

    if (ack_first(r->end_fd, true))
        return cph__handed_watch(r, CPH__TAG_END);
    cph__drain(r->end_fd, NULL, &unread);
    return cph__direct_gone(r, unread);
}

int cph__direct_publish(struct cph__record *r)
{
    int pidfd, err;

    if (r->nexpects > 0)
        return publish_giving(r);
    cph__handed_room();
    /* A child reaped already (SIGCHLD ignored, or a handler that
     * reaps) has no pid left: the channel alone says what it did. */
    pidfd = cph__child_pidfd(r);
    if (pidfd < 0 && errno == ESRCH)
        return reaped(r);
    err = pidfd < 0 ? errno : send_trailer(r, pidfd);
    if (err == EPIPE)
        return ECONNABORTED;
    if (err)
        return keep_sender(r);
    return cph__handed_watch(r, CPH__TAG_END);
}

