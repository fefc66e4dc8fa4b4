#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../transport.h"
#include "loop.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int epoll_fd = -1;

static void *run(void *arg)
{
    struct epoll_event ev[32];
    int timeout = -1;

    (void)arg;
    for (;;) {
        int n = epoll_wait(epoll_fd, ev, 32, timeout);

        for (int i = 0; i < n; i++) {
            uint64_t data = ev[i].data.u64;
            enum cph__tag tag = (enum cph__tag)(data & CPH__TAG_MASK);
            void *ptr = (void *)(uintptr_t)(data & ~(uint64_t)CPH__TAG_MASK);

            switch (tag) {
            case CPH__TAG_END:
            case CPH__TAG_DIED:
            case CPH__TAG_SENDER:
                cph__direct_event(data >> 4, tag);
                break;
            case CPH__TAG_GIVE:
            case CPH__TAG_GONE:
                cph__give_event(ptr, tag);
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

    if (epoll_fd >= 0)
        return 0;
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return errno;
    err = cph__thread_start(run);
    if (err) {
        close(epoll_fd);
        epoll_fd = -1;
    }
    return err;
}

int cph__loop_watch(int op, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    int err = cph__loop_start();

    if (err)
        return err;
    return epoll_ctl(epoll_fd, op, fd, &ev) < 0 ? errno : 0;
}

void cph__loop_forget(void)
{
    if (epoll_fd >= 0)
        close(epoll_fd);
    epoll_fd = -1;
}

int cph__pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
