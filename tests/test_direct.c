/*
 * What only the direct delivery does: the child's end is its own
 * capability, wrappers hand the handles on, and the spawned process's
 * exit releases what nobody read.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

extern char **environ;

/* A child that never links libcph_child is given up when it exits. */
Test(direct, plain_child_is_given_up_at_exit)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_DIRECT);
    char out[256], *args[] = {"sleep", out, "0", NULL};
    pid_t pid;
    int got;

    list_add(list, "fd0", memfd_text("fd0"));
    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    pid = spawn_helper("h_plain", args, list);
    wait_exit(pid);
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, ENOTCONN, "got %s", strerror(got));
    cph_attachments_destroy(list);
}

/* Makes pidfd_open fail with ENOSYS (as on Linux < 5.3), and clone with
 * CLONE_PIDFD with EINVAL, in this process (and the threads it starts
 * from now on), as a strict filter would. */
static void forbid_pidfd_open(void)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#endif
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        /* clone with CLONE_PIDFD: EINVAL */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_PIDFD, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0],
                              .filter = code};

    cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    cr_assert_eq(syscall(SYS_pidfd_open, getpid(), 0), -1);
    cr_assert_eq(errno, ENOSYS);
}

/* Without pidfds the parent keeps its sending end: a child that takes its
 * handles is still handed over, one that never reads is given up when it
 * exits, and nothing is kept after either. */
Test(direct, without_pidfds)
{
    cph_attachments_t *shared, *plain = list_for(CPH_DELIVERY_DIRECT);
    char out[256], *args[] = {"sleep", out, "0", NULL};
    const char *failure;
    int before, got;
    pid_t pid;

    forbid_pidfd_open();
    shared = shared_list();
    cr_assert_eq(cph_attachments_set_delivery(shared, CPH_DELIVERY_DIRECT), 0);
    failure = spawn_expecting_shared(shared); /* starts libcph's thread */
    cr_assert_null(failure, "%s", failure);
    list_add(plain, "fd0", memfd_text("fd0"));
    before = count_fds();
    failure = spawn_expecting_shared(shared);
    cr_assert_null(failure, "%s", failure);
    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    pid = spawn_helper("h_plain", args, plain);
    wait_exit(pid);
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, ECONNABORTED, "got %s", strerror(got));
    cr_assert_eq(count_fds(), before, "fds kept");
    cph_attachments_destroy(shared);
    cph_attachments_destroy(plain);
}

/*
 * A descendant that inherited the channel and never reads it: once the
 * spawned process (sh) exits, the parent drains what is queued, so the
 * handles are released while the descendant (sleep) still runs. A pipe's
 * write end, attached and closed here, proves it: the read end sees EOF.
 */
Test(direct, descendant_holding_the_channel, .timeout = 60)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_DIRECT);
    char pidfile[256], cmd[512], *text;
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct pollfd pfd = {.events = POLLIN};
    pid_t pid, sleeper;
    int p[2], got;

    snprintf(pidfile, sizeof pidfile, "%s", scratch_path("sleeper"));
    snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > '%s'; exit 0", pidfile);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    list_add(list, "w", p[1]);
    cr_assert_eq(cph_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ, list),
                 0);
    cph_attachments_destroy(list);
    cr_assert_eq(wait_exit(pid), 0);
    text = slurp(pidfile);
    cr_assert_not_null(text);
    sleeper = (pid_t)atoi(text);
    free(text);
    unlink(pidfile);
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, ENOTCONN, "got %s", strerror(got));
    pfd.fd = p[0];
    cr_assert_eq(poll(&pfd, 1, LIVENESS_MS), 1, "the handle is still held");
    cr_assert_eq(read(p[0], &got, 1), 0);
    cr_assert_eq(kill(sleeper, 0), 0, "sleep is gone already");
    kill(sleeper, SIGKILL);
    close(p[0]);
}

/* 20 children that never check in cost the parent 20 fds, no more. */
Test(direct, pending_child_costs_one_fd, .timeout = 60)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_DIRECT);
    char *args[] = {"sleep", "/dev/null", "60000", NULL};
    pid_t pids[20];
    int before, pending;

    start_server();
    for (char key[] = "k0"; key[1] < '8'; key[1]++)
        list_add(list, key, memfd_text("x"));
    before = count_fds();
    for (int i = 0; i < 20; i++)
        pids[i] = spawn_helper("h_plain", args, list);
    pending = count_fds();
    for (int i = 0; i < 20; i++) {
        kill(pids[i], SIGKILL);
        wait_exit(pids[i]);
        cr_assert_eq(cph_checkin_wait(pids[i], LIVENESS_MS), ENOTCONN);
    }
    cr_assert_eq(pending, before + 20, "20 pending children cost %d fds",
                 pending - before);
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

/* What the unprivileged process of inflight_limit saw. */
static void inflight_as_nobody(int report)
{
    cph_attachments_t *list = NULL;
    char *argv[] = {"h_plain", "sleep", "/dev/null", "0", NULL};
    struct rlimit rl = {.rlim_cur = 200, .rlim_max = 200};
    char key[8];
    pid_t pid = -12345;
    int low[100], before, err;

    /* Low fds stay free for the spawn; the list sits above them. */
    for (int i = 0; i < 100; i++)
        low[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cph_attachments_init(&list);
    cph_attachments_set_delivery(list, CPH_DELIVERY_DIRECT);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cph_attachments_add_fd(list, key, 0);
    }
    for (int i = 0; i < 100; i++)
        close(low[i]);
    if (geteuid() == 0 && (setresgid(65534, 65534, 65534) != 0 ||
                           setresuid(65534, 65534, 65534) != 0))
        _exit(1);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(1);
    /* Dropping root made /proc/self unreadable to us. */
    prctl(PR_SET_DUMPABLE, 1);
    before = count_fds();
    err = cph_spawn(&pid, helper_path("h_plain"), NULL, NULL, argv, environ,
                    list);
    dprintf(report, "err %d pid %d fds %d\n", err, (int)pid,
            count_fds() - before);
    _exit(0);
}

/* More fds in flight than RLIMIT_NOFILE allows a user (root is exempt,
 * hence the drop to nobody when run as root): cph_spawn fails with
 * EMFILE, nothing leaks, *pid untouched. */
Test(direct, inflight_limit_is_emfile, .timeout = 60)
{
    char *text;
    int p[2];
    pid_t pid;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        inflight_as_nobody(p[1]);
    close(p[1]);
    cr_assert_eq(wait_exit(pid), 0, "could not become nobody or lower "
                                    "RLIMIT_NOFILE");
    text = read_all(p[0]);
    cr_assert_str_eq(text, "err 24 pid -12345 fds 0\n");
    free(text);
}

/* Runs argv (posix_spawn, or cph_spawn with list and file actions of
 * its own) with stdin from in (/dev/null if -1); *out gets its stdout. */
static pid_t spawn_piped(char *const argv[], int in, int *out,
                         const cph_attachments_t *list)
{
    posix_spawn_file_actions_t fa;
    int p[2], err;
    pid_t pid;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    if (in >= 0)
        cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, in, 0), 0);
    else
        cr_assert_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
                                                      O_RDONLY, 0),
                     0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, p[1], 1), 0);
    err = list ? cph_spawn(&pid, argv[0], &fa, NULL, argv, environ, list)
               : posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    cr_assert_eq(err, 0, "spawn %s: %s", argv[0], strerror(err));
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    *out = p[0];
    return pid;
}

/* The first line a helper printed. */
static char *first_line(int fd)
{
    static char line[128];
    size_t n = 0;

    while (n + 1 < sizeof line && read(fd, line + n, 1) == 1 &&
           line[n] != '\n')
        n++;
    line[n] = '\0';
    return line;
}

/* The fd number CPH_HANDSHAKE gave pid (which kept it: a shell), or -1
 * while its environment is not there yet (vfork returns in the middle of
 * the exec, before the new image's stack is set up). */
static int channel_fd_now(pid_t pid)
{
    static char env[65536];
    char path[64];
    ssize_t n = 0, got;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    while ((got = read(fd, env + n, sizeof env - 1 - (size_t)n)) > 0)
        n += got;
    close(fd);
    env[n] = '\0';
    for (char *at = env; at < env + n; at += strlen(at) + 1)
        if (strncmp(at, "CPH_HANDSHAKE=d:", 16) == 0)
            return atoi(at + 16);
    return -1;
}

static int channel_fd_of(pid_t pid)
{
    int fd;

    for (int ms = 0; (fd = channel_fd_now(pid)) < 0 && ms < LIVENESS_MS;
         ms++)
        usleep(1000);
    cr_assert_geq(fd, 0, "no CPH_HANDSHAKE for %d", (int)pid);
    return fd;
}

static cph_attachments_t *thief_list(bool expects)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_DIRECT);

    list_add(list, "a", memfd_text("alpha"));
    if (expects)
        cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    return list;
}

/*
 * A same-uid process outside the child's tree copies the child's end
 * (pidfd_getfd) while the spawned shell waits at a gate, and checks in
 * on it: it gets the handles, but the parent records EACCES, not 0, and
 * the real program behind the gate finds the channel empty
 * (ECONNRESET). Without the thief, the same shell's exec'd program gets
 * them (0), and so does a program the shell forks, checked while it
 * lives.
 */
static void thief_round(bool expects)
{
    cph_attachments_t *list = thief_list(expects);
    char gate[256], fd[16], pid_text[16], parent[16], *thief_path;
    char *real[] = {"/bin/sh", "-c",
                    "i=0; while [ ! -e \"$0\" ] && [ $i -lt 3000 ]; do "
                    "sleep 0.01; i=$((i+1)); done; exec \"$1\" hold",
                    gate, NULL, NULL};
    char *forking[] = {"/bin/sh", "-c", "\"$0\" hold; true", NULL, NULL};
    char *thief[] = {NULL, "getfd", pid_text, fd, parent, NULL};
    int real_out, thief_out, hold[2], got;
    pid_t pid, thief_pid;

    thief_path = strdup(helper_path("x_thief"));
    real[4] = thief_path;
    forking[3] = thief_path;
    thief[0] = thief_path;
    snprintf(gate, sizeof gate, "%s", scratch_path("gate"));
    unlink(gate);
    snprintf(parent, sizeof parent, "%d", (int)getpid());

    /* Thief: takes everything while the real program waits. */
    pid = spawn_piped(real, -1, &real_out, list);
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
    snprintf(fd, sizeof fd, "%d", channel_fd_of(pid));
    cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
    thief_pid = spawn_piped(thief, hold[0], &thief_out, NULL);
    close(hold[0]);
    cr_assert_str_eq(first_line(thief_out), "status 0 count 1",
                     "the thief did not take the handles");
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, EACCES, "a thief's check-in recorded: %s",
                 strerror(got));
    close(creat(gate, 0600));
    cr_assert_str_eq(first_line(real_out), "status 104 count 0");
    cr_assert_eq(wait_exit(pid), 0);
    close(hold[1]);
    cr_assert_eq(wait_exit(thief_pid), 0);
    close(real_out);
    close(thief_out);

    /* No thief: the exec'd program is the spawned process. */
    pid = spawn_piped(real, -1, &real_out, list);
    cr_assert_str_eq(first_line(real_out), "status 0 count 1");
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, 0, "the real child: %s", strerror(got));
    cr_assert_eq(wait_exit(pid), 0);
    close(real_out);
    unlink(gate);

    /* A forked program, placed while it lives. */
    cr_assert_eq(pipe2(hold, O_CLOEXEC), 0);
    pid = spawn_piped(forking, hold[0], &real_out, list);
    close(hold[0]);
    cr_assert_str_eq(first_line(real_out), "status 0 count 1");
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, 0, "a forking wrapper's child: %s", strerror(got));
    close(hold[1]);
    cr_assert_eq(wait_exit(pid), 0);
    close(real_out);
    free(thief_path);
    cph_attachments_destroy(list);
}

Test(direct, thief_with_a_copy_of_the_end, .timeout = 60)
{
    thief_round(false);
}

Test(direct, thief_with_a_copy_of_the_end_expecting_keys, .timeout = 60)
{
    thief_round(true);
}
