/*
 * A same-uid process trying to give a child's parent an fd under key
 * "k" (a memfd holding "rogue"), without being that child:
 *
 *   x_rogue proc PID       opens every fd of PID through /proc and sends
 *                          the give on each one that opens as a socket;
 *                          reports "reached N" (sockets it could send on)
 *   x_rogue name SERVICE   connects to the pid-bound service and sends
 *                          the give there; reports "sent R" (R: 0 or
 *                          errno), then "closed" once the server hangs up
 *
 * Reports on stdout. Exit status 0, or 100+ for misuse.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cph_core.h"
#include "linux/protocol.h"

static struct cph__message m;

/* 0, or errno */
static int send_give(int fd)
{
    struct cph__handle h = {.kind = CPH__KIND_FD, .key = "k"};

    h.fd = memfd_create("rogue", MFD_CLOEXEC);
    if (h.fd < 0 || write(h.fd, "rogue", 5) != 5)
        exit(101);
    cph__message_build(&m, &h, sizeof h, 1, false, NULL, 0);
    if (sendmsg(fd, &m.msg, MSG_NOSIGNAL) < 0)
        return errno;
    close(h.fd);
    return 0;
}

static int through_proc(const char *pid)
{
    char dir[64], path[384];
    DIR *d;
    struct dirent *e;
    int reached = 0;

    snprintf(dir, sizeof dir, "/proc/%s/fd", pid);
    d = opendir(dir);
    if (!d)
        return 102;
    while ((e = readdir(d))) {
        struct stat st;
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && send_give(fd) == 0)
            reached++;
        close(fd);
    }
    closedir(d);
    printf("reached %d\n", reached);
    return 0;
}

static int through_name(const char *service)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    char byte;

    if (len == 0 || fd < 0 || connect(fd, (struct sockaddr *)&addr, len) < 0)
        return 103;
    printf("sent %d\n", send_give(fd));
    fflush(stdout);
    if (recv(fd, &byte, 1, 0) <= 0)
        printf("closed\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 100;
    if (strcmp(argv[1], "proc") == 0)
        return through_proc(argv[2]);
    if (strcmp(argv[1], "name") == 0)
        return through_name(argv[2]);
    return 100;
}
