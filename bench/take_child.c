/*
 * The benchmark's child: takes every handle it was given and exits 0
 * only if it got exactly argv[1] of them. Handed by cph, it takes each
 * received key; by plain inheritance (LISTEN_FDS), it takes fds 3... as
 * sd_listen_fds(3) does, marking each close-on-exec. Either way it keeps
 * them, as a server would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cph/child.h>

static int take_all(size_t expected)
{
    size_t n = cph_child_count();

    if (n != expected)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (cph_child_take_fd(cph_child_key(i)) < 0)
            return 1;
    return 0;
}

/* systemd's sd_listen_fds: fd_cloexec(fd, true) on each, a get and a
 * set. */
static int take_inherited(size_t expected)
{
    const char *listen = getenv("LISTEN_FDS");
    size_t n = listen ? strtoul(listen, NULL, 10) : 0;

    if (n != expected)
        return 1;
    for (int fd = 3; fd < 3 + (int)n; fd++) {
        int flags = fcntl(fd, F_GETFD);

        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t expected = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;

    if (cph_child_status() == 0)
        return take_all(expected);
    if (cph_child_status() != ENOENT)
        return 2;
    return take_inherited(expected);
}
