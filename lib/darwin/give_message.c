/* A give's message (give.h), built where it is sent. */
#include <stddef.h>
#include <string.h>

#include "give.h"

void cph__give_message_fill(struct cph__give_message *m, mach_port_t give,
                            const struct cph__handle *h,
                            const mach_msg_port_descriptor_t *port)
{
    size_t fixed = offsetof(struct cph__give_message, entry);

    memset(m, 0, sizeof *m);
    m->len = (uint32_t)cph__wire_put(m->entry, h);
    m->header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) |
                          MACH_MSGH_BITS_COMPLEX;
    m->header.msgh_size =
        (mach_msg_size_t)((fixed + m->len + 3) & ~(size_t)3);
    m->header.msgh_remote_port = give;
    m->header.msgh_id = CPH__GIVE_ID;
    m->body.msgh_descriptor_count = 1;
    m->port = *port;
}
