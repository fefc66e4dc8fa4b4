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

int cph_attachments_add_port(cph_attachments_t *list, const char *key,
                             mach_port_t port,
                             mach_msg_type_name_t disposition)
{
    struct cph__handle h;
    int err = cph__attachments_reserve(list, key);

    if (err)
        return err;
    if (cph__port_handle(port, disposition, &h) != 0)
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
