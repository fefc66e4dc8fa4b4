/*
 * macOS: the check-in's reply as the child reads it, through
 * cph__reply_parse (lib/darwin/checkin.c), which makes no Mach call. The
 * input's first byte says whether the parent sent it (bit 0 clear); the
 * rest is the message as received, laid in a buffer the size of the
 * child's first one, its msgh_size set to its length (rounded down to 4,
 * as the kernel's are) and followed by the audit trailer the kernel
 * appends. After each input:
 *   - an accepted reply came from the parent, has CPH__REPLY_ID and is
 *     complex;
 *   - it yields one handle per descriptor, each with a valid key, its
 *     descriptor's name (MACH_PORT_NULL for a dead one), fd -1, and a
 *     disposition that owns a right of the kind.
 * Built by the macOS cross-build; nothing here has run (no Mac in CI).
 */
#include <stdlib.h>
#include <string.h>

#include "core/cph_core.h"
#include "darwin/mig_glue.h"
#include "fuzz.h"

#define PARENT 4242
/* As the child's first receive buffer (checkin.c). */
#define REPLY_MAX 16384

static union {
    mach_msg_header_t head;
    uint8_t bytes[REPLY_MAX + sizeof(mach_msg_max_trailer_t)];
} reply;

static mach_msg_type_name_t owned(uint8_t kind)
{
    switch (kind) {
    case CPH__KIND_FD:
    case CPH__KIND_SEND:
        return MACH_MSG_TYPE_MOVE_SEND;
    case CPH__KIND_SEND_ONCE:
        return MACH_MSG_TYPE_MOVE_SEND_ONCE;
    case CPH__KIND_RECEIVE:
        return MACH_MSG_TYPE_MOVE_RECEIVE;
    default:
        return MACH_MSG_TYPE_PORT_NONE;
    }
}

/* Handles first, one descriptor each; then expected keys (no descriptor)
 * and, with them, the give port's send right as the last descriptor. */
static void expect_handles(const struct cph__handle *h, size_t count,
                           mach_port_t give)
{
    mach_msg_body_t *body = (mach_msg_body_t *)(&reply.head + 1);
    mach_msg_port_descriptor_t *ports =
        (mach_msg_port_descriptor_t *)(body + 1);
    size_t handles = 0;

    if (reply.head.msgh_id != CPH__REPLY_ID ||
        !(reply.head.msgh_bits & MACH_MSGH_BITS_COMPLEX))
        abort();
    for (size_t i = 0; i < count; i++) {
        mach_port_t name;

        if (!cph__key_valid(h[i].key) || h[i].fd != -1)
            abort();
        if (h[i].kind == CPH__KIND_EXPECT)
            continue;
        if (handles != i)
            abort();
        name = ports[i].name == MACH_PORT_DEAD ? MACH_PORT_NULL
                                               : ports[i].name;
        if (h[i].port != name || h[i].disposition != owned(h[i].kind) ||
            h[i].disposition == MACH_MSG_TYPE_PORT_NONE)
            abort();
        handles++;
    }
    if (body->msgh_descriptor_count != handles + (handles < count) ||
        (handles == count && give != MACH_PORT_NULL) ||
        (handles < count && give != ports[handles].name))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mach_msg_audit_trailer_t trailer;
    struct cph__handle *h = NULL;
    mach_port_t give = MACH_PORT_NULL;
    size_t count = 0, len;

    if (size < 1)
        return 0;
    len = (size - 1) & ~(size_t)3;
    if (len > REPLY_MAX)
        len = REPLY_MAX;
    if (len < sizeof reply.head)
        return 0;
    memcpy(reply.bytes, data + 1, len);
    reply.head.msgh_size = (mach_msg_size_t)len;
    memset(&trailer, 0, sizeof trailer);
    trailer.msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0;
    trailer.msgh_trailer_size = sizeof trailer;
    trailer.msgh_audit.val[5] = data[0] & 1 ? PARENT + 1 : PARENT;
    memcpy(reply.bytes + round_msg(len), &trailer, sizeof trailer);

    if (cph__reply_parse(&reply.head, PARENT, &h, &count, &give) == 0) {
        if (data[0] & 1)
            abort();
        expect_handles(h, count, give);
        free(h); /* the names are made up: nothing to release */
    } else if (h) {
        abort();
    }
    return 0;
}
