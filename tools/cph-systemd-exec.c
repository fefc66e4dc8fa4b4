/*
 * cph-systemd-exec [--no-pid] [--fdnames=NAMES] -- PROGRAM [ARG]...: what
 * cph-run --systemd launches. Takes every fd its cph parent handed it,
 * places them at 3, 4, ... in the parent's order, sets LISTEN_FDS,
 * LISTEN_PID (its own pid, which PROGRAM keeps across the exec; not with
 * --no-pid) and LISTEN_FDNAMES (the keys, the first of them replaced by
 * NAMES), and execs PROGRAM: a program that follows sd_listen_fds(3)
 * needs nothing of cph.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

#define FIRST_FD 3

static int fail(int code, const char *what, int err)
{
    fprintf(stderr, "cph-systemd-exec: %s: %s\n", what, strerror(err));
    return code;
}

/* The keys in the parent's order, joined by ':' (keys never hold one). */
static char *join_keys(size_t count)
{
    size_t len = 1;
    char *names;

    for (size_t i = 0; i < count; i++)
        len += strlen(cph_child_key(i)) + 1;
    names = calloc(1, len);
    for (size_t i = 0; names && i < count; i++) {
        if (i > 0)
            strcat(names, ":");
        strcat(names, cph_child_key(i));
    }
    return names;
}

/*
 * Takes the fd under each name and places the i-th at FIRST_FD + i,
 * inheritable. Each goes above the target range first, so that none lands
 * on a slot another one still occupies.
 */
static int place_fds(char *names, size_t count)
{
    int high[count > 0 ? count : 1];
    char *key = names, *next;

    for (size_t i = 0; i < count; i++, key = next) {
        int fd;

        next = strchr(key, ':');
        if (next)
            *next++ = '\0';
        fd = cph_child_take_fd(key);
        if (fd < 0)
            return fail(126, key, errno);
        high[i] = fcntl(fd, F_DUPFD_CLOEXEC, FIRST_FD + (int)count);
        close(fd);
        if (high[i] < 0)
            return fail(126, key, errno);
        if (next)
            next[-1] = ':';
    }
    for (size_t i = 0; i < count; i++) {
        if (dup2(high[i], FIRST_FD + (int)i) < 0)
            return fail(126, "dup2", errno);
        close(high[i]);
    }
    return 0;
}

/* names with its first fields replaced by those of given. */
static char *rename_fds(const char *names, const char *given)
{
    size_t n_given = 1;
    const char *rest = names;
    char *out;

    for (const char *c = given; *c; c++)
        n_given += *c == ':';
    for (size_t i = 0; rest && i < n_given; i++) {
        rest = strchr(rest, ':');
        rest = rest ? rest + 1 : NULL;
    }
    out = malloc(strlen(given) + (rest ? strlen(rest) + 2 : 1));
    if (out && rest)
        sprintf(out, "%s:%s", given, rest);
    else if (out)
        strcpy(out, given);
    return out;
}

static int set_listen_env(size_t count, const char *names, int with_pid)
{
    char number[32];

    snprintf(number, sizeof number, "%zu", count);
    if (setenv("LISTEN_FDS", number, 1) < 0)
        return -1;
    snprintf(number, sizeof number, "%ld", (long)getpid());
    if (with_pid ? setenv("LISTEN_PID", number, 1) < 0
                 : unsetenv("LISTEN_PID") < 0)
        return -1;
    return setenv("LISTEN_FDNAMES", names, 1);
}

int main(int argc, char **argv)
{
    int status = cph_child_status(), with_pid = 1, at = 1;
    size_t count = cph_child_count();
    const char *fdnames = NULL;
    char *names;
    int err;

    for (; at < argc && strcmp(argv[at], "--") != 0; at++) {
        if (strcmp(argv[at], "--no-pid") == 0)
            with_pid = 0;
        else if (strncmp(argv[at], "--fdnames=", 10) == 0)
            fdnames = argv[at] + 10;
        else
            break;
    }
    if (at + 1 >= argc || strcmp(argv[at], "--") != 0) {
        fputs("usage: cph-systemd-exec [--no-pid] [--fdnames=NAMES] -- "
              "PROGRAM [ARG]...  (run by cph-run --systemd)\n", stderr);
        return 2;
    }
    argv += at + 1;
    if (status == ENOENT) {
        fputs("cph-systemd-exec: not launched by cph (no CPH_HANDSHAKE in "
              "the environment)\n", stderr);
        return 126;
    }
    if (status != 0)
        return fail(126, "no handles: the check-in failed", status);
    names = join_keys(count);
    if (!names)
        return fail(126, "keys", ENOMEM);
    err = place_fds(names, count);
    if (err)
        return err;
    if (fdnames) {
        char *renamed = rename_fds(names, fdnames);

        free(names);
        if (!(names = renamed))
            return fail(126, "names", ENOMEM);
    }
    if (set_listen_env(count, names, with_pid) < 0)
        return fail(126, "environment", errno);
    free(names);
    execvp(argv[0], argv);
    err = errno;
    fail(err == ENOENT ? 127 : 126, argv[0], err);
    return err == ENOENT ? 127 : 126;
}
