#include <errno.h>
#include <fcntl.h>
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

int cph__dup_from(int fd, int min)
{
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, min);

    /* The kernel's EINVAL for a min at or past the limit. */
    if (dup < 0 && errno == EINVAL)
        errno = EMFILE;
    return dup;
}

void cph__handles_release(struct cph__handle *h, size_t count)
{
    for (size_t i = 0; i < count; i++)
        cph__handle_release(&h[i]);
}
