/*
 * Port rights: who owns which right, per disposition. The same table as
 * Chromium's MachRendezvousPort::Destroy: a MOVE_* disposition means the
 * holder owns one reference of that right; COPY_SEND, MAKE_SEND and
 * MAKE_SEND_ONCE are made from the caller's right when the message is
 * sent, so their holder owns nothing. Shared by both directions: a list's
 * attachments (parent to child) and gives (child to parent).
 */
#include <errno.h>
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

/* What the receiver gets for a disposition, and which right the sender
 * must hold for it (a MACH_PORT_TYPE_* bit). */
static int kind_of(mach_msg_type_name_t disposition, uint8_t *kind,
                   mach_port_type_t *needs)
{
    switch (disposition) {
    case MACH_MSG_TYPE_COPY_SEND:
    case MACH_MSG_TYPE_MOVE_SEND:
        *kind = CPH__KIND_SEND;
        *needs = MACH_PORT_TYPE_SEND;
        return 0;
    case MACH_MSG_TYPE_MAKE_SEND:
        *kind = CPH__KIND_SEND;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        *kind = CPH__KIND_SEND_ONCE;
        *needs = MACH_PORT_TYPE_SEND_ONCE;
        return 0;
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
        *kind = CPH__KIND_SEND_ONCE;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        *kind = CPH__KIND_RECEIVE;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    default:
        return EINVAL;
    }
}

int cph__port_handle(mach_port_t port, mach_msg_type_name_t disposition,
                     struct cph__handle *h)
{
    mach_port_type_t type, needs;

    if (!MACH_PORT_VALID(port) || kind_of(disposition, &h->kind, &needs) ||
        mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS ||
        !(type & needs))
        return EINVAL;
    h->fd = -1;
    h->port = port;
    h->disposition = disposition;
    return 0;
}

bool cph__port_arrived(uint8_t kind, mach_msg_type_name_t got,
                       mach_msg_type_name_t *owns)
{
    switch (kind) {
    case CPH__KIND_FD:
    case CPH__KIND_SEND:
        *owns = MACH_MSG_TYPE_MOVE_SEND;
        return got == MACH_MSG_TYPE_PORT_SEND;
    case CPH__KIND_SEND_ONCE:
        *owns = MACH_MSG_TYPE_MOVE_SEND_ONCE;
        return got == MACH_MSG_TYPE_PORT_SEND_ONCE;
    case CPH__KIND_RECEIVE:
        *owns = MACH_MSG_TYPE_MOVE_RECEIVE;
        return got == MACH_MSG_TYPE_PORT_RECEIVE;
    default:
        return false;
    }
}
