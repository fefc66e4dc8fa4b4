/*
 * Which fds the Mach transport can carry: those fileport_makeport takes.
 * xnu-11417 (bsd/kern/kern_descrip.c, sys_fileport_makeport and
 * fg_sendable) refuses with EINVAL every fd that is not a vnode, socket,
 * pipe, POSIX shared memory or netpolicy fd, and any fd confined with
 * F_SETCONFINED: kqueues and POSIX semaphores, for one. The probe makes a
 * fileport and releases it.
 *
 * An fd guarded against fileports (GUARD_FILEPORT) raises a guard
 * exception there instead, as it would in the reply.
 */
#include <errno.h>

#include "../transport.h"
#include "sdk.h"

int cph__fd_sendable(int fd)
{
    fileport_t port;

    if (fileport_makeport(fd, &port) != 0)
        return errno;
    mach_port_deallocate(mach_task_self(), port);
    return 0;
}
