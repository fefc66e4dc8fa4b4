/*
 * cph-run: launch a program with attachments, forward signals to it, exit
 * with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

/* How long the outcome of a child that has exited may take to be known:
 * libcph's thread learns of the exit on its own. */
#define OUTCOME_WAIT_MS 1000
/* A child that has not taken its handles by then probably never will. */
#define WARN_AFTER_MS 3000

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define ADAPTER "cph-systemd-exec"
static const char installed_adapter[] = CPH_LIBEXECDIR "/" ADAPTER;

extern char **environ;

static const char usage[] =
    "usage: cph-run [OPTION]... -- PROGRAM [ARG]...\n"
    "\n"
    "Runs PROGRAM (searched in PATH) with named handles, which it takes by\n"
    "key if it is linked with libcph_child:\n"
    "  --fd KEY=N            cph-run's open fd N\n"
    "  --file KEY=PATH       PATH, opened read-only\n"
    "  --listen KEY=ADDRESS  a socket listening on ADDRESS:\n"
    "                          PORT         [::]:PORT, IPv6 and IPv4\n"
    "                          HOST:PORT    e.g. 127.0.0.1:8080 (port 0 picks one)\n"
    "                          [V6]:PORT    e.g. [::1]:8080\n"
    "                          unix:PATH    a Unix socket at PATH (removed at exit)\n"
    "                          @NAME        an abstract Unix socket (Linux)\n"
    "  --datagram            --listen makes UDP / datagram sockets\n"
    "  --backlog N           listen backlog (default SOMAXCONN)\n"
    "  --systemd             hand the handles as systemd socket activation does:\n"
    "                        fds 3.. in the order given, LISTEN_FDS, LISTEN_PID,\n"
    "                        LISTEN_FDNAMES (PROGRAM needs no libcph_child)\n"
    "  -h, --help            this text\n"
    "  --version             cph-run's version\n"
    "A KEY is 1 to 64 of [A-Za-z0-9._-]. --opt=VALUE works too.\n"
    "\n"
    "Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH\n"
    "to PROGRAM. Exits with PROGRAM's status, or 128+N if signal N killed it;\n"
    "1 on a runtime failure (a file not found, an address in use), 2 on a\n"
    "usage error, 127 if PROGRAM is not found, 126 if it cannot be run.\n";

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT,
                                SIGUSR1, SIGUSR2, SIGWINCH};

/* One --fd, --file or --listen, in the order given. */
struct handle_option {
    const char *name;
    char *key;
    char *value;
};

struct options {
    struct handle_option *handles;
    size_t count;
    int datagram;
    int backlog;
    int systemd;
    int program;        /* index of PROGRAM in argv */
};

/* Unix socket paths cph-run bound, removed at exit. */
static const char *bound_paths[64];
static size_t bound_count;

static volatile sig_atomic_t child_pid;
static atomic_int warned;

static void vsay(const char *fmt, va_list ap)
{
    fputs("cph-run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Reports an error; returns code. */
static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return code;
}

/* The warning about handles never taken, said at most once. */
static void warn_once(const char *fmt, ...)
{
    va_list ap;

    if (atomic_exchange(&warned, 1))
        return;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

static int add(cph_attachments_t *list, const char *key, int fd,
               const struct handle_option *opt)
{
    int err = cph_attachments_add_fd(list, key, fd);

    if (err == EINVAL)
        return fail(EXIT_USAGE,
                    "bad key '%s': a key is 1 to 64 of [A-Za-z0-9._-]", key);
    if (err == EEXIST)
        return fail(EXIT_USAGE, "key '%s' given twice", key);
    /* Only --fd can hand us a closed fd. */
    if (err == EBADF)
        return fail(EXIT_RUNTIME, "%s %s=%s: fd %d is not open", opt->name,
                    key, opt->value, fd);
    if (err)
        return fail(EXIT_RUNTIME, "%s: %s", key, strerror(err));
    return 0;
}

static int attach_fd(cph_attachments_t *list, const struct handle_option *opt)
{
    char *end;
    long n = strtol(opt->value, &end, 10);

    if (*opt->value < '0' || *opt->value > '9' || *end != '\0' || n > INT_MAX)
        return fail(EXIT_USAGE, "--fd %s=%s: not an fd number", opt->key,
                    opt->value);
    return add(list, opt->key, (int)n, opt);
}

static int attach_file(cph_attachments_t *list,
                       const struct handle_option *opt)
{
    int fd = open(opt->value, O_RDONLY | O_CLOEXEC);
    int err;

    if (fd < 0)
        return fail(EXIT_RUNTIME, "--file %s=%s: %s", opt->key, opt->value,
                    strerror(errno));
    err = add(list, opt->key, fd, opt);
    close(fd);
    return err;
}

/* A socket bound to addr, listening if it is a stream; -1 and errno. */
static int open_socket(const struct sockaddr *addr, socklen_t len, int type,
                       int backlog)
{
    /* No SOCK_CLOEXEC (macOS lacks it): the list takes a close-on-exec
     * duplicate and this fd is closed before anything is spawned. */
    int fd = socket(addr->sa_family, type, 0);
    int on = 1, off = 0;

    if (fd < 0)
        return -1;
    if ((addr->sa_family != AF_UNIX &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) ||
        (addr->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) ||
        bind(fd, addr, len) < 0 ||
        (type == SOCK_STREAM && listen(fd, backlog) < 0)) {
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
                      const struct options *o, int *fd)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                             .ai_family = family};
    struct addrinfo *ai;
    int err, saved;

    hints.ai_socktype = o->datagram ? SOCK_DGRAM : SOCK_STREAM;
    err = getaddrinfo(host, port, &hints, &ai);
    if (err)
        return err;
    *fd = open_socket(ai->ai_addr, ai->ai_addrlen, hints.ai_socktype,
                      o->backlog);
    saved = errno;
    freeaddrinfo(ai);
    errno = saved;
    return *fd < 0 ? EAI_SYSTEM : 0;
}

/* An IP socket for PORT ([::]:PORT, dual-stack) or HOST:PORT. */
static int open_ip(const struct handle_option *opt, const struct options *o,
                   int *fd)
{
    char *copy = strdup(opt->value), *host, *port;
    int err, code = 0;

    if (!copy)
        return fail(EXIT_RUNTIME, "%s", strerror(ENOMEM));
    if (valid_port(copy)) {
        err = bind_first(NULL, copy, AF_INET6, o, fd);
        /* No IPv6 here: all of IPv4 then. */
        if (err == EAI_FAMILY || (err == EAI_SYSTEM && errno == EAFNOSUPPORT))
            err = bind_first(NULL, copy, AF_INET, o, fd);
    } else if (split_host_port(copy, &host, &port) == 0) {
        err = bind_first(host, port, AF_UNSPEC, o, fd);
    } else {
        code = fail(EXIT_USAGE, "--listen %s=%s: expected PORT, HOST:PORT, "
                    "[V6]:PORT, unix:PATH or @NAME (PORT 0 to 65535)",
                    opt->key, opt->value);
        err = 0;
    }
    if (err)
        code = fail(EXIT_RUNTIME, "--listen %s=%s: %s", opt->key, opt->value,
                    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
    free(copy);
    return code;
}

/* A Unix socket at unix:PATH, or at @NAME in the abstract namespace. */
static int open_unix(const struct handle_option *opt, const struct options *o,
                     int *fd)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int abstract = opt->value[0] == '@';
    const char *path = opt->value + (abstract ? 1 : strlen("unix:"));
    size_t len = strlen(path);

#ifndef __linux__
    if (abstract)
        return fail(EXIT_USAGE, "--listen %s=%s: abstract sockets are "
                    "Linux-only", opt->key, opt->value);
#endif
    if (len == 0 || len + abstract >= sizeof un.sun_path)
        return fail(EXIT_USAGE, "--listen %s=%s: a Unix socket name is 1 to "
                    "%zu bytes", opt->key, opt->value,
                    sizeof un.sun_path - 1 - abstract);
    if (!abstract && bound_count == sizeof bound_paths / sizeof *bound_paths)
        return fail(EXIT_USAGE, "too many unix: sockets");
    memcpy(un.sun_path + abstract, path, len);
    *fd = open_socket((struct sockaddr *)&un,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                  abstract + len + !abstract),
                      o->datagram ? SOCK_DGRAM : SOCK_STREAM, o->backlog);
    if (*fd < 0)
        return fail(EXIT_RUNTIME, "--listen %s=%s: %s", opt->key, opt->value,
                    strerror(errno));
    if (!abstract)
        bound_paths[bound_count++] = path;
    return 0;
}

static int attach_listener(cph_attachments_t *list,
                           const struct handle_option *opt,
                           const struct options *o)
{
    int fd = -1, err;

    if (strncmp(opt->value, "unix:", 5) == 0 || opt->value[0] == '@')
        err = open_unix(opt, o, &fd);
    else
        err = open_ip(opt, o, &fd);
    if (err)
        return err;
    err = add(list, opt->key, fd, opt);
    close(fd);
    return err;
}

static int attach_all(cph_attachments_t *list, const struct options *o)
{
    for (size_t i = 0; i < o->count; i++) {
        const struct handle_option *opt = &o->handles[i];
        int err;

        if (strcmp(opt->name, "--fd") == 0)
            err = attach_fd(list, opt);
        else if (strcmp(opt->name, "--file") == 0)
            err = attach_file(list, opt);
        else
            err = attach_listener(list, opt, o);
        if (err)
            return err;
    }
    return 0;
}

static int parse_backlog(const char *value, int *backlog)
{
    char *end;
    long n = strtol(value, &end, 10);

    if (*value < '0' || *value > '9' || *end != '\0' || n < 1 || n > INT_MAX)
        return fail(EXIT_USAGE, "--backlog %s: not a positive number", value);
    *backlog = (int)n;
    return 0;
}

static const struct {
    const char *name;
    int takes_value;
} known_options[] = {
    {"--fd", 1}, {"--file", 1}, {"--listen", 1}, {"--backlog", 1},
    {"--datagram", 0}, {"--systemd", 0},
};

/* The option arg names (as NAME or NAME=VALUE), or -1. */
static int find_option(const char *arg)
{
    size_t len = strcspn(arg, "=");

    for (size_t i = 0; i < sizeof known_options / sizeof *known_options; i++)
        if (strncmp(known_options[i].name, arg, len) == 0 &&
            known_options[i].name[len] == '\0')
            return (int)i;
    return -1;
}

/* --backlog, or a handle option's KEY=VALUE. */
static int parse_value(struct options *o, const char *name, char *value)
{
    struct handle_option *opt;
    char *eq;

    if (strcmp(name, "--backlog") == 0)
        return parse_backlog(value, &o->backlog);
    eq = strchr(value, '=');
    if (!eq || eq == value)
        return fail(EXIT_USAGE, "%s needs KEY=VALUE, not '%s'", name, value);
    opt = &o->handles[o->count++];
    opt->name = name;
    opt->key = value;
    *eq = '\0';
    opt->value = eq + 1;
    return 0;
}

/*
 * Fills o from argv. Returns 0, -1 after --help or --version (done), or
 * an exit code for a usage error (already reported).
 */
static int parse(int argc, char **argv, struct options *o)
{
    o->handles = calloc((size_t)argc, sizeof *o->handles);
    if (!o->handles)
        return fail(EXIT_RUNTIME, "%s", strerror(ENOMEM));
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i], *eq = strchr(arg, '=');
        int k = find_option(arg), err;
        const char *name;

        if (strcmp(arg, "--") == 0) {
            if (i + 1 == argc)
                return fail(EXIT_USAGE, "no PROGRAM after -- (see --help)");
            o->program = i + 1;
            return 0;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        }
        if (strcmp(arg, "--version") == 0) {
            puts("cph-run " CPH_VERSION);
            return -1;
        }
        if (arg[0] != '-')
            return fail(EXIT_USAGE, "missing -- before '%s' (see --help)",
                        arg);
        if (k < 0)
            return fail(EXIT_USAGE, "unknown option '%s' (see --help)", arg);
        name = known_options[k].name;
        if (!known_options[k].takes_value) {
            if (eq)
                return fail(EXIT_USAGE, "%s takes no value", name);
            if (strcmp(name, "--datagram") == 0)
                o->datagram = 1;
            else
                o->systemd = 1;
            continue;
        }
        if (!eq && i + 1 == argc)
            return fail(EXIT_USAGE, "%s needs a value (see --help)", name);
        err = parse_value(o, name, eq ? eq + 1 : argv[++i]);
        if (err)
            return err;
    }
    return fail(EXIT_USAGE, "missing '-- PROGRAM' (see --help)");
}

static void forward(int sig)
{
    int saved = errno;

    kill((pid_t)child_pid, sig);
    errno = saved;
}

/* Holds the forwarded signals back until there is a child to forward them
 * to; *old gets the mask to restore (and to spawn the child with). */
static void block_forwarded(sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(&set, forwarded[i]);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

/* Signals cph-run was started ignoring stay ignored, as in the child.
 * No SA_RESTART: waitpid returns EINTR, which wait_child retries. A
 * runtime that runs handlers only between calls (ThreadSanitizer's)
 * would otherwise forward nothing until the child has exited. */
static void start_forwarding(pid_t pid, const sigset_t *old)
{
    struct sigaction sa = {.sa_handler = forward};
    struct sigaction was;

    sigemptyset(&sa.sa_mask);
    child_pid = pid;
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        if (sigaction(forwarded[i], NULL, &was) == 0 &&
            was.sa_handler != SIG_IGN)
            sigaction(forwarded[i], &sa, NULL);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static struct {
    pid_t pid;
    const char *program;
} watched;

static void *watch_checkin(void *arg)
{
    (void)arg;
    if (cph_checkin_wait(watched.pid, WARN_AFTER_MS) == ETIMEDOUT)
        warn_once("%s has not taken its handles after %d s (is it linked "
                  "with libcph_child? if it follows sd_listen_fds, use "
                  "--systemd)", watched.program, WARN_AFTER_MS / 1000);
    return NULL;
}

/* Warns while the child runs, not only at its exit: a server may never
 * exit. Called with the forwarded signals blocked, which the thread keeps. */
static void start_watch(pid_t pid, const char *program)
{
    pthread_t thread;

    watched.pid = pid;
    watched.program = program;
    if (pthread_create(&thread, NULL, watch_checkin, NULL) == 0)
        pthread_detach(thread);
}

/*
 * argv for cph-systemd-exec PROGRAM [ARG]...: the adapter beside cph-run
 * when run by a path (a build tree, a relocated install), else the one in
 * libexecdir.
 */
static char **adapter_argv(const char *self, char **program)
{
    const char *slash = strrchr(self, '/');
    size_t dir = slash ? (size_t)(slash - self) + 1 : 0, n = 0;
    char **argv, *path;

    while (program[n])
        n++;
    argv = calloc(n + 2, sizeof *argv);
    path = malloc(dir + sizeof ADAPTER + sizeof installed_adapter);
    if (!argv || !path) {
        free(argv);
        free(path);
        return NULL;
    }
    memcpy(path, self, dir);
    memcpy(path + dir, ADAPTER, sizeof ADAPTER);
    if (!slash || access(path, X_OK) != 0)
        strcpy(path, installed_adapter);
    argv[0] = path;
    memcpy(argv + 1, program, (n + 1) * sizeof *argv);
    return argv;
}

static int wait_child(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return fail(EXIT_RUNTIME, "waitpid: %s", strerror(errno));
    return 0;
}

/*
 * Spawns PROGRAM (through the adapter for --systemd) with the signal mask
 * mask, and destroys list. 0, or an exit code (already reported).
 */
static int spawn_child(char **argv, const struct options *o,
                       cph_attachments_t *list, const sigset_t *mask,
                       pid_t *pid)
{
    char **program = argv + o->program, **child_argv = program;
    posix_spawnattr_t attr;
    int err;

    /* With no handles, there is nothing to place: PROGRAM runs as is. */
    if (o->systemd && o->count > 0 &&
        !(child_argv = adapter_argv(argv[0], program))) {
        cph_attachments_destroy(list);
        return fail(EXIT_RUNTIME, "%s", strerror(ENOMEM));
    }
    err = posix_spawnattr_init(&attr);
    if (!err) {
        err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        if (!err)
            err = posix_spawnattr_setsigmask(&attr, mask);
        if (!err)
            err = (child_argv != program ? cph_spawn : cph_spawnp)(
                pid, child_argv[0], NULL, &attr, child_argv, environ, list);
        posix_spawnattr_destroy(&attr);
    }
    cph_attachments_destroy(list);
    if (err)
        fail(0, "%s: %s", child_argv[0], strerror(err));
    if (child_argv != program) {
        free(child_argv[0]);
        free(child_argv);
    }
    return err == ENOENT ? 127 : err ? 126 : 0;
}

/* Runs PROGRAM with list, which it destroys once spawned; the exit code. */
static int run(char **argv, const struct options *o, cph_attachments_t *list)
{
    const char *program = argv[o->program];
    sigset_t old;
    pid_t pid;
    int code, status;

    block_forwarded(&old);
    code = spawn_child(argv, o, list, &old, &pid);
    if (code)
        return code;
    if (o->count > 0)
        start_watch(pid, program);
    start_forwarding(pid, &old);
    code = wait_child(pid, &status);
    /* The pid may be reused from now on: forward nothing more. */
    block_forwarded(&old);
    if (code)
        return code;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (o->count > 0 &&
        cph_checkin_wait(pid, OUTCOME_WAIT_MS) == ECONNABORTED)
        warn_once("%s exited without taking its handles (is it linked with "
                  "libcph_child?)", program);
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    struct options o = {.backlog = SOMAXCONN};
    cph_attachments_t *list = NULL;
    int code = parse(argc, argv, &o), err;

    if (code != 0) {
        free(o.handles);
        return code < 0 ? 0 : code;
    }
    err = cph_attachments_init(&list);
    if (err)
        code = fail(EXIT_RUNTIME, "%s", strerror(err));
    if (!code)
        code = attach_all(list, &o);
    if (code)
        cph_attachments_destroy(list);
    else
        code = run(argv, &o, list);
    for (size_t i = 0; i < bound_count; i++)
        unlink(bound_paths[i]);
    free(o.handles);
    return code;
}
