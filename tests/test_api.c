/* Every public function's contract, on Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

static cph_attachments_t *new_list(void)
{
    cph_attachments_t *list = NULL;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_not_null(list);
    return list;
}

/* A pipe holding text; returns its read end. */
static int pipe_with(const char *text)
{
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
    close(p[1]);
    return p[0];
}

Test(api, init_and_destroy)
{
    cr_assert_eq(cph_attachments_init(NULL), EINVAL);
    cph_attachments_destroy(NULL);
    cph_attachments_destroy(new_list());
}

Test(api, keys)
{
    cph_attachments_t *list = new_list();
    char longest[65], too_long[66];
    const char *bad[] = {"", "a/b", "a b", "a:b", "a=b", "caf\xc3\xa9", "a\n"};
    int before = count_fds();

    memset(longest, 'k', 64);
    longest[64] = '\0';
    memset(too_long, 'k', 65);
    too_long[65] = '\0';
    cr_assert_eq(cph_attachments_add_fd(list, "x", 0), 0);
    cr_assert_eq(cph_attachments_add_fd(list, longest, 0), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "Az09._-", 0), 0);
    cr_assert_eq(cph_attachments_add_fd(list, too_long, 0), EINVAL);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(cph_attachments_add_fd(list, bad[i], 0), EINVAL,
                     "key %zu", i);
    cr_assert_eq(cph_attachments_add_fd(list, NULL, 0), EINVAL);
    cr_assert_eq(cph_attachments_add_fd(NULL, "x", 0), EINVAL);
    cr_assert_eq(cph_attachments_add_fd(list, "x", 1), EEXIST);
    cr_assert_eq(count_fds(), before + 3, "only the 3 good adds hold fds");
    cph_attachments_destroy(list);
    cr_assert_eq(count_fds(), before);
}

Test(api, bad_fds)
{
    cph_attachments_t *list = new_list();
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int before;

    close(fd);
    before = count_fds();
    cr_assert_eq(cph_attachments_add_fd(list, "a", -1), EBADF);
    cr_assert_eq(cph_attachments_add_fd(list, "a", fd), EBADF);
    cr_assert_eq(count_fds(), before);
    /* The list is unchanged: "a" is still free. */
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cph_attachments_destroy(list);
}

Test(api, list_keeps_its_own_duplicate)
{
    cph_attachments_t *list = new_list();
    char *report;
    int fd = pipe_with("kept\n");

    cr_assert_eq(cph_attachments_add_fd(list, "text", fd), 0);
    close(fd);
    cr_assert_eq(run_helper("h_child", "read", NULL, list, &report), 0);
    cr_assert_not_null(strstr(report, "text=kept\n"), "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

static void assert_plain_spawn(const cph_attachments_t *list)
{
    char *report;
    pid_t pid;
    char out[256], *argv[] = {"h_child", "show", out, NULL};

    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    cr_assert_eq(cph_spawn(&pid, helper_path("h_child"), NULL, NULL, argv,
                           environ, list), 0);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_eq(cph_checkin_wait(pid, 0), ESRCH);
    report = slurp(out);
    cr_assert_not_null(report);
    cr_assert_not_null(strstr(report, "status 2\nenv unset\ncount 0\n"),
                       "%s", report);
    free(report);
}

Test(api, null_or_empty_list_is_posix_spawn)
{
    cph_attachments_t *empty = new_list();

    assert_plain_spawn(NULL);
    assert_plain_spawn(empty);
    cph_attachments_destroy(empty);
}

Test(api, spawn_failure_returns_errno_and_leaks_nothing)
{
    cph_attachments_t *list = new_list();
    char *argv[] = {"nope", NULL};
    pid_t pid = 12345;
    int before;

    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    start_server();
    before = count_fds();
    cr_assert_eq(cph_spawn(&pid, "/nonexistent/nope", NULL, NULL, argv,
                           environ, list), ENOENT);
    cr_assert_eq(cph_spawnp(&pid, "no-such-program-cph", NULL, NULL, argv,
                            environ, list), ENOENT);
    cr_assert_eq(pid, 12345, "*pid unchanged on error");
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

Test(api, spawnp_searches_path)
{
    cph_attachments_t *list = new_list();
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char out[256], *argv[] = {"h_child", "show", out, NULL};
    pid_t pid;
    char *report;

    snprintf(out, sizeof out, "%s", scratch_path("spawnp"));
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    setenv("PATH", CPH_HELPERS, 1);
    cr_assert_eq(cph_spawnp(&pid, "h_child", NULL, NULL, argv, environ,
                            list), 0);
    if (old)
        setenv("PATH", old, 1);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_eq(cph_checkin_wait(pid, 5000), 0);
    report = slurp(out);
    cr_assert_not_null(strstr(report, "status 0\n"), "%s", report);
    free(report);
    free(old);
    cph_attachments_destroy(list);
}

Test(api, checkin_wait)
{
    cph_attachments_t *list = new_list();
    char *args[] = {"sleep", "/dev/null", "300", NULL};
    pid_t pid;

    cr_assert_eq(cph_checkin_wait(0, 0), ESRCH);
    cr_assert_eq(cph_checkin_wait(-1, 0), ESRCH);
    cr_assert_eq(cph_checkin_wait(getpid(), 0), ESRCH);
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    pid = spawn_helper("h_plain", args, list);
    cr_assert_eq(cph_checkin_wait(pid, 0), ETIMEDOUT);
    cr_assert_eq(cph_checkin_wait(pid, 50), ETIMEDOUT);
    cr_assert_eq(cph_checkin_wait(pid, -1), ECONNABORTED);
    cr_assert_eq(cph_checkin_wait(pid, 0), ECONNABORTED, "kept");
    cr_assert_eq(wait_exit(pid), 0);
    cph_attachments_destroy(list);
}

Test(api, child_functions)
{
    cph_attachments_t *list = new_list();
    char *report;

    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "b", 1), 0);
    cr_assert_eq(run_helper("h_child", "api", NULL, list, &report), 0);
    cr_assert_str_eq(report,
                     "count 2\n"
                     "past-end null\n"
                     "take-last ok\n"
                     "cloexec 1\n"
                     "count-after 1\n"
                     "first-still a\n"
                     "retake -1 2\n"
                     "missing -1 2\n"
                     "null -1 22\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(api, key_order_is_add_order)
{
    cph_attachments_t *list = new_list();
    const char *keys[] = {"zeta", "alpha", "mid", "b"};
    char *report;

    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(cph_attachments_add_fd(list, keys[i], 0), 0);
    cr_assert_eq(run_helper("h_child", "show", NULL, list, &report), 0);
    cr_assert_str_eq(report, "status 0\nenv unset\ncount 4\n"
                             "key zeta\nkey alpha\nkey mid\nkey b\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(api, envp_copied_and_handshake_replaced)
{
    cph_attachments_t *list = new_list();
    char out[256], *argv[] = {"h_child", "show", out, NULL};
    char *envp[] = {"A=1", "CPH_HANDSHAKE=1:3:forged", "B=2", NULL};
    char *copy[] = {envp[0], envp[1], envp[2], NULL};
    char *report;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("env"));
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cr_assert_eq(cph_spawn(&pid, helper_path("h_child"), NULL, NULL, argv,
                           envp, list), 0);
    cr_assert_eq(wait_exit(pid), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(envp[i], copy[i]);
    cr_assert_str_eq(envp[1], "CPH_HANDSHAKE=1:3:forged");
    report = slurp(out);
    cr_assert_not_null(strstr(report, "status 0\n"), "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

Test(api, callers_file_actions)
{
    posix_spawn_file_actions_t fa;
    char out[256], *argv[] = {"h_child", "read", out, NULL};
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
                                                  O_RDONLY, 0), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, p[1], 3), 0);
    /* Twice: cph leaves the caller's object usable as it was. */
    for (int round = 0; round < 2; round++) {
        cph_attachments_t *list = new_list();
        int text = pipe_with("through\n");
        char *report;
        pid_t pid;

        snprintf(out, sizeof out, "%s", scratch_path("fa"));
        cr_assert_eq(cph_attachments_add_fd(list, "text", text), 0);
        close(text);
        cr_assert_eq(cph_spawn(&pid, helper_path("h_child"), &fa, NULL, argv,
                               environ, list), 0);
        cr_assert_eq(wait_exit(pid), 0);
        cr_assert_eq(cph_checkin_wait(pid, 5000), 0);
        report = slurp(out);
        cr_assert_str_eq(report, "status 0\ntext=through\n");
        free(report);
        cph_attachments_destroy(list);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    close(p[1]);
}
