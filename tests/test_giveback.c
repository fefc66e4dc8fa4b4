/*
 * Giving back: children give fds to their parent under keys the parent
 * expected (cph_attachments_expect, cph_child_give_fd, cph_take_fd).
 * Runs under both deliveries.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "core/cph_core.h"

extern char **environ;

static void expect_key(cph_attachments_t *list, const char *key)
{
    int err = cph_attachments_expect(list, key);

    cr_assert_eq(err, 0, "expect %s: %s", key, strerror(err));
}

/* Expects keys PREFIX0 .. PREFIX<n - 1>. */
static void expect_numbered(cph_attachments_t *list, const char *prefix,
                            int n)
{
    char key[CPH__KEY_MAX + 1];

    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%d", prefix, i);
        expect_key(list, key);
    }
}

/* Takes key from pid (which must succeed): the fd holds want; closes
 * it. */
static void assert_taken(pid_t pid, const char *key, const char *want)
{
    char buf[256];
    int fd = -1, err = cph_take_fd(pid, key, LIVENESS_MS, &fd);
    ssize_t n;

    cr_assert_eq(err, 0, "take %s: %s", key, strerror(err));
    cr_assert((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    n = pread(fd, buf, sizeof buf - 1, 0);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    close(fd);
    cr_assert_str_eq(buf, want, "under %s", key);
}

static void assert_take_fails(pid_t pid, const char *key, int timeout_ms,
                              int want)
{
    int fd = -1, err = cph_take_fd(pid, key, timeout_ms, &fd);

    cr_assert_eq(err, want, "take %s: %s, not %s", key, strerror(err),
                 strerror(want));
    cr_assert_eq(fd, -1);
}

/* A pipe whose read end is attached under "go"; returns the write end.
 * Each byte written lets h_give past one "wait". */
static int attach_go(cph_attachments_t *list)
{
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    list_add(list, "go", p[0]);
    return p[1];
}

/* key cannot have come (the child waits for go); once let go, the child
 * gives it, holding text. */
static void let_go(int fd, pid_t pid, const char *key, const char *text)
{
    assert_take_fails(pid, key, 0, ETIMEDOUT);
    cr_assert_eq(write(fd, "g", 1), 1);
    assert_taken(pid, key, text);
}

/* Spawns helper name with args (argv[0] added) and list, its stdout into
 * a pipe whose read end goes to *out (or to /dev/null if out is NULL).
 * With list NULL this is a plain posix_spawn. */
static pid_t spawn_out(const char *name, char *const args[],
                       const cph_attachments_t *list, int *out)
{
    posix_spawn_file_actions_t fa;
    char *argv[32] = {(char *)name};
    int p[2] = {-1, -1};
    pid_t pid;
    int err;

    for (size_t i = 0; args && args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    if (out) {
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    }
    err = cph_spawn(&pid, helper_path(name), &fa, NULL, argv, environ, list);
    cr_assert_eq(err, 0, "spawn %s: %s", name, strerror(err));
    posix_spawn_file_actions_destroy(&fa);
    if (out) {
        close(p[1]);
        *out = p[0];
    }
    return pid;
}

Test(giveback, round_trip)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"echo", NULL};
    int report = attach_report(list);
    pid_t pid;

    list_add(list, "in", memfd_text("ping\n"));
    expect_key(list, "out");
    pid = spawn_helper("h_give", args, list);
    assert_taken(pid, "out", "got:ping");
    assert_text(finish_report(pid, report), "out 0\n");
    assert_take_fails(pid, "out", 0, EALREADY);
    assert_take_fails(pid, "other", 0, ENOENT);
    cph_attachments_destroy(list);
}

/* Nothing attached: the handshake still runs, and tells the child what
 * to give. */
Test(giveback, expect_only_list)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"k=hello", NULL}, *text;
    int out;
    pid_t pid;

    expect_key(list, "k");
    pid = spawn_out("h_give", args, list, &out);
    assert_taken(pid, "k", "hello");
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    text = read_all(out);
    cr_assert_eq(wait_exit(pid), 0);
    assert_text(text, "k 0\n");
    cph_attachments_destroy(list);
}

Test(giveback, several_keys_at_different_times)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"a=1", "wait", "b=2", "wait", "c=3", NULL};
    int report = attach_report(list), g = attach_go(list);
    pid_t pid;

    expect_key(list, "a");
    expect_key(list, "b");
    expect_key(list, "c");
    pid = spawn_helper("h_give", args, list);
    assert_taken(pid, "a", "1");
    let_go(g, pid, "b", "2");
    let_go(g, pid, "c", "3");
    assert_text(finish_report(pid, report), "a 0\nb 0\nc 0\n");
    close(g);
    cph_attachments_destroy(list);
}

/* No limit on the wait: only a prompt ECONNABORTED ends it. */
Test(giveback, exit_without_giving_aborts_at_once)
{
    cph_attachments_t *list = list_new();
    int report = attach_report(list);
    pid_t pid;

    expect_key(list, "k");
    pid = spawn_helper("h_give", NULL, list);
    assert_take_fails(pid, "k", -1, ECONNABORTED);
    assert_text(finish_report(pid, report), "");
    cph_attachments_destroy(list);
}

/* A child that never checks in can give nothing. */
Test(giveback, never_checked_in_ends_giving)
{
    cph_attachments_t *list = list_new();
    char out[256], *args[] = {"sleep", out, "0", NULL};
    int before;
    pid_t pid;

    expect_key(list, "k");
    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    start_server();
    before = count_fds();
    pid = spawn_helper("h_plain", args, list);
    assert_take_fails(pid, "k", -1, ECONNABORTED);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), ENOTCONN);
    wait_exit(pid);
    /* Everything the spawn and the give channel held is closed. */
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

/* Runs h_give with args and a list expecting k (and "never"); asserts
 * its report, and returns once the parent has read all it gave. */
static pid_t run_give(char *const args[], const char *want)
{
    cph_attachments_t *list = list_new();
    int report = attach_report(list);
    pid_t pid;

    expect_key(list, "k");
    expect_key(list, "never");
    pid = spawn_helper("h_give", args, list);
    cph_attachments_destroy(list);
    assert_text(finish_report(pid, report), want);
    assert_take_fails(pid, "never", -1, ECONNABORTED);
    return pid;
}

Test(giveback, key_given_twice)
{
    char *args[] = {"k=one", "k=two", NULL};
    pid_t pid = run_give(args, "k 0\nk EEXIST\n");

    assert_taken(pid, "k", "one");
    assert_take_fails(pid, "k", 0, EALREADY);
}

/* A forked process shares the channel but not the child's record of what
 * it gave: the second give reaches the parent, whose core refuses it. */
Test(giveback, parent_refuses_a_second_give)
{
    char *args[] = {"fork:k=one", "k=two", NULL};
    pid_t pid = run_give(args, "k 0\nk 0\n");

    assert_taken(pid, "k", "one");
    assert_take_fails(pid, "k", 0, EALREADY);
}

Test(giveback, key_not_expected)
{
    char *args[] = {"zz=x", "k=y", NULL};
    pid_t pid = run_give(args, "zz ENOENT\nk 0\n");

    assert_take_fails(pid, "zz", 0, ENOENT);
    assert_taken(pid, "k", "y");
}

Test(giveback, child_gives_from_many_threads)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"threads", NULL}, key[8];
    int report = attach_report(list);
    pid_t pid;

    expect_numbered(list, "t", 8);
    pid = spawn_helper("h_give", args, list);
    assert_text(finish_report(pid, report), "threads 0\n");
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "t%d", i);
        assert_taken(pid, key, key);
    }
    cph_attachments_destroy(list);
}

/* A process forked from the parent holds nothing given to its parent. */
Test(giveback, forked_parent_starts_clean)
{
    char *args[] = {"k=x", NULL};
    pid_t pid = run_give(args, "k 0\n"), forked;
    int fd;

    forked = fork();
    cr_assert_geq(forked, 0);
    if (forked == 0)
        _exit(cph_take_fd(pid, "k", 0, &fd) == ESRCH ? 0 : 1);
    cr_assert_eq(wait_exit(forked), 0);
    assert_taken(pid, "k", "x");
}

/* More keys than one message carries: the last one still arrives. */
Test(giveback, many_expected_keys)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"k299=last", "k0=first", NULL};
    int report = attach_report(list);
    pid_t pid;

    expect_numbered(list, "k", 300);
    pid = spawn_helper("h_give", args, list);
    assert_text(finish_report(pid, report), "k299 0\nk0 0\n");
    assert_taken(pid, "k299", "last");
    assert_taken(pid, "k0", "first");
    assert_take_fails(pid, "k1", -1, ECONNABORTED);
    cph_attachments_destroy(list);
}

/* A child speaking the protocol by hand cannot make its parent hold more
 * than one fd per expected key: extra fds, unexpected keys and garbage
 * are closed, and the well-formed give still counts, even after an empty
 * message that reads as an EOF. */
Test(giveback, hostile_child_cannot_overfill_parent)
{
    cph_attachments_t *list = list_new();
    int before, out;
    char *text;
    pid_t pid;

    expect_key(list, "k");
    expect_key(list, "never");
    start_server();
    before = count_fds();
    pid = spawn_out("x_rawgive", NULL, list, &out);
    text = read_all(out);
    cr_assert_eq(wait_exit(pid), 0, "%s", text);
    assert_text(text, "sent 6\n");
    assert_take_fails(pid, "never", -1, ECONNABORTED);
    cr_assert_eq(count_fds(), before + 1); /* k, given once */
    assert_taken(pid, "k", "ok");
    assert_take_fails(pid, "zz", 0, ENOENT);
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

Test(giveback, plain_child_cannot_give)
{
    char *args[] = {"k=x", "bad", NULL};
    int out;
    pid_t pid = spawn_out("h_give", args, NULL, &out);
    char *text = read_all(out);

    cr_assert_eq(wait_exit(pid), 0);
    assert_text(text, "k ENOENT\nbad EINVAL EINVAL EBADF\n");
    assert_take_fails(pid, "k", 0, ESRCH);
}

Test(giveback, bad_arguments)
{
    cph_attachments_t *list = list_new();
    int fd;

    cr_assert_eq(cph_attachments_expect(NULL, "k"), EINVAL);
    cr_assert_eq(cph_attachments_expect(list, NULL), EINVAL);
    cr_assert_eq(cph_attachments_expect(list, "a b"), EINVAL);
    expect_key(list, "k");
    cr_assert_eq(cph_attachments_expect(list, "k"), EEXIST);
    /* Attached and expected keys are separate. */
    list_add(list, "k", memfd_text("k"));
    cr_assert_eq(cph_take_fd(getpid(), NULL, 0, &fd), EINVAL);
    cr_assert_eq(cph_take_fd(getpid(), "k", 0, NULL), EINVAL);
    cr_assert_eq(cph_take_fd(getpid(), "k", 0, &fd), ESRCH);
    cr_assert_eq(cph_take_fd(0, "k", 0, &fd), ESRCH);
    cph_attachments_destroy(list);
}

/* A same-uid process cannot reach a child's give channel: the direct
 * channel has no name (and a socket cannot be opened through /proc);
 * the pid-bound service refuses a connection that did not check in. */
Test(giveback, rogue_cannot_give)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"wait", "k=child", NULL}, arg[200], *text;
    char *rogue[] = {"proc", arg, NULL};
    int report = attach_report(list), g = attach_go(list), out;
    pid_t pid, rogue_pid;

    expect_key(list, "k");
    pid = spawn_helper("h_give", args, list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    if (suite_delivery() == CPH_DELIVERY_DIRECT) {
        snprintf(arg, sizeof arg, "%d", (int)pid);
    } else {
        rogue[0] = "name";
        cph__lock();
        cr_assert_eq(cph__server_start(arg), 0);
        cph__unlock();
    }
    rogue_pid = spawn_out("x_rogue", rogue, NULL, &out);
    text = read_all(out);
    cr_assert_eq(wait_exit(rogue_pid), 0, "%s", text);
    if (suite_delivery() == CPH_DELIVERY_DIRECT)
        cr_assert_str_eq(text, "reached 0\n");
    else
        cr_assert(strstr(text, "closed\n"), "%s", text);
    free(text);
    let_go(g, pid, "k", "child");
    assert_text(finish_report(pid, report), "k 0\n");
    close(g);
    cph_attachments_destroy(list);
}

/* Reads one line from fd into buf. */
static void read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n + 1 < size && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
        n++;
    buf[n] = '\0';
}

/* The child's give finds the channel closed: EPIPE, no hang. */
Test(giveback, parent_killed_child_gets_epipe)
{
    int report[2], gop[2], out[2];
    char rfd[16], gfd[16], del[16], line[64];
    char path[4096], *argv[] = {path, rfd, gfd, del, NULL};
    posix_spawn_file_actions_t fa;
    pid_t parent;
    int child;

    cr_assert_eq(pipe2(report, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(gop, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, report[1], 10);
    posix_spawn_file_actions_adddup2(&fa, gop[0], 11);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    snprintf(path, sizeof path, "%s", helper_path("x_giveparent"));
    snprintf(rfd, sizeof rfd, "10");
    snprintf(gfd, sizeof gfd, "11");
    snprintf(del, sizeof del, "%d", suite_delivery());
    cr_assert_eq(posix_spawn(&parent, helper_path("x_giveparent"), &fa, NULL,
                             argv, environ),
                 0);
    posix_spawn_file_actions_destroy(&fa);
    close(report[1]);
    close(gop[0]);
    close(out[1]);
    read_line(out[0], line, sizeof line);
    close(out[0]);
    cr_assert_eq(sscanf(line, "pid %d", &child), 1, "x_giveparent: %s",
                 line);
    kill(parent, SIGKILL);
    cr_assert_eq(wait_exit(parent), 128 + SIGKILL);
    cr_assert_eq(write(gop[1], "g", 1), 1);
    assert_text(read_all(report[0]), "k EPIPE\n");
    close(gop[1]);
}

#define CHILDREN 64

Test(giveback, sixty_four_children_give_back)
{
    cph_attachments_t *list = list_new();
    char args[CHILDREN][16], want[16];
    pid_t pids[CHILDREN];

    expect_key(list, "k");
    for (int i = 0; i < CHILDREN; i++) {
        char *argv[] = {args[i], NULL};
        snprintf(args[i], sizeof args[i], "k=%d", i);
        pids[i] = spawn_out("h_give", argv, list, NULL);
    }
    for (int i = 0; i < CHILDREN; i++) {
        snprintf(want, sizeof want, "%d", i);
        assert_taken(pids[i], "k", want);
        cr_assert_eq(wait_exit(pids[i]), 0);
    }
    cph_attachments_destroy(list);
}

/* Once the child is gone and its handle taken, cph holds nothing for it. */
Test(giveback, nothing_left_after_exit)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"k=x", NULL};
    int before, fd;
    pid_t pid;

    expect_key(list, "k");
    expect_key(list, "never");
    start_server();
    fd = memfd_text("");
    close(fd); /* the same number is free again below */
    before = count_fds();
    pid = spawn_out("h_give", args, list, NULL);
    assert_taken(pid, "k", "x");
    /* ECONNABORTED comes after the channel is closed. */
    assert_take_fails(pid, "never", -1, ECONNABORTED);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_eq(count_fds(), before);
    cph_attachments_destroy(list);
}

/* What nobody takes is kept for the last 128 children that can no longer
 * give; past that the oldest entry is released, its fd closed. Children
 * are reaped only at the end, so that no pid is reused meanwhile. */
Test(giveback, untaken_handles_are_bounded)
{
    cph_attachments_t *list = list_new();
    char *first_args[] = {"k=first", NULL}, *args[] = {"k=later", NULL};
    pid_t pids[CPH__GIVEN_ENDED_MAX + 1];
    int before;

    expect_key(list, "k");
    expect_key(list, "never");
    start_server();
    before = count_fds();
    for (int i = 0; i <= CPH__GIVEN_ENDED_MAX; i++) {
        pids[i] = spawn_out("h_give", i ? args : first_args, list, NULL);
        assert_take_fails(pids[i], "never", -1, ECONNABORTED);
        if (i == CPH__GIVEN_ENDED_MAX - 1)
            cr_assert_eq(count_fds(), before + CPH__GIVEN_ENDED_MAX);
    }
    cr_assert_eq(count_fds(), before + CPH__GIVEN_ENDED_MAX);
    assert_take_fails(pids[0], "k", 0, ESRCH);
    assert_taken(pids[1], "k", "later");
    for (int i = 0; i <= CPH__GIVEN_ENDED_MAX; i++)
        cr_assert_eq(wait_exit(pids[i]), 0);
    cph_attachments_destroy(list);
}
