/*
 * The messages of the macOS handler example: a request carries the
 * client's pid and a send-once right to answer on; the answer carries
 * the same pid back. Plain Mach messages, as Crashpad's exception
 * requests are.
 */
#ifndef CRASHPAD_EXAMPLE_MAC_H
#define CRASHPAD_EXAMPLE_MAC_H

#include <mach/mach.h>

#define DUMP_REQUEST 0x4344 /* "CD" */
#define DUMP_DONE (DUMP_REQUEST + 100)

struct dump_message {
    mach_msg_header_t header;
    int32_t pid;
};

/* Room for one message and the trailer the kernel appends. */
union dump_buffer {
    struct dump_message m;
    uint8_t bytes[sizeof(struct dump_message) + sizeof(mach_msg_max_trailer_t)];
};

#endif
