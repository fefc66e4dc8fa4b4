/*
 * A child NOT linked with libcph_child: it never checks in.
 * h_plain MODE OUT [MS]:
 *
 *   sleep      sleeps MS milliseconds, then exits
 *   closepipe  closes the fd CPH_HANDSHAKE names, then sleeps MS
 *   pipeino    writes the inode of the fd CPH_HANDSHAKE names
 *   pipes      writes the inode of every pipe and socket among its fds
 *              >= 3 (cph's channel is one or the other)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int handshake_fd(void)
{
    const char *v = getenv("CPH_HANDSHAKE");

    /* "d:<fd>:..." or "p:<fd>:..." */
    return v && (v[0] == 'd' || v[0] == 'p') && v[1] == ':' ? atoi(v + 2)
                                                              : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static void pipe_inodes(FILE *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    struct stat st;

    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd >= 3 && fd != dirfd(d) && fstat(fd, &st) == 0 &&
            (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
            fprintf(out, "%lu\n", (unsigned long)st.st_ino);
    }
    if (d)
        closedir(d);
}

int main(int argc, char **argv)
{
    long ms = argc > 3 ? atol(argv[3]) : 0;
    struct stat st;
    FILE *out;

    if (argc < 3 || !(out = fopen(argv[2], "w")))
        return 100;
    if (strcmp(argv[1], "closepipe") == 0)
        fprintf(out, "closing %d\n", fcntl(handshake_fd(), F_GETFD) >= 0);
    else if (strcmp(argv[1], "pipeino") == 0 &&
             fstat(handshake_fd(), &st) == 0)
        fprintf(out, "%lu\n", (unsigned long)st.st_ino);
    else if (strcmp(argv[1], "pipes") == 0)
        pipe_inodes(out);
    /* The report is complete before the pipe closes: the parent may read
     * it as soon as it sees the pipe's EOF. */
    fclose(out);
    if (strcmp(argv[1], "closepipe") == 0)
        close(handshake_fd());
    sleep_ms(ms);
    return 0;
}
