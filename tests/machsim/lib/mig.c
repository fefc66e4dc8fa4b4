/* What MIG-generated stubs call: the per-thread reply port (libsyscall/mach/mig_reply_port.c)
 * and NDR_record (libsyscall/mach/ndr.c). */
#include <mach/mach.h>
#include <mach/mig.h>

NDR_record_t NDR_record = {.int_rep = NDR_INT_LITTLE_ENDIAN};

static __thread mach_port_t reply_port;

mach_port_t mig_get_reply_port(void)
{
	if (reply_port == MACH_PORT_NULL &&
	    mach_port_allocate(mach_task_self_, MACH_PORT_RIGHT_RECEIVE, &reply_port))
		reply_port = MACH_PORT_NULL;
	return reply_port;
}

/* a reply port a stub gave up on (a timed-out or interrupted RPC) is destroyed */
void mig_dealloc_reply_port(mach_port_t port)
{
	(void)port;
	mach_port_t p = reply_port;
	reply_port = MACH_PORT_NULL;
	if (p != MACH_PORT_NULL) mach_port_mod_refs(mach_task_self_, p, MACH_PORT_RIGHT_RECEIVE, -1);
}

void mig_put_reply_port(mach_port_t port)
{
	(void)port;
}
