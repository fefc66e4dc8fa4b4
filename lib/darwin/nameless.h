/*
 * The nameless delivery between server.c and nameless.c (the rest is in
 * transport.h). Everything under the lock.
 */
#ifndef CPH_DARWIN_NAMELESS_H
#define CPH_DARWIN_NAMELESS_H

#include <mach/mach.h>
#include <stdbool.h>

#include "../core/cph_core.h"

/* server.c: the port set the server thread receives on. */
mach_port_t cph__server_port_set(void);

/* Whether port is a nameless record's port. */
bool cph__nameless_port(mach_port_t port);
/* A check-in request came on port from pid: the record it claims, as
 * cph__registry_claim_id says, or NULL. */
struct cph__record *cph__nameless_claim(mach_port_t port, pid_t pid);
/* True if msg was the kernel's no-senders notification for a nameless
 * port (then it is handled: the record, still waiting, is given up). */
bool cph__nameless_notified(const mach_msg_header_t *msg);
/* r was published: the parent drops its own send right. */
void cph__nameless_publish(struct cph__record *r);
/* In a forked child: forget every port (their names mean nothing). */
void cph__nameless_forget(void);

#endif
