/*
 * mk_timer_create: a port whose receive right the caller holds but that
 * is a kernel object (IKOT_TIMER), so xnu refuses to move it. libSystem
 * exports it; zig's SDK has no <mach/mk_timer.h>.
 */
#ifndef CPH_TEST_TIMER_H
#define CPH_TEST_TIMER_H

#include <mach/mach.h>

#if __has_include(<mach/mk_timer.h>)
#include <mach/mk_timer.h>
#else
mach_port_name_t mk_timer_create(void);
kern_return_t mk_timer_destroy(mach_port_name_t name);
#endif

#endif
