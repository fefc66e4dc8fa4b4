/*
 * The LeakSanitizer of ports (issue 16): a case ends with
 * holds_nothing_more(), which asserts that this process holds no right
 * but those it held when the case began (holds_before, the case's .init),
 * those the case made or took itself (holds_own), and cph's server's: its
 * port set and the receive rights in it, with no other right under their
 * names. Under the simulator only (machsim_rights); on a Mac, where
 * libSystem makes and drops rights of its own, both do nothing.
 */
#ifndef CPH_TEST_HOLDS_H
#define CPH_TEST_HOLDS_H

#include <mach/mach.h>

void holds_before(void);
void holds_own(mach_port_t name);
void holds_nothing_more(void);

#endif
