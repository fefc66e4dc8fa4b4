/* Every public function's contract, on Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/child.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

/* Every byte a key may hold, 65 of them: more than one key can carry. */
#define KEY_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* A pipe holding text; returns its read end (close-on-exec). */
static int pipe_with(const char *text)
{
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
    close(p[1]);
    return p[0];
}

/* A list holding key "good" only. */
static cph_attachments_t *list_with_good(void)
{
    cph_attachments_t *list = list_new();

    list_add(list, "good", open("/dev/null", O_RDONLY | O_CLOEXEC));
    return list;
}

/* add_fd fails with err and holds no new fd. */
static void assert_add_fails(cph_attachments_t *list, const char *key, int fd,
                             int err, const char *what)
{
    int before = count_fds();
    int got = cph_attachments_add_fd(list, key, fd);

    cr_assert_eq(got, err, "%s: got %s, want %s", what, strerror(got),
                 strerror(err));
    cr_assert_eq(count_fds(), before, "%s: an fd leaked", what);
}

/* A child shows the list holds exactly keys (then "report"). */
static void assert_list_keys(cph_attachments_t *list, const char *keys)
{
    char *args[] = {"show", NULL}, want[512];
    char *report = report_of("h_report", args, list);

    snprintf(want, sizeof want, "%skey report\n", keys);
    cr_assert_not_null(strstr(report, want), "want keys:\n%s\ngot:\n%s",
                       want, report);
    free(report);
}

/* A spawn's stdout: a close-on-exec pipe dup2'd onto fd 1. */
struct capture {
    posix_spawn_file_actions_t fa;
    int pipe[2];
};

static void capture_init(struct capture *c)
{
    cr_assert_eq(pipe2(c->pipe, O_CLOEXEC), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&c->fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&c->fa, c->pipe[1], 1), 0);
}

/* Everything written to the capture so far; the capture is gone. */
static char *capture_end(struct capture *c)
{
    posix_spawn_file_actions_destroy(&c->fa);
    close(c->pipe[1]);
    return read_all(c->pipe[0]);
}

/* cph_spawn of h_report MODE with c's file actions and an environment of
 * one variable; waits for its exit (0) and returns the pid. */
static pid_t spawn_captured(struct capture *c, const char *mode,
                            const cph_attachments_t *list)
{
    char *argv[] = {"h_report", (char *)mode, NULL};
    char *envp[] = {"CPH_TEST=1", NULL};
    pid_t pid;
    int err = cph_spawn(&pid, helper_path("h_report"), &c->fa, NULL, argv,
                        envp, list);

    cr_assert_eq(err, 0, "cph_spawn: %s", strerror(err));
    cr_assert_eq(wait_exit(pid), 0);
    return pid;
}

Test(api, init_rejects_null)
{
    cr_assert_eq(cph_attachments_init(NULL), EINVAL);
}

Test(api, destroy_accepts_null_and_releases_fds)
{
    cph_attachments_t *list;
    int before = count_fds();

    cph_attachments_destroy(NULL);
    list = list_new();
    list_add(list, "a", open("/dev/null", O_RDONLY | O_CLOEXEC));
    list_add(list, "b", open("/dev/null", O_RDONLY | O_CLOEXEC));
    cr_assert_eq(count_fds(), before + 2, "the list holds its duplicates");
    cph_attachments_destroy(list);
    cr_assert_eq(count_fds(), before, "destroy closes them");
}

Test(api, add_accepts_every_valid_key)
{
    cph_attachments_t *list = list_new();
    char longest[65], rest[2], want[256];

    /* 64 bytes, then the one allowed byte left: "-". */
    snprintf(longest, sizeof longest, "%.64s", KEY_CHARS);
    snprintf(rest, sizeof rest, "%s", KEY_CHARS + 64);
    cr_assert_eq(strlen(longest), 64);
    list_add(list, longest, open("/dev/null", O_RDONLY | O_CLOEXEC));
    list_add(list, rest, open("/dev/null", O_RDONLY | O_CLOEXEC));
    list_add(list, "x", open("/dev/null", O_RDONLY | O_CLOEXEC));
    snprintf(want, sizeof want, "count 4\nkey %s\nkey -\nkey x\n", longest);
    assert_list_keys(list, want);
    cph_attachments_destroy(list);
}

Test(api, add_rejects_invalid_keys)
{
    cph_attachments_t *list = list_with_good();
    char too_long[66];
    const char *bad[] = {"", "a/b", "a b", "a:b", "a=b", "caf\xc3\xa9",
                         "\x80", "tab\t", "a\n", too_long, NULL};

    memset(too_long, 'k', 65);
    too_long[65] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_add_fails(list, bad[i], 0, EINVAL, bad[i] ? bad[i] : "NULL");
    assert_list_keys(list, "count 2\nkey good\n");
    cph_attachments_destroy(list);
}

Test(api, add_rejects_duplicate_key)
{
    cph_attachments_t *list = list_with_good();

    assert_add_fails(list, "good", 1, EEXIST, "duplicate");
    assert_list_keys(list, "count 2\nkey good\n");
    cph_attachments_destroy(list);
}

Test(api, add_rejects_bad_fds)
{
    cph_attachments_t *list = list_with_good();
    int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);

    close(closed);
    assert_add_fails(list, "a", -1, EBADF, "fd -1");
    assert_add_fails(list, "a", closed, EBADF, "closed fd");
    assert_add_fails(list, "a", 1 << 20, EBADF, "fd past the table");
    /* "a" was never taken: the list is unchanged. */
    assert_list_keys(list, "count 2\nkey good\n");
    cph_attachments_destroy(list);
}

Test(api, add_rejects_null_list)
{
    assert_add_fails(NULL, "a", 0, EINVAL, "NULL list");
}

/* Lowers RLIMIT_NOFILE to the current fd count's worth and fills every
 * free number below it; returns the old limit. */
static struct rlimit fill_fd_table(int *fillers, size_t max, size_t *n)
{
    struct rlimit old, low;

    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)count_fds() + 8;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (*n = 0; *n < max; (*n)++) {
        fillers[*n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fillers[*n] < 0)
            break;
    }
    return old;
}

static void unfill_fd_table(int *fillers, size_t n, const struct rlimit *old)
{
    for (size_t i = 0; i < n; i++)
        close(fillers[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, old), 0);
}

Test(api, add_out_of_fds_changes_nothing)
{
    cph_attachments_t *list = list_with_good();
    int fillers[64], err, before;
    size_t n;
    struct rlimit old;

    before = count_fds();
    old = fill_fd_table(fillers, 64, &n);
    err = cph_attachments_add_fd(list, "a", 0);
    unfill_fd_table(fillers, n, &old);
    cr_assert_eq(err, EMFILE, "got %s", strerror(err));
    cr_assert_eq(count_fds(), before);
    assert_list_keys(list, "count 2\nkey good\n");
    cph_attachments_destroy(list);
}

Test(api, list_keeps_its_own_duplicate)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL}, *report;
    int fd = pipe_with("kept\n");

    cr_assert_eq(cph_attachments_add_fd(list, "text", fd), 0);
    close(fd);
    report = report_of("h_report", args, list);
    cr_assert_str_eq(report, "text=kept\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(api, list_duplicate_is_close_on_exec)
{
    cph_attachments_t *list = list_new();
    char out[256], *argv[] = {"h_plain", "pipes", out, NULL};
    char *seen, ino[32];
    struct stat st;
    int p[2];
    pid_t pid;

    /* Both ends inheritable here, so only the list's copies are tested. */
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(fstat(p[0], &st), 0);
    snprintf(ino, sizeof ino, "%lu\n", (unsigned long)st.st_ino);
    cr_assert_eq(cph_attachments_add_fd(list, "r", p[0]), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "w", p[1]), 0);
    close(p[0]);
    close(p[1]);
    snprintf(out, sizeof out, "%s", scratch_path("pipes"));
    cr_assert_eq(posix_spawn(&pid, helper_path("h_plain"), NULL, NULL, argv,
                             environ), 0);
    cr_assert_eq(wait_exit(pid), 0);
    seen = slurp(out);
    unlink(out);
    cr_assert_not_null(seen);
    cr_assert_null(strstr(seen, ino), "a plain child got the list's fd");
    free(seen);
    cph_attachments_destroy(list);
}

/* With list NULL or empty: a plain posix_spawn (no handshake, no server
 * started, nothing held), file actions included. */
static void assert_plain_spawn(const cph_attachments_t *list)
{
    struct capture c;
    int before = count_fds();
    pid_t pid;
    char *out;

    capture_init(&c);
    pid = spawn_captured(&c, "show", list);
    out = capture_end(&c);
    cr_assert_eq(count_fds(), before, "cph kept fds for a plain spawn");
    cr_assert_eq(cph_checkin_wait(pid, 0), ESRCH);
    /* ENOENT: not launched by cph_spawn. */
    cr_assert_str_eq(out, "status 2\nenv unset\nenviron 1 marked 0\n"
                          "count 0\n");
    free(out);
}

Test(api, null_or_empty_list_is_posix_spawn)
{
    cph_attachments_t *empty = list_new();

    assert_plain_spawn(NULL);
    assert_plain_spawn(empty);
    cph_attachments_destroy(empty);
}

Test(api, spawn_failure_returns_errno_and_leaks_nothing)
{
    cph_attachments_t *list = list_with_good();
    char *argv[] = {"nope", NULL};
    pid_t pid = 12345;
    int before;

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

/* glibc's tst-spawn2: a failed spawn, even the first of the process,
 * leaves no fd behind (libcph's thread and server start with a child). */
Test(api, first_spawn_failure_leaves_nothing)
{
    cph_attachments_t *list = list_with_good();
    char *argv[] = {"nope", NULL};
    int before = count_fds();
    pid_t pid = 12345;

    cr_assert_eq(cph_spawn(&pid, "/nonexistent/nope", NULL, NULL, argv,
                           environ, list), ENOENT);
    cr_assert_eq(count_fds(), before, "the failed spawn left fds");
    cr_assert_eq(pid, 12345);
    cph_attachments_destroy(list);
}

/* With k free fds, cph_spawn either fails with EMFILE (every number it
 * took is given back, *pid untouched) or succeeds and the child checks
 * in. k from 0 up meets each of its allocations failing in turn: the
 * list's copies, the pipe, the child's pipe number and, unless the
 * server already runs, the server's socket and epoll set. */
static void assert_spawn_out_of_fds(bool server_running)
{
    cph_attachments_t *list = list_with_good();
    char *argv[] = {"h_report", "show", NULL}, *text;
    int fillers[64], before, err = EMFILE, report = attach_report(list);
    size_t n, k;
    pid_t pid = 12345;

    if (server_running)
        start_server();
    for (k = 0; k < 16 && err == EMFILE; k++) {
        struct rlimit old;

        before = count_fds();
        old = fill_fd_table(fillers, 64, &n);
        for (size_t i = 0; i < k && i < n; i++)
            close(fillers[n - 1 - i]);
        err = cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv,
                        environ, list);
        unfill_fd_table(fillers, n > k ? n - k : 0, &old);
        if (err == EMFILE) {
            cr_assert_eq(pid, 12345, "*pid changed (%zu free)", k);
            cr_assert_eq(count_fds(), before, "leak with %zu free fds", k);
        }
    }
    cr_assert_eq(err, 0, "spawn with %zu free fds: %s", k - 1,
                 strerror(err));
    /* At least the 2 copies and the pipe were each refused once. */
    cr_assert_geq(k - 1, 3, "spawned with only %zu free fds", k - 1);
    text = finish_report(pid, report);
    cr_assert_not_null(strstr(text, "count 2\nkey good\nkey report\n"),
                       "%s", text);
    free(text);
    cph_attachments_destroy(list);
}

Test(api, spawn_out_of_fds_releases_everything)
{
    assert_spawn_out_of_fds(true);
}

Test(api, server_start_out_of_fds_releases_everything)
{
    assert_spawn_out_of_fds(false);
}

Test(api, spawnp_searches_path)
{
    cph_attachments_t *list = list_with_good();
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char path[512], *argv[] = {"h_report", "show", NULL};
    char *envp[] = {path, NULL};
    int report = attach_report(list), err;
    char *text;
    pid_t pid;

    /* posix_spawnp searches the caller's PATH, not envp's. */
    snprintf(path, sizeof path, "PATH=%s", CPH_HELPERS);
    cr_assert_eq(setenv("PATH", CPH_HELPERS, 1), 0);
    err = cph_spawnp(&pid, "h_report", NULL, NULL, argv, envp, list);
    if (old)
        setenv("PATH", old, 1);
    else
        unsetenv("PATH");
    free(old);
    cr_assert_eq(err, 0, "cph_spawnp: %s", strerror(err));
    text = finish_report(pid, report);
    cr_assert_str_eq(text, "status 0\nenv unset\nenviron 1 marked 0\n"
                           "count 2\nkey good\nkey report\n");
    free(text);
    cph_attachments_destroy(list);
}

Test(api, checkin_wait_after_checkin)
{
    cph_attachments_t *list = list_with_good();
    char *args[] = {"show", NULL};
    int report = attach_report(list);
    pid_t pid = spawn_helper("h_report", args, list);

    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    cr_assert_eq(cph_checkin_wait(pid, 0), 0, "the outcome stays");
    cr_assert_eq(cph_checkin_wait(pid, -1), 0, "the outcome stays");
    free(finish_report(pid, report));
    cph_attachments_destroy(list);
}

Test(api, checkin_wait_pending_then_not_checked_in)
{
    cph_attachments_t *list = list_with_good();
    char *args[] = {"sleep", "/dev/null", "1000", NULL};
    pid_t pid = spawn_helper("h_plain", args, list);

    cr_assert_eq(cph_checkin_wait(pid, 0), ETIMEDOUT);
    cr_assert_eq(cph_checkin_wait(pid, 50), ETIMEDOUT);
    /* A negative timeout waits for the exit, however long. */
    cr_assert_eq(cph_checkin_wait(pid, -1), ENOTCONN);
    cr_assert_eq(cph_checkin_wait(pid, 0), ENOTCONN, "the outcome stays");
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_eq(cph_checkin_wait(pid, 0), ENOTCONN, "even once reaped");
    cph_attachments_destroy(list);
}

Test(api, checkin_wait_unknown_pids)
{
    char *argv[] = {"true", NULL};
    pid_t plain;

    cr_assert_eq(cph_checkin_wait(0, 0), ESRCH);
    cr_assert_eq(cph_checkin_wait(-1, 0), ESRCH);
    cr_assert_eq(cph_checkin_wait(-1, -1), ESRCH);
    cr_assert_eq(cph_checkin_wait(getpid(), 0), ESRCH);
    cr_assert_eq(posix_spawn(&plain, "/bin/true", NULL, NULL, argv, environ),
                 0);
    cr_assert_eq(cph_checkin_wait(plain, 100), ESRCH);
    cr_assert_eq(wait_exit(plain), 0);
}

Test(api, child_functions)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"api", NULL}, *report;

    list_add(list, "a", memfd_text("a"));
    list_add(list, "b", memfd_text("b"));
    list_add(list, "c", memfd_text("c"));
    report = report_of("h_report", args, list);
    cr_assert_str_eq(report,
                     "count 4\n"
                     "key0 a\nkey1 b\nkey2 c\nkey3 report\nkey4 (null)\n"
                     "take a ok cloexec 1\n"
                     "count 4 key0 a\n"
                     "again -1 No such file or directory\n"
                     "unknown -1 No such file or directory\n"
                     "null -1 Invalid argument\n"
                     "take c ok\n"
                     "b still b\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(api, child_status_and_key_order)
{
    cph_attachments_t *list = list_new();
    const char *keys[] = {"zeta", "alpha", "mid", "b", "0"};

    char *args[] = {"show", NULL}, *report;

    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        list_add(list, keys[i], memfd_text(keys[i]));
    report = report_of("h_report", args, list);
    cr_assert_eq(strncmp(report, "status 0\nenv unset\n", 19), 0, "%s",
                 report);
    cr_assert_not_null(strstr(report, " marked 0\ncount 6\nkey zeta\n"
                                      "key alpha\nkey mid\nkey b\nkey 0\n"
                                      "key report\n"),
                       "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* envp, its array and its strings, is left as it was; the CPH_HANDSHAKE
 * it holds is replaced, not kept beside cph's own. */
Test(api, envp_unmodified_and_handshake_replaced)
{
    cph_attachments_t *list = list_with_good();
    char *envp[] = {strdup("A=1"), strdup("CPH_HANDSHAKE=garbage"),
                    strdup("B=2"), NULL};
    char *ptrs[4], *texts[3], *argv[] = {"h_report", "show", NULL};
    int report = attach_report(list);
    char *text;
    pid_t pid;

    for (int i = 0; i < 3; i++)
        texts[i] = strdup(envp[i]);
    memcpy(ptrs, envp, sizeof ptrs);
    cr_assert_eq(cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv,
                           envp, list), 0);
    text = finish_report(pid, report);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(envp[i], ptrs[i], "envp[%d] replaced", i);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(envp[i], texts[i]);
        free(texts[i]);
        free(envp[i]);
    }
    /* A=1 and B=2 are left once the child has unset its CPH_HANDSHAKE. */
    cr_assert_str_eq(text, "status 0\nenv unset\nenviron 2 marked 0\n"
                           "count 2\nkey good\nkey report\n");
    free(text);
    cph_attachments_destroy(list);
}

Test(api, null_envp_gives_an_empty_environment)
{
    cph_attachments_t *list = list_with_good();
    char *argv[] = {"h_report", "show", NULL}, *text;
    int report = attach_report(list);
    pid_t pid;

    cr_assert_eq(cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv,
                           NULL, list), 0);
    text = finish_report(pid, report);
    cr_assert_str_eq(text, "status 0\nenv unset\nenviron 0 marked 0\n"
                           "count 2\nkey good\nkey report\n");
    free(text);
    cph_attachments_destroy(list);
}

/* The caller's file actions run (stdin from /dev/null, stdout into our
 * pipe), the child still checks in, and the object serves again. */
Test(api, callers_file_actions)
{
    cph_attachments_t *list = list_with_good();
    struct capture c;
    pid_t pids[2];
    char *out;

    capture_init(&c);
    cr_assert_eq(posix_spawn_file_actions_addopen(&c.fa, 0, "/dev/null",
                                                  O_RDONLY, 0), 0);
    for (int i = 0; i < 2; i++) {
        pids[i] = spawn_captured(&c, "stdin", list);
        cr_assert_eq(cph_checkin_wait(pids[i], LIVENESS_MS), 0, "spawn %d", i);
    }
    out = capture_end(&c);
    cr_assert_str_eq(out, "status 0\nenv unset\nenviron 1 marked 0\n"
                          "count 1\nkey good\nstdin devnull 1\n"
                          "status 0\nenv unset\nenviron 1 marked 0\n"
                          "count 1\nkey good\nstdin devnull 1\n");
    free(out);
    cph_attachments_destroy(list);
}

Test(api, spawn_attributes_apply)
{
    cph_attachments_t *list = list_with_good();
    char *argv[] = {"h_report", "pgrp", NULL}, *text;
    int report = attach_report(list);
    posix_spawnattr_t attr;
    pid_t pid;

    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP), 0);
    cr_assert_eq(posix_spawnattr_setpgroup(&attr, 0), 0);
    cr_assert_eq(cph_spawn(&pid, helper_path("h_report"), NULL, &attr, argv,
                           environ, list), 0);
    posix_spawnattr_destroy(&attr);
    text = finish_report(pid, report);
    cr_assert_not_null(strstr(text, "status 0\n"), "%s", text);
    cr_assert_not_null(strstr(text, "pgrp self 1\n"), "%s", text);
    free(text);
    cph_attachments_destroy(list);
}
