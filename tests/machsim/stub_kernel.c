/* See stub_kernel.h. A port set's queue is an eventfd: readable while its
 * count is not 0. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "stub_kernel.h"

kern_return_t stub_create_kr;
int stub_create_calls;
pid_t stub_create_pid;
bool stub_create_ports_given;
struct machsim__spawn_ports stub_create_ports;

kern_return_t machsim__task_create_child(pid_t pid,
                                         const struct machsim__spawn_ports *o)
{
    stub_create_calls++;
    stub_create_pid = pid;
    stub_create_ports_given = o != NULL;
    if (o)
        stub_create_ports = *o;
    return stub_create_kr;
}

static struct {
    mach_port_t name;
    int fd;
} queues[16];

static int queue_fd(mach_port_t name)
{
    int i;

    for (i = 0; i < 16 && queues[i].name && queues[i].name != name; i++)
        ;
    if (i == 16)
        abort();
    if (!queues[i].name) {
        queues[i].name = name;
        queues[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    return queues[i].fd;
}

void stub_queue(mach_port_t name, int messages)
{
    uint64_t v;
    int fd = queue_fd(name);

    if (read(fd, &v, sizeof v) < 0)
        v = 0;
    v += (uint64_t)messages;
    if (v > 0 && write(fd, &v, sizeof v) != sizeof v)
        abort();
}

kern_return_t machsim__message_fd(mach_port_t name, int *fd)
{
    if (name == STUB_NO_NAME)
        return KERN_INVALID_NAME;
    if (name == STUB_SEND_RIGHT)
        return KERN_INVALID_RIGHT;
    *fd = fcntl(queue_fd(name), F_DUPFD_CLOEXEC, 0);
    return *fd < 0 ? KERN_FAILURE : KERN_SUCCESS;
}

_Noreturn void machsim__guard(const char *rule, const char *xnu_source)
{
    fprintf(stderr, "machsim: EXC_GUARD %s (xnu %s)\n", rule, xnu_source);
    abort();
}
