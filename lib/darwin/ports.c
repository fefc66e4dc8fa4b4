/*
 * Port attachments: who owns which right, per disposition. The same table
 * as Chromium's MachRendezvousPort::Destroy: a MOVE_* disposition means
 * the holder owns one reference of that right; COPY_SEND, MAKE_SEND and
 * MAKE_SEND_ONCE are made from the caller's right when the reply is sent,
 * so their holder owns nothing.
 */
#include <mach/mach.h>

#include "ports.h"

void cph__port_release(mach_port_t port, mach_msg_type_name_t disposition)
{
    if (!MACH_PORT_VALID(port))
        return;
    switch (disposition) {
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        mach_port_deallocate(mach_task_self(), port);
        break;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        /* Destroys the port: its senders see a dead name. */
        mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE,
                           -1);
        break;
    default:
        break;
    }
}
