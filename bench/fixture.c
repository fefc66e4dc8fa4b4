/*
 * The four ways of starting take_child with N fds of /dev/null.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

const char *const variant_name[VARIANTS] = {
    [FLOOR] = "posix_spawn, no fd",
    [PLAIN] = "posix_spawn, inherited",
    [DIRECT] = "cph direct",
    [PID_BOUND] = "cph pid-bound",
    [DIRECT_PS] = "cph direct, via posix_spawn",
};

bool is_cph(enum variant v)
{
    return v == DIRECT || v == PID_BOUND || v == DIRECT_PS;
}

/* environ plus LISTEN_FDS=n and LISTEN_FDNAMES=fd0:fd1:..., the names
 * being the keys of the cph list. */
static char **inherit_env(int n)
{
    size_t count = 0, names = 16;
    char **env;
    char *p;

    while (environ[count])
        count++;
    for (int i = 0; i < n; i++)
        names += 12;
    env = calloc(count + 3, sizeof *env);
    if (!env)
        return NULL;
    memcpy(env, environ, count * sizeof *env);
    env[count] = malloc(32);
    env[count + 1] = p = malloc(names);
    if (!env[count] || !p) {
        free(env[count]);
        free(env[count + 1]);
        free(env);
        return NULL;
    }
    snprintf(env[count], 32, "LISTEN_FDS=%d", n);
    p += sprintf(p, "LISTEN_FDNAMES=");
    for (int i = 0; i < n; i++)
        p += sprintf(p, i ? ":fd%d" : "fd%d", i);
    return env;
}

static void inherit_env_free(char **env)
{
    size_t count = 0;

    if (!env)
        return;
    while (env[count])
        count++;
    free(env[count - 2]);
    free(env[count - 1]);
    free(env);
}

/* The caller's fds sit above 3..n+2, the numbers the plain child gets
 * them at, so that no dup2 overwrites a source still to be copied. */
static int open_fds(struct fixture *f)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err = 0;

    if (null < 0)
        return errno;
    for (int i = 0; i < f->n && !err; i++) {
        char key[16];

        f->fds[i] = fcntl(null, F_DUPFD_CLOEXEC, f->n + 3);
        snprintf(key, sizeof key, "fd%d", i);
        if (f->fds[i] < 0)
            err = errno;
        else
            err = cph_attachments_add_fd(f->list, key, f->fds[i]);
        if (!err)
            err = posix_spawn_file_actions_adddup2(&f->inherit, f->fds[i],
                                                   3 + i);
    }
    close(null);
    return err;
}

int fixture_init(struct fixture *f, const char *child, int n)
{
    int err;

    memset(f, 0, sizeof *f);
    f->child = child;
    f->n = n;
    snprintf(f->count_arg, sizeof f->count_arg, "%d", n);
    f->argv[0] = f->argv_none[0] = (char *)child;
    f->argv[1] = f->count_arg;
    f->argv_none[1] = "0";
    f->fds = malloc((size_t)n * sizeof *f->fds);
    if (!f->fds)
        return ENOMEM;
    for (int i = 0; i < n; i++)
        f->fds[i] = -1;
    err = cph_attachments_init(&f->list);
    if (err)
        return err;
    err = posix_spawn_file_actions_init(&f->inherit);
    if (!err)
        err = posix_spawn_file_actions_init(&f->none);
    if (err)
        return err;
    f->inherit_env = inherit_env(n);
    if (!f->inherit_env)
        return ENOMEM;
    return open_fds(f);
}

void fixture_destroy(struct fixture *f)
{
    for (int i = 0; f->fds && i < f->n; i++)
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    free(f->fds);
    cph_attachments_destroy(f->list);
    posix_spawn_file_actions_destroy(&f->inherit);
    posix_spawn_file_actions_destroy(&f->none);
    inherit_env_free(f->inherit_env);
}

void fixture_use(struct fixture *f, enum variant v)
{
    if (is_cph(v))
        cph_attachments_set_delivery(f->list, v == PID_BOUND
                                                  ? CPH_DELIVERY_PID_BOUND
                                                  : CPH_DELIVERY_DIRECT);
}

int fixture_spawn(struct fixture *f, enum variant v, pid_t *pid)
{
    switch (v) {
    case FLOOR:
        return posix_spawn(pid, f->child, NULL, f->attr, f->argv_none,
                           environ);
    case PLAIN:
        return posix_spawn(pid, f->child, &f->inherit, f->attr, f->argv,
                           f->inherit_env);
    case DIRECT_PS:
        return cph_spawn(pid, f->child, &f->none, f->attr, f->argv, environ,
                         f->list);
    default:
        return cph_spawn(pid, f->child, NULL, f->attr, f->argv, environ,
                         f->list);
    }
}

int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest rank, on a sorted copy. */
double quantile(const double *v, size_t n, double q)
{
    double *sorted = malloc(n * sizeof *sorted), x;
    size_t rank = (size_t)ceil(q * (double)n);

    if (!sorted)
        return NAN;
    memcpy(sorted, v, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_value);
    x = sorted[rank == 0 ? 0 : rank - 1];
    free(sorted);
    return x;
}

double median_of(const double *v, size_t n)
{
    return quantile(v, n, 0.5);
}
