/*
 * Rule tests of the simulator's posix_spawn (lib/spawn.c): one Test per rule,
 * the expectation from xnu-11417 (bsd/kern/kern_exec.c,
 * bsd/kern/kern_descrip.c) or libsyscall (wrappers/spawn/posix_spawn.c).
 * SPAWN_HELPER (spawn_helper.c) reports on itself.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <spawn_private.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stub_kernel.h"

extern char **environ;

static void no_child_left(void)
{
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child exists");
    cr_assert_eq(errno, ECHILD);
}

static int spawn_helper(pid_t *pid, posix_spawn_file_actions_t *fa,
                        posix_spawnattr_t *attr, const char *a1,
                        const char *a2)
{
    char *argv[] = {"spawn_helper", (char *)a1, (char *)a2, NULL};

    return posix_spawn(pid, SPAWN_HELPER, fa, attr, argv, environ);
}

/* Runs the helper with its stdout on a pipe (one more dup2 action, after the
 * test's) and returns what it said; it must exit 0. */
static char *run(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr,
                 const char *a1, const char *a2)
{
    posix_spawn_file_actions_t own = NULL;
    static char text[4096];
    int p[2], status;
    ssize_t n, len = 0;
    pid_t pid;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    if (!fa) {
        cr_assert_eq(posix_spawn_file_actions_init(&own), 0);
        fa = &own;
    }
    cr_assert_eq(posix_spawn_file_actions_adddup2(fa, p[1], 1), 0);
    cr_assert_eq(spawn_helper(&pid, fa, attr, a1, a2), 0);
    close(p[1]);
    while ((n = read(p[0], text + len, sizeof text - 1 - (size_t)len)) > 0)
        len += n;
    text[len] = '\0';
    close(p[0]);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "helper %s failed", a1);
    if (own)
        posix_spawn_file_actions_destroy(&own);
    return text;
}

static bool has_fd(const char *list, int fd)
{
    char *end;

    for (const char *p = list; *p && *p != '\n'; p = end) {
        if (strtol(p, &end, 10) == fd)
            return true;
        if (end == p)
            break;
    }
    return false;
}

/* An fd at number `at`, close-on-exec or not. */
static int fd_at(int at, bool cloexec)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    cr_assert_geq(fd, 0);
    cr_assert_eq(dup3(fd, at, cloexec ? O_CLOEXEC : 0), at);
    close(fd);
    return at;
}

static posix_spawnattr_t attr_with(short flags)
{
    posix_spawnattr_t a;

    cr_assert_eq(posix_spawnattr_init(&a), 0);
    cr_assert_eq(posix_spawnattr_setflags(&a, flags), 0);
    return a;
}

static posix_spawn_file_actions_t actions(void)
{
    posix_spawn_file_actions_t fa;

    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    return fa;
}

/* libsyscall posix_spawnattr_*: an object that is NULL (never initialised, or
 * destroyed, which sets it NULL) is EINVAL. */
Test(spawn, attr_not_initialised_einval)
{
    posix_spawnattr_t a = NULL;
    short flags;

    cr_assert_eq(posix_spawnattr_setflags(&a, 0), EINVAL);
    cr_assert_eq(posix_spawnattr_getflags(&a, &flags), EINVAL);
    cr_assert_eq(posix_spawnattr_setpgroup(&a, 0), EINVAL);
    cr_assert_eq(posix_spawnattr_setspecialport_np(&a, 0, 4), EINVAL);
    cr_assert_eq(posix_spawnattr_destroy(&a), EINVAL);
    cr_assert_eq(posix_spawnattr_init(&a), 0);
    cr_assert_eq(posix_spawnattr_destroy(&a), 0);
    cr_assert_null(a);
    cr_assert_eq(posix_spawnattr_destroy(&a), EINVAL);
}

/* libsyscall posix_spawn_file_actions_*: the same for file-action objects. */
Test(spawn, file_actions_not_initialised_einval)
{
    posix_spawn_file_actions_t fa = NULL;

    cr_assert_eq(posix_spawn_file_actions_addclose(&fa, 3), EINVAL);
    cr_assert_eq(posix_spawn_file_actions_addchdir_np(&fa, "/"), EINVAL);
    cr_assert_eq(posix_spawn_file_actions_destroy(&fa), EINVAL);
}

/* libsyscall posix_spawn_file_actions_add*: an fd outside [0, OPEN_MAX =
 * 10240) is EBADF when the action is added, whatever RLIMIT_NOFILE is. */
Test(spawn, file_action_fd_range_ebadf)
{
    posix_spawn_file_actions_t fa = actions();

    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, -1, 3), EBADF);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, 3, 10240), EBADF);
    cr_assert_eq(
        posix_spawn_file_actions_addopen(&fa, 10240, "/", O_RDONLY, 0), EBADF);
    cr_assert_eq(posix_spawn_file_actions_addinherit_np(&fa, -1), EBADF);
    cr_assert_eq(posix_spawn_file_actions_addfchdir_np(&fa, 10240), EBADF);
    cr_assert_eq(posix_spawn_file_actions_addclose(&fa, 10239), 0);
    posix_spawn_file_actions_destroy(&fa);
}

/* libsyscall posix_spawn_file_actions_addchdir_np: a path that does not fit
 * PATH_MAX (1024) is ENAMETOOLONG. */
Test(spawn, addchdir_path_max)
{
    posix_spawn_file_actions_t fa = actions();
    char path[1025];

    memset(path, 'a', sizeof path);
    path[1024] = '\0';
    cr_assert_eq(posix_spawn_file_actions_addchdir_np(&fa, path),
                 ENAMETOOLONG);
    path[1023] = '\0';
    cr_assert_eq(posix_spawn_file_actions_addchdir_np(&fa, path), 0);
    posix_spawn_file_actions_destroy(&fa);
}

/* posix_spawnattr_set_registered_ports_np refuses more than
 * TASK_PORT_REGISTER_MAX (3) at once; calls add up, and
 * exec_handle_port_actions fails the spawn (EINVAL) past 3 in all. */
Test(spawn, registered_ports_at_most_three)
{
    mach_port_t ports[4] = {0x103, 0x203, 0x303, 0x403};
    posix_spawnattr_t a = attr_with(0);
    pid_t pid = 0;

    cr_assert_eq(posix_spawnattr_set_registered_ports_np(&a, ports, 4),
                 EINVAL);
    cr_assert_eq(posix_spawnattr_set_registered_ports_np(&a, ports, 2), 0);
    cr_assert_eq(posix_spawnattr_set_registered_ports_np(&a, ports + 2, 2), 0);
    cr_assert_eq(spawn_helper(&pid, NULL, &a, "exit", "0"), EINVAL);
    no_child_left();
    posix_spawnattr_destroy(&a);
}

/* exec_handle_port_actions: the special and registered ports of the attributes
 * become the new task's, in the kernel (ipc_task_init, then
 * task_set_special_port / the registered array), for the new process's pid. */
Test(spawn, port_actions_reach_the_kernel)
{
    mach_port_t ports[2] = {0x1203, 0x1303};
    posix_spawnattr_t a = attr_with(0);
    pid_t pid;
    int status;

    cr_assert_eq(posix_spawnattr_setspecialport_np(&a, 0x1103, 4), 0);
    cr_assert_eq(posix_spawnattr_set_registered_ports_np(&a, ports, 2), 0);
    cr_assert_eq(spawn_helper(&pid, NULL, &a, "exit", "0"), 0);
    cr_assert_eq(stub_create_pid, pid);
    cr_assert(stub_create_ports_given);
    cr_assert_eq(stub_create_ports.nspecial, 1);
    cr_assert_eq(stub_create_ports.special_which[0], 4);
    cr_assert_eq(stub_create_ports.special_port[0], 0x1103);
    cr_assert(stub_create_ports.registered_set);
    cr_assert_eq(stub_create_ports.nregistered, 2);
    cr_assert_eq(stub_create_ports.registered[1], 0x1303);
    waitpid(pid, &status, 0);
    cr_assert_eq(spawn_helper(&pid, NULL, NULL, "exit", "0"), 0);
    cr_assert_not(stub_create_ports_given, "no attributes, no overrides");
    waitpid(pid, &status, 0);
    posix_spawnattr_destroy(&a);
}

/* exec_handle_port_actions: a port the kernel refuses (a bad name, a bad
 * `which`) fails the spawn with EINVAL, and no child is left. */
Test(spawn, kernel_refusal_einval)
{
    pid_t pid = 0;

    stub_create_kr = KERN_INVALID_NAME;
    cr_assert_eq(spawn_helper(&pid, NULL, NULL, "exit", "0"), EINVAL);
    cr_assert_eq(stub_create_calls, 1);
    no_child_left();
}

/* kern_exec.c posix_spawn: the file actions run before the port actions, so a
 * failing file action is what the spawn returns when both fail. */
Test(spawn, file_action_error_before_port_error)
{
    posix_spawn_file_actions_t fa = actions();
    pid_t pid;

    stub_create_kr = KERN_INVALID_NAME;
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, 200, 5), 0);
    cr_assert_eq(spawn_helper(&pid, &fa, NULL, "exit", "0"), EBADF);
    no_child_left();
    posix_spawn_file_actions_destroy(&fa);
}

/* posix_spawn returns exec's errors (exec_activate_image): ENOENT, EACCES,
 * ENOEXEC; no child is left. */
Test(spawn, exec_errors_returned)
{
    char dir[] = "/tmp/machsim-spawn-XXXXXX", path[64];
    char *argv[] = {"x", NULL};
    pid_t pid;
    int fd;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/missing", dir);
    cr_assert_eq(posix_spawn(&pid, path, NULL, NULL, argv, environ), ENOENT);
    snprintf(path, sizeof path, "%s/plain", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    cr_assert_eq(write(fd, "\1\2\3\4garbage", 11), 11);
    close(fd);
    cr_assert_eq(posix_spawn(&pid, path, NULL, NULL, argv, environ), EACCES);
    cr_assert_eq(chmod(path, 0755), 0);
    cr_assert_eq(posix_spawn(&pid, path, NULL, NULL, argv, environ), ENOEXEC);
    no_child_left();
    unlink(path);
    rmdir(dir);
}

/* exec_handle_file_actions: dup2 of an fd that is not open fails the spawn
 * with EBADF. */
Test(spawn, file_action_bad_fd_ebadf)
{
    posix_spawn_file_actions_t fa = actions();
    pid_t pid;

    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, 200, 5), 0);
    cr_assert_eq(spawn_helper(&pid, &fa, NULL, "exit", "0"), EBADF);
    no_child_left();
    posix_spawn_file_actions_destroy(&fa);
}

/* exec_handle_file_actions applies the actions in order: a close, then a dup2
 * of the closed fd, fails. */
Test(spawn, file_actions_in_order)
{
    posix_spawn_file_actions_t fa = actions();
    int fd = fd_at(20, false);
    pid_t pid;

    cr_assert_eq(posix_spawn_file_actions_addclose(&fa, fd), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, fd, 21), 0);
    cr_assert_eq(spawn_helper(&pid, &fa, NULL, "exit", "0"), EBADF);
    posix_spawn_file_actions_destroy(&fa);
}

/* xnu dup2 (kern_descrip.c): dup2(fd, fd) returns at once, so a close-on-exec
 * fd stays close-on-exec: the child does not get it (unlike glibc's
 * posix_spawn). */
Test(spawn, dup2_same_fd_keeps_cloexec)
{
    posix_spawn_file_actions_t fa = actions();
    int fd = fd_at(20, true);

    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, fd, fd), 0);
    cr_assert_not(has_fd(run(&fa, NULL, "fds", NULL), 20));
    posix_spawn_file_actions_destroy(&fa);
}

/* dup2 to another number makes an fd without close-on-exec. */
Test(spawn, dup2_other_fd_inherited)
{
    posix_spawn_file_actions_t fa = actions();
    char *fds;

    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, fd_at(20, true), 21),
                 0);
    fds = run(&fa, NULL, "fds", NULL);
    cr_assert(has_fd(fds, 21), "%s", fds);
    cr_assert_not(has_fd(fds, 20), "%s", fds);
    posix_spawn_file_actions_destroy(&fa);
}

/* PSFA_INHERIT clears close-on-exec of an fd that exists. */
Test(spawn, inherit_np_clears_cloexec)
{
    posix_spawn_file_actions_t fa = actions();

    cr_assert_eq(posix_spawn_file_actions_addinherit_np(&fa, fd_at(20, true)),
                 0);
    cr_assert(has_fd(run(&fa, NULL, "fds", NULL), 20));
    posix_spawn_file_actions_destroy(&fa);
}

/* PSFA_OPEN: the file is opened, then moved to the asked number. */
Test(spawn, open_action_places_fd)
{
    posix_spawn_file_actions_t fa = actions();

    cr_assert_eq(
        posix_spawn_file_actions_addopen(&fa, 22, "/dev/null", O_RDONLY, 0),
        0);
    cr_assert(has_fd(run(&fa, NULL, "fds", NULL), 22));
    posix_spawn_file_actions_destroy(&fa);
}

/* POSIX_SPAWN_CLOEXEC_DEFAULT (exec_handle_file_actions, fdt_exec): only the
 * fds a dup2, open or inherit action names survive; 0-2 too close; an fchdir
 * action's fd is not kept. */
Test(spawn, cloexec_default_keeps_only_named_fds)
{
    posix_spawn_file_actions_t fa = actions();
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_CLOEXEC_DEFAULT);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    char *fds;

    fd_at(23, false);
    cr_assert_eq(dup2(dir, 25), 25);
    cr_assert_eq(posix_spawn_file_actions_addinherit_np(&fa, fd_at(24, true)),
                 0);
    cr_assert_eq(
        posix_spawn_file_actions_addopen(&fa, 26, "/dev/null", O_RDONLY, 0),
        0);
    cr_assert_eq(posix_spawn_file_actions_addfchdir_np(&fa, 25), 0);
    fds = run(&fa, &a, "fds", NULL);
    cr_assert_str_eq(fds, "1 24 26\n");
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&a);
}

/* PSFA_CHDIR and PSFA_FCHDIR set the child's working directory; a failing
 * chdir fails the spawn. */
Test(spawn, chdir_actions)
{
    posix_spawn_file_actions_t fa = actions(), fb = actions(), fc = actions();
    pid_t pid;

    cr_assert_eq(posix_spawn_file_actions_addchdir_np(&fa, "/"), 0);
    cr_assert_str_eq(run(&fa, NULL, "cwd", NULL), "/\n");
    cr_assert_eq(
        posix_spawn_file_actions_addfchdir_np(&fb, open("/tmp", O_RDONLY)), 0);
    cr_assert_str_eq(run(&fb, NULL, "cwd", NULL), "/tmp\n");
    cr_assert_eq(
        posix_spawn_file_actions_addchdir_np(&fc, "/nonexistent-machsim"), 0);
    cr_assert_eq(spawn_helper(&pid, &fc, NULL, "exit", "0"), ENOENT);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawn_file_actions_destroy(&fb);
    posix_spawn_file_actions_destroy(&fc);
}

/* The child starts with the calling thread's signal mask (fork1 copies it), or
 * SETSIGMASK's (kern_exec.c posix_spawn). */
Test(spawn, signal_mask)
{
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_SETSIGMASK);
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    cr_assert_str_eq(run(NULL, NULL, "blocked", "12"), "1\n");
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    cr_assert_eq(posix_spawnattr_setsigmask(&a, &set), 0);
    cr_assert_str_eq(run(NULL, &a, "blocked", "10"), "1\n");
    cr_assert_str_eq(run(NULL, &a, "blocked", "12"), "0\n");
    posix_spawnattr_destroy(&a);
}

/* An ignored signal stays ignored in the child, unless SETSIGDEF names it
 * (setsigvec to SIG_DFL); a caught one is default after the exec. */
static void on_signal(int sig) { (void)sig; }

Test(spawn, signal_defaults)
{
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_SETSIGDEF);
    sigset_t set;

    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, on_signal);
    cr_assert_str_eq(run(NULL, NULL, "disposition", "10"), "ign\n");
    cr_assert_str_eq(run(NULL, NULL, "disposition", "12"), "dfl\n");
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    cr_assert_eq(posix_spawnattr_setsigdefault(&a, &set), 0);
    cr_assert_str_eq(run(NULL, &a, "disposition", "10"), "dfl\n");
    posix_spawnattr_destroy(&a);
}

/* SETPGROUP with pgroup 0: the child leads a new process group; SETSID: a new
 * session; both (setpgid, then setsid of a group leader) fail with EPERM. */
Test(spawn, process_group_and_session)
{
    posix_spawnattr_t g = attr_with(POSIX_SPAWN_SETPGROUP),
                      s = attr_with(POSIX_SPAWN_SETSID);
    posix_spawnattr_t both =
        attr_with(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSID);
    pid_t pid;

    cr_assert_str_eq(run(NULL, NULL, "pgid", NULL), "member\n");
    cr_assert_str_eq(run(NULL, &g, "pgid", NULL), "leader\n");
    cr_assert_str_eq(run(NULL, &s, "sid", NULL), "leader\n");
    cr_assert_eq(spawn_helper(&pid, NULL, &both, "exit", "0"), EPERM);
    no_child_left();
    posix_spawnattr_destroy(&g);
    posix_spawnattr_destroy(&s);
    posix_spawnattr_destroy(&both);
}

/* START_SUSPENDED: the child is stopped when posix_spawn returns, and runs on
 * SIGCONT. */
Test(spawn, start_suspended)
{
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_START_SUSPENDED);
    siginfo_t info = {0};
    pid_t pid;
    int status;

    cr_assert_eq(spawn_helper(&pid, NULL, &a, "exit", "3"), 0);
    cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WSTOPPED | WNOHANG | WNOWAIT),
                 0);
    cr_assert_eq(info.si_pid, pid, "not stopped");
    cr_assert_eq(info.si_code, CLD_STOPPED);
    kill(pid, SIGCONT);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    posix_spawnattr_destroy(&a);
}

/* A START_SUSPENDED child holds nothing the exec would close: another spawn's
 * report pipe (here: any close-on-exec fd) reads EOF once its other copies are
 * closed, though the child is stopped. */
Test(spawn, suspended_child_holds_no_cloexec_fd, .timeout = 30)
{
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_START_SUSPENDED);
    int p[2];
    pid_t pid;
    char c;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(spawn_helper(&pid, NULL, &a, "exit", "0"), 0);
    close(p[1]);
    cr_assert_eq(read(p[0], &c, 1), 0);
    kill(pid, SIGCONT);
    waitpid(pid, NULL, 0);
    posix_spawnattr_destroy(&a);
}

/* POSIX_SPAWN_SETEXEC: the caller itself becomes the new image (same pid); an
 * exec error is returned to it. */
Test(spawn, setexec_replaces_caller)
{
    posix_spawnattr_t a = attr_with(POSIX_SPAWN_SETEXEC);
    char *argv[] = {"x", NULL};
    pid_t pid = fork(), got;
    int status;

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (posix_spawn(NULL, "/nonexistent-machsim", NULL, &a, argv,
                        environ) != ENOENT)
            _exit(98);
        spawn_helper(NULL, NULL, &a, "exit", "5");
        _exit(99);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 5);
    got = stub_create_pid;
    cr_assert_eq(got, 0,
                 "the kernel call was made in the forked process only");
    posix_spawnattr_destroy(&a);
}

/* posix_spawn runs no atfork handler (the kernel makes the child). */
static int atfork_pipe[2];

static void atfork_child(void)
{
    if (write(atfork_pipe[1], "x", 1) != 1)
        _exit(97);
}

Test(spawn, no_atfork_handlers)
{
    pid_t pid;
    char c;

    cr_assert_eq(pipe2(atfork_pipe, O_NONBLOCK), 0);
    pthread_atfork(NULL, NULL, atfork_child);
    cr_assert_eq(spawn_helper(&pid, NULL, NULL, "exit", "0"), 0);
    waitpid(pid, NULL, 0);
    cr_assert_eq(read(atfork_pipe[0], &c, 1), -1, "an atfork handler ran");
    cr_assert_eq(errno, EAGAIN);
}

/* xnu fdt_fork skips FG_CONFINED files: a spawned child has none of the
 * caller's kqueues, so a file action on one fails (EBADF). */
Test(spawn, kqueue_not_in_child)
{
    posix_spawn_file_actions_t fa = actions();
    int kq = kqueue();
    pid_t pid;

    cr_assert_geq(kq, 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, kq, 30), 0);
    cr_assert_eq(spawn_helper(&pid, &fa, NULL, "exit", "0"), EBADF);
    posix_spawn_file_actions_destroy(&fa);
}

/* Libc posix_spawnp: each directory of PATH in turn, past one where the file
 * is not executable; ENOENT when none has the file, EACCES when the only one
 * is not executable. */
Test(spawn, spawnp_searches_path)
{
    char path[4096], denied[] = "/tmp/machsim-spawnp-XXXXXX";
    char *dir = strdup(SPAWN_HELPER),
         *argv[] = {"spawn_helper", "exit", "4", NULL};
    pid_t pid;
    int status;

    *strrchr(dir, '/') = '\0';
    snprintf(path, sizeof path, "/nonexistent-machsim:%s", dir);
    setenv("PATH", path, 1);
    cr_assert_eq(posix_spawnp(&pid, "spawn_helper", NULL, NULL, argv, environ),
                 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 4);
    cr_assert_eq(
        posix_spawnp(&pid, "no-such-machsim", NULL, NULL, argv, environ),
        ENOENT);
    cr_assert_not_null(mkdtemp(denied));
    snprintf(path, sizeof path, "%s:%s", denied, dir);
    setenv("PATH", path, 1);
    snprintf(path, sizeof path, "%s/spawn_helper", denied);
    close(open(path, O_WRONLY | O_CREAT, 0644));
    cr_assert_eq(posix_spawnp(&pid, "spawn_helper", NULL, NULL, argv, environ),
                 0, "found past the one that is not executable");
    waitpid(pid, NULL, 0);
    setenv("PATH", denied, 1);
    cr_assert_eq(posix_spawnp(&pid, "spawn_helper", NULL, NULL, argv, environ),
                 EACCES);
    unlink(path);
    rmdir(denied);
    free(dir);
}

/* libsyscall posix_spawn saves and restores errno. */
Test(spawn, errno_kept)
{
    pid_t pid;

    errno = 1234;
    cr_assert_eq(spawn_helper(&pid, NULL, NULL, "exit", "0"), 0);
    cr_assert_eq(errno, 1234);
    waitpid(pid, NULL, 0);
}
