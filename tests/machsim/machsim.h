/* The simulator's own test API: what a test can ask machsim-kernel beyond the Mach API. */
#ifndef MACHSIM_H
#define MACHSIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>

struct machsim_right {
	mach_port_name_t name;
	mach_port_type_t type; /* MACH_PORT_TYPE_* of the entry */
	mach_port_urefs_t urefs; /* send or dead-name urefs; 0 for the others */
};

/* The rights pid's task holds, in name order: fills up to max, returns how many there are
 * (more than max when out was too short), or -1 if pid has no task. */
int machsim_rights(pid_t pid, struct machsim_right *out, int max);

/* The same as pid's task held them when its image started (the first Mach call of the image:
 * after exec, spawn or fork), before any constructor but libmachsim's ran. */
int machsim_start_rights(pid_t pid, struct machsim_right *out, int max);

/* From now on bootstrap_check_in in this task, and in every task created from it (spawn,
 * fork, exec), answers BOOTSTRAP_NOT_PRIVILEGED, as a sandbox that denies mach-register. */
void machsim_deny_register(bool deny);

/* This task's space holds at most limit names (0: no limit); past it a copyout finds no room
 * (KERN_NO_SPACE, MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE). */
void machsim_set_name_limit(uint32_t limit);

/* From now on fileport_alloc makes no port in this task, as when the kernel has no memory
 * for one: fileport_makeport answers EAGAIN. */
void machsim_fail_fileports(bool fail);

/* The pid version (audit token val[7]) of pid's current task, 0 if it has none. */
uint32_t machsim_pid_version(pid_t pid);

#endif
