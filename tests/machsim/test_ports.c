/* Rule tests of the mach_port_* calls (kernel/calls.c): expectations from xnu-11417
 * osfmk/ipc/mach_port.c, ipc_right.c, ipc_entry.c and xnu's tests/mach_port_mod_refs.c,
 * tests/mach_port_insert_right.c. */
#include "rules.h"

/* mach_port_allocate_full: only receive, port set and dead name */
Test(ports, allocate_rights)
{
	mach_port_t p, s, d, x;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
	cr_assert_eq(type_of(p), MACH_PORT_TYPE_RECEIVE);
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	cr_assert_eq(type_of(s), MACH_PORT_TYPE_PORT_SET);
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	cr_assert_eq(type_of(d), MACH_PORT_TYPE_DEAD_NAME);
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_SEND, &x), KERN_INVALID_VALUE);
}

/* ipc_entry_alloc: a freed index comes back under a new generation */
Test(ports, freed_name_gets_new_generation)
{
	mach_port_t a = rcv_port();
	cr_assert_eq(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
	mach_port_t b = rcv_port();
	cr_assert_eq(MACH_PORT_INDEX(b), MACH_PORT_INDEX(a));
	cr_assert_neq(b, a);
	cr_assert_eq(mach_port_type(TASK, a, &(mach_port_type_t){0}), KERN_INVALID_NAME);
}

/* ipc_right_delta: a right the name does not hold is KERN_INVALID_RIGHT, a right number
 * out of range KERN_INVALID_VALUE (tests/mach_port_mod_refs.c) */
Test(ports, mod_refs_wrong_right)
{
	mach_port_t p = rcv_port(), s;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_PORT_SET, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_LABELH, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_NUMBER, -1), KERN_INVALID_VALUE);
	cr_assert_eq(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* mach_port_mod_refs: MACH_PORT_NULL holds no send right: nothing to do */
Test(ports, mod_refs_null_name)
{
	cr_assert_eq(mach_port_mod_refs(TASK, MACH_PORT_NULL, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
	cr_assert_eq(mach_port_mod_refs(TASK, MACH_PORT_DEAD, MACH_PORT_RIGHT_SEND_ONCE, -1),
	             KERN_SUCCESS);
	cr_assert_eq(mach_port_mod_refs(TASK, MACH_PORT_NULL, MACH_PORT_RIGHT_RECEIVE, -1),
	             KERN_INVALID_NAME);
}

/* ipc_right_delta: below zero is KERN_INVALID_VALUE; above MACH_PORT_UREFS_MAX clamps */
Test(ports, mod_refs_send_bounds)
{
	mach_port_t p = rcv_send_port();
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -2), KERN_INVALID_VALUE);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 1);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, MACH_PORT_UREFS_MAX),
	             KERN_SUCCESS);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX);
	cr_assert_eq(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), MACH_PORT_UREFS_MAX, "a pegged count stays");
}

/* tests/mach_port_insert_right.c */
Test(ports, insert_right_names)
{
	mach_port_t p = rcv_port(), q = rcv_port();
	cr_assert_eq(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
	cr_assert_eq(type_of(p), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
	cr_assert_eq(mach_port_insert_right(TASK, 123, p, MACH_MSG_TYPE_MAKE_SEND), KERN_FAILURE);
	cr_assert_eq(mach_port_insert_right(TASK, 122, p, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_VALUE);
	cr_assert_eq(mach_port_insert_right(TASK, p, q, MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
	cr_assert_eq(mach_port_insert_right(TASK, 0x7f03, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND),
	             KERN_INVALID_CAPABILITY);
}

/* mach_port_insert_right: the request's right is destroyed when the call fails: a moved
 * receive right dies (a send-once right to it becomes a dead name) */
Test(ports, insert_right_failure_destroys_moved_right)
{
	mach_port_t q = rcv_port(), other = rcv_port(), so;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, q, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t),
	             KERN_SUCCESS);
	cr_assert_eq(mach_port_insert_right(TASK, other, q, MACH_MSG_TYPE_MOVE_RECEIVE),
	             KERN_NAME_EXISTS);
	cr_assert_eq(type_of(q), 0);
	cr_assert_eq(type_of(so), MACH_PORT_TYPE_DEAD_NAME);
}

/* ipc_right_dealloc: a receive right alone is not deallocated */
Test(ports, deallocate_rules)
{
	mach_port_t p = rcv_port();
	cr_assert_eq(mach_port_deallocate(TASK, p), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_deallocate(TASK, MACH_PORT_NULL), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_deallocate(TASK, 0x7f03), KERN_INVALID_NAME);
	mach_port_t d;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
	cr_assert_eq(mach_port_deallocate(TASK, d), KERN_SUCCESS);
	cr_assert_eq(type_of(d), 0);
}

/* mach_port_get_status_helper */
Test(ports, receive_status)
{
	mach_port_t p = rcv_send_port(), so;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t),
	             KERN_SUCCESS);
	cr_assert_eq(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
	cr_assert_neq(so, p);
	cr_assert_eq(send_bare(p, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 0, 0), MACH_MSG_SUCCESS);
	mach_port_status_t s;
	mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
	cr_assert_eq(mach_port_get_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&s,
	                                      &n), KERN_SUCCESS);
	cr_assert_eq(s.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
	cr_assert_eq(s.mps_mscount, 1);
	cr_assert_eq(s.mps_srights, 1);
	cr_assert_eq(s.mps_sorights, 1);
	cr_assert_eq(s.mps_msgcount, 1);
	n = MACH_PORT_RECEIVE_STATUS_COUNT - 1;
	cr_assert_eq(mach_port_get_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&s,
	                                      &n), KERN_FAILURE);
	n = MACH_PORT_RECEIVE_STATUS_COUNT;
	cr_assert_eq(mach_port_get_attributes(TASK, so, MACH_PORT_RECEIVE_STATUS,
	                                      (mach_port_info_t)&s, &n), KERN_INVALID_RIGHT);
}

/* mach_port_set_attributes: MACH_PORT_LIMITS_INFO up to MACH_PORT_QLIMIT_MAX */
Test(ports, qlimit_bounds)
{
	mach_port_t p = rcv_port();
	mach_port_limits_t l = {MACH_PORT_QLIMIT_MAX + 1};
	cr_assert_eq(mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
	                                      MACH_PORT_LIMITS_INFO_COUNT), KERN_INVALID_VALUE);
	l.mpl_qlimit = MACH_PORT_QLIMIT_MAX;
	cr_assert_eq(mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
	                                      MACH_PORT_LIMITS_INFO_COUNT), KERN_SUCCESS);
	mach_msg_type_number_t n = MACH_PORT_LIMITS_INFO_COUNT;
	l.mpl_qlimit = 0;
	cr_assert_eq(mach_port_get_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
	                                      &n), KERN_SUCCESS);
	cr_assert_eq(l.mpl_qlimit, MACH_PORT_QLIMIT_MAX);
}

/* mach_port_construct: MPO_IMMOVABLE_RECEIVE with a guard shows in the status flags */
Test(ports, construct_immovable)
{
	mach_port_options_t o = {.flags = MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE |
	                                  MPO_INSERT_SEND_RIGHT};
	mach_port_t p;
	cr_assert_eq(mach_port_construct(TASK, &o, 0x1234, &p), KERN_SUCCESS);
	cr_assert_eq(type_of(p), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
	mach_port_status_t s;
	mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
	cr_assert_eq(mach_port_get_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&s,
	                                      &n), KERN_SUCCESS);
	cr_assert(s.mps_flags & MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
	cr_assert(s.mps_flags & MACH_PORT_STATUS_FLAG_GUARDED);
	cr_assert_eq(mach_port_destruct(TASK, p, -1, 0x1234), KERN_SUCCESS);
	cr_assert_eq(type_of(p), 0);
}

/* mach_port_construct: at most one reply-port kind, qlimit ≤ MACH_PORT_QLIMIT_MAX */
Test(ports, construct_refusals)
{
	mach_port_t p;
	mach_port_options_t o = {.flags = MPO_REPLY_PORT | MPO_PROVISIONAL_REPLY_PORT};
	cr_assert_eq(mach_port_construct(TASK, &o, 0, &p), KERN_INVALID_ARGUMENT);
	o = (mach_port_options_t){.flags = MPO_QLIMIT, .mpl = {MACH_PORT_QLIMIT_MAX + 1}};
	cr_assert_eq(mach_port_construct(TASK, &o, 0, &p), KERN_INVALID_VALUE);
}

/* ipc_pset_add / ipc_pset_remove */
Test(ports, set_membership)
{
	mach_port_t p = rcv_port(), s;
	cr_assert_eq(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
	cr_assert_eq(mach_port_insert_member(TASK, p, s), KERN_SUCCESS);
	cr_assert_eq(mach_port_insert_member(TASK, p, s), KERN_ALREADY_IN_SET);
	cr_assert_eq(mach_port_insert_member(TASK, s, p), KERN_INVALID_RIGHT);
	cr_assert_eq(mach_port_extract_member(TASK, p, s), KERN_SUCCESS);
	cr_assert_eq(mach_port_extract_member(TASK, p, s), KERN_NOT_IN_SET);
}

/* mach_port_type: MACH_PORT_DEAD is a dead name, MACH_PORT_NULL no name */
Test(ports, type_of_reserved_names)
{
	mach_port_type_t t;
	cr_assert_eq(mach_port_type(TASK, MACH_PORT_DEAD, &t), KERN_SUCCESS);
	cr_assert_eq(t, MACH_PORT_TYPE_DEAD_NAME);
	cr_assert_eq(mach_port_type(TASK, MACH_PORT_NULL, &t), KERN_INVALID_NAME);
}

/* mach_port_names: every name with its type */
Test(ports, names_lists_rights)
{
	mach_port_t p = rcv_port();
	mach_port_name_array_t names;
	mach_port_type_array_t types;
	mach_msg_type_number_t nn, nt;
	cr_assert_eq(mach_port_names(TASK, &names, &nn, &types, &nt), KERN_SUCCESS);
	cr_assert_eq(nn, nt);
	bool found = false;
	for (mach_msg_type_number_t i = 0; i < nn; i++)
		if (names[i] == p) found = types[i] == MACH_PORT_TYPE_RECEIVE;
	cr_assert(found);
	vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names);
	vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types);
}

/* mach_port_extract_right / copyout: a send right joins the receive right's name */
Test(ports, extract_send_joins_name)
{
	mach_port_t p = rcv_port(), s;
	mach_msg_type_name_t t;
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND, &s, &t), KERN_SUCCESS);
	cr_assert_eq(s, p);
	cr_assert_eq(t, MACH_MSG_TYPE_PORT_SEND);
	cr_assert_eq(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND, &s, &t), KERN_SUCCESS);
	cr_assert_eq(refs_of(p, MACH_PORT_RIGHT_SEND), 2);
}

/* a task argument that is not the caller's task port fails the MIG send */
Test(ports, bad_task_argument)
{
	mach_port_t p;
	cr_assert_eq(mach_port_allocate(0x7f03, MACH_PORT_RIGHT_RECEIVE, &p), MACH_SEND_INVALID_DEST);
}
