/* machsim: Apple SDK <mach/machine/kern_return.h> (xnu-11417
 * osfmk/mach/i386/kern_return.h). */
#ifndef _MACH_MACHINE_KERN_RETURN_H_
#define _MACH_MACHINE_KERN_RETURN_H_

typedef int kern_return_t;

#endif
