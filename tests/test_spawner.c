/*
 * cph's own spawner (lib/linux/spawner.c), which runs the spawns without
 * the caller's file actions and attributes, under the suite's delivery:
 * what the program finds of the signal state, and what a failed exec
 * leaves, are posix_spawn's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

static void caught(int sig)
{
    (void)sig;
}

/* The Sig* lines of /proc/self/status of a shell that execs grep, spawned
 * by posix_spawn (list NULL) or cph_spawn, without file actions or
 * attributes. */
static char *signal_state(const cph_attachments_t *list)
{
    const char *out = scratch_path("sigs");
    char *argv[] = {"sh", "-c", "exec grep ^Sig /proc/self/status > \"$0\"",
                    (char *)out, NULL};
    pid_t pid;
    int err;

    err = list ? cph_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ, list)
               : posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    cr_assert_eq(err, 0, "%s", strerror(err));
    cr_assert_eq(wait_exit(pid), 0);
    return slurp(out);
}

/* A caught signal, an ignored one, a blocked one: the program finds them
 * as posix_spawn leaves them (the handler reset, the rest kept; glibc's
 * own signals ignored). */
Test(spawner, signal_state_as_posix_spawn_leaves_it)
{
    cph_attachments_t *list = list_new();
    struct sigaction sa = {.sa_handler = caught};
    sigset_t block;
    char *plain, *cph;

    list_add(list, "a", memfd_text("a"));
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    sa.sa_handler = SIG_IGN;
    cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    cr_assert_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
    plain = signal_state(NULL);
    cph = signal_state(list);
    cr_assert_not_null(plain);
    cr_assert_not_null(strstr(plain, "SigBlk:\t0000000000004000\n"), "%s",
                       plain);
    cr_assert_str_eq(cph, plain);
    free(plain);
    free(cph);
    cph_attachments_destroy(list);
}

/* An exec that fails: posix_spawn's errno, returned and in errno, the
 * failed child reaped, nothing left open. */
Test(spawner, exec_failure_as_posix_spawn_reports_it)
{
    cph_attachments_t *list = list_new();
    const char *text = scratch_path("text");
    const char *paths[] = {"/nonexistent/program", text, "/tmp"};
    char *argv[] = {"x", NULL};
    int fd = open(text, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    cr_assert_geq(fd, 0);
    close(fd);
    list_add(list, "a", memfd_text("a"));
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int fds = count_fds(), want, got;
        pid_t pid = -7;

        errno = 0;
        want = posix_spawn(&pid, paths[i], NULL, NULL, argv, environ);
        cr_assert_neq(want, 0);
        cr_assert_eq(errno, want);
        errno = 0;
        got = cph_spawn(&pid, paths[i], NULL, NULL, argv, environ, list);
        cr_assert_eq(got, want, "%s: %s, not %s", paths[i], strerror(got),
                     strerror(want));
        cr_assert_eq(errno, want);
        cr_assert_eq(pid, -7);
        cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left");
        cr_assert_eq(errno, ECHILD);
        cr_assert_eq(count_fds(), fds, "fds leaked");
    }
    cph_attachments_destroy(list);
}
