/*
 * cph-show: a child that prints each handle its cph parent handed it:
 *
 *   KEY  fd N  WHAT
 *
 * where WHAT says what the fd is; for a regular file, its path, size and
 * first line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cph/child.h>

#include "describe.h"

/* The keys of every handle, copied before any is taken. */
static char **collect_keys(size_t count)
{
    char **keys = calloc(count + 1, sizeof *keys);

    for (size_t i = 0; keys && i < count; i++) {
        keys[i] = strdup(cph_child_key(i));
        if (!keys[i]) {
            while (i > 0)
                free(keys[--i]);
            free(keys);
            return NULL;
        }
    }
    return keys;
}

/* What a user can do about a failed check-in. */
static const char *failure(int status)
{
    switch (status) {
    case EINVAL:
        return "CPH_HANDSHAKE is stale or malformed";
    case EBADF:
        return "the fd (nameless: the registered-port slot) CPH_HANDSHAKE "
               "names is not the channel: closed by the launcher's file "
               "actions, or a stale variable";
    case ECONNREFUSED:
        return "the parent is gone, or a wrapper forked cph-show instead of "
               "executing it (pid-bound and nameless deliveries)";
    case ECONNRESET:
        return "already taken by another process, or the parent died";
    default:
        return strerror(status);
    }
}

static const char usage[] =
    "usage: cph-show\n"
    "\n"
    "Run by a cph parent (cph-run -- cph-show, or cph_spawn), prints each\n"
    "handle it was handed, one a line: KEY, its fd, and what it is (for a\n"
    "file its path, size and first line; for a socket its kind and address).\n"
    "Exits 0 when it was handed its handles, 1 when none arrived (not\n"
    "launched with any, or the check-in failed: it says why), 2 on a usage\n"
    "error.\n";

int main(int argc, char **argv)
{
    int status = cph_child_status();
    size_t count = cph_child_count();
    char **keys;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "cph-show: unknown argument '%s' (see --help)\n",
                argv[1]);
        return 2;
    }
    if (status == ENOENT) {
        fputs("cph-show: no handles: not launched by cph with any "
              "(no CPH_HANDSHAKE in the environment)\n", stderr);
        return 1;
    }
    if (status != 0) {
        fprintf(stderr, "cph-show: no handles: the check-in failed: %s "
                "(CPH_DEBUG=1 traces it)\n", failure(status));
        return 1;
    }
    if (count == 0) {
        puts("cph-show: launched by cph, no handles");
        return 0;
    }
    keys = collect_keys(count);
    if (!keys) {
        fprintf(stderr, "cph-show: %s\n", strerror(ENOMEM));
        return 1;
    }
    printf("cph-show: %zu handle%s\n", count, count == 1 ? "" : "s");
    for (size_t i = 0; i < count; i++) {
        int fd = cph_child_take_fd(keys[i]);

        printf("%s  fd %d  ", keys[i], fd);
        if (fd < 0)
            printf("not taken (%s)", strerror(errno));
        else
            describe(fd);
        putchar('\n');
    }
    for (size_t i = 0; i < count; i++)
        free(keys[i]);
    free(keys);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
