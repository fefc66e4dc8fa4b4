/*
 * cph's own spawner (lib/linux/spawner.c), which runs the spawns without
 * the caller's file actions and attributes, under the suite's delivery:
 * it runs where it should, and what the program finds of the signal
 * state, and what a failed exec leaves, are posix_spawn's. (That it
 * resets the caller's handlers before the mask opens cannot be seen
 * after the exec, which resets them too.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"
#include "transport.h"

extern char **environ;

static void caught(int sig)
{
    (void)sig;
}

/* The SigBlk, SigIgn and SigCgt lines of /proc/self/status of a shell
 * that execs grep, spawned by posix_spawn (list NULL) or cph_spawn,
 * without file actions or attributes. */
static char *signal_state(const cph_attachments_t *list)
{
    const char *out = scratch_path("sigs");
    char *argv[] = {"sh", "-c",
                    "exec grep -E '^Sig(Blk|Ign|Cgt)' /proc/self/status > \"$0\"",
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

/* Where it exists (glibc on x86_64 and aarch64, unsanitized), the spawner
 * runs itself: the child gets the end at its number, inheritable, and the
 * parent a pidfd of it. */
Test(spawner, runs_and_hands_a_pidfd)
{
#if CPH__HAS_SPAWNER
    char *argv[] = {"sh", "-c", "test -S /proc/self/fd/90", NULL};
    int pair[2], end, pidfd = -1, err;
    pid_t pid;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    end = fcntl(pair[0], F_DUPFD_CLOEXEC, 90);
    cr_assert_eq(end, 90);
    err = cph__spawn_own(&pid, "/bin/sh", pair[0], end, argv, environ,
                         &pidfd);
    cr_assert_eq(err, 0, "%s", strerror(err));
    cr_assert_geq(pidfd, 0);
    cr_assert_eq(wait_exit(pid), 0, "the child has no socket at fd 90");
    close(pidfd);
    close(end);
    close(pair[0]);
    close(pair[1]);
#else
    cr_skip_test("no own spawner in this build");
#endif
}

#ifndef CPH_SANITIZED
/* Sanitizer builds have no spawner of cph's, and their runtimes want
 * more stack for a thread than the case gives. */
static void *spawn_from_thread(void *list)
{
    char *argv[] = {"true", NULL};
    pid_t pid;
    intptr_t err = cph_spawn(&pid, "/bin/true", NULL, NULL, argv, environ,
                             list);

    if (!err)
        err = wait_exit(pid) == 0 ? 0 : ECHILD;
    return (void *)err;
}

#define SMALL_STACK (32 * 1024)
#define GUARD (256 * 1024)

/* A thread with a small stack spawns as it would with posix_spawn: the
 * child's stack is not taken from it. Below its 32 KiB, 256 KiB that
 * nobody may touch catch any use past them. */
Test(spawner, from_a_thread_with_a_small_stack)
{
    cph_attachments_t *list = list_new();
    pthread_attr_t attr;
    pthread_t thread;
    char *area;
    void *err;

    list_add(list, "a", memfd_text("a"));
    area = mmap(NULL, GUARD + SMALL_STACK, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(area, MAP_FAILED);
    cr_assert_eq(mprotect(area + GUARD, SMALL_STACK, PROT_READ | PROT_WRITE),
                 0);
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstack(&attr, area + GUARD, SMALL_STACK), 0);
    cr_assert_eq(pthread_create(&thread, &attr, spawn_from_thread, list), 0);
    cr_assert_eq(pthread_join(thread, &err), 0);
    cr_assert_eq((intptr_t)err, 0, "%s", strerror((int)(intptr_t)err));
    pthread_attr_destroy(&attr);
    munmap(area, GUARD + SMALL_STACK);
    cph_attachments_destroy(list);
}
#endif
