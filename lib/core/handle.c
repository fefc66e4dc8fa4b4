#include <unistd.h>

#include "cph_core.h"
#if CPH__MACH
#include "../darwin/ports.h"
#endif

/* Releases what the handle owns: its fd, or the right its disposition
 * owns (nothing for COPY_SEND, MAKE_SEND and MAKE_SEND_ONCE). */
void cph__handle_release(struct cph__handle *h)
{
    if (h->kind == CPH__KIND_EXPECT)
        return;
    if (h->kind == CPH__KIND_FD) {
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
        return;
    }
#if CPH__MACH
    cph__port_release(h->port, h->disposition);
    h->port = MACH_PORT_NULL;
#endif
}

void cph__handles_release(struct cph__handle *h, size_t count)
{
    for (size_t i = 0; i < count; i++)
        cph__handle_release(&h[i]);
}
