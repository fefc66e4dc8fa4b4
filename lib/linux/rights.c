#include <string.h>

#include "protocol.h"

/* Makes msg carry n fds by SCM_RIGHTS, in space (at least
 * CMSG_SPACE(n * sizeof(int)) bytes, aligned for a cmsghdr); returns
 * where the n fds are to be copied. Padding is zeroed. */
unsigned char *cph__attach_fds(struct msghdr *msg, void *space, size_t n)
{
    struct cmsghdr *cm;

    msg->msg_control = space;
    msg->msg_controllen = CMSG_SPACE(sizeof(int) * n);
    memset(space, 0, msg->msg_controllen);
    cm = CMSG_FIRSTHDR(msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    return CMSG_DATA(cm);
}
