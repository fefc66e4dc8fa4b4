#ifndef CPH_DARWIN_PORTS_H
#define CPH_DARWIN_PORTS_H

#include <mach/mach.h>
#include <stdbool.h>

#include "../core/cph_core.h"

void cph__port_release(mach_port_t port, mach_msg_type_name_t disposition);
/* A handle for port sent with disposition (key and the rest untouched):
 * EINVAL unless the disposition is one cph_attachments_add_port accepts
 * and this task holds the right it needs. */
int cph__port_handle(mach_port_t port, mach_msg_type_name_t disposition,
                     struct cph__handle *h);
/* Whether a right of kind arrived as the received disposition got should
 * (fds travel as fileports: send rights), and which MOVE_* the receiver
 * then owns. */
bool cph__port_arrived(uint8_t kind, mach_msg_type_name_t got,
                       mach_msg_type_name_t *owns);
int cph__port_hold(const struct cph__handle *item, bool *given,
                   struct cph__handle *held);

#endif
