/* machsim: Apple SDK <mach/vm_map.h>, the user interface MIG generates from
 * xnu-11417 osfmk/mach/vm_map.defs: allocation in a task's address space
 * (the simulator models only the caller's own). */
#ifndef _vm_map_user_
#define _vm_map_user_

#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/mig_errors.h>
#include <mach/port.h>
#include <mach/std_types.h>
#include <mach/mig.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t vm_allocate(vm_map_t target_task, vm_address_t *address,
    vm_size_t size, int flags);
kern_return_t vm_deallocate(vm_map_t target_task, vm_address_t address,
    vm_size_t size);

#ifdef __cplusplus
}
#endif

#endif
