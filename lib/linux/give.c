/*
 * Give channels, parent side: the channel a child spawned with expected
 * keys gives its handles back on (protocol.h), and the child's pidfd.
 * Only the spawned child holds the other end: the direct delivery's
 * inherited socketpair end, or the pid-bound check-in's connection,
 * which proved the token and the pid. This file only carries: the core
 * (given.c) decides what each give is worth.
 *
 * A channel ends when the child hangs up, or exits and what it queued
 * has been read: then the core learns that nothing more can come. A
 * descendant that still holds the child's end afterwards finds it
 * closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "loop.h"
#include "protocol.h"


struct giver {
    uint64_t id;
    int fd, pidfd;
    bool checked_in; /* the ack came */
    bool gone;       /* the child exited: ends once its queue is read */
    bool dead;       /* ended; freed by the next sweep */
    struct giver *next;
};

/* Added and freed under the lock; events come on the loop thread only. */
static struct giver *givers;
/* The loop thread's alone. */
static uint8_t bytes[CPH__MESSAGE_MAX];

static void close_pidfd(struct giver *g)
{
    if (g->pidfd < 0)
        return;
    cph__loop_watch(EPOLL_CTL_DEL, g->pidfd, 0, 0);
    close(g->pidfd);
    g->pidfd = -1;
}

int cph__give_watch(uint64_t id, int pidfd, int fd)
{
    struct giver *g = calloc(1, sizeof *g);
    int err = ENOMEM;

    if (!g)
        goto fail;
    g->id = id;
    g->fd = fd;
    g->pidfd = pidfd;
    err = pidfd < 0 ? 0
                    : cph__loop_watch(EPOLL_CTL_ADD, pidfd, EPOLLIN,
                                      cph__tagged_ptr(g, CPH__TAG_GONE));
    if (!err)
        err = cph__loop_watch(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP,
                              cph__tagged_ptr(g, CPH__TAG_GIVE));
    if (err)
        goto fail;
    g->next = givers;
    givers = g;
    return 0;
fail:
    if (g)
        close_pidfd(g);
    else if (pidfd >= 0)
        close(pidfd);
    free(g);
    close(fd);
    return err;
}

/* Waiting for the ack (a pid-bound record is HANDED by then). */
static bool acking(const struct cph__record *r)
{
    return r && (r->state == CPH__WAITING || r->state == CPH__HANDED);
}

/* The ack, from sender: the handshake of record g->id is over, and the
 * channel with it unless the spawned process or a descendant sent it
 * (taker.c; the parent's end has SO_PASSCRED, direct.c). */
static bool checked_in(struct giver *g, pid_t sender)
{
    struct cph__record *r;
    bool ok = true;

    cph__lock();
    r = cph__registry_find(g->id);
    if (acking(r)) {
        ok = r->delivery != CPH_DELIVERY_DIRECT ||
             cph__taker_ok(sender, r->pid);
        cph__registry_finish(r, ok ? 0 : EACCES);
    }
    cph__unlock();
    g->checked_in = ok;
    return ok;
}

/* One message (n bytes, b's fds): false when it breaks the protocol
 * before the ack, which gives the child up. */
static bool take_message(struct giver *g, size_t n, struct cph__batch *b)
{
    struct cph__message_head head;
    struct cph__handle h;
    size_t off = sizeof head;

    if (n < sizeof head)
        return g->checked_in;
    memcpy(&head, bytes, sizeof head);
    if (memcmp(head.magic, CPH__MAGIC, sizeof head.magic) != 0 ||
        head.extra != 0)
        return g->checked_in;
    if (!g->checked_in) {
        if (head.count != 0 || !head.last || n != off || b->n != 0)
            return false;
        return checked_in(g, b->sender);
    }
    if (head.count != 1 || head.last || b->n != 1 ||
        cph__wire_get(bytes, n, &off, &h) != 0 || off != n ||
        h.kind != CPH__KIND_FD)
        return true;
    h.fd = b->fds[0];
    b->fds[0] = -1;
    cph__lock();
    cph__given_put(g->id, &h);
    cph__unlock();
    return true;
}

/* Messages read per wake-up, at most: a child flooding its channel
 * (with keys its parent refuses, say) leaves the thread to its siblings
 * in between; the channel's EPOLLIN brings the thread back. */
#define READS_PER_WAKE 32

enum reading { READ_OVER, READ_EMPTY, READ_MORE };

/* Reads what is queued, up to READS_PER_WAKE messages; READ_OVER once the
 * channel is over (the child hung up, or broke the protocol). */
static enum reading read_some(struct giver *g)
{
    for (int i = 0; i < READS_PER_WAKE; i++) {
        struct cph__batch b;
        int flags;
        ssize_t n =
            cph__receive_message(g->fd, bytes, sizeof bytes, &b, &flags);
        bool ok;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? READ_EMPTY : READ_OVER;
        ok = !(flags & (MSG_TRUNC | MSG_CTRUNC));
        if (cph__eof(n, &b))
            return READ_OVER;
        ok = ok ? take_message(g, (size_t)n, &b) : g->checked_in;
        cph__batch_close(&b);
        if (!ok)
            return READ_OVER;
    }
    return READ_MORE;
}

/* Nothing more can come: a child that never acknowledged is given up,
 * and the core learns the child can give no more. */
static void end(struct giver *g)
{
    struct cph__record *r;
    unsigned unread;

    cph__loop_watch(EPOLL_CTL_DEL, g->fd, 0, 0);
    close(g->fd);
    close_pidfd(g);
    g->dead = true;
    cph__lock();
    r = cph__registry_find(g->id);
    if (acking(r)) {
        /* Pid-bound, the give channel comes with the check-in. */
        cph__drain(r->end_fd, NULL, &unread);
        cph__registry_finish(r, cph__direct_gone(r, unread));
    }
    cph__given_end(g->id);
    cph__unlock();
}

void cph__give_event(void *giver, enum cph__tag tag)
{
    struct giver *g = giver;
    enum reading r;

    if (g->dead)
        return;
    if (tag == CPH__TAG_GONE) {
        close_pidfd(g);
        g->gone = true;
    }
    r = read_some(g);
    if (r == READ_OVER || (g->gone && r == READ_EMPTY))
        end(g);
}

void cph__give_sweep(void)
{
    cph__lock();
    for (struct giver **p = &givers; *p;) {
        struct giver *g = *p;
        if (g->dead) {
            *p = g->next;
            free(g);
        } else {
            p = &g->next;
        }
    }
    cph__unlock();
}

void cph__give_forget(void)
{
    while (givers) {
        struct giver *g = givers;
        givers = g->next;
        if (!g->dead) {
            close(g->fd);
            if (g->pidfd >= 0)
                close(g->pidfd);
        }
        free(g);
    }
}
