/*
 * The child's receipt of handles (see protocol.h), for both deliveries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"

/* The kernel truncates SCM_RIGHTS when this process cannot take more fds
 * (or the sender sent more than fit): tell which. */
static int truncated(int fd)
{
    int probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);

    if (probe < 0)
        return errno == EMFILE || errno == ENFILE ? errno : EPROTO;
    close(probe);
    return EPROTO;
}

/* A received fd at 0, 1 or 2 (the caller had closed them) would become
 * the program's stdin, stdout or stderr: move it up. */
static int move_up(int *fd)
{
    int moved;

    if (*fd > 2)
        return 0;
    moved = cph__dup_from(*fd, 3);
    if (moved < 0)
        return errno;
    close(*fd);
    *fd = moved;
    return 0;
}

static int wait_readable(int fd, int64_t deadline_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready;

    do
        ready = poll(&pfd, 1, cph__ms_left(deadline_ms));
    while (ready < 0 && errno == EINTR);
    if (ready < 0)
        return errno;
    return ready == 0 ? ETIMEDOUT : 0;
}

/* Checks one message (n bytes, b's fds) and appends its handles to
 * h[*count...], which has room for the entries the head announces. cut: the
 * kernel truncated the fds. */
static int parse(const uint8_t *bytes, size_t n, struct cph__batch *b, bool cut,
                 int fd, struct cph__handle *h, size_t *count, bool *last)
{
    struct cph__message_head head;
    size_t off = sizeof head, nfds = 0;

    if (n < sizeof head)
        return cut ? truncated(fd) : EPROTO;
    memcpy(&head, bytes, sizeof head);
    if (memcmp(head.magic, CPH__MAGIC, sizeof head.magic) != 0 ||
        head.count > CPH__FDS_PER_MESSAGE || head.extra > CPH__EXTRA_MAX ||
        (head.extra && !head.last))
        return EPROTO;
    /* Every entry is checked before any fd is committed. */
    for (size_t i = 0; i < head.count; i++) {
        struct cph__handle *e = &h[*count + i];
        if (cph__wire_get(bytes, n, &off, e) != 0 ||
            (e->kind != CPH__KIND_FD && e->kind != CPH__KIND_EXPECT))
            return EPROTO;
        e->fd = -1;
        nfds += e->kind == CPH__KIND_FD;
    }
    if (off != n)
        return EPROTO;
    /* Out of fds, the kernel keeps the first ones: losing even the
     * receipt is out of fds, since the ack goes on it (direct_child.c). */
    if (b->n < nfds + head.extra)
        return cut ? truncated(fd) : EPROTO;
    if (b->n > nfds + head.extra)
        return EPROTO;
    for (size_t i = 0; i < nfds; i++) {
        int err = move_up(&b->fds[i]);
        if (err)
            return err;
    }
    for (size_t i = 0, next = 0; i < head.count; i++) {
        if (h[*count + i].kind != CPH__KIND_FD)
            continue;
        h[*count + i].fd = b->fds[next];
        b->fds[next++] = -1;
    }
    *count += head.count;
    *last = head.last != 0;
    return 0;
}

/* Room for the entries a message says it holds (parse checks them):
 * none for the final message, whose reading nothing may fail after (the
 * parent's outcome follows the receipt, direct_child.c). */
static size_t entries(const uint8_t *bytes, size_t n)
{
    struct cph__message_head head;

    if (n < sizeof head)
        return 0;
    memcpy(&head, bytes, sizeof head);
    return head.count <= CPH__FDS_PER_MESSAGE ? head.count : 0;
}

/* The handles of a small list live here, not in the heap: the first
 * malloc of a process costs a page fault or more (brk, glibc's tcache
 * set-up), which a constructor receiving a few handles need not pay for
 * the program. The constructor is the only caller (serialized). */
#define SMALL_LIST 32
static struct cph__handle small_list[SMALL_LIST];

/* *h grown to hold total handles, the first *count of them kept. */
static int grow(struct cph__handle **h, size_t count, size_t total)
{
    struct cph__handle *grown;

    if ((!*h || *h == small_list) && total <= SMALL_LIST) {
        *h = small_list;
        return 0;
    }
    if (*h == small_list) {
        grown = malloc(total * sizeof *grown);
        if (grown)
            memcpy(grown, small_list, count * sizeof *grown);
    } else {
        grown = realloc(*h, total * sizeof *grown);
    }
    if (!grown)
        return ENOMEM;
    *h = grown;
    return 0;
}

void cph__received_free(struct cph__handle *handles)
{
    if (handles != small_list)
        free(handles);
}

/* Receives one message and appends its handles to *h; the final one's
 * extra fds go to extra when it is not NULL. */
static int receive_one(int fd, int64_t deadline_ms, uint8_t *bytes,
                       struct cph__handle **h, size_t *count, bool *last,
                       int extra[CPH__EXTRA_MAX], pid_t sender)
{
    struct cph__batch b;
    ssize_t n;
    int flags = 0, err = 0;

    /* Usually queued already (direct: before the child existed). */
    while ((n = cph__receive_message(fd, bytes, CPH__MESSAGE_MAX, &b,
                                     &flags)) < 0 &&
           (errno == EAGAIN || errno == EINTR)) {
        err = wait_readable(fd, deadline_ms);
        if (err)
            return err;
    }
    if (n < 0)
        return errno == EPIPE || errno == ECONNRESET ? ECONNRESET : errno;
    if (cph__eof(n, &b))
        err = ECONNRESET; /* the peer closed before the final message */
    if (!err && ((flags & MSG_TRUNC) || (sender && b.sender != sender)))
        err = EPROTO;
    if (!err && entries(bytes, (size_t)n) > 0)
        err = grow(h, *count, *count + entries(bytes, (size_t)n));
    if (!err)
        err = parse(bytes, (size_t)n, &b, flags & MSG_CTRUNC, fd, *h, count,
                    last);
    for (size_t i = 0, j = 0; i < b.n; i++) {
        if (b.fds[i] < 0)
            continue;
        if (!err && extra && j < CPH__EXTRA_MAX)
            extra[j++] = b.fds[i];
        else
            close(b.fds[i]);
    }
    return err;
}

int cph__receive_all(int fd, int64_t deadline_ms,
                     struct cph__handle **handles, size_t *count,
                     int extra[CPH__EXTRA_MAX], pid_t sender)
{
    struct cph__handle *h = NULL;
    static uint8_t bytes[CPH__MESSAGE_MAX]; /* callers are serialized */
    size_t n = 0;
    bool last = false;
    int err = 0;

    for (size_t i = 0; extra && i < CPH__EXTRA_MAX; i++)
        extra[i] = -1;
    while (!err && !last)
        err = receive_one(fd, deadline_ms, bytes, &h, &n, &last, extra,
                          sender);
    if (err) {
        cph__handles_release(h, n);
        cph__received_free(h);
        return err;
    }
    *handles = h;
    *count = n;
    return 0;
}
