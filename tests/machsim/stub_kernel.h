/* A stand-in for the kernel side of internal.h, for the process layer's rule
 * tests: they test spawn and kqueue rules that need no Mach, and see what the
 * process layer asks of the kernel. Linked into test_spawn and test_kqueue
 * only (never into libmachsim). */
#ifndef MACHSIM_STUB_KERNEL_H
#define MACHSIM_STUB_KERNEL_H

#include "lib/internal.h"

/* machsim__task_create_child: what it answers, and what it was last asked. */
extern kern_return_t stub_create_kr;
extern int stub_create_calls;
extern pid_t stub_create_pid;
extern bool stub_create_ports_given;
extern struct machsim__spawn_ports stub_create_ports;

/* machsim__message_fd: STUB_NO_NAME is no right (KERN_INVALID_NAME),
 * STUB_SEND_RIGHT a send right (KERN_INVALID_RIGHT); any other name is a port
 * set whose queue the test fills and drains with stub_queue. */
#define STUB_NO_NAME 0x999
#define STUB_SEND_RIGHT 0x998
void stub_queue(mach_port_t name, int messages);

#endif
