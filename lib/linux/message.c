#include <string.h>

#include "protocol.h"

static const struct cph__handle *at(const void *base, size_t stride,
                                    size_t i)
{
    return (const void *)((const char *)base + i * stride);
}

void cph__message_build(struct cph__message *m, const void *base,
                        size_t stride, size_t count, bool last,
                        const int *extra, size_t nextra)
{
    struct cph__message_head head = {.magic = CPH__MAGIC,
                                     .count = (uint16_t)count,
                                     .last = last,
                                     .extra = (uint8_t)nextra};
    size_t len = sizeof head, nfds = nextra;
    unsigned char *fds;

    memset(&m->msg, 0, sizeof m->msg);
    memcpy(m->bytes, &head, sizeof head);
    m->iov.iov_base = m->bytes;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    for (size_t i = 0; i < count; i++) {
        len += cph__wire_put(m->bytes + len, at(base, stride, i));
        nfds += at(base, stride, i)->kind == CPH__KIND_FD;
    }
    m->iov.iov_len = len;
    if (nfds == 0)
        return;
    fds = cph__attach_fds(&m->msg, m->control.space, nfds);
    for (size_t i = 0; i < count; i++) {
        if (at(base, stride, i)->kind != CPH__KIND_FD)
            continue;
        memcpy(fds, &at(base, stride, i)->fd, sizeof(int));
        fds += sizeof(int);
    }
    if (nextra > 0)
        memcpy(fds, extra, nextra * sizeof(int));
}

size_t cph__message_next(struct cph__message *m, const void *base,
                         size_t stride, size_t count,
                         const struct cph__handle *expects, size_t nexpects,
                         size_t sent, bool final)
{
    size_t n;

    if (sent < count) {
        n = count - sent;
        base = at(base, stride, sent);
    } else {
        n = count + nexpects - sent;
        base = &expects[sent - count];
        stride = sizeof *expects;
    }
    if (n > CPH__FDS_PER_MESSAGE)
        n = CPH__FDS_PER_MESSAGE;
    cph__message_build(m, base, stride, n,
                       final && sent + n == count + nexpects, NULL, 0);
    return n;
}
