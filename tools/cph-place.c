/*
 * cph-place [OPTION]... -- PATH [ARGV0 [ARG]...]: the adapter a cph_spawn
 * with placements runs (spawn/placed.c builds this argv) for a program
 * that does not link libcph_child. Takes every fd its cph parent handed
 * it, places each where the options say, and execs PATH with ARGV0... in
 * the same process:
 *
 *   --at=N=KEY      KEY's fd at N;
 *   --env-fd=V=KEY  KEY's fd where it is, its number in variable V;
 *   --systemd       the others at 3, 4, ... in the parent's order, with
 *                   LISTEN_FDS, LISTEN_PID (its own pid, which PROGRAM
 *                   keeps across the exec) and LISTEN_FDNAMES (their
 *                   keys), as sd_listen_fds(3) wants them;
 *   --no-pid        no LISTEN_PID;
 *   --fdnames=NAMES LISTEN_FDNAMES's first names instead of the keys.
 *
 * Every placed fd is inheritable; everything else of cph's is
 * close-on-exec. Exits 126 when it cannot place (after a line on
 * stderr), 127 or 126 when the exec fails, as a shell does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

#define FIRST_FD 3

struct placement {
    const char *key;
    int at;             /* -1 for an --env-fd */
    const char *var;
};

struct plan {
    struct placement *places;
    size_t count;
    bool systemd, with_pid;
    const char *fdnames;
};

static int fail(int code, const char *what, int err)
{
    fprintf(stderr, "cph-place: %s: %s\n", what, strerror(err));
    return code;
}

static int usage(void)
{
    fputs("usage: cph-place [--at=N=KEY] [--env-fd=VAR=KEY] [--systemd] "
          "[--no-pid] [--fdnames=NAMES] -- PATH [ARGV0 [ARG]...]  "
          "(run by cph_spawn)\n", stderr);
    return 2;
}

/* Reads the options into plan; the index of PROGRAM, or -1. */
static int parse(int argc, char **argv, struct plan *plan)
{
    int i = 1;

    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        struct placement *p = &plan->places[plan->count];
        char *arg = argv[i], *eq;

        if (strcmp(arg, "--systemd") == 0) {
            plan->systemd = true;
        } else if (strcmp(arg, "--no-pid") == 0) {
            plan->with_pid = false;
        } else if (strncmp(arg, "--fdnames=", 10) == 0) {
            plan->fdnames = arg + 10;
        } else if ((strncmp(arg, "--at=", 5) == 0 ||
                    strncmp(arg, "--env-fd=", 9) == 0) &&
                   (eq = strchr(strchr(arg, '=') + 1, '='))) {
            *eq = '\0';
            p->key = eq + 1;
            p->at = arg[2] == 'a' ? atoi(arg + 5) : -1;
            p->var = arg[2] == 'a' ? NULL : arg + 9;
            plan->count++;
        } else {
            return -1;
        }
    }
    return i + 1 < argc ? i + 1 : -1;  /* PATH */
}

static bool placed(const struct plan *plan, const char *key)
{
    for (size_t i = 0; i < plan->count; i++)
        if (strcmp(plan->places[i].key, key) == 0)
            return true;
    return false;
}

/* The keys --systemd places, in the parent's order, joined by ':' (keys
 * never hold one). */
static char *systemd_keys(const struct plan *plan, size_t count, size_t *n)
{
    size_t len = 1;
    char *names;

    for (size_t i = 0; i < count; i++)
        len += strlen(cph_child_key(i)) + 1;
    names = calloc(1, len);
    *n = 0;
    for (size_t i = 0; names && i < count; i++) {
        if (placed(plan, cph_child_key(i)))
            continue;
        if ((*n)++ > 0)
            strcat(names, ":");
        strcat(names, cph_child_key(i));
    }
    return names;
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

static int set_listen_env(size_t count, const char *names, bool with_pid)
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

/* Above every slot any handle goes to. */
static int floor_fd(const struct plan *plan, size_t count)
{
    int floor = FIRST_FD + (int)count;

    for (size_t i = 0; i < plan->count; i++)
        if (plan->places[i].at >= floor)
            floor = plan->places[i].at + 1;
    return floor;
}

/*
 * Takes every handle and moves it above every target slot first, so that
 * none lands on a slot another one still occupies; then places them.
 */
static int place_all(const struct plan *plan, size_t count)
{
    int high[count > 0 ? count : 1], floor = floor_fd(plan, count);
    size_t next = 0;

    for (size_t i = 0; i < count; i++) {
        int fd = cph_child_take_fd(cph_child_key(i));

        if (fd < 0)
            return fail(126, cph_child_key(i), errno);
        high[i] = fcntl(fd, F_DUPFD_CLOEXEC, floor);
        close(fd);
        if (high[i] < 0)
            return fail(126, cph_child_key(i), errno);
    }
    for (size_t i = 0; i < count; i++) {
        const char *key = cph_child_key(i);
        bool keep = false;

        for (size_t k = 0; k < plan->count; k++) {
            const struct placement *p = &plan->places[k];
            char number[16];

            if (strcmp(p->key, key) != 0)
                continue;
            if (p->at >= 0 && dup2(high[i], p->at) < 0)
                return fail(126, "dup2", errno);
            if (!p->var)
                continue;
            snprintf(number, sizeof number, "%d", high[i]);
            if (fcntl(high[i], F_SETFD, 0) < 0 ||
                setenv(p->var, number, 1) < 0)
                return fail(126, p->var, errno);
            keep = true;
        }
        if (plan->systemd && !placed(plan, key) &&
            dup2(high[i], FIRST_FD + (int)next++) < 0)
            return fail(126, "dup2", errno);
        if (!keep)
            close(high[i]);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct plan plan = {.with_pid = true};
    int status = cph_child_status(), program, err;
    size_t count = cph_child_count(), n;
    char *names;

    plan.places = calloc((size_t)argc, sizeof *plan.places);
    if (!plan.places)
        return fail(126, "options", ENOMEM);
    program = parse(argc, argv, &plan);
    if (program < 0)
        return usage();
    if (status == ENOENT) {
        fputs("cph-place: not launched by cph (no CPH_HANDSHAKE in "
              "the environment)\n", stderr);
        return 126;
    }
    if (status != 0)
        return fail(126, "no handles: the check-in failed", status);
    names = systemd_keys(&plan, count, &n);
    if (!names)
        return fail(126, "keys", ENOMEM);
    err = place_all(&plan, count);
    if (err)
        return err;
    if (plan.systemd && plan.fdnames) {
        char *renamed = rename_fds(names, plan.fdnames);

        free(names);
        if (!(names = renamed))
            return fail(126, "names", ENOMEM);
    }
    if (plan.systemd && set_listen_env(n, names, plan.with_pid) < 0)
        return fail(126, "environment", errno);
    free(names);
    free(plan.places);
    execv(argv[program], argv + program + 1);
    err = errno;
    return fail(err == ENOENT ? 127 : 126, argv[program], err);
}
