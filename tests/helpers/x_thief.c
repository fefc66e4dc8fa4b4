/*
 * A same-uid process that takes a direct child's handles by checking in
 * on a copy of the child's end, as a thief would (linked with
 * libcph_child, so the real constructor does the taking):
 *
 *   x_thief getfd PID FD PARENT   copies fd FD of process PID
 *                                 (pidfd_getfd), names it in
 *                                 CPH_HANDSHAKE as the end PARENT made,
 *                                 and execs itself as "hold"
 *   x_thief hold                  what its constructor found:
 *                                 "status S count N", then waits for EOF
 *                                 on stdin before it exits
 *
 * Exit status 0, or 100+ for misuse.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cph/child.h>

static int take_copy(const char *pid, const char *fd, const char *parent)
{
    char value[128];
    struct stat st;
    int pidfd = (int)syscall(SYS_pidfd_open, atoi(pid), 0);
    int copy = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, atoi(fd), 0);

    if (copy < 0 || fstat(copy, &st) < 0)
        return 101;
    if (copy != atoi(fd) && dup2(copy, atoi(fd)) < 0)
        return 102;
    fcntl(atoi(fd), F_SETFD, 0);
    snprintf(value, sizeof value, "d:%s:%llu:%s", fd,
             (unsigned long long)st.st_ino, parent);
    setenv("CPH_HANDSHAKE", value, 1);
    execl("/proc/self/exe", "x_thief", "hold", (char *)NULL);
    return 103;
}

int main(int argc, char **argv)
{
    char c;

    if (argc == 5 && strcmp(argv[1], "getfd") == 0)
        return take_copy(argv[2], argv[3], argv[4]);
    if (argc != 2 || strcmp(argv[1], "hold") != 0)
        return 100;
    printf("status %d count %zu\n", cph_child_status(), cph_child_count());
    fflush(stdout);
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
