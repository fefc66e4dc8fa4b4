/* Helpers shared by the Mach rule tests (test_ports.c, test_msg.c, test_notify.c,
 * test_task.c, test_bootstrap.c, test_fileport.c). */
#ifndef MACHSIM_RULES_H
#define MACHSIM_RULES_H

#include <criterion/criterion.h>
#include <string.h>
#include <mach/mach.h>
#include <mach/notify.h>

#include "machsim.h"

#define TASK mach_task_self()

struct rmsg {
	mach_msg_header_t h;
	uint8_t body[2048];
};

static inline mach_port_t rcv_port(void)
{
	mach_port_t p;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
	return p;
}

static inline mach_port_t rcv_send_port(void)
{
	mach_port_t p = rcv_port();
	cr_assert_eq(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	return p;
}

static inline mach_port_type_t type_of(mach_port_t name)
{
	mach_port_type_t t = 0;
	if (mach_port_type(TASK, name, &t)) return 0;
	return t;
}

static inline mach_port_urefs_t refs_of(mach_port_t name, mach_port_right_t right)
{
	mach_port_urefs_t r = 0;
	cr_assert_eq(mach_port_get_refs(TASK, name, right, &r), KERN_SUCCESS);
	return r;
}

/* a header-only message */
static inline mach_msg_return_t send_bare(mach_port_t dest, mach_msg_type_name_t dd,
                                          mach_port_t reply, mach_msg_type_name_t rd,
                                          mach_msg_id_t id, mach_msg_option_t opt,
                                          mach_msg_timeout_t timeout)
{
	mach_msg_header_t h = {MACH_MSGH_BITS(dd, rd), sizeof h, dest, reply, 0, id};
	return mach_msg(&h, MACH_SEND_MSG | opt, sizeof h, 0, MACH_PORT_NULL, timeout,
	                MACH_PORT_NULL);
}

/* receive with an audit trailer, at most `ms` ms */
static inline mach_msg_return_t recv_msg(mach_port_t port, struct rmsg *m, mach_msg_timeout_t ms)
{
	memset(m, 0, sizeof *m);
	return mach_msg(&m->h,
	                MACH_RCV_MSG | MACH_RCV_TIMEOUT |
	                    MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
	                    MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
	                0, sizeof *m, port, ms, MACH_PORT_NULL);
}

static inline mach_msg_audit_trailer_t *trailer_of(struct rmsg *m)
{
	return (mach_msg_audit_trailer_t *)((uint8_t *)&m->h + m->h.msgh_size);
}

/* the next message of port is the notification id; returns it */
static inline struct rmsg *expect_notification(mach_port_t port, mach_msg_id_t id)
{
	static struct rmsg m;
	cr_assert_eq(recv_msg(port, &m, 10000), MACH_MSG_SUCCESS, "no notification %d", id);
	cr_assert_eq(m.h.msgh_id, id, "got %d, not %d", m.h.msgh_id, id);
	return &m;
}

static inline void expect_empty(mach_port_t port)
{
	struct rmsg m;
	mach_msg_return_t mr = recv_msg(port, &m, 0);
	cr_assert_eq(mr, MACH_RCV_TIMED_OUT, "a message is queued: id %d (%#x)", m.h.msgh_id, mr);
}

/* a message with one port descriptor */
struct pmsg {
	mach_msg_header_t h;
	mach_msg_body_t b;
	mach_msg_port_descriptor_t d[2];
};

static inline mach_msg_return_t send_ports(mach_port_t dest, mach_port_t n0,
                                           mach_msg_type_name_t d0, mach_port_t n1,
                                           mach_msg_type_name_t d1, int count)
{
	struct pmsg m = {{MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
	                  (mach_msg_size_t)(sizeof m.h + sizeof m.b + (size_t)count * sizeof m.d[0]),
	                  dest, 0, 0, 7},
	                 {(mach_msg_size_t)count}, {{0}}};
	m.d[0].name = n0;
	m.d[0].disposition = d0;
	m.d[0].type = MACH_MSG_PORT_DESCRIPTOR;
	m.d[1].name = n1;
	m.d[1].disposition = d1;
	m.d[1].type = MACH_MSG_PORT_DESCRIPTOR;
	return mach_msg(&m.h, MACH_SEND_MSG, m.h.msgh_size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

#endif
