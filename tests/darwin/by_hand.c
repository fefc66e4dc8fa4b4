#include <stdlib.h>
#include <string.h>

#include "by_hand.h"
#include "core/cph_core.h"
#include "darwin/give.h"

kern_return_t give_by_hand(mach_port_t give, mach_msg_id_t id, uint8_t kind,
                           const char *key, mach_port_t name,
                           mach_msg_type_name_t disposition,
                           mach_port_t reply)
{
    mach_msg_port_descriptor_t port = {
        .name = name,
        .disposition = disposition,
        .type = MACH_MSG_PORT_DESCRIPTOR,
    };
    struct cph__handle h = {.kind = kind};
    struct cph__give_message m;
    kern_return_t kr;

    strncpy(h.key, key, CPH__KEY_MAX);
    cph__give_message_fill(&m, give, &h, &port);
    m.header.msgh_id = id;
    if (MACH_PORT_VALID(reply)) {
        m.header.msgh_bits |= MACH_MSGH_BITS(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        m.header.msgh_local_port = reply;
    }
    kr = mach_msg(&m.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  m.header.msgh_size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
    /* A full queue: the pseudo-receive gave every right back
     * (ipc_kmsg_copyout_pseudo); mach_msg_destroy leaves the local one. */
    if ((kr & ~MACH_MSG_MASK) == MACH_SEND_TIMED_OUT) {
        if (MACH_MSGH_BITS_LOCAL(m.header.msgh_bits) ==
            MACH_MSG_TYPE_MOVE_SEND_ONCE)
            mach_port_deallocate(mach_task_self(), m.header.msgh_local_port);
        mach_msg_destroy(&m.header);
    }
    return kr;
}

static void destroy(mach_port_t port)
{
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

mach_port_t *fill_space(size_t keep, size_t *n)
{
    size_t cap = 1024;
    mach_port_t *names = malloc(cap * sizeof *names), *grown;

    *n = 0;
    while (names) {
        if (*n == cap) {
            grown = realloc(names, (cap *= 2) * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                               &names[*n]) != KERN_SUCCESS)
            break;
        (*n)++;
    }
    for (; names && keep > 0 && *n > 0; keep--)
        destroy(names[--*n]);
    return names;
}

void free_space(mach_port_t *names, size_t n)
{
    while (names && n > 0)
        destroy(names[--n]);
    free(names);
}
