/* machsim: Apple SDK <mach/mach_init.h> (xnu-11417
 * libsyscall/mach/mach/mach_init.h): the task's own port, cached at
 * start-up, and the bootstrap port. */
#ifndef _MACH_INIT_
#define _MACH_INIT_ 1

#include <stdarg.h>
#include <mach/mach_types.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_t mach_host_self(void);
extern mach_port_t mach_thread_self(void);
extern boolean_t mach_task_is_self(task_name_t task);
extern kern_return_t host_page_size(host_t, vm_size_t *);

extern mach_port_t mach_task_self_;
#define mach_task_self() mach_task_self_
#define current_task() mach_task_self()

#ifdef __cplusplus
}
#endif

#include <mach/mach_traps.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_t bootstrap_port;

/* Slots of mach_ports_register's array, by convention. */
#define NAME_SERVER_SLOT 0
#define ENVIRONMENT_SLOT 1
#define SERVICE_SLOT 2
#define MACH_PORTS_SLOTS_USED 3

#ifdef __cplusplus
}
#endif

#endif
