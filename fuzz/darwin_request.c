/*
 * macOS: a request to the server as it is handled before any Mach call:
 * the demux MIG generates from mig/cph.defs (cph_checkin_server), which
 * lib/darwin/server.c calls on each message it receives, and which calls
 * cph__server_check_in for a check_in it accepts. The harness stands in
 * for that function (server.c's claims a record and replies over Mach).
 * Each input is a message as received, laid in a buffer the size of
 * server.c's, its msgh_size set to its length (rounded down to 4) and
 * followed by the audit trailer the kernel appends. After each input:
 * check_in was called if and only if the message is a check_in request
 * (its id, not complex, its exact size), with the header's reply port
 * (msgh_remote_port, once received) and the trailer's audit token.
 * Built by the macOS cross-build; nothing here has run (no Mac in CI).
 */
#include <stdlib.h>
#include <string.h>

#include "darwin/mig_glue.h"
#include "fuzz.h"

#define SENDER 4242
/* As server.c's REQUEST_MAX. */
#define REQUEST_MAX 1024

static union {
    mach_msg_header_t head;
    uint8_t bytes[REQUEST_MAX + sizeof(mach_msg_max_trailer_t)];
} request;

static struct {
    bool called;
    mach_port_t reply;
    pid_t sender;
} seen;

kern_return_t cph__server_check_in(mach_port_t server, mach_port_t reply,
                                   cph_token_t token, audit_token_t audit)
{
    (void)server;
    (void)token;
    seen.called = true;
    seen.reply = reply;
    seen.sender = (pid_t)audit.val[5];
    return KERN_FAILURE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mach_msg_audit_trailer_t trailer;
    mig_reply_error_t out;
    size_t len = size & ~(size_t)3;
    bool check_in;

    if (len > REQUEST_MAX)
        len = REQUEST_MAX;
    if (len < sizeof request.head)
        return 0;
    memcpy(request.bytes, data, len);
    request.head.msgh_size = (mach_msg_size_t)len;
    memset(&trailer, 0, sizeof trailer);
    trailer.msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0;
    trailer.msgh_trailer_size = sizeof trailer;
    trailer.msgh_audit.val[5] = SENDER;
    memcpy(request.bytes + round_msg(len), &trailer, sizeof trailer);

    memset(&out, 0, sizeof out);
    memset(&seen, 0, sizeof seen);
    cph_checkin_server(&request.head, &out.Head);
    check_in = request.head.msgh_id == CPH__MIG_BASE &&
               !(request.head.msgh_bits & MACH_MSGH_BITS_COMPLEX) &&
               len == sizeof(struct cph__checkin_request);
    if (seen.called != check_in ||
        (check_in && (seen.reply != request.head.msgh_remote_port ||
                      seen.sender != SENDER)))
        abort();
    return 0;
}
