/* Rule tests of the launchd stand-in (kernel/task.c check_in, look_up). launchd's source is
 * not public: the expectations are bootstrap.h's documented errors and what Chromium and
 * Crashpad rely on (each a documented guess in README.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <servers/bootstrap.h>

#include "rules.h"

static void unique(name_t name, const char *what)
{
	memset(name, 0, sizeof(name_t));
	snprintf(name, sizeof(name_t), "machsim.test.%s.%d", what, (int)getpid());
}

Test(bootstrap, check_in_gives_receive_look_up_send)
{
	name_t name;
	mach_port_t r, s;
	unique(name, "basic");
	cr_assert_eq(bootstrap_check_in(bootstrap_port, name, &r), 0);
	cr_assert_eq(type_of(r), MACH_PORT_TYPE_RECEIVE);
	cr_assert_eq(bootstrap_look_up(bootstrap_port, name, &s), 0);
	cr_assert_eq(s, r, "the send right joins the receive right's name");
	cr_assert_eq(type_of(r), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
}

Test(bootstrap, check_in_twice_is_active)
{
	name_t name;
	mach_port_t r;
	unique(name, "twice");
	cr_assert_eq(bootstrap_check_in(bootstrap_port, name, &r), 0);
	cr_assert_eq(bootstrap_check_in(bootstrap_port, name, &r), BOOTSTRAP_SERVICE_ACTIVE);
}

Test(bootstrap, unknown_name)
{
	name_t name;
	mach_port_t s;
	unique(name, "unknown");
	cr_assert_eq(bootstrap_look_up(bootstrap_port, name, &s), BOOTSTRAP_UNKNOWN_SERVICE);
}

/* names outlive their owner: a look-up after the owner died finds MACH_PORT_DEAD, a new
 * check-in finds the name in use */
Test(bootstrap, name_outlives_owner)
{
	name_t name;
	mach_port_t s;
	unique(name, "outlive");
	pid_t pid = fork();
	if (pid == 0) _exit(bootstrap_check_in(bootstrap_port, name, &s) ? 1 : 0);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(st, 0);
	kern_return_t kr = KERN_SUCCESS;
	for (int i = 0; i < 500; i++) { /* the kernel sees the death through a pidfd */
		kr = bootstrap_look_up(bootstrap_port, name, &s);
		if (kr || s == MACH_PORT_DEAD) break;
		mach_port_deallocate(TASK, s);
		usleep(10000);
	}
	cr_assert_eq(kr, 0);
	cr_assert_eq(s, MACH_PORT_DEAD);
	cr_assert_eq(bootstrap_check_in(bootstrap_port, name, &s), BOOTSTRAP_NAME_IN_USE);
}

/* names of BOOTSTRAP_MAX_NAME_LEN bytes or more are cut to 127 */
Test(bootstrap, long_names_truncated)
{
	name_t a, b;
	mach_port_t r, s;
	memset(a, 'a', sizeof a);
	snprintf(a, 20, "machsim.%d.", (int)getpid());
	a[strlen(a)] = 'a';
	memcpy(b, a, sizeof b);
	b[127] = 0;
	a[127] = 'x'; /* no terminator within 128 bytes */
	cr_assert_eq(bootstrap_check_in(bootstrap_port, a, &r), 0);
	cr_assert_eq(bootstrap_look_up(bootstrap_port, b, &s), 0);
	cr_assert_eq(s, r);
}

/* the bootstrap calls go to the bootstrap port: anything else fails the send */
Test(bootstrap, not_a_bootstrap_port)
{
	name_t name;
	mach_port_t s, p = rcv_send_port();
	unique(name, "notbs");
	cr_assert_eq(bootstrap_look_up(p, name, &s), MACH_SEND_INVALID_DEST);
}
