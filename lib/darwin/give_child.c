/*
 * Giving back, child side (see give.h): one message per give, to the
 * give port the parent made for this child.
 *
 * Nothing here has run on a Mac; each call was checked against
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
 * After a send that failed past the copyin (timed out, or interrupted),
 * the pseudo-receive (xnu-11417 ipc_kmsg.c, ipc_kmsg_copyout_pseudo) gave
 * every right back, under names it chose: our send right to the give port
 * as the remote port, the descriptor's right under a name of ours. A
 * right the caller moved goes back under the caller's name, freed when it
 * left: mach_port_insert_right moves it there (ipc/mach_port.c,
 * mach_port_insert_right; a send-once right always has a name of its own,
 * and a receive right comes back under the caller's name if the caller
 * kept send rights there). The call consumes the right whatever it
 * answers: on failure the kernel's MIG server destroys its request, right
 * and all (kern/ipc_kobject.c, ipc_kobject_server), so the name it had
 * is not ours to destroy again; the caller has lost the right (another
 * thread took the name meanwhile). Everything else that came back is a
 * copy, for mach_msg_destroy. Returns whether h is the caller's again.
 */
static bool take_back(struct cph__give_message *m, const struct cph__handle *h)
{
    mach_port_t name = m->port.name;
    bool back = true;

    if (moves(h) && MACH_PORT_VALID(name)) {
        if (name != h->port)
            back = mach_port_insert_right(mach_task_self(), h->port, name,
                                          h->disposition) == KERN_SUCCESS;
        m->port.name = MACH_PORT_NULL;
    }
    mach_msg_destroy(&m->header);
    return back;
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
        d->disposition = MACH_MSG_TYPE_MOVE_SEND;
        return cph__fileport_make(h->fd, &d->name);
    }
    d->name = h->port;
    d->disposition = h->disposition == MACH_MSG_TYPE_MOVE_SEND
                         ? MACH_MSG_TYPE_COPY_SEND
                         : h->disposition;
    return 0;
}

/*
 * One attempt. MACH_SEND_INTERRUPT: libsyscall's mach_msg would retry an
 * interrupted send by itself (libsyscall/mach/mach_msg.c,
 * mach_msg2_internal) with the header it was first given, although the
 * pseudo-receive has rewritten the message by then: each retry would
 * take one more reference of the give right and lose the moved one.
 */
static kern_return_t send_once(mach_port_t channel,
                               const struct cph__handle *h,
                               int64_t deadline_ms,
                               struct cph__give_message *m, int *err)
{
    mach_msg_port_descriptor_t port;

    *err = describe(h, &port);
    if (*err)
        return KERN_FAILURE;
    cph__give_message_fill(m, channel, h, &port);
    return mach_msg(&m->header,
                    MACH_SEND_MSG | MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT,
                    m->header.msgh_size, 0, MACH_PORT_NULL,
                    (mach_msg_timeout_t)cph__ms_left(deadline_ms),
                    MACH_PORT_NULL);
}

int cph__give_send(mach_port_t channel, const struct cph__handle *h,
                   int64_t deadline_ms)
{
    struct cph__give_message m;
    kern_return_t kr;
    int err;

    do {
        kr = send_once(channel, h, deadline_ms, &m, &err);
        if (err)
            return err;
    } while ((kr & ~MACH_MSG_MASK) == MACH_SEND_INTERRUPTED &&
             take_back(&m, h));
    switch (kr & ~MACH_MSG_MASK) {
    case MACH_MSG_SUCCESS:
        /* Queued; or destroyed at once if the parent's port died after
         * the copyin (ipc_kmsg.c, ipc_kmsg_send "pretends it got sent").
         * The list-style MOVE_SEND went as a copy: our reference goes
         * now (one user reference, ipc_right.c, ipc_right_dealloc). */
        if (h->kind != CPH__KIND_FD &&
            h->disposition == MACH_MSG_TYPE_MOVE_SEND)
            mach_port_deallocate(mach_task_self(), h->port);
        return 0;
    case MACH_SEND_INTERRUPTED:
        /* take_back could not hand the moved right back: no retry. */
        return EINTR;
    case MACH_SEND_TIMED_OUT:
        take_back(&m, h);
        return ETIMEDOUT;
    case MACH_SEND_INVALID_DEST:
        /* The give port is dead: the parent is gone (ipc_kmsg.c,
         * ipc_kmsg_copyin_header refuses a dead destination, atomically:
         * nothing was taken). */
        err = EPIPE;
        break;
    case MACH_SEND_NO_BUFFER:
        /* Before the copyin: no kernel message (mach_msg.c,
         * mach_msg_trap_send). Past it, ipc_mqueue.c,
         * ipc_mqueue_send_locked answers NO_BUFFER too when a waiting
         * send finds the queue at MACH_PORT_QLIMIT_KERNEL, but a give
         * port's limit (1024) is far below that. */
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
