/*
 * Which fds the Mach transport can carry: those fileport_makeport takes.
 * xnu-11417 (bsd/kern/kern_descrip.c, sys_fileport_makeport and
 * fg_sendable) refuses with EINVAL every fd that is not a vnode, socket,
 * pipe, POSIX shared memory or netpolicy fd, and any fd confined with
 * F_SETCONFINED: kqueues and POSIX semaphores, for one. The probe makes a
 * fileport and releases it (cph__fileport_make sorts its errno).
 *
 * An fd guarded against fileports (GUARD_FILEPORT) raises a guard
 * exception there instead, as it would in the reply.
 */
#include <errno.h>

#include "../transport.h"
#include "ports.h"

int cph__fd_sendable(int fd)
{
    mach_port_t port;
    int err = cph__fileport_make(fd, &port);

    /* A fileport is a send right of our own (kern_descrip.c,
     * sys_fileport_makeport: ipc_misc.c fileport_alloc makes the port
     * with a send right, copied out to us). */
    if (!err)
        mach_port_deallocate(mach_task_self(), port);
    return err;
}

/* macOS has no pidfd: a kqueue's EVFILT_PROC watches a pid there. */
int cph__exit_fd(pid_t pid, int *fd)
{
    (void)pid;
    (void)fd;
    return ENOTSUP;
}
