/*
 * The macOS rendezvous server: one thread, one kqueue, one receive right
 * checked in with the bootstrap server under the service name, for every
 * child in flight. kqueue watches the port (through a port set, as
 * Crashpad does, for EVFILT_MACHPORT), each published child's pipe end
 * (EVFILT_WRITE with EV_CLEAR: an event carrying EV_EOF once every copy of
 * the child's end is closed) and its exit (EVFILT_PROC NOTE_EXIT). All
 * state is guarded by cph__lock(), held while handling events.
 *
 * Nothing here has run: it is compiled and linked for macOS by CI, and
 * each call was checked against xnu, Crashpad and Chromium sources.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <unistd.h>

#include "../transport.h"
#include "sdk.h"
#include "mig_glue.h"
#include "ports.h"

enum { TAG_PIPE = 1, TAG_EXIT = 2 };

/* A request of the subsystem plus the largest trailer: anything larger is
 * not a check-in, and the kernel destroys it (no MACH_RCV_LARGE). */
#define REQUEST_MAX 1024

static struct {
    mach_port_t port, port_set;
    int kq;
} srv = {.kq = -1};

static int mach_errno(kern_return_t kr)
{
    switch (kr) {
    case KERN_SUCCESS:
        return 0;
    case BOOTSTRAP_NOT_PRIVILEGED:
        /* A sandbox without "mach-register" for this name. */
        return EPERM;
    case KERN_RESOURCE_SHORTAGE:
        return ENOMEM;
    default:
        return EAGAIN;
    }
}

static void *record_udata(const struct cph__record *r, int tag)
{
    return (void *)(uintptr_t)(r->id << 2 | (uint64_t)tag);
}

/*
 * The reply: one port descriptor per handle, in order, then the key list.
 * fds travel as fileports (send rights made here, moved to the child).
 */
struct reply_head {
    mach_msg_header_t header;
    mach_msg_body_t body;
};

static void destroy_fileports(mach_msg_port_descriptor_t *ports,
                              const struct cph__record *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r->held[i].kind == CPH__KIND_FD)
            mach_port_deallocate(mach_task_self(), ports[i].name);
}

/* Builds and sends the reply on the send-once right reply. On success
 * the message took every MOVE right and fileport, and the reply right.
 * A send-once right is never blocked by a queue limit, so this does not
 * wait. */
static kern_return_t send_reply(mach_port_t reply, struct cph__record *r)
{
    size_t keys = 0, size;
    struct reply_head *msg;
    mach_msg_port_descriptor_t *ports;
    uint32_t keys_len;
    uint8_t *data;
    kern_return_t kr;
    size_t i;

    for (i = 0; i < r->count; i++)
        keys += cph__wire_size(&r->held[i]);
    size = sizeof *msg + r->count * sizeof *ports + sizeof keys_len + keys;
    size = (size + 3) & ~(size_t)3;
    msg = calloc(1, size);
    if (!msg)
        return KERN_RESOURCE_SHORTAGE;
    ports = (mach_msg_port_descriptor_t *)(msg + 1);
    for (i = 0; i < r->count; i++) {
        const struct cph__handle *h = &r->held[i];
        ports[i].type = MACH_MSG_PORT_DESCRIPTOR;
        if (h->kind == CPH__KIND_FD) {
            if (fileport_makeport(h->fd, &ports[i].name) != 0) {
                destroy_fileports(ports, r, i);
                free(msg);
                return KERN_RESOURCE_SHORTAGE;
            }
            ports[i].disposition = MACH_MSG_TYPE_MOVE_SEND;
        } else {
            ports[i].name = h->port;
            ports[i].disposition = h->disposition;
        }
    }
    keys_len = (uint32_t)keys;
    data = (uint8_t *)(ports + r->count);
    memcpy(data, &keys_len, sizeof keys_len);
    data += sizeof keys_len;
    for (i = 0; i < r->count; i++)
        data += cph__wire_put(data, &r->held[i]);

    msg->header.msgh_bits =
        MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0) |
        MACH_MSGH_BITS_COMPLEX;
    msg->header.msgh_size = (mach_msg_size_t)size;
    msg->header.msgh_remote_port = reply;
    msg->header.msgh_id = CPH__REPLY_ID;
    msg->body.msgh_descriptor_count = (mach_msg_size_t)r->count;

    kr = mach_msg(&msg->header, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  (mach_msg_size_t)size, 0, MACH_PORT_NULL, 0,
                  MACH_PORT_NULL);
    if (kr == MACH_SEND_INVALID_DEST) {
        /* Refused at the header, before the body was looked at: every
         * right is still ours. The fileports go now; the MOVE rights are
         * released with the record. */
        destroy_fileports(ports, r, r->count);
    } else {
        /* Sent: the MOVE rights and fileports went with the message. Or
         * failed later, after the kernel may have destroyed some of the
         * body's rights: their names can no longer be trusted, and
         * releasing one that has since named another right would be
         * worse than leaking it. Which of them xnu destroys on such a
         * failure (a COPY_SEND the caller released meanwhile, say) was
         * not verified. */
        for (i = 0; i < r->count; i++)
            if (r->held[i].kind != CPH__KIND_FD)
                r->held[i].port = MACH_PORT_NULL;
    }
    free(msg);
    return kr;
}

/* Whether the request being handled was consumed (its reply right used).
 * Kept here rather than read from the demux's RetCode, whose meaning for
 * a simpleroutine is MIG's business; only the server thread uses it. */
static bool request_consumed;

/* Called by the MIG demux for a well-formed check_in request. */
kern_return_t cph__server_check_in(mach_port_t server, mach_port_t reply,
                                   cph_token_t token, audit_token_t audit)
{
    struct cph__record *r;
    uint8_t bytes[CPH__TOKEN_SIZE];
    kern_return_t kr;

    (void)server;
    memcpy(bytes, token.val, sizeof bytes);
    /* val[5] of an audit token is the sender's pid: what libbsm's
     * audit_token_to_pid() reads (libbsm is not in every SDK). */
    r = cph__registry_claim(bytes, (pid_t)audit.val[5]);
    if (!r)
        return KERN_FAILURE;
    kr = send_reply(reply, r);
    cph__registry_finish(r, kr == MACH_MSG_SUCCESS ? 0 : ECONNABORTED);
    /* The reply right is left for mach_msg_destroy to release when the
     * reply could not be built (nothing was sent) or its destination was
     * refused; any other outcome used it (see send_reply). */
    request_consumed = kr != KERN_RESOURCE_SHORTAGE &&
                       kr != MACH_SEND_INVALID_DEST;
    /* MIG's convention for "the routine dealt with the reply right". */
    return request_consumed ? MIG_NO_REPLY : kr;
}

/* Takes in every queued message. A request the demux does not know, one
 * MIG's checks refuse, or one cph__server_check_in refuses, is destroyed:
 * its rights are released, and the child learns of it through its
 * send-once right (MACH_NOTIFY_SEND_ONCE). */
static void receive_all(void)
{
    union {
        mach_msg_header_t header;
        uint8_t bytes[REQUEST_MAX + sizeof(mach_msg_max_trailer_t)];
    } request;
    mig_reply_error_t out;

    for (;;) {
        kern_return_t kr = mach_msg(
            &request.header,
            MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
            0, sizeof request, srv.port, 0, MACH_PORT_NULL);
        if (kr == MACH_RCV_TOO_LARGE)
            continue;
        if (kr != MACH_MSG_SUCCESS)
            return;
        memset(&out, 0, sizeof out);
        request_consumed = false;
        cph_checkin_server(&request.header, &out.Head);
        if (!request_consumed)
            mach_msg_destroy(&request.header);
    }
}

static void record_event(uint64_t id, int tag)
{
    struct cph__record *r = cph__registry_find(id);
    struct kevent ev;

    if (!r)
        return;
    if (tag == TAG_PIPE) {
        EV_SET(&ev, r->pipe_fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
        kevent(srv.kq, &ev, 1, NULL, 0, NULL);
        close(r->pipe_fd);
        r->pipe_fd = -1;
    }
    /* A check-in can be queued behind the EOF or the exit. */
    receive_all();
    r = cph__registry_find(id);
    if (r)
        cph__registry_gone(r);
}

static void *serve(void *arg)
{
    struct kevent ev[32];

    (void)arg;
    for (;;) {
        int n = kevent(srv.kq, NULL, 0, ev, 32, NULL);

        cph__lock();
        for (int i = 0; i < n; i++) {
            uint64_t data = (uint64_t)(uintptr_t)ev[i].udata;

            if (ev[i].filter == EVFILT_MACHPORT)
                receive_all();
            else if (ev[i].filter == EVFILT_WRITE &&
                     !(ev[i].flags & EV_EOF))
                continue; /* merely writable, as on the first report */
            else
                record_event(data >> 2, (int)(data & 3));
        }
        cph__unlock();
    }
    return NULL;
}

/* A forked child has its own IPC space (no port names of ours) and no
 * kqueue (fork does not pass kqueues on): there is nothing to close, and
 * closing by number could hit an fd that is not ours. */
void cph__server_forget(void)
{
    memset(&srv, 0, sizeof srv);
    srv.kq = -1;
}

/* A start that failed halfway, in this process. The registration goes
 * away with the receive right. */
static void stop(void)
{
    if (MACH_PORT_VALID(srv.port))
        mach_port_mod_refs(mach_task_self(), srv.port,
                           MACH_PORT_RIGHT_RECEIVE, -1);
    if (MACH_PORT_VALID(srv.port_set))
        mach_port_mod_refs(mach_task_self(), srv.port_set,
                           MACH_PORT_RIGHT_PORT_SET, -1);
    if (srv.kq >= 0)
        close(srv.kq);
    cph__server_forget();
}

int cph__server_open(const char *name)
{
    struct kevent ev;
    kern_return_t kr;
    int err;

    /* bootstrap_check_in creates the service and gives us its receive
     * right; the registration goes away with that right. */
    kr = bootstrap_check_in(bootstrap_port, name, &srv.port);
    if (kr != KERN_SUCCESS) {
        srv.port = MACH_PORT_NULL;
        return mach_errno(kr);
    }
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
                            &srv.port_set);
    if (kr == KERN_SUCCESS)
        kr = mach_port_insert_member(mach_task_self(), srv.port,
                                     srv.port_set);
    if (kr != KERN_SUCCESS) {
        err = mach_errno(kr);
        goto fail;
    }
    srv.kq = kqueue();
    if (srv.kq < 0) {
        err = errno;
        goto fail;
    }
    fcntl(srv.kq, F_SETFD, FD_CLOEXEC);
    EV_SET(&ev, srv.port_set, EVFILT_MACHPORT, EV_ADD, 0, 0, NULL);
    if (kevent(srv.kq, &ev, 1, NULL, 0, NULL) < 0) {
        err = errno;
        goto fail;
    }
    err = cph__thread_start(serve);
    if (err)
        goto fail;
    return 0;
fail:
    stop();
    return err;
}

int cph__server_watch(struct cph__record *r)
{
    struct kevent ev;

    EV_SET(&ev, r->pipe_fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0,
           record_udata(r, TAG_PIPE));
    if (kevent(srv.kq, &ev, 1, NULL, 0, NULL) < 0)
        return errno;
    /* ESRCH: the child has already exited; the caller gives it up. */
    EV_SET(&ev, r->pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0,
           record_udata(r, TAG_EXIT));
    return kevent(srv.kq, &ev, 1, NULL, 0, NULL) < 0 ? errno : 0;
}

void cph__server_unwatch(struct cph__record *r)
{
    struct kevent ev[2];

    EV_SET(&ev[0], r->pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL);
    kevent(srv.kq, &ev[0], 1, NULL, 0, NULL);
    if (r->pipe_fd >= 0) {
        EV_SET(&ev[1], r->pipe_fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
        kevent(srv.kq, &ev[1], 1, NULL, 0, NULL);
    }
}
