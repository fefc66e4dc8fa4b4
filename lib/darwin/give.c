/*
 * Give ports, parent side (see give.h): one per child spawned with
 * expected keys that checked in, from its reply until the child can give
 * no more. This file only carries: the core (given.c) decides what each
 * give is worth.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "../transport.h"
#include "give.h"
#include "ports.h"
#include "sdk.h"

struct giver {
    uint64_t id;
    pid_t pid;
    uint32_t pid_version;
    mach_port_t port;
    struct giver *next;
};

static struct giver *givers;

static struct giver **find(uint64_t id, mach_port_t port)
{
    struct giver **p;

    for (p = &givers; *p; p = &(*p)->next)
        if (port ? (*p)->port == port : (*p)->id == id)
            return p;
    return NULL;
}

static kern_return_t prepare(mach_port_t port, mach_port_t port_set)
{
    mach_port_limits_t limits = {.mpl_qlimit = MACH_PORT_QLIMIT_MAX};
    mach_port_t previous = MACH_PORT_NULL;
    kern_return_t kr;

    /* An honest child queues at most one message per expected key; the
     * default limit (5) would make a burst of gives wait (xnu-11417
     * mach_port.c, mach_port_set_attributes, MACH_PORT_LIMITS_INFO: at
     * most MACH_PORT_QLIMIT_MAX). */
    kr = mach_port_set_attributes(mach_task_self(), port,
                                  MACH_PORT_LIMITS_INFO,
                                  (mach_port_info_t)&limits,
                                  MACH_PORT_LIMITS_INFO_COUNT);
    /* Sync 1: nothing fires before the reply has made the send right. */
    if (kr == KERN_SUCCESS)
        kr = mach_port_request_notification(
            mach_task_self(), port, MACH_NOTIFY_NO_SENDERS, 1, port,
            MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
    /* The server's kqueue watches the set (server.c; xnu-11417
     * mach_port.c, mach_port_insert_member). */
    if (kr == KERN_SUCCESS)
        kr = mach_port_insert_member(mach_task_self(), port, port_set);
    return kr;
}

int cph__giver_new(uint64_t id, const audit_token_t *audit,
                   mach_port_t port_set, mach_port_t *port)
{
    struct giver *g = calloc(1, sizeof *g);

    if (!g)
        return ENOMEM;
    /* A new receive right under a name of its own (mach_port.c,
     * mach_port_allocate; KERN_NO_SPACE when the space is full). */
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &g->port) != KERN_SUCCESS) {
        free(g);
        return EAGAIN;
    }
    if (prepare(g->port, port_set) != KERN_SUCCESS) {
        cph__port_release(g->port, MACH_MSG_TYPE_MOVE_RECEIVE);
        free(g);
        return EAGAIN;
    }
    g->id = id;
    g->pid = (pid_t)audit->val[5];
    g->pid_version = audit->val[7];
    g->next = givers;
    givers = g;
    *port = g->port;
    return 0;
}

/* Destroying the receive right destroys whatever is still queued on it,
 * with its rights, and the pending no-senders request. */
static void end(struct giver **at)
{
    struct giver *g = *at;

    *at = g->next;
    cph__port_release(g->port, MACH_MSG_TYPE_MOVE_RECEIVE);
    cph__given_end(g->id);
    free(g);
}

void cph__giver_cancel(mach_port_t port)
{
    struct giver **at = find(0, port);

    if (at)
        end(at);
}

static const audit_token_t *sender(const mach_msg_header_t *msg)
{
    const mach_msg_audit_trailer_t *t =
        (const void *)((const uint8_t *)msg + round_msg(msg->msgh_size));

    return &t->msgh_audit;
}

/* The handle a give carries, checked whole: the layout of give.h, one
 * port descriptor whose received disposition is the one its kind
 * arrives with. Fds are opened from their fileport (close-on-exec). */
static int parse(mach_msg_header_t *msg, struct cph__handle *h)
{
    struct cph__give_message *m = (void *)msg;
    size_t fixed = offsetof(struct cph__give_message, entry), off = 0;

    if (msg->msgh_id != CPH__GIVE_ID ||
        !(msg->msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        msg->msgh_size < fixed || m->body.msgh_descriptor_count != 1 ||
        m->port.type != MACH_MSG_PORT_DESCRIPTOR ||
        m->len > msg->msgh_size - fixed ||
        cph__wire_get(m->entry, m->len, &off, h) != 0 || off != m->len ||
        !cph__port_arrived(h->kind, m->port.disposition, &h->disposition))
        return EPROTO;
    /* A right whose port died on the way arrives as MACH_PORT_DEAD. */
    h->port = m->port.name;
    h->fd = -1;
    if (h->kind != CPH__KIND_FD)
        return 0;
    h->fd = MACH_PORT_VALID(h->port) ? cph__fileport_open(h->port) : -1;
    /* The fileport is spent either way: not for mach_msg_destroy. */
    cph__port_release(h->port, h->disposition);
    h->port = m->port.name = MACH_PORT_NULL;
    return h->fd >= 0 ? 0 : EBADF;
}

bool cph__giver_message(mach_msg_header_t *msg)
{
    struct giver **at = find(0, msg->msgh_local_port);
    const audit_token_t *from = sender(msg);
    struct cph__handle h;

    if (!at)
        return false;
    /* The kernel's notifications carry KERNEL_AUDIT_TOKEN_VALUE (xnu-11417
     * ipc_kmsg_init_trailer_and_sign, sender TASK_NULL): pid 0, which no
     * process of the user has. */
    if (msg->msgh_id == MACH_NOTIFY_NO_SENDERS && from->val[5] == 0) {
        end(at);
        return true;
    }
    if ((pid_t)from->val[5] != (*at)->pid ||
        from->val[7] != (*at)->pid_version || parse(msg, &h) != 0) {
        cph__message_destroy(msg);
        return true;
    }
    /* The core takes h: kept for taking, or released. The rest of the
     * message goes: a reply right the sender put in the header (a
     * send-once right notifies its port). */
    cph__given_put((*at)->id, &h);
    ((struct cph__give_message *)msg)->port.name = MACH_PORT_NULL;
    cph__message_destroy(msg);
    return true;
}

void cph__giver_exited(uint64_t id)
{
    struct giver **at = find(id, MACH_PORT_NULL);

    if (at)
        end(at);
}

bool cph__giver_exists(uint64_t id)
{
    return find(id, MACH_PORT_NULL) != NULL;
}

mach_port_t cph__giver_port(uint64_t id)
{
    struct giver **at = find(id, MACH_PORT_NULL);

    return at ? (*at)->port : MACH_PORT_NULL;
}

void cph__giver_forget(void)
{
    while (givers) {
        struct giver *g = givers;

        givers = g->next;
        free(g);
    }
}
