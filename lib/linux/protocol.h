/*
 * The Linux wire format. Both deliveries carry handles in the same
 * messages, over a SOCK_SEQPACKET connection:
 *
 *   a message    "cph1", u16 count (native endian), u8 last (1 on the
 *                final message), u8 extra, then count key entries
 *                (core/wire.c); SCM_RIGHTS carries the count fds in the
 *                same order, then `extra` fds that are not handles (the
 *                direct delivery's receipt, see direct.c), which the
 *                receiver closes.
 *
 * Entries of kind EXPECT (keys the parent expects back) have no fd; they
 * follow the handles.
 *
 * Direct delivery: the parent queues every message in the channel before
 * posix_spawn, the final one (count 0) included, so that the child
 * reads them without waiting. The child's end has SO_PASSCRED: every
 * message carries its sender's pid, and the child takes only its
 * parent's. Right after posix_spawn the parent adds a trailer (count 0,
 * last 0, extra 1: a pidfd, see direct.c; extra 0 when it kept its
 * sending end instead), which a child that accepted the handles closes
 * if it is there (it never waits for it), and answers with the ack
 * (below) on the receipt, or on its end after a trailer without an fd. With expected keys the final
 * message has no extra fds, no trailer follows, and the channel stays
 * open as the child's give channel (below), where the ack goes.
 *
 * Pid-bound delivery, over a connection to the abstract Unix socket
 * "\0<service>":
 *   child -> server  one request: "cph1" + 16-byte token (no ancillary
 *                    data, exact size); then nothing but, when the child
 *                    could not take what came, one byte before it closes.
 *   server -> child  messages as above (extra 0), then the end of its
 *                    writing (EOF); it waits for the child's close: a
 *                    plain close says every handle arrived. A rejected
 *                    request is answered by closing the connection.
 * The server knows the child's pid from SO_PEERCRED; the child checks the
 * server's pid the same way. With expected keys the server keeps the
 * connection open after its last message: it is the child's give channel.
 *
 * Giving back, child -> parent on the give channel:
 *   ack          direct only: count 0, last 1, no fds: every handle
 *                arrived. Its pid, stamped by the kernel, must be the
 *                spawned process's or a descendant's (taker.c) for the
 *                parent's outcome 0. Nothing before it.
 *   give         count 1, last 0, extra 0: one entry of kind FD, its fd
 *                by SCM_RIGHTS. Anything else is dropped (fds closed).
 * The parent reads until the child hangs up or exits.
 */
#ifndef CPH_LINUX_PROTOCOL_H
#define CPH_LINUX_PROTOCOL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../core/cph_core.h"

#define CPH__MAGIC "cph1"
/* fds one message carries besides its handles, at most. */
#define CPH__EXTRA_MAX 2

struct cph__request {
    char magic[4];
    uint8_t token[CPH__TOKEN_SIZE];
};

struct cph__message_head {
    char magic[4];
    uint16_t count;
    uint8_t last;
    uint8_t extra;
};

#define CPH__MESSAGE_MAX \
    (sizeof(struct cph__message_head) + \
     CPH__FDS_PER_MESSAGE * (2 + CPH__KEY_MAX))

/* Room for the SCM_RIGHTS of any message, and the sender's
 * SCM_CREDENTIALS where the receiver asked for them (SO_PASSCRED). */
union cph__control {
    size_t align; /* a struct cmsghdr's alignment */
    char space[CMSG_SPACE(sizeof(int) *
                          (CPH__FDS_PER_MESSAGE + CPH__EXTRA_MAX)) +
               CMSG_SPACE(sizeof(pid_t) + sizeof(uid_t) + sizeof(gid_t))]; /* ucred */
};

/* A message under construction: its bytes and its SCM_RIGHTS. */
struct cph__message {
    struct msghdr msg;
    struct iovec iov;
    union cph__control control;
    uint8_t bytes[CPH__MESSAGE_MAX];
};

/* Fills m with handles base[0..count) (elements stride bytes apart, each
 * starting with a struct cph__handle; count <= CPH__FDS_PER_MESSAGE) and
 * the extra fds after them. */
void cph__message_build(struct cph__message *m, const void *base,
                        size_t stride, size_t count, bool last,
                        const int *extra, size_t nextra);

/* The message after the first `sent` entries of handles base[0..count)
 * followed by expects[0..nexpects) (kind EXPECT: no fd): as many entries
 * as one message takes, from one of the two arrays; final: mark it the
 * last if it reaches the end. Returns how many entries it holds. */
size_t cph__message_next(struct cph__message *m, const void *base,
                         size_t stride, size_t count,
                         const struct cph__handle *expects, size_t nexpects,
                         size_t sent, bool final);

/* SCM_RIGHTS fds of one received message, and the pid the kernel
 * stamped it with (0 without SCM_CREDENTIALS). */
struct cph__batch {
    int fds[CPH__FDS_PER_MESSAGE + CPH__EXTRA_MAX];
    size_t n;
    pid_t sender;
};

/* Takes every fd of msg's SCM_RIGHTS into b, whatever else is wrong with
 * the message, so that none is left open; more than b holds is EPROTO. */
int cph__take_fds(struct msghdr *msg, struct cph__batch *b);
void cph__batch_close(struct cph__batch *b);

/* Whether what cph__receive_message returned (n, b) is an EOF: no
 * bytes, no fds, and no sender, which any message, even an empty one,
 * carries where the receiver asked for it (SO_PASSCRED). */
static inline bool cph__eof(ssize_t n, const struct cph__batch *b)
{
    return n == 0 && b->n == 0 && !b->sender;
}

/* Receives one message from fd without waiting: its bytes into buf (len
 * of them), every fd it carries into b (MSG_CTRUNC in *flags, with the
 * message's other flags, if b could not hold them). recvmsg's result,
 * never an EOF for a message queued as the peer shut down (rights.c). */
ssize_t cph__receive_message(int fd, void *buf, size_t len,
                             struct cph__batch *b, int *flags);

/* Receives and closes whatever is queued on fd; whether there was
 * anything but trailers and acks. taker (if not NULL) gets the sender of
 * the acks (0 if none came, -1 if they came from different pids); unread
 * (if not NULL) how many messages this process sent, trailers aside,
 * were still there: counted only while fd stamps senders (SO_PASSCRED,
 * which the child turns off once it has read them). */
bool cph__drain(int fd, pid_t *taker, unsigned *unread);

/* The outcome of a record whose channel was left with messages, unread
 * of them the parent's from before the spawn (cph__drain's count): not
 * checked in (ENOTCONN) only for a direct child that left them all. */
int cph__direct_gone(const struct cph__record *r, unsigned unread);

/* Makes the kernel stamp every message received on fd with its sender's
 * pid (SO_PASSCRED), or stop. */
int cph__pass_creds(int fd, bool on);

/* rights.c */
unsigned char *cph__attach_fds(struct msghdr *msg, void *space, size_t n);

/* Receives messages from fd until the final one; the handles go to
 * *handles (malloc'd, *count of them), never at fds 0-2, and the final
 * message's extra fds to extra (the rest set to -1), or are closed when
 * extra is NULL. sender not 0: every message must carry it as its
 * SCM_CREDENTIALS pid (EPROTO otherwise). On error nothing received is
 * kept. */
int cph__receive_all(int fd, int64_t deadline_ms,
                     struct cph__handle **handles, size_t *count,
                     int extra[CPH__EXTRA_MAX], pid_t sender);

/* The abstract socket address of service; returns its length, or 0 when
 * the name does not fit. */
socklen_t cph__service_addr(const char *service, struct sockaddr_un *addr);

#endif
