/*
 * cph_spawn as posix_spawn's exact twin, under the suite's delivery:
 * what a caller would notice if cph were not there (fds the caller
 * closed or took, cancellation, errno), wrappers between the spawn and
 * the program, and resources at their limits on either side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

static bool pid_bound(void)
{
    return suite_delivery() == CPH_DELIVERY_PID_BOUND;
}

/* Whether text holds line as a whole line. */
static bool has(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *at = text; at; at = strchr(at, '\n')) {
        at += *at == '\n';
        if (strncmp(at, line, len) == 0 && (at[len] == '\n' || !at[len]))
            return true;
    }
    return false;
}

/* The number after "name " in text, or -1. */
static long number_after(const char *text, const char *name)
{
    char prefix[80];
    const char *at;

    snprintf(prefix, sizeof prefix, "\n%s ", name);
    at = strstr(text, prefix);
    return at ? atol(at + strlen(prefix)) : -1;
}

static void set_nofile(rlim_t soft)
{
    struct rlimit rl;

    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = soft;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s",
                 strerror(errno));
}

/* cph_spawn of path with argv (NULL-terminated) and this environment. */
static pid_t spawn_argv(const char *path, char *const argv[],
                        const posix_spawn_file_actions_t *fa,
                        const cph_attachments_t *list)
{
    pid_t pid = -1;
    int err = cph_spawn(&pid, path, fa, NULL, argv, environ, list);

    cr_assert_eq(err, 0, "cph_spawn(%s): %s", path, strerror(err));
    return pid;
}

/* h_twin MODE OUT [arg] spawned with fa and list; waits for its exit (0)
 * and returns its report; *outcome gets cph_checkin_wait's answer. */
static char *twin(const char *mode, const char *arg,
                  const posix_spawn_file_actions_t *fa,
                  const cph_attachments_t *list, int *outcome)
{
    char out[256], *report;
    char *argv[] = {"h_twin", (char *)mode, out, (char *)arg, NULL};
    pid_t pid;
    int status;

    snprintf(out, sizeof out, "%s", scratch_path("twin"));
    pid = spawn_argv(helper_path("h_twin"), argv, fa, list);
    status = wait_exit(pid);
    report = slurp(out);
    cr_assert_eq(status, 0, "h_twin %s exited %d: %s", mode, status,
                 report ? report : "(no report)");
    cr_assert_not_null(report);
    unlink(out);
    *outcome = cph_checkin_wait(pid, LIVENESS_MS);
    return report;
}

/* A close-on-exec pipe holding text; its write end goes to *writer (or
 * is closed when writer is NULL). Returns the read end. */
static int pipe_with(const char *text, int *writer)
{
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
    if (writer)
        *writer = p[1];
    else
        close(p[1]);
    return p[0];
}

/*
 * The caller closed fds 0 and 1 in its file actions: the received fds
 * are installed at the lowest free numbers by the kernel, and must be
 * moved up, or the child's stdout would be an attached file.
 */
Test(twin, std_fds_closed_by_the_caller)
{
    cph_attachments_t *list = list_new();
    posix_spawn_file_actions_t fa;
    char path[256], *report, *text;
    int outcome;

    snprintf(path, sizeof path, "%s", scratch_path("attached"));

    list_add(list, "file",
             open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    list_add(list, "mem", memfd_text("mem"));
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_addclose(&fa, 0), 0);
    cr_assert_eq(posix_spawn_file_actions_addclose(&fa, 1), 0);
    report = twin("std", NULL, &fa, list, &outcome);
    cr_assert_eq(outcome, 0, "%s", strerror(outcome));
    cr_assert(has(report, "status 0") && has(report, "count 2"), "%s",
              report);
    cr_assert(has(report, "fd0 closed") && has(report, "fd1 closed"), "%s",
              report);
    cr_assert_geq(number_after(report, "file"), 3, "%s", report);
    cr_assert_geq(number_after(report, "mem"), 3, "%s", report);
    cr_assert(has(report, "stdout-errno 9"), "stdout was open:\n%s", report);
    text = slurp(path);
    cr_assert_str_empty(text, "the child's stdout went into the attached "
                              "file: %s", text);
    free(text);
    free(report);
    unlink(path);
    posix_spawn_file_actions_destroy(&fa);
    cph_attachments_destroy(list);
}

#define MINE "the caller's own fd 64"

/* The caller's own fd, of the very kind cph's channel is (a pipe, or a
 * SOCK_SEQPACKET socketpair made by this process), holding MINE: only
 * the inode tells it from the channel. */
static int callers_own(int *writer)
{
    int sv[2];

    if (pid_bound())
        return pipe_with(MINE, writer);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
                 0);
    cr_assert_eq(write(sv[1], MINE, strlen(MINE)), (ssize_t)strlen(MINE));
    *writer = sv[1];
    return sv[0];
}

/* The caller's fd 64 (cph's usual number) is inherited by the child:
 * cph's channel goes elsewhere, and fd 64 is neither read nor closed. */
Test(twin, fd_64_inherited_from_the_caller)
{
    cph_attachments_t *list = list_new();
    char *report;
    int writer, outcome, mine = callers_own(&writer);

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_lt(fcntl(64, F_GETFD), 0, "fd 64 is taken already");
    cr_assert_eq(dup2(mine, 64), 64); /* inheritable */
    report = twin("fd", "64", NULL, list, &outcome);
    cr_assert_eq(outcome, 0, "%s", strerror(outcome));
    cr_assert(has(report, "status 0"), "%s", report);
    cr_assert(has(report, "fd 64 " MINE), "%s", report);
    free(report);
    close(64);
    close(mine);
    close(writer);
    cph_attachments_destroy(list);
}

/* Where cph puts its channel with RLIMIT_NOFILE 1024 or more (spawn.h). */
#define CHANNEL_FD 768

/* The caller's own file actions put its fd at cph's number, over cph's
 * channel: the child cannot check in, and leaves the caller's fd alone
 * (what spawn.h says is left of the number's visibility). */
Test(twin, channel_number_from_the_callers_file_actions)
{
    cph_attachments_t *list = list_new();
    posix_spawn_file_actions_t fa;
    char *report, number[16];
    int writer, outcome, mine = callers_own(&writer);

    list_add(list, "a", memfd_text("alpha"));
    set_nofile(1024);
    snprintf(number, sizeof number, "%d", CHANNEL_FD);
    cr_assert_lt(fcntl(CHANNEL_FD, F_GETFD), 0, "taken already");
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, mine, CHANNEL_FD), 0);
    report = twin("fd", number, &fa, list, &outcome);
    cr_assert(has(report, "status 9"), "want EBADF:\n%s", report);
    cr_assert(strstr(report, " " MINE), "%s", report);
    cr_assert_eq(outcome, ENOTCONN, "%s", strerror(outcome));
    free(report);
    close(mine);
    close(writer);
    posix_spawn_file_actions_destroy(&fa);
    cph_attachments_destroy(list);
}

/* File actions naming fd 64, which the caller does not hold, as a
 * source: the spawn fails with EBADF, as posix_spawn's does (cph's
 * channel was once found there). */
Test(twin, file_actions_naming_an_fd_the_caller_lacks)
{
    cph_attachments_t *list = list_new();
    posix_spawn_file_actions_t fa;
    char *argv[] = {"h_twin", "std", "/dev/null", NULL};
    int plain, err;
    pid_t pid;

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_lt(fcntl(64, F_GETFD), 0, "fd 64 is taken already");
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, 64, 5), 0);
    plain = posix_spawn(&pid, helper_path("h_twin"), &fa, NULL, argv,
                        environ);
    cr_assert_eq(plain, EBADF, "posix_spawn: %s", strerror(plain));
    err = cph_spawn(&pid, helper_path("h_twin"), &fa, NULL, argv, environ,
                    list);
    cr_assert_eq(err, plain, "cph_spawn: %s", strerror(err));
    posix_spawn_file_actions_destroy(&fa);
    cph_attachments_destroy(list);
}

/* Every fd from 64 to the limit taken, 40 free below: cph finds room
 * there (spawn.h promises that a few free fds suffice). */
Test(twin, free_fds_only_below_64)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"h_report", "expect", "m", "shared", NULL};
    pid_t pid;
    int err;

    list_add(list, "m", memfd_text("shared"));
    start_server();
    cr_assert_lt(count_fds() + 40, 64);
    set_nofile(100);
    for (int fd = 64; fd < 100; fd++)
        cr_assert_eq(dup2(0, fd), fd);
    err = cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv, environ,
                    list);
    cr_assert_eq(err, 0, "%s", strerror(err));
    err = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(err, 0, "%s", strerror(err));
    cr_assert_eq(wait_exit(pid), 0);
    cph_attachments_destroy(list);
}

/* RLIMIT_NOFILE 3, stdio only: out of fds is EMFILE, as spawn.h says,
 * for adding an fd and for spawning. The limit is raised again before
 * the test ends (LeakSanitizer's check at exit needs fds). */
Test(twin, fd_limit_of_three)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"h_twin", "std", "/dev/null", NULL};
    pid_t pid;
    int add_err, spawn_err;

    list_add(list, "a", memfd_text("alpha"));
    set_nofile(3);
    add_err = cph_attachments_add_fd(list, "b", 0);
    spawn_err = cph_spawn(&pid, helper_path("h_twin"), NULL, NULL, argv,
                          environ, list);
    set_nofile(1024);
    cr_assert_eq(add_err, EMFILE, "add: %s", strerror(add_err));
    cr_assert_eq(spawn_err, EMFILE, "spawn: %s", strerror(spawn_err));
    cph_attachments_destroy(list);
}

/*
 * A CPH_HANDSHAKE left behind by a program that does not link
 * libcph_child reaches a grandchild whose stdin is at fd 0; even with
 * stdin's own inode and this process as the parent, fd 0 is never
 * cph's: not read, not closed, no wait (the pipe's writer stays open,
 * so a read would wait for the whole bound and fail otherwise).
 */
Test(twin, stale_handshake_naming_stdin)
{
    char out[256], entry[256], *report;
    char *argv[] = {"h_twin", "fd", out, "0", NULL};
    char *envp[] = {entry, NULL};
    posix_spawn_file_actions_t fa;
    struct stat st;
    int writer, in = pipe_with("stdin data", &writer);
    pid_t pid;

    cr_assert_eq(fstat(in, &st), 0);
    snprintf(entry, sizeof entry, "CPH_HANDSHAKE=%c:0:%llu:%d%s",
             pid_bound() ? 'p' : 'd', (unsigned long long)st.st_ino,
             (int)getpid(), pid_bound() ? ":cph.stale" : "");
    snprintf(out, sizeof out, "%s", scratch_path("stale"));
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, in, 0), 0);
    cr_assert_eq(posix_spawn(&pid, helper_path("h_twin"), &fa, NULL, argv,
                             envp), 0);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    cr_assert_not_null(report);
    cr_assert(has(report, "status 22"), "want EINVAL:\n%s", report);
    cr_assert(has(report, "fd 0 stdin data"), "%s", report);
    free(report);
    unlink(out);
    close(writer);
    close(in);
    posix_spawn_file_actions_destroy(&fa);
}

/* glibc's tst-exec5: a thread whose cancellation is pending spawns and
 * waits; neither is a cancellation point. */
struct cancelled {
    const cph_attachments_t *list;
    pid_t pid;
    int spawned, waited;
    bool survived;
};

/* The cancel unwinds this frame without returning through it: it holds
 * no array, which AddressSanitizer would leave poisoned on the thread's
 * stack for the thread's own exit to trip on. */
static void *spawn_with_cancel_pending(void *arg)
{
    static char *argv[] = {"h_report", "expect", "m", "shared", NULL};
    struct cancelled *c = arg;

    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
    pthread_cancel(pthread_self());
    c->spawned = cph_spawn(&c->pid, helper_path("h_report"), NULL, NULL,
                           argv, environ, c->list);
    c->waited = c->spawned ? -1 : cph_checkin_wait(c->pid, LIVENESS_MS);
    pthread_testcancel();
    c->survived = true;
    return NULL;
}

static void *spawn_shared(void *list)
{
    return (void *)spawn_expecting_shared(list);
}

Test(twin, pending_cancel_is_not_acted_on, .timeout = 60)
{
    cph_attachments_t *list = shared_list();
    struct cancelled c = {.list = list, .spawned = -1, .waited = -1};
    pthread_t t;
    void *ret;

    cr_assert_eq(pthread_create(&t, NULL, spawn_with_cancel_pending, &c), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_eq(ret, PTHREAD_CANCELED, "the cancel was lost");
    cr_assert(!c.survived);
    cr_assert_eq(c.spawned, 0, "cph_spawn: %s", strerror(c.spawned));
    cr_assert_eq(c.waited, 0, "cph_checkin_wait: %s", strerror(c.waited));
    cr_assert_eq(wait_exit(c.pid), 0);
    /* No lock left held: this thread and another one still spawn. */
    cr_assert_null(spawn_expecting_shared(list));
    cr_assert_eq(pthread_create(&t, NULL, spawn_shared, list), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_null(ret, "%s", (const char *)ret);
    cph_attachments_destroy(list);
}

#define SENTINEL 4242

/* cph_spawn and cph_checkin_wait leave errno as it was, also when a
 * call inside fails and is recovered from (RLIMIT_NOFILE under 64 makes
 * the channel's first dup fail with EINVAL). */
Test(twin, errno_untouched_by_a_successful_spawn)
{
    cph_attachments_t *list = shared_list();
    char *argv[] = {"h_report", "expect", "m", "shared", NULL};
    rlim_t limits[] = {1024, 48};

    for (size_t i = 0; i < 2; i++) {
        pid_t pid;
        int err, outcome;

        cr_assert_lt(count_fds() + 8, (int)limits[i]);
        set_nofile(limits[i]);
        errno = SENTINEL;
        err = cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv,
                        environ, list);
        cr_assert_eq(errno, SENTINEL, "cph_spawn set errno to %d (%s)",
                     errno, strerror(errno));
        cr_assert_eq(err, 0, "%s", strerror(err));
        outcome = cph_checkin_wait(pid, LIVENESS_MS);
        cr_assert_eq(errno, SENTINEL, "cph_checkin_wait set errno to %d",
                     errno);
        cr_assert_eq(outcome, 0, "%s", strerror(outcome));
        cr_assert_eq(wait_exit(pid), 0);
    }
    cph_attachments_destroy(list);
}

/* errno after posix_spawn and after cph_spawn in the same situation, each
 * from SENTINEL: a spawn that fails, a spawnp whose PATH search tries a
 * missing directory first, and SETSIGDEF of every signal (glibc's child
 * writes the parent's errno when a call of its own fails). */
static void errno_as_posix_spawn(bool search, const char *path,
                                 const posix_spawnattr_t *attr)
{
    cph_attachments_t *list = shared_list();
    char *argv[] = {"h_report", "expect", "m", "shared", NULL};
    int plain, plain_errno, err, cph_errno;
    pid_t pid = -1;

    errno = SENTINEL;
    plain = (search ? posix_spawnp : posix_spawn)(&pid, path, NULL, attr,
                                                  argv, environ);
    plain_errno = errno;
    if (!plain)
        wait_exit(pid);
    errno = SENTINEL;
    err = (search ? cph_spawnp : cph_spawn)(&pid, path, NULL, attr, argv,
                                            environ, list);
    cph_errno = errno;
    cr_assert_eq(err, plain, "%s: %s", path, strerror(err));
    cr_assert_eq(cph_errno, plain_errno, "%s: errno %d (%s), posix_spawn's "
                 "%d (%s)", path, cph_errno, strerror(cph_errno),
                 plain_errno, strerror(plain_errno));
    if (!err)
        wait_exit(pid);
    cph_attachments_destroy(list);
}

Test(twin, errno_as_posix_spawn_leaves_it)
{
    posix_spawnattr_t attr;
    sigset_t all;
    char dirs[4200];

    errno_as_posix_spawn(false, "/nonexistent/h_report", NULL);
    snprintf(dirs, sizeof dirs, "/nonexistent:%s", CPH_HELPERS);
    cr_assert_eq(setenv("PATH", dirs, 1), 0);
    errno_as_posix_spawn(true, "h_report", NULL);
    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    sigfillset(&all);
    cr_assert_eq(posix_spawnattr_setsigdefault(&attr, &all), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF), 0);
    errno_as_posix_spawn(false, helper_path("h_report"), &attr);
    posix_spawnattr_destroy(&attr);
}

/* h_twin errno run by plain posix_spawn with this environment and entry
 * (if not NULL): the errno main saw. The environment is the same as
 * cph_spawn's, since a sanitizer's runtime reads it before main (making
 * its log_path directory leaves errno EEXIST). */
static long plain_errno(char *entry)
{
    char out[256], *argv[] = {"h_twin", "errno", out, NULL}, *report;
    size_t n = 0;
    char **envp;
    pid_t pid;
    long got;

    while (environ[n])
        n++;
    envp = calloc(n + 2, sizeof *envp);
    cr_assert_not_null(envp);
    memcpy(envp, environ, n * sizeof *envp);
    envp[n] = entry;
    snprintf(out, sizeof out, "%s", scratch_path("errno"));
    cr_assert_eq(posix_spawn(&pid, helper_path("h_twin"), NULL, NULL, argv,
                             envp), 0);
    free(envp);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    cr_assert_not_null(report);
    got = number_after(report, "errno");
    free(report);
    unlink(out);
    return got;
}

/* main() finds errno as the loader left it: the same as without cph,
 * after a check-in and after one that failed inside (fstat of a closed
 * fd sets errno to EBADF). */
Test(twin, errno_at_main_as_the_loader_left_it)
{
    cph_attachments_t *list = list_new();
    char entry[128], *report;
    long plain = plain_errno(NULL);
    int outcome;

    list_add(list, "a", memfd_text("alpha"));
    report = twin("errno", NULL, NULL, list, &outcome);
    cr_assert_eq(outcome, 0, "%s", strerror(outcome));
    cr_assert(has(report, "status 0"), "%s", report);
    cr_assert_eq(number_after(report, "errno"), plain, "plain %ld:\n%s",
                 plain, report);
    free(report);
    snprintf(entry, sizeof entry, "CPH_HANDSHAKE=%s:200:1:%d%s",
             pid_bound() ? "p" : "d", (int)getpid(),
             pid_bound() ? ":cph.stale" : "");
    cr_assert_eq(plain_errno(entry), plain);
    cph_attachments_destroy(list);
}

/* A shell script that runs path without exec, then exits. */
static const char *script_running(const char *path, const char *out)
{
    const char *script = scratch_path("script");
    FILE *f = fopen(script, "w");

    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\n'%s' read '%s'\nexit $?\n", path, out);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(script, 0700), 0);
    return script;
}

/*
 * Wrappers that fork and wait. Direct: the first process that runs
 * libcph_child's constructor gets the handles. Pid-bound: the handles
 * are bound to the spawned pid, so the real program is refused
 * (ECONNREFUSED: its parent is the wrapper) and the parent learns
 * ENOTCONN (the spawned process never checked in) once the wrapper
 * exits.
 */
static void through(char *const argv[], const char *out)
{
    cph_attachments_t *list = list_new();
    char *report;
    int status, outcome;
    pid_t pid;

    list_add(list, "a", memfd_text("alpha"));
    pid = spawn_argv(argv[0], argv, NULL, list);
    status = wait_exit(pid);
    outcome = cph_checkin_wait(pid, LIVENESS_MS);
    report = slurp(out);
    cr_assert_eq(status, 0, "%s exited %d", argv[0], status);
    cr_assert_not_null(report, "%s: no report", argv[0]);
    if (pid_bound()) {
        cr_assert(has(report, "status 111") && has(report, "count 0"),
                  "%s:\n%s", argv[0], report);
        cr_assert_eq(outcome, ENOTCONN, "%s: %s", argv[0],
                     strerror(outcome));
    } else {
        cr_assert(has(report, "status 0") && has(report, "a=alpha"),
                  "%s:\n%s", argv[0], report);
        cr_assert_eq(outcome, 0, "%s: %s", argv[0], strerror(outcome));
    }
    free(report);
    unlink(out);
    cph_attachments_destroy(list);
}

/* entry (4096 bytes) gets name=its value with detect_leaks=0 added:
 * LeakSanitizer cannot run in a traced process, and both sanitizers'
 * options set it. */
static void no_leak_check(char entry[4096], const char *name)
{
    const char *value = getenv(name);

    snprintf(entry, 4096, "%s=%s%sdetect_leaks=0", name, value ? value : "",
             value ? ":" : "");
}

Test(twin, wrappers_that_fork)
{
    char out[256], cmd[8192], h[4096];

    snprintf(h, sizeof h, "%s", helper_path("h_twin"));
    snprintf(out, sizeof out, "%s", scratch_path("wrapped"));
    {
        char *argv[] = {"/usr/bin/timeout", "5", h, "read", out, NULL};
        through(argv, out);
    }
    {
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        snprintf(cmd, sizeof cmd, "'%s' read '%s'; true", h, out);
        through(argv, out);
    }
    {
        char *argv[] = {(char *)script_running(h, out), NULL};
        through(argv, out);
        unlink(argv[0]);
    }
    if (access("/usr/bin/strace", X_OK) == 0) {
        char asan[4096], ubsan[4096];
        char *argv[] = {"/usr/bin/strace", "-f", "-o", "/dev/null", "-E",
                        asan, "-E", ubsan, h, "read", out, NULL};
        no_leak_check(asan, "ASAN_OPTIONS");
        no_leak_check(ubsan, "UBSAN_OPTIONS");
        through(argv, out);
    } else {
        cr_log_warn("no /usr/bin/strace: the strace wrapper is not tested");
    }
}

/* The key h_twin long expects for handle i. */
static void long_key(char key[65], int i)
{
    snprintf(key, 65, "key.%060d", i);
}

/* A memfd holding the decimal i, named for x_child's "sent" count. */
static int numbered_memfd(int i)
{
    char text[16];
    int fd = memfd_create("cph-x-sent", MFD_CLOEXEC);

    cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
    snprintf(text, sizeof text, "%d", i);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

Test(twin, thousand_fds_with_64_byte_keys, .timeout = 120)
{
    cph_attachments_t *list = list_new();
    char key[65], n[8], *report;
    int outcome;

    set_nofile(4096);
    for (int i = 0; i < 1000; i++) {
        long_key(key, i);
        list_add(list, key, numbered_memfd(i));
    }
    snprintf(n, sizeof n, "%d", 1000);
    report = twin("long", n, NULL, list, &outcome);
    cr_assert_eq(outcome, 0, "%s", strerror(outcome));
    cr_assert(has(report, "status 0") && has(report, "count 1000") &&
                  has(report, "bad 0"),
              "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* Close-on-exec fds opened until the table is full; returns how many
 * (their numbers in fds, ascending). */
static int fill_fds(int *fds, int max)
{
    int n = 0, fd;

    while (n < max && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fds[n++] = fd;
    cr_assert(n < max && errno == EMFILE, "open: %s", strerror(errno));
    return n;
}

/*
 * The parent is left with exactly one free fd once cph_spawn has
 * returned (a gate holds the child back until then): the check-in still
 * succeeds.
 */
Test(twin, one_free_fd_in_the_parent, .timeout = 60)
{
    cph_attachments_t *list = list_new();
    char gate[256], out[256], h_twin[4096], *report;
    char *argv[] = {"h_exec", "-g", gate, h_twin, "read", out, NULL};
    int fds[512], n, err, outcome, fd;
    pid_t pid = -1;

    snprintf(gate, sizeof gate, "%s", scratch_path("gate"));
    snprintf(out, sizeof out, "%s", scratch_path("free"));
    snprintf(h_twin, sizeof h_twin, "%s", helper_path("h_twin"));
    start_server();
    list_add(list, "a", memfd_text("alpha"));
    set_nofile(256);
    n = fill_fds(fds, 512);
    do {
        cr_assert_gt(n, 0, "cph_spawn failed with every fd free");
        close(fds[--n]);
        err = cph_spawn(&pid, helper_path("h_exec"), NULL, NULL, argv,
                        environ, list);
        cr_assert(err == 0 || (err == EMFILE && pid == -1), "%s",
                  strerror(err));
    } while (err);
    n += fill_fds(fds + n, 512 - n);
    close(fds[--n]);
    fd = open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    outcome = cph_checkin_wait(pid, LIVENESS_MS);
    while (n > 0)
        close(fds[--n]);
    cr_assert_eq(outcome, 0, "with one free fd: %s", strerror(outcome));
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    cr_assert(report && has(report, "a=alpha"), "%s", report);
    free(report);
    unlink(out);
    unlink(gate);
    cph_attachments_destroy(list);
}

/* 200 threads in cph_checkin_wait at once, each for its own child; the
 * children are held at a gate until every thread has started, then half
 * check in and half exit without. A sanitizer slows each check-in 5-20
 * times, past the bound a child waits for its server (child.h): 40
 * there. */
#ifdef CPH_SANITIZED
#define WAITERS 40
#else
#define WAITERS 200
#endif

struct waiter {
    pthread_t thread;
    pid_t pid;
    int outcome;
};

static void *wait_for_child(void *arg)
{
    struct waiter *w = arg;

    /* Without a bound: a waiter never woken hangs the test. */
    w->outcome = cph_checkin_wait(w->pid, -1);
    return NULL;
}

Test(twin, many_waiters_each_get_their_own_outcome, .timeout = 120)
{
    static struct waiter w[WAITERS];
    cph_attachments_t *list = shared_list();
    char gate[256], report_child[4096], plain_child[4096];
    char *checks_in[] = {"h_exec", "-g", gate, report_child, "expect", "m",
                         "shared", NULL};
    char *never[] = {"h_exec", "-g", gate, plain_child, "sleep",
                     "/dev/null", "0", NULL};
    pthread_attr_t attr;
    int fd;

    snprintf(gate, sizeof gate, "%s", scratch_path("gate"));
    set_nofile(4096);
    snprintf(report_child, sizeof report_child, "%s",
             helper_path("h_report"));
    snprintf(plain_child, sizeof plain_child, "%s", helper_path("h_plain"));
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
    for (int i = 0; i < WAITERS; i++) {
        w[i].pid = spawn_argv(helper_path("h_exec"), i % 2 ? never : checks_in,
                              NULL, list);
        cr_assert_eq(pthread_create(&w[i].thread, &attr, wait_for_child,
                                    &w[i]), 0);
    }
    fd = open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    for (int i = 0; i < WAITERS; i++) {
        int want = i % 2 ? ENOTCONN : 0;

        cr_assert_eq(pthread_join(w[i].thread, NULL), 0);
        cr_assert_eq(wait_exit(w[i].pid), 0, "child %d", i);
        cr_assert_eq(w[i].outcome, want, "child %d: %s, want %s", i,
                     strerror(w[i].outcome), strerror(want));
    }
    unlink(gate);
    pthread_attr_destroy(&attr);
    cph_attachments_destroy(list);
}

/*
 * The child runs out of fds while receiving (RLIMIT_NOFILE lowered by a
 * wrapper that execs it, which keeps the channel): EMFILE, nothing kept,
 * and the parent learns the handles did not arrive.
 */
Test(twin, child_out_of_fds, .timeout = 60)
{
    cph_attachments_t *list = list_new();
    char out[256], x_child[4096], key[8], *report;
    char *argv[] = {"h_exec", "-n", "16", x_child, out, NULL};
    int outcome;
    pid_t pid;

    snprintf(x_child, sizeof x_child, "%s", helper_path("x_child"));
    snprintf(out, sizeof out, "%s", scratch_path("xchild"));
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof key, "s%02d", i);
        list_add(list, key, numbered_memfd(i));
    }
    pid = spawn_argv(helper_path("h_exec"), argv, NULL, list);
    cr_assert_eq(wait_exit(pid), 0);
    outcome = cph_checkin_wait(pid, LIVENESS_MS);
    report = slurp(out);
    cr_assert_not_null(report);
    cr_assert(has(report, "status 24"), "want EMFILE:\n%s", report);
    cr_assert(has(report, "count 0") && has(report, "sent 0"), "%s", report);
    cr_assert_eq(outcome, ECONNABORTED, "the parent says %s",
                 strerror(outcome));
    free(report);
    unlink(out);
    cph_attachments_destroy(list);
}
