#ifndef CPH_DARWIN_PORTS_H
#define CPH_DARWIN_PORTS_H

#include <mach/mach.h>
#include <stdbool.h>

#include "../core/cph_core.h"

void cph__port_release(mach_port_t port, mach_msg_type_name_t disposition);
/* A handle for port sent with disposition (key and the rest untouched):
 * EINVAL unless the disposition is one cph_attachments_add_port accepts,
 * this task holds the right it needs, and (MOVE_RECEIVE) xnu lets that
 * receive right move. */
int cph__port_handle(mach_port_t port, mach_msg_type_name_t disposition,
                     struct cph__handle *h);
/* Whether a right of kind arrived as the received disposition got should
 * (fds travel as fileports: send rights), and which MOVE_* the receiver
 * then owns. */
bool cph__port_arrived(uint8_t kind, mach_msg_type_name_t got,
                       mach_msg_type_name_t *owns);
/* fileport_makeport, with the errno values cph documents (EBADF, EINVAL,
 * ENOMEM). */
int cph__fileport_make(int fd, mach_port_t *port);
/* fileport_makefd, at fd 3 or above, close-on-exec; -1 with errno. The
 * fileport stays the caller's. */
int cph__fileport_open(mach_port_t port);
/* mach_msg_destroy for a message this task received: also unmaps its
 * out-of-line memory, whatever the sender chose. */
void cph__message_destroy(mach_msg_header_t *msg);
int cph__port_hold(const struct cph__handle *item, bool *given,
                   struct cph__handle *held);

#endif
