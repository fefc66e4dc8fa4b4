/*
 * A normal child, linked with libcph_child, launched by x_fakeparent or
 * by hand with a crafted CPH_HANDSHAKE. x_child OUT [FD...] writes to
 * the file OUT, once main has run:
 *
 *   started MS    CLOCK_MONOTONIC ms at which main started
 *   status N      cph_child_status()
 *   env set|unset whether CPH_HANDSHAKE is still in the environment
 *   count N       cph_child_count()
 *   key K         each key received, in order
 *   sent N        open fds that are memfds named "cph-x-sent" (what a
 *                 fake parent sends): received and kept, taken or not
 *   fd N open|closed, and "regular" when it is a regular file: each FD
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cph/child.h>

static int count_sent(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[64], link[256];
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        ssize_t len;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        len = readlink(path, link, sizeof link - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (strncmp(link, "/memfd:cph-x-sent", 17) == 0)
            n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    struct timespec ts;
    FILE *out;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc < 2 || !(out = fopen(argv[1], "we")))
        return 100;
    fprintf(out, "started %lld\n",
            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    fprintf(out, "status %d\n", cph_child_status());
    fprintf(out, "env %s\n", getenv("CPH_HANDSHAKE") ? "set" : "unset");
    fprintf(out, "count %zu\n", cph_child_count());
    for (size_t i = 0; cph_child_key(i); i++)
        fprintf(out, "key %s\n", cph_child_key(i));
    fprintf(out, "sent %d\n", count_sent());
    for (int i = 2; i < argc; i++) {
        int fd = atoi(argv[i]);
        struct stat st;
        bool open = fcntl(fd, F_GETFD) >= 0;

        fprintf(out, "fd %d %s%s\n", fd, open ? "open" : "closed",
                open && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                    ? " regular" : "");
    }
    return fclose(out) == 0 ? 0 : 101;
}
