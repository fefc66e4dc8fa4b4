/*
 * cph-run: launch a program with attachments, wait for it, exit with its
 * status.
 *
 *   cph-run [--fd KEY=N]... [--file KEY=PATH]... [--listen KEY=HOST:PORT]...
 *           -- PROGRAM [ARG]...
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

static const char usage[] =
    "usage: cph-run [--fd KEY=N]... [--file KEY=PATH]... "
    "[--listen KEY=HOST:PORT]... -- PROGRAM [ARG]...\n"
    "  --fd KEY=N            hand cph-run's open fd N to PROGRAM\n"
    "  --file KEY=PATH       open PATH read-only and hand it over\n"
    "  --listen KEY=HOST:PORT  hand over a TCP socket listening there\n"
    "                        (IPv6 as [::1]:PORT; port 0 picks one)\n"
    "KEY: 1 to 64 bytes of [A-Za-z0-9._-]. PROGRAM is searched in PATH,\n"
    "and must be linked with libcph_child to take its handles.\n";

static int fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("cph-run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* Adds fd under key, closing fd (the list keeps its own duplicate). */
static int attach(cph_attachments_t *list, const char *key, int fd,
                  const char *what)
{
    int err = cph_attachments_add_fd(list, key, fd);

    close(fd);
    if (err == EINVAL)
        return fail("bad key '%s': keys are 1 to 64 bytes of [A-Za-z0-9._-]",
                    key);
    if (err == EEXIST)
        return fail("key '%s' given twice", key);
    if (err)
        return fail("%s: %s", what, strerror(err));
    return 0;
}

static int attach_fd(cph_attachments_t *list, const char *key,
                     const char *value)
{
    char *end;
    long n = strtol(value, &end, 10);
    int fd;

    if (*value == '\0' || *end != '\0' || n < 0 || n > 1 << 24)
        return fail("--fd %s: not an fd number", value);
    fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return fail("--fd %s: %s", value, strerror(errno));
    return attach(list, key, fd, value);
}

static int attach_file(cph_attachments_t *list, const char *key,
                       const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return fail("%s: %s", path, strerror(errno));
    return attach(list, key, fd, path);
}

/* HOST:PORT or [HOST]:PORT into host and port (in buf). */
static int split_host_port(char *buf, char **host, char **port)
{
    char *colon = strrchr(buf, ':');

    if (!colon || colon[1] == '\0')
        return -1;
    *colon = '\0';
    *port = colon + 1;
    *host = buf;
    if (buf[0] == '[') {
        size_t len = strlen(buf);
        if (len < 3 || buf[len - 1] != ']')
            return -1;
        buf[len - 1] = '\0';
        *host = buf + 1;
    }
    return **host ? 0 : -1;
}

static int attach_listener(cph_attachments_t *list, const char *key,
                           const char *value)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char buf[300], *host, *port;
    int fd, on = 1, err;

    if (strlen(value) >= sizeof buf)
        return fail("--listen %s: too long", value);
    strcpy(buf, value);
    if (split_host_port(buf, &host, &port) != 0)
        return fail("--listen %s: expected HOST:PORT", value);
    err = getaddrinfo(host, port, &hints, &ai);
    if (err)
        return fail("--listen %s: %s", value, gai_strerror(err));
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        err = errno;
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return fail("--listen %s: %s", value, strerror(err));
    }
    freeaddrinfo(ai);
    return attach(list, key, fd, value);
}

/* Parses the options into list; returns the index of PROGRAM, or -1. */
static int parse(int argc, char **argv, cph_attachments_t *list)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        char key[80], *eq;
        int err;

        if (strcmp(opt, "--") == 0) {
            if (i + 1 >= argc)
                return fail("no PROGRAM after --");
            return i + 1;
        }
        if (strncmp(opt, "--", 2) != 0)
            return fail("missing -- before '%s' (see --help)", opt);
        if (strcmp(opt, "--fd") != 0 && strcmp(opt, "--file") != 0 &&
            strcmp(opt, "--listen") != 0)
            return fail("unknown option '%s' (see --help)", opt);
        if (i + 1 >= argc || !(eq = strchr(argv[i + 1], '=')) ||
            (size_t)(eq - argv[i + 1]) >= sizeof key)
            return fail("%s needs KEY=VALUE", opt);
        memcpy(key, argv[i + 1], (size_t)(eq - argv[i + 1]));
        key[eq - argv[i + 1]] = '\0';
        i++;
        if (strcmp(opt, "--fd") == 0)
            err = attach_fd(list, key, eq + 1);
        else if (strcmp(opt, "--file") == 0)
            err = attach_file(list, key, eq + 1);
        else
            err = attach_listener(list, key, eq + 1);
        if (err)
            return -1;
    }
    return fail("missing -- before PROGRAM (see --help)");
}

static int wait_for(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 127;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    cph_attachments_t *list;
    int prog, err, status;
    pid_t pid;

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (cph_attachments_init(&list) != 0) {
        fail("out of memory");
        return 2;
    }
    prog = parse(argc, argv, list);
    if (prog < 0) {
        cph_attachments_destroy(list);
        return 2;
    }
    err = cph_spawnp(&pid, argv[prog], NULL, NULL, argv + prog, environ,
                     list);
    cph_attachments_destroy(list);
    if (err) {
        fail("%s: %s", argv[prog], strerror(err));
        return err == ENOENT ? 127 : 126;
    }
    status = wait_for(pid);
    /* The child is gone: its outcome follows within moments. */
    if (cph_checkin_wait(pid, 2000) == ECONNABORTED)
        fail("%s exited without taking its handles (is it linked with "
             "libcph_child?)", argv[prog]);
    return status;
}
