/*
 * Giving back on macOS (see GIVING BACK in include/cph/spawn.h). For each
 * child spawned with expected keys that checks in, the parent makes a
 * port of its own, the child's give port, and puts a send right to it
 * (MAKE_SEND) in the reply, after the handles. The child keeps that right
 * and gives by sending it one message per handle: one port descriptor
 * with the disposition the child chose, then the key. Fds travel as
 * fileports. The right leaves the child's space when the message is
 * copied in (xnu-11417 ipc_kmsg.c, ipc_kmsg_copyin_body) and lands in the
 * parent's under a name of its own (ipc_kmsg_copyout_descriptors).
 *
 * Only the checked-in child holds a send right to its port: the server
 * made it for the reply to a check-in that proved the token and the pid,
 * and a forked process starts with a new IPC space (xnu ipc_task_init
 * passes on only the task's special ports). The child could still pass
 * the right on, so the parent takes a give only when the message came
 * from that very process: the audit trailer's pid and pid version (val[5]
 * and val[7], which xnu-11417 bsd/kern/kern_prot.c, proc_calc_audit_token
 * fills from p_pid and p_idversion, and set_security_token hands to the
 * task) must be those of the check-in, which a new process with a
 * recycled pid does not have; nor has the same process after an exec
 * (kern_exec.c, exec_handle_sugid calls proc_setpidversion).
 *
 * The channel ends with the child's exit (the check-in's EVFILT_PROC
 * watch stays for it; what the child sent before is in the queue ahead)
 * or with the port's no-senders notification: requested with sync 1, so
 * that xnu's ipc_port_nsrequest does not send it at once while the
 * make-send count is 0; it comes when the last send right goes, whatever
 * took it (the child's exit, a reply that was destroyed). The core then
 * answers ECONNABORTED for keys not given.
 */
#ifndef CPH_DARWIN_GIVE_H
#define CPH_DARWIN_GIVE_H

#include <mach/mach.h>
#include <stdbool.h>

#include "../core/cph_core.h"
#include "mig_glue.h"

/* A give: outside the subsystem's request ids, beside the reply's. */
#define CPH__GIVE_ID (CPH__MIG_BASE + 101)

/* [u32 length][one wire entry] after the descriptor, as in the reply. */
struct cph__give_message {
    mach_msg_header_t header;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    uint32_t len;
    uint8_t entry[2 + CPH__KEY_MAX];
};

/* Fills m: h's key, with port as its descriptor, to give (a copy of
 * the sender's send right). give_message.c */
void cph__give_message_fill(struct cph__give_message *m, mach_port_t give,
                            const struct cph__handle *h,
                            const mach_msg_port_descriptor_t *port);

/* Parent side (give.c), everything under the lock. */

/* A new give port for record id, whose check-in came with audit: in
 * port_set, asking for its no-senders notification, listed (nothing can
 * arrive on it before the reply has made the child's send right). */
int cph__giver_new(uint64_t id, const audit_token_t *audit,
                   mach_port_t port_set, mach_port_t *port);
/* The reply carrying the send right did not go out: the port is
 * destroyed and the child can give nothing. */
void cph__giver_cancel(mach_port_t port);
/* Whether a message received on the server's port set came on a give
 * port; if so it was taken or destroyed. */
bool cph__giver_message(mach_msg_header_t *msg);
/* Record id's child exited: its gives queued before are in. */
void cph__giver_exited(uint64_t id);
/* Whether record id's child has a give port (its exit is watched). */
bool cph__giver_exists(uint64_t id);
/* Record id's give port, or MACH_PORT_NULL. */
mach_port_t cph__giver_port(uint64_t id);
/* In a forked child: no port names to release. */
void cph__giver_forget(void);

#endif
