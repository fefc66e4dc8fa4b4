/* machsim: Apple SDK <mach/mach_traps.h> (xnu-11417
 * osfmk/mach/mach_traps.h): the traps a task may call directly, those the
 * simulator has a meaning for. */
#ifndef _MACH_MACH_TRAPS_H_
#define _MACH_MACH_TRAPS_H_

#include <stdint.h>
#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/kern_return.h>
#include <mach/port.h>
#include <mach/message.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_name_t mach_reply_port(void);
extern mach_port_name_t thread_get_special_reply_port(void);
extern mach_port_name_t thread_self_trap(void);
extern mach_port_name_t host_self_trap(void);
extern mach_port_name_t task_self_trap(void);

extern mach_msg_return_t mach_msg_trap(mach_msg_header_t *msg,
    mach_msg_option_t option, mach_msg_size_t send_size,
    mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
    mach_msg_timeout_t timeout, mach_port_name_t notify);

extern mach_msg_return_t mach_msg_overwrite_trap(mach_msg_header_t *msg,
    mach_msg_option_t option, mach_msg_size_t send_size,
    mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
    mach_msg_timeout_t timeout, mach_msg_priority_t priority,
    mach_msg_header_t *rcv_msg, mach_msg_size_t rcv_limit);

extern kern_return_t task_for_pid(mach_port_name_t target_tport, int pid,
    mach_port_name_t *t);
extern kern_return_t task_name_for_pid(mach_port_name_t target_tport,
    int pid, mach_port_name_t *tn);
extern kern_return_t pid_for_task(mach_port_name_t t, int *x);

#ifdef __cplusplus
}
#endif

#endif
