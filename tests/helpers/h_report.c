/*
 * A child linked with libcph_child that reports on the fd it takes under
 * "report" (or on stdout when there is none). h_report MODE [ARGS...]:
 *
 *   show              what main() found: status, CPH_HANDSHAKE, environ
 *                     size, count and keys (before "report" was taken)
 *   read              takes every other fd in order: "KEY=first line"
 *   ino               takes every other fd: "KEY DEV INO TYPE"
 *   api               the child API on a list {a, b, c, report}
 *   stdin             show, then whether fd 0 is /dev/null
 *   pgrp              show, then whether it leads its own process group
 *   fds               every open fd >= 3 but the report: "fd N"
 *   write KEY TEXT    writes TEXT to KEY
 *   echo KEY          echoes one message on the stream socket KEY
 *   accept KEY        accepts one connection on KEY and sends "x"
 *   udp KEY           returns one datagram on KEY to its sender
 *   openat KEY NAME   opens NAME in directory KEY: "NAME=first line"
 *   counter KEY       reads eventfd KEY's value V, adds V + 1 back
 *   numbered N        KEY kNNN (in add order) holds "NNN" for NNN < N
 *   expect KEY TEXT   exit 0 only if checked in and KEY holds TEXT
 *                     (pread at 0, so a shared memfd serves many)
 *   grandchild        posix_spawns /usr/bin/env with environ, its output
 *                     into the report, then "grandchild STATUS"
 *
 * Exit status: 0, 1 for a failed expectation, 100+ for misuse.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/child.h>

extern char **environ;

static FILE *out;
static int report_fd = -1;
static char *initial;

/* What main() saw, before anything was taken. */
static void snapshot(void)
{
    size_t size, envc = 0, marked = 0;
    FILE *f = open_memstream(&initial, &size);

    for (char **e = environ; e && *e; e++, envc++)
        marked += strncmp(*e, "CPH_HANDSHAKE", 13) == 0;
    fprintf(f, "status %d\n", cph_child_status());
    fprintf(f, "env %s\n", getenv("CPH_HANDSHAKE") ? "set" : "unset");
    fprintf(f, "environ %zu marked %zu\n", envc, marked);
    fprintf(f, "count %zu\n", cph_child_count());
    for (size_t i = 0; cph_child_key(i); i++)
        fprintf(f, "key %s\n", cph_child_key(i));
    fclose(f);
}

static int take(const char *key)
{
    int fd = cph_child_take_fd(key);

    if (fd < 0)
        fprintf(out, "missing %s %d\n", key, errno);
    return fd;
}

/* The first line of what one read gives. */
static void read_line(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);

    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

/* Calls fn(key, fd) for every handle but "report" (taken first), in
 * order, and closes it. */
static void each_handle(void (*fn)(const char *key, int fd))
{
    for (size_t i = 0; i < cph_child_count(); i++) {
        const char *key = cph_child_key(i);
        int fd;

        if (strcmp(key, "report") == 0)
            continue;
        fd = take(key);
        if (fd < 0)
            return;
        fn(key, fd);
        close(fd);
    }
}

static void print_line(const char *key, int fd)
{
    char buf[256];

    read_line(fd, buf, sizeof buf);
    fprintf(out, "%s=%s\n", key, buf);
}

static void print_ino(const char *key, int fd)
{
    struct stat st;

    if (fstat(fd, &st) == 0)
        fprintf(out, "%s %ju %ju %o\n", key, (uintmax_t)st.st_dev,
                (uintmax_t)st.st_ino, (unsigned)(st.st_mode & S_IFMT));
}

static void api(void)
{
    const char *b = cph_child_key(1);
    int fd;

    fprintf(out, "count %zu\n", cph_child_count());
    for (size_t i = 0; i <= cph_child_count(); i++)
        fprintf(out, "key%zu %s\n", i,
                cph_child_key(i) ? cph_child_key(i) : "(null)");
    fd = cph_child_take_fd("a");
    fprintf(out, "take a %s cloexec %d\n", fd >= 0 ? "ok" : "fail",
            fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    fprintf(out, "count %zu key0 %s\n", cph_child_count(), cph_child_key(0));
    errno = 0;
    fd = cph_child_take_fd("a");
    fprintf(out, "again %d %s\n", fd, strerror(errno));
    errno = 0;
    fd = cph_child_take_fd("nope");
    fprintf(out, "unknown %d %s\n", fd, strerror(errno));
    errno = 0;
    fd = cph_child_take_fd(NULL);
    fprintf(out, "null %d %s\n", fd, strerror(errno));
    fd = cph_child_take_fd("c");
    fprintf(out, "take c %s\n", fd >= 0 ? "ok" : "fail");
    /* b was looked up before both takes. */
    fprintf(out, "b still %s\n", b);
}

static bool same_file(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
           a.st_rdev == b.st_rdev && (a.st_mode & S_IFMT) == (b.st_mode & S_IFMT);
}

static void open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 3 && fd != dirfd(d) &&
            fd != report_fd)
            fprintf(out, "fd %d\n", fd);
    }
    if (d)
        closedir(d);
}

static void write_text(const char *key, const char *text)
{
    int fd = take(key);
    ssize_t n = write(fd, text, strlen(text));

    fprintf(out, "wrote %zd\n", n);
}

static void echo(const char *key)
{
    int fd = take(key);
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);

    fprintf(out, "echoed %d\n", n > 0 && write(fd, buf, (size_t)n) == n);
}

static void accept_one(const char *key)
{
    int fd = take(key), conn = accept(fd, NULL, NULL);

    fprintf(out, "accepted %d\n", conn >= 0 && write(conn, "x", 1) == 1);
    if (conn >= 0)
        close(conn);
}

static void udp(const char *key)
{
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    int fd = take(key);
    char buf[256];
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from,
                         &len);

    fprintf(out, "returned %d\n",
            n > 0 && sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from,
                            len) == n);
}

static void open_in(const char *key, const char *name)
{
    int dir = take(key), fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    char buf[256] = "";

    if (fd >= 0)
        read_line(fd, buf, sizeof buf);
    fprintf(out, "%s=%s\n", name, fd >= 0 ? buf : strerror(errno));
}

static void counter(const char *key)
{
    int fd = take(key);
    uint64_t v = 0, back;

    if (read(fd, &v, sizeof v) != sizeof v)
        v = 0;
    back = v + 1;
    fprintf(out, "counter %" PRIu64 " wrote %d\n", v,
            write(fd, &back, sizeof back) == sizeof back);
}

static void numbered(int n)
{
    int bad = 0;

    for (int i = 0; i < n; i++) {
        char key[16], want[16], got[256];
        const char *at = cph_child_key((size_t)i);
        int fd;

        snprintf(key, sizeof key, "k%03d", i);
        snprintf(want, sizeof want, "%03d", i);
        if (!at || strcmp(at, key) != 0) {
            fprintf(out, "order %s at %s\n", key, at ? at : "(end)");
            bad++;
        }
        if ((fd = take(key)) < 0) {
            bad++;
            continue;
        }
        read_line(fd, got, sizeof got);
        close(fd);
        if (strcmp(got, want) != 0) {
            fprintf(out, "%s holds %s\n", key, got);
            bad++;
        }
    }
    fprintf(out, "numbered %d bad %d count %zu\n", n, bad, cph_child_count());
}

static int expect(const char *key, const char *text)
{
    char buf[256];
    int fd = cph_child_take_fd(key);
    ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof buf - 1, 0);

    if (n < 0 || cph_child_status() != 0)
        return 1;
    buf[n] = '\0';
    return strcmp(buf, text) == 0 ? 0 : 1;
}

static void grandchild(void)
{
    char *argv[] = {"env", NULL};
    posix_spawn_file_actions_t fa;
    int status = -1;
    pid_t pid;

    fflush(out);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fileno(out), 1);
    if (posix_spawn(&pid, "/usr/bin/env", &fa, NULL, argv, environ) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    fprintf(out, "grandchild %d\n", status);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *a1 = argc > 2 ? argv[2] : NULL, *a2 = argc > 3 ? argv[3] : NULL;
    int rc = 0;

    snapshot();
    report_fd = cph_child_take_fd("report");
    out = fdopen(report_fd >= 0 ? report_fd : 1, "w");
    if (!out)
        return 100;
    if (strcmp(mode, "show") == 0)
        fputs(initial, out);
    else if (strcmp(mode, "read") == 0)
        each_handle(print_line);
    else if (strcmp(mode, "ino") == 0)
        each_handle(print_ino);
    else if (strcmp(mode, "api") == 0)
        api();
    else if (strcmp(mode, "stdin") == 0)
        fprintf(out, "%sstdin devnull %d\n", initial,
                same_file(0, "/dev/null"));
    else if (strcmp(mode, "pgrp") == 0)
        fprintf(out, "%spgrp self %d\n", initial, getpgrp() == getpid());
    else if (strcmp(mode, "fds") == 0)
        open_fds();
    else if (strcmp(mode, "write") == 0 && a2)
        write_text(a1, a2);
    else if (strcmp(mode, "echo") == 0 && a1)
        echo(a1);
    else if (strcmp(mode, "accept") == 0 && a1)
        accept_one(a1);
    else if (strcmp(mode, "udp") == 0 && a1)
        udp(a1);
    else if (strcmp(mode, "openat") == 0 && a2)
        open_in(a1, a2);
    else if (strcmp(mode, "counter") == 0 && a1)
        counter(a1);
    else if (strcmp(mode, "numbered") == 0 && a1)
        numbered(atoi(a1));
    else if (strcmp(mode, "expect") == 0 && a2)
        rc = expect(a1, a2);
    else if (strcmp(mode, "grandchild") == 0)
        grandchild();
    else
        rc = 101;
    free(initial);
    return fclose(out) == 0 ? rc : 102;
}
