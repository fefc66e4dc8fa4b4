#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../transport.h"
#include "loop.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int epoll_fd = -1;
/* The thread, started before the first child exists: it waits for its
 * epoll set, made once a child needs watching, and ends if the spawn that
 * started it failed (cph__loop_idle) before one did. */
static bool thread_started, thread_wanted;
static pthread_cond_t thread_wake;
/* The quiet set (loop.h): its epoll fd, how many channels it watches,
 * and how many threads wait in cph_checkin_wait on the thread. */
static int quiet_fd = -1;
static size_t quiet_count, attending;

static void quiet_join(bool join);

static void *run(void *arg)
{
    struct epoll_event ev[32];
    int timeout = -1;

    bool needed;

    (void)arg;
    cph__lock();
    while (epoll_fd < 0 && thread_wanted)
        cph__cond_wait(&thread_wake, -1);
    needed = epoll_fd >= 0;
    thread_started = needed;
    cph__unlock();
    if (!needed)
        return NULL;
    for (;;) {
        int n = epoll_wait(epoll_fd, ev, 32, timeout);

        for (int i = 0; i < n; i++) {
            uint64_t data = ev[i].data.u64;
            enum cph__tag tag = (enum cph__tag)(data & CPH__TAG_MASK);
            void *ptr = (void *)(uintptr_t)(data & ~(uint64_t)CPH__TAG_MASK);

            switch (tag) {
            case CPH__TAG_GIVE:
            case CPH__TAG_GONE:
                cph__give_event(ptr, tag);
                break;
            case CPH__TAG_QUIET:
                cph__handed_ready();
                break;
            case CPH__TAG_CONN:
                cph__server_event((uint64_t)(uintptr_t)ptr, tag);
                break;
            default:
                cph__server_event(data >> 4, tag);
            }
        }
        cph__give_sweep();
        timeout = cph__server_tick();
    }
    return NULL;
}

int cph__loop_start(void)
{
    int err;

    thread_wanted = true;
    if (thread_started)
        return 0;
    if (epoll_fd < 0)
        cph__cond_init(&thread_wake);
    err = cph__thread_start(run);
    thread_started = err == 0;
    return err;
}

void cph__loop_idle(void)
{
    if (epoll_fd < 0 && thread_started) {
        thread_wanted = false;
        pthread_cond_signal(&thread_wake);
    }
}

/* The thread's epoll set, made when a child first needs watching. Once
 * it exists the thread runs for good, and the thread itself comes here
 * (without cph's lock): nothing more to start. */
static int loop_open(void)
{
    int err;

    if (epoll_fd >= 0)
        return 0;
    err = cph__loop_start();
    if (err)
        return err;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return errno;
    if (attending > 0)
        quiet_join(true);
    pthread_cond_signal(&thread_wake);
    return 0;
}

int cph__loop_watch(int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    int err = loop_open();

    if (err)
        return err;
    return epoll_ctl(epoll_fd, op, fd, &ev) < 0 ? errno : 0;
}

/* The quiet set joins the thread's set, or leaves it. */
static void quiet_join(bool join)
{
    struct epoll_event ev = {.events = EPOLLIN,
                             .data.u64 = cph__tagged(0, CPH__TAG_QUIET)};

    if (quiet_fd >= 0 && epoll_fd >= 0)
        epoll_ctl(epoll_fd, join ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, quiet_fd,
                  &ev);
}

static int quiet_open(void)
{
    if (quiet_fd >= 0)
        return 0;
    quiet_fd = epoll_create1(EPOLL_CLOEXEC);
    if (quiet_fd < 0)
        return errno;
    if (attending > 0)
        quiet_join(true);
    return 0;
}

int cph__loop_quiet_watch(int fd, uint32_t events, uint64_t data,
                          bool channel)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    int err = quiet_open();

    if (err)
        return err;
    if (epoll_ctl(quiet_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return errno;
    quiet_count += channel;
    return 0;
}

int cph__loop_quiet_wait(int ms)
{
    struct pollfd pfd = {.fd = quiet_fd, .events = POLLIN};

    return poll(&pfd, 1, ms);
}

int cph__loop_quiet_ready(uint64_t *data, int max)
{
    struct epoll_event ev[32];
    int n;

    if (quiet_fd < 0)
        return 0;
    n = epoll_wait(quiet_fd, ev, max < 32 ? max : 32, 0);
    for (int i = 0; i < n; i++)
        data[i] = ev[i].data.u64;
    return n < 0 ? 0 : n;
}

size_t cph__loop_quiet_count(void)
{
    return quiet_count;
}

int cph__loop_follow(void)
{
    int err = loop_open();

    if (!err)
        cph__loop_attend(true);
    return err;
}

void cph__loop_attend(bool more)
{
    if (more ? attending++ == 0 : --attending == 0)
        quiet_join(more);
}

/* An fd is in one set at most. */
void cph__loop_unwatch(int fd)
{
    if (quiet_fd >= 0 && epoll_ctl(quiet_fd, EPOLL_CTL_DEL, fd, NULL) == 0)
        quiet_count--;
    else if (epoll_fd >= 0)
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

void cph__loop_forget(void)
{
    if (epoll_fd >= 0)
        close(epoll_fd);
    if (quiet_fd >= 0)
        close(quiet_fd);
    epoll_fd = quiet_fd = -1;
    quiet_count = attending = 0;
    thread_started = thread_wanted = false;
}

int cph__pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int cph__child_pidfd(struct cph__record *r)
{
    int pidfd = r->exit_fd;

    if (pidfd < 0)
        return cph__pidfd_open(r->pid);
    r->exit_fd = -1;
    return pidfd;
}

/* pidfd_open's fds are close-on-exec (kernel/pid.c, pidfd_create). */
int cph__exit_fd(pid_t pid, int *fd)
{
    int pidfd = cph__pidfd_open(pid);

    if (pidfd < 0)
        return errno;
    *fd = pidfd;
    return 0;
}
