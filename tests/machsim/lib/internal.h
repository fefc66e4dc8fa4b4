/* The interface between libmachsim's Mach side (H2: conn.c, task.c, mach_*.c) and its process
 * layer (H3: spawn.c, kqueue.c, socket.c, audit.c). Nothing outside tests/machsim includes it. */
#ifndef MACHSIM_INTERNAL_H
#define MACHSIM_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>
#include <mach/kern_return.h>
#include <mach/port.h>

/* Port overrides of a spawn, names in the caller's space (xnu bsd/kern/kern_exec.c
 * exec_handle_port_actions, exec_handle_special_ports; posix_spawnattr_setspecialport_np,
 * posix_spawnattr_set_registered_ports_np). */
struct machsim__spawn_ports {
	int nspecial;
	int special_which[8];
	mach_port_t special_port[8];
	bool registered_set;
	int nregistered;
	mach_port_t registered[3];
};

/* pid: a process this one created, stopped before its exec. Creates its task from ours
 * (ipc_task_init) plus the overrides, waiting for its first image. pid == getpid() (SETEXEC):
 * the overrides apply to the task this process's next image gets. o may be NULL.
 * KERN_INVALID_ARGUMENT for a bad count or `which`, KERN_INVALID_RIGHT / KERN_INVALID_NAME for
 * a name that is not a send right in our space, KERN_FAILURE when pid is not our child. */
kern_return_t machsim__task_create_child(pid_t pid, const struct machsim__spawn_ports *o);

/* Sets *fd (close-on-exec, the caller owns it) to one that is readable exactly while the port or
 * port set `name` of this task has a message queued (kqueue's EVFILT_MACHPORT; xnu
 * osfmk/ipc/ipc_pset.c filt_machportattach). KERN_INVALID_NAME / KERN_INVALID_RIGHT as
 * mach_port_get_attributes would. The fd must only be polled, never read. */
kern_return_t machsim__message_fd(mach_port_t name, int *fd);

/* Kills this task as xnu's EXC_GUARD would (SIGKILL after a line on stderr naming the rule and
 * the xnu source that raises it). */
_Noreturn void machsim__guard(const char *rule, const char *xnu_source);

#endif
