#include <string.h>

#include "protocol.h"

void cph__message_build(struct cph__message *m, const void *base,
                        size_t stride, size_t count, bool last,
                        const int *extra, size_t nextra)
{
    struct cph__message_head head = {.magic = CPH__MAGIC,
                                     .count = (uint16_t)count,
                                     .last = last,
                                     .extra = (uint8_t)nextra};
    size_t len = sizeof head, nfds = count + nextra;
    unsigned char *fds;

    memset(&m->msg, 0, sizeof m->msg);
    memcpy(m->bytes, &head, sizeof head);
    m->iov.iov_base = m->bytes;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    for (size_t i = 0; i < count; i++) {
        const struct cph__handle *h =
            (const void *)((const char *)base + i * stride);
        len += cph__wire_put(m->bytes + len, h);
    }
    m->iov.iov_len = len;
    if (nfds == 0)
        return;
    fds = cph__attach_fds(&m->msg, m->control.space, nfds);
    for (size_t i = 0; i < nfds; i++) {
        const struct cph__handle *h =
            (const void *)((const char *)base + i * stride);
        int fd = i < count ? h->fd : extra[i - count];
        memcpy(fds + i * sizeof fd, &fd, sizeof fd);
    }
}
