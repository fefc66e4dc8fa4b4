/* bootstrap_check_in / bootstrap_look_up: RPCs to the launchd stand-in in machsim-kernel
 * (kernel/task.c check_in, look_up). */
#include <string.h>

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include "conn.h"

static kern_return_t service_call(uint32_t op, mach_port_t bp, const char *name, mach_port_t *sp)
{
	struct ms_req q = {.op = op, .n = (uint32_t)strnlen(name, BOOTSTRAP_MAX_NAME_LEN),
	                   .a = {bp}};
	struct machsim__answer a = {0};
	kern_return_t kr = machsim__call(&q, name, NULL, 0, &a);
	if (!kr) *sp = (mach_port_t)a.rep.v[0];
	return kr;
}

kern_return_t bootstrap_check_in(mach_port_t bp, const name_t service_name, mach_port_t *sp)
{
	return service_call(MS_BOOTSTRAP_CHECK_IN, bp, service_name, sp);
}

kern_return_t bootstrap_look_up(mach_port_t bp, const name_t service_name, mach_port_t *sp)
{
	return service_call(MS_BOOTSTRAP_LOOK_UP, bp, service_name, sp);
}
