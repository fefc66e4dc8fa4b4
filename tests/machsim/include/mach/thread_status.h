/* machsim: Apple SDK <mach/thread_status.h> (xnu-11417
 * osfmk/mach/thread_status.h): only the flavor types; the simulator has
 * no thread states. */
#ifndef _MACH_THREAD_STATUS_H_
#define _MACH_THREAD_STATUS_H_

#include <mach/machine/vm_types.h>

typedef natural_t *thread_state_t;
typedef int thread_state_flavor_t;
typedef thread_state_flavor_t *thread_state_flavor_array_t;

#define THREAD_STATE_FLAVOR_LIST 0
#define THREAD_STATE_NONE 13 /* x86 */

#endif
