/*
 * Speaks the Mach check-in by hand, with libcph_child's request but
 * without its constructor. d_client MODE OUT [FD] reads CPH_HANDSHAKE and
 * the token, then writes what happened to OUT ("-": stdout):
 *
 *   readpipe        closes the pipe and waits to be killed
 *   wrongthenright  checks in with a wrong token, the right one, and the
 *                   right one again (a token is good once), each reported
 *                   as "NAME OUTCOME"
 *   late            waits for EOF on FD (its parent's death), then checks
 *                   in: "late OUTCOME"
 *   rogue           sends the token in a complex check_in carrying a
 *                   send-once right to a port of its own (the bait), then
 *                   checks in: "rogue OUTCOME", "bait refused" once the
 *                   bait's right comes back destroyed, "right OUTCOME"
 *   flood           waits for EOF on FD (the test holds the server), fills
 *                   the server's queue: "queued N"; then checks in with a
 *                   100 ms deadline: "check-in timed-out|KR", and whether
 *                   that left a right behind: "names same|leaked"
 *   floodsignal     flood, with SIGALRM every 20 ms, ten times, while the
 *                   check-in waits for room (400 ms): "check-in timed-out|KR", and
 *                   whether that left a right or a reference behind:
 *                   "names same|leaked", "refs same|leaked"
 *   floodplain, floodsignalplain  the same over a plain receive right
 *                   (libcph_child's reply port where the SDK has no
 *                   MPO_REPLY_PORT)
 *   roguegive       checks in (the parent expects "good", "replied" and
 *                   more), then on the give port that came with the reply
 *                   gives by hand a send-once right to a bait of its own
 *                   under "bad", which is not expected: "unexpected
 *                   refused" once it comes back destroyed; the same under
 *                   "good" in a message of another id: "malformed
 *                   refused"; then, as libcph_child gives, under "good" a
 *                   copy of its send right to the give port itself: "good
 *                   sent ERR"; the same under "replied", by hand, with a
 *                   send-once right to a bait as the header's reply port:
 *                   "replied refused" once the parent destroyed it; then
 *                   waits for EOF on FD
 *   givedead        checks in as roguegive and gives "good" so; waits for
 *                   EOF on FD (the test has destroyed the give port), then
 *                   gives a receive right under "later" as MOVE_RECEIVE:
 *                   "later gave ERR receive kept|left"
 *   givefull        checks in as roguegive, waits for EOF on FD (the test
 *                   holds the server), fills the give port by hand:
 *                   "filled N"; then gives a receive right under "later"
 *                   as MOVE_RECEIVE with a 200 ms deadline: "later gave
 *                   ERR receive kept|left"
 *   givefullsignal  givefull, with SIGALRM every 20 ms, ten times, while
 *                   the give waits for room (400 ms): "later gave ERR
 *                   receive kept|left", "names same|leaked", "refs
 *                   same|leaked" (of the give right)
 *   dropgive        checks in as roguegive, releases its send right to the
 *                   give port, and waits for EOF on FD
 *   fullspace       sends the check-in, fills its own port name space but
 *                   for 3 names, then receives the reply (one descriptor
 *                   per handle, more than 3): "reply ERR left N", N the
 *                   names the failed receive left behind
 *   fullserver      checks in keeping the reply's last right (a send
 *                   right to the parent's "witness" port), waits for EOF
 *                   on FD (the parent has filled its name space), then
 *                   sends the service a message carrying a copy of that
 *                   right and a send-once right to a bait: "bait refused"
 *                   once the parent's receive failed on the bait
 *   ool             sends the service 64 messages, each with 1 MiB of
 *                   out-of-line memory sent as MACH_MSG_PHYSICAL_COPY,
 *                   deallocate FALSE: "ool sent N"; then checks in as
 *                   attempt does: "right OUTCOME"
 *   oolgive         checks in as roguegive, sends the give port the 64
 *                   messages of ool, in gives' id: "ool sent N"; then
 *                   gives "good" as roguegive: "good sent ERR"
 *   wrapper         (a process between cph_spawn and the real child) runs
 *                   "d_child orphan" with stdout on OUT, waits for it,
 *                   then says whether the token is still in the pipe:
 *                   "token unread|gone"
 *
 * The nameless delivery (the port in the registered-port slot that
 * CPH_HANDSHAKE names, no token):
 *
 *   nlexec PROGRAM ARGS...  (an exec-ing wrapper) execs the helper
 *                   PROGRAM with ARGS (OUT is PROGRAM)
 *   nlforeign       forks a process that checks in on the port it
 *                   inherited in its slot: "descendant OUTCOME"; once it
 *                   has exited, checks in itself: "right OUTCOME"
 *   nldrop          takes the port from its slot and lets go of it:
 *                   "dropped"; waits for EOF on FD
 *   nlhold          forks a process that keeps the port in its slot
 *                   until EOF on FD, takes its own and lets go of it:
 *                   "dropped"; waits to be killed
 *
 * OUTCOME is "lookup-failed KR", "send-failed KR", "no-reply KR",
 * "refused" (the server destroyed the request), "unexpected ID",
 * "not-from-parent" or "accepted N KEY..." (N port descriptors).
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#include <mach/ndr.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "by_hand.h"
#ifdef CPH_SIMULATED_MACH
#include "rights_left.h"
#endif
#include "core/cph_core.h"
#include "darwin/give.h"
#include "darwin/mig_glue.h"
#include "darwin/sdk.h"
#include "transport.h"

#define REPLY_MS 5000

extern char **environ;

static FILE *out;
static char service[CPH__SERVICE_MAX + 1];

__attribute__((format(printf, 1, 2)))
static void say(const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    vfprintf(out, format, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

/* The pipe's fd that CPH_HANDSHAKE names (pid-bound), or -1. */
static int parse_handshake(void)
{
    const char *value = getenv(CPH__ENV_NAME);
    struct cph__env e;

    if (!value || cph__env_parse(value, &e) != 0 ||
        e.delivery != CPH_DELIVERY_PID_BOUND)
        return -1;
    strcpy(service, e.service);
    return e.fd;
}

/* Reads the token; returns the pipe's fd, or -1. */
static int read_token(cph_token_t *token)
{
    int fd = parse_handshake();
    size_t have = 0;

    while (fd >= 0 && have < sizeof token->val) {
        ssize_t n = read(fd, (char *)token->val + have,
                         sizeof token->val - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return fd;
}

static pid_t sender_pid(const mach_msg_header_t *msg)
{
    const mach_msg_audit_trailer_t *t =
        (const void *)((const uint8_t *)msg + round_msg(msg->msgh_size));

    return (pid_t)t->msgh_audit.val[5];
}

/* The reply's port descriptors are followed by the key list:
 * [u32 length] then [u8 kind][u8 key length][key] per handle. */
static void say_accepted(const char *name, const mach_msg_header_t *msg)
{
    const mach_msg_body_t *body = (const void *)(msg + 1);
    const mach_msg_port_descriptor_t *ports = (const void *)(body + 1);
    const uint8_t *p = (const void *)(ports + body->msgh_descriptor_count);
    const uint8_t *end = (const uint8_t *)msg + msg->msgh_size;
    char keys[512] = "";
    uint32_t len = 0;

    if (p + sizeof len <= end)
        memcpy(&len, p, sizeof len);
    p += sizeof len;
    if (len <= (size_t)(end - p))
        end = p + len;
    while (end - p >= 2 && end - p >= 2 + p[1] &&
           strlen(keys) + p[1] + 2 < sizeof keys) {
        strcat(keys, " ");
        strncat(keys, (const char *)p + 2, p[1]);
        p += 2 + p[1];
    }
    say("%s accepted %u%s", name, body->msgh_descriptor_count, keys);
}

static void await_reply(const char *name, mach_port_t reply)
{
    static union {
        mach_msg_header_t header;
        uint8_t bytes[16384];
    } msg;
    kern_return_t kr = mach_msg(
        &msg.header,
        MACH_RCV_MSG | MACH_RCV_TIMEOUT |
            MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
            MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
        0, sizeof msg, reply, REPLY_MS, MACH_PORT_NULL);

    if (kr != KERN_SUCCESS) {
        say("%s no-reply %#x", name, kr);
        return;
    }
    if (msg.header.msgh_id == MACH_NOTIFY_SEND_ONCE)
        say("%s refused", name);
    else if (msg.header.msgh_id != CPH__REPLY_ID ||
             !(msg.header.msgh_bits & MACH_MSGH_BITS_COMPLEX))
        say("%s unexpected %d", name, msg.header.msgh_id);
    else if (sender_pid(&msg.header) != getppid())
        say("%s not-from-parent", name);
    else
        say_accepted(name, &msg.header);
    mach_msg_destroy(&msg.header);
}

static mach_port_t look_up(const char *name)
{
    mach_port_t server = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_look_up(bootstrap_port, service, &server);

    if (kr != KERN_SUCCESS || !MACH_PORT_VALID(server)) {
        say("%s lookup-failed %#x", name, kr);
        return MACH_PORT_NULL;
    }
    return server;
}

static mach_port_t receive_right(void)
{
    mach_port_t port = MACH_PORT_NULL;

    mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port);
    return port;
}

static void destroy_receive(mach_port_t port)
{
    if (MACH_PORT_VALID(port))
        mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE,
                           -1);
}

/* One check-in with token on server (a send right, released here), as
 * libcph_child makes it. */
static void attempt_on(const char *name, mach_port_t server,
                       const uint8_t *token)
{
    mach_port_t reply;
    kern_return_t kr;

    if (!server)
        return;
    reply = receive_right();
    kr = cph__checkin_request(server, reply, token, cph__now_ms() + REPLY_MS);
    mach_port_deallocate(mach_task_self(), server);
    if (kr != KERN_SUCCESS)
        say("%s send-failed %#x", name, kr);
    else
        await_reply(name, reply);
    destroy_receive(reply);
}

static void attempt(const char *name, const cph_token_t *token)
{
    attempt_on(name, look_up(name), (const uint8_t *)token->val);
}

/* A check_in carrying a port descriptor, which MIG's checks refuse: the
 * server must destroy it, rights and all. */
static void rogue(const cph_token_t *token)
{
    struct {
        mach_msg_header_t header;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t bait;
        NDR_record_t ndr;
        cph_token_t token;
    } msg;
    mach_port_t server = look_up("rogue"), reply, bait;
    kern_return_t kr;

    if (!server)
        return;
    reply = receive_right();
    bait = receive_right();
    memset(&msg, 0, sizeof msg);
    msg.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
                                          MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                           MACH_MSGH_BITS_COMPLEX;
    msg.header.msgh_size = sizeof msg;
    msg.header.msgh_remote_port = server;
    msg.header.msgh_local_port = reply;
    msg.header.msgh_id = CPH__MIG_BASE;
    msg.body.msgh_descriptor_count = 1;
    msg.bait.name = bait;
    msg.bait.disposition = MACH_MSG_TYPE_MAKE_SEND_ONCE;
    msg.bait.type = MACH_MSG_PORT_DESCRIPTOR;
    msg.ndr = NDR_record;
    msg.token = *token;
    kr = mach_msg(&msg.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg,
                  0, MACH_PORT_NULL, REPLY_MS, MACH_PORT_NULL);
    mach_port_deallocate(mach_task_self(), server);
    if (kr != KERN_SUCCESS) {
        say("rogue send-failed %#x", kr);
    } else {
        await_reply("rogue", reply);
        await_reply("bait", bait);
    }
    destroy_receive(reply);
    destroy_receive(bait);
}

static mach_msg_type_number_t count_names(void)
{
    mach_port_name_array_t names;
    mach_port_type_array_t types;
    mach_msg_type_number_t count = 0, types_count = 0;

    if (mach_port_names(mach_task_self(), &names, &count, &types,
                        &types_count) != KERN_SUCCESS)
        return 0;
    vm_deallocate(mach_task_self(), (vm_address_t)names,
                  count * sizeof *names);
    vm_deallocate(mach_task_self(), (vm_address_t)types,
                  types_count * sizeof *types);
    return count;
}

/* Messages with no rights but the server's send right, until its queue
 * is full (the server is held meanwhile). */
static int fill_queue(mach_port_t server)
{
    int n = 0;

    for (; n < 4096; n++) {
        mach_msg_header_t msg = {
            .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
            .msgh_size = sizeof msg,
            .msgh_remote_port = server,
            .msgh_id = 1,
        };
        kern_return_t kr = mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                                    sizeof msg, 0, MACH_PORT_NULL, 0,
                                    MACH_PORT_NULL);

        if (kr == MACH_SEND_TIMED_OUT)
            /* The pseudo-receive handed the send right back. */
            mach_msg_destroy(&msg);
        if (kr != KERN_SUCCESS)
            break;
    }
    return n;
}

/* A reply port as libcph_child makes it where the SDK knows them. */
static mach_port_t reply_port(void)
{
#ifdef MPO_REPLY_PORT
    mach_port_options_t options = {.flags = MPO_REPLY_PORT};
    mach_port_t port = MACH_PORT_NULL;

    if (mach_port_construct(mach_task_self(), &options, 0, &port) ==
        KERN_SUCCESS)
        return port;
#endif
    return receive_right();
}

static mach_port_urefs_t send_refs(mach_port_t name)
{
    mach_port_urefs_t refs = 0;

    mach_port_get_refs(mach_task_self(), name, MACH_PORT_RIGHT_SEND, &refs);
    return refs;
}

static const struct itimerval alarms_off = {{0, 0}, {0, 0}};
static int alarms;

/* Ten signals, then none: a send that libsyscall restarts with its whole
 * timeout after each one still ends. */
static void on_alarm(int sig)
{
    (void)sig;
    if (++alarms == 10)
        setitimer(ITIMER_REAL, &alarms_off, NULL);
}

/* SIGALRM every 20 ms, ten times, caught by a handler that does nothing. */
static void alarms_start(void)
{
    static const struct itimerval every = {{0, 20000}, {0, 20000}};

    alarms = 0;
    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &every, NULL);
}

/* Fills the server's queue, then checks in with a deadline of wait_ms,
 * with SIGALRM every 20 ms meanwhile, ten times, if signals; over a plain
 * receive right if plain, else over a reply port where the SDK has
 * them. */
static void flood(const cph_token_t *token, int wait_ms, bool signals,
                  bool plain)
{
    mach_port_t server = look_up("flood"), reply;
    mach_msg_type_number_t before;
    mach_port_urefs_t refs;
    kern_return_t kr;

    if (!server)
        return;
    say("queued %d", fill_queue(server));
    reply = plain ? receive_right() : reply_port();
    before = count_names();
    refs = send_refs(server);
    if (signals)
        alarms_start();
    kr = cph__checkin_request(server, reply, (const uint8_t *)token->val,
                              cph__now_ms() + wait_ms);
    setitimer(ITIMER_REAL, &alarms_off, NULL);
    if (kr == MACH_SEND_TIMED_OUT)
        say("check-in timed-out");
    else
        say("check-in %#x", kr);
    say("names %s", count_names() == before ? "same" : "leaked");
    if (signals)
        say("refs %s", send_refs(server) == refs ? "same" : "leaked");
    destroy_receive(reply);
    mach_port_deallocate(mach_task_self(), server);
}

static void wait_eof(int fd)
{
    char c;
    ssize_t n;

    while ((n = read(fd, &c, 1)) > 0 || (n < 0 && errno == EINTR))
        ;
}

/* Checks in with token and returns the reply's last right, a send right:
 * the give port's when the list attaches nothing and expects keys, else
 * the last handle's. */
static mach_port_t check_in_keeping_last(const cph_token_t *token)
{
    static union {
        mach_msg_header_t header;
        uint8_t bytes[16384];
    } msg;
    mach_port_t server = look_up("give"), reply, give = MACH_PORT_NULL;
    mach_msg_port_descriptor_t *ports;
    mach_msg_size_t n;
    kern_return_t kr;

    if (!server)
        return MACH_PORT_NULL;
    reply = receive_right();
    kr = cph__checkin_request(server, reply, (const uint8_t *)token->val,
                              cph__now_ms() + REPLY_MS);
    mach_port_deallocate(mach_task_self(), server);
    if (kr == KERN_SUCCESS)
        kr = mach_msg(&msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                      sizeof msg, reply, REPLY_MS, MACH_PORT_NULL);
    destroy_receive(reply);
    if (kr != KERN_SUCCESS) {
        say("give no-reply %#x", kr);
        return MACH_PORT_NULL;
    }
    n = ((mach_msg_body_t *)(&msg.header + 1))->msgh_descriptor_count;
    ports = (void *)((mach_msg_body_t *)(&msg.header + 1) + 1);
    if (msg.header.msgh_id == CPH__REPLY_ID &&
        (msg.header.msgh_bits & MACH_MSGH_BITS_COMPLEX) && n >= 1 &&
        ports[n - 1].disposition == MACH_MSG_TYPE_PORT_SEND) {
        give = ports[n - 1].name;
        ports[n - 1].name = MACH_PORT_NULL;
    }
    mach_msg_destroy(&msg.header);
    if (!give)
        say("give port missing");
    return give;
}

/* A give of a copy of our send right to the give port itself under key,
 * as libcph_child gives. */
static int give_copy(mach_port_t give, const char *key)
{
    struct cph__handle h = {.kind = CPH__KIND_SEND, .fd = -1, .port = give,
                            .disposition = MACH_MSG_TYPE_COPY_SEND};

    strcpy(h.key, key);
    return cph__give_send(give, &h, cph__now_ms() + REPLY_MS);
}

/* A new receive right given as MOVE_RECEIVE under "later", with the
 * deadline wait_ms away: whether the right is still ours after. */
static void give_later(mach_port_t give, int wait_ms)
{
    struct cph__handle h = {.kind = CPH__KIND_RECEIVE, .fd = -1,
                            .port = receive_right(),
                            .disposition = MACH_MSG_TYPE_MOVE_RECEIVE};
    mach_port_type_t type = 0;
    int err;

    strcpy(h.key, "later");
    err = cph__give_send(give, &h, cph__now_ms() + wait_ms);
    mach_port_type(mach_task_self(), h.port, &type);
    say("later gave %d receive %s", err,
        type & MACH_PORT_TYPE_RECEIVE ? "kept" : "left");
    if (type & MACH_PORT_TYPE_RECEIVE)
        destroy_receive(h.port);
}

/* A send-once right to a bait of ours, given by hand under key in a
 * message of id: the parent must destroy it. */
static void give_bait(const char *name, mach_port_t give, mach_msg_id_t id,
                      const char *key)
{
    mach_port_t bait = receive_right();
    kern_return_t kr = give_by_hand(give, id, CPH__KIND_SEND_ONCE, key, bait,
                                    MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                    MACH_PORT_NULL);

    if (kr != KERN_SUCCESS)
        say("%s send-failed %#x", name, kr);
    else
        await_reply(name, bait);
    destroy_receive(bait);
}

/* A well-formed give of a copy of our give right under key, with a
 * send-once right to a bait in the header: the parent takes the give
 * and must destroy that reply right. */
static void give_with_reply(mach_port_t give, const char *key)
{
    mach_port_t bait = receive_right();
    kern_return_t kr = give_by_hand(give, CPH__GIVE_ID, CPH__KIND_SEND, key,
                                    give, MACH_MSG_TYPE_COPY_SEND, bait);

    if (kr != KERN_SUCCESS)
        say("%s send-failed %#x", key, kr);
    else
        await_reply(key, bait);
    destroy_receive(bait);
}

static void rogue_give(const cph_token_t *token, int fd)
{
    mach_port_t give = check_in_keeping_last(token);

    if (!give)
        return;
    give_bait("unexpected", give, CPH__GIVE_ID, "bad");
    give_bait("malformed", give, CPH__GIVE_ID + 1, "good");
    say("good sent %d", give_copy(give, "good"));
    give_with_reply(give, "replied");
    wait_eof(fd);
    mach_port_deallocate(mach_task_self(), give);
}

static void give_dead(const cph_token_t *token, int fd)
{
    mach_port_t give = check_in_keeping_last(token);

    if (!give)
        return;
    say("good sent %d", give_copy(give, "good"));
    wait_eof(fd);
    give_later(give, REPLY_MS);
    mach_port_deallocate(mach_task_self(), give); /* a dead name now */
}

/* By-hand gives of another id (refused when taken in) until the give
 * port's queue is full. */
static int fill_give_port(mach_port_t give)
{
    int n = 0;

    while (n < 4096 && give_by_hand(give, CPH__GIVE_ID + 1,
                                    CPH__KIND_SEND, "junk", MACH_PORT_NULL,
                                    MACH_MSG_TYPE_COPY_SEND,
                                    MACH_PORT_NULL) == KERN_SUCCESS)
        n++;
    return n;
}

static void give_full(const cph_token_t *token, int fd, bool signals)
{
    mach_port_t give = check_in_keeping_last(token);
    mach_msg_type_number_t before;
    mach_port_urefs_t refs;

    if (!give)
        return;
    wait_eof(fd);
    say("filled %d", fill_give_port(give));
    if (!signals) {
        give_later(give, 200);
    } else {
        before = count_names();
        refs = send_refs(give);
        alarms_start();
        give_later(give, 400);
        setitimer(ITIMER_REAL, &alarms_off, NULL);
        say("names %s", count_names() == before ? "same" : "leaked");
        say("refs %s", send_refs(give) == refs ? "same" : "leaked");
    }
    mach_port_deallocate(mach_task_self(), give);
}

static void drop_give(const cph_token_t *token, int fd)
{
    mach_port_t give = check_in_keeping_last(token);

    if (give)
        mach_port_deallocate(mach_task_self(), give);
    wait_eof(fd);
}

static void full_space(const cph_token_t *token)
{
    struct cph__checkin *c;
    struct cph__handle *h = NULL;
    mach_port_t *names;
    mach_msg_type_number_t before;
    size_t n, count = 0;
    int err = cph__checkin_send(service, (const uint8_t *)token->val,
                                getppid(), cph__now_ms() + REPLY_MS, &c);

    if (err) {
        say("check-in %d", err);
        return;
    }
    names = fill_space(3, &n);
    before = count_names();
    err = cph__checkin_receive(c, cph__now_ms() + REPLY_MS, &h, &count);
    /* The reply port is gone either way. */
    say("reply %d left %d", err, (int)count_names() - (int)before + 1);
    free_space(names, n);
    if (!err) {
        cph__handles_release(h, count);
        cph__received_free(h);
    }
}

static void full_server(const cph_token_t *token, int fd)
{
    struct {
        mach_msg_header_t header;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t ports[2];
    } msg;
    mach_port_t witness = check_in_keeping_last(token), server, bait;
    kern_return_t kr;

    if (!witness)
        return;
    wait_eof(fd);
    server = look_up("fullserver");
    if (!server)
        return;
    bait = receive_right();
    memset(&msg, 0, sizeof msg);
    msg.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) |
                           MACH_MSGH_BITS_COMPLEX;
    msg.header.msgh_size = sizeof msg;
    msg.header.msgh_remote_port = server;
    msg.header.msgh_id = CPH__MIG_BASE;
    msg.body.msgh_descriptor_count = 2;
    /* The parent holds the witness's receive right: the copy lands on
     * that name, without a new one. The bait's needs one. */
    msg.ports[0].name = witness;
    msg.ports[0].disposition = MACH_MSG_TYPE_COPY_SEND;
    msg.ports[0].type = MACH_MSG_PORT_DESCRIPTOR;
    msg.ports[1].name = bait;
    msg.ports[1].disposition = MACH_MSG_TYPE_MAKE_SEND_ONCE;
    msg.ports[1].type = MACH_MSG_PORT_DESCRIPTOR;
    kr = mach_msg(&msg.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg,
                  0, MACH_PORT_NULL, REPLY_MS, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS)
        say("bait send-failed %#x", kr);
    else
        await_reply("bait", bait);
    destroy_receive(bait);
    mach_port_deallocate(mach_task_self(), server);
    mach_port_deallocate(mach_task_self(), witness);
}

enum { OOL_MESSAGES = 64, OOL_SIZE = 1 << 20 };

/* OOL_MESSAGES messages of id to dest, each with OOL_SIZE bytes of
 * out-of-line memory sent as MACH_MSG_PHYSICAL_COPY, deallocate FALSE:
 * how many were sent. */
static int send_ool(mach_port_t dest, mach_msg_id_t id)
{
    struct {
        mach_msg_header_t header;
        mach_msg_body_t body;
        mach_msg_ool_descriptor_t ool;
    } msg;
    char *data = malloc(OOL_SIZE);
    int sent = 0;

    if (!data)
        return 0;
    memset(data, 'x', OOL_SIZE);
    for (int i = 0; i < OOL_MESSAGES; i++) {
        memset(&msg, 0, sizeof msg);
        msg.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) |
                               MACH_MSGH_BITS_COMPLEX;
        msg.header.msgh_size = sizeof msg;
        msg.header.msgh_remote_port = dest;
        msg.header.msgh_id = id;
        msg.body.msgh_descriptor_count = 1;
        msg.ool.address = data;
        msg.ool.size = OOL_SIZE;
        msg.ool.deallocate = false;
        msg.ool.copy = MACH_MSG_PHYSICAL_COPY;
        msg.ool.type = MACH_MSG_OOL_DESCRIPTOR;
        if (mach_msg(&msg.header, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                     sizeof msg, 0, MACH_PORT_NULL, REPLY_MS,
                     MACH_PORT_NULL) == KERN_SUCCESS)
            sent++;
    }
    free(data);
    return sent;
}

static void ool(const cph_token_t *token)
{
    mach_port_t server = look_up("ool");

    if (!server)
        return;
    say("ool sent %d", send_ool(server, 1));
    mach_port_deallocate(mach_task_self(), server);
    attempt("right", token);
}

/* The same on the give port (in gives' id), then a good give. */
static void ool_give(const cph_token_t *token)
{
    mach_port_t give = check_in_keeping_last(token);

    if (!give)
        return;
    say("ool sent %d", send_ool(give, CPH__GIVE_ID));
    say("good sent %d", give_copy(give, "good"));
    mach_port_deallocate(mach_task_self(), give);
}

/* The port the parent put in this task's registered ports, taken out of
 * its slot; MACH_PORT_NULL if there is none. */
static mach_port_t nameless_port(void)
{
    const char *value = getenv(CPH__ENV_NAME);
    struct cph__env e;
    mach_port_t port = MACH_PORT_NULL;

    if (!value || cph__env_parse(value, &e) != 0 ||
        e.delivery != CPH_DELIVERY_NAMELESS ||
        cph__nameless_take(e.slot, &port) != 0)
        say("no port");
    return port;
}

/* One nameless check-in, as libcph_child makes it (no token). */
static void attempt_nameless(const char *name)
{
    static const uint8_t no_token[CPH__TOKEN_SIZE];

    attempt_on(name, nameless_port(), no_token);
}

/* The pid check: a process that inherited the port (a forking
 * wrapper's) cannot claim what was spawned for its parent. */
static int foreign(void)
{
    int status = -1;
    pid_t pid;

    fflush(out);
    pid = fork();
    if (pid == 0) {
        attempt_nameless("descendant");
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
        return 104;
    attempt_nameless("right");
    return 0;
}

static void drop_nameless(void)
{
    mach_port_t port = nameless_port();

    if (port)
        mach_port_deallocate(mach_task_self(), port);
    say("dropped");
}

/* A descendant keeps the right after this process let go of its own. */
static int hold(int fd)
{
    pid_t pid;

    fflush(out);
    pid = fork();
    if (pid == 0) {
        wait_eof(fd);
        _exit(0);
    }
    if (pid < 0)
        return 104;
    drop_nameless();
    alarm(10); /* the test kills us long before */
    for (;;)
        pause();
}

static int nameless(const char *mode, int argc, char **argv)
{
    if (strcmp(mode, "nlforeign") == 0)
        return foreign();
    if (strcmp(mode, "nldrop") == 0 && argc > 3) {
        drop_nameless();
        wait_eof(atoi(argv[3]));
        return 0;
    }
    if (strcmp(mode, "nlhold") == 0 && argc > 3)
        return hold(atoi(argv[3]));
    return -1;
}

/* Runs "d_child orphan" with stdout on out (the environment passes
 * CPH_HANDSHAKE on, the pipe fd is inheritable), then looks for the
 * token in the pipe. */
static int wrapper(void)
{
    char *argv[] = {"d_child", "orphan", NULL}, path[1024];
    cph_token_t token;
    posix_spawn_file_actions_t fa;
    int fd = parse_handshake(), status, err;
    pid_t pid;

    if (fd < 0)
        return 101;
    snprintf(path, sizeof path, "%s/d_child", CPH_DARWIN_HELPERS);
    fflush(out);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fileno(out), STDOUT_FILENO);
    err = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err || waitpid(pid, &status, 0) != pid)
        return 102;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    say("token %s", read(fd, token.val, sizeof token.val) ==
                            (ssize_t)sizeof token.val
                        ? "unread"
                        : "gone");
    return fclose(out) == 0 ? 0 : 103;
}

/* Exits with status, or 105 if this task holds a right it did not start
 * with (under the simulator), or 103 if OUT could not be written. */
static int finish(int status)
{
#ifdef CPH_SIMULATED_MACH
    if (!rights_left_none(out, 0) && status == 0)
        status = 105;
#endif
    return fclose(out) == 0 ? status : 103;
}

int main(int argc, char **argv)
{
    cph_token_t token, wrong;
    int fd;

    if (argc < 3)
        return 100;
    if (strcmp(argv[1], "nlexec") == 0) {
        char path[1024];

        snprintf(path, sizeof path, "%s/%s", CPH_DARWIN_HELPERS, argv[2]);
        execv(path, argv + 2);
        return 104;
    }
    out = strcmp(argv[2], "-") == 0 ? stdout : fopen(argv[2], "w");
    if (!out)
        return 100;
    if (strcmp(argv[1], "wrapper") == 0)
        return wrapper();
    if (strncmp(argv[1], "nl", 2) == 0) {
        int status = nameless(argv[1], argc, argv);

        if (status < 0)
            return 102;
        return finish(status);
    }
    fd = read_token(&token);
    if (fd < 0) {
        say("no token");
        return 101;
    }
    if (strcmp(argv[1], "readpipe") == 0) {
        close(fd);
        alarm(10); /* the test kills us long before */
        for (;;)
            pause();
    }
    if (strcmp(argv[1], "wrongthenright") == 0) {
        wrong = token;
        wrong.val[0] ^= 1;
        /* The pipe stays open: the server gives us up on its EOF. */
        attempt("wrong", &wrong);
        attempt("right", &token);
        attempt("again", &token);
    } else if (strcmp(argv[1], "late") == 0 && argc > 3) {
        wait_eof(atoi(argv[3]));
        attempt("late", &token);
    } else if (strcmp(argv[1], "rogue") == 0) {
        rogue(&token);
        attempt("right", &token);
    } else if (strncmp(argv[1], "flood", 5) == 0 && argc > 3) {
        bool signals = strstr(argv[1], "signal") != NULL;

        wait_eof(atoi(argv[3]));
        flood(&token, signals ? 400 : 100, signals,
              strstr(argv[1], "plain") != NULL);
    } else if (strcmp(argv[1], "roguegive") == 0 && argc > 3) {
        rogue_give(&token, atoi(argv[3]));
    } else if (strcmp(argv[1], "givedead") == 0 && argc > 3) {
        give_dead(&token, atoi(argv[3]));
    } else if (strcmp(argv[1], "givefull") == 0 && argc > 3) {
        give_full(&token, atoi(argv[3]), false);
    } else if (strcmp(argv[1], "givefullsignal") == 0 && argc > 3) {
        give_full(&token, atoi(argv[3]), true);
    } else if (strcmp(argv[1], "dropgive") == 0 && argc > 3) {
        drop_give(&token, atoi(argv[3]));
    } else if (strcmp(argv[1], "fullspace") == 0) {
        full_space(&token);
    } else if (strcmp(argv[1], "fullserver") == 0 && argc > 3) {
        full_server(&token, atoi(argv[3]));
    } else if (strcmp(argv[1], "ool") == 0) {
        ool(&token);
    } else if (strcmp(argv[1], "oolgive") == 0) {
        ool_give(&token);
    } else {
        return 102;
    }
    close(fd);
    return finish(0);
}
