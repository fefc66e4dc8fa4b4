/* How handshakes end, what is released, and what cph leaves alone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

/* A list of n memfds, "fd0"... */
static cph_attachments_t *list_of(int n)
{
    cph_attachments_t *list = list_new();

    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "fd%d", i);
        list_add(list, key, memfd_text(key));
    }
    return list;
}

/* cph_spawn of path with argv and list; asserts the spawn worked. */
static pid_t spawn_path(const char *path, char *const argv[],
                        const cph_attachments_t *list)
{
    pid_t pid;
    int err = cph_spawn(&pid, path, NULL, NULL, argv, environ, list);

    cr_assert_eq(err, 0, "cph_spawn(%s): %s", path, strerror(err));
    return pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* Spawns n children of path with a list of 3 fds; each must end with
 * outcome, after which this process holds what it held before. */
static void assert_nothing_kept(const char *path, char *const argv[], int n,
                                int outcome)
{
    cph_attachments_t *list = list_of(3);
    char program[4096];
    int before;

    /* path may be helper_path()'s buffer, which start_server reuses. */
    snprintf(program, sizeof program, "%s", path);
    start_server();
    before = count_fds();
    for (int i = 0; i < n; i++) {
        pid_t pid = spawn_path(program, argv, list);
        int got = cph_checkin_wait(pid, LIVENESS_MS);

        cr_assert_eq(got, outcome, "child %d: %s", i, strerror(got));
        cr_assert_eq(wait_exit(pid), 0);
    }
    cr_assert_eq(count_fds(), before, "fds kept after %d outcomes", n);
    cph_attachments_destroy(list);
}

Test(lifecycle, true_never_checks_in_and_nothing_is_kept)
{
    char *argv[] = {"true", NULL};

    assert_nothing_kept("/bin/true", argv, 8, ENOTCONN);
}

Test(lifecycle, plain_child_never_checks_in_and_nothing_is_kept)
{
    char *argv[] = {"h_plain", "sleep", "/dev/null", "20", NULL};

    assert_nothing_kept(helper_path("h_plain"), argv, 8, ENOTCONN);
}

Test(lifecycle, checked_in_child_and_nothing_is_kept)
{
    char *argv[] = {"h_report", "expect", "fd0", "fd0", NULL};

    assert_nothing_kept(helper_path("h_report"), argv, 8, 0);
}

/* Pid-bound: closing the pipe is giving up: the outcome comes at once,
 * while the child still runs. (Direct: the parent keeps a copy of the
 * child's end, so only the child's exit tells; see test_direct.c.) */
Test(lifecycle, closing_the_pipe_gives_up_before_exit)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_PID_BOUND);
    char out[256], *args[] = {"closepipe", out, "2000", NULL};
    char *report;
    int got;
    pid_t pid;

    list_add(list, "fd0", memfd_text("fd0"));
    snprintf(out, sizeof out, "%s", scratch_path("closepipe"));
    pid = spawn_helper("h_plain", args, list);
    got = cph_checkin_wait(pid, 1500);
    cr_assert_eq(got, ENOTCONN, "got %s", strerror(got));
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0, "the child had exited");
    report = slurp(out);
    unlink(out);
    cr_assert_not_null(report);
    cr_assert_str_eq(report, "closing 1\n", "the child had no pipe to close");
    free(report);
    kill(pid, SIGKILL);
    wait_exit(pid);
    cph_attachments_destroy(list);
}

Test(lifecycle, no_handshake_variable_in_main)
{
    cph_attachments_t *list = list_of(1);
    char *args[] = {"show", NULL};
    char *report = report_of("h_report", args, list);

    cr_assert_not_null(strstr(report, "status 0\nenv unset\n"), "%s", report);
    cr_assert_not_null(strstr(report, " marked 0\n"), "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* The grandchild gets the child's environ: ours (the mark proves it),
 * without CPH_HANDSHAKE. */
Test(lifecycle, no_handshake_variable_in_grandchild)
{
    cph_attachments_t *list = list_of(1);
    char *args[] = {"grandchild", NULL}, *report;

    cr_assert_eq(setenv("CPH_TEST_MARK", "present", 1), 0);
    report = report_of("h_report", args, list);
    cr_assert_not_null(strstr(report, "CPH_TEST_MARK=present\n"), "%s",
                       report);
    cr_assert_null(strstr(report, "CPH_HANDSHAKE"), "%s", report);
    cr_assert_not_null(strstr(report, "grandchild 0\n"), "%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* After the check-in the child holds what it took and nothing of cph's:
 * no pipe, no socket. */
Test(lifecycle, child_keeps_no_handshake_fds)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"fds", NULL}, *report;

    cloexec_all();
    report = report_of("h_report", args, list);
    cr_assert_str_eq(report, "", "fds the child did not take:\n%s", report);
    free(report);
    cph_attachments_destroy(list);
}

/* Reads the inodes a helper wrote, one per line, into set[n...]; returns
 * the new n. Asserts nothing (it runs off the main thread). */
static size_t read_inodes(const char *path, unsigned long *set, size_t n,
                          size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[4096], *line, *save = NULL;
    ssize_t len = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

    if (fd >= 0)
        close(fd);
    unlink(path);
    buf[len > 0 ? len : 0] = '\0';
    for (line = strtok_r(buf, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save))
        set[n++] = strtoul(line, NULL, 10);
    return n;
}

#define ROUNDS 200
#define PLAIN_MAX (ROUNDS * 16)

struct plain_spawner {
    atomic_bool stop;
    unsigned long inodes[PLAIN_MAX];
    size_t count, rounds;
    int failed;
};

/* Thread B: plain posix_spawn (no file actions) of a child that reports
 * every pipe it inherited, until thread A is done. */
static void *spawn_plainly(void *arg)
{
    struct plain_spawner *b = arg;

    while (!atomic_load(&b->stop)) {
        char out[256], *argv[] = {"h_plain", "pipes", out, NULL};
        int status;
        pid_t pid;

        snprintf(out, sizeof out, "%s", scratch_path("pipes"));
        if (posix_spawn(&pid, helper_path("h_plain"), NULL, NULL, argv,
                        environ) != 0 ||
            waitpid(pid, &status, 0) != pid) {
            b->failed++;
            break;
        }
        b->count = read_inodes(out, b->inodes, b->count, PLAIN_MAX);
        b->rounds++;
    }
    return NULL;
}

Test(lifecycle, pipe_never_reaches_a_concurrent_plain_spawn)
{
    static struct plain_spawner b;
    cph_attachments_t *list = list_of(1);
    unsigned long cph_inodes[ROUNDS];
    size_t cph_count = 0;
    pthread_t other;

    cloexec_all();
    scratch_path("start"); /* makes the directory before the threads race */
    cr_assert_eq(pthread_create(&other, NULL, spawn_plainly, &b), 0);
    for (int i = 0; i < ROUNDS; i++) {
        char out[256], *args[] = {"pipeino", out, NULL};

        snprintf(out, sizeof out, "%s", scratch_path("pipeino"));
        wait_exit(spawn_helper("h_plain", args, list));
        cph_count = read_inodes(out, cph_inodes, cph_count, ROUNDS);
    }
    atomic_store(&b.stop, true);
    pthread_join(other, NULL);
    cr_assert_eq(b.failed, 0, "a plain spawn failed");
    cr_assert_gt(b.rounds, 0);
    cr_assert_eq(cph_count, ROUNDS, "every cph child found its pipe");
    for (size_t i = 0; i < b.count; i++)
        for (size_t j = 0; j < cph_count; j++)
            cr_assert_neq(b.inodes[i], cph_inodes[j],
                          "a plain child inherited cph's pipe (round %zu)", j);
    cph_attachments_destroy(list);
}

/* In the forked process: cph holds nothing (not even for a child in
 * flight at the fork), and works again. Exit status 0, or which failed. */
static int forked_use(const cph_attachments_t *list, int fds_before_cph)
{
    int fds = count_fds();

    if (fds != fds_before_cph)
        return 2;
    if (spawn_expecting_shared(list) || spawn_expecting_shared(list))
        return 3;
    return 0;
}

Test(lifecycle, forked_process_can_use_cph_again)
{
    cph_attachments_t *list = shared_list();
    char *args[] = {"sleep", "/dev/null", "1000", NULL};
    int before = count_fds(), status;
    const char *failed = spawn_expecting_shared(list);
    pid_t pending, pid;

    cr_assert_null(failed, "before the fork: %s", failed);
    pending = spawn_helper("h_plain", args, list);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(forked_use(list, before));
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "status %#x", status);
    cr_assert_neq(WEXITSTATUS(status), 2, "the forked process kept fds");
    cr_assert_eq(WEXITSTATUS(status), 0, "cph failed in the forked process");
    failed = spawn_expecting_shared(list);
    cr_assert_null(failed, "the parent after the fork: %s", failed);
    cr_assert_eq(cph_checkin_wait(pending, LIVENESS_MS), ENOTCONN);
    cr_assert_eq(wait_exit(pending), 0);
    cph_attachments_destroy(list);
}

#define OUTCOMES_KEPT 1024
#define SPAWNS 1100

static bool pid_reused(const pid_t *pids, int i)
{
    for (int j = i + 1; j < SPAWNS; j++)
        if (pids[j] == pids[i])
            return true;
    return false;
}

/* The last 1024 outcomes are kept, older ones are forgotten. */
Test(lifecycle, outcomes_stay_bounded)
{
    cph_attachments_t *list = list_of(1);
    char *argv[] = {"true", NULL};
    static pid_t pids[SPAWNS];
    int checked = 0;

    for (int i = 0; i < SPAWNS; i++) {
        int got;

        pids[i] = spawn_path("/bin/true", argv, list);
        got = cph_checkin_wait(pids[i], LIVENESS_MS);
        cr_assert_eq(got, ENOTCONN, "child %d: %s", i, strerror(got));
        cr_assert_eq(wait_exit(pids[i]), 0);
    }
    cr_assert_eq(cph_checkin_wait(pids[SPAWNS - 1], 0), ENOTCONN);
    cr_assert_eq(cph_checkin_wait(pids[SPAWNS - OUTCOMES_KEPT], 0),
                 ENOTCONN, "the oldest of the last 1024 is kept");
    for (int i = 0; i < SPAWNS - OUTCOMES_KEPT; i++) {
        if (pid_reused(pids, i))
            continue;
        cr_assert_eq(cph_checkin_wait(pids[i], 0), ESRCH, "child %d", i);
        checked++;
    }
    cr_assert_gt(checked, 0, "every old pid was reused");
    cph_attachments_destroy(list);
}

static volatile sig_atomic_t sigchld_count;

static void count_sigchld(int sig)
{
    (void)sig;
    sigchld_count++;
}

#define SIGNALS 65

static void get_dispositions(struct sigaction *sa)
{
    for (int sig = 1; sig < SIGNALS; sig++)
        sigaction(sig, NULL, &sa[sig]);
}

static void assert_same_dispositions(const struct sigaction *a,
                                     const struct sigaction *b)
{
    for (int sig = 1; sig < SIGNALS; sig++) {
        cr_assert_eq(a[sig].sa_handler, b[sig].sa_handler, "signal %d", sig);
        cr_assert_eq(a[sig].sa_flags, b[sig].sa_flags, "signal %d", sig);
        for (int m = 1; m < SIGNALS; m++)
            cr_assert_eq(sigismember(&a[sig].sa_mask, m),
                         sigismember(&b[sig].sa_mask, m),
                         "signal %d's mask, signal %d", sig, m);
    }
}

/* cph reaps none of our children, whether they checked in or not, and
 * leaves every signal disposition (and this thread's mask) as it was. */
Test(lifecycle, no_reaping_and_signals_untouched)
{
    struct sigaction sa = {.sa_handler = count_sigchld,
                           .sa_flags = SA_RESTART};
    static struct sigaction before[SIGNALS], after[SIGNALS];
    cph_attachments_t *list = list_of(1);
    char *in[] = {"h_report", "expect", "fd0", "fd0", NULL};
    char *out[] = {"true", NULL};
    sigset_t mask_before, mask_after;
    pid_t pids[2];
    int status;

    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
    get_dispositions(before);
    pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
    pids[0] = spawn_path(helper_path("h_report"), in, list);
    pids[1] = spawn_path("/bin/true", out, list);
    cr_assert_eq(cph_checkin_wait(pids[0], LIVENESS_MS), 0);
    cr_assert_eq(cph_checkin_wait(pids[1], LIVENESS_MS), ENOTCONN);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i],
                     "child %d was reaped by someone else", i);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int ms = 0; sigchld_count == 0 && ms < LIVENESS_MS; ms += 10)
        sleep_ms(10);
    cr_assert_gt(sigchld_count, 0, "SIGCHLD never reached our handler");
    get_dispositions(after);
    pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
    assert_same_dispositions(before, after);
    for (int sig = 1; sig < SIGNALS; sig++)
        cr_assert_eq(sigismember(&mask_before, sig),
                     sigismember(&mask_after, sig),
                     "this thread's mask changed for signal %d", sig);
    cph_attachments_destroy(list);
}

/* Children that took their handles cost a parent that never asks for
 * their outcomes at most 64 fds: the next spawn collects them
 * (lib/linux/handed.c); asking collects them all. */
Test(lifecycle, taken_handles_free_the_parent_unasked, .timeout = 120)
{
    cph_attachments_t *list = list_for(suite_delivery());
    char *args[] = {"show", "/dev/null", NULL};
    pid_t pids[100];
    int before, most = 0;

    list_add(list, "fd0", memfd_text("fd0"));
    start_server();
    before = count_fds();
    for (int i = 0; i < 100; i++) {
        pids[i] = spawn_helper("h_child", args, list);
        cr_assert_eq(wait_exit(pids[i]), 0);
        if (count_fds() - before > most)
            most = count_fds() - before;
    }
    /* 64 channels, and what a pid-bound record the server thread is still
     * serving holds (its pipe, pidfd, copy of fd0 and connection). */
    cr_assert_leq(most, 64 + 5, "the parent held %d fds", most);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(cph_checkin_wait(pids[i], 0), 0, "child %d", i);
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

/* The highest fd open in this process. */
static int highest_fd(void)
{
    int high = -1;

    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            high = fd;
    return high;
}

/* Spawning faster than the thread collects, with few fds to spare: a
 * spawn that runs out collects the channels of the children that took
 * their handles, and succeeds. */
Test(lifecycle, spawn_out_of_fds_collects, .timeout = 60)
{
    cph_attachments_t *list = list_for(suite_delivery());
    struct rlimit old, low;
    pid_t pids[40];
    int err = 0, spawned = 0;
    char *argv[] = {"h_child", "show", "/dev/null", NULL};

    list_add(list, "fd0", memfd_text("fd0"));
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)highest_fd() + 10;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (; spawned < 40 && !err; spawned++) {
        err = cph_spawn(&pids[spawned], helper_path("h_child"), NULL, NULL,
                        argv, environ, list);
        if (!err)
            wait_exit(pids[spawned]);
    }
    setrlimit(RLIMIT_NOFILE, &old);
    cr_assert_eq(err, 0, "spawn %d failed: %s", spawned, strerror(err));
    for (int i = 0; i < spawned; i++)
        cr_assert_eq(cph_checkin_wait(pids[i], LIVENESS_MS), 0);
    cph_attachments_destroy(list);
}
