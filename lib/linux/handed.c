/*
 * Children whose handles are all out: the direct delivery's from its
 * publish on, the pid-bound delivery's once the server has sent its last
 * message. The parent keeps one fd per child, its end of the channel,
 * and the child's hangup on it gives the outcome: a clean one says the
 * handles were taken; a reset (the child left messages unread) or
 * anything the child wrote says they were not.
 *
 * No thread watches those fds: a wake-up per child would cost more than
 * the rest of the handover. They wait in the quiet set (loop.h),
 * collected many at a time: by cph_checkin_wait, by a spawn that runs
 * short of fds, and by the next child to join a full set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "loop.h"
#include "protocol.h"

/* A child joining a set this full collects it first. */
#define COLLECT_BATCH 64

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

/* The outcome: ECONNABORTED if the child refused or left its handles
 * (see direct_child.c and child.c's close_channel for what it does to
 * say so); direct, ENOTCONN if it read none of them (the kept sending
 * end, where only the child's messages arrive, cannot tell:
 * ECONNABORTED); direct, EACCES if they were taken but no ack proves the
 * spawned process or a descendant took them (taker.c). */
static int outcome(struct cph__record *r, enum cph__tag tag)
{
    unsigned unread;
    bool left;
    pid_t taker;

    left = reset(r->end_fd) ||
           (tag == CPH__TAG_SENDER && queued(r->end_fd, SIOCOUTQ));
    if (cph__drain(r->end_fd, &taker, &unread) || left)
        return cph__direct_gone(r, unread);
    if (r->delivery != CPH_DELIVERY_DIRECT)
        return 0;
    return cph__taker_ok(taker, r->pid) ? 0 : EACCES;
}

/* Under the lock; whether it finished r. */
static bool settle(uint64_t id, enum cph__tag tag)
{
    struct cph__record *r = cph__registry_find(id);

    if (!r || (r->state != CPH__WAITING && r->state != CPH__HANDED))
        return false;
    cph__registry_finish(r, outcome(r, tag));
    return true;
}

void cph__handed_ready(void)
{
    cph__lock();
    cph__handed_collect();
    cph__unlock();
}

size_t cph__handed_collect(void)
{
    uint64_t data[32];
    size_t done = 0;
    int n;

    do {
        n = cph__loop_quiet_ready(data, 32);
        for (int i = 0; i < n; i++)
            done += settle(data[i] >> 4,
                           (enum cph__tag)(data[i] & CPH__TAG_MASK));
    } while (n == 32);
    return done;
}

void cph__handed_attend(bool more)
{
    cph__loop_attend(more);
}

int cph__handed_follow(void)
{
    return cph__loop_follow();
}

int cph__handed_wait(int ms)
{
    return cph__loop_quiet_wait(ms);
}

void cph__handed_room(void)
{
    if (cph__loop_quiet_count() >= COLLECT_BATCH)
        cph__handed_collect();
}

int cph__handed_watch(struct cph__record *r, enum cph__tag tag)
{
    return cph__loop_quiet_watch(r->end_fd, EPOLLRDHUP,
                                 cph__tagged(r->id, tag), true)
               ? EIO
               : 0;
}
