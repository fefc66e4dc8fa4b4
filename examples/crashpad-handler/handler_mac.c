/*
 * The handler side of Crashpad's handler start, ported to cph (macOS).
 *
 * Crashpad's crashpad_handler makes a receive right for the exception
 * port it serves and checks in with a send right to it
 * (ChildPortHandshake's child_port_check_in). Here the handler gives its
 * parent that send right with cph_child_give_port(MAKE_SEND) under
 * "handler", and serves "dump" requests until no sender is left (the
 * parent let go of its right, or died), as Crashpad's handler stops on
 * its port's no-senders notification. Linked with libcph_child.
 */
#include <stdio.h>
#include <string.h>

#include <cph/child.h>

#include "mac.h"

static kern_return_t answer(const struct dump_message *request)
{
    struct dump_message reply = {
        .header = {
            .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
            .msgh_size = sizeof reply,
            .msgh_remote_port = request->header.msgh_remote_port,
            .msgh_id = DUMP_DONE,
        },
        .pid = request->pid,
    };

    return mach_msg(&reply.header, MACH_SEND_MSG, sizeof reply, 0,
                    MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

static int serve(mach_port_t port)
{
    for (;;) {
        union dump_buffer in;
        kern_return_t kr = mach_msg(&in.m.header, MACH_RCV_MSG, 0,
                                    sizeof in, port, MACH_MSG_TIMEOUT_NONE,
                                    MACH_PORT_NULL);

        /* Not a request (without MACH_RCV_LARGE it was destroyed). */
        if (kr == MACH_RCV_TOO_LARGE)
            continue;
        if (kr != KERN_SUCCESS)
            return 1;
        if (in.m.header.msgh_id == MACH_NOTIFY_NO_SENDERS)
            return 0;
        if (in.m.header.msgh_id != DUMP_REQUEST ||
            in.m.header.msgh_size != sizeof in.m ||
            answer(&in.m) != KERN_SUCCESS)
            mach_msg_destroy(&in.m.header);
    }
}

int main(void)
{
    mach_port_t port = MACH_PORT_NULL, previous;
    int err;

    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &port) != KERN_SUCCESS)
        return 1;
    /* Sync 1: told once the send right made below has no sender left. */
    if (mach_port_request_notification(mach_task_self(), port,
                                       MACH_NOTIFY_NO_SENDERS, 1, port,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                       &previous) != KERN_SUCCESS)
        return 1;
    err = cph_child_give_port("handler", port, MACH_MSG_TYPE_MAKE_SEND);
    if (err) {
        fprintf(stderr, "handler: give: %s\n", strerror(err));
        return 1;
    }
    return serve(port);
}
