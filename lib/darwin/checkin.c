/*
 * The child's half of the Mach check-in: look the service up, send the
 * check_in request (built by hand, see mig/cph.defs) with a send-once
 * right to a fresh reply port, and receive the hand-built reply on it.
 *
 * Whether the parent is still there is the core's business, before the
 * token leaves (lib/child/child.c): launchd keeps a dead process's
 * dynamic name resolvable for a while, so a look-up that succeeds says
 * nothing about the parent.
 *
 * Nothing here has run on a Mac; each call was checked against xnu-11417,
 * Crashpad and Chromium sources.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../transport.h"
#include "mig_glue.h"
#include "ports.h"
#include "sdk.h"

struct cph__checkin {
    mach_port_t reply;
    pid_t parent;
    mach_port_t *give; /* where the give port's send right goes */
};

/* Destroys the port, and whatever is queued on it with its rights
 * (xnu-11417 ipc_right.c, ipc_right_delta; ipc_port.c, ipc_port_destroy). */
static void destroy_receive(mach_port_t port)
{
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* A reply port where the SDK knows them: xnu-11417 reports a message to
 * a service port (which a bootstrap_check_in'd name is) whose reply port
 * is not one as a reply-port-semantics violation, and can refuse it for
 * ports that require them (ipc_port.c, ip_violates_reply_port_semantics).
 * cph keeps the rules: it only ever makes one send-once right from it, as
 * MAKE_SEND_ONCE in the request's header (ipc_right.c,
 * ipc_right_copyin_check_reply), and the server moves that right back as
 * its reply's destination. A plain receive right on a kernel that
 * predates them. */
static kern_return_t new_reply_port(mach_port_t *port)
{
#ifdef MPO_REPLY_PORT
    mach_port_options_t options = {.flags = MPO_REPLY_PORT};

    if (mach_port_construct(mach_task_self(), &options, 0, port) ==
        KERN_SUCCESS)
        return KERN_SUCCESS;
#endif
    /* A plain receive right, under a new name (ipc/mach_port.c,
     * mach_port_allocate). */
    return mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                              port);
}

/* One attempt at the request; see cph__checkin_request. */
static kern_return_t request_once(mach_port_t server, mach_port_t reply,
                                  const uint8_t *token, int64_t deadline_ms)
{
    struct cph__checkin_request req;
    kern_return_t kr;

    memset(&req, 0, sizeof req);
    req.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
                                        MACH_MSG_TYPE_MAKE_SEND_ONCE);
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = server;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = CPH__MIG_BASE;
    req.ndr = NDR_record;
    memcpy(req.token.val, token, sizeof req.token.val);
    /* The server's queue may be full (of a burst of children, or of
     * anyone's messages to the public name): give up at the deadline
     * (ipc_mqueue.c, ipc_mqueue_send_locked: a send right waits for room
     * until MACH_SEND_TIMED_OUT). MACH_SEND_INTERRUPT: see
     * cph__checkin_request. */
    kr = mach_msg(&req.head,
                  MACH_SEND_MSG | MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT,
                  sizeof req, 0, MACH_PORT_NULL,
                  (mach_msg_timeout_t)cph__ms_left(deadline_ms),
                  MACH_PORT_NULL);
    if ((kr & ~MACH_MSG_MASK) == MACH_SEND_TIMED_OUT ||
        (kr & ~MACH_MSG_MASK) == MACH_SEND_INTERRUPTED) {
        /* The pseudo-receive (xnu-11417 ipc_kmsg_copyout_pseudo) gave
         * both rights back under names of ours, not swapped: a server
         * send right as the remote port, the send-once right as the
         * local one; unless reply is a reply port, whose send-once right
         * the kernel swallows (local becomes MAKE_SEND_ONCE on the
         * receive right's name). mach_msg_destroy releases the remote
         * port only. */
        if (MACH_MSGH_BITS_LOCAL(req.head.msgh_bits) ==
            MACH_MSG_TYPE_MOVE_SEND_ONCE)
            mach_port_deallocate(mach_task_self(), req.head.msgh_local_port);
        mach_msg_destroy(&req.head);
    }
    return kr;
}

/* A signal while the send waits for room makes it fail past the copyin,
 * with the rights pseudo-received as on a timeout. libsyscall's mach_msg
 * would retry it by itself (libsyscall/mach/mach_msg.c,
 * mach_msg2_internal, unless MACH_SEND_INTERRUPT) with the header from
 * its arguments, taking one more reference of the server's send right
 * (and with a plain reply port, one more send-once right) each time; so
 * cph cleans up and sends again itself. */
kern_return_t cph__checkin_request(mach_port_t server, mach_port_t reply,
                                  const uint8_t *token, int64_t deadline_ms)
{
    kern_return_t kr;

    do
        kr = request_once(server, reply, token, deadline_ms);
    while ((kr & ~MACH_MSG_MASK) == MACH_SEND_INTERRUPTED);
    return kr;
}

/* The request takes a copy of server (COPY_SEND): the caller keeps its
 * right. */
int cph__checkin_send_port(mach_port_t server, const uint8_t *token,
                           pid_t parent, int64_t deadline_ms,
                           struct cph__checkin **out)
{
    mach_port_t reply = MACH_PORT_NULL;
    struct cph__checkin *c = malloc(sizeof *c);
    kern_return_t kr;

    if (!c)
        return ENOMEM;
    if (new_reply_port(&reply) != KERN_SUCCESS) {
        free(c);
        return ENOMEM;
    }
    kr = cph__checkin_request(server, reply, token, deadline_ms);
    if (kr != KERN_SUCCESS) {
        destroy_receive(reply);
        free(c);
        switch (kr & ~MACH_MSG_MASK) {
        case MACH_SEND_TIMED_OUT:
            return ETIMEDOUT;
        case MACH_SEND_INVALID_DEST:
            return ECONNREFUSED;
        case MACH_SEND_NO_BUFFER:
            return ENOMEM;
        default:
            return EPROTO;
        }
    }
    c->reply = reply;
    c->parent = parent;
    c->give = NULL;
    *out = c;
    return 0;
}

int cph__checkin_send(const char *service, const uint8_t *token,
                      pid_t parent, int64_t deadline_ms,
                      struct cph__checkin **out)
{
    mach_port_t server = MACH_PORT_NULL;
    int err;

    /* A send right to the service, or an error of launchd's (launchd-842
     * job_mig_look_up2: BOOTSTRAP_UNKNOWN_SERVICE); MACH_PORT_DEAD: the
     * service died between registration and lookup (a dead port copies
     * out as MACH_PORT_DEAD, xnu-11417 ipc_kmsg.c,
     * ipc_kmsg_copyout_port; Crashpad treats it as a failure too). */
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS ||
        !MACH_PORT_VALID(server))
        return ECONNREFUSED;
    err = cph__checkin_send_port(server, token, parent, deadline_ms, out);
    /* One user reference of the send right bootstrap_look_up gave
     * (ipc_right.c, ipc_right_dealloc). */
    mach_port_deallocate(mach_task_self(), server);
    return err;
}

void cph__checkin_give_to(struct cph__checkin *c, mach_port_t *give)
{
    c->give = give;
}

/* Checks one entry's descriptor and takes its name: a right whose port
 * died before it reached us arrives as MACH_PORT_DEAD and names nothing
 * in our space (xnu-11417 ipc_kmsg_copyout_port: ipc_object_copyout
 * refuses a dead port): no right, as child.h says. */
static bool take_descriptor(const mach_msg_port_descriptor_t *d,
                            struct cph__handle *h)
{
    if (d->type != MACH_MSG_PORT_DESCRIPTOR ||
        !cph__port_arrived(h->kind, d->disposition, &h->disposition))
        return false;
    h->port = d->name == MACH_PORT_DEAD ? MACH_PORT_NULL : d->name;
    h->fd = -1;
    return true;
}

/* Checks the whole reply and fills h[] (names only; fds come after):
 * one descriptor per handle, then, when the key list ends with expected
 * keys (entries without a descriptor), the give port's send right, which
 * goes to *give. */
static int parse_reply(mach_msg_header_t *msg, struct cph__handle **out,
                       size_t *count, mach_port_t *give)
{
    mach_msg_body_t *body = (mach_msg_body_t *)(msg + 1);
    mach_msg_port_descriptor_t *ports = (mach_msg_port_descriptor_t *)(body + 1);
    size_t n, fixed, off = 0, total = 0, handles = 0;
    struct cph__handle *h;
    uint32_t keys_len;
    uint8_t *keys;

    if (msg->msgh_id != CPH__REPLY_ID ||
        !(msg->msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        msg->msgh_size < sizeof *msg + sizeof *body)
        return EPROTO;
    n = body->msgh_descriptor_count;
    fixed = sizeof *msg + sizeof *body + n * sizeof *ports + sizeof keys_len;
    if (msg->msgh_size < fixed)
        return EPROTO;
    memcpy(&keys_len, ports + n, sizeof keys_len);
    keys = (uint8_t *)(ports + n) + sizeof keys_len;
    if (keys_len > msg->msgh_size - fixed)
        return EPROTO;
    /* An entry takes at least 3 bytes. */
    h = calloc(keys_len / 3 + 1, sizeof *h);
    if (!h)
        return ENOMEM;
    for (; off < keys_len; total++) {
        if (cph__wire_get(keys, keys_len, &off, &h[total]) != 0)
            goto fail;
        if (h[total].kind == CPH__KIND_EXPECT)
            continue;
        /* Handles first, each with the next descriptor. */
        if (handles != total || handles == n ||
            !take_descriptor(&ports[handles], &h[total]))
            goto fail;
        handles++;
    }
    *give = MACH_PORT_NULL;
    if (total > handles) {
        if (n != handles + 1 || ports[handles].type != MACH_MSG_PORT_DESCRIPTOR ||
            ports[handles].disposition != MACH_MSG_TYPE_PORT_SEND)
            goto fail;
        /* MACH_PORT_DEAD if the parent's give port is gone already:
         * every give then answers EPIPE. */
        *give = ports[handles].name;
    } else if (n != handles) {
        goto fail;
    }
    *out = h;
    *count = total;
    return 0;
fail:
    free(h);
    return EPROTO;
}

static pid_t sender_pid(mach_msg_header_t *msg)
{
    mach_msg_audit_trailer_t *t =
        (mach_msg_audit_trailer_t *)((uint8_t *)msg +
                                     round_msg(msg->msgh_size));

    if (t->msgh_trailer_size < sizeof *t)
        return -1;
    return (pid_t)t->msgh_audit.val[5];
}

int cph__reply_parse(mach_msg_header_t *msg, pid_t parent,
                     struct cph__handle **handles, size_t *count,
                     mach_port_t *give)
{
    /* The server destroyed our request (it refused the check-in, or it
     * died with it queued): the send-once right came back as this. */
    if (msg->msgh_id == MACH_NOTIFY_SEND_ONCE)
        return ECONNRESET;
    if (sender_pid(msg) != parent)
        return EPERM;
    return parse_reply(msg, handles, count, give);
}

/* Turns each fileport into its fd (close-on-exec, never 0-2). After
 * this, h[] owns every right and fd of the reply. */
static int open_fileports(struct cph__handle *h, size_t n)
{
    int err = 0;

    for (size_t i = 0; i < n; i++) {
        if (h[i].kind != CPH__KIND_FD)
            continue;
        h[i].fd = cph__fileport_open(h[i].port);
        if (h[i].fd < 0 && !err)
            err = errno;
        /* The fd holds the file; the fileport's send right goes (its
         * last one destroys it: kern_descrip.c, fileport_notify). */
        mach_port_deallocate(mach_task_self(), h[i].port);
        h[i].port = MACH_PORT_NULL;
    }
    return err;
}

/* Receives one message on port, growing buf as needed. */
static kern_return_t receive(mach_port_t port, int64_t deadline_ms,
                             mach_msg_header_t **buf, mach_msg_size_t *size)
{
    for (;;) {
        mach_msg_header_t *grown;
        kern_return_t kr = mach_msg(
            *buf,
            MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE |
                MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
            0, *size, port, (mach_msg_timeout_t)cph__ms_left(deadline_ms),
            MACH_PORT_NULL);

        /* With MACH_RCV_LARGE the message stays queued and msgh_size
         * says how much it needs (ipc_mqueue.c,
         * ipc_mqueue_select_on_thread_locked). */
        if (kr != MACH_RCV_TOO_LARGE)
            return kr;
        *size = (*buf)->msgh_size + (mach_msg_size_t)sizeof(mach_msg_max_trailer_t);
        grown = realloc(*buf, *size);
        if (!grown)
            return KERN_RESOURCE_SHORTAGE;
        *buf = grown;
    }
}

int cph__checkin_receive(struct cph__checkin *c, int64_t deadline_ms,
                         struct cph__handle **handles, size_t *count)
{
    mach_msg_size_t size = 16384;
    mach_msg_header_t *msg = malloc(size);
    struct cph__handle *h = NULL;
    mach_port_t give = MACH_PORT_NULL, *keep = c->give;
    size_t n = 0;
    kern_return_t kr;
    int err;

    kr = msg ? receive(c->reply, deadline_ms, &msg, &size)
             : KERN_RESOURCE_SHORTAGE;
    if (kr == MACH_RCV_TIMED_OUT)
        err = ETIMEDOUT;
    else if (kr == KERN_RESOURCE_SHORTAGE)
        err = ENOMEM;
    else if ((kr & ~MACH_MSG_MASK) == MACH_RCV_BODY_ERROR)
        /* The header and the descriptors that fit were copied out
         * (xnu-11417 mach_msg.c, mach_msg_receive_results;
         * ipc_kmsg.c, ipc_kmsg_copyout_descriptors carries on past a
         * failed one, MACH_MSG_IPC_SPACE when the name space is full):
         * ours to destroy. */
        err = ENOMEM;
    else if (kr != MACH_MSG_SUCCESS)
        err = EPROTO;
    else
        err = cph__reply_parse(msg, c->parent, &h, &n, &give);
    if ((kr == MACH_MSG_SUCCESS ||
         (kr & ~MACH_MSG_MASK) == MACH_RCV_BODY_ERROR) &&
        err)
        cph__message_destroy(msg);
    if (!err)
        err = open_fileports(h, n);
    if (err && h) {
        cph__handles_release(h, n);
        free(h);
        cph__port_release(give, MACH_MSG_TYPE_MOVE_SEND);
    }
    destroy_receive(c->reply);
    free(c);
    free(msg);
    if (err)
        return err;
    *handles = h;
    *count = n;
    if (keep)
        *keep = give;
    else
        cph__port_release(give, MACH_MSG_TYPE_MOVE_SEND);
    return 0;
}

void cph__received_free(struct cph__handle *handles)
{
    free(handles);
}
