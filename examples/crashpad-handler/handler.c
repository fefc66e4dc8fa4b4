/*
 * The handler side of Crashpad's handler start, ported to cph (Linux).
 *
 * Crashpad's crashpad_handler, started with ChildPortHandshake's pipe,
 * makes a receive right for the exception port it serves and checks in
 * with a send right to it (child_port_check_in). Here the handler makes
 * its own server end, a SOCK_SEQPACKET socketpair, and gives its parent
 * the other end under "handler": the parent's way to reach it.
 *
 * It then serves requests "dump <pid>" with "dumped <pid>" until the
 * parent hangs up. Linked with libcph_child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cph/child.h>

static int serve(int fd)
{
    char request[128], reply[160];
    ssize_t n;

    while ((n = recv(fd, request, sizeof request - 1, 0)) > 0) {
        int pid;

        request[n] = '\0';
        if (sscanf(request, "dump %d", &pid) != 1)
            snprintf(reply, sizeof reply, "bad request");
        else
            snprintf(reply, sizeof reply, "dumped %d", pid);
        if (send(fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
            return 1;
    }
    return n < 0 ? 1 : 0;
}

int main(void)
{
    int pair[2], err;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return 1;
    /* The parent receives its own duplicate; ours is closed at once, so
     * that the parent's hangup ends serve(). */
    err = cph_child_give_fd("handler", pair[1]);
    close(pair[1]);
    if (err) {
        fprintf(stderr, "handler: give: %s\n", strerror(err));
        return 1;
    }
    return serve(pair[0]);
}
