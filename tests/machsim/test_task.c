/* Rule tests of tasks (kernel/task.c): what a task starts with and inherits (xnu-11417
 * osfmk/kern/ipc_tt.c ipc_task_init), what its death does (task_terminate →
 * ipc_space_terminate), pid versions (bsd/kern/kern_exec.c proc_setpidversion). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <servers/bootstrap.h>

#include "rules.h"

static void wait_ok(pid_t pid)
{
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

/* libsystem's mach_init: mach_task_self_ and bootstrap_port are send rights */
Test(task, starts_with_self_and_bootstrap)
{
	cr_assert_eq(type_of(mach_task_self()), MACH_PORT_TYPE_SEND);
	cr_assert_eq(type_of(bootstrap_port), MACH_PORT_TYPE_SEND);
	mach_port_t b;
	cr_assert_eq(task_get_bootstrap_port(mach_task_self(), &b), 0);
	cr_assert_eq(b, bootstrap_port);
}

/* machsim_start_rights: what the space held when the image started, however it changed
 * since (the test API the helper children's rights check compares with) */
Test(task, start_rights_recorded)
{
	struct machsim_right r[16];
	int n = machsim_start_rights(getpid(), r, 16);
	rcv_port();
	cr_assert_eq(n, 2, "self and bootstrap, not %d rights", n);
	cr_assert_eq(r[0].name, mach_task_self());
	cr_assert_eq(r[1].name, bootstrap_port);
	cr_assert_eq(r[1].type, MACH_PORT_TYPE_SEND);
	cr_assert_eq(machsim_rights(getpid(), r, 16), 3);
	pid_t pid = fork();
	if (pid == 0) _exit(machsim_start_rights(getpid(), r, 16) == 2 ? 0 : 1);
	wait_ok(pid);
}

/* fork: ipc_task_init gives the child a new space: the parent's names mean nothing there */
Test(task, fork_child_has_new_space)
{
	mach_port_t p = rcv_port();
	pid_t pid = fork();
	if (pid == 0) _exit(type_of(p) == 0 && type_of(bootstrap_port) == MACH_PORT_TYPE_SEND ? 0 : 1);
	wait_ok(pid);
}

/* a new receive right with a send right, registered in slot 0 */
static mach_port_t registered_port(void)
{
	mach_port_t p = rcv_send_port();
	cr_assert_eq(mach_ports_register(mach_task_self(), &p, 1), 0);
	return p;
}

/* in a child: this task's registered ports, or exit status 1 */
static mach_port_t *lookup_or_exit(void)
{
	mach_port_array_t a;
	mach_msg_type_number_t n;
	if (mach_ports_lookup(mach_task_self(), &a, &n) || n != 3) _exit(1);
	return a;
}

/* ipc_task_init: registered ports are copied into a forked child's task */
Test(task, registered_ports_inherited)
{
	mach_port_t p = registered_port();
	pid_t pid = fork();
	if (pid == 0) {
		mach_port_t *a = lookup_or_exit();
		if (type_of(a[0]) != MACH_PORT_TYPE_SEND || a[1] != MACH_PORT_NULL) _exit(2);
		_exit(send_bare(a[0], MACH_MSG_TYPE_COPY_SEND, 0, 0, 77, 0, 0) ? 3 : 0);
	}
	wait_ok(pid);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 5000), 0);
	cr_assert_eq(r.h.msgh_id, 77);
	cr_assert_eq(trailer_of(&r)->msgh_audit.val[5], (unsigned)pid);
}

/* bsd/kern/kern_fork.c fork1 → cloneproc → task_create_internal → ipc_task_init: the child's
 * registered ports are the parent's as they were at fork(), whatever the parent registers
 * once fork() has returned in it */
Test(task, registered_ports_copied_at_fork)
{
	mach_port_t none[1] = {MACH_PORT_NULL};
	registered_port();
	pid_t pid = fork();
	if (pid == 0) _exit(type_of(lookup_or_exit()[0]) == MACH_PORT_TYPE_SEND ? 0 : 2);
	cr_assert_eq(mach_ports_register(mach_task_self(), none, 1), 0);
	wait_ok(pid);
}

/* _kernelrpc_mach_ports_lookup3 → ipc_port_copy_send_any: a registered port whose receive right
 * was destroyed since is looked up as MACH_PORT_DEAD */
Test(task, registered_port_dead)
{
	mach_port_t p = registered_port(), none[1] = {MACH_PORT_NULL};
	cr_assert_eq(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1), 0);
	mach_port_array_t a;
	mach_msg_type_number_t n;
	cr_assert_eq(mach_ports_lookup(mach_task_self(), &a, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(a[0], MACH_PORT_DEAD);
	cr_assert_eq(a[1], MACH_PORT_NULL);
	cr_assert_eq(mach_ports_register(mach_task_self(), none, 1), 0);
}

/* _kernelrpc_mach_ports_register3: at most TASK_PORT_REGISTER_MAX */
Test(task, register_too_many)
{
	mach_port_t set[4] = {0};
	cr_assert_eq(mach_ports_register(mach_task_self(), set, 4), KERN_INVALID_ARGUMENT);
}

static unsigned run_version(void)
{
	int p[2];
	char buf[32] = {0};
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(MACH_HELPER, "mach_helper", "version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	cr_assert_gt(read(p[0], buf, sizeof buf - 1), 0);
	close(p[0]);
	wait_ok(pid);
	return (unsigned)strtoul(buf, NULL, 10);
}

/* exec: a new task, a new pid version (audit token val[7]) */
Test(task, exec_changes_pid_version)
{
	unsigned mine = machsim_pid_version(getpid());
	unsigned a = run_version(), b = run_version();
	cr_assert_neq(a, 0);
	cr_assert_neq(a, mine);
	cr_assert_neq(a, b);
}

/* task_get/set_special_port: a replaced bootstrap port is what a forked child gets */
Test(task, special_port_inherited)
{
	mach_port_t p = rcv_send_port(), got;
	cr_assert_eq(task_set_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, p), 0);
	cr_assert_eq(task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &got), 0);
	cr_assert_eq(got, p);
	cr_assert_eq(task_set_special_port(mach_task_self(), TASK_KERNEL_PORT, p), KERN_NO_ACCESS);
	cr_assert_eq(task_get_special_port(mach_task_self(), 99, &got), KERN_INVALID_ARGUMENT);
	pid_t pid = fork();
	if (pid == 0) _exit(send_bare(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5, 0, 0) ? 1 : 0);
	wait_ok(pid);
	struct rmsg r;
	cr_assert_eq(recv_msg(p, &r, 5000), 0);
	cr_assert_eq(r.h.msgh_id, 5);
}

/* the sandbox switch: check-in refused with BOOTSTRAP_NOT_PRIVILEGED, here and in children */
Test(task, sandbox_denies_register)
{
	name_t name = "machsim.test.sandbox";
	mach_port_t p;
	machsim_deny_register(true);
	cr_assert_eq(bootstrap_check_in(bootstrap_port, name, &p), BOOTSTRAP_NOT_PRIVILEGED);
	pid_t pid = fork();
	if (pid == 0) _exit(bootstrap_check_in(bootstrap_port, name, &p) == BOOTSTRAP_NOT_PRIVILEGED ? 0 : 1);
	wait_ok(pid);
}
