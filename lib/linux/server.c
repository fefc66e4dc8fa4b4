/*
 * The Linux pid-bound rendezvous server: a listening SOCK_SEQPACKET
 * socket in the abstract namespace, watched by the transport's thread
 * (loop.c), with each published record's pipe (EPOLLERR once the child's
 * read end is closed everywhere) and pidfd (readable once the child
 * exits) until its check-in. Once every handle is sent, the connection
 * goes to the record, whose child's close is collected with the direct
 * delivery's hangups (handed.c).
 *
 * Connections belong to the thread alone; cph's lock is taken to look
 * records up, hand them over and finish them, and around each fd a
 * connection gets or loses and the list it is in, so that a process
 * another thread forks finds every connection fd in the list (and
 * closes it, cph__server_forget); never across socket I/O that can wait (the one send made under it, a checked-in child's
 * last message, does not block), so a flood of connections slows this
 * thread but never cph_spawn or cph_checkin_wait. A claimed (DELIVERING)
 * record is finished by this thread only, so its handles are read here
 * without the lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cph/child.h>

#include "../transport.h"
#include "loop.h"
#include "protocol.h"

/* Connections that have not checked in yet, at most: past that, the
 * oldest makes room (an outsider cannot shut real children out by
 * holding connections idle). Accepts per wake-up are bounded so that
 * expiry and deliveries go on during a flood. When accept runs out of
 * fds or memory, the listener rests until a connection closes or
 * LISTEN_REST_MS have passed; nobody is evicted for it. */
#define CONNS_MAX 256
#define ACCEPTS_PER_WAKE 16
#define LISTEN_REST_MS 100

struct conn {
    int fd;
    pid_t peer;
    int64_t deadline;          /* to send a request */
    struct cph__record *record; /* the record it claimed, NULL before */
    size_t sent;               /* handles sent so far */
    bool watched;              /* by the thread's epoll set */
    bool dead;                 /* closed or handed on; freed by the next tick */
    struct conn *next;
};

static struct {
    int listen_fd;
    bool listen_watched; /* by the thread: a child was spawned */
    bool listen_resting;
    int64_t rest_until;
    struct conn *conns;
    size_t waiting_conns;
} srv = {.listen_fd = -1};

static uint64_t conn_data(struct conn *c)
{
    return cph__tagged_ptr(c, CPH__TAG_CONN);
}

static void listener_rest(bool rest)
{
    if (rest)
        srv.rest_until = cph__now_ms() + LISTEN_REST_MS;
    if (srv.listen_resting == rest)
        return;
    srv.listen_resting = rest;
    cph__loop_watch(EPOLL_CTL_MOD, srv.listen_fd, rest ? 0 : EPOLLIN,
                    cph__tagged(0, CPH__TAG_LISTEN));
}

/* Watches c for events, if it was not watched yet. */
static int conn_watch(struct conn *c, uint32_t events)
{
    int err = cph__loop_watch(c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                              c->fd, events, conn_data(c));

    c->watched = c->watched || err == 0;
    return err;
}

static void conn_unwatch(struct conn *c)
{
    if (c->watched)
        cph__loop_watch(EPOLL_CTL_DEL, c->fd, 0, 0);
    c->watched = false;
}

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    conn_unwatch(c);
    cph__lock();
    close(c->fd);
    c->dead = true;
    cph__unlock();
    if (!c->record)
        srv.waiting_conns--;
    listener_rest(false);
}

static void conn_read(struct conn *c);

/* The oldest connection that has not checked in is read one last time (a
 * check-in it holds is served) and closed otherwise. */
static void evict_oldest(void)
{
    struct conn *oldest = NULL;

    for (struct conn *c = srv.conns; c; c = c->next)
        if (!c->dead && !c->record &&
            (!oldest || c->deadline < oldest->deadline))
            oldest = c;
    if (!oldest)
        return;
    conn_read(oldest);
    if (!oldest->record)
        conn_close(oldest);
}

/* Out of fds: the connections of children that took their handles may
 * be what is missing. */
static bool collected(void)
{
    size_t n;

    cph__lock();
    n = cph__handed_collect();
    cph__unlock();
    return n > 0;
}

/* One connection from the backlog, in the list before anyone can fork:
 * 0, or accept4's errno (ECONNABORTED as well when it was dropped,
 * ENOMEM when nothing could be accepted). */
static int accept_one(struct conn **out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    struct conn *c = calloc(1, sizeof *c);
    int err = 0;

    if (!c)
        return ENOMEM;
    cph__lock();
    c->fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c->fd < 0)
        err = errno;
    else if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        err = ECONNABORTED;
    if (!err) {
        c->peer = cred.pid;
        c->deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
        c->next = srv.conns;
        srv.conns = c;
        srv.waiting_conns++;
    } else if (c->fd >= 0) {
        close(c->fd);
    }
    cph__unlock();
    if (err)
        free(c);
    *out = err ? NULL : c;
    return err;
}

/* Accepts up to max connections; false once the backlog is empty. */
static bool accept_some(size_t max)
{
    for (size_t i = 0; i < max; i++) {
        struct conn *c;
        int err;

        if (srv.waiting_conns >= CONNS_MAX)
            evict_oldest();
        err = accept_one(&c);
        if (err) {
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if ((err == EMFILE || err == ENFILE) && collected())
                continue;
            if (err != EAGAIN)
                listener_rest(true); /* out of fds or memory */
            return false;
        }
        /* Served or closed at once if its request or its close is
         * there already: a flood of connects that close never fills
         * CONNS_MAX, whose evictions each scan every connection. Watched
         * only if it has to be waited for. */
        conn_read(c);
        if (!c->dead && !c->record && conn_watch(c, EPOLLIN) != 0)
            conn_close(c);
    }
    return true;
}

/* One message: up to CPH__FDS_PER_MESSAGE entries from where c is. */
static int send_reply(struct conn *c)
{
    static struct cph__message m; /* this thread's alone */
    const struct cph__record *r = c->record;
    size_t n = cph__message_next(&m, r->held, sizeof *r->held, r->count,
                                 r->expects, r->nexpects, c->sent, true);

    if (sendmsg(c->fd, &m.msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return errno;
    c->sent += n;
    return 0;
}

/* Every handle is out and the parent expects keys back: the connection,
 * which proved the token and the pid, becomes the child's give channel,
 * and the child's ack on it the outcome (give.c). */
static void conn_keep(struct conn *c)
{
    struct cph__record *r = c->record;
    int pidfd;

    conn_unwatch(c);
    cph__lock();
    c->dead = true; /* under the lock: a fork finds the fd in one place */
    cph__server_unwatch(r);
    cph__close_fd(&r->pipe_fd);
    pidfd = r->exit_fd;
    r->exit_fd = -1;
    cph__handles_release(r->held, r->count);
    r->count = 0;
    r->state = CPH__HANDED;
    if (cph__give_watch(r->id, pidfd, c->fd) != 0)
        cph__registry_finish(r, EIO);
    cph__unlock();
}

/* Closed first: once the outcome is out, cph holds nothing for it. */
static void conn_finish(struct conn *c, int outcome)
{
    conn_close(c);
    cph__lock();
    cph__registry_finish(c->record, outcome);
    cph__unlock();
}

/*
 * Sends the last message, then the connection goes to the record, whose
 * child's close gives the outcome without waking this thread (handed.c):
 * the child reads the messages, then closes; one that could not take
 * everything (out of fds, a broken message) sends one byte first. The
 * pipe and the pidfd have nothing more to tell, and the spawn's copies
 * of the handles nothing more to give. All under the lock, the send
 * included: once the last message is out the child can finish at once
 * (its wake-up may even preempt this thread), and a spawn short of fds
 * must then find the record holding nothing but the connection.
 */
static int conn_hand_over(struct conn *c)
{
    struct cph__record *r = c->record;
    int err;

    cph__lock();
    err = send_reply(c);
    if (!err) {
        conn_unwatch(c);
        c->dead = true; /* under the lock: a fork finds the fd in one place */
        cph__server_unwatch(r);
        cph__close_fd(&r->pipe_fd); /* closed already if its EOF came first */
        cph__close_fd(&r->exit_fd);
        cph__handles_release(r->held, r->count);
        r->count = 0;
        r->end_fd = c->fd;
        r->state = CPH__HANDED;
        shutdown(r->end_fd, SHUT_WR);
        cph__handed_room();
        if (cph__handed_watch(r, CPH__TAG_END) != 0)
            cph__registry_finish(r, EIO);
    }
    cph__unlock();
    return err;
}

/* Sends what is left of the claimed record's handles; the socket may
 * fill up, then EPOLLOUT brings us back. A child that went away is
 * given up; a send the kernel refuses for want of resources is the
 * parent's failure (EIO). */
static void conn_deliver(struct conn *c)
{
    const struct cph__record *r = c->record;

    for (;;) {
        bool last = r->nexpects == 0 &&
                    r->count - c->sent <= CPH__FDS_PER_MESSAGE;
        int err = last ? conn_hand_over(c) : send_reply(c);

        if (err == EAGAIN && conn_watch(c, EPOLLOUT) == 0)
            return;
        if (err) {
            conn_finish(c, err == EPIPE || err == ECONNRESET ? ECONNABORTED
                                                             : EIO);
            return;
        }
        if (last)
            return; /* r is the collector's now */
        if (c->sent == r->count + r->nexpects) {
            conn_keep(c);
            return;
        }
    }
}

/* Reads the request, if it has come. Anything but exactly one request,
 * from the right pid with the right token, closes the connection and
 * hands out nothing. */
static void conn_read(struct conn *c)
{
    struct cph__request req;
    union cph__control control;
    struct iovec iov = {.iov_base = &req, .iov_len = sizeof req};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    bool had_fds = false;
    ssize_t n;

    n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* Never keep fds a client sends us (the kernel dropped any that did
     * not fit in control). */
    for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
         cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < fds; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                close(fd);
            }
            had_fds = true;
        }
    }
    if (n != (ssize_t)sizeof req || had_fds ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
        memcmp(req.magic, CPH__MAGIC, sizeof req.magic) != 0) {
        conn_close(c);
        return;
    }
    cph__lock();
    c->record = cph__registry_claim(req.token, c->peer);
    cph__unlock();
    if (!c->record) {
        conn_close(c);
        return;
    }
    srv.waiting_conns--;
    conn_deliver(c);
}

/* Takes in every check-in already queued: accepted connections and their
 * requests. Called before deciding that a child can no longer check in. */
static void drain(void)
{
    accept_some(SOMAXCONN);
    for (struct conn *c = srv.conns; c; c = c->next)
        if (!c->dead && !c->record)
            conn_read(c);
}

/* The child's end of the pipe is closed everywhere, or the child exited
 * (its watch may be gone already, by an earlier event of the same
 * wake-up that handed the record over). */
static void record_event(uint64_t id, enum cph__tag tag)
{
    struct cph__record *r;
    int *fd;

    cph__lock();
    r = cph__registry_find(id);
    if (r) {
        fd = tag == CPH__TAG_PIPE ? &r->pipe_fd : &r->exit_fd;
        if (*fd >= 0)
            cph__loop_watch(EPOLL_CTL_DEL, *fd, 0, 0);
        cph__close_fd(fd);
    }
    cph__unlock();
    if (!r)
        return;
    drain();
    cph__lock();
    r = cph__registry_find(id);
    if (r)
        cph__registry_gone(r);
    cph__unlock();
}

void cph__server_event(uint64_t data, enum cph__tag tag)
{
    struct conn *c = (struct conn *)(uintptr_t)data;

    if (tag == CPH__TAG_LISTEN)
        accept_some(ACCEPTS_PER_WAKE);
    else if (tag == CPH__TAG_CONN && !c->dead)
        c->record ? conn_deliver(c) : conn_read(c);
    else if (tag == CPH__TAG_PIPE || tag == CPH__TAG_EXIT)
        record_event(data, tag);
}

/* Closes expired connections, frees closed ones, wakes a listener that
 * has rested long enough; returns the epoll timeout until the next of
 * those deadlines. */
int cph__server_tick(void)
{
    int64_t now = cph__now_ms(), next = -1;

    if (srv.listen_resting && srv.rest_until <= now)
        listener_rest(false);
    if (srv.listen_resting)
        next = srv.rest_until;
    for (struct conn *c = srv.conns; c; c = c->next)
        if (!c->dead && !c->record && c->deadline <= now)
            conn_close(c);
    cph__lock();
    for (struct conn **p = &srv.conns; *p;) {
        struct conn *c = *p;
        if (c->dead) {
            *p = c->next;
            free(c);
            continue;
        }
        if (!c->record && (next < 0 || c->deadline < next))
            next = c->deadline;
        p = &c->next;
    }
    cph__unlock();
    return next < 0 ? -1 : cph__ms_left(next) + 1;
}

int cph__server_open(const char *name)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(name, &addr);
    int err = cph__loop_start(); /* before any child needs it */

    if (err)
        return err;
    srv.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
                                        SOCK_NONBLOCK, 0);
    if (srv.listen_fd < 0)
        return errno;
    if (bind(srv.listen_fd, (struct sockaddr *)&addr, len) < 0 ||
        listen(srv.listen_fd, SOMAXCONN) < 0) {
        err = errno;
        close(srv.listen_fd);
        srv.listen_fd = -1;
        return err;
    }
    return 0;
}

/* Only a server that never served: once the thread watches it, it stays
 * (as the thread does). Check-ins queued meanwhile wait in the backlog. */
bool cph__server_unused(void)
{
    if (srv.listen_watched)
        return false;
    close(srv.listen_fd);
    srv.listen_fd = -1;
    return true;
}

int cph__server_watch(struct cph__record *r)
{
    int err;

    if (!srv.listen_watched) {
        err = cph__loop_watch(EPOLL_CTL_ADD, srv.listen_fd, EPOLLIN,
                              cph__tagged(0, CPH__TAG_LISTEN));
        if (err)
            return err;
        srv.listen_watched = true;
    }

    /* Without a pidfd that polls (Linux < 5.3: 5.2's, from clone, do not)
     * the pipe's EOF alone tells us. */
    r->exit_fd = cph__child_pidfd(r);
    if (r->exit_fd >= 0 &&
        cph__loop_watch(EPOLL_CTL_ADD, r->exit_fd, EPOLLIN,
                        cph__tagged(r->id, CPH__TAG_EXIT)) != 0)
        cph__close_fd(&r->exit_fd);
    /* A pipe's write end reports EPOLLERR, always watched, once no
     * reader is left. */
    return cph__loop_watch(EPOLL_CTL_ADD, r->pipe_fd, 0,
                           cph__tagged(r->id, CPH__TAG_PIPE));
}

/* epoll forgets an fd only when its file is released: the direct
 * delivery's end may live on in the child, so it is removed first. */
void cph__server_unwatch(struct cph__record *r)
{
    if (r->pipe_fd >= 0)
        cph__loop_watch(EPOLL_CTL_DEL, r->pipe_fd, 0, 0);
    if (r->exit_fd >= 0)
        cph__loop_watch(EPOLL_CTL_DEL, r->exit_fd, 0, 0);
    if (r->end_fd >= 0)
        cph__loop_unwatch(r->end_fd);
}

void cph__server_forget(void)
{
    while (srv.conns) {
        struct conn *c = srv.conns;
        srv.conns = c->next;
        if (!c->dead)
            close(c->fd);
        free(c);
    }
    if (srv.listen_fd >= 0)
        close(srv.listen_fd);
    memset(&srv, 0, sizeof srv);
    srv.listen_fd = -1;
    cph__give_forget();
    cph__loop_forget();
}
