/* How handshakes end, what is released, and what cph leaves alone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static cph_attachments_t *list_of(int n)
{
    cph_attachments_t *list;

    cr_assert_eq(cph_attachments_init(&list), 0);
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "fd%d", i);
        cr_assert_eq(cph_attachments_add_fd(list, key, 0), 0);
    }
    return list;
}

Test(lifecycle, child_without_libcph_child_releases_everything)
{
    cph_attachments_t *list = list_of(3);
    char *args[] = {"sleep", "/dev/null", "20", NULL};
    int before;

    start_server();
    before = count_fds();

    for (int i = 0; i < 5; i++) {
        pid_t pid = spawn_helper("h_plain", args, list);
        cr_assert_eq(cph_checkin_wait(pid, 10000), ECONNABORTED);
        cr_assert_eq(wait_exit(pid), 0);
    }
    cr_assert_eq(count_fds(), before, "fds leaked");
    cph_attachments_destroy(list);
}

Test(lifecycle, successful_checkin_releases_everything)
{
    cph_attachments_t *list = list_of(3);
    char *args[] = {"show", "/dev/null", NULL};
    int before;

    start_server();
    before = count_fds();

    for (int i = 0; i < 5; i++) {
        pid_t pid = spawn_helper("h_child", args, list);
        cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
        cr_assert_eq(wait_exit(pid), 0);
    }
    cr_assert_eq(count_fds(), before, "fds leaked");
    cph_attachments_destroy(list);
}

Test(lifecycle, closing_the_pipe_gives_up_before_exit)
{
    cph_attachments_t *list = list_of(1);
    char out[256], *args[] = {"closepipe", out, "3000", NULL};
    char *report;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("closepipe"));
    pid = spawn_helper("h_plain", args, list);
    cr_assert_eq(cph_checkin_wait(pid, 2000), ECONNABORTED);
    report = slurp(out);
    cr_assert_str_eq(report, "closing 1\n");
    kill(pid, SIGKILL);
    wait_exit(pid);
    free(report);
    cph_attachments_destroy(list);
}

Test(lifecycle, no_handshake_variable_in_grandchildren)
{
    cph_attachments_t *list = list_of(1);
    char grand[256], *report;

    snprintf(grand, sizeof grand, "%s", scratch_path("grand"));
    cr_assert_eq(run_helper("h_child", "grandchild", grand, list, &report),
                 0);
    cr_assert_str_eq(report, "spawned 0\n");
    free(report);
    report = slurp(grand);
    cr_assert_not_null(report);
    cr_assert_not_null(strstr(report, "status 2\nenv unset\ncount 0\n"),
                       "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* Reads the inodes a helper wrote, one per line, appending to set. */
static size_t read_inodes(const char *path, unsigned long *set, size_t n)
{
    char *text = slurp(path), *line, *save = NULL;

    cr_assert_not_null(text, "%s", path);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        set[n++] = strtoul(line, NULL, 10);
    free(text);
    unlink(path);
    return n;
}

#define ROUNDS 150

static unsigned long plain_inodes[ROUNDS * 8];
static size_t plain_count;

static void *spawn_plainly(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS && plain_count < ROUNDS * 7; i++) {
        char out[256], *argv[] = {"h_plain", "pipes", out, NULL};
        pid_t pid;

        snprintf(out, sizeof out, "%s", scratch_path("pipes"));
        cr_assert_eq(posix_spawn(&pid, helper_path("h_plain"), NULL, NULL,
                                 argv, environ), 0);
        wait_exit(pid);
        plain_count = read_inodes(out, plain_inodes, plain_count);
    }
    return NULL;
}

Test(lifecycle, pipe_never_reaches_a_concurrent_plain_spawn)
{
    cph_attachments_t *list = list_of(1);
    static unsigned long cph_inodes[ROUNDS];
    size_t cph_count = 0;
    pthread_t other;

    cr_assert_eq(pthread_create(&other, NULL, spawn_plainly, NULL), 0);
    for (int i = 0; i < ROUNDS; i++) {
        char out[256], *args[] = {"pipeino", out, NULL};
        snprintf(out, sizeof out, "%s", scratch_path("pipeino"));
        wait_exit(spawn_helper("h_plain", args, list));
        cph_count = read_inodes(out, cph_inodes, cph_count);
    }
    pthread_join(other, NULL);
    cr_assert_eq(cph_count, ROUNDS, "every cph child found its pipe");
    for (size_t i = 0; i < plain_count; i++)
        for (size_t j = 0; j < cph_count; j++)
            cr_assert_neq(plain_inodes[i], cph_inodes[j],
                          "a plain child inherited cph's pipe");
    cph_attachments_destroy(list);
}

static int spawn_and_check_in(void)
{
    cph_attachments_t *list = list_of(1);
    char *argv[] = {"h_child", "show", "/dev/null", NULL};
    pid_t pid;
    int err = cph_spawn(&pid, helper_path("h_child"), NULL, NULL, argv,
                        environ, list);

    if (!err)
        err = cph_checkin_wait(pid, 10000);
    if (!err)
        waitpid(pid, NULL, 0);
    cph_attachments_destroy(list);
    return err;
}

Test(lifecycle, forked_process_can_use_cph_again)
{
    pid_t pid;
    int status;

    cr_assert_eq(spawn_and_check_in(), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(spawn_and_check_in() == 0 && spawn_and_check_in() == 0 ? 0 : 1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(spawn_and_check_in(), 0, "the parent still works");
}

Test(lifecycle, outcomes_stay_bounded)
{
    cph_attachments_t *list = list_of(1);
    char *args[] = {"sleep", "/dev/null", "0", NULL};
    pid_t first = 0, last = 0;
    bool reused = false;

    for (int i = 0; i < 1100; i++) {
        last = spawn_helper("h_plain", args, list);
        if (i == 0)
            first = last;
        else if (last == first)
            reused = true;
        cr_assert_eq(cph_checkin_wait(last, 10000), ECONNABORTED);
        wait_exit(last);
    }
    cr_assert_eq(cph_checkin_wait(last, 0), ECONNABORTED);
    if (!reused)
        cr_assert_eq(cph_checkin_wait(first, 0), ESRCH);
    cph_attachments_destroy(list);
}

static volatile sig_atomic_t sigchld_seen;

static void on_sigchld(int sig)
{
    (void)sig;
    sigchld_seen = 1;
}

Test(lifecycle, no_reaping_and_signal_handlers_untouched)
{
    struct sigaction sa = {.sa_handler = on_sigchld}, now;
    cph_attachments_t *list = list_of(1);
    char *args[] = {"show", "/dev/null", NULL};
    int status;
    pid_t pid;

    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
    pid = spawn_helper("h_child", args, list);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid, "cph reaped our child");
    cr_assert_eq(sigaction(SIGCHLD, NULL, &now), 0);
    cr_assert_eq(now.sa_handler, on_sigchld);
    cr_assert(sigchld_seen);
    cph_attachments_destroy(list);
}
