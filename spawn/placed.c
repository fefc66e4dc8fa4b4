/*
 * A spawn with placements runs the adapter, cph-place, in the child's
 * place: posix_spawn's path and argv become
 *
 *   ADAPTER [--at=N=KEY]... [--env-fd=VAR=KEY]... [--systemd [--no-pid]
 *           [--fdnames=NAMES]] -- PATH [ARGV0 [ARG]...]
 *
 * and the adapter, in the same process, checks in, places the fds and
 * execs PATH with ARGV0... . PATH is found here first, as posix_spawn or
 * posix_spawnp would find it, so that a program that is missing or not
 * runnable fails the spawn with their errno rather than the adapter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/core/attachments.h"
#include "placed.h"

/* 0 if path names a file the caller may execute, else execve's errno
 * for it (EACCES for a directory or a special file). */
static int runnable(const char *path)
{
    struct stat st;

    if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0 ||
        stat(path, &st) < 0)
        return errno;
    return S_ISREG(st.st_mode) ? 0 : EACCES;
}

/*
 * posix_spawnp's search: file itself if it holds a '/'; else the first
 * runnable DIR/file along the caller's PATH (an empty entry is the
 * current directory; no PATH is /bin:/usr/bin, as glibc and musl have
 * it), EACCES if only unrunnable ones exist, else ENOENT.
 */
static int search(const char *file, char **found)
{
    const char *path = getenv("PATH"), *dir, *end;
    size_t flen = strlen(file);
    bool denied = false;

    if (!*file)
        return ENOENT;
    if (!path)
        path = "/bin:/usr/bin";
    for (dir = path; dir; dir = *end ? end + 1 : NULL) {
        size_t dlen;
        int err;

        end = strchr(dir, ':');
        if (!end)
            end = dir + strlen(dir);
        dlen = (size_t)(end - dir);
        *found = malloc(dlen + flen + 3);
        if (!*found)
            return ENOMEM;
        snprintf(*found, dlen + flen + 3, "%.*s/%s", (int)dlen,
                 dlen ? dir : ".", file);
        err = runnable(*found);
        if (!err)
            return 0;
        denied |= err == EACCES;
        free(*found);
    }
    return denied ? EACCES : ENOENT;
}

static int resolve(const char *file, bool search_path, char **found)
{
    int err;

    if (!search_path || strchr(file, '/')) {
        err = runnable(file);
        if (!err && !(*found = strdup(file)))
            err = ENOMEM;
        return err;
    }
    return search(file, found);
}

/* One argument, made from fmt, appended at args[*n]. */
__attribute__((format(printf, 3, 4)))
static int option(char **args, size_t *n, const char *fmt, ...)
{
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0 || !(args[*n] = malloc((size_t)len + 1)))
        return ENOMEM;
    va_start(ap, fmt);
    vsnprintf(args[(*n)++], (size_t)len + 1, fmt, ap);
    va_end(ap);
    return 0;
}

static int options(const cph_attachments_t *list, char **args, size_t *n)
{
    int err = 0;

    for (size_t i = 0; !err && i < list->nplaces; i++) {
        const struct cph__place *p = &list->places[i];

        err = p->var ? option(args, n, "--env-fd=%s=%s", p->var, p->key)
                     : option(args, n, "--at=%d=%s", p->fd, p->key);
    }
    if (!err && list->systemd)
        err = option(args, n, "--systemd");
    if (!err && list->systemd && !list->systemd_pid)
        err = option(args, n, "--no-pid");
    if (!err && list->systemd && list->fdnames)
        err = option(args, n, "--fdnames=%s", list->fdnames);
    return err;
}

int cph__placed_argv(const cph_attachments_t *list, const char *file,
                     bool search_path, char *const argv[], char ***out)
{
    size_t nargv = 0, n = 0;
    char **args, *found = NULL;
    int err = cph__place_check(list);

    if (!err)
        err = resolve(file, search_path, &found);
    if (err)
        return err;
    while (argv && argv[nargv])
        nargv++;
    /* ADAPTER, options (at most 3 more than places), --, PATH, argv. */
    args = calloc(list->nplaces + nargv + 8, sizeof *args);
    if (!args) {
        free(found);
        return ENOMEM;
    }
    err = option(args, &n, "%s", list->adapter ? list->adapter : CPH_ADAPTER);
    if (!err)
        err = options(list, args, &n);
    if (!err)
        err = option(args, &n, "--");
    if (err) {
        free(found);
        cph__placed_free(args);
        return err;
    }
    args[n++] = found;
    if (nargv > 0)
        memcpy(args + n, argv, nargv * sizeof *args);
    *out = args;
    return 0;
}

/* Frees what cph__placed_argv made: ADAPTER, the options (none of
 * which is "--"), "--" and PATH. */
void cph__placed_free(char **args)
{
    size_t i = 1;

    if (!args)
        return;
    free(args[0]);
    while (args[i] && strcmp(args[i], "--") != 0)
        free(args[i++]);
    if (args[i]) {
        free(args[i++]);
        free(args[i]);
    }
    free(args);
}
