#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../transport.h"

/* The parent writes the token while its own read end is still open, so
 * that write can never raise SIGPIPE. */
int cph__pipe_create(int fds[2])
{
    return pipe2(fds, O_CLOEXEC) < 0 ? errno : 0;
}

int cph__pipe_check(int fd)
{
    struct stat st;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
        (flags & O_ACCMODE) != O_RDONLY)
        return EBADF;
    return 0;
}
