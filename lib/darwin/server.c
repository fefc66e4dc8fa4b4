/*
 * The macOS rendezvous server: one thread, one kqueue, one receive right
 * checked in with the bootstrap server under the service name, for every
 * child in flight. kqueue watches the port (through a port set, as
 * Crashpad does, for EVFILT_MACHPORT), each published child's pipe end
 * (EVFILT_WRITE with EV_CLEAR: an event carrying EV_EOF once every copy of
 * the child's end is closed) and its exit (EVFILT_PROC NOTE_EXIT). All
 * state is guarded by cph__lock(), held while handling an event or one
 * message, never while waiting or receiving.
 *
 * Nothing here has run: it is compiled and linked for macOS by CI, and
 * each call was checked against xnu, Crashpad and Chromium sources.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "sdk.h"
#include "give.h"
#include "mig_glue.h"
#include "nameless.h"
#include "ports.h"

enum { TAG_PIPE = 1, TAG_EXIT = 2 };

/* A request of the subsystem plus the largest trailer: anything larger is
 * not a check-in, and the kernel destroys it (no MACH_RCV_LARGE). */
#define REQUEST_MAX 1024

/* Messages taken in per EVFILT_MACHPORT wake-up (as the Linux server
 * bounds its accepts): a flood to the public name then keeps neither
 * this thread in one loop nor cph's lock from other threads. */
#define RECEIVES_PER_WAKE 16

union request {
    mach_msg_header_t header;
    uint8_t bytes[REQUEST_MAX + sizeof(mach_msg_max_trailer_t)];
};

static struct {
    mach_port_t port, port_set;
    int kq;
} srv = {.kq = -1};

/* bootstrap_check_in's refusals, and the other Mach calls' errors, as
 * errno values. Only a shortage may pass with time (EAGAIN).
 * launchd-842's job_mig_check_in2 also answers BOOTSTRAP_NO_MEMORY when
 * it knows no job for the caller, and without a bootstrap port the call
 * fails with MACH_SEND_INVALID_DEST: retrying helps with neither (ENXIO). */
static int server_errno(kern_return_t kr)
{
    switch (kr) {
    case KERN_SUCCESS:
        return 0;
    case BOOTSTRAP_NOT_PRIVILEGED:
        /* A sandbox without "mach-register" for this name. */
        return EPERM;
    case BOOTSTRAP_NAME_IN_USE:
    case BOOTSTRAP_SERVICE_ACTIVE:
        return EADDRINUSE;
    case KERN_RESOURCE_SHORTAGE:
    case KERN_NO_SPACE:
    case MACH_SEND_NO_BUFFER:
        return EAGAIN;
    default:
        return ENXIO;
    }
}

static void *record_udata(const struct cph__record *r, int tag)
{
    return (void *)(uintptr_t)(r->id << 2 | (uint64_t)tag);
}

/*
 * The reply: one port descriptor per handle, then the key list, in one
 * order: every right copied or made first, the rights that leave with the
 * message (MOVE_SEND_ONCE, MOVE_RECEIVE) last. xnu copies descriptors in
 * one by one, in order (ipc_kmsg_copyin_body), so {MOVE_RECEIVE P,
 * MAKE_SEND P} in that order would fail at the second one, P's receive
 * right gone from our name by then.
 *
 * Only those two move. fds travel as fileports made here and a list's
 * MOVE_SEND as a copy (COPY_SEND): whatever the send does, those names
 * stay ours, and we release them afterwards (the MOVE_SEND reference
 * with the record).
 *
 * When the child's list expects keys back, one more descriptor comes
 * after the handles: MAKE_SEND of the child's give port (give.h), a port
 * no handle names, so its place cannot upset the order above; and the
 * key list ends with the expected keys (entries of kind EXPECT, without
 * a descriptor).
 */
struct reply_head {
    mach_msg_header_t header;
    mach_msg_body_t body;
};

static bool leaves_with_reply(const struct cph__handle *h)
{
    return h->kind != CPH__KIND_FD &&
           (h->disposition == MACH_MSG_TYPE_MOVE_SEND_ONCE ||
            h->disposition == MACH_MSG_TYPE_MOVE_RECEIVE);
}

/* Orders r->held as the reply carries it (stable: otherwise as added). */
static int order_held(struct cph__record *r)
{
    struct cph__handle *sorted = malloc((r->count + 1) * sizeof *sorted);
    size_t n = 0;

    if (!sorted)
        return ENOMEM;
    for (int last = 0; last < 2; last++)
        for (size_t i = 0; i < r->count; i++)
            if (leaves_with_reply(&r->held[i]) == last)
                sorted[n++] = r->held[i];
    memcpy(r->held, sorted, r->count * sizeof *sorted);
    free(sorted);
    return 0;
}

/* Whether h's moved right is still held under its name. */
static bool still_held(const struct cph__handle *h)
{
    mach_port_type_t type = 0;

    /* The entry's rights as they are now (ipc/mach_port.c,
     * mach_port_type, ipc_right.c ipc_right_info): a name the copyin
     * cleared is KERN_INVALID_NAME. */
    if (mach_port_type(mach_task_self(), h->port, &type) != KERN_SUCCESS)
        return false;
    return type & (h->disposition == MACH_MSG_TYPE_MOVE_RECEIVE
                       ? MACH_PORT_TYPE_RECEIVE
                       : MACH_PORT_TYPE_SEND_ONCE);
}

/*
 * The moved rights are not ours any more once the reply went out, or
 * came back through the pseudo-receive (then under other names). After a
 * body error only the descriptors before the failing one were taken
 * (xnu-11417 ipc_kmsg.c, ipc_kmsg_copyin_body destroys [0, k)): the moved
 * rights come last, so a failure among the copies left every one of them
 * under its name, and those still there are released here (the spawn.h
 * promise: a right its child never claims is destroyed). A moved right
 * that was taken freed its name; a freed name comes back only with a new
 * generation (ipc_entry.c, ipc_entry_claim), so this check, right after
 * the send, would need that entry to go through every generation in
 * between to mistake another right for ours.
 */
static void forget_moved(struct cph__record *r, bool body_error)
{
    for (size_t i = 0; i < r->count; i++) {
        struct cph__handle *h = &r->held[i];

        if (!leaves_with_reply(h))
            continue;
        if (body_error && still_held(h))
            cph__port_release(h->port, h->disposition);
        h->port = MACH_PORT_NULL;
    }
}

static void fill_descriptors(mach_msg_port_descriptor_t *ports,
                             const struct cph__record *r,
                             const mach_port_t *fileports,
                             mach_port_t give)
{
    if (MACH_PORT_VALID(give)) {
        ports[r->count].type = MACH_MSG_PORT_DESCRIPTOR;
        ports[r->count].name = give;
        ports[r->count].disposition = MACH_MSG_TYPE_MAKE_SEND;
    }
    for (size_t i = 0; i < r->count; i++) {
        const struct cph__handle *h = &r->held[i];

        ports[i].type = MACH_MSG_PORT_DESCRIPTOR;
        ports[i].name = h->kind == CPH__KIND_FD ? fileports[i] : h->port;
        ports[i].disposition =
            h->kind == CPH__KIND_FD ||
                    h->disposition == MACH_MSG_TYPE_MOVE_SEND
                ? MACH_MSG_TYPE_COPY_SEND
                : h->disposition;
    }
}

/*
 * Sends the reply, one message, on the send-once right reply, and sorts
 * out what the kernel kept (xnu-11417 osfmk/ipc/mach_msg.c,
 * mach_msg_trap_send; ipc_kmsg.c). *reply_used says whether the reply
 * right is gone; otherwise it stays in the request for mach_msg_destroy.
 * A send-once right ignores the queue limit (ipc_mqueue_send), so this
 * does not wait.
 */
static kern_return_t send_message(struct reply_head *msg,
                                  struct cph__record *r, bool *reply_used)
{
    kern_return_t kr = mach_msg(&msg->header,
                                MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                                msg->header.msgh_size, 0, MACH_PORT_NULL, 0,
                                MACH_PORT_NULL);
    bool body_error = false;

    switch (kr & ~MACH_MSG_MASK) {
    case MACH_MSG_SUCCESS:
        /* Queued to the child's reply right; or, its port being dead
         * already, destroyed at once, which ipc_kmsg_send also reports
         * as success (it "pretends it got sent"). */
        break;
    case MACH_SEND_NO_BUFFER:
    case MACH_SEND_TOO_LARGE:
    case MACH_SEND_MSG_TOO_SMALL:
    case MACH_SEND_INVALID_DATA:
    case MACH_SEND_INVALID_HEADER:
    case MACH_SEND_INVALID_DEST:
    case MACH_SEND_INVALID_REPLY:
    case MACH_SEND_INVALID_VOUCHER:
        /* Refused before or at the header's copyin, which is atomic
         * (ipc_kmsg_copyin_header): nothing was taken. */
        *reply_used = false;
        return kr;
    case MACH_SEND_TIMED_OUT:
    case MACH_SEND_INTERRUPTED:
        /* ipc_kmsg_send failed after the copyin: the pseudo-receive
         * (ipc_kmsg_copyout_pseudo) wrote every right back into the
         * buffer under names of ours, the reply right as the remote
         * port. Destroying them notifies the child (its send-once
         * right) and releases the copies. */
        mach_msg_destroy(&msg->header);
        break;
    default:
        /* A body error (INVALID_RIGHT, INVALID_TYPE, NO_GRANT_DEST, ...):
         * ipc_kmsg_copyin_body destroyed the header's rights (our reply
         * right, which notifies the child) and the descriptors copied in
         * before the failing one; forget_moved sorts out the rest. */
        body_error = true;
        break;
    }
    *reply_used = true;
    forget_moved(r, body_error);
    return kr;
}

/* Builds and sends the reply (see send_message), with a send right to
 * give when it is valid. Every fileport made here is released here,
 * whatever happened. */
static kern_return_t send_reply(mach_port_t reply, struct cph__record *r,
                                mach_port_t give, bool *reply_used)
{
    size_t ndesc = r->count + MACH_PORT_VALID(give), keys = 0, size;
    size_t made = 0, i;
    struct reply_head *msg = NULL;
    mach_msg_port_descriptor_t *ports;
    mach_port_t *fileports;
    kern_return_t kr = KERN_RESOURCE_SHORTAGE;
    uint32_t keys_len;
    uint8_t *data;

    *reply_used = false;
    fileports = calloc(r->count + 1, sizeof *fileports);
    if (!fileports || order_held(r) != 0)
        goto out;
    for (i = 0; i < r->count; i++)
        keys += cph__wire_size(&r->held[i]);
    for (i = 0; i < r->nexpects; i++)
        keys += cph__wire_size(&r->expects[i]);
    size = sizeof *msg + ndesc * sizeof *ports + sizeof keys_len + keys;
    size = (size + 3) & ~(size_t)3;
    msg = calloc(1, size);
    if (!msg)
        goto out;
    /* Each fd as a send right of ours to a new fileport (xnu-11417
     * kern_descrip.c, sys_fileport_makeport); the reply copies it. */
    for (made = 0; made < r->count; made++)
        if (r->held[made].kind == CPH__KIND_FD &&
            fileport_makeport(r->held[made].fd, &fileports[made]) != 0)
            goto out;
    ports = (mach_msg_port_descriptor_t *)(msg + 1);
    fill_descriptors(ports, r, fileports, give);
    keys_len = (uint32_t)keys;
    data = (uint8_t *)(ports + ndesc);
    memcpy(data, &keys_len, sizeof keys_len);
    data += sizeof keys_len;
    for (i = 0; i < r->count; i++)
        data += cph__wire_put(data, &r->held[i]);
    for (i = 0; i < r->nexpects; i++)
        data += cph__wire_put(data, &r->expects[i]);

    msg->header.msgh_bits =
        MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0) |
        MACH_MSGH_BITS_COMPLEX;
    msg->header.msgh_size = (mach_msg_size_t)size;
    msg->header.msgh_remote_port = reply;
    msg->header.msgh_id = CPH__REPLY_ID;
    msg->body.msgh_descriptor_count = (mach_msg_size_t)ndesc;
    kr = send_message(msg, r, reply_used);
out:
    /* The last send right to a fileport destroys it and drops its hold on
     * the file (kern_descrip.c, fileport_notify, on no-senders). */
    for (i = 0; i < made; i++)
        if (MACH_PORT_VALID(fileports[i]))
            mach_port_deallocate(mach_task_self(), fileports[i]);
    free(fileports);
    free(msg);
    return kr;
}

/* Whether the request being handled was consumed (its reply right used).
 * Kept here rather than read from the demux's RetCode, whose meaning for
 * a simpleroutine is MIG's business; only the server thread uses it. */
static bool request_consumed;

/* Called by the MIG demux for a well-formed check_in request. A reply
 * that could not be handed over is the parent's failure (EIO): the child
 * learns of it from its send-once right, and the record's release frees
 * what was held for it. A child whose list expects keys back gets its
 * give port with the reply; the port is made before the record is
 * finished, so that the exit watch stays (cph__server_unwatch). */
kern_return_t cph__server_check_in(mach_port_t server, mach_port_t reply,
                                   cph_token_t token, audit_token_t audit)
{
    struct cph__record *r;
    uint8_t bytes[CPH__TOKEN_SIZE];
    mach_port_t give = MACH_PORT_NULL;
    kern_return_t kr;

    memcpy(bytes, token.val, sizeof bytes);
    /* val[5] of an audit token is the sender's pid: what libbsm's
     * audit_token_to_pid() reads (libbsm is not in every SDK). A request
     * on a nameless port claims that port's record, whatever its token. */
    r = server == srv.port ? cph__registry_claim(bytes, (pid_t)audit.val[5])
                           : cph__nameless_claim(server, (pid_t)audit.val[5]);
    if (!r)
        return KERN_FAILURE;
    if (r->nexpects > 0 &&
        cph__giver_new(r->id, &audit, srv.port_set, &give) != 0) {
        cph__registry_finish(r, EIO);
        return KERN_RESOURCE_SHORTAGE;
    }
    kr = send_reply(reply, r, give, &request_consumed);
    if (kr != MACH_MSG_SUCCESS && MACH_PORT_VALID(give))
        cph__giver_cancel(give);
    cph__registry_finish(r, kr == MACH_MSG_SUCCESS ? 0 : EIO);
    /* MIG's convention for "the routine dealt with the reply right". */
    return request_consumed ? MIG_NO_REPLY : kr;
}

/* One message received on the service port or a give port, under the
 * lock. A request the demux does not know, one MIG's checks refuse, or
 * one cph__server_check_in refuses, is destroyed: its rights and memory
 * are released, and the child learns of it through its send-once right
 * (MACH_NOTIFY_SEND_ONCE). Gives go to give.c. */
static void handle(mach_msg_header_t *request, kern_return_t kr)
{
    mig_reply_error_t out;

    /* The header's rights were copied out, and the body's as far as it
     * went (xnu-11417 mach_msg.c, mach_msg_receive_results puts a body
     * error to the user as copied out; ipc_kmsg.c,
     * ipc_kmsg_copyout_descriptors carries on past a failed one): the
     * message is ours to destroy. Any process of the user can send such
     * a one to our name. */
    if (kr != MACH_MSG_SUCCESS) {
        cph__message_destroy(request);
        return;
    }
    if (cph__nameless_notified(request))
        return;
    if (request->msgh_local_port != srv.port &&
        !cph__nameless_port(request->msgh_local_port)) {
        if (!cph__giver_message(request))
            cph__message_destroy(request);
        return;
    }
    memset(&out, 0, sizeof out);
    request_consumed = false;
    cph_checkin_server(request, &out.Head);
    if (!request_consumed)
        cph__message_destroy(request);
}

/*
 * Takes in at most max messages queued on port (the port set, or one of
 * its ports: xnu-11417 ipc_mqueue.c, ipc_mqueue_receive_on_thread_and_unlock
 * receives from a member port directly), without waiting, handling each
 * under the lock and letting it go in between: a flood of messages holds
 * cph's lock (and with it cph_spawn, cph_checkin_wait, the cph_take_*
 * calls and fork) for one message at a time. With giver set, stops once
 * that record's give port has ended (its name means nothing then).
 */
static void receive_some(mach_port_t port, size_t max, uint64_t giver)
{
    union request request;

    for (size_t i = 0; i < max; i++) {
        bool ended;
        kern_return_t kr = mach_msg(
            &request.header,
            MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
            0, sizeof request, port, 0, MACH_PORT_NULL);

        /* Without MACH_RCV_LARGE the kernel dequeued it anyway
         * (xnu-11417 ipc_mqueue.c, ipc_mqueue_select_on_thread_locked)
         * and destroyed it. */
        if (kr == MACH_RCV_TOO_LARGE)
            continue;
        if (kr != MACH_MSG_SUCCESS &&
            (kr & ~MACH_MSG_MASK) != MACH_RCV_BODY_ERROR)
            return;
        cph__lock();
        handle(&request.header, kr);
        ended = giver && !cph__giver_exists(giver);
        cph__unlock();
        if (ended)
            return;
    }
}

/* How many messages port holds now (ipc/mach_port.c,
 * mach_port_get_status_helper: mps_msgcount). */
static size_t queued(mach_port_t port)
{
    mach_port_status_t status;
    mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;

    if (mach_port_get_attributes(mach_task_self(), port,
                                 MACH_PORT_RECEIVE_STATUS,
                                 (mach_port_info_t)&status,
                                 &count) != KERN_SUCCESS)
        return 0;
    return status.mps_msgcount;
}

/* The exit of a child that checked in with expected keys outlives its
 * record: then only its give port is left to end. A check-in, or gives,
 * can be queued behind the EOF or the exit: what is queued by now is
 * taken in first, and nothing sent after (a flood behind it). */
static void record_event(uint64_t id, int tag)
{
    struct cph__record *r;
    mach_port_t give = MACH_PORT_NULL;

    cph__lock();
    r = cph__registry_find(id);
    if (r && tag == TAG_PIPE) {
        /* The close takes the knote with it (xnu-11417 kern_event.c,
         * knote_fdclose). */
        close(r->pipe_fd);
        r->pipe_fd = -1;
    }
    if (tag == TAG_EXIT)
        give = cph__giver_port(id);
    cph__unlock();
    receive_some(srv.port, queued(srv.port), 0);
    /* Only the server thread ends give ports: give names one still. */
    if (MACH_PORT_VALID(give))
        receive_some(give, queued(give), id);
    cph__lock();
    r = cph__registry_find(id);
    if (r)
        cph__registry_gone(r);
    if (tag == TAG_EXIT)
        cph__giver_exited(id);
    cph__unlock();
}

/* kevent reports an EVFILT_MACHPORT knote again while a message is
 * queued (xnu-11417 ipc_pset.c, filt_machportprocess leaves it active;
 * no EV_CLEAR here), so a wake-up may leave messages for the next. */
static void *serve(void *arg)
{
    struct kevent ev[32];

    (void)arg;
    for (;;) {
        /* Waits without the lock; -1 (EINTR) is a wake-up with nothing
         * to do. */
        int n = kevent(srv.kq, NULL, 0, ev, 32, NULL);

        for (int i = 0; i < n; i++) {
            uint64_t data = (uint64_t)(uintptr_t)ev[i].udata;

            if (ev[i].filter == EVFILT_MACHPORT)
                receive_some(srv.port_set, RECEIVES_PER_WAKE, 0);
            else if (ev[i].filter == EVFILT_WRITE &&
                     !(ev[i].flags & EV_EOF))
                continue; /* merely writable, as on the first report */
            else
                record_event(data >> 2, (int)(data & 3));
        }
    }
    return NULL;
}

/* A forked child has its own IPC space (no port names of ours) and no
 * kqueue (fork does not pass kqueues on): there is nothing to close, and
 * closing by number could hit an fd that is not ours. */
void cph__server_forget(void)
{
    cph__giver_forget();
    cph__nameless_forget();
    memset(&srv, 0, sizeof srv);
    srv.kq = -1;
}

/* A start that failed halfway, in this process. The registration goes
 * away with the receive right: destroying it (xnu-11417 ipc_right.c,
 * ipc_right_delta) destroys the port, which launchd watches; destroying
 * the port set (same function) takes its members out of it. */
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

/* The service stays registered and its thread runs: the Mach server is
 * started whole by cph__server_open, and tearing its thread down is not
 * worth what a failed first spawn leaves (a kqueue, two ports). */
bool cph__server_unused(void)
{
    return false;
}

/* The service: bootstrap_check_in creates it and gives us its receive
 * right (launchd's job_mig_check_in2; its refusals: server_errno); the
 * registration goes away with that right. On failure the
 * server runs on without one. */
static int open_service(const char *name)
{
    mach_port_limits_t limits = {.mpl_qlimit = MACH_PORT_QLIMIT_MAX};
    mach_port_t port = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_check_in(bootstrap_port, name, &port);

    if (kr != KERN_SUCCESS)
        return server_errno(kr);
    /* The default queue limit (MACH_PORT_QLIMIT_DEFAULT, 5) would make a
     * burst of children, or anyone sending to the public name, hold
     * children in their send until it times out. 1024 is the most xnu
     * takes (mach_port_set_attributes, MACH_PORT_LIMITS_INFO). */
    kr = mach_port_set_attributes(mach_task_self(), port,
                                  MACH_PORT_LIMITS_INFO,
                                  (mach_port_info_t)&limits,
                                  MACH_PORT_LIMITS_INFO_COUNT);
    /* kqueue watches port sets, not ports (EVFILT_MACHPORT; Crashpad's
     * ChildPortServer does the same): the service port, then each give
     * port, is a member (ipc/mach_port.c, mach_port_allocate with
     * MACH_PORT_RIGHT_PORT_SET; mach_port_insert_member takes a receive
     * right into the set, KERN_ALREADY_IN_SET if in another). */
    if (kr == KERN_SUCCESS)
        kr = mach_port_insert_member(mach_task_self(), port, srv.port_set);
    if (kr != KERN_SUCCESS) {
        mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE,
                           -1);
        return server_errno(kr);
    }
    srv.port = port;
    return 0;
}

mach_port_t cph__server_port_set(void)
{
    return srv.port_set;
}

/* name NULL: the nameless delivery's server, without a service. */
int cph__server_open(const char *name)
{
    struct kevent ev;
    kern_return_t kr;
    int err;

    if (srv.kq >= 0)
        return name ? open_service(name) : 0;
    /* ipc/mach_port.c, mach_port_allocate: ipc_pset_alloc. */
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
                            &srv.port_set);
    if (kr != KERN_SUCCESS) {
        err = server_errno(kr);
        goto fail;
    }
    if (name) {
        err = open_service(name);
        if (err)
            goto fail;
    }
    srv.kq = kqueue();
    if (srv.kq < 0) {
        err = errno;
        goto fail;
    }
    /* Close-on-exec as made (kern_event.c, kqueue_internal: FP_CLOEXEC),
     * and not passed on by fork (FP_CLOFORK and FG_CONFINED, which
     * fdt_fork skips). Without MACH_RCV_MSG
     * in fflags the knote only reports that a message is queued
     * (ipc_pset.c, filt_machportattach, filt_psetattach for a set). */
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

/* Nameless: the port's no-senders notification stands for the pipe's
 * EOF. */
int cph__server_watch(struct cph__record *r)
{
    struct kevent ev;

    /* EV_EOF comes once the socket cannot send any more, every copy of
     * the child's end closed (xnu-11417 uipc_socket.c,
     * filt_sowrite_common: SS_CANTSENDMORE). A registration error comes
     * back as kevent's own when no event list is given (kern_event.c,
     * kevent_register). */
    if (r->delivery == CPH_DELIVERY_NAMELESS) {
        cph__nameless_publish(r);
    } else {
        EV_SET(&ev, r->pipe_fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0,
               record_udata(r, TAG_PIPE));
        if (kevent(srv.kq, &ev, 1, NULL, 0, NULL) < 0)
            return errno;
    }
    /* ESRCH: the child has already exited, zombie or not (kern_event.c,
     * filt_procattach: proc_find fails once kern_exit.c,
     * proc_prepareexit, has set P_REF_DEAD); the core gives it up as
     * gone. */
    EV_SET(&ev, r->pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0,
           record_udata(r, TAG_EXIT));
    return kevent(srv.kq, &ev, 1, NULL, 0, NULL) < 0 ? errno : 0;
}

/* The exit watch stays for a child that can still give (its one-shot
 * event, tagged with the record's id, ends the give port). EV_DELETE of
 * a knote already gone (a one-shot that fired) fails with ENOENT and
 * changes nothing (kern_event.c, kevent_register). */
void cph__server_unwatch(struct cph__record *r)
{
    struct kevent ev[2];

    cph__nameless_end(r);
    EV_SET(&ev[0], r->pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL);
    if (!cph__giver_exists(r->id))
        kevent(srv.kq, &ev[0], 1, NULL, 0, NULL);
    if (r->pipe_fd >= 0) {
        EV_SET(&ev[1], r->pipe_fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
        kevent(srv.kq, &ev[1], 1, NULL, 0, NULL);
    }
}
