/*
 * The child's half of the Linux pid-bound check-in (see protocol.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../transport.h"
#include "protocol.h"

struct cph__checkin {
    int fd;
};

static void set_send_timeout(int fd, int64_t deadline_ms)
{
    int ms = cph__ms_left(deadline_ms);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    /* A zero timeval means "no timeout" to the kernel. */
    if (ms == 0)
        tv.tv_usec = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The listener's credentials are those of whoever called listen(). */
static int check_server(int fd, pid_t parent)
{
    struct ucred cred;
    socklen_t len = sizeof cred;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return errno;
    return cred.pid == parent ? 0 : EPERM;
}

int cph__checkin_send(const char *service, const uint8_t *token,
                      pid_t parent, int64_t deadline_ms,
                      struct cph__checkin **out)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    struct cph__checkin *c;
    int fd, err;

    if (len == 0)
        return EINVAL;
    c = malloc(sizeof *c);
    if (!c)
        return ENOMEM;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    /* connect waits (up to SO_SNDTIMEO) while the listener's backlog is
     * full. */
    set_send_timeout(fd, deadline_ms);
    memcpy(req.token, token, sizeof req.token);
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) {
        err = errno;
        if (err == ENOENT)
            err = ECONNREFUSED;
        else if (err == EAGAIN || err == EINPROGRESS)
            err = ETIMEDOUT;
        goto fail_fd;
    }
    /* Before the token goes anywhere. */
    err = check_server(fd, parent);
    if (err)
        goto fail_fd;
    if (send(fd, &req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) {
        err = errno == EAGAIN ? ETIMEDOUT : errno;
        goto fail_fd;
    }
    c->fd = fd;
    *out = c;
    return 0;
fail_fd:
    close(fd);
fail:
    free(c);
    return err == EPIPE ? ECONNRESET : err;
}

int cph__checkin_receive(struct cph__checkin *c, int64_t deadline_ms,
                         struct cph__handle **handles, size_t *count)
{
    int err = cph__receive_all(c->fd, deadline_ms, handles, count, NULL, 0);

    free(c);
    return err;
}

/* The server takes a plain close for the handles' receipt: a child that
 * could not take them, or failed after, says so first. */
void cph__checkin_confirm(int fd, int err)
{
    if (err)
        send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int cph__checkin_fd(const struct cph__checkin *c)
{
    return c->fd;
}
