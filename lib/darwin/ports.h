#ifndef CPH_DARWIN_PORTS_H
#define CPH_DARWIN_PORTS_H

#include <mach/mach.h>
#include <stdbool.h>

#include "../core/cph_core.h"

void cph__port_release(mach_port_t port, mach_msg_type_name_t disposition);
int cph__port_hold(const struct cph__handle *item, bool *given,
                   struct cph__handle *held);

#endif
