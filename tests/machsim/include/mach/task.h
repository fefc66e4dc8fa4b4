/* machsim: Apple SDK <mach/task.h>, the user interface MIG generates from
 * xnu-11417 osfmk/mach/task.defs: the calls the simulator models. */
#ifndef _task_user_
#define _task_user_

#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/notify.h>
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/mig_errors.h>
#include <mach/port.h>
#include <mach/std_types.h>
#include <mach/mig.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t task_terminate(task_t target_task);
kern_return_t task_info(task_name_t target_task, task_flavor_t flavor,
    task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt);
kern_return_t mach_ports_register(task_t target_task,
    mach_port_array_t init_port_set,
    mach_msg_type_number_t init_port_setCnt);
kern_return_t mach_ports_lookup(task_t target_task,
    mach_port_array_t *init_port_set,
    mach_msg_type_number_t *init_port_setCnt);
kern_return_t task_get_special_port(task_inspect_t task, int which_port,
    mach_port_t *special_port);
kern_return_t task_set_special_port(task_t task, int which_port,
    mach_port_t special_port);
kern_return_t task_get_exception_ports(task_t task,
    exception_mask_t exception_mask, exception_mask_array_t masks,
    mach_msg_type_number_t *masksCnt, exception_handler_array_t old_handlers,
    exception_behavior_array_t old_behaviors,
    exception_flavor_array_t old_flavors);
kern_return_t task_set_exception_ports(task_t task,
    exception_mask_t exception_mask, mach_port_t new_port,
    exception_behavior_t behavior, thread_state_flavor_t new_flavor);

#ifdef __cplusplus
}
#endif

#endif
