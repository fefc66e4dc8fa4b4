/*
 * Rule tests of the simulator's kqueue (lib/kqueue.c), SO_NOSIGPIPE
 * (lib/socket.c) and audit tokens (lib/audit.c): one Test per rule, the
 * expectation from xnu-11417 bsd/kern/kern_event.c (kevent_internal,
 * kevent_register, filt_procattach, filt_procevent), osfmk/ipc/ipc_pset.c
 * (filt_machportattach) and bsd/kern/kern_descrip.c (fdt_fork). Mach port sets
 * come from stub_kernel.c.
 */
#define _GNU_SOURCE
#include <bsm/libbsm.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stub_kernel.h"

static const struct timespec zero = {0, 0};

static int new_kq(void)
{
    int kq = kqueue();

    cr_assert_geq(kq, 0);
    return kq;
}

static int change(int kq, uintptr_t ident, int16_t filter, uint16_t flags,
                  uint32_t fflags, void *udata)
{
    struct kevent ev;

    EV_SET(&ev, ident, filter, flags, fflags, 0, udata);
    return kevent(kq, &ev, 1, NULL, 0, NULL) < 0 ? errno : 0;
}

/* The events ready now (at most 4). */
static int poll_kq(int kq, struct kevent *ev)
{
    int n = kevent(kq, NULL, 0, ev, 4, &zero);

    cr_assert_geq(n, 0, "kevent: %s", strerror(errno));
    return n;
}

/* A pipe with `bytes` bytes in it. */
static void pipe_with(int p[2], size_t bytes)
{
    cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    if (bytes)
        cr_assert_eq(write(p[1], "abcdefgh", bytes), (ssize_t)bytes);
}

/* kevent_internal works on a kqueue only (EBADF otherwise, also for a kqueue
 * closed and its number reused by a pipe). */
Test(kqueue, not_a_kqueue_ebadf)
{
    struct kevent ev;
    int kq = new_kq(), p[2];

    cr_assert_eq(kevent(-1, NULL, 0, &ev, 1, &zero), -1);
    cr_assert_eq(errno, EBADF);
    close(kq);
    pipe_with(p, 0);
    cr_assert(p[0] == kq || p[1] == kq, "the number was not reused");
    cr_assert_eq(kevent(kq, NULL, 0, &ev, 1, &zero), -1);
    cr_assert_eq(errno, EBADF);
}

/* kqueue_internal: a kqueue is close-on-exec. */
Test(kqueue, cloexec) { cr_assert(fcntl(new_kq(), F_GETFD) & FD_CLOEXEC); }

/* kevent_register: a filter outside [-EVFILT_SYSCOUNT, -1] is EINVAL; a failed
 * change is an EV_ERROR event (data = errno) while the event list has room. */
Test(kqueue, bad_filter_einval)
{
    struct kevent ch, ev;
    int kq = new_kq();

    EV_SET(&ch, 0, 0, EV_ADD, 0, 0, (void *)7);
    cr_assert_eq(kevent(kq, &ch, 1, &ev, 1, NULL), 1);
    cr_assert(ev.flags & EV_ERROR);
    cr_assert_eq(ev.data, EINVAL);
    cr_assert_eq(ev.udata, (void *)7);
    cr_assert_eq(change(kq, 0, -EVFILT_SYSCOUNT - 1, EV_ADD, 0, NULL), EINVAL);
}

/* kevent_register: a change to a knote that does not exist, without EV_ADD, is
 * ENOENT. */
Test(kqueue, missing_knote_enoent)
{
    int kq = new_kq(), p[2];

    pipe_with(p, 0);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, NULL),
                 ENOENT);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ENABLE, 0, NULL),
                 ENOENT);
}

/* kevent_internal: without room for an EV_ERROR event, the first failing
 * change fails the call, and the changes after it are not made. */
Test(kqueue, error_without_room_stops)
{
    struct kevent ch[2];
    int kq = new_kq(), p[2];

    pipe_with(p, 0);
    EV_SET(&ch[0], (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[1], (uintptr_t)p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    cr_assert_eq(kevent(kq, ch, 2, NULL, 0, NULL), -1);
    cr_assert_eq(errno, ENOENT);
    cr_assert_eq(change(kq, (uintptr_t)p[1], EVFILT_WRITE, EV_DELETE, 0, NULL),
                 ENOENT, "the second change was made");
}

/* EV_RECEIPT: each change is reported (EV_ERROR, data 0), and then kevent
 * returns at once, without waiting for events. */
Test(kqueue, receipt)
{
    struct kevent ch, ev;
    int kq = new_kq(), p[2];

    pipe_with(p, 0);
    EV_SET(&ch, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    cr_assert_eq(kevent(kq, &ch, 1, &ev, 1, NULL), 1);
    cr_assert(ev.flags & EV_ERROR);
    cr_assert_eq(ev.data, 0);
}

/* kevent_register's fp_lookup: an fd filter on an fd that is not open is
 * EBADF. */
Test(kqueue, closed_fd_ebadf)
{
    cr_assert_eq(change(new_kq(), 900, EVFILT_READ, EV_ADD, 0, NULL), EBADF);
}

/* EVFILT_READ, level-triggered: reported while there is data, with its size
 * and udata. */
Test(kqueue, read_level)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 3);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, (void *)42), 0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[0]);
    cr_assert_eq(ev[0].filter, EVFILT_READ);
    cr_assert_eq(ev[0].data, 3);
    cr_assert_eq(ev[0].udata, (void *)42);
    cr_assert_eq(poll_kq(kq, ev), 1, "level-triggered: reported again");
}

/* EV_CLEAR: reported once per change of state. */
Test(kqueue, read_clear)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 3);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL),
        0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(poll_kq(kq, ev), 0);
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_assert_eq(poll_kq(kq, ev), 1);
}

/* filt_piperead: EV_EOF once every writer is gone. */
Test(kqueue, read_eof)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 0);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
    cr_assert_eq(poll_kq(kq, ev), 0);
    close(p[1]);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert(ev[0].flags & EV_EOF);
}

/* filt_sowrite: the write end of cph's pipe (a socketpair shut to one
 * direction) is writable without EV_EOF, then, once the peer closed, EV_EOF;
 * with EV_CLEAR, once each. */
Test(kqueue, write_eof_when_reader_gone)
{
    struct kevent ev[4];
    int kq = new_kq(), s[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    cr_assert_eq(shutdown(s[0], SHUT_WR), 0);
    cr_assert_eq(shutdown(s[1], SHUT_RD), 0);
    cr_assert_eq(
        change(kq, (uintptr_t)s[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL),
        0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_not(ev[0].flags & EV_EOF);
    cr_assert_eq(poll_kq(kq, ev), 0);
    close(s[0]);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert(ev[0].flags & EV_EOF);
}

/* filt_pipewrite: EV_EOF once the reader is gone. */
Test(kqueue, pipe_write_eof)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 0);
    cr_assert_eq(change(kq, (uintptr_t)p[1], EVFILT_WRITE, EV_ADD, 0, NULL),
                 0);
    close(p[0]);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert(ev[0].flags & EV_EOF);
}

/* EV_ONESHOT: reported once, then the knote is gone. */
Test(kqueue, oneshot)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 1);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, NULL),
        0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(poll_kq(kq, ev), 0);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, NULL),
                 ENOENT);
}

/* EV_DISABLE keeps the knote but reports nothing; EV_ENABLE reports again. */
Test(kqueue, disable_enable)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 1);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_DISABLE, 0, NULL),
        0);
    cr_assert_eq(poll_kq(kq, ev), 0);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ENABLE, 0, NULL),
                 0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_DISABLE, 0, NULL),
                 0);
    cr_assert_eq(poll_kq(kq, ev), 0);
}

/* EV_DELETE removes the knote: nothing more is reported. */
Test(kqueue, delete)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 1);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
    cr_assert_eq(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, NULL),
                 0);
    cr_assert_eq(poll_kq(kq, ev), 0);
}

/* A second EV_ADD of a knote touches it: the new udata is reported. */
Test(kqueue, touch_udata)
{
    struct kevent ev[4];
    int kq = new_kq(), p[2];

    pipe_with(p, 1);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, (void *)1), 0);
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, (void *)2), 0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(ev[0].udata, (void *)2);
}

/* A knote is (ident, filter): EVFILT_READ and EVFILT_WRITE on one socket are
 * two knotes. */
Test(kqueue, read_and_write_on_one_fd)
{
    struct kevent ev[4];
    int kq = new_kq(), s[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    cr_assert_eq(change(kq, (uintptr_t)s[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
    cr_assert_eq(change(kq, (uintptr_t)s[0], EVFILT_WRITE, EV_ADD, 0, NULL),
                 0);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);
    cr_assert_eq(write(s[1], "x", 1), 1);
    cr_assert_eq(poll_kq(kq, ev), 2);
}

/* The timeout bounds the wait: nothing ready, 0 events. */
Test(kqueue, timeout)
{
    struct timespec t = {0, 20 * 1000 * 1000};
    struct kevent ev;

    cr_assert_eq(kevent(new_kq(), NULL, 0, &ev, 1, &t), 0);
}

static pid_t child_waiting(int go[2])
{
    pid_t pid;
    char c;

    cr_assert_eq(pipe(go), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(go[1]);
        _exit(read(go[0], &c, 1) == 1 ? c : 0);
    }
    close(go[0]);
    return pid;
}

/* filt_procattach / filt_procevent: NOTE_EXIT once the process exits, with
 * EV_EOF and EV_ONESHOT; NOTE_EXITSTATUS adds the wait status for a child. */
Test(kqueue, proc_exit)
{
    struct kevent ev[4];
    int kq = new_kq(), go[2];
    pid_t pid = child_waiting(go);

    cr_assert_eq(change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD,
                        NOTE_EXIT | NOTE_EXITSTATUS, (void *)5),
                 0);
    cr_assert_eq(poll_kq(kq, ev), 0);
    cr_assert_eq(write(go[1], "\7", 1), 1);
    cr_assert_eq(kevent(kq, NULL, 0, ev, 4, NULL), 1);
    cr_assert(ev[0].fflags & NOTE_EXIT);
    cr_assert_eq(ev[0].flags & (EV_EOF | EV_ONESHOT), EV_EOF | EV_ONESHOT);
    cr_assert_eq(ev[0].data, 7 << 8);
    cr_assert_eq(ev[0].udata, (void *)5);
    cr_assert_eq(poll_kq(kq, ev), 0, "one-shot");
    waitpid(pid, NULL, 0);
}

/* filt_procattach: proc_find does not find a process past proc_prepareexit, so
 * a zombie, like a pid that does not exist, is ESRCH. */
Test(kqueue, proc_zombie_esrch)
{
    siginfo_t info;
    int kq = new_kq(), go[2];
    pid_t pid = child_waiting(go);

    close(go[1]);
    cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    cr_assert_eq(
        change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, NULL),
        ESRCH);
    waitpid(pid, NULL, 0);
    cr_assert_eq(
        change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, NULL),
        ESRCH);
}

/* filt_procattach: NOTE_TRACK, NOTE_TRACKERR and NOTE_CHILD are ENOTSUP. */
Test(kqueue, proc_track_enotsup)
{
    cr_assert_eq(change(new_kq(), (uintptr_t)getpid(), EVFILT_PROC, EV_ADD,
                        NOTE_EXIT | NOTE_TRACK, NULL),
                 ENOTSUP);
}

/* EVFILT_MACHPORT on a port set: level-triggered, reported while a message is
 * queued. */
Test(kqueue, machport_level)
{
    struct kevent ev[4];
    int kq = new_kq();

    cr_assert_eq(change(kq, 0x103, EVFILT_MACHPORT, EV_ADD, 0, (void *)9), 0);
    cr_assert_eq(poll_kq(kq, ev), 0);
    stub_queue(0x103, 2);
    cr_assert_eq(poll_kq(kq, ev), 1);
    cr_assert_eq(ev[0].filter, EVFILT_MACHPORT);
    cr_assert_eq(ev[0].udata, (void *)9);
    cr_assert_eq(poll_kq(kq, ev), 1, "level-triggered: reported again");
    stub_queue(0x103, -2);
    cr_assert_eq(poll_kq(kq, ev), 0);
}

/* filt_machportattach: ENOENT for a name that is no right; ENOTSUP for one
 * that is neither a port set nor a receive right. */
Test(kqueue, machport_errors)
{
    int kq = new_kq();

    cr_assert_eq(change(kq, STUB_NO_NAME, EVFILT_MACHPORT, EV_ADD, 0, NULL),
                 ENOENT);
    cr_assert_eq(change(kq, STUB_SEND_RIGHT, EVFILT_MACHPORT, EV_ADD, 0, NULL),
                 ENOTSUP);
}

/* One thread waits in kevent while another adds a knote that is ready: the
 * waiter gets it (cph's server thread and cph_spawn). */
static void *wait_one(void *arg)
{
    struct kevent ev;
    int kq = *(int *)arg;

    return (void *)(intptr_t)(kevent(kq, NULL, 0, &ev, 1, NULL) == 1 ? ev.udata
                                                                     : NULL);
}

Test(kqueue, add_while_waiting, .timeout = 30)
{
    int kq = new_kq(), p[2];
    pthread_t t;
    void *got;

    pipe_with(p, 1);
    cr_assert_eq(pthread_create(&t, NULL, wait_one, &kq), 0);
    usleep(100 *
           1000); /* not a bound: the add may come before or during the wait */
    cr_assert_eq(
        change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD, 0, (void *)3), 0);
    cr_assert_eq(pthread_join(t, &got), 0);
    cr_assert_eq(got, (void *)3);
}

/* xnu fdt_fork: a forked child has none of its parent's kqueues. */
Test(kqueue, not_inherited_by_fork)
{
    int kq = new_kq(), status;
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(fcntl(kq, F_GETFD) < 0 && errno == EBADF ? 0 : 1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(WEXITSTATUS(status), 0);
}

/* uipc_socket.c sosetopt: SO_NOSIGPIPE takes an int on a socket (ENOTSOCK
 * otherwise, EINVAL for a shorter value); other options reach the socket. */
Test(socket, so_nosigpipe)
{
    int s[2], p[2], on = 1, size = 0;
    socklen_t len = sizeof size;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    cr_assert_eq(setsockopt(s[0], SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on),
                 0);
    cr_assert_eq(setsockopt(s[0], SOL_SOCKET, SO_NOSIGPIPE, &on, 2), -1);
    cr_assert_eq(errno, EINVAL);
    pipe_with(p, 0);
    cr_assert_eq(setsockopt(p[0], SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on),
                 -1);
    cr_assert_eq(errno, ENOTSOCK);
    on = 65536;
    cr_assert_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &on, sizeof on), 0);
    cr_assert_eq(getsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &size, &len), 0);
    cr_assert_geq(size, 65536);
}

/* proc_calc_audit_token: auid, euid, egid, ruid, rgid, pid, asid, pid version,
 * in that order. */
Test(audit, token_fields)
{
    audit_token_t t = {{10, 11, 12, 13, 14, 15, 16, 17}};

    cr_assert_eq(audit_token_to_auid(t), 10);
    cr_assert_eq(audit_token_to_euid(t), 11);
    cr_assert_eq(audit_token_to_egid(t), 12);
    cr_assert_eq(audit_token_to_ruid(t), 13);
    cr_assert_eq(audit_token_to_rgid(t), 14);
    cr_assert_eq(audit_token_to_pid(t), 15);
    cr_assert_eq(audit_token_to_asid(t), 16);
    cr_assert_eq(audit_token_to_pidversion(t), 17);
}
