/*
 * Placement, under the suite's delivery: handles for a program that does
 * not link libcph_child (h_placed), put at fixed numbers, at numbers named
 * by a variable, or as systemd socket activation does, by the library's
 * adapter (the build tree's cph-place); the caller's file actions,
 * attributes and environment kept; every refusal an errno that leaks
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

static void init(void)
{
    cloexec_all();
}

TestSuite(place, .init = init);

/* A list of the suite's delivery with the build tree's adapter. */
static cph_attachments_t *placing_list(void)
{
    cph_attachments_t *list = list_new();

    cr_assert_eq(cph_attachments_set_adapter(list, CPH_TEST_ADAPTER), 0);
    return list;
}

struct spawn_opts {
    const posix_spawn_file_actions_t *fa;
    const posix_spawnattr_t *attr;
    char **envp;
    const char *var;        /* h_placed reports it too */
};

/*
 * Spawns h_placed with list (by cph_spawnp's search of PATH when file has
 * no '/'); returns the outcome; *report gets what it wrote, after it
 * exited 0.
 */
static int spawn_placed(const char *file, const cph_attachments_t *list,
                        const struct spawn_opts *o, char **report)
{
    char out[256];
    char *argv[] = {"h_placed", out, (char *)(o ? o->var : NULL), NULL};
    int outcome, err;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("placed"));
    err = (strchr(file, '/') ? cph_spawn : cph_spawnp)(
        &pid, file, o ? o->fa : NULL, o ? o->attr : NULL, argv,
        o && o->envp ? o->envp : environ, list);
    cr_assert_eq(err, 0, "spawn: %s", strerror(err));
    outcome = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(wait_exit(pid), 0);
    *report = slurp(out);
    cr_assert_not_null(*report);
    return outcome;
}

static void assert_has(const char *report, const char *line)
{
    cr_assert_not_null(strstr(report, line), "no '%s' in:\n%s", line,
                       report);
}

static void assert_lacks(const char *report, const char *text)
{
    cr_assert_null(strstr(report, text), "'%s' in:\n%s", text, report);
}

/* The "fd N ..." lines of report for N >= 3, in order, joined. */
static char *high_fds(const char *report)
{
    char *out = calloc(1, strlen(report) + 1);
    const char *line = report;

    cr_assert_not_null(out);
    for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *end = strchr(line, '\n');

        if (strncmp(line, "fd ", 3) == 0 && atoi(line + 3) >= 3)
            strncat(out, line, end ? (size_t)(end - line) + 1 : strlen(line));
    }
    return out;
}

Test(place, fd_lands_at_its_number_inheritable_and_alone)
{
    cph_attachments_t *list = placing_list();
    char *report;

    list_add(list, "a", memfd_text("alpha"));
    list_add(list, "b", memfd_text("beta"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 7), 0);
    cr_assert_eq(cph_attachments_place_fd(list, "b", 0), 0);
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, NULL, &report),
                 0);
    cph_attachments_destroy(list);
    assert_has(report, "fd 0 beta 0\n");
    /* Nothing of cph's but the placed fd: no channel, no copy left. */
    assert_text(high_fds(report), "fd 7 alpha 0\n");
    assert_lacks(report, "CPH_HANDSHAKE");
    free(report);
}

Test(place, one_key_at_two_numbers)
{
    cph_attachments_t *list = placing_list();
    char *report;

    list_add(list, "conn", memfd_text("conn"));
    cr_assert_eq(cph_attachments_place_fd(list, "conn", 0), 0);
    cr_assert_eq(cph_attachments_place_fd(list, "conn", 1), 0);
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, NULL, &report),
                 0);
    cph_attachments_destroy(list);
    assert_has(report, "fd 0 conn 0\nfd 1 conn 0\n");
    assert_text(high_fds(report), "");
    free(report);
}

Test(place, variable_names_the_fd)
{
    cph_attachments_t *list = placing_list();
    struct spawn_opts o = {.var = "WAYLAND_SOCKET"};
    char *report, line[64];
    const char *value;

    list_add(list, "wl", memfd_text("wayland"));
    cr_assert_eq(cph_attachments_place_env(list, "wl", "WAYLAND_SOCKET"), 0);
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, &o, &report), 0);
    cph_attachments_destroy(list);
    value = strstr(report, "env WAYLAND_SOCKET=");
    cr_assert_not_null(value, "%s", report);
    snprintf(line, sizeof line, "fd %d wayland 0\n",
             atoi(value + strlen("env WAYLAND_SOCKET=")));
    assert_text(high_fds(report), line);
    free(report);
}

/* x, y, z attached in that order; y placed at 0 when mixed. */
static char *systemd_report(const char *fdnames, int flags, bool mixed,
                            pid_t *pid)
{
    cph_attachments_t *list = placing_list();
    char *report, *line;

    list_add(list, "x", memfd_text("ex"));
    list_add(list, "y", memfd_text("why"));
    list_add(list, "z", memfd_text("zed"));
    if (mixed)
        cr_assert_eq(cph_attachments_place_fd(list, "y", 0), 0);
    cr_assert_eq(cph_attachments_place_systemd(list, fdnames, flags), 0);
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, NULL, &report),
                 0);
    cph_attachments_destroy(list);
    line = strstr(report, "pid ");
    cr_assert_not_null(line);
    *pid = (pid_t)atol(line + 4);
    return report;
}

Test(place, systemd_layout_as_sd_listen_fds_reads_it)
{
    char *report, pid_line[64];
    pid_t pid;

    report = systemd_report(NULL, 0, false, &pid);
    assert_text(high_fds(report), "fd 3 ex 0\nfd 4 why 0\nfd 5 zed 0\n");
    assert_has(report, "env LISTEN_FDS=3\n");
    snprintf(pid_line, sizeof pid_line, "env LISTEN_PID=%ld\n", (long)pid);
    assert_has(report, pid_line);
    assert_has(report, "env LISTEN_FDNAMES=x:y:z\n");
    free(report);
}

Test(place, systemd_layout_with_names_without_pid_and_beside_a_placed_fd)
{
    char *report;
    pid_t pid;

    report = systemd_report("first", CPH_SYSTEMD_NO_PID, true, &pid);
    assert_text(high_fds(report), "fd 3 ex 0\nfd 4 zed 0\n");
    assert_has(report, "fd 0 why 0\n");
    assert_has(report, "env LISTEN_FDS=2\n");
    assert_has(report, "env LISTEN_FDNAMES=first:z\n");
    assert_lacks(report, "LISTEN_PID");
    free(report);
}

/* What posix_spawn's caller chose stays: a file action's fd, a blocked
 * signal, a variable of envp; a placement wins over a file action at its
 * number. */
Test(place, callers_file_actions_attributes_and_environment_kept)
{
    cph_attachments_t *list = placing_list();
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t mask;
    int caller = memfd_text("caller"), other = memfd_text("other");
    char *envp[] = {"MINE=kept", NULL}, *report;
    struct spawn_opts o = {&fa, &attr, envp, "MINE"};

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 5), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, caller, 9), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, other, 5), 0);
    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR2);
    cr_assert_eq(posix_spawnattr_setsigmask(&attr, &mask), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK), 0);
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, &o, &report), 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    cph_attachments_destroy(list);
    close(caller);
    close(other);
    assert_text(high_fds(report), "fd 5 alpha 0\nfd 9 caller 0\n");
    assert_has(report, "env MINE=kept\n");
    assert_has(report, "blocked SIGUSR2\n");
    assert_lacks(report, "SIGUSR1");
    free(report);
}

Test(place, spawnp_searches_the_callers_path)
{
    cph_attachments_t *list = placing_list();
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL, path[4200], *report;

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    /* A directory that is not there, then the helpers. */
    snprintf(path, sizeof path, "/nonexistent:%s", helper_path(""));
    setenv("PATH", path, 1);
    cr_assert_eq(spawn_placed("h_placed", list, NULL, &report), 0);
    assert_text(high_fds(report), "fd 3 alpha 0\n");
    free(report);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
    cph_attachments_destroy(list);
}

/* A spawn that fails: err, errno err, and nothing left behind. */
static void assert_spawn_fails(bool search, const char *file,
                               const cph_attachments_t *list, int err)
{
    char *argv[] = {"x", NULL};
    int fds = count_fds(), got;
    pid_t pid = -7;

    errno = 0;
    got = (search ? cph_spawnp : cph_spawn)(&pid, file, NULL, NULL, argv,
                                            environ, list);
    cr_assert_eq(got, err, "%s: %s, not %s", file, strerror(got),
                 strerror(err));
    cr_assert_eq(errno, err);
    cr_assert_eq(pid, -7);
    cr_assert_eq(count_fds(), fds, "fds leaked");
}

Test(place, a_program_that_cannot_run_fails_the_spawn)
{
    cph_attachments_t *list = placing_list();
    const char *text = scratch_path("text");
    int fd = open(text, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    cr_assert_geq(fd, 0);
    close(fd);
    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    assert_spawn_fails(false, "/nonexistent/program", list, ENOENT);
    assert_spawn_fails(true, "cph-no-such-program", list, ENOENT);
    assert_spawn_fails(false, text, list, EACCES);
    assert_spawn_fails(false, "/tmp", list, EACCES);
    /* Found along PATH, and not runnable: EACCES, as posix_spawnp says. */
    {
        char dir[256], *saved = strdup(getenv("PATH"));

        snprintf(dir, sizeof dir, "/nonexistent:%s", text);
        *strrchr(dir, '/') = '\0';
        setenv("PATH", dir, 1);
        assert_spawn_fails(true, strrchr(text, '/') + 1, list, EACCES);
        setenv("PATH", saved, 1);
        free(saved);
    }
    cr_assert_eq(cph_attachments_set_adapter(list, "/nonexistent/cph-place"),
                 0);
    assert_spawn_fails(false, helper_path("h_placed"), list, ENOENT);
    cph_attachments_destroy(list);
}

/* An exec that fails in the adapter: exit 126, as a shell's. */
Test(place, exec_failing_in_the_adapter_exits_126)
{
    cph_attachments_t *list = placing_list();
    const char *junk = scratch_path("junk");
    int fd = open(junk, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    char *argv[] = {"junk", NULL}, *line;
    posix_spawn_file_actions_t fa;
    int err_pipe[2];
    pid_t pid;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "\x01\x02junk", 6), 6);
    close(fd);
    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    /* Its line on stderr names the program (a failed placement would
     * name a key). */
    cr_assert_eq(pipe2(err_pipe, O_CLOEXEC), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2), 0);
    cr_assert_eq(cph_spawn(&pid, junk, &fa, NULL, argv, environ, list), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(err_pipe[1]);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    cr_assert_eq(wait_exit(pid), 126);
    line = read_all(err_pipe[0]);
    cr_assert_not_null(strstr(line, junk), "%s", line);
    cr_assert_not_null(strstr(line, strerror(ENOEXEC)), "%s", line);
    free(line);
    cph_attachments_destroy(list);
}

Test(place, refusals_leave_the_list_unchanged)
{
    cph_attachments_t *list = placing_list();
    struct spawn_opts o = {.var = "FD"};
    char *report;

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(NULL, "a", 3), EINVAL);
    cr_assert_eq(cph_attachments_place_fd(list, "b", 3), ENOENT);
    cr_assert_eq(cph_attachments_place_fd(list, "a b", 3), EINVAL);
    cr_assert_eq(cph_attachments_place_fd(list, "a", -1), EBADF);
    cr_assert_eq(cph_attachments_place_fd(list, "a", getdtablesize()),
                 EBADF);
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), EEXIST);
    cr_assert_eq(cph_attachments_place_env(list, "a", "1X"), EINVAL);
    cr_assert_eq(cph_attachments_place_env(list, "a", "A=B"), EINVAL);
    cr_assert_eq(cph_attachments_place_env(list, "a", ""), EINVAL);
    cr_assert_eq(cph_attachments_place_env(list, "a", NULL), EINVAL);
    cr_assert_eq(cph_attachments_place_env(list, "b", "FD"), ENOENT);
    cr_assert_eq(cph_attachments_place_env(list, "a", "FD"), 0);
    cr_assert_eq(cph_attachments_place_env(list, "a", "FD"), EEXIST);
    cr_assert_eq(cph_attachments_set_adapter(list, ""), EINVAL);
    cr_assert_eq(cph_attachments_set_adapter(list, NULL), EINVAL);
    cr_assert_eq(cph_attachments_set_adapter(NULL, "x"), EINVAL);
    /* What was refused left no trace: a at 3 and in FD, nothing else. */
    cr_assert_eq(spawn_placed(helper_path("h_placed"), list, &o, &report),
                 0);
    cr_assert_not_null(strstr(report, "fd 3 alpha 0\n"), "%s", report);
    cr_assert_not_null(strstr(report, "env FD="), "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

Test(place, refused_systemd_layouts_set_nothing)
{
    cph_attachments_t *list = placing_list();
    char name[300];

    list_add(list, "a", memfd_text("alpha"));
    list_add(list, "b", memfd_text("beta"));
    cr_assert_eq(cph_attachments_place_fd(list, "b", 0), 0);
    cr_assert_eq(cph_attachments_place_systemd(NULL, NULL, 0), EINVAL);
    cr_assert_eq(cph_attachments_place_systemd(list, NULL, 2), EINVAL);
    cr_assert_eq(cph_attachments_place_systemd(list, "a\nb", 0), EINVAL);
    memset(name, 'n', 256);
    name[256] = '\0';
    cr_assert_eq(cph_attachments_place_systemd(list, name, 0), EINVAL);
    /* Still no layout: a, placed nowhere, is refused at the spawn. */
    assert_spawn_fails(false, helper_path("h_placed"), list, EINVAL);
    name[255] = '\0';
    cr_assert_eq(cph_attachments_place_systemd(list, name, 0), 0);
    cph_attachments_destroy(list);
}

/* What a spawn with placements refuses: EINVAL, nothing left behind. */
Test(place, lists_the_adapter_cannot_serve_are_refused)
{
    cph_attachments_t *list = placing_list();
    const char *h = helper_path("h_placed");

    list_add(list, "a", memfd_text("alpha"));
    list_add(list, "b", memfd_text("beta"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    /* b placed nowhere */
    assert_spawn_fails(false, h, list, EINVAL);
    /* b among the systemd layout's numbers, where a is placed */
    cr_assert_eq(cph_attachments_place_systemd(list, NULL, 0), 0);
    assert_spawn_fails(false, h, list, EINVAL);
    cph_attachments_destroy(list);

    list = placing_list();
    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 0), 0);
    cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    assert_spawn_fails(false, h, list, EINVAL);
    cph_attachments_destroy(list);

    /* More names than the layout has fds; a variable the layout sets. */
    list = placing_list();
    list_add(list, "a", memfd_text("alpha"));
    list_add(list, "b", memfd_text("beta"));
    cr_assert_eq(cph_attachments_place_fd(list, "b", 0), 0);
    cr_assert_eq(cph_attachments_place_systemd(list, "one:two", 0), 0);
    assert_spawn_fails(false, h, list, EINVAL);
    cr_assert_eq(cph_attachments_place_systemd(list, "one", 0), 0);
    cr_assert_eq(cph_attachments_place_env(list, "b", "LISTEN_FDS"), 0);
    assert_spawn_fails(false, h, list, EINVAL);
    cph_attachments_destroy(list);
}

/* cph_spawnp with placements fails as posix_spawnp does with the same
 * PATH (glibc's rules: a name too long, a file in PATH, a loop that
 * stops the search). */
Test(place, spawnp_fails_as_posix_spawnp)
{
    cph_attachments_t *list = placing_list();
    const char *loop = scratch_path("loop");
    char *saved = strdup(getenv("PATH")), name[300], path[600];
    char *argv[] = {"x", NULL};
    struct {
        const char *path, *file;
    } cases[] = {
        {"/nonexistent", name},
        {"/etc/passwd", "true"},
        {path, "true"},
    };

    cr_assert_eq(symlink(loop, loop), 0);
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", loop);
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pid_t pid;
        int want;

        setenv("PATH", cases[i].path, 1);
        want = posix_spawnp(&pid, cases[i].file, NULL, NULL, argv, environ);
        cr_assert_neq(want, 0, "case %zu: posix_spawnp ran it", i);
        assert_spawn_fails(true, cases[i].file, list, want);
    }
    setenv("PATH", saved, 1);
    free(saved);
    cph_attachments_destroy(list);
}

/* A relative path is looked up where the child runs: after the caller's
 * file actions changed its directory. */
Test(place, relative_path_after_a_chdir_file_action)
{
    cph_attachments_t *list = placing_list();
    posix_spawn_file_actions_t fa;
    struct spawn_opts o = {.fa = &fa};
    char *report;

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_eq(cph_attachments_place_fd(list, "a", 3), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_addchdir_np(&fa, helper_path("")),
                 0);
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(spawn_placed("./h_placed", list, &o, &report), 0);
    assert_text(high_fds(report), "fd 3 alpha 0\n");
    free(report);
    posix_spawn_file_actions_destroy(&fa);
    cph_attachments_destroy(list);
}
