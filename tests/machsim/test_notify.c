/* Rule tests of notifications (kernel/ipc.c, kernel/calls.c request_notification):
 * expectations from xnu-11417 osfmk/ipc/ipc_notify.c, ipc_port.c, ipc_right.c, mach_port.c. */
#include "rules.h"

static mach_port_t request(mach_port_t name, mach_msg_id_t id, mach_port_mscount_t sync,
                           mach_port_t notify, kern_return_t want)
{
	mach_port_t prev = MACH_PORT_NULL;
	cr_assert_eq(mach_port_request_notification(TASK, name, id, sync, notify,
	                                            MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), want);
	return prev;
}

/* Moves p's receive right into a message queued on a port that is then destroyed: p dies
 * while this space keeps its send right. */
static void kill_port(mach_port_t p)
{
	mach_port_t q = rcv_send_port();
	cr_assert_eq(send_ports(q, p, MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0, 1), 0);
	cr_assert_eq(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), 0);
	mach_port_deallocate(TASK, q);
}

/* ipc_notify_no_senders: the last send right going sends not_count = mscount */
Test(notify, no_senders_on_last_send)
{
	mach_port_t p = rcv_send_port(), n = rcv_port();
	cr_assert_eq(request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS), MACH_PORT_NULL);
	expect_empty(n);
	cr_assert_eq(mach_port_deallocate(TASK, p), 0);
	struct rmsg *m = expect_notification(n, MACH_NOTIFY_NO_SENDERS);
	cr_assert_eq(((mach_no_senders_notification_t *)m)->not_count, 1);
	cr_assert_eq(m->h.msgh_local_port, n);
}

/* ipc_port_nsrequest: no senders and sync ≤ mscount fires at once */
Test(notify, no_senders_immediate)
{
	mach_port_t p = rcv_port(), n = rcv_port();
	request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS);
	expect_notification(n, MACH_NOTIFY_NO_SENDERS);
	request(p, MACH_NOTIFY_NO_SENDERS, 1, n, KERN_SUCCESS);
	expect_empty(n);
}

/* ipc_port_nsrequest: a new request hands back the previous one's send-once right */
Test(notify, no_senders_previous)
{
	mach_port_t p = rcv_send_port(), n = rcv_port();
	request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS);
	mach_port_t prev = request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS);
	cr_assert_eq(type_of(prev), MACH_PORT_TYPE_SEND_ONCE);
	cr_assert_eq(mach_port_deallocate(TASK, prev), 0);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
}

/* ipc_port_dnnotify and ipc_right_check: the dead name gets one more uref for the
 * notification */
Test(notify, dead_name)
{
	mach_port_t p = rcv_send_port(), n = rcv_port();
	request(p, MACH_NOTIFY_DEAD_NAME, 0, n, KERN_SUCCESS);
	cr_assert(type_of(p) & MACH_PORT_TYPE_DNREQUEST);
	kill_port(p);
	struct rmsg *m = expect_notification(n, MACH_NOTIFY_DEAD_NAME);
	cr_assert_eq(((mach_dead_name_notification_t *)m)->not_port, p);
	cr_assert_eq(type_of(p), MACH_PORT_TYPE_DEAD_NAME);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
}

/* ipc_right_request_alloc: no dead-name request on a dead name (KERN_INVALID_ARGUMENT) or a
 * port set (KERN_INVALID_RIGHT); the notify right of a refused request is destroyed */
Test(notify, dead_name_refusals)
{
	mach_port_t d, s, n = rcv_port();
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), 0);
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), 0);
	request(d, MACH_NOTIFY_DEAD_NAME, 0, n, KERN_INVALID_ARGUMENT);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
	request(s, MACH_NOTIFY_DEAD_NAME, 0, n, KERN_INVALID_RIGHT);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
	request(d, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_INVALID_RIGHT);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
}

/* ipc_notify_send_once: a send-once right destroyed unused */
Test(notify, send_once_destroyed)
{
	mach_port_t p = rcv_port(), so;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t), 0);
	cr_assert_eq(mach_port_deallocate(TASK, so), 0);
	struct rmsg *m = expect_notification(p, MACH_NOTIFY_SEND_ONCE);
	cr_assert_eq(m->h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
	cr_assert_eq(m->h.msgh_size, sizeof(mach_msg_header_t));
}

/* ipc_right_dealloc → ipc_right_request_cancel: MACH_NOTIFY_PORT_DELETED */
Test(notify, port_deleted)
{
	mach_port_t p = rcv_port(), n = rcv_port(), so;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t), 0);
	request(so, MACH_NOTIFY_DEAD_NAME, 0, n, KERN_SUCCESS);
	cr_assert_eq(mach_port_deallocate(TASK, so), 0);
	struct rmsg *m = expect_notification(n, MACH_NOTIFY_PORT_DELETED);
	cr_assert_eq(((mach_port_deleted_notification_t *)m)->not_port, so);
}

/* ipc_port_destroy with a port-destroyed request: the receive right goes to the notify port */
Test(notify, port_destroyed_hands_back_receive)
{
	mach_port_t p = rcv_port(), n = rcv_port();
	request(p, MACH_NOTIFY_PORT_DESTROYED, 0, n, KERN_SUCCESS);
	request(p, MACH_NOTIFY_PORT_DESTROYED, 0, n, KERN_FAILURE);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), 0);
	struct rmsg *m = expect_notification(n, MACH_NOTIFY_PORT_DESTROYED);
	mach_port_destroyed_notification_t *d = (void *)m;
	cr_assert_eq(d->not_port.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
	cr_assert_eq(type_of(d->not_port.name), MACH_PORT_TYPE_RECEIVE);
}

/* ipc_port_destroy: a port destroyed with a no-senders request destroys that send-once right */
Test(notify, destroyed_port_drops_nsrequest)
{
	mach_port_t p = rcv_send_port(), n = rcv_port();
	request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), 0);
	expect_notification(n, MACH_NOTIFY_SEND_ONCE);
}

/* kernel notifications carry KERNEL_AUDIT_TOKEN_VALUE */
Test(notify, kernel_audit_token)
{
	mach_port_t p = rcv_port(), n = rcv_port();
	request(p, MACH_NOTIFY_NO_SENDERS, 0, n, KERN_SUCCESS);
	struct rmsg *m = expect_notification(n, MACH_NOTIFY_NO_SENDERS);
	audit_token_t k = KERNEL_AUDIT_TOKEN_VALUE;
	cr_assert_eq(memcmp(&trailer_of(m)->msgh_audit, &k, sizeof k), 0);
}
