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
 * runnable fails the spawn with their errno rather than the adapter;
 * but with the caller's file actions, which may change the child's
 * directory, a relative path is not checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/core/attachments.h"
#include "placed.h"

/* The search path when the caller has none, as its libc has it: glibc's
 * CS_PATH (posix/execvpe.c, __execvpe_common), musl's (src/process/
 * execvp.c), Apple's _PATH_DEFPATH (Libc's posix_spawnp, as FreeBSD's
 * execvPe: only a Mac can confirm). */
#if defined(__APPLE__)
#define DEFAULT_PATH "/usr/bin:/bin"
#elif defined(__GLIBC__)
#define DEFAULT_PATH "/bin:/usr/bin"
#else
#define DEFAULT_PATH "/usr/local/bin:/bin:/usr/bin"
#endif

/* 0 if path names a file the caller may execute, else execve's errno
 * for it (EACCES for a directory or a special file). Where the child's
 * directory may not be the caller's (its file actions can change it), a
 * relative path is left to the adapter's exec. */
static int runnable(const char *path, bool same_dir)
{
    struct stat st;

    if (path[0] != '/' && !same_dir)
        return 0;
    if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0 ||
        stat(path, &st) < 0)
        return errno;
    return S_ISREG(st.st_mode) ? 0 : EACCES;
}

/* The errors after which a search goes on to the next directory (glibc:
 * __execvpe_common; musl: execvpe, the first three only; Apple, as
 * FreeBSD's execvPe, also ELOOP and ENAMETOOLONG). */
static bool skipped(int err)
{
    switch (err) {
    case EACCES:
    case ENOENT:
    case ENOTDIR:
#ifdef __GLIBC__
    case ESTALE:
    case ENODEV:
    case ETIMEDOUT:
#endif
#ifdef __APPLE__
    case ELOOP:
    case ENAMETOOLONG:
#endif
        return true;
    }
    return false;
}

/*
 * posix_spawnp's search: the first runnable DIR/file along the caller's
 * PATH (an empty entry is the current directory), stopping at an error
 * that is not skipped; if none, EACCES if one was found unrunnable, else
 * the last error.
 */
static int search(const char *file, bool same_dir, char **found)
{
    const char *path = getenv("PATH"), *dir, *end;
    size_t flen = strlen(file);
    bool denied = false;
    int err = ENOENT;

    if (!path)
        path = DEFAULT_PATH;
    for (dir = path; dir; dir = *end ? end + 1 : NULL) {
        size_t dlen;

        end = strchr(dir, ':');
        if (!end)
            end = dir + strlen(dir);
        dlen = (size_t)(end - dir);
        *found = malloc(dlen + flen + 3);
        if (!*found)
            return ENOMEM;
        snprintf(*found, dlen + flen + 3, "%.*s/%s", (int)dlen,
                 dlen ? dir : ".", file);
        err = runnable(*found, same_dir);
        if (!err)
            return 0;
        free(*found);
        if (!skipped(err))
            return err;
        denied |= err == EACCES;
    }
    return denied ? EACCES : err;
}

/* file as posix_spawn (or, search_path, posix_spawnp) finds it. */
static int resolve(const char *file, bool search_path, bool same_dir,
                   char **found)
{
    int err;

    if (!file)
        return EFAULT;
    if (search_path && !strchr(file, '/')) {
        if (!*file)
            return ENOENT;
#if !defined(__GLIBC__) && !defined(__APPLE__)
        /* musl's execvpe checks first; glibc finds it along PATH. */
        if (strlen(file) > NAME_MAX)
            return ENAMETOOLONG;
#endif
        return search(file, same_dir, found);
    }
    err = runnable(file, same_dir);
    if (!err && !(*found = strdup(file)))
        err = ENOMEM;
    return err;
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
                     bool search_path, bool same_dir, char *const argv[],
                     char ***out)
{
    size_t nargv = 0, n = 0;
    char **args, *found = NULL;
    int err = cph__place_check(list);

    if (!err)
        err = resolve(file, search_path, same_dir, &found);
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
