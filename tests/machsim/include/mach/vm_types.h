/* machsim: Apple SDK <mach/vm_types.h> (xnu-11417 osfmk/mach/vm_types.h),
 * the user-space half. */
#ifndef _MACH_VM_TYPES_H_
#define _MACH_VM_TYPES_H_

#include <stdint.h>
#include <mach/machine/vm_types.h>

typedef vm_offset_t pointer_t;
typedef vm_offset_t vm_address_t;

typedef uint64_t addr64_t;
typedef uint32_t reg64_t;
typedef uint32_t ppnum_t;
#define PPNUM_MAX UINT32_MAX

/* In user space the kernel objects are named by ports. */
typedef unsigned int vm_map_t, vm_map_read_t, vm_map_inspect_t;
typedef unsigned int upl_t;
typedef unsigned int vm_named_entry_t;

#define VM_MAP_NULL ((vm_map_t)0)
#define VM_MAP_INSPECT_NULL ((vm_map_inspect_t)0)
#define VM_MAP_READ_NULL ((vm_map_read_t)0)
#define UPL_NULL ((upl_t)0)
#define VM_NAMED_ENTRY_NULL ((vm_named_entry_t)0)

typedef uint64_t vm_object_offset_t;
typedef uint64_t vm_object_size_t;

#endif
