/* A simulated program for test_task.c and test_bootstrap.c, run after an exec:
 *   mach_helper version         prints its pid version (audit token val[7])
 *   mach_helper checkin NAME    checks NAME in, prints "ok", waits on stdin's EOF
 *   mach_helper lookup NAME     prints bootstrap_look_up's result and the right's type */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include "machsim.h"

static int lookup(const char *name)
{
	name_t n = {0};
	mach_port_t p = MACH_PORT_NULL;
	mach_port_type_t t = 0;
	strncpy(n, name, sizeof n - 1);
	kern_return_t kr = bootstrap_look_up(bootstrap_port, n, &p);
	if (!kr && MACH_PORT_VALID(p)) mach_port_type(mach_task_self(), p, &t);
	printf("%d %#x\n", kr, t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "version")) {
		printf("%u\n", machsim_pid_version(getpid()));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "lookup")) return lookup(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "checkin")) {
		name_t n = {0};
		mach_port_t p;
		char c;
		strncpy(n, argv[2], sizeof n - 1);
		kern_return_t kr = bootstrap_check_in(bootstrap_port, n, &p);
		printf("%d\n", kr);
		fflush(stdout);
		while (read(0, &c, 1) > 0) {}
		return 0;
	}
	fprintf(stderr, "usage: mach_helper version|checkin NAME|lookup NAME\n");
	return 2;
}
