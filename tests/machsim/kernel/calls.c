/* The mach_port_* calls: xnu osfmk/ipc/mach_port.c and the ipc_right.c functions they reach
 * (xnu-11417). Each gets the caller's task (resolved from its `task` argument) and answers
 * with xnu's kern_return_t. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "kern.h"

static struct kright KR_NONE;

/* ipc_port_translate_receive: !MACH_PORT_VALID → KERN_INVALID_RIGHT, no entry →
 * KERN_INVALID_NAME, no receive right → KERN_INVALID_RIGHT */
static kern_return_t translate_receive(struct task *t, mach_port_name_t name, struct port **p)
{
	if (!MACH_PORT_VALID(name)) return KERN_INVALID_RIGHT;
	struct entry *e = entry_lookup(t, name);
	if (!e) return KERN_INVALID_NAME;
	if (!(e->type & MACH_PORT_TYPE_RECEIVE)) return KERN_INVALID_RIGHT;
	*p = e->port;
	return KERN_SUCCESS;
}

/* mach_port_allocate / mach_port_allocate_name (mach_port_allocate_full, ipc_port_alloc,
 * ipc_pset_alloc, ipc_object_alloc_dead) */
static kern_return_t port_allocate(struct task *t, mach_port_right_t right, mach_port_name_t want,
                                   mach_port_name_t *name)
{
	struct entry *e;
	kern_return_t kr;
	if (right != MACH_PORT_RIGHT_RECEIVE && right != MACH_PORT_RIGHT_PORT_SET &&
	    right != MACH_PORT_RIGHT_DEAD_NAME)
		return KERN_INVALID_VALUE;
	if (want) {
		if (!MACH_PORT_VALID(want)) return KERN_INVALID_VALUE;
		kr = entry_alloc_name(t, want, &e);
		if (!kr && e->type) kr = KERN_NAME_EXISTS;
		*name = want;
	} else {
		kr = entry_alloc(t, name, &e);
	}
	if (kr) return kr;
	if (right == MACH_PORT_RIGHT_RECEIVE) {
		if (!(e->port = port_alloc(t))) return KERN_RESOURCE_SHORTAGE;
		e->port->refs = 1;
		e->type = MACH_PORT_TYPE_RECEIVE;
	} else if (right == MACH_PORT_RIGHT_PORT_SET) {
		if (!(e->pset = pset_alloc(t))) return KERN_RESOURCE_SHORTAGE;
		e->type = MACH_PORT_TYPE_PORT_SET;
	} else {
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		e->urefs = 1;
	}
	return KERN_SUCCESS;
}

/* mach_port_construct: at most one of the reply-port kinds; MPO_QLIMIT ≤ MACH_PORT_QLIMIT_MAX;
 * MPO_IMMOVABLE_RECEIVE only with MPO_CONTEXT_AS_GUARD (mach_port_guard_locked MPG_*) */
static kern_return_t port_construct(struct task *t, uint32_t flags, uint32_t qlimit,
                                    uint64_t context, mach_port_name_t *name)
{
	uint32_t one = flags & (MPO_REPLY_PORT | MPO_ENFORCE_REPLY_PORT_SEMANTICS |
	                        MPO_EXCEPTION_PORT | MPO_PROVISIONAL_REPLY_PORT);
	uint32_t one2 = flags & (MPO_SERVICE_PORT | MPO_CONNECTION_PORT | MPO_TG_BLOCK_TRACKING);
	if ((one & (one - 1)) || (one2 & (one2 - 1))) return KERN_INVALID_ARGUMENT;
	if (one2) return KERN_INVALID_ARGUMENT; /* not modelled: service/connection ports */
	if ((flags & MPO_QLIMIT) && qlimit > MACH_PORT_QLIMIT_MAX) return KERN_INVALID_VALUE;
	kern_return_t kr = port_allocate(t, MACH_PORT_RIGHT_RECEIVE, 0, name);
	if (kr) return kr;
	struct port *p = entry_lookup(t, *name)->port;
	if (flags & MPO_QLIMIT) p->qlimit = qlimit;
	p->reply_port = flags & MPO_REPLY_PORT;
	p->context = context;
	if (flags & MPO_CONTEXT_AS_GUARD) {
		p->guarded = true;
		p->strict = flags & MPO_STRICT;
		p->immovable_receive = flags & MPO_IMMOVABLE_RECEIVE;
	}
	if (flags & MPO_INSERT_SEND_RIGHT) {
		struct entry *e = entry_lookup(t, *name);
		e->type |= MACH_PORT_TYPE_SEND;
		e->urefs = 1;
		p->srights = 1;
		p->mscount = 1;
	}
	return KERN_SUCCESS;
}

/* ipc_right_dealloc (mach_port_deallocate) */
static kern_return_t port_deallocate(struct task *t, mach_port_name_t name)
{
	if (!MACH_PORT_VALID(name)) return KERN_INVALID_RIGHT;
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	struct port *p = e->port;
	if (e->type & MACH_PORT_TYPE_DEAD_NAME) {
		if (--e->urefs == 0) entry_free(t, e);
		return KERN_SUCCESS;
	}
	if (e->type & MACH_PORT_TYPE_SEND_ONCE) {
		dnreq_cancel(t, e, true);
		entry_free(t, e);
		notify_send_once(p);
		return KERN_SUCCESS;
	}
	if (!(e->type & MACH_PORT_TYPE_SEND)) return KERN_INVALID_RIGHT;
	if (--e->urefs) return KERN_SUCCESS;
	e->type &= ~MACH_PORT_TYPE_SEND;
	if (!(e->type & MACH_PORT_TYPE_RECEIVE)) {
		dnreq_cancel(t, e, true);
		entry_free(t, e);
		srights_dec(p);
		port_release(p);
		return KERN_SUCCESS;
	}
	srights_dec(p);
	return KERN_SUCCESS;
}

/* ipc_right_delta, MACH_PORT_RIGHT_RECEIVE -1: the port is destroyed; a send right under the
 * same name becomes a dead name (one more uref if a dead-name request was armed). A guarded
 * port raises kGUARD_EXC_DESTROY. */
static kern_return_t receive_destroy(struct task *t, struct entry *e)
{
	struct port *p = e->port;
	if (e->type & MACH_PORT_TYPE_SEND) {
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		if (e->req) {
			if (e->urefs < MACH_PORT_UREFS_MAX) e->urefs++;
			dnreq_cancel(t, e, false);
		}
		e->port = NULL;
		p->srights--;
	} else {
		dnreq_cancel(t, e, true);
		entry_free(t, e);
	}
	port_destroy(p);
	port_release(p);
	return KERN_SUCCESS;
}

/* urefs arithmetic of ipc_right_delta: a delta beyond ±MACH_PORT_UREFS_MAX or below zero is
 * KERN_INVALID_VALUE, an overflow clamps at MACH_PORT_UREFS_MAX, a pegged count stays unless
 * the delta is exactly -MACH_PORT_UREFS_MAX */
static kern_return_t urefs_delta(uint32_t urefs, mach_port_delta_t *delta)
{
	if (*delta > (mach_port_delta_t)MACH_PORT_UREFS_MAX ||
	    *delta < -(mach_port_delta_t)MACH_PORT_UREFS_MAX)
		return KERN_INVALID_VALUE;
	if (urefs == MACH_PORT_UREFS_MAX) {
		if (*delta != -(mach_port_delta_t)MACH_PORT_UREFS_MAX) *delta = 0;
		return KERN_SUCCESS;
	}
	if ((int64_t)urefs + *delta < 0) return KERN_INVALID_VALUE;
	if ((int64_t)urefs + *delta > MACH_PORT_UREFS_MAX) *delta = MACH_PORT_UREFS_MAX - urefs;
	return KERN_SUCCESS;
}

static kern_return_t delta_send(struct task *t, struct entry *e, mach_port_delta_t delta)
{
	if (!(e->type & MACH_PORT_TYPE_SEND)) return KERN_INVALID_RIGHT;
	kern_return_t kr = urefs_delta(e->urefs, &delta);
	if (kr) return kr;
	if (e->urefs + delta) {
		e->urefs += delta;
		return KERN_SUCCESS;
	}
	e->urefs = 1;
	return port_deallocate(t, entry_name(t, e));
}

static kern_return_t delta_dead(struct task *t, struct entry *e, mach_port_delta_t delta)
{
	if (!(e->type & MACH_PORT_TYPE_DEAD_NAME)) return KERN_INVALID_RIGHT;
	kern_return_t kr = urefs_delta(e->urefs, &delta);
	if (kr) return kr;
	e->urefs += delta;
	if (!e->urefs) entry_free(t, e);
	return KERN_SUCCESS;
}

/* MACH_PORT_NULL and MACH_PORT_DEAD hold no send or send-once right: nothing to count or
 * change (mach_port_mod_refs, mach_port_get_refs) */
static kern_return_t null_name(mach_port_right_t right)
{
	return right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE ? KERN_SUCCESS
	                                                                          : KERN_INVALID_NAME;
}

/* mach_port_mod_refs → ipc_right_delta */
static kern_return_t port_mod_refs(struct task *t, mach_port_name_t name, mach_port_right_t right,
                                   mach_port_delta_t delta)
{
	if (right >= MACH_PORT_RIGHT_NUMBER) return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name)) return null_name(right);
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	switch (right) {
	case MACH_PORT_RIGHT_PORT_SET:
		if (!(e->type & MACH_PORT_TYPE_PORT_SET)) return KERN_INVALID_RIGHT;
		if (!delta) return KERN_SUCCESS;
		if (delta != -1) return KERN_INVALID_VALUE;
		pset_destroy(e->pset);
		entry_free(t, e);
		return KERN_SUCCESS;
	case MACH_PORT_RIGHT_RECEIVE:
		if (!(e->type & MACH_PORT_TYPE_RECEIVE)) return KERN_INVALID_RIGHT;
		if (!delta) return KERN_SUCCESS;
		if (delta != -1) return KERN_INVALID_VALUE;
		if (e->port->guarded) {
			guard_rule = "kGUARD_EXC_DESTROY";
			guard_source = "osfmk/ipc/ipc_right.c ipc_right_delta";
			return KR_GUARD;
		}
		return receive_destroy(t, e);
	case MACH_PORT_RIGHT_SEND_ONCE:
		if (!(e->type & MACH_PORT_TYPE_SEND_ONCE)) return KERN_INVALID_RIGHT;
		if (delta > 0 || delta < -1) return KERN_INVALID_VALUE;
		return delta ? port_deallocate(t, name) : KERN_SUCCESS;
	case MACH_PORT_RIGHT_DEAD_NAME:
		return delta_dead(t, e, delta);
	case MACH_PORT_RIGHT_SEND:
		return delta_send(t, e, delta);
	}
	return KERN_INVALID_RIGHT;
}

/* ipc_right_destruct (mach_port_destruct): the guard must match a guarded port
 * (kGUARD_EXC_INCORRECT_GUARD), srdelta ≤ 0 comes off the send urefs first. */
static kern_return_t port_destruct(struct task *t, mach_port_name_t name, mach_port_delta_t srdelta,
                                   uint64_t guard)
{
	struct port *p;
	kern_return_t kr = translate_receive(t, name, &p);
	if (kr) return kr;
	struct entry *e = entry_lookup(t, name);
	if (p->guarded && guard != p->context) {
		guard_rule = "kGUARD_EXC_INCORRECT_GUARD";
		guard_source = "osfmk/ipc/ipc_right.c ipc_right_destruct";
		return KR_GUARD;
	}
	if (srdelta > 0) return KERN_INVALID_VALUE;
	if (srdelta) {
		if (!(e->type & MACH_PORT_TYPE_SEND) || e->urefs < (uint32_t)-srdelta)
			return KERN_INVALID_VALUE;
		e->urefs += srdelta;
		if (!e->urefs) {
			e->type &= ~MACH_PORT_TYPE_SEND;
			srights_dec(p);
		}
	}
	return receive_destroy(t, e);
}

/* ipc_right_info (mach_port_get_refs) */
static kern_return_t port_get_refs(struct task *t, mach_port_name_t name, mach_port_right_t right,
                                   uint32_t *refs)
{
	*refs = 0;
	if (right >= MACH_PORT_RIGHT_NUMBER) return KERN_INVALID_VALUE;
	if (!MACH_PORT_VALID(name)) return null_name(right);
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	if (!(e->type & MACH_PORT_TYPE(right))) return KERN_SUCCESS;
	*refs = right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_DEAD_NAME ? e->urefs : 1;
	return KERN_SUCCESS;
}

/* mach_port_type: MACH_PORT_NULL invalid, MACH_PORT_DEAD a dead name; DNREQUEST when a
 * dead-name request is armed */
static kern_return_t port_type(struct task *t, mach_port_name_t name, mach_port_type_t *type)
{
	if (name == MACH_PORT_NULL) return KERN_INVALID_NAME;
	if (name == MACH_PORT_DEAD) {
		*type = MACH_PORT_TYPE_DEAD_NAME;
		return KERN_SUCCESS;
	}
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	*type = e->type | (e->req ? MACH_PORT_TYPE_DNREQUEST : 0);
	return KERN_SUCCESS;
}

/* The io_kotype of a port: xnu-11417 osfmk/kern/ipc_kobject.h's IKOT values for the kernel
 * objects the simulator has; launchd's bootstrap port is a plain port there. */
static natural_t port_kotype(const struct port *p)
{
	switch (p->kind) {
	case KO_TASK: return 2;      /* IKOT_TASK_CONTROL */
	case KO_TIMER: return 8;     /* IKOT_TIMER */
	case KO_FILEPORT: return 34; /* IKOT_FILEPORT */
	default: return 0;           /* IKOT_NONE */
	}
}

/* mach_port_kobject → osfmk/ipc/mach_debug.c mach_port_kobject_description: a send or
 * receive right's object type (the address only on DEVELOPMENT kernels: 0 here);
 * KERN_INVALID_RIGHT for any other right */
static kern_return_t port_kobject(struct task *t, mach_port_name_t name, natural_t *type)
{
	struct entry *e = MACH_PORT_VALID(name) ? entry_check(t, name) : NULL;
	if (!e) return KERN_INVALID_NAME;
	if (!(e->type & MACH_PORT_TYPE_SEND_RECEIVE) || !e->port) return KERN_INVALID_RIGHT;
	*type = port_kotype(e->port);
	return KERN_SUCCESS;
}

/* mach_port_insert_right → ipc_object_copyout_name; the MIG request's right is destroyed
 * when the call fails */
static kern_return_t port_insert_right(struct task *t, mach_port_name_t name, struct kright r)
{
	kern_return_t kr;
	if (!MACH_PORT_VALID(name)) kr = KERN_INVALID_VALUE;
	else if (!r.port || r.port == DEADP) kr = KERN_INVALID_CAPABILITY;
	else kr = right_copyout_name(t, r, name);
	if (kr) right_release(r);
	return kr;
}

/* mach_port_get_status_helper */
static void port_status(struct port *p, mach_port_status_t *s)
{
	memset(s, 0, sizeof *s);
	for (struct membership *m = p->sets; m; m = m->next) s->mps_pset++;
	s->mps_seqno = p->seqno;
	s->mps_mscount = p->mscount;
	s->mps_qlimit = p->qlimit;
	s->mps_msgcount = p->msgcount;
	s->mps_sorights = p->sorights;
	s->mps_srights = p->srights > 0;
	s->mps_pdrequest = p->pdrequest != NULL;
	s->mps_nsrequest = p->nsrequest != NULL;
	if (p->guarded) s->mps_flags |= MACH_PORT_STATUS_FLAG_GUARDED;
	if (p->strict) s->mps_flags |= MACH_PORT_STATUS_FLAG_STRICT_GUARD;
	if (p->immovable_receive) s->mps_flags |= MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE;
}

/* mach_port_get_attributes: LIMITS_INFO and RECEIVE_STATUS of a receive right; a short count
 * is KERN_FAILURE, another flavor KERN_INVALID_ARGUMENT */
static kern_return_t port_get_attributes(struct task *t, mach_port_name_t name, int flavor,
                                         uint32_t count, int *info, uint32_t *outcount)
{
	struct port *p;
	kern_return_t kr;
	if (flavor == MACH_PORT_LIMITS_INFO) {
		if (count < MACH_PORT_LIMITS_INFO_COUNT) return KERN_FAILURE;
		if ((kr = translate_receive(t, name, &p))) return kr;
		info[0] = (int)p->qlimit;
		*outcount = MACH_PORT_LIMITS_INFO_COUNT;
		return KERN_SUCCESS;
	}
	if (flavor == MACH_PORT_RECEIVE_STATUS) {
		if (count < MACH_PORT_RECEIVE_STATUS_COUNT) return KERN_FAILURE;
		if ((kr = translate_receive(t, name, &p))) return kr;
		port_status(p, (mach_port_status_t *)info);
		*outcount = MACH_PORT_RECEIVE_STATUS_COUNT;
		return KERN_SUCCESS;
	}
	return KERN_INVALID_ARGUMENT;
}

/* mach_port_set_attributes: MACH_PORT_LIMITS_INFO (> MACH_PORT_QLIMIT_MAX:
 * KERN_INVALID_VALUE); the importance flavors are accepted and change nothing here */
static kern_return_t port_set_attributes(struct task *t, mach_port_name_t name, int flavor,
                                         uint32_t count, const int *info)
{
	struct port *p;
	kern_return_t kr;
	switch (flavor) {
	case MACH_PORT_LIMITS_INFO:
		if (count < MACH_PORT_LIMITS_INFO_COUNT) return KERN_FAILURE;
		if ((uint32_t)info[0] > MACH_PORT_QLIMIT_MAX) return KERN_INVALID_VALUE;
		if ((kr = translate_receive(t, name, &p))) return kr;
		p->qlimit = (uint32_t)info[0];
		msg_port_changed(p);
		return KERN_SUCCESS;
	case MACH_PORT_DENAP_RECEIVER:
	case MACH_PORT_TEMPOWNER:
	case MACH_PORT_IMPORTANCE_RECEIVER:
		return translate_receive(t, name, &p);
	}
	return KERN_INVALID_ARGUMENT;
}

/* mach_port_insert_member / extract_member (ipc_object_translate_two; ipc_pset_add,
 * ipc_pset_remove) */
static kern_return_t port_member(struct task *t, mach_port_name_t name, mach_port_name_t psname,
                                 bool insert)
{
	if (!MACH_PORT_VALID(name) || !MACH_PORT_VALID(psname)) return KERN_INVALID_RIGHT;
	struct entry *e = entry_lookup(t, name), *s = entry_lookup(t, psname);
	if (!e || !s) return KERN_INVALID_NAME;
	if (!(e->type & MACH_PORT_TYPE_RECEIVE) || !(s->type & MACH_PORT_TYPE_PORT_SET))
		return KERN_INVALID_RIGHT;
	struct port *p = e->port;
	if (insert) {
		if (port_is_member(p, s->pset)) return KERN_ALREADY_IN_SET;
		struct membership *m = malloc(sizeof *m);
		if (!m) return KERN_RESOURCE_SHORTAGE;
		m->set = s->pset;
		m->next = p->sets;
		p->sets = m;
		s->pset->refs++;
	} else {
		struct membership **q = &p->sets;
		while (*q && (*q)->set != s->pset) q = &(*q)->next;
		if (!*q) return KERN_NOT_IN_SET;
		struct membership *m = *q;
		*q = m->next;
		pset_release(m->set);
		free(m);
	}
	evfd_update_port(p);
	msg_port_changed(p);
	return KERN_SUCCESS;
}

/* ipc_port_nsrequest: fires at once when there are no senders and sync ≤ mscount */
static void nsrequest(struct port *p, mach_port_mscount_t sync, struct port *notify,
                      struct port **previous)
{
	*previous = p->nsrequest;
	if (!p->srights && sync <= p->mscount && notify) {
		p->nsrequest = NULL;
		notify_no_senders(notify, p->mscount);
	} else {
		p->nsrequest = notify;
	}
}

/* ipc_right_request_alloc (dead-name requests): cancels the previous request, arms the new
 * one; a dead name is KERN_INVALID_ARGUMENT, a port set KERN_INVALID_RIGHT */
static kern_return_t dnrequest(struct task *t, mach_port_name_t name, struct port *notify,
                               struct port **previous)
{
	*previous = NULL;
	if (!MACH_PORT_VALID(name)) return KERN_INVALID_ARGUMENT;
	struct entry *e = entry_check(t, name);
	if (!e) return KERN_INVALID_NAME;
	if (!notify && !e->req) return KERN_SUCCESS;
	if (!(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND_ONCE)))
		return e->type & MACH_PORT_TYPE_DEAD_NAME ? KERN_INVALID_ARGUMENT : KERN_INVALID_RIGHT;
	if (e->req) {
		*previous = e->req->notify;
		e->req->notify = NULL;
		dnreq_cancel(t, e, false);
	}
	if (!notify) return KERN_SUCCESS;
	struct dnreq *r = calloc(1, sizeof *r);
	if (!r) return KERN_RESOURCE_SHORTAGE;
	r->task = t;
	r->name = name;
	r->notify = notify;
	r->next = e->port->dnreqs;
	e->port->dnreqs = r;
	e->req = r;
	return KERN_SUCCESS;
}

/* mach_port_request_notification */
static kern_return_t request_notification(struct task *t, mach_port_name_t name, mach_msg_id_t id,
                                          mach_port_mscount_t sync, struct port *notify,
                                          struct port **previous)
{
	struct port *p;
	kern_return_t kr;
	*previous = NULL;
	switch (id) {
	case MACH_NOTIFY_PORT_DESTROYED:
		if (sync) return KERN_INVALID_VALUE;
		if ((kr = translate_receive(t, name, &p))) return kr;
		if (p->kind != KO_NONE || p->reply_port) return KERN_INVALID_RIGHT;
		if (p->pdrequest) return KERN_FAILURE;
		p->pdrequest = notify;
		return KERN_SUCCESS;
	case MACH_NOTIFY_NO_SENDERS:
		if ((kr = translate_receive(t, name, &p))) return kr;
		if (p->reply_port) return KERN_INVALID_RIGHT;
		nsrequest(p, sync, notify, previous);
		return KERN_SUCCESS;
	case MACH_NOTIFY_DEAD_NAME:
		return dnrequest(t, name, notify, previous);
	}
	return KERN_INVALID_VALUE;
}

/* the notify argument: a send-once right carried by the MIG request (MACH_PORT_NULL cancels,
 * MACH_PORT_DEAD is KERN_INVALID_CAPABILITY; a name that does not copy in fails the send) */
static kern_return_t call_request_notification(struct task *t, const struct ms_req *q,
                                               mach_port_name_t *prev)
{
	struct kright n = KR_NONE;
	mach_port_name_t nn = (mach_port_name_t)q->a[3];
	mach_msg_type_name_t disp = (mach_msg_type_name_t)q->a[4];
	*prev = MACH_PORT_NULL;
	if (nn == MACH_PORT_DEAD) return KERN_INVALID_CAPABILITY;
	if (MACH_PORT_VALID(nn)) {
		if (disp != MACH_MSG_TYPE_MAKE_SEND_ONCE && disp != MACH_MSG_TYPE_MOVE_SEND_ONCE)
			return MIG_TYPE_ERROR;
		kern_return_t kr = right_copyin(t, nn, disp, true, &n);
		if (kr) return kr == KR_GUARD ? kr : MACH_SEND_INVALID_RIGHT;
		if (n.port == DEADP) return KERN_INVALID_CAPABILITY;
	}
	struct port *previous;
	kern_return_t kr = request_notification(t, (mach_port_name_t)q->a[0],
	                                        (mach_msg_id_t)q->a[1], (mach_port_mscount_t)q->a[2],
	                                        n.port, &previous);
	if (kr) {
		right_release(n);
		return kr;
	}
	struct kright pr = {previous, MACH_MSG_TYPE_PORT_SEND_ONCE};
	if (previous && right_copyout(t, pr, prev)) {
		right_release(pr);
		*prev = MACH_PORT_NULL;
	}
	return KERN_SUCCESS;
}

static void names_reply(struct task *t, int conn)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i < t->ntab; i++)
		if (entry_check(t, entry_name(t, &t->tab[i]))) n++;
	uint32_t *buf = calloc(2 * n + 1, sizeof *buf), k = 0;
	if (!buf) {
		reply(conn, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	for (uint32_t i = 1; i < t->ntab; i++)
		if (t->tab[i].type) {
			buf[k] = entry_name(t, &t->tab[i]);
			buf[n + k++] = t->tab[i].type | (t->tab[i].req ? MACH_PORT_TYPE_DNREQUEST : 0);
		}
	reply(conn, KERN_SUCCESS, (uint64_t[]){n}, 1, buf, 2 * n * sizeof *buf, NULL, 0);
	free(buf);
}

/* Every right t holds, in name order, into a new array *out (NULL if none could be had):
 * how many. */
uint32_t rights_snapshot(struct task *t, struct ms_right **out)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i < t->ntab; i++)
		if (entry_check(t, entry_name(t, &t->tab[i]))) n++;
	struct ms_right *r = *out = calloc(n + 1, sizeof *r);
	uint32_t k = 0;
	for (uint32_t i = 1; r && i < t->ntab; i++)
		if (t->tab[i].type)
			r[k++] = (struct ms_right){entry_name(t, &t->tab[i]), t->tab[i].type,
			                           t->tab[i].urefs, 0};
	return k;
}

static void rights_reply(int conn, const struct ms_right *r, uint32_t n)
{
	reply(conn, KERN_SUCCESS, (uint64_t[]){n}, 1, r, n * sizeof *r, NULL, 0);
}

static void answer(int conn, kern_return_t kr, uint64_t v0, uint64_t v1)
{
	if (kr == KR_GUARD) guard_reply(conn, guard_rule, guard_source);
	else reply(conn, kr, (uint64_t[]){v0, v1}, 2, NULL, 0, NULL, 0);
}

bool port_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl)
{
	mach_port_name_t name = (mach_port_name_t)q->a[0], out = 0;
	kern_return_t kr;
	switch (q->op) {
	case MS_PORT_ALLOCATE:
		kr = port_allocate(t, (mach_port_right_t)q->a[0], (mach_port_name_t)q->a[1], &out);
		answer(conn, kr, out, 0);
		return true;
	case MS_PORT_CONSTRUCT:
		kr = port_construct(t, (uint32_t)q->a[0], (uint32_t)q->a[1], q->a[2], &out);
		answer(conn, kr, out, 0);
		return true;
	case MS_PORT_DESTRUCT:
		answer(conn, port_destruct(t, name, (mach_port_delta_t)q->a[1], q->a[2]), 0, 0);
		return true;
	case MS_PORT_DEALLOCATE:
		answer(conn, port_deallocate(t, name), 0, 0);
		return true;
	case MS_PORT_MOD_REFS:
		kr = port_mod_refs(t, name, (mach_port_right_t)q->a[1], (mach_port_delta_t)q->a[2]);
		answer(conn, kr, 0, 0);
		return true;
	case MS_PORT_GET_REFS: {
		uint32_t refs;
		kr = port_get_refs(t, name, (mach_port_right_t)q->a[1], &refs);
		answer(conn, kr, refs, 0);
		return true;
	}
	case MS_PORT_TYPE: {
		mach_port_type_t type = 0;
		kr = port_type(t, name, &type);
		answer(conn, kr, type, 0);
		return true;
	}
	case MS_PORT_KOBJECT: {
		natural_t type = 0;
		kr = port_kobject(t, name, &type);
		answer(conn, kr, type, 0);
		return true;
	}
	case MS_PORT_NAMES:
		names_reply(t, conn);
		return true;
	case MS_PORT_INSERT_RIGHT: {
		struct kright r = KR_NONE;
		mach_port_name_t poly = (mach_port_name_t)q->a[1];
		mach_msg_type_name_t disp = (mach_msg_type_name_t)q->a[2];
		if (!MACH_MSG_TYPE_PORT_ANY(disp)) {
			answer(conn, MACH_SEND_INVALID_TYPE, 0, 0);
			return true;
		}
		if (MACH_PORT_VALID(poly)) {
			kr = right_copyin(t, poly, disp, true, &r);
			if (kr) {
				answer(conn, kr == KR_GUARD ? kr : MACH_SEND_INVALID_RIGHT, 0, 0);
				return true;
			}
		} else if (poly == MACH_PORT_DEAD) {
			r.port = DEADP;
		}
		answer(conn, port_insert_right(t, name, r), 0, 0);
		return true;
	}
	case MS_PORT_EXTRACT_RIGHT: {
		struct kright r = KR_NONE;
		mach_msg_type_name_t disp = (mach_msg_type_name_t)q->a[1];
		if (!MACH_MSG_TYPE_PORT_ANY(disp)) kr = KERN_INVALID_VALUE;
		else if (!MACH_PORT_VALID(name)) kr = KERN_INVALID_RIGHT;
		else kr = right_copyin(t, name, disp, true, &r);
		if (!kr && right_copyout(t, r, &out)) {
			right_release(r);
			kr = MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE;
		}
		answer(conn, kr, out, kr ? 0 : r.port == DEADP ? r.type : r.type);
		return true;
	}
	case MS_PORT_GET_ATTRIBUTES: {
		int info[MACH_PORT_RECEIVE_STATUS_COUNT + 8] = {0};
		uint32_t n = 0, count = (uint32_t)q->a[2];
		if (count > MACH_PORT_RECEIVE_STATUS_COUNT + 8) count = MACH_PORT_RECEIVE_STATUS_COUNT + 8;
		kr = port_get_attributes(t, name, (int)q->a[1], count, info, &n);
		reply(conn, kr, (uint64_t[]){n}, 1, info, kr ? 0 : n * sizeof(int), NULL, 0);
		return true;
	}
	case MS_PORT_SET_ATTRIBUTES: {
		int info[MACH_PORT_RECEIVE_STATUS_COUNT + 8] = {0};
		uint32_t count = q->n / sizeof(int);
		if (count > MACH_PORT_RECEIVE_STATUS_COUNT + 8) count = MACH_PORT_RECEIVE_STATUS_COUNT + 8;
		memcpy(info, pl, count * sizeof(int));
		answer(conn, port_set_attributes(t, name, (int)q->a[1], count, info), 0, 0);
		return true;
	}
	case MS_PORT_INSERT_MEMBER:
	case MS_PORT_EXTRACT_MEMBER:
		kr = port_member(t, name, (mach_port_name_t)q->a[1], q->op == MS_PORT_INSERT_MEMBER);
		answer(conn, kr, 0, 0);
		return true;
	case MS_PORT_REQUEST_NOTIFICATION:
		kr = call_request_notification(t, q, &out);
		answer(conn, kr, out, 0);
		return true;
	case MS_TEST_RIGHTS: {
		struct task *o = task_by_pid((pid_t)q->a[0]);
		struct ms_right *r = NULL;
		uint32_t n = o ? rights_snapshot(o, &r) : 0;
		if (!o) answer(conn, KERN_INVALID_ARGUMENT, 0, 0);
		else if (!r) answer(conn, KERN_RESOURCE_SHORTAGE, 0, 0);
		else rights_reply(conn, r, n);
		free(r);
		return true;
	}
	case MS_TEST_START_RIGHTS: {
		struct task *o = task_by_pid((pid_t)q->a[0]);
		if (!o || !o->start) answer(conn, KERN_INVALID_ARGUMENT, 0, 0);
		else rights_reply(conn, o->start, o->nstart);
		return true;
	}
	}
	return false;
}
