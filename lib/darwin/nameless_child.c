/*
 * The nameless delivery, child side: the send right the parent put in
 * this task's registered ports (see nameless.c), taken and cleared so
 * that no task created from this one inherits it (xnu-11417
 * osfmk/kern/ipc_tt.c _kernelrpc_mach_ports_lookup3 and
 * _kernelrpc_mach_ports_register3, which replaces the three slots whole).
 */
#include <errno.h>
#include <mach/mach.h>

#include "../transport.h"

int cph__nameless_take(int slot, mach_port_t *port)
{
    mach_port_array_t ports = NULL;
    mach_msg_type_number_t n = 0;
    kern_return_t kr = mach_ports_lookup(mach_task_self(), &ports, &n);
    int err = 0;

    if (kr != KERN_SUCCESS)
        return EBADF;
    if ((mach_msg_type_number_t)slot >= n || ports[slot] == MACH_PORT_NULL) {
        err = EBADF;
    } else {
        *port = ports[slot];
        ports[slot] = MACH_PORT_NULL;
        if (mach_ports_register(mach_task_self(), ports, n) != KERN_SUCCESS) {
            if (MACH_PORT_VALID(*port))
                mach_port_deallocate(mach_task_self(), *port);
            err = EIO;
        } else if (*port == MACH_PORT_DEAD) {
            /* The parent died with the port's receive right (ipc_port.c
             * ipc_port_copy_send_any gives IP_DEAD for it, which the
             * lookup's reply names MACH_PORT_DEAD). */
            err = ECONNREFUSED;
        }
    }
    for (mach_msg_type_number_t i = 0; i < n; i++)
        if (MACH_PORT_VALID(ports[i]))
            mach_port_deallocate(mach_task_self(), ports[i]);
    vm_deallocate(mach_task_self(), (vm_address_t)ports, n * sizeof *ports);
    return err;
}
