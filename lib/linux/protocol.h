/*
 * The Linux check-in, over a SOCK_SEQPACKET connection to the abstract
 * Unix socket "\0<service>":
 *
 *   child -> server  one request: "cph1" + 16-byte token; nothing else
 *                    (no ancillary data, exact size).
 *   server -> child  one or more replies, each: "cph1", u16 handle count
 *                    (native endian), u8 last (1 on the final reply), u8
 *                    zero, then count key entries (core/wire.c), with the
 *                    count fds attached by SCM_RIGHTS in the same order.
 *                    Then the server closes the connection.
 *
 * A rejected request is answered by closing the connection. The server
 * knows the child's pid from SO_PEERCRED; the child checks the server's
 * pid the same way.
 */
#ifndef CPH_LINUX_PROTOCOL_H
#define CPH_LINUX_PROTOCOL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../core/cph_core.h"

#define CPH__MAGIC "cph1"
/* The kernel's SCM_MAX_FD: most fds one message can carry. */
#define CPH__FDS_PER_REPLY 253

struct cph__request {
    char magic[4];
    uint8_t token[CPH__TOKEN_SIZE];
};

struct cph__reply_head {
    char magic[4];
    uint16_t count;
    uint8_t last;
    uint8_t zero;
};

#define CPH__REPLY_MAX \
    (sizeof(struct cph__reply_head) + CPH__FDS_PER_REPLY * (2 + CPH__KEY_MAX))

/* The abstract socket address of service; returns its length, or 0 when
 * the name does not fit. */
socklen_t cph__service_addr(const char *service, struct sockaddr_un *addr);

/* rights.c */
unsigned char *cph__attach_fds(struct msghdr *msg, void *space, size_t n);

#endif
