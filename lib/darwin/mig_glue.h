/*
 * What the hand-written Darwin code uses from the stubs mig generates
 * from mig/cph.defs. Declared here so that those sources compile where no
 * Apple mig is available; where mig ran, its own headers are included
 * too, and the compiler checks these against them.
 */
#ifndef CPH_MIG_GLUE_H
#define CPH_MIG_GLUE_H

#include <mach/mach.h>
#include <mach/ndr.h>

#include "../core/cph_core.h"
#include "mig_types.h"

#if __has_include("cph_checkinServer.h")
#include "cph_checkinServer.h"
#endif
#if __has_include("cph_checkin.h")
#include "cph_checkin.h"
#endif

/* The first msgh_id of the subsystem (7283 in cph.defs). */
#define CPH__MIG_BASE 7283
/* Our hand-built reply: outside the subsystem's request ids. */
#define CPH__REPLY_ID (CPH__MIG_BASE + 100)

/* The demux generated in cph_checkinServer.c. */
boolean_t cph_checkin_server(mach_msg_header_t *request,
                             mach_msg_header_t *reply);

/* Implemented in server.c, called by the demux. */
kern_return_t cph__server_check_in(mach_port_t server, mach_port_t reply,
                                   cph_token_t token, audit_token_t audit);

/* check_in's request as the child sends it, by hand (see cph.defs). */
struct cph__checkin_request {
    mach_msg_header_t head;
    NDR_record_t ndr;
    cph_token_t token;
};

/* Sends it to server with a send-once right made from reply, giving up
 * at deadline_ms (checkin.c); on error nothing of it is left behind. */
kern_return_t cph__checkin_request(mach_port_t server, mach_port_t reply,
                                   const uint8_t *token, int64_t deadline_ms);

/* Checks a received reply (msg, msgh_size bytes followed by the audit
 * trailer) from parent and fills *handles (malloc'd, *count of them: keys,
 * kinds, dispositions, port names; fd -1), and *give (the give port's
 * send right, when the parent expects keys back) without any Mach call;
 * on error the message's rights are still the caller's (checkin.c). */
int cph__reply_parse(mach_msg_header_t *msg, pid_t parent,
                     struct cph__handle **handles, size_t *count,
                     mach_port_t *give);

#ifdef __Request__cph_checkin_subsystem__defined
_Static_assert(sizeof(struct cph__checkin_request) ==
                   sizeof(__Request__check_in_t),
               "mig lays check_in's request out otherwise");
_Static_assert(__builtin_offsetof(struct cph__checkin_request, token) ==
                   __builtin_offsetof(__Request__check_in_t, token),
               "mig places check_in's token elsewhere");
#endif

#endif
