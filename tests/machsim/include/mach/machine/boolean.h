/* machsim: Apple SDK <mach/machine/boolean.h> (xnu-11417 osfmk/mach/i386/boolean.h):
 * user space on x86_64 sees boolean_t as unsigned int. */
#ifndef _MACH_MACHINE_BOOLEAN_H_
#define _MACH_MACHINE_BOOLEAN_H_

#if defined(__x86_64__) || defined(__LP64__)
typedef unsigned int boolean_t;
#else
typedef int boolean_t;
#endif

#endif
