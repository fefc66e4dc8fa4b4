/* machsim: Apple SDK <mach/task_info.h> (xnu-11417 osfmk/mach/task_info.h): the task_info
 * flavor the simulator answers, TASK_VM_INFO, laid out as xnu lays it out (revision 7). */
#ifndef _MACH_TASK_INFO_H_
#define _MACH_TASK_INFO_H_

#include <stdint.h>
#include <mach/machine/vm_types.h>
#include <mach/vm_types.h>

typedef natural_t task_flavor_t;
typedef integer_t *task_info_t;
#define TASK_INFO_MAX 1024
typedef integer_t task_info_data_t[TASK_INFO_MAX];

#define TASK_VM_INFO 22

struct task_vm_info {
	mach_vm_size_t virtual_size;
	integer_t region_count;
	integer_t page_size;
	mach_vm_size_t resident_size, resident_size_peak;
	mach_vm_size_t device, device_peak, internal, internal_peak, external, external_peak;
	mach_vm_size_t reusable, reusable_peak;
	mach_vm_size_t purgeable_volatile_pmap, purgeable_volatile_resident,
	    purgeable_volatile_virtual;
	mach_vm_size_t compressed, compressed_peak, compressed_lifetime;
	mach_vm_size_t phys_footprint;
	mach_vm_address_t min_address, max_address;
	int64_t ledger_phys_footprint_peak, ledger_purgeable_nonvolatile,
	    ledger_purgeable_novolatile_compressed, ledger_purgeable_volatile,
	    ledger_purgeable_volatile_compressed, ledger_tag_network_nonvolatile,
	    ledger_tag_network_nonvolatile_compressed, ledger_tag_network_volatile,
	    ledger_tag_network_volatile_compressed, ledger_tag_media_footprint,
	    ledger_tag_media_footprint_compressed, ledger_tag_media_nofootprint,
	    ledger_tag_media_nofootprint_compressed, ledger_tag_graphics_footprint,
	    ledger_tag_graphics_footprint_compressed, ledger_tag_graphics_nofootprint,
	    ledger_tag_graphics_nofootprint_compressed, ledger_tag_neural_footprint,
	    ledger_tag_neural_footprint_compressed, ledger_tag_neural_nofootprint,
	    ledger_tag_neural_nofootprint_compressed;
	uint64_t limit_bytes_remaining;
	integer_t decompressions;
	int64_t ledger_swapins;
	int64_t ledger_tag_neural_nofootprint_total, ledger_tag_neural_nofootprint_peak;
};
typedef struct task_vm_info task_vm_info_data_t;
typedef struct task_vm_info *task_vm_info_t;
#define TASK_VM_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(task_vm_info_data_t) / sizeof(natural_t)))

#endif
