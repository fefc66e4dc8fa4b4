/*
 * cph-run's sockets: --listen (stream), --datagram and --seqpacket, on IP
 * or Unix addresses. A Unix socket file left by a dead run is removed,
 * but only once a connect proves that nobody listens on it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "run.h"

/* Unix socket paths cph-run bound, removed at exit. */
static const char *bound_paths[64];
static size_t bound_count;

static int listens(int type)
{
    return type == SOCK_STREAM || type == SOCK_SEQPACKET;
}

/* A socket bound to addr, listening if its type does; -1 and errno. */
static int open_socket(const struct sockaddr *addr, socklen_t len, int type,
                       int backlog)
{
    /* No SOCK_CLOEXEC (macOS lacks it): the list takes a close-on-exec
     * duplicate, and this fd is marked before anything is spawned. */
    int fd = socket(addr->sa_family, type, 0);
    int on = 1, off = 0;

    if (fd < 0)
        return -1;
    if ((addr->sa_family != AF_UNIX &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) ||
        (addr->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) ||
        bind(fd, addr, len) < 0 ||
        (listens(type) && listen(fd, backlog) < 0)) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int valid_port(const char *port)
{
    return *port && strspn(port, "0123456789") == strlen(port) &&
           strlen(port) <= 5 && strtoul(port, NULL, 10) <= 65535;
}

/* Splits HOST:PORT or [HOST]:PORT, in place; 0 or -1. */
static int split_host_port(char *s, char **host, char **port)
{
    char *colon = strrchr(s, ':');
    size_t len;

    if (!colon || colon == s || !valid_port(colon + 1))
        return -1;
    *colon = '\0';
    *port = colon + 1;
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

/* Binds the first address getaddrinfo gives: 0, or an EAI_ code (with
 * errno for EAI_SYSTEM). */
static int bind_first(const char *host, const char *port, int family,
                      int type, int backlog, int *fd)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_family = family, .ai_socktype = type};
    struct addrinfo *ai;
    int err, saved;

    err = getaddrinfo(host, port, &hints, &ai);
    if (err)
        return err;
    *fd = open_socket(ai->ai_addr, ai->ai_addrlen, type, backlog);
    saved = errno;
    freeaddrinfo(ai);
    errno = saved;
    return *fd < 0 ? EAI_SYSTEM : 0;
}

static const char *in_use(int err)
{
    return err == EADDRINUSE ? " (another process listens there)" : "";
}

/* An IP socket for PORT ([::]:PORT, dual-stack) or HOST:PORT. */
static int open_ip(const struct handle_option *opt, int backlog, int *fd)
{
    char *copy = strdup(opt->value), *host, *port;
    int err, code = 0;

    if (!copy)
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    if (opt->type == SOCK_SEQPACKET) {
        code = fail(EXIT_CPH_RUN, "--seqpacket %s=%s: a seqpacket socket is "
                    "unix:PATH or @NAME", opt->key, opt->value);
        err = 0;
    } else if (valid_port(copy)) {
        err = bind_first(NULL, copy, AF_INET6, opt->type, backlog, fd);
        /* No IPv6 here: all of IPv4 then. */
        if (err == EAI_FAMILY || (err == EAI_SYSTEM && errno == EAFNOSUPPORT))
            err = bind_first(NULL, copy, AF_INET, opt->type, backlog, fd);
    } else if (split_host_port(copy, &host, &port) == 0) {
        err = bind_first(host, port, AF_UNSPEC, opt->type, backlog, fd);
    } else {
        code = fail(EXIT_CPH_RUN, "%s %s=%s: expected PORT, HOST:PORT, "
                    "[V6]:PORT, unix:PATH or @NAME (PORT 0 to 65535)",
                    opt->name, opt->key, opt->value);
        err = 0;
    }
    if (err)
        code = fail(EXIT_CPH_RUN, "%s %s=%s: %s%s", opt->name, opt->key,
                    opt->value,
                    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err),
                    err == EAI_SYSTEM ? in_use(errno) : "");
    free(copy);
    return code;
}

/*
 * What is at un's path before cph-run binds there: nothing, or a socket
 * file nobody listens on (removed: a run that died left it), is fine;
 * anything else is reported. 0 or an exit code.
 */
static int clear_path(const struct handle_option *opt,
                      const struct sockaddr_un *un, socklen_t len)
{
    struct stat st;
    int fd, err;

    if (lstat(un->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : fail(EXIT_CPH_RUN, "%s %s=%s: %s",
                                          opt->name, opt->key, opt->value,
                                          strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return fail(EXIT_CPH_RUN, "%s %s=%s: %s exists and is not a socket",
                    opt->name, opt->key, opt->value, un->sun_path);
    fd = socket(AF_UNIX, opt->type, 0);
    if (fd < 0)
        return fail(EXIT_CPH_RUN, "%s: %s", un->sun_path, strerror(errno));
    err = connect(fd, (const struct sockaddr *)un, len) == 0 ? 0 : errno;
    close(fd);
    if (err == 0 || err == EPROTOTYPE)
        return fail(EXIT_CPH_RUN, "%s %s=%s: %s is in use: another process "
                    "listens on it", opt->name, opt->key, opt->value,
                    un->sun_path);
    if (err != ECONNREFUSED)
        return fail(EXIT_CPH_RUN, "%s %s=%s: %s: %s", opt->name, opt->key,
                    opt->value, un->sun_path, strerror(err));
    if (unlink(un->sun_path) < 0 && errno != ENOENT)
        return fail(EXIT_CPH_RUN, "%s %s=%s: cannot remove the stale socket "
                    "%s: %s", opt->name, opt->key, opt->value, un->sun_path,
                    strerror(errno));
    return 0;
}

/* A Unix socket at unix:PATH, or at @NAME in the abstract namespace. */
static int open_unix(const struct handle_option *opt, int backlog, int *fd)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int abstract = opt->value[0] == '@', code;
    const char *path = opt->value + (abstract ? 1 : strlen("unix:"));
    size_t len = strlen(path);
    socklen_t addr_len;

#ifndef __linux__
    if (abstract)
        return fail(EXIT_CPH_RUN, "%s %s=%s: abstract sockets are "
                    "Linux-only", opt->name, opt->key, opt->value);
#endif
    if (len == 0 || len + abstract >= sizeof un.sun_path)
        return fail(EXIT_CPH_RUN, "%s %s=%s: a Unix socket name is 1 to "
                    "%zu bytes", opt->name, opt->key, opt->value,
                    sizeof un.sun_path - 1 - abstract);
    if (!abstract && bound_count == sizeof bound_paths / sizeof *bound_paths)
        return fail(EXIT_CPH_RUN, "too many unix: sockets");
    memcpy(un.sun_path + abstract, path, len);
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                           abstract + len + !abstract);
    if (!abstract && (code = clear_path(opt, &un, addr_len)) != 0)
        return code;
    *fd = open_socket((struct sockaddr *)&un, addr_len, opt->type, backlog);
    if (*fd < 0)
        return fail(EXIT_CPH_RUN, "%s %s=%s: %s%s", opt->name, opt->key,
                    opt->value, strerror(errno), in_use(errno));
    if (!abstract)
        bound_paths[bound_count++] = path;
    return 0;
}

int open_listener(const struct handle_option *opt, const struct options *o,
                  int *fd)
{
    int backlog = o->backlog ? o->backlog : SOMAXCONN;

    if (strncmp(opt->value, "unix:", 5) == 0 || opt->value[0] == '@')
        return open_unix(opt, backlog, fd);
    return open_ip(opt, backlog, fd);
}

void remove_bound_paths(void)
{
    for (size_t i = 0; i < bound_count; i++)
        unlink(bound_paths[i]);
}
