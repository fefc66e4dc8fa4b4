/* task_info (osfmk/mach/task.defs; xnu-11417 osfmk/kern/task.c task_info): the TASK_VM_INFO
 * flavor for the caller's own task, from Linux's view of this process (/proc/self/statm):
 * virtual_size and resident_size are the process's; the rest is 0. Any other task or
 * flavor: KERN_INVALID_ARGUMENT (a guess: the simulator answers only what cph's tests ask). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mach/mach.h>

kern_return_t task_info(task_name_t target_task, task_flavor_t flavor, task_info_t out,
                        mach_msg_type_number_t *count)
{
	task_vm_info_data_t info;
	unsigned long pages = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f;

	if (target_task != mach_task_self() || flavor != TASK_VM_INFO)
		return KERN_INVALID_ARGUMENT;
	/* task_info: a caller's buffer smaller than the flavor's oldest revision */
	if (*count < TASK_VM_INFO_COUNT)
		return KERN_INVALID_ARGUMENT;
	f = fopen("/proc/self/statm", "re");
	if (!f)
		return KERN_RESOURCE_SHORTAGE;
	if (fscanf(f, "%lu %lu", &pages, &resident) != 2) {
		fclose(f);
		return KERN_RESOURCE_SHORTAGE;
	}
	fclose(f);
	memset(&info, 0, sizeof info);
	info.page_size = (integer_t)page;
	info.virtual_size = (mach_vm_size_t)pages * (mach_vm_size_t)page;
	info.resident_size = (mach_vm_size_t)resident * (mach_vm_size_t)page;
	info.phys_footprint = info.resident_size;
	memcpy(out, &info, sizeof info);
	*count = TASK_VM_INFO_COUNT;
	return KERN_SUCCESS;
}
