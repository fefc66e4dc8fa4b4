/* mach_msg and mach_msg_destroy. The kernel (kernel/kmsg.c) does the copyin, queueing and
 * copyout; out-of-line memory travels as memfds, mapped MAP_PRIVATE on arrival (a virtual
 * copy). mach_msg_destroy follows libsyscall/mach/mach_msg.c mach_msg_destroy. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <mach/mach.h>

#include "conn.h"

#define DESC_TYPE(p) (((const uint8_t *)(p))[11])

static uint32_t desc_size(uint8_t type)
{
	return type == MACH_MSG_PORT_DESCRIPTOR ? sizeof(mach_msg_port_descriptor_t)
	                                        : sizeof(mach_msg_ool_descriptor_t);
}

/* Calls f on each descriptor of a complex message that fits in size bytes. */
static void each_desc(mach_msg_header_t *m, uint32_t size, void (*f)(void *d, void *ctx), void *ctx)
{
	uint32_t off = sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t);
	if (!(m->msgh_bits & MACH_MSGH_BITS_COMPLEX) || size < off) return;
	uint32_t n = ((mach_msg_body_t *)(m + 1))->msgh_descriptor_count;
	for (uint32_t i = 0; i < n && off + sizeof(mach_msg_port_descriptor_t) <= size; i++) {
		uint8_t *d = (uint8_t *)m + off;
		if (off + desc_size(DESC_TYPE(d)) > size) return;
		f(d, ctx);
		off += desc_size(DESC_TYPE(d));
	}
}

struct ool {
	void *addr;
	size_t size;
	bool dealloc;
};

struct out_state {
	int fds[MACHSIM_MAX_FDS];
	int nfds;
	struct ool ool[MACHSIM_MAX_FDS * 2];
	int nool; /* one per descriptor, in order, ports descriptors with size 0 */
	bool bad;
};

static int memfd_of(const void *addr, size_t size)
{
	int fd = memfd_create("machsim-ool", MFD_CLOEXEC);
	if (fd < 0) return -1;
	if (write(fd, addr, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

/* the sender's side of ipc_kmsg_copyin_ool_descriptor: the bytes go in a memfd */
static void collect(void *d, void *ctx)
{
	struct out_state *s = ctx;
	uint8_t type = DESC_TYPE(d);
	if (s->nool == (int)(sizeof s->ool / sizeof s->ool[0])) {
		s->bad = true;
		return;
	}
	struct ool *o = &s->ool[s->nool++];
	*o = (struct ool){0};
	if (type == MACH_MSG_PORT_DESCRIPTOR || type > MACH_MSG_OOL_VOLATILE_DESCRIPTOR) return;
	if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
		mach_msg_ool_ports_descriptor_t *p = d;
		*o = (struct ool){p->address, p->count * sizeof(mach_port_t), p->deallocate};
	} else {
		mach_msg_ool_descriptor_t *p = d;
		*o = (struct ool){p->address, p->size, p->deallocate};
	}
	if (!o->size) return;
	if (s->nfds == MACHSIM_MAX_FDS || (s->fds[s->nfds] = memfd_of(o->addr, o->size)) < 0) {
		s->bad = true;
		return;
	}
	s->nfds++;
}

struct in_state {
	const int *fds;
	int nfds, next;
};

/* the receiver's side of ipc_kmsg_copyout_ool_descriptor: fresh memory, mapped copy-on-write */
static void map_in(void *d, void *ctx)
{
	struct in_state *s = ctx;
	uint8_t type = DESC_TYPE(d);
	size_t size;
	void **addr;
	if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
		mach_msg_ool_ports_descriptor_t *p = d;
		size = p->count * sizeof(mach_port_t);
		addr = &p->address;
	} else if (type == MACH_MSG_OOL_DESCRIPTOR || type == MACH_MSG_OOL_VOLATILE_DESCRIPTOR) {
		mach_msg_ool_descriptor_t *p = d;
		size = p->size;
		addr = &p->address;
	} else {
		return;
	}
	*addr = NULL;
	if (!size || s->next >= s->nfds) return;
	int fd = s->fds[s->next++];
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	*addr = m == MAP_FAILED ? NULL : m;
}

static void unmap_sent(struct out_state *s, uint64_t consumed)
{
	for (int i = 0; i < s->nool && (uint64_t)i < consumed; i++)
		if (s->ool[i].dealloc && s->ool[i].size) munmap(s->ool[i].addr, s->ool[i].size);
}

/* mach_msg2_trap: sends what `sent` holds (the header mach_msg2 passes in registers, then the
 * body from the buffer), receives into msg; a failed send's pseudo-receive lands in msg. */
static mach_msg_return_t msg_trap(mach_msg_header_t *msg, const void *sent,
                                  mach_msg_option_t option, mach_msg_size_t send_size,
                                  mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                                  mach_msg_timeout_t timeout)
{
	static __thread uint8_t buf[MACHSIM_MAX_DATAGRAM];
	static __thread struct out_state out;
	out.nfds = out.nool = 0;
	out.bad = false;
	struct ms_req q = {.op = MS_MSG, .a = {(uint32_t)option, send_size, rcv_size, rcv_name, timeout}};
	if (option & MACH_SEND_MSG) {
		if (send_size > MACHSIM_MAX_DATAGRAM - 1024) return MACH_SEND_TOO_LARGE;
		if (send_size >= sizeof(mach_msg_header_t))
			each_desc((mach_msg_header_t *)sent, send_size, collect, &out);
		if (out.bad) {
			for (int i = 0; i < out.nfds; i++) close(out.fds[i]);
			return MACH_SEND_INVALID_MEMORY;
		}
		q.n = send_size;
	}
	struct machsim__answer a = {.buf = buf, .cap = sizeof buf};
	mach_msg_return_t mr = machsim__call(&q, sent, out.fds, out.nfds, &a);
	for (int i = 0; i < out.nfds; i++) close(out.fds[i]);
	unmap_sent(&out, a.rep.v[1]);
	struct in_state in = {a.fds, a.nfds, 0};
	switch (a.rep.v[0]) {
	case MS_BACK_RECEIVED:
	case MS_BACK_PSEUDO: {
		uint32_t cap = a.rep.v[0] == MS_BACK_PSEUDO ? send_size : rcv_size;
		memcpy(msg, buf, a.rep.n < cap ? a.rep.n : cap);
		each_desc(msg, (uint32_t)a.rep.v[2], map_in, &in);
		break;
	}
	case MS_BACK_SIZE: /* mach_msg_receive_too_large: the size the message needs */
		if (rcv_size >= offsetof(mach_msg_header_t, msgh_remote_port))
			msg->msgh_size = (mach_msg_size_t)a.rep.v[2];
		break;
	}
	for (int i = in.next; i < in.nfds; i++) close(in.fds[i]);
	return mr;
}

/* libsyscall's retry of an interrupted send: the header it was first given (the registers),
 * the body as the pseudo-receive left it in the buffer. */
static mach_msg_return_t send_again(mach_msg_header_t *msg, const mach_msg_header_t *regs,
                                    mach_msg_option_t option, mach_msg_size_t send_size,
                                    mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                                    mach_msg_timeout_t timeout)
{
	uint8_t *sent = malloc(send_size);
	if (!sent) return MACH_SEND_NO_BUFFER;
	memcpy(sent, msg, send_size);
	memcpy(sent, regs, sizeof *regs);
	mach_msg_return_t mr = msg_trap(msg, sent, option, send_size, rcv_size, rcv_name, timeout);
	free(sent);
	return mr;
}

/* xnu-11417 libsyscall/mach/mach_msg.c mach_msg2_internal (the scalar mach_msg2 path: no
 * voucher to receive, no separate receive buffer, no aux data): a send interrupted by a
 * signal is sent again with the arguments first given, a receive interrupted is made again
 * without the send (mach_msg_options_after_interruption), unless MACH_SEND_INTERRUPT /
 * MACH_RCV_INTERRUPT; the kernel never sees those two options. */
mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                           mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                           mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                           mach_port_name_t notify)
{
	mach_msg_option_t trap_option = option & ~(MACH_SEND_INTERRUPT | MACH_RCV_INTERRUPT);
	mach_msg_header_t regs = {0};
	(void)notify;
	if ((option & MACH_SEND_MSG) && send_size >= sizeof regs) regs = *msg;
	mach_msg_return_t mr =
		msg_trap(msg, msg, trap_option, send_size, rcv_size, rcv_name, timeout);
	if (!(option & MACH_SEND_INTERRUPT))
		while (mr == MACH_SEND_INTERRUPTED)
			mr = send_again(msg, &regs, trap_option, send_size, rcv_size, rcv_name, timeout);
	if (!(option & MACH_RCV_INTERRUPT))
		while (mr == MACH_RCV_INTERRUPTED)
			mr = msg_trap(msg, NULL, trap_option & ~MACH_SEND_MSG, 0, rcv_size, rcv_name,
			              timeout);
	return mr;
}

mach_msg_return_t mach_msg_overwrite(mach_msg_header_t *msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                     mach_port_name_t notify, mach_msg_header_t *rcv_msg,
                                     mach_msg_size_t rcv_limit)
{
	(void)rcv_limit;
	if (!rcv_msg || rcv_msg == msg || !(option & MACH_RCV_MSG))
		return mach_msg(msg, option, send_size, rcv_size, rcv_name, timeout, notify);
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	if (option & MACH_SEND_MSG) {
		mr = mach_msg(msg, option & ~(MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE),
		              send_size, 0, MACH_PORT_NULL, timeout, notify);
		if (mr) return mr;
	}
	return mach_msg(rcv_msg, option & ~(MACH_SEND_MSG | MACH_SEND_TIMEOUT), 0, rcv_size, rcv_name,
	                timeout, notify);
}

mach_msg_return_t mach_msg_send(mach_msg_header_t *msg)
{
	return mach_msg(msg, MACH_SEND_MSG, msg->msgh_size, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg)
{
	return mach_msg(msg, MACH_RCV_MSG, 0, msg->msgh_size, msg->msgh_local_port, 0,
	                MACH_PORT_NULL);
}

/* libsyscall mach_msg_destroy_port: MAKE_* rights are made then destroyed (which fires what
 * destroying them fires) */
static void destroy_port(mach_port_t port, mach_msg_type_name_t type)
{
	if (!MACH_PORT_VALID(port)) return;
	switch (type) {
	case MACH_MSG_TYPE_MOVE_SEND:
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
		mach_port_deallocate(mach_task_self_, port);
		break;
	case MACH_MSG_TYPE_MOVE_RECEIVE:
		mach_port_mod_refs(mach_task_self_, port, MACH_PORT_RIGHT_RECEIVE, -1);
		break;
	case MACH_MSG_TYPE_MAKE_SEND:
		mach_port_insert_right(mach_task_self_, port, port, MACH_MSG_TYPE_MAKE_SEND);
		mach_port_deallocate(mach_task_self_, port);
		break;
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		mach_port_extract_right(mach_task_self_, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &port, &type);
		mach_port_deallocate(mach_task_self_, port);
		break;
	}
}

/* OOL memory is freed only when the descriptor says deallocate */
static void destroy_desc(void *d, void *ctx)
{
	(void)ctx;
	switch (DESC_TYPE(d)) {
	case MACH_MSG_PORT_DESCRIPTOR: {
		mach_msg_port_descriptor_t *p = d;
		destroy_port(p->name, p->disposition);
		break;
	}
	case MACH_MSG_OOL_DESCRIPTOR: {
		mach_msg_ool_descriptor_t *p = d;
		if (p->deallocate && p->size)
			vm_deallocate(mach_task_self_, (vm_address_t)p->address, p->size);
		break;
	}
	case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
		mach_msg_ool_ports_descriptor_t *p = d;
		mach_port_t *ports = p->address;
		for (mach_msg_type_number_t j = 0; ports && j < p->count; j++)
			destroy_port(ports[j], p->disposition);
		if (p->deallocate && p->count)
			vm_deallocate(mach_task_self_, (vm_address_t)p->address,
			              p->count * sizeof(mach_port_t));
		break;
	}
	}
}

void mach_msg_destroy(mach_msg_header_t *msg)
{
	destroy_port(msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(msg->msgh_bits));
	destroy_port(msg->msgh_voucher_port, MACH_MSGH_BITS_VOUCHER(msg->msgh_bits));
	each_desc(msg, UINT32_MAX, destroy_desc, NULL);
}
