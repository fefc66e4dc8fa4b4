/* machsim: Apple SDK <mach/mk_timer.h> (xnu-11417 osfmk/mach/mk_timer.h):
 * a timer is a kernel-object port; its receive right never moves. */
#ifndef _MACH_MK_TIMER_H_
#define _MACH_MK_TIMER_H_

#include <mach/mach_time.h>
#include <mach/message.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_name_t mk_timer_create(void);
extern kern_return_t mk_timer_destroy(mach_port_name_t name);
extern kern_return_t mk_timer_arm(mach_port_name_t name,
    uint64_t expire_time);
extern kern_return_t mk_timer_cancel(mach_port_name_t name,
    uint64_t *result_time);

#define MK_TIMER_NORMAL (0)
#define MK_TIMER_CRITICAL (1)

extern kern_return_t mk_timer_arm_leeway(mach_port_name_t name,
    uint64_t mk_timer_flags, uint64_t mk_timer_expire_time,
    uint64_t mk_timer_leeway);

#pragma pack(push, 4)
typedef struct mk_timer_expire_msg {
    mach_msg_header_t header;
    uint64_t unused[3];
} mk_timer_expire_msg_t;
#pragma pack(pop)

#ifdef __cplusplus
}
#endif

#endif
