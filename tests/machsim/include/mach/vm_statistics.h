/* machsim: Apple SDK <mach/vm_statistics.h> (xnu-11417
 * osfmk/mach/vm_statistics.h): the vm_allocate flags. */
#ifndef _MACH_VM_STATISTICS_H_
#define _MACH_VM_STATISTICS_H_

#define VM_FLAGS_FIXED 0x00000000
#define VM_FLAGS_ANYWHERE 0x00000001
#define VM_FLAGS_PURGABLE 0x00000002
#define VM_FLAGS_OVERWRITE 0x00004000

#endif
