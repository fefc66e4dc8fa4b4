/*
 * An outsider that knows a pid-bound service name and only connects and
 * closes, in a loop, until killed. x_flood SERVICE OUT writes "flooding"
 * to the file OUT once 100 connections went through. It dies with the
 * test that started it: a failed assertion does not leave it spinning.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux/protocol.h"

int main(int argc, char **argv)
{
    struct sockaddr_un addr;
    socklen_t len;
    pid_t parent = getppid();
    FILE *out;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        return 102;
    if (argc < 3 || (len = cph__service_addr(argv[1], &addr)) == 0)
        return 100;
    for (long n = 1;; n++) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd < 0)
            return 101;
        connect(fd, (struct sockaddr *)&addr, len);
        close(fd);
        if (n == 100 && (out = fopen(argv[2], "we"))) {
            fputs("flooding\n", out);
            fclose(out);
        }
    }
}
