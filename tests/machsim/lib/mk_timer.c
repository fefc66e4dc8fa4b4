/* mk_timer_create / mk_timer_destroy (osfmk/kern/mk_timer.c): a kobject port whose receive
 * right the caller holds and cannot move. Arming is not modelled. */
#include <mach/mach.h>
#include <mach/mk_timer.h>

#include "conn.h"

mach_port_name_t mk_timer_create(void)
{
	uint64_t name = 0;
	if (machsim__call_simple(MS_MK_TIMER_CREATE, 0, 0, 0, &name)) return MACH_PORT_NULL;
	return (mach_port_name_t)name;
}

kern_return_t mk_timer_destroy(mach_port_name_t name)
{
	return machsim__call_simple(MS_MK_TIMER_DESTROY, name, 0, 0, NULL);
}
