/*
 * kqueue and kevent (xnu bsd/kern/kern_event.c) on epoll. A kqueue is an epoll
 * fd; each knote has its own fd in it, level-triggered, tagged with the
 * knote's id: EVFILT_READ/WRITE  an epoll of its own holding the watched fd
 * (edge-triggered for EV_CLEAR), so that two filters on one fd, or one fd in
 * two kqueues, stay apart; EVFILT_MACHPORT    machsim__message_fd's fd,
 * readable while a message is queued; EVFILT_PROC        a pidfd, readable
 * once the process has exited. One lock guards every kqueue's knotes; kevent
 * waits without it, so that another thread can change a kqueue while one waits
 * on it (cph's server thread waits while cph_spawn adds).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <mach/message.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "process.h"

/* Guess: the most kqueues a process has at once (kqueue() fails with EMFILE
 * past it). */
#define KQ_MAX 256
#define SCAN_MAX 64

struct knote {
    uint64_t id;
    uintptr_t ident;
    int16_t filter;
    uint16_t flags; /* as registered: reported with each event */
    uint32_t sfflags;
    void *udata;
    int watch;
    bool disabled;
};

/* A slot is in use while fd >= 0. `marker`, an eventfd registered in the epoll
 * and nowhere else, proves that fd is still this kqueue: close() of a kqueue
 * goes unseen here, and its number can come back as anything. */
struct kq {
    int fd, marker;
    size_t count, alloc;
    struct knote *notes;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct kq kqs[KQ_MAX];
static int nkqs; /* slots [0, nkqs) were used once; an unused one has fd -1 */
static uint64_t next_id = 1;

static bool is_current(const struct kq *kq)
{
    struct epoll_event ev = {0};

    return kq->fd >= 0 &&
           epoll_ctl(kq->fd, EPOLL_CTL_MOD, kq->marker, &ev) == 0;
}

static void knote_close(struct knote *kn) { close(kn->watch); }

/* Frees the slot; closes the epoll fd only when it is still this kqueue's. */
static void kq_free(struct kq *kq, bool close_fd)
{
    for (size_t i = 0; i < kq->count; i++)
        knote_close(&kq->notes[i]);
    free(kq->notes);
    if (close_fd)
        close(kq->fd);
    close(kq->marker);
    *kq = (struct kq){.fd = -1, .marker = -1};
}

/* The kqueue whose fd is kqfd, or NULL (a stale slot of that number is freed).
 */
static struct kq *kq_find(int kqfd)
{
    for (int i = 0; i < nkqs; i++) {
        if (kqs[i].fd != kqfd)
            continue;
        if (is_current(&kqs[i]))
            return &kqs[i];
        kq_free(&kqs[i], false);
    }
    return NULL;
}

void machsim__kqueues_drop(void)
{
    for (int i = 0; i < nkqs; i++)
        if (is_current(&kqs[i]))
            close(kqs[i].fd);
}

/* xnu fdt_fork: a forked child has no kqueue (FG_CONFINED). Every knote's fd
 * goes with them. */
static void fork_prepare(void) { pthread_mutex_lock(&lock); }

static void fork_parent(void) { pthread_mutex_unlock(&lock); }

static void fork_child(void)
{
    for (int i = 0; i < nkqs; i++)
        if (kqs[i].fd >= 0)
            kq_free(&kqs[i], is_current(&kqs[i]));
    nkqs = 0;
    pthread_mutex_unlock(&lock);
}

static void install_atfork(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int kq_new(int fd, int marker)
{
    struct epoll_event ev = {0};
    int i;

    if (epoll_ctl(fd, EPOLL_CTL_ADD, marker, &ev) < 0)
        return errno;
    kq_find(fd);
    for (i = 0; i < nkqs && kqs[i].fd >= 0; i++)
        ;
    if (i == KQ_MAX)
        return EMFILE;
    if (i == nkqs)
        nkqs++;
    kqs[i] = (struct kq){.fd = fd, .marker = marker};
    return 0;
}

/* xnu kqueue_internal: the fd is close-on-exec (FP_CLOEXEC) and never
 * inherited by fork. */
int kqueue(void)
{
    int fd, marker, err;

    pthread_once(&once, install_atfork);
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return -1;
    marker = eventfd(0, EFD_CLOEXEC);
    if (marker < 0) {
        err = errno;
        goto fail;
    }
    pthread_mutex_lock(&lock);
    err = kq_new(fd, marker);
    pthread_mutex_unlock(&lock);
    if (!err)
        return fd;
    close(marker);
fail:
    close(fd);
    errno = err;
    return -1;
}

static struct knote *knote_find(struct kq *kq, uintptr_t ident, int16_t filter)
{
    for (size_t i = 0; i < kq->count; i++)
        if (kq->notes[i].ident == ident && kq->notes[i].filter == filter)
            return &kq->notes[i];
    return NULL;
}

static struct knote *knote_by_id(struct kq *kq, uint64_t id)
{
    for (size_t i = 0; i < kq->count; i++)
        if (kq->notes[i].id == id)
            return &kq->notes[i];
    return NULL;
}

/* Puts the knote's fd in the kqueue's epoll (enable) or takes it out
 * (disable). */
static int arm(struct kq *kq, const struct knote *kn, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = kn->id};

    if (epoll_ctl(kq->fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, kn->watch, &ev) <
        0)
        return errno;
    return 0;
}

static void knote_drop(struct kq *kq, struct knote *kn)
{
    if (!kn->disabled)
        arm(kq, kn, false);
    knote_close(kn);
    *kn = kq->notes[--kq->count];
}

/* (Re)places the watched fd in the knote's own epoll: EBADF for an fd that is
 * not open (kevent_register's fp_lookup). Guess: ENOTSUP for an fd epoll
 * cannot watch (a regular file, a directory), which xnu's filt_vnode would
 * take. */
static int watch_fd(const struct knote *kn)
{
    struct epoll_event ev = {
        .events =
            (kn->filter == EVFILT_READ ? EPOLLIN | EPOLLRDHUP : EPOLLOUT) |
            (kn->flags & EV_CLEAR ? EPOLLET : 0),
    };
    int fd = (int)kn->ident;

    if (kn->ident > INT32_MAX || fcntl(fd, F_GETFD) < 0)
        return EBADF;
    epoll_ctl(kn->watch, EPOLL_CTL_DEL, fd, NULL);
    if (epoll_ctl(kn->watch, EPOLL_CTL_ADD, fd, &ev) < 0)
        return errno == EPERM ? ENOTSUP : errno;
    return 0;
}

static int attach_fd(struct knote *kn)
{
    int err;

    kn->watch = epoll_create1(EPOLL_CLOEXEC);
    if (kn->watch < 0)
        return errno;
    err = watch_fd(kn);
    if (err) {
        close(kn->watch);
        kn->watch = -1;
    }
    return err;
}

/* xnu osfmk/ipc/ipc_pset.c filt_machportattach: ENOENT for a name that is no
 * right of ours, ENOTSUP for one that is neither a port set nor a receive
 * right. Receiving in kevent itself (MACH_RCV_MSG in fflags) is not modelled:
 * refused with ENOTSUP rather than ignored. */
static int attach_machport(struct knote *kn)
{
    kern_return_t kr;

    if (kn->sfflags & MACH_RCV_MSG)
        return ENOTSUP;
    kr = machsim__message_fd((mach_port_t)kn->ident, &kn->watch);
    if (kr != KERN_SUCCESS)
        kn->watch = -1;
    if (kr == KERN_INVALID_NAME)
        return ENOENT;
    return kr == KERN_SUCCESS ? 0 : ENOTSUP;
}

/* A zombie (state Z) or a dying process (X): past proc_prepareexit, where
 * xnu's proc_find no longer finds it. */
static bool exited(pid_t pid)
{
    char path[64], buf[512], *end;
    int fd;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    end = strrchr(buf, ')');
    return !end || end[1] != ' ' || end[2] == 'Z' || end[2] == 'X';
}

/* xnu filt_procattach: ENOTSUP for NOTE_TRACK, NOTE_TRACKERR, NOTE_CHILD;
 * ESRCH for a pid proc_find does not find, which includes a zombie; EV_CLEAR
 * is set whatever was asked. */
static int attach_proc(struct knote *kn)
{
    pid_t pid = (pid_t)kn->ident;

    if (kn->sfflags & (NOTE_TRACK | NOTE_TRACKERR | NOTE_CHILD))
        return ENOTSUP;
    if (pid <= 0 || kn->ident > INT32_MAX)
        return ESRCH;
    kn->watch = (int)syscall(SYS_pidfd_open, pid, 0);
    if (kn->watch < 0)
        return ESRCH;
    if (exited(pid)) {
        close(kn->watch);
        kn->watch = -1;
        return ESRCH;
    }
    kn->flags |= EV_CLEAR;
    return 0;
}

/* EV_ADD of a knote that does not exist (kevent_register, the attach path).
 * Guess: the filters cph does not use (timers, signals, vnodes, user events,
 * ...) are refused with ENOTSUP. */
static int attach(struct kq *kq, const struct kevent *ch, uint16_t flags)
{
    struct knote kn = {
        .id = next_id++,
        .ident = ch->ident,
        .filter = ch->filter,
        .flags = flags & ~(EV_RECEIPT | EV_ENABLE | EV_DISABLE),
        .sfflags = ch->fflags,
        .udata = ch->udata,
        .watch = -1,
        .disabled = flags & EV_DISABLE,
    };
    int err;

    if (kq->count == kq->alloc) {
        size_t n = kq->alloc ? kq->alloc * 2 : 8;
        struct knote *grown = realloc(kq->notes, n * sizeof *grown);

        if (!grown)
            return ENOMEM;
        kq->notes = grown;
        kq->alloc = n;
    }
    switch (ch->filter) {
    case EVFILT_READ:
    case EVFILT_WRITE:
        err = attach_fd(&kn);
        break;
    case EVFILT_MACHPORT:
        err = attach_machport(&kn);
        break;
    case EVFILT_PROC:
        err = attach_proc(&kn);
        break;
    default:
        return ENOTSUP;
    }
    if (!err && !kn.disabled)
        err = arm(kq, &kn, true);
    if (err) {
        if (kn.watch >= 0)
            close(kn.watch);
        return err;
    }
    kq->notes[kq->count++] = kn;
    return 0;
}

/* A change to an existing knote (kevent_register, the touch path): new udata
 * and fflags; for an fd filter, EV_ADD watches the fd (again: its number may
 * name another file by now) with the new EV_CLEAR; EV_DISABLE / EV_ENABLE take
 * it out of the queue or put it back. */
static int touch(struct kq *kq, struct knote *kn, const struct kevent *ch,
                 uint16_t flags)
{
    int err = 0;

    kn->udata = ch->udata;
    kn->sfflags = ch->fflags;
    if ((flags & EV_ADD) &&
        (kn->filter == EVFILT_READ || kn->filter == EVFILT_WRITE)) {
        kn->flags = (uint16_t)((kn->flags & ~EV_CLEAR) | (flags & EV_CLEAR));
        err = watch_fd(kn);
    }
    if (!err && (flags & EV_DISABLE) && !kn->disabled) {
        err = arm(kq, kn, false);
        kn->disabled = true;
    }
    if (!err && (flags & EV_ENABLE) && kn->disabled) {
        err = arm(kq, kn, true);
        kn->disabled = err != 0;
    }
    return err;
}

/* xnu kevent_register: EINVAL for a filter out of range; EV_DELETE overrules
 * EV_ADD and EV_DISABLE overrules EV_ENABLE; ENOENT for a change to a knote
 * that does not exist without EV_ADD. */
static int change(struct kq *kq, const struct kevent *ch)
{
    uint16_t flags = ch->flags;
    struct knote *kn;

    if (ch->filter >= 0 || ch->filter + EVFILT_SYSCOUNT < 0)
        return EINVAL;
    if (flags & EV_DELETE)
        flags &= (uint16_t)~EV_ADD;
    if (flags & EV_DISABLE)
        flags &= (uint16_t)~EV_ENABLE;
    kn = knote_find(kq, ch->ident, ch->filter);
    if (!kn)
        return flags & EV_ADD ? attach(kq, ch, flags) : ENOENT;
    if (flags & EV_DELETE) {
        knote_drop(kq, kn);
        return 0;
    }
    return touch(kq, kn, ch, flags);
}

static intptr_t fd_bytes(int fd, unsigned long request)
{
    int n = 0;

    return ioctl(fd, request, &n) < 0 ? 0 : n;
}

/* Room to write: the send buffer's free part for a socket (filt_sowrite's
 * sbspace), the pipe's for a pipe. */
static intptr_t write_space(int fd)
{
    struct stat st;
    int size = 0;
    socklen_t len = sizeof size;

    if (fstat(fd, &st) < 0)
        return 0;
    if (S_ISSOCK(st.st_mode)) {
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0)
            return 0;
        return size - fd_bytes(fd, SIOCOUTQ);
    }
    size = fcntl(fd, F_GETPIPE_SZ);
    return size < 0 ? 0 : size - fd_bytes(fd, FIONREAD);
}

/* EVFILT_READ: data is what can be read, EV_EOF once the other end is gone
 * (filt_soread, filt_piperead). EVFILT_WRITE: data is the room, EV_EOF once
 * the reader is gone (filt_sowrite: SBS_CANTSENDMORE; filt_pipewrite). */
static bool fd_event(const struct knote *kn, struct kevent *out)
{
    struct epoll_event ev;
    int fd = (int)kn->ident;

    if (epoll_wait(kn->watch, &ev, 1, 0) != 1)
        return false;
    if (kn->filter == EVFILT_READ) {
        out->data = fd_bytes(fd, FIONREAD);
        if (ev.events & (EPOLLRDHUP | EPOLLHUP))
            out->flags |= EV_EOF;
    } else if (ev.events & (EPOLLHUP | EPOLLERR)) {
        out->flags |= EV_EOF;
    } else {
        out->data = write_space(fd);
    }
    return true;
}

/* Level-triggered: reported while a message is queued. Guess: data is the
 * registered name (xnu reports the member port that has the message; only the
 * kernel knows it here). */
static bool machport_event(const struct knote *kn, struct kevent *out)
{
    struct pollfd p = {.fd = kn->watch, .events = POLLIN};

    if (poll(&p, 1, 0) != 1)
        return false;
    out->data = (intptr_t)kn->ident;
    return true;
}

/* filt_procevent: NOTE_EXIT once, with EV_EOF | EV_ONESHOT; NOTE_EXITSTATUS
 * adds the wait status when we may see it (here: our own child, whose status
 * waitid can peek at). */
static bool proc_event(struct knote *kn, struct kevent *out)
{
    siginfo_t info = {0};

    if (!(kn->sfflags & NOTE_EXIT))
        return false;
    out->fflags = NOTE_EXIT;
    out->flags |= EV_EOF | EV_ONESHOT;
    if ((kn->sfflags & NOTE_EXITSTATUS) &&
        waitid(P_PIDFD, (id_t)kn->watch, &info, WEXITED | WNOWAIT | WNOHANG) ==
            0 &&
        info.si_pid != 0) {
        out->fflags |= NOTE_EXITSTATUS;
        out->data =
            info.si_code == CLD_EXITED
                ? (info.si_status & 0xff) << 8
                : info.si_status | (info.si_code == CLD_DUMPED ? 0x80 : 0);
    }
    return true;
}

/* One knote the epoll reported: the event, if it still holds; then EV_ONESHOT
 * drops the knote and EV_DISPATCH disables it (knote_process). */
static bool deliver(struct kq *kq, struct knote *kn, struct kevent *out)
{
    bool fired;

    *out = (struct kevent){.ident = kn->ident,
                           .filter = kn->filter,
                           .flags = kn->flags,
                           .udata = kn->udata};
    if (kn->disabled)
        return false;
    if (kn->filter == EVFILT_MACHPORT)
        fired = machport_event(kn, out);
    else if (kn->filter == EVFILT_PROC)
        fired = proc_event(kn, out);
    else
        fired = fd_event(kn, out);
    if (!fired) {
        if (kn->filter == EVFILT_PROC)
            knote_drop(kq, kn);
        return false;
    }
    if (out->flags & EV_ONESHOT)
        knote_drop(kq, kn);
    else if (kn->flags & EV_DISPATCH) {
        arm(kq, kn, false);
        kn->disabled = true;
    }
    return true;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits (without the lock) until some knote fires, or the timeout passes (0
 * events). */
static int scan(int kqfd, struct kevent *events, int nevents,
                const struct timespec *timeout)
{
    int64_t deadline =
        timeout ? now_ns() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec
                : 0;

    for (;;) {
        struct epoll_event ev[SCAN_MAX];
        int64_t left = timeout ? deadline - now_ns() : -1;
        int ms =
            left < 0 ? (timeout ? 0 : -1) : (int)((left + 999999) / 1000000);
        int n = epoll_wait(kqfd, ev, nevents < SCAN_MAX ? nevents : SCAN_MAX,
                           ms),
            out = 0;
        struct kq *kq;

        if (n < 0)
            return -1;
        pthread_mutex_lock(&lock);
        kq = kq_find(kqfd);
        for (int i = 0; kq && i < n; i++) {
            struct knote *kn = knote_by_id(kq, ev[i].data.u64);

            if (kn && deliver(kq, kn, &events[out]))
                out++;
        }
        pthread_mutex_unlock(&lock);
        if (!kq) {
            errno = EBADF;
            return -1;
        }
        if (out > 0 || ms == 0)
            return out;
    }
}

/* xnu kevent_internal: each change in turn; a failed one (or, with EV_RECEIPT,
 * any) is reported as an EV_ERROR event while there is room in the event list,
 * else the call fails with its errno and the changes after it are not made.
 * Events are only waited for when no change was reported. */
int kevent(int kqfd, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout)
{
    int out = 0, err = 0;
    struct kq *kq;

    if (nchanges < 0 || nevents < 0 ||
        (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                     timeout->tv_nsec >= 1000000000))) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&lock);
    kq = kq_find(kqfd);
    for (int i = 0; kq && i < nchanges; i++) {
        struct kevent ch = changelist[i];
        int e;

        ch.flags &= (uint16_t)~EV_SYSFLAGS;
        e = change(kq, &ch);
        if (e == 0 && !(ch.flags & EV_RECEIPT))
            continue;
        if (out < nevents) {
            eventlist[out] = ch;
            eventlist[out].flags |= EV_ERROR;
            eventlist[out++].data = e;
        } else if (e) {
            err = e;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (!kq)
        err = EBADF;
    if (err) {
        errno = err;
        return -1;
    }
    if (out > 0 || nevents == 0)
        return out;
    return scan(kqfd, eventlist, nevents, timeout);
}
