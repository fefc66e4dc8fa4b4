/*
 * cph-run: launch a program with attachments, wait for it, exit with its
 * status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

/* How long the outcome of a child that has exited may take to be known:
 * libcph's thread learns of the exit on its own. */
#define OUTCOME_WAIT_MS 1000

extern char **environ;

static const char usage[] =
    "usage: cph-run [--fd KEY=N]... [--file KEY=PATH]... "
    "[--listen KEY=HOST:PORT]... -- PROGRAM [ARG]...\n"
    "\n"
    "Runs PROGRAM (searched in PATH) with named handles, which it takes by\n"
    "key if it is linked with libcph_child:\n"
    "  --fd KEY=N              cph-run's open fd N\n"
    "  --file KEY=PATH         PATH, opened read-only\n"
    "  --listen KEY=HOST:PORT  a TCP socket listening on HOST:PORT\n"
    "                          (IPv6 as [::1]:PORT; port 0 picks one)\n"
    "A KEY is 1 to 64 of [A-Za-z0-9._-].\n"
    "\n"
    "Exits with PROGRAM's status, or 128+N if signal N killed it; 2 on a\n"
    "usage error, 127 if PROGRAM is not found, 126 if it cannot be run.\n";

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

static int add(cph_attachments_t *list, const char *key, int fd)
{
    int err = cph_attachments_add_fd(list, key, fd);

    if (err == EINVAL)
        return fail("bad key '%s': a key is 1 to 64 of [A-Za-z0-9._-]", key);
    if (err == EEXIST)
        return fail("key '%s' given twice", key);
    /* Only --fd can hand us a closed fd. */
    if (err == EBADF)
        return fail("--fd %s=%d: fd %d is not open", key, fd, fd);
    if (err)
        return fail("%s: %s", key, strerror(err));
    return 0;
}

static int attach_fd(cph_attachments_t *list, const char *key,
                     const char *value)
{
    char *end;
    long n = strtol(value, &end, 10);

    if (*value < '0' || *value > '9' || *end != '\0' || n > INT_MAX)
        return fail("--fd %s=%s: not an fd number", key, value);
    return add(list, key, (int)n);
}

static int attach_file(cph_attachments_t *list, const char *key,
                       const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err;

    if (fd < 0)
        return fail("%s: %s", path, strerror(errno));
    err = add(list, key, fd);
    close(fd);
    return err;
}

/* Splits HOST:PORT or [HOST]:PORT, in place; 0 or -1. */
static int split_host_port(char *s, char **host, char **port)
{
    char *colon = strrchr(s, ':');
    size_t len;

    if (!colon || colon == s || colon[1] == '\0')
        return -1;
    *colon = '\0';
    *port = colon + 1;
    /* getaddrinfo would take 65536 as port 0. */
    if (strspn(*port, "0123456789") != strlen(*port) ||
        strtoul(*port, NULL, 10) > 65535)
        return -1;
    *host = s;
    len = strlen(s);
    if (s[0] != '[')
        return strchr(s, ':') ? -1 : 0;
    if (len < 3 || s[len - 1] != ']')
        return -1;
    s[len - 1] = '\0';
    *host = s + 1;
    return 0;
}

static int listen_on(const struct addrinfo *ai)
{
    /* No SOCK_CLOEXEC (macOS lacks it): the list takes a close-on-exec
     * duplicate and this fd is closed before anything is spawned. */
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    int on = 1;

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int attach_listener(cph_attachments_t *list, const char *key,
                           const char *value)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    char *copy = strdup(value), *host, *port;
    int fd, err;

    if (!copy)
        return fail("%s", strerror(ENOMEM));
    if (split_host_port(copy, &host, &port) != 0) {
        free(copy);
        return fail("--listen %s=%s: expected HOST:PORT or [HOST]:PORT, "
                    "PORT 0 to 65535", key, value);
    }
    err = getaddrinfo(host, port, &hints, &ai);
    free(copy);
    if (err)
        return fail("--listen %s=%s: %s", key, value,
                    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
    fd = listen_on(ai);
    freeaddrinfo(ai);
    if (fd < 0)
        return fail("--listen %s=%s: %s", key, value, strerror(errno));
    err = add(list, key, fd);
    close(fd);
    return err;
}

/*
 * Adds the options' attachments to list. Returns the index of PROGRAM in
 * argv, 0 after --help, or -1 on a usage error (already reported).
 */
static int parse(int argc, char **argv, cph_attachments_t *list)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        char *key, *value;
        int err;

        if (strcmp(opt, "--") == 0)
            return i + 1 < argc ? i + 1 : fail("no PROGRAM after --");
        if (strcmp(opt, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (opt[0] != '-')
            return fail("missing -- before '%s' (see --help)", opt);
        if (strcmp(opt, "--fd") != 0 && strcmp(opt, "--file") != 0 &&
            strcmp(opt, "--listen") != 0)
            return fail("unknown option '%s' (see --help)", opt);
        if (++i == argc || !(value = strchr(argv[i], '=')))
            return fail("%s needs KEY=VALUE", opt);
        key = argv[i];
        *value++ = '\0';
        if (strcmp(opt, "--fd") == 0)
            err = attach_fd(list, key, value);
        else if (strcmp(opt, "--file") == 0)
            err = attach_file(list, key, value);
        else
            err = attach_listener(list, key, value);
        if (err)
            return -1;
    }
    return fail("missing '-- PROGRAM' (see --help)");
}

int main(int argc, char **argv)
{
    cph_attachments_t *list;
    int prog, err, status;
    pid_t pid;

    err = cph_attachments_init(&list);
    if (err) {
        fail("%s", strerror(err));
        return 2;
    }
    prog = parse(argc, argv, list);
    if (prog <= 0) {
        cph_attachments_destroy(list);
        return prog == 0 ? 0 : 2;
    }
    err = cph_spawnp(&pid, argv[prog], NULL, NULL, argv + prog, environ,
                     list);
    cph_attachments_destroy(list);
    if (err) {
        fail("%s: %s", argv[prog], strerror(err));
        return err == ENOENT ? 127 : 126;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fail("waitpid: %s", strerror(errno));
            return 126;
        }
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (cph_checkin_wait(pid, OUTCOME_WAIT_MS) == ECONNABORTED)
        fail("%s exited without taking its handles (is it linked with "
             "libcph_child?)", argv[prog]);
    return WEXITSTATUS(status);
}
