/* vm_allocate / vm_deallocate on the caller's own map: real anonymous mappings (osfmk/vm
 * vm_user.c mach_vm_allocate_external: zero-filled, page-rounded; VM_FLAGS_ANYWHERE). */
#include <sys/mman.h>
#include <unistd.h>

#include <mach/mach.h>

static vm_size_t round_page_(vm_size_t size)
{
	vm_size_t page = (vm_size_t)sysconf(_SC_PAGESIZE);
	return (size + page - 1) & ~(page - 1);
}

kern_return_t vm_allocate(vm_map_t target_task, vm_address_t *address, vm_size_t size, int flags)
{
	if (target_task != mach_task_self_) return KERN_INVALID_ARGUMENT;
	if (!size) {
		*address = 0;
		return KERN_SUCCESS;
	}
	void *hint = flags & VM_FLAGS_ANYWHERE ? NULL : (void *)*address;
	void *p = mmap(hint, round_page_(size), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (p == MAP_FAILED) return hint ? KERN_NO_SPACE : KERN_RESOURCE_SHORTAGE;
	*address = (vm_address_t)p;
	return KERN_SUCCESS;
}

kern_return_t vm_deallocate(vm_map_t target_task, vm_address_t address, vm_size_t size)
{
	if (target_task != mach_task_self_) return KERN_INVALID_ARGUMENT;
	if (!size) return KERN_SUCCESS;
	vm_size_t page = (vm_size_t)sysconf(_SC_PAGESIZE);
	vm_address_t start = address & ~(page - 1);
	if (munmap((void *)start, round_page_(address + size - start))) return KERN_INVALID_ADDRESS;
	return KERN_SUCCESS;
}

void mig_allocate(vm_address_t *addr, vm_size_t size)
{
	if (vm_allocate(mach_task_self_, addr, size, VM_FLAGS_ANYWHERE)) *addr = 0;
}

void mig_deallocate(vm_address_t addr, vm_size_t size)
{
	vm_deallocate(mach_task_self_, addr, size);
}
