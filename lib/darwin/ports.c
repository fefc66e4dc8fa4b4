/*
 * Port rights: who owns which right, per disposition. The same table as
 * Chromium's MachRendezvousPort::Destroy: a MOVE_* disposition means the
 * holder owns one reference of that right; COPY_SEND, MAKE_SEND and
 * MAKE_SEND_ONCE are made from the caller's right when the message is
 * sent, so their holder owns nothing. Shared by both directions: a list's
 * attachments (parent to child) and gives (child to parent).
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#include <unistd.h>

#include "ports.h"
#include "sdk.h"

void cph__port_release(mach_port_t port, mach_msg_type_name_t disposition)
{
    if (!MACH_PORT_VALID(port))
        return;
    switch (disposition) {
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        /* One user reference; the last send-once reference fires the
         * port's MACH_NOTIFY_SEND_ONCE (xnu-11417 ipc_right.c,
         * ipc_right_dealloc). */
        mach_port_deallocate(mach_task_self(), port);
        break;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        /* Destroys the port: its senders see a dead name (ipc_right.c,
         * ipc_right_delta, then ipc_port.c, ipc_port_destroy). */
        mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE,
                           -1);
        break;
    default:
        break;
    }
}

/* What the receiver gets for a disposition, and which right the sender
 * must hold for it (a MACH_PORT_TYPE_* bit). */
static int kind_of(mach_msg_type_name_t disposition, uint8_t *kind,
                   mach_port_type_t *needs)
{
    switch (disposition) {
    case MACH_MSG_TYPE_COPY_SEND:
    case MACH_MSG_TYPE_MOVE_SEND:
        *kind = CPH__KIND_SEND;
        *needs = MACH_PORT_TYPE_SEND;
        return 0;
    case MACH_MSG_TYPE_MAKE_SEND:
        *kind = CPH__KIND_SEND;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        *kind = CPH__KIND_SEND_ONCE;
        *needs = MACH_PORT_TYPE_SEND_ONCE;
        return 0;
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
        *kind = CPH__KIND_SEND_ONCE;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        *kind = CPH__KIND_RECEIVE;
        *needs = MACH_PORT_TYPE_RECEIVE;
        return 0;
    default:
        return EINVAL;
    }
}

/*
 * Whether xnu lets this receive right leave, and cph may destroy it.
 * xnu-11417 ipc_right.c, ipc_right_copyin (MACH_MSG_TYPE_MOVE_RECEIVE)
 * refuses a kernel object's port (an mk_timer's) and an immovable one
 * (MPO_IMMOVABLE_RECEIVE) with a fatal kGUARD_EXC_IMMOVABLE in the
 * sender: the parent's server thread, or the giving child. A guarded one
 * (MPO_CONTEXT_AS_GUARD, which immovability needs) moves, but cph's
 * destroying it unclaimed would raise kGUARD_EXC_DESTROY (ipc_right_delta).
 * mach_port_kobject answers for any receive right on release kernels
 * (ipc/mach_debug.c, mach_port_kobject_description: io_kotype, 0 for a
 * plain port); mach_port_get_attributes reports the guard
 * (ipc/mach_port.c, mach_port_get_status_helper). Reply ports are
 * refused the same way but cannot be told apart from here: spawn.h says
 * so.
 */
static bool receive_movable(mach_port_t port)
{
    mach_port_status_t status;
    mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;
    natural_t kotype = 0;
    mach_vm_address_t address = 0;

    if (mach_port_kobject(mach_task_self(), port, &kotype, &address) !=
            KERN_SUCCESS ||
        kotype != 0)
        return false;
    if (mach_port_get_attributes(mach_task_self(), port,
                                 MACH_PORT_RECEIVE_STATUS,
                                 (mach_port_info_t)&status,
                                 &count) != KERN_SUCCESS)
        return false;
    return !(status.mps_flags & (MACH_PORT_STATUS_FLAG_GUARDED |
                                 MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE));
}

int cph__port_handle(mach_port_t port, mach_msg_type_name_t disposition,
                     struct cph__handle *h)
{
    mach_port_type_t type, needs;

    /* mach_port_type: the name's MACH_PORT_TYPE_* bits, KERN_INVALID_NAME
     * for a name this task does not hold (ipc/mach_port.c,
     * mach_port_type). */
    if (!MACH_PORT_VALID(port) || kind_of(disposition, &h->kind, &needs) ||
        mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS ||
        !(type & needs))
        return EINVAL;
    if (disposition == MACH_MSG_TYPE_MOVE_RECEIVE && !receive_movable(port))
        return EINVAL;
    h->fd = -1;
    h->port = port;
    h->disposition = disposition;
    return 0;
}

bool cph__port_arrived(uint8_t kind, mach_msg_type_name_t got,
                       mach_msg_type_name_t *owns)
{
    switch (kind) {
    case CPH__KIND_FD:
    case CPH__KIND_SEND:
        *owns = MACH_MSG_TYPE_MOVE_SEND;
        return got == MACH_MSG_TYPE_PORT_SEND;
    case CPH__KIND_SEND_ONCE:
        *owns = MACH_MSG_TYPE_MOVE_SEND_ONCE;
        return got == MACH_MSG_TYPE_PORT_SEND_ONCE;
    case CPH__KIND_RECEIVE:
        *owns = MACH_MSG_TYPE_MOVE_RECEIVE;
        return got == MACH_MSG_TYPE_PORT_RECEIVE;
    default:
        return false;
    }
}

/* fileport_makeport's refusals, as cph_attachments_add_fd and
 * cph_child_give_fd document them. xnu-11417 bsd/kern/kern_descrip.c,
 * sys_fileport_makeport: EBADF for no fd, EINVAL for a kind that cannot
 * travel (fg_sendable), EAGAIN when no port could be made; an fd
 * guarded with GUARD_FILEPORT raises a guard exception instead. */
int cph__fileport_make(int fd, mach_port_t *port)
{
    if (fileport_makeport(fd, port) == 0)
        return 0;
    return errno == EBADF ? EBADF : errno == EAGAIN ? ENOMEM : EINVAL;
}

/* fileport_makefd takes the lowest free fd (xnu-11417 kern_descrip.c,
 * fileport_makefd: fdalloc(p, 0, ...)): with stdio closed that is 0, 1
 * or 2, which received fds must never be; such an fd moves up. It is
 * close-on-exec from xnu-11417 on (sys_fileport_makefd passes
 * FP_CLOEXEC), not before (xnu-7195's fileport_makefd sets no flag). */
int cph__fileport_open(mach_port_t port)
{
    int fd = fileport_makefd(port), moved, err;

    if (fd > STDERR_FILENO)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    err = errno;
    close(fd);
    errno = err;
    return moved;
}

/* Gives back what a received message holds: its rights, and its
 * out-of-line memory, which mach_msg_destroy leaves mapped when the
 * descriptor says deallocate FALSE. The receiver's descriptor says so
 * whenever the sender used MACH_MSG_PHYSICAL_COPY (xnu-11417
 * ipc_kmsg.c, ipc_kmsg_deflate_memory_descriptor: deallocate is copy ==
 * MACH_MSG_VIRTUAL_COPY), and libsyscall's mach_msg_destroy skips a
 * volatile one altogether; the memory is mapped in the receiver either
 * way. Descriptors are walked as mach_msg_destroy walks them. */
void cph__message_destroy(mach_msg_header_t *msg)
{
    if (msg->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
        mach_msg_base_t *base = (mach_msg_base_t *)msg;
        uint8_t *at = (uint8_t *)(base + 1);

        for (mach_msg_size_t i = 0; i < base->body.msgh_descriptor_count;
             i++) {
            mach_msg_descriptor_t *d = (mach_msg_descriptor_t *)at;

            switch (d->type.type) {
            case MACH_MSG_PORT_DESCRIPTOR:
                at += sizeof d->port;
                break;
            case MACH_MSG_GUARDED_PORT_DESCRIPTOR:
                at += sizeof d->guarded_port;
                break;
            case MACH_MSG_OOL_PORTS_DESCRIPTOR:
                at += sizeof d->ool_ports;
                break;
            case MACH_MSG_OOL_DESCRIPTOR:
            case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
                if (d->out_of_line.address && d->out_of_line.size)
                    vm_deallocate(mach_task_self(),
                                  (vm_address_t)d->out_of_line.address,
                                  d->out_of_line.size);
                d->out_of_line.address = NULL;
                d->out_of_line.size = 0;
                at += sizeof d->out_of_line;
                break;
            default:
                /* mach_msg_destroy stops making progress here too. */
                i = base->body.msgh_descriptor_count;
                break;
            }
        }
    }
    mach_msg_destroy(msg);
}
