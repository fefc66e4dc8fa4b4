/* machsim-kernel's object model: ports, port sets, spaces (one per task), entries, kmsgs. One
 * thread runs everything, so nothing is locked. */
#ifndef MACHSIM_KERN_H
#define MACHSIM_KERN_H

#include <stdbool.h>
#include <sys/socket.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>
#include <mach/notify.h>
#include <mach/task_special_ports.h>

#include "proto.h"

struct task;
struct kmsg;
struct waiter;

enum kobject { KO_NONE, KO_TASK, KO_TIMER, KO_FILEPORT, KO_BOOTSTRAP };

struct dnreq { /* a dead-name request (ipc_port_request) */
	struct dnreq *next;
	struct task *task;
	mach_port_name_t name;
	struct port *notify; /* a send-once right */
};

struct membership {
	struct membership *next;
	struct pset *set;
};

struct port {
	unsigned refs;
	bool active;
	struct task *receiver; /* NULL: in transit, held by the kernel, or dead */
	enum kobject kind;
	struct task *ktask;    /* KO_TASK */
	int fd;                /* KO_FILEPORT */
	mach_port_context_t context;
	bool guarded, strict, immovable_receive, reply_port;
	uint32_t srights, sorights, mscount, seqno, qlimit, msgcount;
	struct kmsg *qhead, **qtail;
	struct port *nsrequest; /* send-once */
	mach_port_mscount_t nssync;
	struct port *pdrequest; /* send-once */
	struct dnreq *dnreqs;
	struct membership *sets;
	int evfd; /* machsim__message_fd, -1 */
};

struct pset {
	unsigned refs;
	bool active;
	struct task *owner;
	int evfd;
};

struct entry {
	uint32_t gen;
	mach_port_type_t type; /* 0: free */
	uint32_t urefs;
	struct port *port;
	struct pset *pset;
	struct dnreq *req;
};

enum task_state { T_WAITING_IMAGE, T_RUNNING, T_DEAD };

struct task {
	struct task *next;
	uint64_t id;
	pid_t pid;
	int pidfd;
	uint32_t pidversion;
	uid_t uid;
	gid_t gid;
	enum task_state state;
	struct entry *tab;
	uint32_t ntab;
	uint32_t name_limit;
	bool deny_register;
	bool fail_fileports; /* machsim_fail_fileports */
	struct ms_right *start; /* the rights held at the image's hello (machsim_start_rights) */
	uint32_t nstart;
	struct port *self;
	struct port *special[TASK_MAX_SPECIAL_PORT + 1]; /* send rights, TASK_*_PORT */
	struct port *registered[3];
	bool exec_overrides;
	struct port *pending_special[TASK_MAX_SPECIAL_PORT + 1];
	bool pending_registered_set;
	struct port *pending_registered[3];
};

#define DEADP ((struct port *)-1)

/* A copied-in right: the port (or DEADP / NULL) and its type once in transit. */
struct kright {
	struct port *port;
	mach_msg_type_name_t type; /* MACH_MSG_TYPE_PORT_* */
};

struct kdesc {
	mach_msg_descriptor_type_t type;
	struct kright right;   /* port descriptors */
	int memfd;             /* OOL: -1 for none (size 0) */
	struct kright *rights; /* OOL ports */
	uint32_t count;
};

struct kmsg {
	struct kmsg *next;
	uint8_t *buf;  /* user layout, msgh_size bytes */
	uint32_t size;
	struct kright dest, reply;
	uint32_t ndesc;
	struct kdesc *desc;
	bool from_kernel;
	pid_t pid;
	uint32_t pidversion;
	uid_t uid;
	gid_t gid;
};

/* ipc.c: ports, entries, rights, notifications */
struct port *port_alloc(struct task *receiver);
void port_ref(struct port *p);
void port_release(struct port *p);
void port_destroy(struct port *p);
struct pset *pset_alloc(struct task *owner);
void pset_release(struct pset *s);
struct entry *entry_lookup(struct task *t, mach_port_name_t name);
struct entry *entry_check(struct task *t, mach_port_name_t name);
kern_return_t entry_alloc(struct task *t, mach_port_name_t *name, struct entry **e);
kern_return_t entry_alloc_name(struct task *t, mach_port_name_t name, struct entry **e);
void entry_free(struct task *t, struct entry *e);
mach_port_name_t entry_name(struct task *t, struct entry *e);
struct entry *right_reverse(struct task *t, struct port *p);
void srights_dec(struct port *p);
void right_release(struct kright r);
kern_return_t right_copyin(struct task *t, mach_port_name_t name, mach_msg_type_name_t disp,
                           bool deadok, struct kright *out);
/* a copyin that xnu answers with a fatal EXC_GUARD: the rule is in guard_rule/guard_source */
#define KR_GUARD ((kern_return_t)MS_GUARD)
extern const char *guard_rule, *guard_source;
kern_return_t right_copyout(struct task *t, struct kright r, mach_port_name_t *name);
kern_return_t right_copyout_name(struct task *t, struct kright r, mach_port_name_t name);
void dnreq_cancel(struct task *t, struct entry *e, bool notify_deleted);
void notify_send_once(struct port *so);
void notify_no_senders(struct port *so, mach_port_mscount_t mscount);
void notify_dead_name(struct port *so, mach_port_name_t name);
void notify_port_deleted(struct port *so, mach_port_name_t name);
void space_terminate(struct task *t);
bool port_is_member(struct port *p, struct pset *s);
void pset_remove_all(struct port *p);
void pset_destroy(struct pset *s);
void evfd_update_port(struct port *p);

void pset_evfd_update(struct pset *s);

/* calls.c: the mach_port_* calls */
bool port_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl);
uint32_t rights_snapshot(struct task *t, struct ms_right **out);

/* kmsg.c: messages */
void kmsg_enqueue(struct port *p, struct kmsg *m);
void kmsg_destroy(struct kmsg *m);
struct kmsg *kmsg_kernel(struct port *dest, mach_msg_id_t id, uint32_t size);
void msg_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl, int *fds,
              int nfds);
void msg_interrupt(int conn);
void msg_port_changed(struct port *p);
void waiters_timeout(uint64_t now);
uint64_t waiters_next_deadline(void);
void waiters_drop_conn(int conn);
uint64_t now_ms(void);

/* task.c: tasks, special and registered ports, bootstrap, fileports, timers */
bool hello_call(int conn, const struct ms_req *q, const struct ucred *cr);
bool task_call(struct task *t, int conn, const struct ms_req *q, const uint8_t *pl, int *fds,
               int nfds);
void task_end(struct task *t);
struct task *task_by_id(uint64_t id);
struct task *task_by_pid(pid_t pid);
extern struct task *tasks;
struct port *bootstrap_kport(void);

/* main.c */
void reply(int conn, kern_return_t kr, const uint64_t *v, int nv, const void *pl, uint32_t n,
           const int *fds, int nfds);
void guard_reply(int conn, const char *rule, const char *source);
void conn_set_task(int conn, struct task *t);
void conns_forget_task(struct task *t);
void watch_pidfd(int pidfd, struct task *t);

#endif
