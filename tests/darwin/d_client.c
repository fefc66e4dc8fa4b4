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
 *   roguegive       checks in (the parent expects "good" and more), then
 *                   on the give port that came with the reply gives by
 *                   hand a send-once right to a bait of its own under
 *                   "bad", which is not expected: "unexpected refused"
 *                   once it comes back destroyed; the same under "good"
 *                   in a message of another id: "malformed refused"; then,
 *                   as libcph_child gives, under "good" a copy of its send
 *                   right to the give port itself: "good sent ERR"; then
 *                   waits for EOF on FD
 *
 * OUTCOME is "lookup-failed KR", "send-failed KR", "no-reply KR",
 * "refused" (the server destroyed the request), "unexpected ID",
 * "not-from-parent" or "accepted N KEY..." (N port descriptors).
 */
#include <errno.h>
#include <mach/mach.h>
#include <mach/ndr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "by_hand.h"
#include "core/cph_core.h"
#include "darwin/give.h"
#include "darwin/mig_glue.h"
#include "darwin/sdk.h"
#include "transport.h"

#define REPLY_MS 5000

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

/* One check-in with token, as libcph_child makes it. */
static void attempt(const char *name, const cph_token_t *token)
{
    mach_port_t server = look_up(name), reply;
    kern_return_t kr;

    if (!server)
        return;
    reply = receive_right();
    kr = cph__checkin_request(server, reply, (const uint8_t *)token->val,
                              cph__now_ms() + REPLY_MS);
    mach_port_deallocate(mach_task_self(), server);
    if (kr != KERN_SUCCESS)
        say("%s send-failed %#x", name, kr);
    else
        await_reply(name, reply);
    destroy_receive(reply);
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

static void flood(const cph_token_t *token)
{
    mach_port_t server = look_up("flood"), reply;
    mach_msg_type_number_t before;
    kern_return_t kr;

    if (!server)
        return;
    say("queued %d", fill_queue(server));
    reply = receive_right();
    before = count_names();
    kr = cph__checkin_request(server, reply, (const uint8_t *)token->val,
                              cph__now_ms() + 100);
    if (kr == MACH_SEND_TIMED_OUT)
        say("check-in timed-out");
    else
        say("check-in %#x", kr);
    say("names %s", count_names() == before ? "same" : "leaked");
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

/* Checks in with token and returns the send right to the give port, the
 * reply's last descriptor (the list attaches nothing). */
static mach_port_t check_in_for_give(const cph_token_t *token)
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

/* A send-once right to a bait of ours, given by hand under key in a
 * message of id: the parent must destroy it. */
static void give_bait(const char *name, mach_port_t give, mach_msg_id_t id,
                      const char *key)
{
    mach_port_t bait = receive_right();
    kern_return_t kr = give_by_hand(give, id, CPH__KIND_SEND_ONCE, key, bait,
                                    MACH_MSG_TYPE_MAKE_SEND_ONCE);

    if (kr != KERN_SUCCESS)
        say("%s send-failed %#x", name, kr);
    else
        await_reply(name, bait);
    destroy_receive(bait);
}

static void rogue_give(const cph_token_t *token, int fd)
{
    mach_port_t give = check_in_for_give(token);
    struct cph__handle good = {.kind = CPH__KIND_SEND, .fd = -1,
                               .port = give,
                               .disposition = MACH_MSG_TYPE_COPY_SEND};

    if (!give)
        return;
    give_bait("unexpected", give, CPH__GIVE_ID, "bad");
    give_bait("malformed", give, CPH__GIVE_ID + 1, "good");
    strcpy(good.key, "good");
    say("good sent %d",
        cph__give_send(give, &good, cph__now_ms() + REPLY_MS));
    wait_eof(fd);
}

int main(int argc, char **argv)
{
    cph_token_t token, wrong;
    int fd;

    if (argc < 3)
        return 100;
    out = strcmp(argv[2], "-") == 0 ? stdout : fopen(argv[2], "w");
    if (!out)
        return 100;
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
    } else if (strcmp(argv[1], "flood") == 0 && argc > 3) {
        wait_eof(atoi(argv[3]));
        flood(&token);
    } else if (strcmp(argv[1], "roguegive") == 0 && argc > 3) {
        rogue_give(&token, atoi(argv[3]));
    } else {
        return 102;
    }
    close(fd);
    return fclose(out) == 0 ? 0 : 103;
}
