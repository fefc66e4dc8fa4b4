/*
 * Giving back, child side (see give.h): one message per give, to the
 * give port the parent made for this child.
 *
 * Nothing here has run (no macOS in CI); each call was checked against
 * xnu-11417.
 */
#include <errno.h>
#include <string.h>

#include "../transport.h"
#include "give.h"
#include "ports.h"
#include "sdk.h"

static bool moves(const struct cph__handle *h)
{
    return h->kind != CPH__KIND_FD &&
           (h->disposition == MACH_MSG_TYPE_MOVE_SEND_ONCE ||
            h->disposition == MACH_MSG_TYPE_MOVE_RECEIVE);
}

/*
 * After a send that timed out, the pseudo-receive (xnu-11417
 * ipc_kmsg_copyout_pseudo) gave every right back, under names it chose:
 * our send right to the give port as the remote port, the descriptor's
 * right under a name of ours. A right the caller moved goes back under
 * the caller's name, freed when it left (mach_port_insert_right moves it
 * there; a send-once right always has a name of its own, and a receive
 * right comes back under the caller's name if the caller kept send rights
 * there); should that name have been taken meanwhile, the right is
 * destroyed. Everything else that came back is a copy.
 */
static void take_back(struct cph__give_message *m, const struct cph__handle *h)
{
    mach_port_t name = m->port.name;

    if (moves(h) && MACH_PORT_VALID(name) &&
        (name == h->port ||
         mach_port_insert_right(mach_task_self(), h->port, name,
                                h->disposition) == KERN_SUCCESS))
        m->port.name = MACH_PORT_NULL;
    mach_msg_destroy(&m->header);
}

/* The descriptor for h: an fd as a fileport made here (moved: the
 * message takes it), a list-style MOVE_SEND as a copy, whose reference
 * the caller loses only once the give is sent. */
static int describe(const struct cph__handle *h,
                    mach_msg_port_descriptor_t *d)
{
    memset(d, 0, sizeof *d);
    d->type = MACH_MSG_PORT_DESCRIPTOR;
    if (h->kind == CPH__KIND_FD) {
        /* fileport_makeport refuses what cannot travel (kqueues, ...) */
        if (fileport_makeport(h->fd, &d->name) != 0)
            return errno == EBADF ? EBADF : EINVAL;
        d->disposition = MACH_MSG_TYPE_MOVE_SEND;
        return 0;
    }
    d->name = h->port;
    d->disposition = h->disposition == MACH_MSG_TYPE_MOVE_SEND
                         ? MACH_MSG_TYPE_COPY_SEND
                         : h->disposition;
    return 0;
}

int cph__give_send(mach_port_t channel, const struct cph__handle *h,
                   int64_t deadline_ms)
{
    mach_msg_port_descriptor_t port;
    struct cph__give_message m;
    kern_return_t kr;
    int err = describe(h, &port);

    if (err)
        return err;
    cph__give_message_fill(&m, channel, h, &port);
    kr = mach_msg(&m.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  m.header.msgh_size, 0, MACH_PORT_NULL,
                  (mach_msg_timeout_t)cph__ms_left(deadline_ms),
                  MACH_PORT_NULL);
    switch (kr & ~MACH_MSG_MASK) {
    case MACH_MSG_SUCCESS:
        /* Queued; or destroyed at once if the parent's port died after
         * the copyin (ipc_kmsg_send "pretends it got sent"). */
        if (h->kind != CPH__KIND_FD &&
            h->disposition == MACH_MSG_TYPE_MOVE_SEND)
            mach_port_deallocate(mach_task_self(), h->port);
        return 0;
    case MACH_SEND_TIMED_OUT:
        take_back(&m, h);
        return ETIMEDOUT;
    case MACH_SEND_INVALID_DEST:
        /* The give port is dead: the parent is gone. */
        err = EPIPE;
        break;
    case MACH_SEND_NO_BUFFER:
        err = ENOMEM;
        break;
    default:
        /* Refused at the header's copyin, which is atomic, or at the
         * descriptor's, the only one: ipc_kmsg_copyin_body undoes the
         * header's copy and leaves the descriptor's right in place. */
        err = EINVAL;
        break;
    }
    if (h->kind == CPH__KIND_FD)
        cph__port_release(m.port.name, MACH_MSG_TYPE_MOVE_SEND);
    return err;
}
