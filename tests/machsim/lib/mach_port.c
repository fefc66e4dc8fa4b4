/* The mach_port_* calls (osfmk/mach/mach_port.defs): each an RPC to machsim-kernel, whose
 * kernel/calls.c decides as xnu's osfmk/ipc/mach_port.c does. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include <mach/mach.h>

#include "conn.h"

static kern_return_t call(uint32_t op, ipc_space_t task, uint64_t a0, uint64_t a1, uint64_t a2,
                          uint64_t a3, uint64_t a4, struct machsim__answer *a)
{
	struct ms_req q = {.op = op, .a = {a0, a1, a2, a3, a4, 0, task}};
	return machsim__call(&q, NULL, NULL, 0, a);
}

static kern_return_t call0(uint32_t op, ipc_space_t task, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct machsim__answer a = {0};
	return call(op, task, a0, a1, a2, 0, 0, &a);
}

static kern_return_t call1(uint32_t op, ipc_space_t task, uint64_t a0, uint64_t a1, uint64_t a2,
                           uint64_t *v0)
{
	struct machsim__answer a = {0};
	kern_return_t kr = call(op, task, a0, a1, a2, 0, 0, &a);
	if (!kr) *v0 = a.rep.v[0];
	return kr;
}

kern_return_t mach_port_allocate(ipc_space_t task, mach_port_right_t right, mach_port_name_t *name)
{
	uint64_t v = 0;
	kern_return_t kr = call1(MS_PORT_ALLOCATE, task, right, 0, 0, &v);
	*name = (mach_port_name_t)v;
	return kr;
}

kern_return_t mach_port_allocate_name(ipc_space_t task, mach_port_right_t right,
                                      mach_port_name_t name)
{
	return call0(MS_PORT_ALLOCATE, task, right, name ? name : MACH_PORT_DEAD, 0);
}

kern_return_t mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options,
                                  mach_port_context_t context, mach_port_name_t *name)
{
	uint64_t v = 0;
	kern_return_t kr = call1(MS_PORT_CONSTRUCT, task, options->flags, options->mpl.mpl_qlimit,
	                         context, &v);
	if (!kr) *name = (mach_port_name_t)v;
	return kr;
}

kern_return_t mach_port_destruct(ipc_space_t task, mach_port_name_t name, mach_port_delta_t srdelta,
                                 mach_port_context_t guard)
{
	return call0(MS_PORT_DESTRUCT, task, name, (uint64_t)(int64_t)srdelta, guard);
}

kern_return_t mach_port_deallocate(ipc_space_t task, mach_port_name_t name)
{
	return call0(MS_PORT_DEALLOCATE, task, name, 0, 0);
}

kern_return_t mach_port_mod_refs(ipc_space_t task, mach_port_name_t name, mach_port_right_t right,
                                 mach_port_delta_t delta)
{
	return call0(MS_PORT_MOD_REFS, task, name, right, (uint64_t)(int64_t)delta);
}

kern_return_t mach_port_get_refs(ipc_space_t task, mach_port_name_t name, mach_port_right_t right,
                                 mach_port_urefs_t *refs)
{
	uint64_t v = 0;
	kern_return_t kr = call1(MS_PORT_GET_REFS, task, name, right, 0, &v);
	if (!kr) *refs = (mach_port_urefs_t)v;
	return kr;
}

kern_return_t mach_port_type(ipc_space_t task, mach_port_name_t name, mach_port_type_t *ptype)
{
	uint64_t v = 0;
	kern_return_t kr = call1(MS_PORT_TYPE, task, name, 0, 0, &v);
	if (!kr) *ptype = (mach_port_type_t)v;
	return kr;
}

/* the two arrays come back as fresh memory (vm_allocate'd by MIG's out-of-line reply) */
kern_return_t mach_port_names(ipc_space_t task, mach_port_name_array_t *names,
                              mach_msg_type_number_t *namesCnt, mach_port_type_array_t *types,
                              mach_msg_type_number_t *typesCnt)
{
	static __thread uint32_t buf[2 * 16384];
	struct machsim__answer a = {.buf = buf, .cap = sizeof buf};
	kern_return_t kr = call(MS_PORT_NAMES, task, 0, 0, 0, 0, 0, &a);
	if (kr) return kr;
	uint32_t n = (uint32_t)a.rep.v[0];
	size_t size = n ? n * sizeof(uint32_t) : 1;
	void *pn = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *pt = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pn == MAP_FAILED || pt == MAP_FAILED) return KERN_RESOURCE_SHORTAGE;
	memcpy(pn, buf, n * sizeof(uint32_t));
	memcpy(pt, buf + n, n * sizeof(uint32_t));
	*names = pn;
	*types = pt;
	*namesCnt = *typesCnt = n;
	return KERN_SUCCESS;
}

kern_return_t mach_port_insert_right(ipc_space_t task, mach_port_name_t name, mach_port_t poly,
                                     mach_msg_type_name_t polyPoly)
{
	return call0(MS_PORT_INSERT_RIGHT, task, name, poly, polyPoly);
}

kern_return_t mach_port_extract_right(ipc_space_t task, mach_port_name_t name,
                                      mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                      mach_msg_type_name_t *polyPoly)
{
	struct machsim__answer a = {0};
	kern_return_t kr = call(MS_PORT_EXTRACT_RIGHT, task, name, msgt_name, 0, 0, 0, &a);
	if (!kr) {
		*poly = (mach_port_t)a.rep.v[0];
		*polyPoly = (mach_msg_type_name_t)a.rep.v[1];
	}
	return kr;
}

kern_return_t mach_port_get_attributes(ipc_space_read_t task, mach_port_name_t name,
                                       mach_port_flavor_t flavor, mach_port_info_t port_info_out,
                                       mach_msg_type_number_t *port_info_outCnt)
{
	int info[64];
	struct machsim__answer a = {.buf = info, .cap = sizeof info};
	kern_return_t kr = call(MS_PORT_GET_ATTRIBUTES, task, name, (uint64_t)flavor,
	                        *port_info_outCnt, 0, 0, &a);
	if (kr) return kr;
	*port_info_outCnt = (mach_msg_type_number_t)a.rep.v[0];
	memcpy(port_info_out, info, *port_info_outCnt * sizeof(int));
	return kr;
}

kern_return_t mach_port_set_attributes(ipc_space_t task, mach_port_name_t name,
                                       mach_port_flavor_t flavor, mach_port_info_t port_info,
                                       mach_msg_type_number_t port_infoCnt)
{
	struct ms_req q = {.op = MS_PORT_SET_ATTRIBUTES,
	                   .n = port_infoCnt * (uint32_t)sizeof(int),
	                   .a = {name, (uint64_t)flavor, 0, 0, 0, 0, task}};
	struct machsim__answer a = {0};
	if (port_infoCnt > 32) return MIG_ARRAY_TOO_LARGE;
	return machsim__call(&q, port_info, NULL, 0, &a);
}

kern_return_t mach_port_insert_member(ipc_space_t task, mach_port_name_t name,
                                      mach_port_name_t pset)
{
	return call0(MS_PORT_INSERT_MEMBER, task, name, pset, 0);
}

kern_return_t mach_port_extract_member(ipc_space_t task, mach_port_name_t name,
                                       mach_port_name_t pset)
{
	return call0(MS_PORT_EXTRACT_MEMBER, task, name, pset, 0);
}

kern_return_t mach_port_request_notification(ipc_space_t task, mach_port_name_t name,
                                             mach_msg_id_t msgid, mach_port_mscount_t sync,
                                             mach_port_t notify, mach_msg_type_name_t notifyPoly,
                                             mach_port_t *previous)
{
	struct machsim__answer a = {0};
	kern_return_t kr = call(MS_PORT_REQUEST_NOTIFICATION, task, name, (uint32_t)msgid, sync,
	                        notify, notifyPoly, &a);
	if (!kr) *previous = (mach_port_t)a.rep.v[0];
	return kr;
}

kern_return_t mach_port_kobject(ipc_space_read_t task, mach_port_name_t name,
                                natural_t *object_type, mach_vm_address_t *object_addr)
{
	uint64_t v = 0;
	kern_return_t kr = call1(MS_PORT_KOBJECT, task, name, 0, 0, &v);
	if (!kr) {
		*object_type = (natural_t)v;
		*object_addr = 0;
	}
	return kr;
}
