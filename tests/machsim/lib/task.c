/* Task calls: registered ports, special ports (osfmk/kern/ipc_tt.c), and the process layer's
 * entry points of internal.h. */
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <mach/mach.h>

#include "conn.h"
#include "internal.h"

kern_return_t mach_ports_register(task_t target_task, mach_port_array_t init_port_set,
                                  mach_msg_type_number_t init_port_setCnt)
{
	struct ms_req q = {.op = MS_PORTS_REGISTER, .a = {init_port_setCnt}};
	struct machsim__answer a = {0};
	for (mach_msg_type_number_t i = 0; i < init_port_setCnt && i < 3; i++)
		q.a[1 + i] = init_port_set[i];
	q.a[6] = target_task;
	return machsim__call(&q, NULL, NULL, 0, &a);
}

/* the array comes back as fresh memory, as MIG's out-of-line reply gives it */
kern_return_t mach_ports_lookup(task_t target_task, mach_port_array_t *init_port_set,
                                mach_msg_type_number_t *init_port_setCnt)
{
	struct ms_req q = {.op = MS_PORTS_LOOKUP, .a = {[6] = target_task}};
	struct machsim__answer a = {0};
	kern_return_t kr = machsim__call(&q, NULL, NULL, 0, &a);
	if (kr) return kr;
	mach_port_t *p = mmap(NULL, 3 * sizeof *p, PROT_READ | PROT_WRITE,
	                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return KERN_RESOURCE_SHORTAGE;
	for (int i = 0; i < 3; i++) p[i] = (mach_port_t)a.rep.v[1 + i];
	*init_port_set = p;
	*init_port_setCnt = 3;
	return KERN_SUCCESS;
}

kern_return_t task_get_special_port(task_inspect_t task, int which_port, mach_port_t *special_port)
{
	struct ms_req q = {.op = MS_GET_SPECIAL_PORT, .a = {(uint64_t)which_port, [6] = task}};
	struct machsim__answer a = {0};
	kern_return_t kr = machsim__call(&q, NULL, NULL, 0, &a);
	if (!kr) *special_port = (mach_port_t)a.rep.v[0];
	return kr;
}

kern_return_t task_set_special_port(task_t task, int which_port, mach_port_t special_port)
{
	struct ms_req q = {.op = MS_SET_SPECIAL_PORT,
	                   .a = {(uint64_t)which_port, special_port, [6] = task}};
	struct machsim__answer a = {0};
	return machsim__call(&q, NULL, NULL, 0, &a);
}

kern_return_t machsim__task_create_child(pid_t pid, const struct machsim__spawn_ports *o)
{
	struct ms_spawn_ports p = {0};
	if (o) {
		if (o->nspecial < 0 || o->nspecial > 8 || o->nregistered < 0 || o->nregistered > 3)
			return KERN_INVALID_ARGUMENT;
		p.nspecial = o->nspecial;
		for (int i = 0; i < o->nspecial; i++) {
			p.special_which[i] = o->special_which[i];
			p.special_port[i] = o->special_port[i];
		}
		p.registered_set = o->registered_set;
		p.nregistered = o->nregistered;
		for (int i = 0; i < o->nregistered; i++) p.registered[i] = o->registered[i];
	}
	struct ms_req q = {.op = MS_CREATE_CHILD, .n = sizeof p, .a = {(uint64_t)pid}};
	struct machsim__answer a = {0};
	return machsim__call(&q, &p, NULL, 0, &a);
}

kern_return_t machsim__message_fd(mach_port_t name, int *fd)
{
	struct ms_req q = {.op = MS_MESSAGE_FD, .a = {name}};
	struct machsim__answer a = {0};
	kern_return_t kr = machsim__call(&q, NULL, NULL, 0, &a);
	if (!kr && a.nfds == 1) *fd = a.fds[0];
	return kr;
}
