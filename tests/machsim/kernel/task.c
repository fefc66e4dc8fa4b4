/* Tasks and the kernel objects around them: xnu osfmk/kern/ipc_tt.c (ipc_task_init, special
 * and registered ports), osfmk/kern/task.c (task_end → ipc_space_terminate),
 * bsd/kern/kern_descrip.c (fileports), osfmk/kern/mk_timer.c, and a launchd stand-in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <servers/bootstrap.h>

#include "kern.h"

struct task *tasks;
static uint64_t next_id = 1;
static uint32_t next_pidversion = 1;
static struct port *bootstrap;

struct port *bootstrap_kport(void)
{
	if (!bootstrap && (bootstrap = port_alloc(NULL))) {
		bootstrap->kind = KO_BOOTSTRAP;
		bootstrap->refs = 1;
	}
	return bootstrap;
}

struct task *task_by_id(uint64_t id)
{
	for (struct task *t = tasks; t; t = t->next)
		if (t->id == id) return t;
	return NULL;
}

struct task *task_by_pid(pid_t pid)
{
	for (struct task *t = tasks; t; t = t->next)
		if (t->pid == pid) return t;
	return NULL;
}

static struct port *copy_send(struct port *p)
{
	if (!p || !p->active) return NULL;
	p->srights++;
	port_ref(p);
	return p;
}

static void drop_send(struct port **p)
{
	if (!*p) return;
	srights_dec(*p);
	port_release(*p);
	*p = NULL;
}

/* ipc_task_init(task, parent): a new task's self port; from the parent, copies of its
 * bootstrap (and other special) ports and registered ports (itk_registered), and the
 * sandbox state; a root task gets the launchd stand-in's bootstrap port. Pid version is new
 * (bsd/kern/kern_exec.c proc_setpidversion). */
static struct task *task_create(struct task *parent, pid_t pid, int pidfd)
{
	struct task *t = calloc(1, sizeof *t);
	if (!t) return NULL;
	t->id = next_id++;
	t->pid = pid;
	t->pidfd = pidfd;
	t->pidversion = next_pidversion++;
	if (!(t->self = port_alloc(NULL))) {
		free(t);
		return NULL;
	}
	t->self->kind = KO_TASK;
	t->self->ktask = t;
	t->self->refs = 1;
	if (parent) {
		for (int i = 0; i <= TASK_MAX_SPECIAL_PORT; i++)
			if (i != TASK_KERNEL_PORT) t->special[i] = copy_send(parent->special[i]);
		for (int i = 0; i < 3; i++) t->registered[i] = copy_send(parent->registered[i]);
		t->deny_register = parent->deny_register;
		t->uid = parent->uid;
		t->gid = parent->gid;
	} else {
		t->special[TASK_BOOTSTRAP_PORT] = copy_send(bootstrap_kport());
	}
	t->next = tasks;
	tasks = t;
	return t;
}

/* exec_handle_port_actions / exec_handle_special_ports: spawn's overrides replace what the
 * child inherited */
static void task_apply_overrides(struct task *t, struct port **special, bool registered_set,
                                 struct port **registered)
{
	for (int i = 0; i <= TASK_MAX_SPECIAL_PORT; i++)
		if (special[i]) {
			drop_send(&t->special[i]);
			t->special[i] = special[i];
			special[i] = NULL;
		}
	if (!registered_set) return;
	for (int i = 0; i < 3; i++) {
		drop_send(&t->registered[i]);
		t->registered[i] = registered[i];
		registered[i] = NULL;
	}
}

/* task_terminate → ipc_space_terminate: every right the space holds is destroyed in name
 * order (ipc_right_terminate: receive rights die, send rights go, send-once rights send
 * MACH_NOTIFY_SEND_ONCE, sets are destroyed); then the task's own ports. */
void task_end(struct task *t)
{
	conns_forget_task(t);
	t->state = T_DEAD;
	for (uint32_t i = 1; i < t->ntab; i++) {
		struct entry *e = entry_check(t, entry_name(t, &t->tab[i]));
		if (!e) continue;
		struct port *p = e->port;
		dnreq_cancel(t, e, true);
		if (e->type & MACH_PORT_TYPE_PORT_SET) {
			pset_destroy(e->pset);
		} else if (e->type & MACH_PORT_TYPE_RECEIVE) {
			if (e->type & MACH_PORT_TYPE_SEND) p->srights--;
			port_destroy(p);
			port_release(p);
		} else if (e->type & MACH_PORT_TYPE_SEND) {
			srights_dec(p);
			port_release(p);
		} else if (e->type & MACH_PORT_TYPE_SEND_ONCE) {
			notify_send_once(p);
		}
		entry_free(t, e);
	}
	for (int i = 0; i <= TASK_MAX_SPECIAL_PORT; i++) {
		drop_send(&t->special[i]);
		drop_send(&t->pending_special[i]);
	}
	for (int i = 0; i < 3; i++) {
		drop_send(&t->registered[i]);
		drop_send(&t->pending_registered[i]);
	}
	t->self->ktask = NULL;
	port_destroy(t->self);
	port_release(t->self);
	for (struct task **q = &tasks; *q; q = &(*q)->next)
		if (*q == t) {
			*q = t->next;
			break;
		}
	if (t->pidfd >= 0) {
		watch_pidfd(t->pidfd, NULL);
		close(t->pidfd);
	}
	free(t->tab);
	free(t->start);
	free(t);
}

static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid = 0;
	if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1) return 0;
	return ppid;
}

/* A process with no task yet: its task comes from its nearest simulated ancestor's. */
static struct task *ancestor_task(pid_t pid)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid = ppid_of(pid);
		struct task *t = task_by_pid(pid);
		if (t && t->state == T_RUNNING) return t;
	}
	return NULL;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static struct task *task_new_for(struct task *parent, pid_t pid, const struct ucred *cr)
{
	int pidfd = pidfd_open_(pid);
	if (pidfd < 0) return NULL;
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	struct task *t = task_create(parent, pid, pidfd);
	if (!t) {
		close(pidfd);
		return NULL;
	}
	t->uid = cr->uid;
	t->gid = cr->gid;
	watch_pidfd(pidfd, t);
	return t;
}

/* The names a new image starts with: mach_task_self_ (task_self_trap) and bootstrap_port
 * (task_get_special_port(TASK_BOOTSTRAP_PORT) in libsystem's mach_init). */
static void hello_reply(struct task *t, int conn)
{
	mach_port_name_t self = 0, boot = 0;
	struct kright s = {copy_send(t->self), MACH_MSG_TYPE_PORT_SEND};
	struct kright b = {copy_send(t->special[TASK_BOOTSTRAP_PORT]), MACH_MSG_TYPE_PORT_SEND};
	if (s.port && right_copyout(t, s, &self)) right_release(s);
	if (b.port && right_copyout(t, b, &boot)) right_release(b);
	free(t->start);
	t->nstart = rights_snapshot(t, &t->start);
	conn_set_task(conn, t);
	reply(conn, KERN_SUCCESS, (uint64_t[]){t->id, self, boot, t->pidversion}, 4, NULL, 0, NULL, 0);
}

/* "new image of pid P": the task spawn prepared takes it; a running task execs (a new task
 * from the old one, the old one terminated: bsd/kern/kern_exec.c exec_mach_imgact →
 * ipc_task_init via task_create_internal); an unknown process inherits from its ancestor. */
static void hello_image(int conn, pid_t pid, const struct ucred *cr)
{
	struct task *t = task_by_pid(pid);
	if (cr->pid != pid) {
		reply(conn, KERN_INVALID_ARGUMENT, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	if (t && t->state == T_WAITING_IMAGE) {
		t->state = T_RUNNING;
		hello_reply(t, conn);
		return;
	}
	if (t) {
		int pidfd = t->pidfd;
		watch_pidfd(pidfd, NULL);
		t->pidfd = -1;
		struct task *n = task_create(t, pid, pidfd);
		if (!n) {
			reply(conn, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0, NULL, 0);
			return;
		}
		n->uid = cr->uid;
		n->gid = cr->gid;
		if (t->exec_overrides)
			task_apply_overrides(n, t->pending_special, t->pending_registered_set,
			                     t->pending_registered);
		watch_pidfd(pidfd, n);
		task_end(t);
		n->state = T_RUNNING;
		hello_reply(n, conn);
		return;
	}
	t = task_new_for(ancestor_task(pid), pid, cr);
	if (!t) {
		reply(conn, KERN_FAILURE, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	t->state = T_RUNNING;
	hello_reply(t, conn);
}

/* fork: the child's task is created from the parent's (ipc_task_init): no names carry over */
static void hello_forked(int conn, uint64_t parent_id, const struct ucred *cr)
{
	struct task *old = task_by_pid(cr->pid);
	if (old) task_end(old);
	struct task *t = task_new_for(task_by_id(parent_id), cr->pid, cr);
	if (!t) {
		reply(conn, KERN_FAILURE, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	t->state = T_RUNNING;
	hello_reply(t, conn);
}

static void hello_thread(int conn, uint64_t id, const struct ucred *cr)
{
	struct task *t = task_by_id(id);
	if (!t || t->pid != cr->pid) {
		reply(conn, KERN_INVALID_TASK, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	conn_set_task(conn, t);
	reply(conn, KERN_SUCCESS, (uint64_t[]){t->id}, 1, NULL, 0, NULL, 0);
}

/* A send right named by the caller, copied (COPY_SEND) for the kernel to keep: NULL stays
 * NULL, a dead name is NULL too; anything else must be a send right. */
static kern_return_t take_send(struct task *t, mach_port_name_t name, struct port **out)
{
	struct kright r = {0};
	*out = NULL;
	if (!MACH_PORT_VALID(name)) return KERN_SUCCESS;
	kern_return_t kr = right_copyin(t, name, MACH_MSG_TYPE_COPY_SEND, true, &r);
	if (kr) return MACH_SEND_INVALID_RIGHT;
	*out = r.port == DEADP ? NULL : r.port;
	return KERN_SUCCESS;
}

static kern_return_t spawn_ports(struct task *t, const struct ms_spawn_ports *o,
                                 struct port **special, struct port **registered)
{
	kern_return_t kr = KERN_SUCCESS;
	if (o->nspecial < 0 || o->nspecial > 8 || o->nregistered < 0 || o->nregistered > 3)
		return KERN_INVALID_ARGUMENT;
	for (int i = 0; i < o->nspecial && !kr; i++) {
		int which = o->special_which[i];
		if (which <= 0 || which > TASK_MAX_SPECIAL_PORT) return KERN_INVALID_ARGUMENT;
		drop_send(&special[which]);
		kr = take_send(t, o->special_port[i], &special[which]);
	}
	for (int i = 0; i < o->nregistered && !kr; i++) kr = take_send(t, o->registered[i], &registered[i]);
	return kr;
}

/* machsim__task_create_child: spawn's task for a child stopped before its exec (fork1 with
 * PROC_CREATE_SPAWN → task_create_internal(parent) → ipc_task_init; then the port
 * actions); pid == caller: POSIX_SPAWN_SETEXEC, the overrides wait for the next image. */
static void create_child(struct task *t, int conn, pid_t pid, const struct ms_spawn_ports *o)
{
	struct port *special[TASK_MAX_SPECIAL_PORT + 1] = {0}, *registered[3] = {0};
	kern_return_t kr = spawn_ports(t, o, special, registered);
	if (!kr && pid == t->pid) {
		for (int i = 0; i <= TASK_MAX_SPECIAL_PORT; i++) {
			drop_send(&t->pending_special[i]);
			t->pending_special[i] = special[i];
			special[i] = NULL;
		}
		for (int i = 0; i < 3; i++) {
			drop_send(&t->pending_registered[i]);
			t->pending_registered[i] = registered[i];
			registered[i] = NULL;
		}
		t->pending_registered_set = o->registered_set;
		t->exec_overrides = true;
	} else if (!kr) {
		struct ucred cr = {pid, t->uid, t->gid};
		struct task *old = task_by_pid(pid), *c;
		if (ppid_of(pid) != t->pid) kr = KERN_FAILURE;
		else if (old) task_end(old);
		if (!kr && !(c = task_new_for(t, pid, &cr))) kr = KERN_FAILURE;
		if (!kr) {
			c->state = T_WAITING_IMAGE;
			task_apply_overrides(c, special, o->registered_set, registered);
		}
	}
	for (int i = 0; i <= TASK_MAX_SPECIAL_PORT; i++) drop_send(&special[i]);
	for (int i = 0; i < 3; i++) drop_send(&registered[i]);
	reply(conn, kr, NULL, 0, NULL, 0, NULL, 0);
}

/* _kernelrpc_mach_ports_register3 (ipc_tt.c): at most TASK_PORT_REGISTER_MAX (3) */
static kern_return_t ports_register(struct task *t, const struct ms_req *q)
{
	struct port *p[3] = {0};
	if (q->a[0] > 3) return KERN_INVALID_ARGUMENT;
	for (uint64_t i = 0; i < q->a[0]; i++) {
		kern_return_t kr = take_send(t, (mach_port_name_t)q->a[1 + i], &p[i]);
		if (kr) {
			for (int j = 0; j < 3; j++) drop_send(&p[j]);
			return kr;
		}
	}
	for (int i = 0; i < 3; i++) {
		drop_send(&t->registered[i]);
		t->registered[i] = p[i];
	}
	return KERN_SUCCESS;
}

/* _kernelrpc_mach_ports_lookup3: always three, each a copied send right (or NULL); a port that
 * died since it was registered comes out as MACH_PORT_DEAD (osfmk/ipc/ipc_port.c
 * ipc_port_copy_send_any gives IP_DEAD for an inactive port) */
static void ports_lookup(struct task *t, int conn)
{
	uint64_t v[4] = {3};
	for (int i = 0; i < 3; i++) {
		mach_port_name_t n = t->registered[i] && !t->registered[i]->active ? MACH_PORT_DEAD : 0;
		struct kright r = {copy_send(t->registered[i]), MACH_MSG_TYPE_PORT_SEND};
		if (r.port && right_copyout(t, r, &n)) right_release(r);
		v[1 + i] = n;
	}
	reply(conn, KERN_SUCCESS, v, 4, NULL, 0, NULL, 0);
}

/* task_get_special_port: TASK_KERNEL_PORT is the task's own port */
static kern_return_t get_special(struct task *t, int which, mach_port_name_t *name)
{
	*name = MACH_PORT_NULL;
	if (which <= 0 || which > TASK_MAX_SPECIAL_PORT) return KERN_INVALID_ARGUMENT;
	struct port *p = which == TASK_KERNEL_PORT ? t->self : t->special[which];
	struct kright r = {copy_send(p), MACH_MSG_TYPE_PORT_SEND};
	if (r.port && right_copyout(t, r, name)) {
		right_release(r);
		return KERN_NO_SPACE;
	}
	return KERN_SUCCESS;
}

/* task_set_special_port: the task's control ports cannot be replaced (KERN_NO_ACCESS) */
static kern_return_t set_special(struct task *t, int which, mach_port_name_t name)
{
	struct port *p;
	if (which <= 0 || which > TASK_MAX_SPECIAL_PORT) return KERN_INVALID_ARGUMENT;
	if (which == TASK_KERNEL_PORT || which == TASK_NAME_PORT || which == TASK_INSPECT_PORT ||
	    which == TASK_READ_PORT)
		return KERN_NO_ACCESS;
	kern_return_t kr = take_send(t, name, &p);
	if (kr) return kr;
	drop_send(&t->special[which]);
	t->special[which] = p;
	return KERN_SUCCESS;
}

/* ---- launchd stand-in (documented guesses: launchd's source is not public) ---- */

struct service {
	struct service *next;
	char name[BOOTSTRAP_MAX_NAME_LEN];
	struct port *port; /* a send right launchd keeps */
};
static struct service *services;

static bool is_bootstrap(struct task *t, mach_port_name_t bp)
{
	struct entry *e = entry_check(t, bp);
	return e && (e->type & MACH_PORT_TYPE_SEND) && e->port->kind == KO_BOOTSTRAP;
}

static struct service *service_find(const char *name)
{
	for (struct service *s = services; s; s = s->next)
		if (!strcmp(s->name, name)) return s;
	return NULL;
}

/* bootstrap_check_in: BOOTSTRAP_NOT_PRIVILEGED when the sandbox denies mach-register; a name
 * that exists is BOOTSTRAP_SERVICE_ACTIVE while its port lives, BOOTSTRAP_NAME_IN_USE after;
 * otherwise a new port whose receive right the caller gets. */
static kern_return_t check_in(struct task *t, const char *name, mach_port_name_t *out)
{
	if (t->deny_register) return BOOTSTRAP_NOT_PRIVILEGED;
	struct service *s = service_find(name);
	if (s) return s->port->active ? BOOTSTRAP_SERVICE_ACTIVE : BOOTSTRAP_NAME_IN_USE;
	mach_port_name_t n;
	struct entry *e;
	kern_return_t kr = entry_alloc(t, &n, &e);
	if (kr) return BOOTSTRAP_NO_MEMORY;
	if (!(s = calloc(1, sizeof *s)) || !(e->port = port_alloc(t))) {
		free(s);
		return BOOTSTRAP_NO_MEMORY;
	}
	e->type = MACH_PORT_TYPE_RECEIVE;
	e->port->refs = 2;
	e->port->srights = 1;
	e->port->mscount = 1;
	s->port = e->port;
	memcpy(s->name, name, strlen(name) + 1);
	s->next = services;
	services = s;
	*out = n;
	return KERN_SUCCESS;
}

/* bootstrap_look_up: BOOTSTRAP_UNKNOWN_SERVICE, or a send right (MACH_PORT_DEAD once the
 * owner's port died: the name outlives it) */
static kern_return_t look_up(struct task *t, const char *name, mach_port_name_t *out)
{
	struct service *s = service_find(name);
	if (!s) return BOOTSTRAP_UNKNOWN_SERVICE;
	if (!s->port->active) {
		*out = MACH_PORT_DEAD;
		return KERN_SUCCESS;
	}
	struct kright r = {copy_send(s->port), MACH_PORT_TYPE_SEND};
	r.type = MACH_MSG_TYPE_PORT_SEND;
	if (right_copyout(t, r, out)) {
		right_release(r);
		return BOOTSTRAP_NO_MEMORY;
	}
	return KERN_SUCCESS;
}

/* names are BOOTSTRAP_MAX_NAME_LEN - 1 bytes at most: longer ones are cut (name_t) */
static void service_name(const uint8_t *pl, uint32_t n, char *name)
{
	if (n > BOOTSTRAP_MAX_NAME_LEN - 1) n = BOOTSTRAP_MAX_NAME_LEN - 1;
	memcpy(name, pl, n);
	name[n] = 0;
	name[strnlen(name, n)] = 0;
}

/* ---- fileports ---- */

/* fg_sendable: vnodes, sockets, pipes and POSIX shm travel; kqueues (here epoll) and the other
 * anonymous-inode files (eventfd, signalfd, timerfd, pidfd...) do not. */
static bool fd_sendable(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0) return false;
	target[n] = 0;
	return strncmp(target, "anon_inode:", 11) != 0;
}

/* sys_fileport_makeport: EBADF without an fd, EINVAL for an unsendable file (fg_sendable),
 * EAGAIN when fileport_alloc makes no port, EINVAL when its send right finds no name
 * (ipc_port_copyout_send, which destroys the port); the port holds the file until its last
 * send right goes (fileport_notify on no-senders). v[0] errno, v[1] name. */
static void makeport(struct task *t, int conn, int *fds, int nfds)
{
	mach_port_name_t name = 0;
	struct port *port = NULL;
	int err = 0;
	struct entry *e;
	if (nfds != 1) err = EBADF;
	else if (!fd_sendable(fds[0])) err = EINVAL;
	else if (t->fail_fileports || !(port = port_alloc(NULL))) err = EAGAIN;
	else if (entry_alloc(t, &name, &e)) err = EINVAL;
	if (err) {
		free(port);
		for (int i = 0; i < nfds; i++) close(fds[i]);
		reply(conn, KERN_SUCCESS, (uint64_t[]){(uint64_t)err, 0}, 2, NULL, 0, NULL, 0);
		return;
	}
	e->port = port;
	e->port->kind = KO_FILEPORT;
	e->port->fd = fds[0];
	e->port->refs = 1;
	e->port->srights = 1;
	e->port->mscount = 1;
	e->type = MACH_PORT_TYPE_SEND;
	e->urefs = 1;
	reply(conn, KERN_SUCCESS, (uint64_t[]){0, name}, 2, NULL, 0, NULL, 0);
}

/* sys_fileport_makefd: the file comes back as a new fd (the lowest free one, close-on-exec:
 * the client receives it with MSG_CMSG_CLOEXEC); a name that is not a fileport send right
 * is EINVAL. */
static void makefd(struct task *t, int conn, mach_port_name_t name)
{
	struct entry *e = entry_check(t, name);
	if (!e || !(e->type & MACH_PORT_TYPE_SEND) || e->port->kind != KO_FILEPORT) {
		reply(conn, KERN_SUCCESS, (uint64_t[]){EINVAL}, 1, NULL, 0, NULL, 0);
		return;
	}
	reply(conn, KERN_SUCCESS, (uint64_t[]){0}, 1, NULL, 0, &e->port->fd, 1);
}

/* mk_timer_create: a receive right to a kobject port (IKOT_TIMER), which cannot move */
static kern_return_t timer_create_(struct task *t, mach_port_name_t *name)
{
	struct entry *e;
	kern_return_t kr = entry_alloc(t, name, &e);
	if (kr) return kr;
	if (!(e->port = port_alloc(t))) return KERN_RESOURCE_SHORTAGE;
	e->port->kind = KO_TIMER;
	e->port->refs = 1;
	e->type = MACH_PORT_TYPE_RECEIVE;
	return KERN_SUCCESS;
}

/* mk_timer_destroy_trap: the receive right of a timer, else KERN_INVALID_ARGUMENT */
static kern_return_t timer_destroy_(struct task *t, mach_port_name_t name)
{
	struct entry *e = entry_lookup(t, name);
	if (!e || !(e->type & MACH_PORT_TYPE_RECEIVE) || e->port->kind != KO_TIMER)
		return KERN_INVALID_ARGUMENT;
	struct port *p = e->port;
	if (e->type & MACH_PORT_TYPE_SEND) {
		e->type = MACH_PORT_TYPE_DEAD_NAME;
		e->port = NULL;
		p->srights--;
	} else {
		entry_free(t, e);
	}
	port_destroy(p);
	port_release(p);
	return KERN_SUCCESS;
}

/* machsim__message_fd: an eventfd the kernel keeps readable while a message is queued */
static void message_fd(struct task *t, int conn, mach_port_name_t name)
{
	struct entry *e = entry_lookup(t, name);
	int *fd;
	if (!MACH_PORT_VALID(name) || !e) {
		reply(conn, KERN_INVALID_NAME, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	if (e->type & MACH_PORT_TYPE_RECEIVE) fd = &e->port->evfd;
	else if (e->type & MACH_PORT_TYPE_PORT_SET) fd = &e->pset->evfd;
	else {
		reply(conn, KERN_INVALID_RIGHT, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	if (*fd < 0 && (*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		reply(conn, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	if (e->type & MACH_PORT_TYPE_RECEIVE) evfd_update_port(e->port);
	else pset_evfd_update(e->pset);
	reply(conn, KERN_SUCCESS, NULL, 0, NULL, 0, fd, 1);
}

static void answer(int conn, kern_return_t kr, uint64_t v0)
{
	reply(conn, kr, (uint64_t[]){v0}, 1, NULL, 0, NULL, 0);
}

/* the calls a connection may make before it names its task */
bool hello_call(int conn, const struct ms_req *q, const struct ucred *cr)
{
	switch (q->op) {
	case MS_HELLO_IMAGE:
		hello_image(conn, (pid_t)q->a[0], cr);
		return true;
	case MS_FORKED:
		hello_forked(conn, q->a[0], cr);
		return true;
	case MS_HELLO_THREAD:
		hello_thread(conn, q->a[0], cr);
		return true;
	}
	return false;
}

bool task_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl, int *fds,
               int nfds)
{
	mach_port_name_t out = 0;
	char name[BOOTSTRAP_MAX_NAME_LEN];
	switch (q->op) {
	case MS_CREATE_CHILD: {
		struct ms_spawn_ports o = {0};
		memcpy(&o, pl, q->n < sizeof o ? q->n : sizeof o);
		create_child(t, conn, (pid_t)q->a[0], &o);
		return true;
	}
	case MS_PORTS_REGISTER:
		answer(conn, ports_register(t, q), 0);
		return true;
	case MS_PORTS_LOOKUP:
		ports_lookup(t, conn);
		return true;
	case MS_GET_SPECIAL_PORT: {
		kern_return_t kr = get_special(t, (int)q->a[0], &out);
		answer(conn, kr, out);
		return true;
	}
	case MS_SET_SPECIAL_PORT:
		answer(conn, set_special(t, (int)q->a[0], (mach_port_name_t)q->a[1]), 0);
		return true;
	case MS_BOOTSTRAP_CHECK_IN:
	case MS_BOOTSTRAP_LOOK_UP: {
		kern_return_t kr;
		if (!is_bootstrap(t, (mach_port_name_t)q->a[0])) {
			answer(conn, MACH_SEND_INVALID_DEST, 0);
			return true;
		}
		service_name(pl, q->n, name);
		kr = q->op == MS_BOOTSTRAP_CHECK_IN ? check_in(t, name, &out) : look_up(t, name, &out);
		answer(conn, kr, out);
		return true;
	}
	case MS_FILEPORT_MAKEPORT:
		makeport(t, conn, fds, nfds);
		return true;
	case MS_FILEPORT_MAKEFD:
		makefd(t, conn, (mach_port_name_t)q->a[0]);
		return true;
	case MS_MK_TIMER_CREATE: {
		kern_return_t kr = timer_create_(t, &out);
		answer(conn, kr, kr ? 0 : out);
		return true;
	}
	case MS_MK_TIMER_DESTROY:
		answer(conn, timer_destroy_(t, (mach_port_name_t)q->a[0]), 0);
		return true;
	case MS_MESSAGE_FD:
		message_fd(t, conn, (mach_port_name_t)q->a[0]);
		return true;
	case MS_TEST_SANDBOX:
		t->deny_register = q->a[0] != 0;
		answer(conn, KERN_SUCCESS, 0);
		return true;
	case MS_TEST_FAIL_FILEPORTS:
		t->fail_fileports = q->a[0] != 0;
		answer(conn, KERN_SUCCESS, 0);
		return true;
	case MS_TEST_NAME_LIMIT:
		t->name_limit = (uint32_t)q->a[0];
		answer(conn, KERN_SUCCESS, 0);
		return true;
	case MS_TEST_PID_VERSION: {
		struct task *o = task_by_pid((pid_t)q->a[0]);
		answer(conn, o ? KERN_SUCCESS : KERN_INVALID_ARGUMENT, o ? o->pidversion : 0);
		return true;
	}
	}
	return false;
}
