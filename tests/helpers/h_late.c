/*
 * A child linked with libcph_child whose check-in may fail late (test_late
 * injects allocation failures and fd limits into it):
 *
 *   h_late status      exits with cph_child_status()
 *   h_late report      writes "status N" and "took N" (the fd under
 *                      "report" itself is where it writes)
 *   h_late give KEY    gives a memfd under KEY; exits with its result,
 *                      or 100 + the check-in's status when it failed
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cph/child.h>

int main(int argc, char **argv)
{
    int status = cph_child_status();

    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return status;
    if (argc == 2 && strcmp(argv[1], "report") == 0) {
        int fd = cph_child_take_fd("report");
        if (fd >= 0)
            dprintf(fd, "status %d\ntook %d\n", status, fd >= 0);
        return status;
    }
    if (argc == 3 && strcmp(argv[1], "give") == 0) {
        int fd = memfd_create("given", MFD_CLOEXEC);
        if (status)
            return 100 + status;
        return fd < 0 ? 99 : cph_child_give_fd(argv[2], fd);
    }
    return 99;
}
