/*
 * The Linux rendezvous server: one thread, one epoll set, one listening
 * SOCK_SEQPACKET socket in the abstract namespace for every child in
 * flight. Each published record adds its pipe's write end (EPOLLERR once
 * the child's read end is closed everywhere) and its pidfd (readable once
 * the child exits). All state here is guarded by cph__lock(); the thread
 * holds it while handling events, never while waiting for them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cph/child.h>

#include "../transport.h"
#include "protocol.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Connections that have not checked in yet, at most: past that, the
 * oldest makes room (an outsider cannot shut real children out by holding
 * connections idle). When accept runs out of fds or memory with nothing
 * to evict, the listener rests until a connection closes or
 * LISTEN_REST_MS have passed. */
#define CONNS_MAX 256
#define LISTEN_REST_MS 100

/* epoll data: a tag in the low 2 bits, a record id or a conn pointer
 * above. Records are found again by id, so an event for a record that an
 * earlier event in the same batch finished is simply ignored. */
enum { TAG_LISTEN, TAG_CONN, TAG_PIPE, TAG_EXIT };

struct conn {
    int fd;
    pid_t peer;
    int64_t deadline;     /* to send a request */
    uint64_t record;      /* the record it claimed, 0 before */
    size_t sent;          /* handles sent so far */
    bool dead;            /* closed; freed after the event batch */
    struct conn *next;
};

static struct {
    int listen_fd, epoll_fd;
    bool listen_resting;
    int64_t rest_until;
    struct conn *conns;
    size_t waiting_conns;
} srv = {.listen_fd = -1, .epoll_fd = -1};

static int watch_fd(int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};

    return epoll_ctl(srv.epoll_fd, op, fd, &ev) < 0 ? errno : 0;
}

static uint64_t record_data(const struct cph__record *r, int tag)
{
    return r->id << 2 | (uint64_t)tag;
}

static void listener_rest(bool rest)
{
    if (rest)
        srv.rest_until = cph__now_ms() + LISTEN_REST_MS;
    if (srv.listen_resting == rest)
        return;
    srv.listen_resting = rest;
    watch_fd(EPOLL_CTL_MOD, srv.listen_fd, rest ? 0 : EPOLLIN, TAG_LISTEN);
}

static void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    epoll_ctl(srv.epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->dead = true;
    if (!c->record)
        srv.waiting_conns--;
    listener_rest(false);
}

static void conn_read(struct conn *c);

/* The oldest connection that has not checked in is read one last time (a
 * check-in it holds is served) and closed otherwise. False if there is
 * none. */
static bool evict_oldest(void)
{
    struct conn *oldest = NULL;

    for (struct conn *c = srv.conns; c; c = c->next)
        if (!c->dead && !c->record &&
            (!oldest || c->deadline < oldest->deadline))
            oldest = c;
    if (!oldest)
        return false;
    conn_read(oldest);
    if (!oldest->record)
        conn_close(oldest);
    return true;
}

static void accept_all(void)
{
    for (;;) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        struct conn *c;
        int fd;

        if (srv.waiting_conns >= CONNS_MAX)
            evict_oldest();
        fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN)
                return;
            /* Out of fds or memory. */
            if (evict_oldest())
                continue;
            listener_rest(true);
            return;
        }
        c = calloc(1, sizeof *c);
        if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            watch_fd(EPOLL_CTL_ADD, fd, EPOLLIN,
                     (uint64_t)(uintptr_t)c | TAG_CONN) != 0) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->peer = cred.pid;
        c->deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
        c->next = srv.conns;
        srv.conns = c;
        srv.waiting_conns++;
    }
}

/* One reply: up to CPH__FDS_PER_REPLY handles from r->held[c->sent]. */
static int send_reply(struct conn *c, const struct cph__record *r)
{
    static uint8_t buf[CPH__REPLY_MAX];
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * CPH__FDS_PER_REPLY)];
    } control;
    struct cph__reply_head head = {.magic = CPH__MAGIC};
    size_t n = r->count - c->sent, len = sizeof head;
    struct iovec iov = {.iov_base = buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (n > CPH__FDS_PER_REPLY)
        n = CPH__FDS_PER_REPLY;
    head.count = (uint16_t)n;
    head.last = c->sent + n == r->count;
    memcpy(buf, &head, sizeof head);
    for (size_t i = 0; i < n; i++)
        len += cph__wire_put(buf + len, &r->held[c->sent + i]);
    iov.iov_len = len;
    if (n > 0) {
        unsigned char *fds = cph__attach_fds(&msg, control.space, n);
        for (size_t i = 0; i < n; i++)
            memcpy(fds + i * sizeof(int), &r->held[c->sent + i].fd,
                   sizeof(int));
    }
    if (sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return errno;
    c->sent += n;
    return 0;
}

/* Sends what is left of the claimed record's handles; the socket may
 * fill up, then EPOLLOUT brings us back. */
static void conn_deliver(struct conn *c)
{
    struct cph__record *r = cph__registry_find(c->record);

    if (!r) {
        conn_close(c);
        return;
    }
    do {
        int err = send_reply(c, r);
        if (err == EAGAIN) {
            watch_fd(EPOLL_CTL_MOD, c->fd, EPOLLOUT,
                     (uint64_t)(uintptr_t)c | TAG_CONN);
            return;
        }
        if (err) {
            cph__registry_finish(r, ECONNABORTED);
            conn_close(c);
            return;
        }
    } while (c->sent < r->count);
    cph__registry_finish(r, 0);
    conn_close(c);
}

/* Reads the request, if it has come. Anything but exactly one request,
 * from the right pid with the right token, closes the connection and
 * hands out nothing. */
static void conn_read(struct conn *c)
{
    struct cph__request req;
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * 8)];
    } control;
    struct iovec iov = {.iov_base = &req, .iov_len = sizeof req};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct cph__record *r;
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
    r = cph__registry_claim(req.token, c->peer);
    if (!r) {
        conn_close(c);
        return;
    }
    c->record = r->id;
    srv.waiting_conns--;
    conn_deliver(c);
}

static void conn_event(struct conn *c)
{
    if (c->dead)
        return;
    if (c->record)
        conn_deliver(c);
    else
        conn_read(c);
}

/* Takes in every check-in already queued: accepted connections and their
 * requests. Called before deciding that a child can no longer check in. */
static void drain(void)
{
    accept_all();
    for (struct conn *c = srv.conns; c; c = c->next)
        if (!c->dead && !c->record)
            conn_read(c);
}

/* The child's end of the pipe is closed everywhere, or the child exited. */
static void record_event(uint64_t id, int tag)
{
    struct cph__record *r = cph__registry_find(id);
    int *fd;

    if (!r)
        return;
    fd = tag == TAG_PIPE ? &r->pipe_fd : &r->exit_fd;
    epoll_ctl(srv.epoll_fd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
    drain();
    r = cph__registry_find(id);
    if (r)
        cph__registry_gone(r);
}

/* Closes expired connections, frees closed ones, wakes a listener that
 * has rested long enough; returns the epoll timeout until the next of
 * those deadlines. */
static int expire_and_reap(void)
{
    int64_t now = cph__now_ms(), next = -1;

    if (srv.listen_resting && srv.rest_until <= now)
        listener_rest(false);
    if (srv.listen_resting)
        next = srv.rest_until;
    for (struct conn **p = &srv.conns; *p;) {
        struct conn *c = *p;
        if (!c->dead && !c->record && c->deadline <= now)
            conn_close(c);
        if (c->dead) {
            *p = c->next;
            free(c);
            continue;
        }
        if (!c->record && (next < 0 || c->deadline < next))
            next = c->deadline;
        p = &c->next;
    }
    return next < 0 ? -1 : cph__ms_left(next) + 1;
}

static void *serve(void *arg)
{
    struct epoll_event ev[32];
    int timeout = -1;

    (void)arg;
    for (;;) {
        int n = epoll_wait(srv.epoll_fd, ev, 32, timeout);

        cph__lock();
        for (int i = 0; i < n; i++) {
            uint64_t data = ev[i].data.u64;
            int tag = (int)(data & 3);

            if (tag == TAG_LISTEN)
                accept_all();
            else if (tag == TAG_CONN)
                conn_event((struct conn *)(uintptr_t)(data & ~(uint64_t)3));
            else
                record_event(data >> 2, tag);
        }
        timeout = expire_and_reap();
        cph__unlock();
    }
    return NULL;
}

int cph__server_open(const char *name)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(name, &addr);
    int err;

    srv.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
                                        SOCK_NONBLOCK, 0);
    if (srv.listen_fd < 0)
        return errno;
    srv.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (srv.epoll_fd < 0 ||
        bind(srv.listen_fd, (struct sockaddr *)&addr, len) < 0 ||
        listen(srv.listen_fd, SOMAXCONN) < 0) {
        err = errno;
        goto fail;
    }
    err = watch_fd(EPOLL_CTL_ADD, srv.listen_fd, EPOLLIN, TAG_LISTEN);
    if (!err)
        err = cph__thread_start(serve);
    if (err)
        goto fail;
    return 0;
fail:
    cph__server_forget();
    return err;
}

int cph__server_watch(struct cph__record *r)
{
    int err;

    /* Without pidfds (Linux < 5.3) the pipe's EOF alone tells us. */
    r->exit_fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
    if (r->exit_fd >= 0) {
        err = watch_fd(EPOLL_CTL_ADD, r->exit_fd, EPOLLIN,
                       record_data(r, TAG_EXIT));
        if (err)
            return err;
    }
    /* A pipe's write end reports EPOLLERR, always watched, once no
     * reader is left. */
    return watch_fd(EPOLL_CTL_ADD, r->pipe_fd, 0, record_data(r, TAG_PIPE));
}

void cph__server_unwatch(struct cph__record *r)
{
    if (r->pipe_fd >= 0)
        epoll_ctl(srv.epoll_fd, EPOLL_CTL_DEL, r->pipe_fd, NULL);
    if (r->exit_fd >= 0)
        epoll_ctl(srv.epoll_fd, EPOLL_CTL_DEL, r->exit_fd, NULL);
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
    if (srv.epoll_fd >= 0)
        close(srv.epoll_fd);
    memset(&srv, 0, sizeof srv);
    srv.listen_fd = srv.epoll_fd = -1;
}
