#include <string.h>

#include "by_hand.h"
#include "core/cph_core.h"
#include "darwin/give.h"

kern_return_t give_by_hand(mach_port_t give, mach_msg_id_t id, uint8_t kind,
                           const char *key, mach_port_t name,
                           mach_msg_type_name_t disposition)
{
    mach_msg_port_descriptor_t port = {
        .name = name,
        .disposition = disposition,
        .type = MACH_MSG_PORT_DESCRIPTOR,
    };
    struct cph__handle h = {.kind = kind};
    struct cph__give_message m;

    strncpy(h.key, key, CPH__KEY_MAX);
    cph__give_message_fill(&m, give, &h, &port);
    m.header.msgh_id = id;
    return mach_msg(&m.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                    m.header.msgh_size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}
