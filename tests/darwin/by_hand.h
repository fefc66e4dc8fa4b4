/*
 * A give built by hand, laid out as libcph_child lays it out
 * (lib/darwin/give.h), with any message id: for the cases that play a
 * rogue giver. And a full port name space, for the cases that need a
 * receive to fail part-way.
 */
#ifndef CPH_TEST_BY_HAND_H
#define CPH_TEST_BY_HAND_H

#include <mach/mach.h>
#include <stddef.h>
#include <stdint.h>

/* Sends to give, without waiting, one descriptor (name, disposition)
 * under key, announced as a handle of kind, with a send-once right made
 * from reply in the header unless it is MACH_PORT_NULL; returns what
 * mach_msg did (a send refused for a full queue leaves no right). */
kern_return_t give_by_hand(mach_port_t give, mach_msg_id_t id, uint8_t kind,
                           const char *key, mach_port_t name,
                           mach_msg_type_name_t disposition,
                           mach_port_t reply);

/* New receive rights until this task's name space is full, then all but
 * keep of them released again: returns the rest (malloc'd, *n of them),
 * for free_space. */
mach_port_t *fill_space(size_t keep, size_t *n);
void free_space(mach_port_t *names, size_t n);

#endif
