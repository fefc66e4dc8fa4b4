/*
 * Outcomes that must come from the channel, under the suite's delivery:
 * a parent that reaps its children before cph looks, children whose
 * check-in fails late (allocation failures injected at each step, fd
 * limits), and a child whose parent died before it checked in. Whatever
 * happens, cph_checkin_wait says 0 exactly when the child's
 * cph_child_status() is 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
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

static bool pid_bound(void)
{
    return suite_delivery() == CPH_DELIVERY_PID_BOUND;
}

#ifndef CPH_SANITIZED
/* posix_spawn as cph calls it, which can wait until the child it made is
 * gone (SIGCHLD ignored reaps it): the child runs first and is reaped
 * before cph can look at its pid. A sanitizer runtime intercepts
 * posix_spawn itself, so these tests are left to the plain build. */
static bool reap_first;

int posix_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *attr, char *const argv[],
                char *const envp[])
{
    static int (*real)(pid_t *, const char *,
                       const posix_spawn_file_actions_t *,
                       const posix_spawnattr_t *, char *const[],
                       char *const[]);
    struct timespec ms1 = {0, 1000000};
    int err;

    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "posix_spawn");
    err = real(pid, path, fa, attr, argv, envp);
    for (int i = 0; !err && reap_first && i < LIVENESS_MS; i++) {
        if (kill(*pid, 0) < 0 && errno == ESRCH)
            break;
        nanosleep(&ms1, NULL);
    }
    return err;
}

/* h_late with args, through posix_spawn (and so the interposer above):
 * the caller's attributes, empty, keep cph's own spawner out, whose
 * pidfd comes with the child and cannot find it reaped. */
static pid_t spawn_late(char *const args[], const cph_attachments_t *list)
{
    char *argv[4] = {"h_late", args[0], args[1], NULL};
    posix_spawnattr_t attr;
    pid_t pid;
    int err;

    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    err = cph_spawn(&pid, helper_path("h_late"), NULL, &attr, argv, environ,
                    list);
    cr_assert_eq(err, 0, "cph_spawn: %s", strerror(err));
    posix_spawnattr_destroy(&attr);
    return pid;
}

/* Point 1: the child took its handles, exited and was reaped before cph
 * opened a pidfd: its outcome is still 0. Pid-bound, a child cannot
 * check in before its pid is published, so it is not waited for. */
Test(late, reaped_before_cph_looks)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"status", NULL};

    list_add(list, "a", memfd_text("alpha"));
    cr_assert_neq(signal(SIGCHLD, SIG_IGN), SIG_ERR);
    reap_first = !pid_bound();
    for (int i = 0; i < 5; i++) {
        pid_t pid = spawn_late(args, list);
        int outcome = cph_checkin_wait(pid, LIVENESS_MS);

        cr_assert_eq(outcome, 0, "spawn %d: %s", i, strerror(outcome));
    }
    reap_first = false;
    cph_attachments_destroy(list);
}

/* Point 1, giving back: what a reaped child gave is still taken. */
Test(late, reaped_child_gave)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"give", "back", NULL};

    cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    cr_assert_neq(signal(SIGCHLD, SIG_IGN), SIG_ERR);
    reap_first = !pid_bound();
    for (int i = 0; i < 5; i++) {
        pid_t pid = spawn_late(args, list);
        int fd = -1, err = cph_take_fd(pid, "back", LIVENESS_MS, &fd);

        cr_assert_eq(err, 0, "spawn %d: take: %s", i, strerror(err));
        close(fd);
        err = cph_checkin_wait(pid, LIVENESS_MS);
        cr_assert_eq(err, 0, "spawn %d: %s", i, strerror(err));
    }
    reap_first = false;
    cph_attachments_destroy(list);
}

/* h_late status, with x_failalloc preloaded failing allocation n; its
 * exit status (128 + a signal), and the outcome in *outcome. */
static int run_failing(const cph_attachments_t *list, long n, int *outcome)
{
    char preload[4200], fail[64], *argv[] = {"h_late", "status", NULL};
    char **env;
    size_t count = 0;
    pid_t pid;
    int err;

    while (environ[count])
        count++;
    env = calloc(count + 3, sizeof *env);
    cr_assert_not_null(env);
    memcpy(env, environ, count * sizeof *env);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s",
             helper_path("x_failalloc.so"));
    snprintf(fail, sizeof fail, "CPH_TEST_FAIL_ALLOC=%ld", n);
    env[count] = preload;
    env[count + 1] = fail;
    err = cph_spawn(&pid, helper_path("h_late"), NULL, NULL, argv, env, list);
    cr_assert_eq(err, 0, "cph_spawn: %s", strerror(err));
    free(env);
    *outcome = cph_checkin_wait(pid, LIVENESS_MS);
    return wait_exit(pid);
}

/* A list of handles fds, and key "back" expected if expect. */
static cph_attachments_t *late_list(size_t handles, bool expect)
{
    cph_attachments_t *list = list_new();
    char key[16];

    for (size_t i = 0; i < handles; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        list_add(list, key, memfd_text(key));
    }
    if (expect)
        cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    return list;
}

/* Points 7 and 9: allocation n fails, for each n that reaches the
 * check-in, with and without keys expected back. Without, the list is
 * past the 32 handles a child keeps without allocating. */
static void fail_each_allocation(bool expect)
{
    cph_attachments_t *list = late_list(expect ? 2 : 40, expect);
    int failed = 0, last_status = -1;

    for (long n = 1; n <= 40; n++) {
        int outcome, status = run_failing(list, n, &outcome);

        if (status >= 128)
            continue; /* the loader or libc itself gave up */
        cr_assert((status == 0) == (outcome == 0),
                  "allocation %ld failed: the child's status %d (%s), the "
                  "parent's outcome %d (%s)",
                  n, status, strerror(status), outcome, strerror(outcome));
        failed += status == ENOMEM;
        last_status = status;
    }
    cr_assert_gt(failed, 0, "no failure reached the check-in");
    cr_assert_eq(last_status, 0, "40 allocations are not enough");
    cph_attachments_destroy(list);
}

Test(late, allocation_failures, .timeout = 120)
{
    fail_each_allocation(false);
}

Test(late, allocation_failures_expecting_keys, .timeout = 120)
{
    fail_each_allocation(true);
}

/* A fork while another thread of the child takes a handle: the forked
 * process's take does not find the lock held for good. */
Test(late, fork_while_a_thread_takes, .timeout = 60)
{
    cph_attachments_t *list = late_list(1, false);
    char *report;

    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cr_assert_eq(run_helper("h_child", "forktake", NULL, list, &report), 0);
    assert_text(report, "stuck 0\n");
    cph_attachments_destroy(list);
}

/* A child that dlopens libcph_child and dlcloses it keeps its keys: the
 * small list's static storage is not unmapped (the library stays). */
Test(late, keys_outlive_a_dlclose)
{
    cph_attachments_t *list = late_list(1, false);
    char *argv[] = {"h_dlopen", CPH_TEST_CHILD_LIB, NULL};
    pid_t pid;
    int err;

    err = cph_spawn(&pid, helper_path("h_dlopen"), NULL, NULL, argv, environ,
                    list);
    cr_assert_eq(err, 0, "%s", strerror(err));
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    cr_assert_eq(wait_exit(pid), 0, "the key changed after dlclose");
    cph_attachments_destroy(list);
}

/* A direct child given a few handles, nothing to give back, allocates
 * nothing before main: whichever allocation fails, the check-in does not
 * (pid-bound's allocates its connection). */
Test(late, small_list_allocates_nothing, .timeout = 120)
{
    cph_attachments_t *list = late_list(2, false);

    cr_assert_eq(cph_attachments_set_delivery(list, CPH_DELIVERY_DIRECT), 0);
    for (long n = 1; n <= 20; n++) {
        int outcome, status = run_failing(list, n, &outcome);

        if (status >= 128)
            continue; /* the loader or libc itself gave up */
        cr_assert_eq(status, 0, "allocation %ld failed the check-in: %s", n,
                     strerror(status));
        cr_assert_eq(outcome, 0, "allocation %ld: outcome %s", n,
                     strerror(outcome));
    }
    cph_attachments_destroy(list);
}

/* This process's address space, in bytes. */
static rlim_t address_space(void)
{
    char *status = slurp("/proc/self/status"), *at;
    rlim_t kb;

    cr_assert_not_null(status);
    at = strstr(status, "VmSize:");
    cr_assert_not_null(at);
    kb = (rlim_t)atol(at + strlen("VmSize:"));
    free(status);
    return kb * 1024;
}

/* Leaves 4 MiB of address space: no room for a thread's stack. Returns
 * the limit to restore. */
static struct rlimit tight_address_space(void)
{
    struct rlimit old, tight;

    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    tight = old;
    tight.rlim_cur = address_space() + (4 << 20);
    cr_assert_eq(setrlimit(RLIMIT_AS, &tight), 0);
    return old;
}

/* Point 13: libcph's thread cannot start (RLIMIT_AS leaves no room for
 * its stack): a spawn that needs it (pid-bound, or keys expected back)
 * fails, with no child and no fd left behind; with room again the next
 * spawn works. A direct spawn without expected keys needs no thread
 * (point 8). Left out of sanitizer builds, whose shadow memory RLIMIT_AS
 * cannot bound. */
Test(late, thread_cannot_start)
{
    cph_attachments_t *list = shared_list();
    struct rlimit old;
    int before = count_fds(), err;
    pid_t pid = -1;
    const char *failed;

    if (!pid_bound()) {
        old = tight_address_space();
        failed = spawn_expecting_shared(list);
        cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
        cr_assert_null(failed, "no thread needed: %s", failed);
        cr_assert_eq(cph_attachments_expect(list, "back"), 0);
        before = count_fds();
    }
    old = tight_address_space();
    err = cph_spawn(&pid, helper_path("h_report"), NULL, NULL,
                    (char *[]){"h_report", "expect", "m", "shared", NULL},
                    environ, list);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert(err == EAGAIN || err == ENOMEM, "cph_spawn: %s",
              strerror(err));
    cr_assert_eq(pid, -1);
    cr_assert_eq(count_fds(), before);
    failed = spawn_expecting_shared(list);
    cr_assert_null(failed, "%s", failed);
    cph_attachments_destroy(list);
}
#endif

/* The threads of this process. */
static int threads(void)
{
    char *status = slurp("/proc/self/status"), *at;
    int n;

    cr_assert_not_null(status);
    at = strstr(status, "Threads:");
    cr_assert_not_null(at);
    n = atoi(at + strlen("Threads:"));
    free(status);
    return n;
}

/* Point 8: the direct delivery without keys expected back never makes
 * its caller multithreaded (unshare(CLONE_NEWUSER) and friends keep
 * working): outcomes are collected by whoever asks, a waiter polling
 * itself. */
Test(late, direct_needs_no_thread)
{
    cph_attachments_t *list = shared_list();
    int before = threads();

    if (pid_bound())
        return; /* its server is the thread */
    for (int i = 0; i < 3; i++) {
        const char *failed = spawn_expecting_shared(list);
        cr_assert_null(failed, "%s", failed);
    }
    cr_assert_eq(threads(), before);
    cph_attachments_destroy(list);
}

#ifdef CPH_SANITIZED
/* LeakSanitizer's check at exit spins for good when the fd limit leaves
 * its tracer none (StopTheWorld): the children of these cases run with
 * AddressSanitizer and without it. UBSAN_OPTIONS is read last, so both
 * say so. */
static void children_without_leak_check(void)
{
    const char *names[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};

    for (size_t i = 0; i < 2; i++) {
        const char *now = getenv(names[i]);
        char options[4096];

        snprintf(options, sizeof options, "%s:detect_leaks=0",
                 now ? now : "");
        setenv(names[i], options, 1);
    }
}
#else
static void children_without_leak_check(void)
{
}
#endif

/* Point 9: a child whose fd limit cuts its handles (h_exec sets it, then
 * execs h_late), at each limit around what it needs. */
static void limit_each_fd(bool expect)
{
    cph_attachments_t *list = list_new();
    char limit[16], *argv[] = {"h_exec", "-n", limit, NULL, "status", NULL};
    int failed = 0;

    children_without_leak_check();
    argv[3] = strdup(helper_path("h_late"));
    for (int i = 0; i < 8; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        list_add(list, key, memfd_text(key));
    }
    if (expect)
        cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    for (int n = 4; n <= 20; n++) {
        pid_t pid;
        int outcome, status;

        snprintf(limit, sizeof limit, "%d", n);
        pid = spawn_helper("h_exec", argv + 1, list);
        outcome = cph_checkin_wait(pid, LIVENESS_MS);
        status = wait_exit(pid);
        cr_assert((status == 0) == (outcome == 0),
                  "RLIMIT_NOFILE %d: the child's status %d (%s), the "
                  "parent's outcome %d (%s)",
                  n, status, strerror(status), outcome, strerror(outcome));
        cr_log_info("limit %d status %d outcome %d", n, status, outcome);
        failed += status == EMFILE;
    }
    cr_assert_gt(failed, 0);
    cph_attachments_destroy(list);
}

Test(late, fd_limits, .timeout = 120)
{
    limit_each_fd(false);
}

Test(late, fd_limits_expecting_keys, .timeout = 120)
{
    limit_each_fd(true);
}

/* Point 6: direct, keys expected back, and the parent dies before its
 * child checks in: the handles had all arrived, so the child keeps them
 * (status 0); only a give says EPIPE. A middle process spawns the child,
 * which waits for a gate, and dies. */
Test(late, parent_dead_before_the_ack)
{
    char gate[256], *text;
    int p[2];
    pid_t middle;

    if (pid_bound())
        return; /* refused there by design: the parent must be alive */
    snprintf(gate, sizeof gate, "%s", scratch_path("gate"));
    cr_assert_eq(pipe(p), 0);
    middle = fork();
    cr_assert_geq(middle, 0);
    if (middle == 0) {
        cph_attachments_t *list = list_new();
        char *argv[] = {"h_exec", "-g", gate, NULL, "report", NULL};
        pid_t child;

        argv[3] = strdup(helper_path("h_late"));
        close(p[0]);
        cph_attachments_add_fd(list, "report", p[1]);
        cph_attachments_expect(list, "back");
        _exit(cph_spawn(&child, helper_path("h_exec"), NULL, NULL, argv,
                        environ, list));
    }
    close(p[1]);
    cr_assert_eq(wait_exit(middle), 0);
    cr_assert_eq(close(creat(gate, 0600)), 0);
    text = read_all(p[0]);
    cr_assert_str_eq(text, "status 0\ntook 1\n");
    free(text);
}

/* The sockets this process holds, by fd number (below max). */
static void sockets(bool *held, int max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    memset(held, 0, (size_t)max * sizeof *held);
    if (!d)
        return;
    while ((e = readdir(d))) {
        char path[64], link[64];
        int fd = atoi(e->d_name);
        ssize_t n;

        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n = readlink(path, link, sizeof link - 1);
        if (n > 0 && fd < max && strncmp(link, "socket:", 7) == 0)
            held[fd] = true;
    }
    closedir(d);
}

static atomic_bool spawning;

static void *spawn_until_told(void *list)
{
    const char *failed = NULL;

    while (spawning && !failed)
        failed = spawn_expecting_shared(list);
    return (void *)failed;
}

/* Point 5: a process another thread forks while children check in keeps
 * none of cph's sockets (pid-bound: an accepted connection, once
 * accepted outside cph's lock). */
Test(late, forks_keep_no_connection, .timeout = 120)
{
    enum { MAX = 4096 };
    cph_attachments_t *list = shared_list();
    static bool before[MAX];
    pthread_t thread;
    void *failed;
    int kept = 0;

    start_server();
    sockets(before, MAX);
    spawning = true;
    cr_assert_eq(pthread_create(&thread, NULL, spawn_until_told, list), 0);
    for (int i = 0; i < 1000; i++) {
        pid_t pid = fork();

        cr_assert_geq(pid, 0);
        if (pid == 0) {
            static bool after[MAX];
            sockets(after, MAX);
            for (int fd = 0; fd < MAX; fd++)
                if (after[fd] && !before[fd])
                    _exit(1);
            _exit(0);
        }
        kept += wait_exit(pid) != 0;
    }
    spawning = false;
    cr_assert_eq(pthread_join(thread, &failed), 0);
    cr_assert_null(failed, "%s", (char *)failed);
    cr_assert_eq(kept, 0, "%d of 1000 forked processes kept a socket", kept);
    cph_attachments_destroy(list);
}

/* Point 10: a child that floods its give channel with a key its parent
 * does not expect, faster than the parent can refuse them, does not keep
 * libcph's thread from its siblings: each of them checks in. */
Test(late, a_flooding_giver_starves_no_sibling, .timeout = 120)
{
    cph_attachments_t *flood = list_new(), *list = shared_list();
    char *args[] = {"flood", NULL};
    pid_t flooder;
    int err;

    cr_assert_eq(cph_attachments_expect(flood, "k"), 0);
    flooder = spawn_helper("x_rawgive", args, flood);
    err = cph_checkin_wait(flooder, LIVENESS_MS);
    cr_assert_eq(err, 0, "%s", strerror(err));
    for (int i = 0; i < 10; i++) {
        const char *failed = spawn_expecting_shared(list);
        cr_assert_null(failed, "sibling %d: %s", i, failed);
    }
    kill(flooder, SIGKILL);
    wait_exit(flooder);
    cph_attachments_destroy(flood);
    cph_attachments_destroy(list);
}
