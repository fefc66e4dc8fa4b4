/*
 * A parent that never blocks: cph_child_pollfd's fd polls readable when
 * cph has news, after which cph_checkin_wait(pid, 0) and cph_take_fd(pid,
 * key, 0, ...) answer; cph_child_pidfd. Runs under both deliveries.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* What poll says of fd within ms (0: nothing yet). */
static short events(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, ms);

    cr_assert_geq(n, 0);
    return n ? p.revents : 0;
}

/* fd has news (readable, not hung up): the liveness bound only. */
static void assert_news(int fd)
{
    cr_assert_eq(events(fd, LIVENESS_MS), POLLIN, "no news");
}

static void assert_quiet(int fd)
{
    cr_assert_eq(events(fd, 0), 0, "news where none is");
}

static void assert_hangs_up(int fd)
{
    cr_assert(events(fd, LIVENESS_MS) & POLLHUP, "no hang-up");
}

static int pollfd_of(pid_t pid)
{
    int fd = -1, err = cph_child_pollfd(pid, &fd);

    cr_assert_eq(err, 0, "pollfd: %s", strerror(err));
    cr_assert((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    return fd;
}

static void take(pid_t pid, const char *key, int want)
{
    int fd = -1, err = cph_take_fd(pid, key, 0, &fd);

    cr_assert_eq(err, want, "take %s: %s", key, strerror(err));
    if (fd >= 0)
        close(fd);
}

/* A pipe whose read end goes to list under "go"; returns the write end
 * (each byte lets h_give past one "wait"). */
static int attach_go(cph_attachments_t *list)
{
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    list_add(list, "go", p[0]);
    return p[1];
}

/* The outcome wakes the loop; once told, the fd has nothing more to say. */
Test(pollfd, outcome)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"wait", NULL};
    int go = attach_go(list), report = attach_report(list), fd;
    pid_t pid = spawn_helper("h_give", args, list);

    fd = pollfd_of(pid);
    assert_news(fd);
    cr_assert_eq(cph_checkin_wait(pid, 0), 0);
    assert_hangs_up(fd);
    close(fd);
    cr_assert_eq(write(go, "g", 1), 1);
    close(go);
    assert_text(finish_report(pid, report), "");
    cph_attachments_destroy(list);
}

/* Each given handle wakes the loop until taken; the child's exit, which
 * ends the gives, hangs it up. */
Test(pollfd, gives)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"wait", "a=one", "wait", "b=two", "wait", NULL};
    int go = attach_go(list), report = attach_report(list), fd;
    pid_t pid;

    cr_assert_eq(cph_attachments_expect(list, "a"), 0);
    cr_assert_eq(cph_attachments_expect(list, "b"), 0);
    cr_assert_eq(cph_attachments_expect(list, "never"), 0);
    pid = spawn_helper("h_give", args, list);
    fd = pollfd_of(pid);
    assert_news(fd);
    cr_assert_eq(cph_checkin_wait(pid, 0), 0);
    assert_quiet(fd);
    take(pid, "a", ETIMEDOUT);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(write(go, "g", 1), 1);
        assert_news(fd);
        take(pid, i ? "b" : "a", 0);
        assert_quiet(fd);
    }
    cr_assert_eq(write(go, "g", 1), 1);
    close(go);
    assert_hangs_up(fd);
    take(pid, "never", ECONNABORTED);
    take(pid, "a", EALREADY);
    close(fd);
    assert_text(finish_report(pid, report), "a 0\nb 0\n");
    cph_attachments_destroy(list);
}

/* A child that never checks in: its exit is the news. */
Test(pollfd, never_checks_in)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"sleep", "/dev/null", "0", NULL};
    int fd, other;
    pid_t pid;

    list_add(list, "m", memfd_text("x"));
    cr_assert_eq(cph_attachments_expect(list, "back"), 0);
    pid = spawn_helper("h_plain", args, list);
    fd = pollfd_of(pid);
    other = pollfd_of(pid);
    cr_assert_neq(fd, other);
    assert_news(fd);
    assert_news(other);
    cr_assert_eq(cph_checkin_wait(pid, 0), ENOTCONN);
    take(pid, "back", ECONNABORTED);
    assert_hangs_up(fd);
    assert_hangs_up(other);
    close(fd);
    close(other);
    cr_assert_eq(wait_exit(pid), 0);
    cph_attachments_destroy(list);
}

Test(pollfd, bad_arguments)
{
    int fd = -1;

    cr_assert_eq(cph_child_pollfd(0, &fd), ESRCH);
    cr_assert_eq(cph_child_pollfd(-1, &fd), ESRCH);
    cr_assert_eq(cph_child_pollfd(getpid(), &fd), ESRCH);
    cr_assert_eq(cph_child_pidfd(getpid(), &fd), ESRCH);
    cr_assert_eq(fd, -1);
    cr_assert_eq(cph_child_pollfd(getpid(), NULL), EINVAL);
    cr_assert_eq(cph_child_pidfd(getpid(), NULL), EINVAL);
}

/* The pidfd polls readable at the exit; reaping through it works. */
Test(pollfd, pidfd)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"sleep", "/dev/null", "0", NULL};
    siginfo_t info = {0};
    int fd = -1, err;
    pid_t pid;

    list_add(list, "m", memfd_text("x"));
    pid = spawn_helper("h_plain", args, list);
    err = cph_child_pidfd(pid, &fd);
    cr_assert_eq(err, 0, "pidfd: %s", strerror(err));
    cr_assert((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    cr_assert_eq(events(fd, LIVENESS_MS), POLLIN);
    cr_assert_eq(waitid((idtype_t)3 /* P_PIDFD */, (id_t)fd, &info, WEXITED),
                 0);
    cr_assert_eq(info.si_pid, pid);
    close(fd);
    cph_attachments_destroy(list);
}

/* Every fd cph made for the news is closed once told, and the caller's
 * own are the caller's. */
Test(pollfd, no_leak)
{
    cph_attachments_t *list;
    char *args[] = {"wait", "a=one", NULL};
    int before, go, report, fd, pidfd;
    pid_t pid;

    start_server();
    list = list_new();
    go = attach_go(list);
    report = attach_report(list);
    cr_assert_eq(cph_attachments_expect(list, "a"), 0);
    before = count_fds();
    pid = spawn_helper("h_give", args, list);
    fd = pollfd_of(pid);
    cr_assert_eq(cph_child_pidfd(pid, &pidfd), 0);
    assert_news(fd);
    cr_assert_eq(cph_checkin_wait(pid, 0), 0);
    cr_assert_eq(write(go, "g", 1), 1);
    assert_news(fd);
    take(pid, "a", 0);
    assert_hangs_up(fd);
    cr_assert_eq(events(pidfd, LIVENESS_MS), POLLIN);
    assert_text(finish_report(pid, report), "a 0\n");
    close(fd);
    close(pidfd);
    cr_assert_eq(count_fds(), before - 1, "report's end was closed");
    close(go);
    cph_attachments_destroy(list);
}
