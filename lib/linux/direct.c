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
 *  - The child consumes the final message, accepts the handles and
 *    closes the receipt: the sending end's last reference is gone, so
 *    the kernel shuts the pair down (unix_release_sock) and the parent's
 *    copy hangs up with nothing but the trailer, if anything, queued:
 *    handed over (outcome 0).
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
 * with the trailer it closed, and the hangup lands in the quiet set
 * (loop.h), which is collected many at a time. Only a child that leaves
 * its handles, or a thread waiting for an outcome, wakes the thread.
 *
 * A list with expected keys instead keeps three fds per child until the
 * check-in and two until it exits (give.c): the sending end, which the
 * child acknowledges and gives on, a pidfd, and the copy of the child's
 * end (closed at the check-in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
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
/* The period of the quiet set's timer: the minimum when the set gets its
 * first fd, doubling while nothing hangs up. */
#define COLLECT_MS_MIN 100
#define COLLECT_MS_MAX 3200
/* A spawn collects the quiet set once it holds this many channels. */
#define COLLECT_BATCH 64
static int collect_ms = COLLECT_MS_MIN;

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

/* Out of fds, or nearly: the channels in the quiet set may be what is
 * missing (after the pair, a spawn needs the child's copy of its end and
 * a pidfd; fds are allocated lowest first). */
static int make_pair(int pair[2])
{
    struct rlimit rl;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        if ((errno != EMFILE && errno != ENFILE) || cph__direct_collect() == 0)
            return errno;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
            return errno;
    }
    if (cph__loop_quiet_count() > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        (rlim_t)pair[1] + 3 >= rl.rlim_cur)
        cph__direct_collect();
    return 0;
}

int cph__direct_prepare(struct cph__record *r,
                        const struct cph_attachments *list)
{
    int pair[2], err;

    if (cph__loop_quiet_count() >= COLLECT_BATCH)
        cph__direct_collect();
    err = make_pair(pair);
    if (err)
        return err;
    r->spawn_fds[0] = pair[0];
    r->end_fd = pair[1];
    for (size_t sent = 0; sent < list->count + list->nexpects;) {
        sent += cph__message_next(&message, list->items, sizeof *list->items,
                                  list->count, list->expects,
                                  list->nexpects, sent, false);
        err = send_message(pair[0]);
        if (err)
            return err;
    }
    /* The final message, with the sending end itself as the receipt
     * unless the channel stays open for gives. Apart from the handles, so
     * that a child that could not take them all leaves it unread. */
    cph__message_build(&message, NULL, 0, 0, true, &pair[0],
                       list->nexpects ? 0 : 1);
    return send_message(pair[0]);
}

/* Without pidfds (Linux < 5.3, a seccomp filter, valgrind) the parent
 * keeps its sending end instead of the copy of the child's end: it hangs
 * up once every copy of the child's end is closed, marked ECONNRESET if
 * anything was left unread (unix_release_sock), and a child that refused
 * what it read says so in its queue (direct_child.c). A descendant that
 * holds the child's end then delays the outcome, and what it never reads,
 * until it exits. */
static int keep_sender(struct cph__record *r)
{
    close(r->end_fd);
    r->end_fd = r->spawn_fds[0];
    r->spawn_fds[0] = -1;
    return cph__loop_watch(EPOLL_CTL_ADD, r->end_fd, EPOLLRDHUP,
                           cph__tagged(r->id, CPH__TAG_SENDER))
               ? EIO
               : 0;
}

/* With expected keys: the parent keeps its sending end as the give
 * channel, and the child acknowledges on it (give.c). */
static int publish_giving(struct cph__record *r)
{
    int err = cph__give_watch(r->id, r->pid, r->spawn_fds[0], false);

    r->spawn_fds[0] = -1;
    return err ? EIO : 0;
}

/* The trailer: a pidfd of the child, watched while only the queue holds
 * it. EPIPE: the child already shut its end down, giving up. */
static int send_trailer(struct cph__record *r, int pidfd)
{
    int err = cph__loop_watch(EPOLL_CTL_ADD, pidfd, EPOLLIN | EPOLLONESHOT,
                              cph__tagged(r->id, CPH__TAG_DIED));

    if (!err) {
        cph__message_build(&message, NULL, 0, 0, false, &pidfd, 1);
        err = send_message(r->spawn_fds[0]);
    }
    close(pidfd);
    return err;
}

int cph__direct_publish(struct cph__record *r)
{
    int pidfd, err;
    bool first;

    if (r->nexpects > 0)
        return publish_giving(r);
    pidfd = cph__pidfd_open(r->pid);
    if (pidfd < 0 && errno == ESRCH)
        return ECONNABORTED; /* already reaped (a SIGCHLD handler, say) */
    err = pidfd < 0 ? errno : send_trailer(r, pidfd);
    if (err == EPIPE)
        return ECONNABORTED;
    if (err)
        return keep_sender(r);
    first = cph__loop_quiet_count() == 0;
    err = cph__loop_quiet_add(r->end_fd, cph__tagged(r->id, CPH__TAG_END));
    if (!err && first)
        cph__loop_quiet_timer(collect_ms = COLLECT_MS_MIN);
    return err ? EIO : 0;
}

static bool queued(int fd, unsigned long which)
{
    int bytes = 0;

    return ioctl(fd, which, &bytes) == 0 && bytes > 0;
}

static bool reset(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;

    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == ECONNRESET;
}

/* Whether the child refused or left its handles: see direct_child.c for
 * what it does to say so. */
static bool given_up(struct cph__record *r, enum cph__tag tag)
{
    bool left;

    if (tag == CPH__TAG_SENDER)
        return reset(r->end_fd) || queued(r->end_fd, SIOCINQ) ||
               queued(r->end_fd, SIOCOUTQ);
    left = reset(r->end_fd);
    return cph__drain(r->end_fd, message.bytes) || left;
}

/* Under the lock; whether it finished r. */
static bool settle(uint64_t id, enum cph__tag tag)
{
    struct cph__record *r = cph__registry_find(id);

    if (!r || r->state != CPH__WAITING)
        return false;
    cph__registry_finish(r, given_up(r, tag) ? ECONNABORTED : 0);
    return true;
}

void cph__direct_event(uint64_t id, enum cph__tag tag)
{
    cph__lock();
    settle(id, tag);
    cph__unlock();
}

size_t cph__direct_collect(void)
{
    uint64_t data[32];
    size_t done = 0;
    int n;

    do {
        n = cph__loop_quiet_ready(data, 32);
        for (int i = 0; i < n; i++)
            done += settle(data[i] >> 4, CPH__TAG_END);
    } while (n == 32);
    return done;
}

void cph__direct_attend(bool more)
{
    cph__loop_attend(more);
}

/* The quiet set's timer expired, or it hung up while a thread waits:
 * the thread collects it, and looks again later, less often while nothing
 * hangs up (a long-lived child that never reads, say). */
void cph__direct_quiet_event(void)
{
    cph__lock();
    if (cph__direct_collect() > 0)
        collect_ms = COLLECT_MS_MIN;
    else if (collect_ms < COLLECT_MS_MAX)
        collect_ms *= 2;
    cph__loop_quiet_timer(cph__loop_quiet_count() > 0 ? collect_ms : 0);
    cph__unlock();
}
