#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "linux/protocol.h"

int fuzz_count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;

    if (!dir) {
        fprintf(stderr, "fuzz: cannot read /proc/self/fd\n");
        abort();
    }
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

bool fuzz_send(int sock, const uint8_t *bytes, size_t len, int fd,
               size_t nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * FUZZ_FDS_MAX)];
    } control;
    struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (nfds > FUZZ_FDS_MAX)
        abort();
    if (nfds > 0) {
        unsigned char *fds = cph__attach_fds(&msg, control.space, nfds);
        for (size_t i = 0; i < nfds; i++)
            memcpy(fds + i * sizeof(int), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0;
}
