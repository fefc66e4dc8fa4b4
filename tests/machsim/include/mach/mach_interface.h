/* machsim: Apple SDK <mach/mach_interface.h>: every MIG user interface the
 * SDK offers, those the simulator has. */
#ifndef _MACH_INTERFACE_H_
#define _MACH_INTERFACE_H_

#include <mach/mach_port.h>
#include <mach/task.h>
#include <mach/vm_map.h>

#endif
