/*
 * cph_attachments_add_port, and a spawn's hold on a port item (see the
 * ownership table in include/cph/spawn.h and ports.c).
 */
#include <errno.h>
#include <mach/mach.h>
#include <string.h>

#include <cph/spawn.h>

#include "../core/attachments.h"
#include "ports.h"

/* What the child receives for a disposition, and which right the caller
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

int cph_attachments_add_port(cph_attachments_t *list, const char *key,
                             mach_port_t port,
                             mach_msg_type_name_t disposition)
{
    struct cph__handle h = {.fd = -1, .port = port,
                            .disposition = disposition};
    mach_port_type_t type, needs;
    int err = cph__attachments_reserve(list, key);

    if (err)
        return err;
    if (!MACH_PORT_VALID(port) || kind_of(disposition, &h.kind, &needs) ||
        mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS ||
        !(type & needs))
        return EINVAL;
    strcpy(h.key, key);
    cph__attachments_append(list, &h);
    return 0;
}

/* A spawn's copy of a port item. A MOVE right leaves the list for the
 * first spawn that asks; later spawns with the list get EINVAL. */
int cph__port_hold(const struct cph__handle *item, bool *given,
                   struct cph__handle *held)
{
    bool moves = item->disposition == MACH_MSG_TYPE_MOVE_SEND ||
                 item->disposition == MACH_MSG_TYPE_MOVE_SEND_ONCE ||
                 item->disposition == MACH_MSG_TYPE_MOVE_RECEIVE;

    if (moves && __atomic_exchange_n(given, true, __ATOMIC_ACQ_REL))
        return EINVAL;
    *held = *item;
    return 0;
}
