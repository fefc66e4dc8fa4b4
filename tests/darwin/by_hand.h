/*
 * A give built by hand, laid out as libcph_child lays it out
 * (lib/darwin/give.h), with any message id: for the cases that play a
 * rogue giver.
 */
#ifndef CPH_TEST_BY_HAND_H
#define CPH_TEST_BY_HAND_H

#include <mach/mach.h>
#include <stdint.h>

/* Sends to give, without waiting, one descriptor (name, disposition)
 * under key, announced as a handle of kind; returns what mach_msg did. */
kern_return_t give_by_hand(mach_port_t give, mach_msg_id_t id, uint8_t kind,
                           const char *key, mach_port_t name,
                           mach_msg_type_name_t disposition);

#endif
