/* Messages: xnu osfmk/ipc/ipc_kmsg.c (copyin, copyout, clean), ipc_mqueue.c (queues, limits,
 * waiting), mach_msg.c (mach_msg2_trap's send then receive), xnu-11417. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kern.h"

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* user layout of descriptors (64-bit): the type is the last byte of the first 12 */
#define DESC_TYPE(p) ((p)[11])
static uint32_t desc_size(uint8_t type)
{
	return type == MACH_MSG_PORT_DESCRIPTOR ? sizeof(mach_msg_port_descriptor_t)
	                                        : sizeof(mach_msg_ool_descriptor_t);
}

struct kmsg *kmsg_kernel(struct port *dest, mach_msg_id_t id, uint32_t size)
{
	struct kmsg *m = calloc(1, sizeof *m);
	if (!m || !(m->buf = calloc(1, size))) {
		free(m);
		return NULL;
	}
	m->size = size;
	m->dest = (struct kright){dest, MACH_MSG_TYPE_PORT_SEND_ONCE};
	m->from_kernel = true;
	mach_msg_header_t *h = (mach_msg_header_t *)m->buf;
	h->msgh_size = size;
	h->msgh_id = id;
	return m;
}

static void kdesc_clean(struct kdesc *d)
{
	right_release(d->right);
	if (d->memfd >= 0) close(d->memfd);
	for (uint32_t i = 0; d->rights && i < d->count; i++) right_release(d->rights[i]);
	free(d->rights);
}

/* ipc_kmsg_clean: every right the message holds is destroyed (a send-once destination
 * sends MACH_NOTIFY_SEND_ONCE: ipc_object_destroy_dest), its memory freed. */
void kmsg_destroy(struct kmsg *m)
{
	right_release(m->dest);
	right_release(m->reply);
	for (uint32_t i = 0; i < m->ndesc; i++) kdesc_clean(&m->desc[i]);
	free(m->desc);
	free(m->buf);
	free(m);
}

/* ipc_mqueue_send_locked: queued at the tail; a dead port's message is destroyed, reported
 * as sent (ipc_kmsg_send: "pretend it got sent"). */
void kmsg_enqueue(struct port *p, struct kmsg *m)
{
	if (!p->active || (p->kind != KO_NONE && p->kind != KO_TIMER)) {
		kmsg_destroy(m);
		return;
	}
	m->next = NULL;
	*p->qtail = m;
	p->qtail = &m->next;
	p->msgcount++;
	evfd_update_port(p);
	msg_port_changed(p);
}

static struct kmsg *dequeue(struct port *p)
{
	struct kmsg *m = p->qhead;
	p->qhead = m->next;
	if (!p->qhead) p->qtail = &p->qhead;
	p->msgcount--;
	evfd_update_port(p);
	msg_port_changed(p);
	return m;
}

/* ---- copyin ---- */

static bool disp_moves(mach_msg_type_name_t d)
{
	return d == MACH_MSG_TYPE_MOVE_SEND || d == MACH_MSG_TYPE_MOVE_SEND_ONCE;
}

/* Would right_copyin succeed, given `more` urefs taken from the same name first? */
static bool can_copyin(struct task *t, mach_port_name_t name, mach_msg_type_name_t d, bool deadok,
                       uint32_t more)
{
	struct entry *e = entry_check(t, name);
	if (!e) return false;
	if (e->type & MACH_PORT_TYPE_DEAD_NAME)
		return deadok && (d == MACH_MSG_TYPE_COPY_SEND || e->urefs > more ||
		                  d != MACH_MSG_TYPE_MOVE_SEND);
	switch (d) {
	case MACH_MSG_TYPE_MAKE_SEND:
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		return e->type & MACH_PORT_TYPE_RECEIVE;
	case MACH_MSG_TYPE_COPY_SEND:
		return e->type & MACH_PORT_TYPE_SEND;
	case MACH_MSG_TYPE_MOVE_SEND:
		return (e->type & MACH_PORT_TYPE_SEND) && e->urefs > more;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
		return (e->type & MACH_PORT_TYPE_SEND_ONCE) && !more;
	}
	return false;
}

/* ipc_right_copyin_check_reply: a reply port (MPO_REPLY_PORT) is named as a reply only with
 * MAKE_SEND_ONCE. */
static bool reply_allowed(struct task *t, mach_port_name_t name, mach_msg_type_name_t d)
{
	struct entry *e = entry_lookup(t, name);
	return !e || !e->port || !e->port->reply_port || !e->port->active ||
	       d == MACH_MSG_TYPE_MAKE_SEND_ONCE;
}

/* ipc_kmsg_copyin_header: destination and reply rights, all or nothing. */
static mach_msg_return_t copyin_header(struct task *t, struct kmsg *m)
{
	mach_msg_header_t *h = (mach_msg_header_t *)m->buf;
	mach_msg_bits_t bits = h->msgh_bits & MACH_MSGH_BITS_USER;
	mach_msg_type_name_t dt = MACH_MSGH_BITS_REMOTE(bits), rt = MACH_MSGH_BITS_LOCAL(bits);
	mach_port_name_t dn = h->msgh_remote_port, rn = h->msgh_local_port;
	h->msgh_bits = bits;
	if (!MACH_MSG_TYPE_PORT_ANY_SEND(dt) ||
	    (rt == 0 ? rn != MACH_PORT_NULL : !MACH_MSG_TYPE_PORT_ANY_SEND(rt)))
		return MACH_SEND_INVALID_HEADER;
	if (MACH_MSGH_BITS_VOUCHER(bits) && h->msgh_voucher_port) return MACH_SEND_INVALID_VOUCHER;
	if (!MACH_PORT_VALID(dn)) return MACH_SEND_INVALID_DEST;
	bool same = dn == rn;
	uint32_t before = same && disp_moves(rt) && disp_moves(dt) ? 1 : 0;
	if (!can_copyin(t, dn, dt, false, before)) return MACH_SEND_INVALID_DEST;
	if (MACH_PORT_VALID(rn)) {
		if (!can_copyin(t, rn, rt, true, 0)) return MACH_SEND_INVALID_REPLY;
		if (!reply_allowed(t, rn, rt)) return MACH_SEND_INVALID_REPLY;
	}
	/* the non-consuming copy first, so a move of the same name's last uref comes last */
	bool reply_first = MACH_PORT_VALID(rn) && !disp_moves(rt);
	if (reply_first) right_copyin(t, rn, rt, true, &m->reply);
	kern_return_t kr = right_copyin(t, dn, dt, false, &m->dest);
	if (kr == KR_GUARD) return kr;
	if (MACH_PORT_VALID(rn) && !reply_first) right_copyin(t, rn, rt, true, &m->reply);
	if (rn == MACH_PORT_DEAD) m->reply = (struct kright){DEADP, 0};
	return MACH_MSG_SUCCESS;
}

static mach_msg_type_name_t copyin_type(mach_msg_type_name_t d)
{
	switch (d) {
	case MACH_MSG_TYPE_MOVE_RECEIVE: return MACH_MSG_TYPE_PORT_RECEIVE;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
	case MACH_MSG_TYPE_MAKE_SEND_ONCE: return MACH_MSG_TYPE_PORT_SEND_ONCE;
	}
	return MACH_MSG_TYPE_PORT_SEND;
}

/* body copyin of one name: NULL and DEAD pass as themselves, dead names are DEADOK
 * (ipc_kmsg_copyin_port_descriptor → ipc_object_copyin) */
static kern_return_t copyin_name(struct task *t, mach_port_name_t n, mach_msg_type_name_t d,
                                 struct kright *r)
{
	*r = (struct kright){MACH_PORT_VALID(n) ? NULL : n == MACH_PORT_DEAD ? DEADP : NULL,
	                     copyin_type(d)};
	if (!MACH_PORT_VALID(n)) return KERN_SUCCESS;
	kern_return_t kr = right_copyin(t, n, d, true, r);
	if (r->port == DEADP) r->type = copyin_type(d);
	return kr;
}

/* ipc_kmsg_copyin_body, first pass: counts, sizes, types and dispositions, before any right
 * moves (MACH_SEND_MSG_TOO_SMALL, MACH_SEND_INVALID_TYPE). */
static mach_msg_return_t body_validate(struct kmsg *m, uint32_t *nfds)
{
	uint32_t off = sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t);
	if (m->size < off) return MACH_SEND_MSG_TOO_SMALL;
	uint32_t n = ((mach_msg_body_t *)(m->buf + sizeof(mach_msg_header_t)))->msgh_descriptor_count;
	if (n > (m->size - off) / sizeof(mach_msg_port_descriptor_t)) return MACH_SEND_MSG_TOO_SMALL;
	*nfds = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (off + sizeof(mach_msg_port_descriptor_t) > m->size) return MACH_SEND_MSG_TOO_SMALL;
		uint8_t *p = m->buf + off;
		uint8_t type = DESC_TYPE(p);
		if (type > MACH_MSG_OOL_VOLATILE_DESCRIPTOR) return MACH_SEND_INVALID_TYPE;
		if (off + desc_size(type) > m->size) return MACH_SEND_MSG_TOO_SMALL;
		if (type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t *d = (void *)p;
			if (!MACH_MSG_TYPE_PORT_ANY(d->disposition)) return MACH_SEND_INVALID_TYPE;
		} else if (type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t *d = (void *)p;
			if (!MACH_MSG_TYPE_PORT_ANY(d->disposition)) return MACH_SEND_INVALID_TYPE;
			if (d->copy != MACH_MSG_PHYSICAL_COPY && d->copy != MACH_MSG_VIRTUAL_COPY)
				return MACH_SEND_INVALID_TYPE;
			*nfds += d->count > 0;
		} else {
			mach_msg_ool_descriptor_t *d = (void *)p;
			if (d->copy != MACH_MSG_PHYSICAL_COPY && d->copy != MACH_MSG_VIRTUAL_COPY)
				return MACH_SEND_INVALID_TYPE;
			*nfds += d->size > 0;
		}
		off += desc_size(type);
	}
	m->ndesc = n;
	return MACH_MSG_SUCCESS;
}

static mach_msg_return_t copyin_ool_ports(struct task *t, mach_msg_ool_ports_descriptor_t *d,
                                          struct kdesc *k, int fd)
{
	k->count = d->count;
	if (!d->count) return MACH_MSG_SUCCESS;
	k->rights = calloc(d->count, sizeof *k->rights);
	mach_port_name_t *names = mmap(NULL, d->count * sizeof *names, PROT_READ, MAP_PRIVATE, fd, 0);
	if (!k->rights || names == MAP_FAILED) return MACH_SEND_INVALID_MEMORY;
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	uint32_t i;
	for (i = 0; i < d->count && !mr; i++) {
		kern_return_t kr = copyin_name(t, names[i], d->disposition, &k->rights[i]);
		mr = kr == KR_GUARD ? KR_GUARD : kr ? MACH_SEND_INVALID_RIGHT : 0;
	}
	if (mr) k->count = i - 1;
	munmap(names, d->count * sizeof *names);
	return mr;
}

/* ipc_kmsg_copyin_body, second pass: descriptors in order; on a failure at k the message
 * holds [0, k) and the header, which the caller destroys (ipc_kmsg_clean_partial). */
static mach_msg_return_t copyin_body(struct task *t, struct kmsg *m, int *fds, int nfds,
                                     uint32_t *done)
{
	uint32_t off = sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t), want;
	mach_msg_return_t mr = body_validate(m, &want);
	*done = 0;
	if (mr) return mr;
	if ((int)want != nfds) return MACH_SEND_INVALID_MEMORY;
	m->desc = calloc(m->ndesc ? m->ndesc : 1, sizeof *m->desc);
	if (!m->desc) return MACH_SEND_NO_BUFFER;
	int fi = 0;
	for (uint32_t i = 0; i < m->ndesc; i++, *done = i) {
		uint8_t *p = m->buf + off;
		struct kdesc *k = &m->desc[i];
		k->type = DESC_TYPE(p);
		k->memfd = -1;
		off += desc_size(k->type);
		if (k->type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t *d = (void *)p;
			kern_return_t kr = copyin_name(t, d->name, d->disposition, &k->right);
			if (kr) return kr == KR_GUARD ? KR_GUARD : MACH_SEND_INVALID_RIGHT;
		} else if (k->type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t *d = (void *)p;
			mr = copyin_ool_ports(t, d, k, d->count ? fds[fi++] : -1);
			if (mr) return mr;
		} else {
			mach_msg_ool_descriptor_t *d = (void *)p;
			if (d->size && (k->memfd = fcntl(fds[fi++], F_DUPFD_CLOEXEC, 0)) < 0)
				return MACH_SEND_NO_BUFFER;
			k->count = d->size;
		}
	}
	return MACH_MSG_SUCCESS;
}

/* ---- copyout ---- */

static uint32_t trailer_size(mach_msg_option_t o)
{
	return REQUESTED_TRAILER_SIZE(o);
}

/* the format-0 trailer up to what was asked: seqno, sender's security token and audit token
 * (bsd/kern/kern_prot.c proc_calc_audit_token: val[5] pid, val[7] pid version; kernel
 * messages KERNEL_AUDIT_TOKEN_VALUE), the port's context */
static void trailer_fill(struct kmsg *m, struct port *p, uint32_t seqno, mach_msg_option_t o,
                         mach_msg_max_trailer_t *tr)
{
	memset(tr, 0, sizeof *tr);
	tr->msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0;
	tr->msgh_trailer_size = trailer_size(o);
	tr->msgh_seqno = seqno;
	if (m->from_kernel) {
		tr->msgh_sender = (security_token_t)KERNEL_SECURITY_TOKEN_VALUE;
		tr->msgh_audit = (audit_token_t)KERNEL_AUDIT_TOKEN_VALUE;
	} else {
		tr->msgh_sender.val[0] = m->uid;
		tr->msgh_sender.val[1] = m->gid;
		uint32_t v[8] = {m->uid, m->uid, m->gid, m->uid, m->gid, (uint32_t)m->pid, 0,
		                 m->pidversion};
		memcpy(tr->msgh_audit.val, v, sizeof v);
	}
	tr->msgh_context = p->context;
}

/* the receive right's name in t (the member a port-set receive took the message from) */
static mach_port_name_t receiver_name(struct task *t, struct port *p)
{
	for (uint32_t i = 1; i < t->ntab; i++)
		if ((t->tab[i].type & MACH_PORT_TYPE_RECEIVE) && t->tab[i].port == p)
			return entry_name(t, &t->tab[i]);
	return MACH_PORT_NULL;
}

/* ipc_kmsg_copyout_descriptors: each right into the space, in order; one that finds no room
 * is destroyed and named MACH_PORT_NULL (MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE). OOL
 * memory goes back as memfds; received deallocate = (copy == MACH_MSG_VIRTUAL_COPY)
 * (ipc_kmsg_deflate_memory_descriptor). */
static mach_msg_return_t copyout_body(struct task *t, struct kmsg *m, int *fds, int *nfds)
{
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	uint32_t off = sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t);
	for (uint32_t i = 0; i < m->ndesc; i++) {
		uint8_t *p = m->buf + off;
		struct kdesc *k = &m->desc[i];
		off += desc_size(k->type);
		if (k->type == MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_port_descriptor_t *d = (void *)p;
			d->disposition = k->right.type;
			d->pad1 = 0;
			d->pad2 = 0;
			if (right_copyout(t, k->right, &d->name)) {
				right_release(k->right);
				d->name = MACH_PORT_NULL;
				mr = MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE;
			}
			k->right = (struct kright){0};
		} else if (k->type == MACH_MSG_OOL_PORTS_DESCRIPTOR) {
			mach_msg_ool_ports_descriptor_t *d = (void *)p;
			d->deallocate = d->copy == MACH_MSG_VIRTUAL_COPY;
			d->address = NULL;
			if (!k->count) continue;
			int fd = memfd_create("machsim-ool-ports", MFD_CLOEXEC);
			mach_port_name_t *names = calloc(k->count, sizeof *names);
			for (uint32_t j = 0; j < k->count; j++) {
				if (right_copyout(t, k->rights[j], &names[j])) {
					right_release(k->rights[j]);
					names[j] = MACH_PORT_NULL;
					mr = MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE;
				}
			}
			k->count = 0;
			if (fd >= 0 && write(fd, names, d->count * sizeof *names) < 0) {
				close(fd);
				fd = -1;
			}
			free(names);
			fds[(*nfds)++] = fd;
		} else {
			mach_msg_ool_descriptor_t *d = (void *)p;
			d->deallocate = d->copy == MACH_MSG_VIRTUAL_COPY;
			d->address = NULL;
			if (k->memfd >= 0) fds[(*nfds)++] = k->memfd;
			k->memfd = -1;
		}
	}
	return mr;
}

static void copyout_done(struct kmsg *m)
{
	free(m->desc);
	m->desc = NULL;
	m->ndesc = 0;
	free(m->buf);
	free(m);
}

/* the destination right a message carried is used up when it is received */
static void dest_consume(struct kright d)
{
	if (d.type == MACH_MSG_TYPE_PORT_SEND)
		srights_dec(d.port);
	else
		d.port->sorights--;
	port_release(d.port);
}

/* ipc_kmsg_copyout_header: the reply right into the space (no room: the right and the
 * message are destroyed, MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE), the destination named
 * by the receive right, bits swapped. */
static mach_msg_return_t copyout_header(struct task *t, struct kmsg *m)
{
	mach_msg_header_t *h = (mach_msg_header_t *)m->buf;
	mach_port_name_t reply;
	if (right_copyout(t, m->reply, &reply)) return MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE;
	mach_msg_type_name_t rt = m->reply.port ? m->reply.type : 0;
	m->reply = (struct kright){0};
	h->msgh_bits = MACH_MSGH_BITS_SET(rt, m->dest.type, 0, MACH_MSGH_BITS_OTHER(h->msgh_bits));
	h->msgh_remote_port = reply;
	h->msgh_local_port = receiver_name(t, m->dest.port);
	h->msgh_voucher_port = MACH_PORT_NULL;
	dest_consume(m->dest);
	m->dest = (struct kright){0};
	return MACH_MSG_SUCCESS;
}

/* ipc_kmsg_copyout_reply_port: a reply port's send-once right never comes back; it goes
 * without a notification (ipc_port_release_sonce), and the header names the port's receive
 * right as MAKE_SEND_ONCE when this space holds it (ipc_right_reverse), else NULL, or
 * MACH_PORT_DEAD when the port died; the type stays the send-once right's then. */
static mach_port_name_t copyout_reply_port(struct task *t, struct port *p,
                                           mach_msg_type_name_t *type)
{
	struct entry *e = p->active ? right_reverse(t, p) : NULL;
	mach_port_name_t name = p->active ? MACH_PORT_NULL : MACH_PORT_DEAD;
	if (e && (e->type & MACH_PORT_TYPE_RECEIVE)) {
		name = entry_name(t, e);
		*type = MACH_MSG_TYPE_MAKE_SEND_ONCE;
	}
	p->sorights--;
	port_release(p);
	return name;
}

/* ipc_kmsg_copyout_pseudo (a send that failed after copyin: MACH_SEND_TIMED_OUT): the
 * rights go back into the sender's space, destination still as remote. */
static mach_msg_return_t copyout_pseudo(struct task *t, struct kmsg *m, int *fds, int *nfds)
{
	mach_msg_header_t *h = (mach_msg_header_t *)m->buf;
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	mach_port_name_t dn, rn;
	mach_msg_type_name_t dt = m->dest.type, rt = m->reply.port ? m->reply.type : 0;
	if (right_copyout(t, m->dest, &dn)) {
		right_release(m->dest);
		dn = MACH_PORT_NULL;
		mr = MACH_MSG_IPC_SPACE;
	}
	if (m->reply.port && m->reply.port != DEADP && m->reply.port->reply_port) {
		rn = copyout_reply_port(t, m->reply.port, &rt);
	} else if (right_copyout(t, m->reply, &rn)) {
		right_release(m->reply);
		rn = MACH_PORT_NULL;
		mr = MACH_MSG_IPC_SPACE;
	}
	m->dest = m->reply = (struct kright){0};
	h->msgh_bits = MACH_MSGH_BITS_SET(dt, rt, 0, MACH_MSGH_BITS_OTHER(h->msgh_bits));
	h->msgh_remote_port = dn;
	h->msgh_local_port = rn;
	if (m->ndesc && copyout_body(t, m, fds, nfds)) mr = MACH_MSG_IPC_SPACE;
	return mr;
}

/* ---- waiting ---- */

struct waiter {
	struct waiter *next;
	int conn;
	struct task *t;
	mach_msg_option_t option;
	uint64_t deadline;  /* receive, 0: none */
	uint64_t sdeadline; /* blocked send, 0: none */
	uint32_t consumed;  /* descriptors of the sent message copied in */
	mach_msg_return_t rcv_err;
	mach_msg_size_t rcv_size;
	mach_port_name_t rcv_name;
	struct kmsg *sending; /* blocked send */
	struct port *rport;   /* the object a receive waits on */
	struct pset *rset;
};

static struct waiter *waiters;

static void waiter_free(struct waiter *w)
{
	for (struct waiter **q = &waiters; *q; q = &(*q)->next)
		if (*q == w) {
			*q = w->next;
			break;
		}
	port_release(w->rport);
	if (w->rset) pset_release(w->rset);
	free(w);
}

static void send_reply(int conn, mach_msg_return_t mr, uint32_t back, uint32_t done,
                       struct kmsg *m, uint32_t extra, const int *fds, int nfds)
{
	uint64_t v[3] = {back, done, m ? m->size : 0};
	reply(conn, mr, v, 3, m ? m->buf : NULL, m ? m->size + extra : 0, fds, nfds);
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) close(fds[i]);
}

static void pseudo_reply(struct waiter *w, mach_msg_return_t mr, struct kmsg *m)
{
	int fds[MACHSIM_MAX_FDS], nfds = 0;
	mr |= copyout_pseudo(w->t, m, fds, &nfds);
	send_reply(w->conn, mr, MS_BACK_PSEUDO, w->consumed, m, 0, fds, nfds);
	copyout_done(m);
}

/* The message a receive takes: the first of the port, or of the first member of the set that
 * has one. */
static struct port *rcv_source(struct waiter *w)
{
	if (w->rport) return w->rport->qhead ? w->rport : NULL;
	for (uint32_t i = 1; i < w->t->ntab; i++) {
		struct entry *e = &w->t->tab[i];
		if ((e->type & MACH_PORT_TYPE_RECEIVE) && e->port->qhead && port_is_member(e->port, w->rset))
			return e->port;
	}
	return NULL;
}

/* ipc_mqueue_receive_results, mach_msg_receive_results: the size check first (MACH_RCV_LARGE
 * leaves the message queued and reports the size; without it the message is destroyed,
 * only the header reaches the user: mach_msg_receive_error), then copyout and trailer. */
static void deliver(struct waiter *w, struct port *p)
{
	struct kmsg *m = p->qhead;
	uint32_t tsz = trailer_size(w->option);
	if (m->size + tsz > w->rcv_size) {
		uint64_t v[3] = {MS_BACK_SIZE, w->consumed, m->size};
		if (w->option & MACH_RCV_LARGE) {
			reply(w->conn, MACH_RCV_TOO_LARGE, v, 3, NULL, 0, NULL, 0);
			return;
		}
		m = dequeue(p);
		mach_msg_header_t h = *(mach_msg_header_t *)m->buf;
		h.msgh_bits = MACH_MSGH_BITS_SET(0, m->dest.type, 0, 0);
		h.msgh_remote_port = MACH_PORT_NULL;
		h.msgh_local_port = receiver_name(w->t, p);
		h.msgh_size = sizeof h;
		h.msgh_voucher_port = MACH_PORT_NULL;
		v[0] = MS_BACK_RECEIVED;
		v[2] = sizeof h;
		reply(w->conn, MACH_RCV_TOO_LARGE, v, 3, &h, sizeof h, NULL, 0);
		dest_consume(m->dest);
		m->dest = (struct kright){0};
		kmsg_destroy(m);
		return;
	}
	m = dequeue(p);
	uint32_t seqno = p->seqno++;
	mach_msg_return_t mr = copyout_header(w->t, m);
	if (mr) {
		reply(w->conn, mr, (uint64_t[]){MS_BACK_NONE, w->consumed}, 2, NULL, 0, NULL, 0);
		kmsg_destroy(m);
		return;
	}
	int fds[MACHSIM_MAX_FDS], nfds = 0;
	if (m->ndesc) mr = copyout_body(w->t, m, fds, &nfds);
	uint8_t *buf = realloc(m->buf, m->size + sizeof(mach_msg_max_trailer_t));
	if (buf) {
		m->buf = buf;
		trailer_fill(m, p, seqno, w->option, (mach_msg_max_trailer_t *)(buf + m->size));
	}
	send_reply(w->conn, mr, MS_BACK_RECEIVED, w->consumed, m, buf ? tsz : 0, fds, nfds);
	copyout_done(m);
}

/* ipc_mqueue_receive: the name must be a receive right or a port set (MACH_RCV_INVALID_NAME);
 * a port whose right moved or died wakes its waiter with MACH_RCV_PORT_CHANGED / _DIED. */
static void w_error(struct waiter *w, mach_msg_return_t mr)
{
	reply(w->conn, mr, (uint64_t[]){MS_BACK_NONE, w->consumed}, 2, NULL, 0, NULL, 0);
}

static bool rcv_progress(struct waiter *w, uint64_t now)
{
	if (w->rcv_err) {
		w_error(w, w->rcv_err);
		return true;
	}
	struct entry *e = entry_lookup(w->t, w->rcv_name);
	if (w->rport && (!e || !(e->type & MACH_PORT_TYPE_RECEIVE) || e->port != w->rport)) {
		w_error(w, w->rport->active ? MACH_RCV_PORT_CHANGED : MACH_RCV_PORT_DIED);
		return true;
	}
	if (w->rset && (!e || e->pset != w->rset || !w->rset->active)) {
		w_error(w, MACH_RCV_PORT_DIED);
		return true;
	}
	struct port *p = rcv_source(w);
	if (p) {
		deliver(w, p);
		return true;
	}
	if (w->deadline && now >= w->deadline) {
		w_error(w, MACH_RCV_TIMED_OUT);
		return true;
	}
	return false;
}

/* ipc_mqueue_send_locked: a full queue (msgcount ≥ qlimit) makes a send wait, except for a
 * send-once destination (never counted against the limit); a timeout ends in a
 * pseudo-receive; a port that died meanwhile takes the message as sent. */
static bool send_progress(struct waiter *w, uint64_t now)
{
	struct kmsg *m = w->sending;
	struct port *p = m->dest.port;
	if (p->active && p->msgcount >= p->qlimit && m->dest.type != MACH_MSG_TYPE_PORT_SEND_ONCE) {
		if (!w->sdeadline || now < w->sdeadline) return false;
		w->sending = NULL;
		pseudo_reply(w, MACH_SEND_TIMED_OUT, m);
		return true;
	}
	w->sending = NULL;
	kmsg_enqueue(p, m);
	return false;
}

static bool w_progress(struct waiter *w, uint64_t now)
{
	if (w->sending) {
		if (send_progress(w, now)) return true;
		if (w->sending) return false;
		if (!(w->option & MACH_RCV_MSG)) {
			w_error(w, MACH_MSG_SUCCESS);
			return true;
		}
		return rcv_progress(w, now); /* the send's wait does not count against the receive's */
	}
	return rcv_progress(w, now);
}

static bool busy, again;

void msg_port_changed(struct port *p)
{
	(void)p;
	if (busy) {
		again = true;
		return;
	}
	busy = true;
	do {
		again = false;
		uint64_t now = now_ms();
		for (struct waiter *w = waiters, *n; w; w = n) {
			n = w->next;
			if (w_progress(w, now)) {
				waiter_free(w);
				again = true;
				break;
			}
		}
	} while (again);
	busy = false;
}

void waiters_timeout(uint64_t now)
{
	(void)now;
	msg_port_changed(NULL);
}

uint64_t waiters_next_deadline(void)
{
	uint64_t d = 0;
	for (struct waiter *w = waiters; w; w = w->next)
	{
		uint64_t x = w->sending ? w->sdeadline : w->deadline;
		if (x && (!d || x < d)) d = x;
	}
	return d;
}

/* the thread went away (its connection closed): a blocked send's message is destroyed */
void waiters_drop_conn(int conn)
{
	for (struct waiter *w = waiters, *n; w; w = n) {
		n = w->next;
		if (w->conn != conn) continue;
		if (w->sending) kmsg_destroy(w->sending);
		waiter_free(w);
	}
}

/* A caught signal aborts the thread's wait (mach_msg waits THREAD_ABORTSAFE): a send still
 * waiting for room fails past its copyin with MACH_SEND_INTERRUPTED, the message
 * pseudo-received (osfmk/ipc/ipc_mqueue.c ipc_mqueue_send_locked: THREAD_INTERRUPTED;
 * osfmk/ipc/mach_msg.c mach_msg_trap_send → mach_msg_receive_pseudo); a receive fails with
 * MACH_RCV_INTERRUPTED (ipc_mqueue.c ipc_mqueue_receive_results). A call that has ended has
 * no wait to abort. */
void msg_interrupt(int conn)
{
	for (struct waiter *w = waiters; w; w = w->next) {
		if (w->conn != conn) continue;
		if (w->sending) {
			struct kmsg *m = w->sending;
			w->sending = NULL;
			pseudo_reply(w, MACH_SEND_INTERRUPTED, m);
		} else {
			w_error(w, MACH_RCV_INTERRUPTED);
		}
		waiter_free(w);
		return;
	}
}

/* ---- mach_msg ---- */

static mach_msg_return_t rcv_setup(struct task *t, struct waiter *w)
{
	struct entry *e = entry_lookup(t, w->rcv_name);
	if (!e || !(e->type & (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET)))
		return MACH_RCV_INVALID_NAME;
	if (e->type & MACH_PORT_TYPE_RECEIVE) {
		w->rport = e->port;
		port_ref(e->port);
	} else {
		w->rset = e->pset;
		e->pset->refs++;
	}
	return MACH_MSG_SUCCESS;
}

/* mach_msg_trap_send's copyin: size, header, body. */
static mach_msg_return_t msg_copyin(struct task *t, struct kmsg *m, const uint8_t *pl,
                                    uint32_t size, int *fds, int nfds, uint32_t *done)
{
	*done = 0;
	if (size < sizeof(mach_msg_header_t) || size & 3) return MACH_SEND_MSG_TOO_SMALL;
	if (size > MACHSIM_MAX_DATAGRAM - 1024) return MACH_SEND_TOO_LARGE;
	if (!(m->buf = malloc(size))) return MACH_SEND_NO_BUFFER;
	memcpy(m->buf, pl, size);
	m->size = size;
	((mach_msg_header_t *)m->buf)->msgh_size = size;
	m->pid = t->pid;
	m->pidversion = t->pidversion;
	m->uid = t->uid;
	m->gid = t->gid;
	mach_msg_return_t mr = copyin_header(t, m);
	if (mr) return mr;
	if (!(((mach_msg_header_t *)m->buf)->msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
		if (nfds) return MACH_SEND_INVALID_MEMORY;
		return MACH_MSG_SUCCESS;
	}
	mr = copyin_body(t, m, fds, nfds, done);
	return mr;
}

void msg_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl, int *fds,
              int nfds)
{
	struct waiter *w = calloc(1, sizeof *w);
	mach_msg_option_t option = (mach_msg_option_t)q->a[0];
	uint64_t now = now_ms();
	if (!w) {
		reply(conn, MACH_SEND_NO_BUFFER, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	w->conn = conn;
	w->t = t;
	w->option = option;
	w->rcv_size = (mach_msg_size_t)q->a[2];
	w->rcv_name = (mach_port_name_t)q->a[3];
	if (option & MACH_SEND_MSG) {
		struct kmsg *m = calloc(1, sizeof *m);
		uint32_t done = 0;
		mach_msg_return_t mr = m ? msg_copyin(t, m, pl, (uint32_t)q->a[1], fds, nfds, &done)
		                         : MACH_SEND_NO_BUFFER;
		if (mr) {
			if (m && m->desc) m->ndesc = done; /* ipc_kmsg_clean_partial: [0, k) */
			if (m) kmsg_destroy(m);
			free(w);
			if (mr == KR_GUARD)
				guard_reply(conn, guard_rule, guard_source);
			else
				reply(conn, mr, (uint64_t[]){MS_BACK_NONE, done}, 2, NULL, 0, NULL, 0);
			return;
		}
		w->sending = m;
		w->consumed = m->ndesc;
		if (option & MACH_SEND_TIMEOUT) w->sdeadline = now + q->a[4];
		if (send_progress(w, now)) {
			free(w);
			return;
		}
	}
	if (option & MACH_RCV_MSG) {
		w->rcv_err = rcv_setup(t, w);
		w->deadline = option & MACH_RCV_TIMEOUT ? now + q->a[4] : 0;
	} else if (!w->sending) {
		w_error(w, MACH_MSG_SUCCESS);
		free(w);
		return;
	}
	struct waiter **tail = &waiters;
	while (*tail) tail = &(*tail)->next;
	*tail = w;
	msg_port_changed(NULL);
}
