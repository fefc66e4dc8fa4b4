/*
 * setsockopt with SO_NOSIGPIPE (xnu bsd/sys/socket.h 0x1022;
 * bsd/kern/uipc_socket.c sosetoptlock sets SOF_NOSIGPIPE, which keeps a write
 * to a socket whose peer left from raising SIGPIPE). Linux has no such option;
 * the option is checked as xnu checks it and then accepted without effect.
 * That is enough for cph: the only socket it sets it on (lib/darwin/pipe.c) is
 * never written after the reader left, so nothing could raise SIGPIPE there.
 * Every other option goes to Linux's setsockopt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* sosetoptlock: ENOTSOCK for what is not a socket (EBADF for no fd);
 * sooptcopyin: EINVAL for a value smaller than an int. */
static int check_nosigpipe(int fd, socklen_t len)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return errno;
    if (!S_ISSOCK(st.st_mode))
        return ENOTSOCK;
    if (len < sizeof(int))
        return EINVAL;
    return 0;
}

int machsim_setsockopt(int fd, int level, int name, const void *value,
                       socklen_t len)
{
    int err;

    if (level != SOL_SOCKET || name != SO_NOSIGPIPE)
        return (int)syscall(SYS_setsockopt, fd, level, name, value, len);
    err = check_nosigpipe(fd, len);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
