/*
 * The nameless delivery, parent side. Per spawn, a port whose receive
 * right sits in the server's port set (server.c): no bootstrap name, no
 * token. The child gets a send right to it in one of its registered
 * ports, which every task created from a task inherits (xnu-11417
 * osfmk/kern/ipc_tt.c ipc_task_init copies itk_registered, for
 * posix_spawn's and fork's new task alike; exec keeps them with the
 * task) and reads with mach_ports_lookup (ipc_tt.c
 * _kernelrpc_mach_ports_lookup3).
 *
 * Only the spawned task may find it there:
 *  - attrp NULL: cph's own attributes set the child's registered ports
 *    for this spawn alone (libsyscall posix_spawn.c
 *    posix_spawnattr_set_registered_ports_np, PSPA_REGISTERED_PORTS;
 *    bsd/kern/kern_exec.c exec_handle_port_actions copies each name in
 *    as a send right, exec_handle_spawnattr_policy hands the three to
 *    _kernelrpc_mach_ports_register3 for the new task). The child's set
 *    is replaced whole, so it is this process's own set with the port in
 *    a free slot. The function is private (spawn_private.h, not in the
 *    SDK) and came with xnu-6153 (macOS 10.15): looked up at run time;
 *    where it is missing, as below.
 *  - attrp given (Apple's attributes are opaque and cannot be copied):
 *    the port is registered on this task itself (mach_ports_register,
 *    ipc_tt.c _kernelrpc_mach_ports_register3) around posix_spawn, under
 *    cph's lock, then this task's own set is put back. A fork() by
 *    another thread waits for the lock (cph's atfork handler); a task
 *    that another thread creates without fork (posix_spawn) inside the
 *    window inherits the port too, but cannot check in: the audit pid
 *    check refuses it (spawn.h, the window).
 *
 * The port's no-senders notification, requested while the parent holds
 * the only send right (sync 1, so that it does not fire at once:
 * ipc_port.c ipc_port_nsrequest), stands for the rendezvous pipe's EOF:
 * once the parent has dropped its own right, it comes when the child and
 * everything that inherited the right from it are gone or have let it
 * go. The child's exit (EVFILT_PROC) ends the wait as for the rendezvous.
 */
#include <errno.h>
#include <mach/mach.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "nameless.h"
#include "ports.h"

#ifdef CPH_SIMULATED_MACH
#include <spawn_private.h>
#else
#include <dlfcn.h>
#endif

typedef int set_registered_fn(posix_spawnattr_t *attr, mach_port_t ports[],
                              uint32_t count);

struct entry {
    uint64_t id;
    mach_port_t port;
    int slot;
    bool sending; /* the parent still holds its own send right */
    struct entry *next;
};

static struct entry *entries;

static set_registered_fn *set_registered;
static pthread_once_t set_registered_once = PTHREAD_ONCE_INIT;

static void find_set_registered(void)
{
#ifdef CPH_SIMULATED_MACH
    set_registered = posix_spawnattr_set_registered_ports_np;
#else
    set_registered = (set_registered_fn *)dlsym(
        RTLD_DEFAULT, "posix_spawnattr_set_registered_ports_np");
#endif
}

static struct entry **find(uint64_t id, mach_port_t port)
{
    struct entry **p;

    for (p = &entries; *p; p = &(*p)->next)
        if (port ? (*p)->port == port : (*p)->id == id)
            return p;
    return NULL;
}

static int kr_errno(kern_return_t kr)
{
    if (kr == KERN_SUCCESS)
        return 0;
    return kr == KERN_RESOURCE_SHORTAGE || kr == KERN_NO_SPACE ? EAGAIN
                                                                : EIO;
}

/* This task's own registered ports: send rights of ours, or
 * MACH_PORT_NULL (libsyscall mach/task.c mach_ports_lookup hands them
 * over in memory of its own vm_allocate). */
static kern_return_t own_ports(mach_port_t ports[CPH__SLOTS])
{
    mach_port_array_t array = NULL;
    mach_msg_type_number_t n = 0;
    kern_return_t kr = mach_ports_lookup(mach_task_self(), &array, &n);

    if (kr != KERN_SUCCESS)
        return kr;
    for (mach_msg_type_number_t i = 0; i < CPH__SLOTS; i++)
        ports[i] = i < n ? array[i] : MACH_PORT_NULL;
    vm_deallocate(mach_task_self(), (vm_address_t)array, n * sizeof *array);
    return KERN_SUCCESS;
}

static void release_ports(const mach_port_t ports[CPH__SLOTS])
{
    for (int i = 0; i < CPH__SLOTS; i++)
        if (MACH_PORT_VALID(ports[i]))
            mach_port_deallocate(mach_task_self(), ports[i]);
}

/* The first slot of this task's own set that names no live port. */
static int free_slot(int *slot)
{
    mach_port_t own[CPH__SLOTS];
    kern_return_t kr = own_ports(own);

    if (kr != KERN_SUCCESS)
        return kr_errno(kr);
    *slot = -1;
    for (int i = CPH__SLOTS - 1; i >= 0; i--)
        if (!MACH_PORT_VALID(own[i]))
            *slot = i;
    release_ports(own);
    return *slot < 0 ? ENOSPC : 0;
}

static kern_return_t new_port(mach_port_t port)
{
    mach_port_t previous = MACH_PORT_NULL;
    kern_return_t kr;

    /* The send right the spawn copies from (an attribute names it);
     * make-send count 1, so a no-senders request with sync 1 waits
     * (ipc/mach_port.c, mach_port_insert_right; ipc_right.c,
     * ipc_right_request_alloc; ipc_port.c, ipc_port_nsrequest). Then a
     * member of the server's set (mach_port.c, mach_port_insert_member). */
    kr = mach_port_insert_right(mach_task_self(), port, port,
                                MACH_MSG_TYPE_MAKE_SEND);
    if (kr == KERN_SUCCESS)
        kr = mach_port_request_notification(
            mach_task_self(), port, MACH_NOTIFY_NO_SENDERS, 1, port,
            MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
    if (kr == KERN_SUCCESS)
        kr = mach_port_insert_member(mach_task_self(), port,
                                     cph__server_port_set());
    return kr;
}

int cph__nameless_prepare(struct cph__record *r, int *slot)
{
    struct entry *e;
    kern_return_t kr;
    int err = free_slot(slot);

    if (err)
        return err;
    e = calloc(1, sizeof *e);
    if (!e)
        return ENOMEM;
    /* ipc/mach_port.c, mach_port_allocate. */
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                            &e->port);
    if (kr != KERN_SUCCESS) {
        free(e);
        return kr_errno(kr);
    }
    e->id = r->id;
    e->slot = *slot;
    e->sending = true;
    e->next = entries;
    entries = e;
    kr = new_port(e->port);
    if (kr != KERN_SUCCESS) {
        cph__nameless_end(r);
        return kr_errno(kr);
    }
    return 0;
}

/* Destroying the receive right destroys what is queued on it and the
 * pending no-senders request; the parent's send right, if still held,
 * is dropped first (ipc/mach_port.c, mach_port_deallocate; ipc_right.c,
 * ipc_right_dealloc). */
void cph__nameless_end(struct cph__record *r)
{
    struct entry **at = find(r->id, MACH_PORT_NULL), *e;

    if (!at)
        return;
    e = *at;
    *at = e->next;
    if (e->sending)
        mach_port_deallocate(mach_task_self(), e->port);
    cph__port_release(e->port, MACH_MSG_TYPE_MOVE_RECEIVE);
    free(e);
}

/* The spawn copied the send right into the child: ours goes, so that the
 * child's is the last and its loss fires no-senders (ipc_right.c,
 * ipc_right_dealloc; ipc_port.c, ipc_port_release_send_and_unlock). */
void cph__nameless_publish(struct cph__record *r)
{
    struct entry **at = find(r->id, MACH_PORT_NULL);

    if (at && (*at)->sending) {
        mach_port_deallocate(mach_task_self(), (*at)->port);
        (*at)->sending = false;
    }
}

bool cph__nameless_port(mach_port_t port)
{
    return find(0, port) != NULL;
}

struct cph__record *cph__nameless_claim(mach_port_t port, pid_t pid)
{
    struct entry **at = find(0, port);

    return at ? cph__registry_claim_id((*at)->id, pid) : NULL;
}

/* The kernel's notifications carry KERNEL_AUDIT_TOKEN_VALUE (xnu-11417
 * ipc_kmsg.c ipc_kmsg_init_trailer_and_sign, sender TASK_NULL): pid 0.
 * One forged by the child itself is destroyed as a bad request. */
bool cph__nameless_notified(const mach_msg_header_t *msg)
{
    const mach_msg_audit_trailer_t *t =
        (const void *)((const uint8_t *)msg + round_msg(msg->msgh_size));
    struct entry **at;
    struct cph__record *r;

    if (msg->msgh_id != MACH_NOTIFY_NO_SENDERS || t->msgh_audit.val[5] != 0)
        return false;
    at = find(0, msg->msgh_local_port);
    if (!at)
        return false;
    r = cph__registry_find((*at)->id);
    if (r)
        cph__registry_gone(r);
    return true;
}

void cph__nameless_forget(void)
{
    while (entries) {
        struct entry *e = entries;

        entries = e->next;
        free(e);
    }
}

/* The port and slot prepared for r. */
static int lookup(const struct cph__record *r, mach_port_t *port, int *slot)
{
    struct entry **at;

    cph__lock();
    at = find(r->id, MACH_PORT_NULL);
    if (at) {
        *port = (*at)->port;
        *slot = (*at)->slot;
    }
    cph__unlock();
    return at ? 0 : EIO;
}

/* This task's own set, and the child's: the same with port in slot;
 * EAGAIN if the slot was taken since cph__nameless_prepare. On error
 * nothing is left to release. */
static int child_ports(mach_port_t own[CPH__SLOTS],
                       mach_port_t with[CPH__SLOTS], mach_port_t port,
                       int slot)
{
    kern_return_t kr = own_ports(own);

    if (kr != KERN_SUCCESS)
        return kr_errno(kr);
    if (MACH_PORT_VALID(own[slot])) {
        release_ports(own);
        return EAGAIN;
    }
    memcpy(with, own, CPH__SLOTS * sizeof *own);
    with[slot] = port;
    return 0;
}

static int spawn_with_attr(set_registered_fn *set, mach_port_t with[],
                           int (*run)(void *, const posix_spawnattr_t *),
                           void *ctx)
{
    posix_spawnattr_t attr;
    int err = posix_spawnattr_init(&attr);

    if (err)
        return err;
    err = set(&attr, with, CPH__SLOTS);
    if (!err)
        err = run(ctx, &attr);
    posix_spawnattr_destroy(&attr);
    return err;
}

static int spawn_registered(const posix_spawnattr_t *attrp,
                            mach_port_t own[], mach_port_t with[],
                            int (*run)(void *, const posix_spawnattr_t *),
                            void *ctx)
{
    /* libsyscall mach/task.c mach_ports_register; kern/ipc_tt.c,
     * _kernelrpc_mach_ports_register3 replaces the whole set. */
    kern_return_t kr =
        mach_ports_register(mach_task_self(), with, CPH__SLOTS);
    int err;

    if (kr != KERN_SUCCESS)
        return kr_errno(kr);
    err = run(ctx, attrp);
    mach_ports_register(mach_task_self(), own, CPH__SLOTS);
    return err;
}

int cph__nameless_spawn(const struct cph__record *r,
                        const posix_spawnattr_t *attrp,
                        int (*run)(void *ctx, const posix_spawnattr_t *attrp),
                        void *ctx)
{
    mach_port_t own[CPH__SLOTS], with[CPH__SLOTS], port = MACH_PORT_NULL;
    int slot = 0, err = lookup(r, &port, &slot);

    pthread_once(&set_registered_once, find_set_registered);
    if (err)
        return err;
    if (!attrp && set_registered) {
        /* Under the lock: not in another spawn's window, when this
         * task's set holds that spawn's port. */
        cph__lock();
        err = child_ports(own, with, port, slot);
        cph__unlock();
        if (err)
            return err;
        err = spawn_with_attr(set_registered, with, run, ctx);
        release_ports(own);
        return err;
    }
    cph__lock();
    err = child_ports(own, with, port, slot);
    if (!err) {
        err = spawn_registered(attrp, own, with, run, ctx);
        release_ports(own);
    }
    cph__unlock();
    return err;
}
