/*
 * A hostile child: checks in like any other (libcph_child), then speaks
 * the give protocol by hand on its give channel (the one SOCK_SEQPACKET
 * socket among its fds), trying to make its parent hold more than it
 * expected. x_rawgive sends, in order:
 *
 *   a give of "k" carrying 200 fds instead of 1;
 *   a give under "zz", which the parent did not expect;
 *   a message of garbage with 3 fds;
 *   a give of "k" with 2 entries;
 *   an empty message, which reads as an EOF (as the kernel reports one for
 *     a message that races its sender's close: see rights.c);
 *   a well-formed give of "k": a memfd holding "ok".
 *
 * Reports on stdout "sent N" (messages the channel took). Exit status 0,
 * or 100+ for misuse.
 *
 * x_rawgive flood: gives under "zz", which the parent did not expect,
 * each with 253 fds (cheap to send, dear to receive), as fast as the
 * channel takes them, until the parent is gone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cph/child.h>

#include "core/cph_core.h"
#include "linux/protocol.h"

static struct cph__message m;

static int channel(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name), type;
        socklen_t len = sizeof type;
        if (fd > 2 && fd != dirfd(d) &&
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
            type == SOCK_SEQPACKET)
            found = fd;
    }
    if (d)
        closedir(d);
    return found;
}

static int memfd_of(const char *text)
{
    int fd = memfd_create("x_rawgive", MFD_CLOEXEC);

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        exit(101);
    return fd;
}

/* A message of count entries (all "key", kind FD) and nfds copies of a
 * memfd holding text. */
static void build(const char *key, size_t count, size_t nfds, const char *text)
{
    struct cph__handle h[2] = {{.kind = CPH__KIND_FD}, {.kind = CPH__KIND_FD}};
    int fd = memfd_of(text);
    unsigned char *fds;

    strcpy(h[0].key, key);
    strcpy(h[1].key, key);
    h[0].fd = h[1].fd = fd;
    cph__message_build(&m, h, sizeof h[0], count, false, NULL, 0);
    fds = cph__attach_fds(&m.msg, m.control.space, nfds);
    for (size_t i = 0; i < nfds; i++)
        memcpy(fds + i * sizeof fd, &fd, sizeof fd);
}

int main(int argc, char **argv)
{
    int fd = channel(), sent = 0;

    if (cph_child_status() != 0 || fd < 0)
        return 100;
    if (argc == 2 && strcmp(argv[1], "flood") == 0) {
        build("zz", 1, CPH__FDS_PER_MESSAGE, "unexpected");
        while (sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0 ||
               errno == ETOOMANYREFS || errno == EINTR)
            ;
        return 0;
    }
    build("k", 1, 200, "flood");
    sent += sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0;
    build("zz", 1, 1, "unexpected");
    sent += sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0;
    build("k", 0, 3, "garbage");
    memcpy(m.bytes, "junk", 4);
    sent += sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0;
    build("k", 2, 2, "two");
    sent += sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0;
    sent += send(fd, "", 0, MSG_NOSIGNAL) >= 0;
    build("k", 1, 1, "ok");
    sent += sendmsg(fd, &m.msg, MSG_NOSIGNAL) >= 0;
    printf("sent %d\n", sent);
    return 0;
}
