/* Ports, port sets, entries and rights: xnu osfmk/ipc/ipc_port.c, ipc_entry.c, ipc_right.c,
 * ipc_object.c, ipc_notify.c (xnu-11417). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "kern.h"

struct port *port_alloc(struct task *receiver)
{
	struct port *p = calloc(1, sizeof *p);
	if (!p) return NULL;
	p->active = true;
	p->receiver = receiver;
	p->qlimit = MACH_PORT_QLIMIT_DEFAULT;
	p->qtail = &p->qhead;
	p->fd = -1;
	p->evfd = -1;
	return p;
}

void port_ref(struct port *p)
{
	if (p && p != DEADP) p->refs++;
}

void port_release(struct port *p)
{
	if (!p || p == DEADP || --p->refs) return;
	if (p->fd >= 0) close(p->fd);
	if (p->evfd >= 0) close(p->evfd);
	pset_remove_all(p);
	free(p);
}

struct pset *pset_alloc(struct task *owner)
{
	struct pset *s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->active = true;
	s->owner = owner;
	s->evfd = -1;
	s->refs = 1;
	return s;
}

void pset_release(struct pset *s)
{
	if (--s->refs) return;
	if (s->evfd >= 0) close(s->evfd);
	free(s);
}

bool port_is_member(struct port *p, struct pset *s)
{
	for (struct membership *m = p->sets; m; m = m->next)
		if (m->set == s) return true;
	return false;
}

/* ipc_port_clear_receiver: a port leaving its space leaves every set */
void pset_remove_all(struct port *p)
{
	while (p->sets) {
		struct membership *m = p->sets;
		p->sets = m->next;
		pset_release(m->set);
		free(m);
	}
}

/* ipc_pset_destroy: members leave the set, receivers waiting on it are woken */
void pset_destroy(struct pset *s)
{
	s->active = false;
	for (struct task *t = tasks; t; t = t->next)
		for (uint32_t i = 1; i < t->ntab; i++) {
			struct port *p = t->tab[i].port;
			if (!(t->tab[i].type & MACH_PORT_TYPE_RECEIVE)) continue;
			for (struct membership **m = &p->sets; *m; m = &(*m)->next)
				if ((*m)->set == s) {
					struct membership *d = *m;
					*m = d->next;
					free(d);
					s->refs--;
					break;
				}
		}
	msg_port_changed(NULL);
	pset_release(s);
}

static void evfd_set(int fd, bool readable)
{
	uint64_t v = 1;
	if (fd < 0) return;
	if (readable) {
		if (write(fd, &v, sizeof v) < 0) return;
	} else if (read(fd, &v, sizeof v) < 0) {
		return;
	}
}

/* The fds of machsim__message_fd follow "a message is queued" (ipc_pset.c
 * filt_machportattach / filt_machport_peek: level-triggered). */
void evfd_update_port(struct port *p)
{
	evfd_set(p->evfd, false);
	if (p->qhead) evfd_set(p->evfd, true);
	for (struct membership *m = p->sets; m; m = m->next) pset_evfd_update(m->set);
}

void pset_evfd_update(struct pset *s)
{
	struct task *t = s->owner;
	bool any = false;
	if (s->evfd < 0) return;
	evfd_set(s->evfd, false);
	for (uint32_t i = 1; t && i < t->ntab && !any; i++)
		any = (t->tab[i].type & MACH_PORT_TYPE_RECEIVE) && t->tab[i].port->qhead &&
		      port_is_member(t->tab[i].port, s);
	if (any) evfd_set(s->evfd, true);
}

/* Names are MACH_PORT_MAKE(index, generation) (osfmk/mach/port.h; ipc_entry.c
 * ipc_entry_alloc). A freed index comes back with the next generation. */
#define GEN_FIRST 3
#define GEN_STEP 4
#define MAX_INDEX (1u << 16) /* stands for ipc_entry_table_count_max() */

struct entry *entry_lookup(struct task *t, mach_port_name_t name)
{
	uint32_t i = MACH_PORT_INDEX(name);
	if (!MACH_PORT_VALID(name) || i == 0 || i >= t->ntab) return NULL;
	struct entry *e = &t->tab[i];
	if (!e->type || e->gen != MACH_PORT_GEN(name) >> 24) return NULL;
	return e;
}

mach_port_name_t entry_name(struct task *t, struct entry *e)
{
	return MACH_PORT_MAKE((uint32_t)(e - t->tab), e->gen << 24);
}

/* ipc_right_check: a send or send-once right whose port died becomes a dead name, with one
 * more uref when a dead-name request was armed on it. */
struct entry *entry_check(struct task *t, mach_port_name_t name)
{
	struct entry *e = entry_lookup(t, name);
	if (!e || !(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)) ||
	    (e->type & MACH_PORT_TYPE_RECEIVE) || e->port->active)
		return e;
	struct port *p = e->port;
	if (e->type & MACH_PORT_TYPE_SEND)
		p->srights--;
	else
		p->sorights--;
	e->type = MACH_PORT_TYPE_DEAD_NAME;
	if (e->req) { /* the request fired when the port died (port_destroy) */
		if (e->urefs < MACH_PORT_UREFS_MAX) e->urefs++;
		free(e->req);
		e->req = NULL;
	}
	e->port = NULL;
	port_release(p);
	return e;
}

static uint32_t space_used(struct task *t)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i < t->ntab; i++) n += t->tab[i].type != 0;
	return n;
}

static kern_return_t space_grow(struct task *t, uint32_t need)
{
	if (need <= t->ntab) return KERN_SUCCESS;
	uint32_t n = t->ntab ? t->ntab : 16;
	while (n < need) n *= 2;
	struct entry *tab = realloc(t->tab, n * sizeof *tab);
	if (!tab) return KERN_RESOURCE_SHORTAGE;
	memset(tab + t->ntab, 0, (n - t->ntab) * sizeof *tab);
	for (uint32_t i = t->ntab; i < n; i++) tab[i].gen = GEN_FIRST;
	t->tab = tab;
	t->ntab = n;
	return KERN_SUCCESS;
}

/* ipc_entry_alloc: KERN_NO_SPACE once the space holds its limit (ipc_space table size;
 * machsim.h's name limit lowers it). */
kern_return_t entry_alloc(struct task *t, mach_port_name_t *name, struct entry **e)
{
	if (t->name_limit && space_used(t) >= t->name_limit) return KERN_NO_SPACE;
	uint32_t i = 1;
	while (i < t->ntab && t->tab[i].type) i++;
	if (i > MAX_INDEX) return KERN_NO_SPACE;
	kern_return_t kr = space_grow(t, i + 1);
	if (kr) return kr;
	*e = &t->tab[i];
	*name = entry_name(t, *e);
	return KERN_SUCCESS;
}

/* ipc_entry_alloc_name: the index takes the name's generation if free; KERN_NAME_EXISTS if
 * another generation of it is in use. Returns the in-use entry itself when it is that name. */
kern_return_t entry_alloc_name(struct task *t, mach_port_name_t name, struct entry **e)
{
	uint32_t i = MACH_PORT_INDEX(name);
	if (i > MAX_INDEX) return KERN_NO_SPACE;
	if ((name & GEN_FIRST) != GEN_FIRST) return KERN_INVALID_VALUE; /* ipc_entry_name_mask */
	if (i == 0) return KERN_FAILURE;
	struct entry *old = entry_check(t, name);
	if (old) {
		*e = old;
		return KERN_SUCCESS;
	}
	if (i < t->ntab && t->tab[i].type) return KERN_NAME_EXISTS;
	if (t->name_limit && space_used(t) >= t->name_limit) return KERN_NO_SPACE;
	kern_return_t kr = space_grow(t, i + 1);
	if (kr) return kr;
	*e = &t->tab[i];
	(*e)->gen = MACH_PORT_GEN(name) >> 24;
	return KERN_SUCCESS;
}

void entry_free(struct task *t, struct entry *e)
{
	(void)t;
	uint32_t gen = (e->gen + GEN_STEP) & 0xff;
	memset(e, 0, sizeof *e);
	e->gen = gen;
}

/* ipc_right_reverse: the entry naming a send or receive right to p */
struct entry *right_reverse(struct task *t, struct port *p)
{
	for (uint32_t i = 1; i < t->ntab; i++)
		if ((t->tab[i].type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE)) &&
		    t->tab[i].port == p)
			return &t->tab[i];
	return NULL;
}

/* ipc_port_release_send_and_unlock: the last send right arms no-senders (ipc_notify_no_senders
 * with the make-send count). */
void srights_dec(struct port *p)
{
	if (--p->srights || !p->active) return;
	if (p->kind == KO_FILEPORT) { /* bsd/kern/kern_descrip.c fileport_notify */
		port_destroy(p);
		return;
	}
	if (p->nsrequest) {
		struct port *so = p->nsrequest;
		p->nsrequest = NULL;
		notify_no_senders(so, p->mscount);
	}
}

/* ipc_object_destroy: what a right in transit becomes when it is thrown away. */
void right_release(struct kright r)
{
	if (!r.port || r.port == DEADP) return;
	switch (r.type) {
	case MACH_MSG_TYPE_PORT_SEND:
		srights_dec(r.port);
		break;
	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		notify_send_once(r.port);
		return; /* the notification took the reference */
	case MACH_MSG_TYPE_PORT_RECEIVE:
		port_destroy(r.port);
		break;
	}
	port_release(r.port);
}

static void kmsg_kernel_send(struct port *so, mach_msg_id_t id, const void *body, uint32_t n)
{
	struct kmsg *m = kmsg_kernel(so, id, sizeof(mach_msg_header_t) + n);
	if (!m) {
		so->sorights--;
		port_release(so);
		return;
	}
	memcpy(m->buf + sizeof(mach_msg_header_t), body, n);
	kmsg_enqueue(so, m);
}

/* ipc_notify_send_once_and_unlock: a send-once right destroyed unused sends
 * MACH_NOTIFY_SEND_ONCE through itself. */
void notify_send_once(struct port *so)
{
	if (!so->active || (so->kind != KO_NONE && so->kind != KO_TIMER)) {
		so->sorights--; /* nobody to tell */
		port_release(so);
		return;
	}
	kmsg_kernel_send(so, MACH_NOTIFY_SEND_ONCE, NULL, 0);
}

static void notify_name(struct port *so, mach_msg_id_t id, uint32_t v)
{
	struct {
		NDR_record_t ndr;
		uint32_t v;
	} __attribute__((packed)) b = {{.int_rep = NDR_INT_LITTLE_ENDIAN}, v};
	kmsg_kernel_send(so, id, &b, sizeof b);
}

/* ipc_notify_no_senders: mach_no_senders_notification_t, not_count = mscount */
void notify_no_senders(struct port *so, mach_port_mscount_t mscount)
{
	notify_name(so, MACH_NOTIFY_NO_SENDERS, mscount);
}

/* ipc_notify_dead_name */
void notify_dead_name(struct port *so, mach_port_name_t name)
{
	notify_name(so, MACH_NOTIFY_DEAD_NAME, name);
}

/* ipc_notify_port_deleted */
void notify_port_deleted(struct port *so, mach_port_name_t name)
{
	notify_name(so, MACH_NOTIFY_PORT_DELETED, name);
}

/* ipc_notify_port_destroyed: the receive right travels in a port descriptor */
static void notify_port_destroyed(struct port *so, struct port *p)
{
	struct kmsg *m = kmsg_kernel(so, MACH_NOTIFY_PORT_DESTROYED,
	                             sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t) +
	                                 sizeof(mach_msg_port_descriptor_t));
	if (!m) return;
	mach_msg_header_t *h = (mach_msg_header_t *)m->buf;
	h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
	mach_msg_body_t *b = (mach_msg_body_t *)(h + 1);
	b->msgh_descriptor_count = 1;
	mach_msg_port_descriptor_t *d = (mach_msg_port_descriptor_t *)(b + 1);
	d->type = MACH_MSG_PORT_DESCRIPTOR;
	d->disposition = MACH_MSG_TYPE_PORT_RECEIVE;
	m->ndesc = 1;
	m->desc = calloc(1, sizeof *m->desc);
	m->desc->type = MACH_MSG_PORT_DESCRIPTOR;
	m->desc->memfd = -1;
	m->desc->right = (struct kright){p, MACH_MSG_TYPE_PORT_RECEIVE};
	port_ref(p);
	kmsg_enqueue(so, m);
}

/* ipc_right_request_cancel: dropping the entry of a name with a dead-name request sends
 * MACH_NOTIFY_PORT_DELETED (ipc_right_dealloc, ipc_right_destroy, ipc_right_terminate). */
void dnreq_cancel(struct task *t, struct entry *e, bool notify_deleted)
{
	struct dnreq *r = e->req;
	if (!r) return;
	e->req = NULL;
	struct port *p = e->port;
	if (p)
		for (struct dnreq **q = &p->dnreqs; *q; q = &(*q)->next)
			if (*q == r) {
				*q = r->next;
				break;
			}
	if (r->notify && notify_deleted)
		notify_port_deleted(r->notify, entry_name(t, e));
	else if (r->notify)
		right_release((struct kright){r->notify, MACH_MSG_TYPE_PORT_SEND_ONCE});
	free(r);
}

/* ipc_port_clear_receiver: out of its space and its sets, mscount, seqno and guard reset */
static void clear_receiver(struct port *p)
{
	p->receiver = NULL;
	pset_remove_all(p);
	p->mscount = 0;
	p->seqno = 0;
	p->context = 0;
	p->guarded = p->strict = false;
}

/* ipc_port_destroy: a port whose receive right is destroyed. With a port-destroyed request
 * the right goes to it instead; otherwise the port dies: its queue is destroyed, waiters
 * leave, dead-name requests fire (ipc_port_dnnotify), a no-senders request is destroyed
 * (a send-once notification). */
void port_destroy(struct port *p)
{
	if (!p->active) return;
	clear_receiver(p);
	if (p->pdrequest) {
		struct port *so = p->pdrequest;
		p->pdrequest = NULL;
		p->immovable_receive = false;
		notify_port_destroyed(so, p);
		return;
	}
	port_ref(p);
	p->active = false;
	while (p->qhead) {
		struct kmsg *m = p->qhead;
		p->qhead = m->next;
		p->msgcount--;
		kmsg_destroy(m);
	}
	p->qtail = &p->qhead;
	if (p->nsrequest) {
		struct port *so = p->nsrequest;
		p->nsrequest = NULL;
		notify_send_once(so);
	}
	while (p->dnreqs) { /* the entry frees r when it becomes a dead name (entry_check) */
		struct dnreq *r = p->dnreqs;
		p->dnreqs = r->next;
		notify_dead_name(r->notify, r->name);
		r->notify = NULL;
	}
	msg_port_changed(p);
	evfd_set(p->evfd, false);
	port_release(p);
}

const char *guard_rule, *guard_source;

static kern_return_t guard(const char *rule, const char *source)
{
	guard_rule = rule;
	guard_source = source;
	return KR_GUARD;
}

/* ipc_right_copyin, MOVE_RECEIVE: kobject ports, reply ports and ports constructed with
 * MPO_IMMOVABLE_RECEIVE raise kGUARD_EXC_IMMOVABLE (mach_port_guard_exception_immovable);
 * the port leaves its space (ipc_port_clear_receiver(port, FALSE)). */
static kern_return_t copyin_receive(struct task *t, struct entry *e, struct kright *out)
{
	struct port *p = e->port;
	if (!(e->type & MACH_PORT_TYPE_RECEIVE)) return KERN_INVALID_RIGHT;
	if (p->kind != KO_NONE || p->immovable_receive || p->reply_port)
		return guard("kGUARD_EXC_IMMOVABLE", "osfmk/ipc/ipc_right.c ipc_right_copyin");
	e->type &= ~MACH_PORT_TYPE_RECEIVE;
	if (e->type & MACH_PORT_TYPE_SEND) {
		port_ref(p);
	} else {
		dnreq_cancel(t, e, true);
		entry_free(t, e);
	}
	clear_receiver(p);
	msg_port_changed(p);
	evfd_update_port(p);
	*out = (struct kright){p, MACH_MSG_TYPE_PORT_RECEIVE};
	return KERN_SUCCESS;
}

/* a dead name copied in with deadok: MOVE_* takes a uref, COPY_SEND none; the right is
 * IO_DEAD (ipc_right_copyin, "copy_dead"/"move_dead") */
static kern_return_t copyin_dead(struct task *t, struct entry *e, mach_msg_type_name_t disp,
                                 bool deadok, struct kright *out)
{
	if (!deadok) return KERN_INVALID_RIGHT;
	if (disp != MACH_MSG_TYPE_COPY_SEND && --e->urefs == 0) entry_free(t, e);
	*out = (struct kright){DEADP, 0};
	return KERN_SUCCESS;
}

/* ipc_right_copyin: one right out of a space, as `disp` asks. */
kern_return_t right_copyin(struct task *t, mach_port_name_t name, mach_msg_type_name_t disp,
                           bool deadok, struct kright *out)
{
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	struct port *p = e->port;
	switch (disp) {
	case MACH_MSG_TYPE_MAKE_SEND:
	case MACH_MSG_TYPE_MAKE_SEND_ONCE:
		if (!(e->type & MACH_PORT_TYPE_RECEIVE)) return KERN_INVALID_RIGHT;
		if (disp == MACH_MSG_TYPE_MAKE_SEND) {
			p->mscount++;
			p->srights++;
		} else {
			p->sorights++;
		}
		port_ref(p);
		*out = (struct kright){p, disp == MACH_MSG_TYPE_MAKE_SEND ? MACH_MSG_TYPE_PORT_SEND
		                                                          : MACH_MSG_TYPE_PORT_SEND_ONCE};
		return KERN_SUCCESS;
	case MACH_MSG_TYPE_MOVE_RECEIVE:
		return copyin_receive(t, e, out);
	case MACH_MSG_TYPE_COPY_SEND:
	case MACH_MSG_TYPE_MOVE_SEND:
		if (e->type & MACH_PORT_TYPE_DEAD_NAME) return copyin_dead(t, e, disp, deadok, out);
		if (!(e->type & MACH_PORT_TYPE_SEND)) return KERN_INVALID_RIGHT;
		port_ref(p);
		*out = (struct kright){p, MACH_MSG_TYPE_PORT_SEND};
		if (disp == MACH_MSG_TYPE_COPY_SEND || e->urefs > 1) {
			p->srights++;
			if (disp == MACH_MSG_TYPE_MOVE_SEND) e->urefs--;
			return KERN_SUCCESS;
		}
		e->type &= ~MACH_PORT_TYPE_SEND;
		e->urefs = 0;
		if (!(e->type & MACH_PORT_TYPE_RECEIVE)) {
			dnreq_cancel(t, e, true);
			entry_free(t, e);
			port_release(p);
		}
		return KERN_SUCCESS;
	case MACH_MSG_TYPE_MOVE_SEND_ONCE:
		if (e->type & MACH_PORT_TYPE_DEAD_NAME) return copyin_dead(t, e, disp, deadok, out);
		if (!(e->type & MACH_PORT_TYPE_SEND_ONCE)) return KERN_INVALID_RIGHT;
		dnreq_cancel(t, e, true);
		entry_free(t, e);
		*out = (struct kright){p, MACH_MSG_TYPE_PORT_SEND_ONCE};
		return KERN_SUCCESS;
	}
	return KERN_INVALID_VALUE;
}

/* ipc_right_copyout into an entry that is free or already names the port: a send right
 * merges into the name's urefs (pegged at MACH_PORT_UREFS_MAX), a receive right joins the
 * name of its send right. */
static void copyout_into(struct task *t, struct entry *e, struct kright r)
{
	struct port *p = r.port;
	switch (r.type) {
	case MACH_MSG_TYPE_PORT_SEND_ONCE:
		e->type = MACH_PORT_TYPE_SEND_ONCE;
		e->urefs = 1;
		e->port = p;
		return;
	case MACH_MSG_TYPE_PORT_SEND:
		if (e->type & MACH_PORT_TYPE_SEND) {
			if (e->urefs < MACH_PORT_UREFS_MAX) e->urefs++;
			p->srights--;
			port_release(p);
			return;
		}
		if (e->type & MACH_PORT_TYPE_RECEIVE) {
			port_release(p);
		} else {
			e->port = p;
		}
		e->type |= MACH_PORT_TYPE_SEND;
		e->urefs = 1;
		return;
	case MACH_MSG_TYPE_PORT_RECEIVE:
		if (e->type & MACH_PORT_TYPE_SEND)
			port_release(p);
		else
			e->port = p;
		e->type |= MACH_PORT_TYPE_RECEIVE;
		p->receiver = t;
		msg_port_changed(p);
		return;
	}
}

/* ipc_object_copyout: NULL and dead stay as such, a right to a dead port is MACH_PORT_DEAD
 * (ipc_kmsg_copyout_port: KERN_INVALID_CAPABILITY); KERN_NO_SPACE leaves r to the caller. */
kern_return_t right_copyout(struct task *t, struct kright r, mach_port_name_t *name)
{
	struct entry *e = NULL;
	if (!r.port || r.port == DEADP) {
		*name = r.port ? MACH_PORT_DEAD : MACH_PORT_NULL;
		return KERN_SUCCESS;
	}
	if (!r.port->active && r.type != MACH_MSG_TYPE_PORT_RECEIVE) {
		right_release(r);
		*name = MACH_PORT_DEAD;
		return KERN_SUCCESS;
	}
	if (r.type != MACH_MSG_TYPE_PORT_SEND_ONCE) e = right_reverse(t, r.port);
	if (!e) {
		kern_return_t kr = entry_alloc(t, name, &e);
		if (kr) return kr;
	}
	*name = entry_name(t, e);
	copyout_into(t, e, r);
	return KERN_SUCCESS;
}

/* ipc_object_copyout_name (mach_port_insert_right) */
kern_return_t right_copyout_name(struct task *t, struct kright r, mach_port_name_t name)
{
	struct entry *e;
	kern_return_t kr = entry_alloc_name(t, name, &e);
	if (kr) return kr;
	if (!r.port->active) return KERN_INVALID_CAPABILITY;
	struct entry *o = r.type != MACH_MSG_TYPE_PORT_SEND_ONCE ? right_reverse(t, r.port) : NULL;
	if (o && o != e) return KERN_RIGHT_EXISTS;
	if (!o && e->type) return KERN_NAME_EXISTS;
	copyout_into(t, e, r);
	return KERN_SUCCESS;
}
