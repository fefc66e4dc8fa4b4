#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../transport.h"
#include "loop.h"

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
            enum cph__tag tag = (enum cph__tag)(data & 7);

            if (tag == CPH__TAG_END || tag == CPH__TAG_DIED)
                cph__direct_event(data >> 3, tag);
            else if (tag == CPH__TAG_GIVE || tag == CPH__TAG_GONE)
                cph__give_event((void *)(uintptr_t)(data & ~(uint64_t)7),
                                tag);
            else
                cph__server_event(tag == CPH__TAG_CONN ? data & ~(uint64_t)7
                                                       : data >> 3,
                                  tag);
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
