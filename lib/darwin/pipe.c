/*
 * macOS has no pipe2: like Crashpad, the pipe is a socketpair shut down
 * to one direction, with SO_NOSIGPIPE so that nothing the parent does
 * with it can raise SIGPIPE. The parent keeps [1] and watches it for
 * EV_EOF (EVFILT_WRITE), which comes once every copy of [0] is closed.
 *
 * macOS has no SOCK_CLOEXEC (nor pipe2, nor O_CLOEXEC for either), so
 * between socketpair() and the two fcntl() calls a posix_spawn by another
 * thread inherits both ends; a fork() there is covered by the core's
 * atfork handler (this runs under cph's lock). No atomic alternative
 * exists: spawn.h and the README say so.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../transport.h"

int cph__pipe_create(int fds[2])
{
    int on = 1;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        return errno;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0 ||
        shutdown(fds[0], SHUT_WR) < 0 || shutdown(fds[1], SHUT_RD) < 0 ||
        setsockopt(fds[1], SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return err;
    }
    return 0;
}

int cph__pipe_check(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return EBADF;
    return 0;
}
