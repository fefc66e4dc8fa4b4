/* cph-run's parts: options (cph-run.c), sockets (run-listen.c), children
 * and signals (run-supervise.c). */
#ifndef CPH_TOOLS_RUN_H
#define CPH_TOOLS_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cph/spawn.h>

/* cph-run's own failures, usage errors included, as env(1) and timeout(1)
 * report theirs; 126 and 127 are PROGRAM's. */
#define EXIT_CPH_RUN 125

/* One --fd, --file, --listen, --datagram or --seqpacket, in the order
 * given. */
struct handle_option {
    const char *name;
    char *key;
    char *value;
    int type;           /* SOCK_* for a socket option, else 0 */
};

/* An opened handle: what the options named, and fds inherited by socket
 * activation. */
struct handle {
    const char *key;
    int fd;
    bool listener;      /* a listening stream or seqpacket socket */
};

/* An --at, --env-fd or --stdin: KEY's fd at a number, or in a variable;
 * arg is the adapter's option saying so. */
struct place_option {
    const char *key;
    int at;             /* -1 for --env-fd */
    const char *var;    /* --env-fd's */
    char *arg;
};

struct options {
    struct handle_option *handles;
    size_t count;
    int backlog;        /* 0: not given */
    bool systemd, no_pid, pid_bound, quiet, restart, accept, inetd;
    int workers;        /* 0: not given */
    int warn_after_ms;
    const char *fdnames;
    char **setenv;      /* -E values, in order */
    size_t setenv_count;
    char **expect;      /* --expect keys */
    size_t expect_count;
    struct place_option *places;
    size_t place_count;
    int program;        /* index of PROGRAM in argv */
};

/* Reports an error on stderr, "cph-run: ...". Returns code. */
int fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Opens o's --listen, --datagram and --seqpacket socket for opt into
 * *fd: 0 or an exit code (reported). Unix paths it binds are removed by
 * remove_bound_paths. */
int open_listener(const struct handle_option *opt, const struct options *o,
                  int *fd);
void remove_bound_paths(void);

/* Runs PROGRAM (argv + o->program) with the handles, as the options say,
 * until it is done: the exit code. */
int supervise(char **argv, const struct options *o, struct handle *handles,
              size_t count, char **envp);

/* The spawned process's first step on Linux, when argv[1] is
 * EXEC_HELPER: see run-supervise.c. */
#define EXEC_HELPER "--cph-run-exec-helper"
int exec_helper(char **argv);

#endif
