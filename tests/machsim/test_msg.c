/* Rule tests of mach_msg (kernel/kmsg.c): expectations from xnu-11417 osfmk/ipc/ipc_kmsg.c,
 * ipc_mqueue.c, mach_msg.c, ipc_right.c and libsyscall/mach/mach_msg.c. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mach/mk_timer.h>

#include "rules.h"

static void set_qlimit(mach_port_t p, uint32_t n)
{
	mach_port_limits_t l = {n};
	cr_assert_eq(mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
	                                      MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
}

/* ipc_kmsg_copyout_header: the destination is named by the receive right, the bits swapped */
Test(msg, roundtrip)
{
	mach_port_t p = rcv_send_port();
	struct {
		mach_msg_header_t h;
		int x;
	} m = {{MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), sizeof m, p, 0, 0, 42}, 7};
	cr_assert_eq(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), MACH_MSG_SUCCESS);
	cr_assert_eq(r.h.msgh_id, 42);
	cr_assert_eq(r.h.msgh_size, sizeof m);
	cr_assert_eq(r.h.msgh_local_port, p);
	cr_assert_eq(r.h.msgh_remote_port, MACH_PORT_NULL);
	cr_assert_eq(r.h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND));
	cr_assert_eq(*(int *)r.body, 7);
}

/* ipc_kmsg_copyin_header: no destination, or a dead one, is MACH_SEND_INVALID_DEST */
Test(msg, invalid_dest)
{
	cr_assert_eq(send_bare(MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0),
	             MACH_SEND_INVALID_DEST);
	cr_assert_eq(send_bare(0x7f03, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0), MACH_SEND_INVALID_DEST);
	mach_port_t p = rcv_port(), so;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t), 0);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	cr_assert_eq(send_bare(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 1, 0, 0), MACH_SEND_INVALID_DEST);
}

/* ipc_kmsg_copyin_header: a reply name that is no right is MACH_SEND_INVALID_REPLY; a
 * disposition that is no send kind MACH_SEND_INVALID_HEADER */
Test(msg, invalid_reply_and_header)
{
	mach_port_t p = rcv_send_port();
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0x7f03, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 0, 0),
	             MACH_SEND_INVALID_REPLY);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0, 1, 0, 0), MACH_SEND_INVALID_HEADER);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0x7f03, 0, 1, 0, 0),
	             MACH_SEND_INVALID_HEADER);
	expect_empty(p);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
}

/* ipc_mqueue_send_locked: a full queue with a zero send timeout is MACH_SEND_TIMED_OUT */
Test(msg, full_queue_times_out)
{
	mach_port_t p = rcv_send_port();
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, MACH_SEND_TIMEOUT, 0), 0);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2, MACH_SEND_TIMEOUT, 0),
	             MACH_SEND_TIMED_OUT);
}

/* Fills p's queue (limit 1) with one message, then sends it a copy of its send right with a
 * send-once right made from reply, without waiting: MACH_SEND_TIMED_OUT; what the
 * pseudo-receive left in the header. The first message stays queued. */
static mach_msg_header_t send_to_full_queue(mach_port_t p, mach_port_t reply)
{
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, MACH_SEND_TIMEOUT, 0), 0);
	mach_msg_header_t h = {MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
	                       sizeof h, p, reply, 0, 2};
	cr_assert_eq(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, 0, 0, 0),
	             MACH_SEND_TIMED_OUT);
	return h;
}

/* ipc_kmsg_copyout_pseudo: a timed-out send's rights come back to the sender, a made
 * send-once reply as a real right: destroying it sends MACH_NOTIFY_SEND_ONCE */
Test(msg, timed_out_send_pseudo_receive)
{
	mach_port_t p = rcv_send_port(), reply = rcv_port();
	mach_msg_header_t h = send_to_full_queue(p, reply);
	cr_assert_eq(h.msgh_remote_port, p);
	cr_assert_eq(MACH_MSGH_BITS_REMOTE(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
	cr_assert_eq(MACH_MSGH_BITS_LOCAL(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
	cr_assert_neq(h.msgh_local_port, reply);
	cr_assert_eq(type_of(h.msgh_local_port), MACH_PORT_TYPE_SEND_ONCE);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 2, "the copied send right came back");
	mach_msg_destroy(&h);
	mach_port_deallocate(TASK, h.msgh_local_port);
	expect_notification(reply, MACH_NOTIFY_SEND_ONCE);
}

/* ipc_mqueue_send_locked: a send-once destination is never held to the queue limit */
Test(msg, send_once_ignores_qlimit)
{
	mach_port_t p = rcv_send_port();
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, MACH_SEND_TIMEOUT, 0), 0);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0, 2, MACH_SEND_TIMEOUT, 0), 0);
}

static void *receive_one(void *arg)
{
	struct rmsg r;
	usleep(100 * 1000);
	recv_msg((mach_port_t)(uintptr_t)arg, &r, 10000);
	return NULL;
}

/* a blocking send waits for room (ipc_mqueue_send_locked → waitq) */
Test(msg, blocking_send_waits_for_room)
{
	mach_port_t p = rcv_send_port();
	pthread_t th;
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0), 0);
	pthread_create(&th, NULL, receive_one, (void *)(uintptr_t)p);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2, 0, 0), MACH_MSG_SUCCESS);
	pthread_join(th, NULL);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 0), 0);
	cr_assert_eq(r.h.msgh_id, 2);
}

static void *destroy_later(void *arg)
{
	usleep(100 * 1000);
	mach_port_mod_refs(TASK, (mach_port_t)(uintptr_t)arg, MACH_PORT_RIGHT_RECEIVE, -1);
	return NULL;
}

/* ipc_kmsg_send: a port that dies under a blocked sender takes the message as sent */
Test(msg, port_dying_under_blocked_send)
{
	mach_port_t p = rcv_port(), s;
	mach_msg_type_name_t t;
	pthread_t th;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND, &s, &t), 0);
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0), 0);
	pthread_create(&th, NULL, destroy_later, (void *)(uintptr_t)p);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2, 0, 0), MACH_MSG_SUCCESS);
	pthread_join(th, NULL);
}

static void on_signal(int sig)
{
	(void)sig;
}

/* What another thread does to a thread waiting in mach_msg: 100 ms on, a SIGUSR1 caught by a
 * handler installed with SA_RESTART (mach_msg is interrupted all the same), then 100 ms on,
 * with port: receive one message (receive) or send one of id 3 (send). */
struct later {
	pthread_t target;
	mach_port_t port;
	enum { SIGNAL, SIGNAL_THEN_RECEIVE, SIGNAL_THEN_SEND } what;
};

static void *act_later(void *arg)
{
	struct later *l = arg;
	struct rmsg r;
	usleep(100 * 1000);
	pthread_kill(l->target, SIGUSR1);
	usleep(100 * 1000);
	if (l->what == SIGNAL_THEN_RECEIVE) recv_msg(l->port, &r, 10000);
	if (l->what == SIGNAL_THEN_SEND) send_bare(l->port, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3, 0, 0);
	return NULL;
}

static pthread_t start_later(struct later *l)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	pthread_t th;
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	l->target = pthread_self();
	cr_assert_eq(pthread_create(&th, NULL, act_later, l), 0);
	return th;
}

/* ipc_mqueue_send_locked: a caught signal ends a send waiting for room (THREAD_INTERRUPTED)
 * past its copyin: MACH_SEND_INTERRUPTED when the caller asked with MACH_SEND_INTERRUPT, and
 * the rights back as on a timeout (mach_msg_trap_send → mach_msg_receive_pseudo); the message
 * was never queued */
Test(msg, interrupted_send_pseudo_receive)
{
	mach_port_t p = rcv_send_port(), reply = rcv_port();
	struct later l = {.what = SIGNAL};
	struct rmsg r;
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, MACH_SEND_TIMEOUT, 0), 0);
	mach_msg_header_t h = {MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
	                       sizeof h, p, reply, 0, 2};
	pthread_t th = start_later(&l);
	cr_assert_eq(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT, sizeof h, 0,
	                      0, 5000, 0),
	             MACH_SEND_INTERRUPTED);
	pthread_join(th, NULL);
	cr_assert_eq(MACH_MSGH_BITS_REMOTE(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
	cr_assert_eq(MACH_MSGH_BITS_LOCAL(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 2, "the copied send right came back");
	mach_msg_destroy(&h);
	mach_port_deallocate(TASK, h.msgh_local_port);
	expect_notification(reply, MACH_NOTIFY_SEND_ONCE);
	cr_assert_eq(recv_msg(p, &r, 0), 0);
	cr_assert_eq(r.h.msgh_id, 1);
	expect_empty(p);
}

static mach_msg_type_number_t name_count(void)
{
	mach_port_name_array_t names;
	mach_port_type_array_t types;
	mach_msg_type_number_t n, ntypes;
	cr_assert_eq(mach_port_names(TASK, &names, &n, &types, &ntypes), KERN_SUCCESS);
	vm_deallocate(TASK, (vm_address_t)names, n * sizeof *names);
	vm_deallocate(TASK, (vm_address_t)types, ntypes * sizeof *types);
	return n;
}

/* libsyscall mach_msg2_internal: without MACH_SEND_INTERRUPT, an interrupted send is made
 * again with the header first given, and goes once; what the interrupted try pseudo-received
 * stays with the sender: one more uref of a copied send right, a send-once right for a made
 * one (review D12a) */
Test(msg, interrupted_send_sent_again)
{
	mach_port_t p = rcv_send_port(), reply = rcv_port();
	struct later l = {.port = p, .what = SIGNAL_THEN_RECEIVE};
	struct rmsg r;
	set_qlimit(p, 1);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, MACH_SEND_TIMEOUT, 0), 0);
	mach_msg_type_number_t before = name_count();
	pthread_t th = start_later(&l);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 2, 0, 0),
	             MACH_MSG_SUCCESS);
	pthread_join(th, NULL);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 2, "the interrupted try's copy stays");
	cr_assert_eq(name_count(), before + 1, "the interrupted try's send-once right stays");
	cr_assert_eq(recv_msg(p, &r, 0), 0);
	cr_assert_eq(r.h.msgh_id, 2);
	expect_empty(p);
}

/* ipc_mqueue_receive_results: a caught signal ends a receive with MACH_RCV_INTERRUPTED when
 * the caller asked with MACH_RCV_INTERRUPT; without it libsyscall receives again
 * (mach_msg2_internal) */
Test(msg, interrupted_receive)
{
	mach_port_t p = rcv_send_port();
	struct later l = {.port = p, .what = SIGNAL};
	struct rmsg r;
	pthread_t th = start_later(&l);
	cr_assert_eq(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_INTERRUPT, 0, sizeof r,
	                      p, 5000, 0),
	             MACH_RCV_INTERRUPTED);
	pthread_join(th, NULL);
	l.what = SIGNAL_THEN_SEND;
	th = start_later(&l);
	cr_assert_eq(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, p, 5000, 0),
	             MACH_MSG_SUCCESS);
	pthread_join(th, NULL);
	cr_assert_eq(r.h.msgh_id, 3);
}

/* ipc_mqueue_receive: an empty queue with a zero timeout; a name that is no receive right */
Test(msg, receive_rules)
{
	mach_port_t p = rcv_send_port(), so;
	mach_msg_type_name_t t;
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 0), MACH_RCV_TIMED_OUT);
	cr_assert_eq(recv_msg(0x7f03, &r, 0), MACH_RCV_INVALID_NAME);
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t), 0);
	cr_assert_eq(recv_msg(so, &r, 0), MACH_RCV_INVALID_NAME);
}

/* mach_msg_receive_too_large: with MACH_RCV_LARGE the message stays and msgh_size says what
 * it needs; without it the message is dequeued and destroyed */
Test(msg, too_large)
{
	mach_port_t p = rcv_send_port();
	struct {
		mach_msg_header_t h;
		char pad[200];
	} m = {{MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), sizeof m, p, 0, 0, 5}, {0}};
	cr_assert_eq(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), 0);
	cr_assert_eq(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), 0);
	mach_msg_header_t small = {0};
	cr_assert_eq(mach_msg(&small, MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT, 0, sizeof small,
	                      p, 0, 0), MACH_RCV_TOO_LARGE);
	cr_assert_eq(small.msgh_size, sizeof m);
	cr_assert_eq(mach_msg(&small, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof small, p, 0, 0),
	             MACH_RCV_TOO_LARGE);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 0), 0, "the second message is still there");
	expect_empty(p);
}

/* ipc_mqueue_receive on a port set: the message names the member it came from */
Test(msg, port_set_names_member)
{
	mach_port_t a = rcv_send_port(), b = rcv_send_port(), s;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), 0);
	cr_assert_eq(mach_port_insert_member(TASK, a, s), 0);
	cr_assert_eq(mach_port_insert_member(TASK, b, s), 0);
	cr_assert_eq(send_bare(b, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3, 0, 0), 0);
	struct rmsg r;
	cr_assert_eq(recv_msg(s, &r, 1000), 0);
	cr_assert_eq(r.h.msgh_local_port, b);
}

/* ipc_kmsg_copyin_body / copyout: a moved receive right arrives as a receive right */
Test(msg, move_receive_in_descriptor)
{
	mach_port_t p = rcv_send_port(), q = rcv_port();
	cr_assert_eq(send_ports(p, q, MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0, 1), 0);
	cr_assert_eq(type_of(q), 0, "moved out of the space");
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	struct pmsg *m = (struct pmsg *)&r;
	cr_assert(r.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
	cr_assert_eq(m->d[0].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
	cr_assert_eq(type_of(m->d[0].name), MACH_PORT_TYPE_RECEIVE);
}

/* ipc_kmsg_copyin_body: a failure at descriptor k destroys [0, k) (a moved receive right
 * dies) and leaves what comes after untouched */
Test(msg, body_failure_destroys_prefix_only)
{
	mach_port_t p = rcv_send_port(), a = rcv_send_port(), b = rcv_port();
	cr_assert_eq(send_ports(p, a, MACH_MSG_TYPE_MOVE_RECEIVE, 0x7f03, MACH_MSG_TYPE_COPY_SEND, 2),
	             MACH_SEND_INVALID_RIGHT);
	cr_assert_eq(type_of(a), MACH_PORT_TYPE_DEAD_NAME, "[0, k) was destroyed");
	cr_assert_eq(send_ports(p, 0x7f03, MACH_MSG_TYPE_COPY_SEND, b, MACH_MSG_TYPE_MOVE_RECEIVE, 2),
	             MACH_SEND_INVALID_RIGHT);
	cr_assert_eq(type_of(b), MACH_PORT_TYPE_RECEIVE, "after k nothing moved");
	expect_empty(p);
}

/* ipc_object_copyin with DEADOK, ipc_kmsg_copyout_port: a dead name travels as MACH_PORT_DEAD */
Test(msg, dead_name_arrives_dead)
{
	mach_port_t p = rcv_send_port(), d;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), 0);
	cr_assert_eq(send_ports(p, d, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1), 0);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	cr_assert_eq(((struct pmsg *)&r)->d[0].name, MACH_PORT_DEAD);
}

/* the audit trailer: val[5] pid, val[7] pid version (bsd/kern/kern_prot.c
 * proc_calc_audit_token) */
Test(msg, audit_trailer)
{
	mach_port_t p = rcv_send_port();
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0), 0);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	mach_msg_audit_trailer_t *t = trailer_of(&r);
	cr_assert_eq(t->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));
	cr_assert_eq(t->msgh_audit.val[5], (unsigned)getpid());
	cr_assert_eq(t->msgh_audit.val[7], machsim_pid_version(getpid()));
	cr_assert_neq(t->msgh_audit.val[7], 0);
}

struct omsg {
	mach_msg_header_t h;
	mach_msg_body_t b;
	mach_msg_ool_descriptor_t d;
};

static mach_msg_return_t send_ool(mach_port_t p, void *addr, uint32_t size, int copy, int dealloc)
{
	struct omsg m = {{MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
	                  sizeof m, p, 0, 0, 9},
	                 {1},
	                 {addr, (boolean_t)dealloc, (mach_msg_copy_options_t)copy, 0,
	                  MACH_MSG_OOL_DESCRIPTOR, size}};
	return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0);
}

/* ipc_kmsg_deflate_memory_descriptor: received deallocate = (copy == MACH_MSG_VIRTUAL_COPY);
 * the bytes arrive in fresh memory */
Test(msg, ool_received_deallocate_follows_copy)
{
	mach_port_t p = rcv_send_port();
	char data[5000];
	memset(data, 'x', sizeof data);
	cr_assert_eq(send_ool(p, data, sizeof data, MACH_MSG_PHYSICAL_COPY, 0), 0);
	cr_assert_eq(send_ool(p, data, sizeof data, MACH_MSG_VIRTUAL_COPY, 0), 0);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	struct omsg *m = (struct omsg *)&r;
	cr_assert_eq(m->d.deallocate, 0);
	cr_assert_eq(m->d.size, sizeof data);
	cr_assert_neq(m->d.address, data);
	cr_assert_eq(memcmp(m->d.address, data, sizeof data), 0);
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	cr_assert_eq(m->d.deallocate, 1);
	mach_msg_destroy(&r.h);
}

/* ipc_kmsg_copyin_ool_descriptor: vm_map_copyin(src_destroy = deallocate) unmaps the
 * sender's memory */
Test(msg, ool_deallocate_unmaps_sender)
{
	mach_port_t p = rcv_send_port();
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *a = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	a[0] = 1;
	cr_assert_eq(send_ool(p, a, (uint32_t)page, MACH_MSG_VIRTUAL_COPY, 1), 0);
	unsigned char v;
	cr_assert_eq(mincore(a, page, &v), -1, "still mapped");
}

/* libsyscall mach_msg_destroy frees OOL memory only when deallocate is set: a
 * MACH_MSG_PHYSICAL_COPY region stays mapped (the receiver must unmap it) */
Test(msg, destroy_keeps_physical_copy_memory)
{
	mach_port_t p = rcv_send_port();
	char data[100] = "hello";
	cr_assert_eq(send_ool(p, data, sizeof data, MACH_MSG_PHYSICAL_COPY, 0), 0);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), 0);
	void *addr = ((struct omsg *)&r)->d.address;
	mach_msg_destroy(&r.h);
	unsigned char v;
	cr_assert_eq(mincore((void *)((uintptr_t)addr & ~(uintptr_t)4095), 4096, &v), 0);
}

/* ipc_kmsg_copyout_descriptors: a right that finds no room in the space is destroyed and
 * named MACH_PORT_NULL; the message arrives with MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE */
Test(msg, body_error_when_space_full)
{
	mach_port_t p = rcv_send_port(), a = rcv_port(), b = rcv_port();
	cr_assert_eq(send_ports(p, a, MACH_MSG_TYPE_MAKE_SEND_ONCE, b, MACH_MSG_TYPE_MAKE_SEND_ONCE, 2), 0);
	struct machsim_right rights[64];
	int n = machsim_rights(getpid(), rights, 64);
	machsim_set_name_limit((uint32_t)n + 1);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 1000), MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE);
	struct pmsg *m = (struct pmsg *)&r;
	cr_assert_eq(type_of(m->d[0].name), MACH_PORT_TYPE_SEND_ONCE);
	cr_assert_eq(m->d[1].name, MACH_PORT_NULL);
	machsim_set_name_limit(0);
	expect_notification(b, MACH_NOTIFY_SEND_ONCE);
}

/* ipc_right_copyin_check_reply: a reply port is named as a reply only with MAKE_SEND_ONCE */
Test(msg, reply_port_only_make_send_once)
{
	mach_port_t p = rcv_send_port(), rp;
	mach_port_options_t o = {.flags = MPO_REPLY_PORT};
	cr_assert_eq(mach_port_construct(TASK, &o, 0, &rp), 0);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, rp, MACH_MSG_TYPE_MAKE_SEND, 1, 0, 0),
	             MACH_SEND_INVALID_REPLY);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, rp, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 0, 0), 0);
}

/* ipc_kmsg_copyout_pseudo → ipc_kmsg_copyout_reply_port: a timed-out send's send-once right
 * to a reply port does not come back: the header names the reply port's receive right as
 * MAKE_SEND_ONCE, no name is added and no MACH_NOTIFY_SEND_ONCE is sent */
Test(msg, timed_out_send_swallows_reply_port_right)
{
	mach_port_t p = rcv_send_port(), rp;
	mach_port_options_t o = {.flags = MPO_REPLY_PORT};
	cr_assert_eq(mach_port_construct(TASK, &o, 0, &rp), 0);
	mach_msg_type_number_t before = name_count();
	mach_msg_header_t h = send_to_full_queue(p, rp);
	cr_assert_eq(h.msgh_local_port, rp);
	cr_assert_eq(MACH_MSGH_BITS_LOCAL(h.msgh_bits), MACH_MSG_TYPE_MAKE_SEND_ONCE);
	cr_assert_eq(MACH_MSGH_BITS_REMOTE(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
	cr_assert_eq(name_count(), before, "no send-once name came back");
	mach_msg_destroy(&h);
	mach_port_status_t st;
	mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
	cr_assert_eq(mach_port_get_attributes(TASK, rp, MACH_PORT_RECEIVE_STATUS,
	                                      (mach_port_info_t)&st, &n), KERN_SUCCESS);
	cr_assert_eq(st.mps_sorights, 0);
	cr_assert_eq(st.mps_msgcount, 0, "no notification");
}

/* the child moves a receive right that cannot move; returns its wait status and stderr */
static int guard_child(mach_port_t (*make)(void), char *err, size_t n)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 2);
		mach_port_t p = rcv_send_port(), q = make();
		send_ports(p, q, MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0, 1);
		_exit(0);
	}
	close(pfd[1]);
	ssize_t k = read(pfd[0], err, n - 1);
	err[k > 0 ? k : 0] = 0;
	close(pfd[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static mach_port_t make_timer(void)
{
	return mk_timer_create();
}

static mach_port_t make_immovable(void)
{
	mach_port_options_t o = {.flags = MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE};
	mach_port_t p;
	mach_port_construct(TASK, &o, 1, &p);
	return p;
}

static mach_port_t make_reply_port(void)
{
	mach_port_options_t o = {.flags = MPO_REPLY_PORT};
	mach_port_t p;
	mach_port_construct(TASK, &o, 0, &p);
	return p;
}

/* ipc_right_copyin: MOVE_RECEIVE of a kobject, immovable or reply port raises a fatal
 * kGUARD_EXC_IMMOVABLE */
Test(msg, immovable_receive_rights_kill)
{
	mach_port_t (*makers[])(void) = {make_timer, make_immovable, make_reply_port};
	for (int i = 0; i < 3; i++) {
		char err[512];
		int status = guard_child(makers[i], err, sizeof err);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "case %d: %#x", i, status);
		cr_assert(strstr(err, "kGUARD_EXC_IMMOVABLE"), "case %d: %s", i, err);
	}
}
