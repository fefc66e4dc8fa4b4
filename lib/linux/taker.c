/*
 * Who took a direct child's handles. Its ack carries the pid the kernel
 * stamped on it (SCM_CREDENTIALS, asked for with SO_PASSCRED): a process
 * without CAP_SYS_ADMIN cannot claim another's (scm_check_creds). The
 * taker must be the spawned process (an exec-ing wrapper keeps its pid)
 * or one of its descendants (a wrapper that forks), which /proc tells
 * while the processes in between exist.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"

/* Deeper than this is no wrapper's tree. */
#define DEPTH_MAX 64

/* pid's parent: /proc/<pid>/stat's fourth field, after the command,
 * which ends at the last ')'. 0 once pid is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[32], buf[256], *end;
    int fd, ppid = 0;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    end = strrchr(buf, ')');
    if (!end || sscanf(end, ") %*c %d", &ppid) != 1)
        return 0;
    return ppid;
}

bool cph__taker_ok(pid_t taker, pid_t child)
{
    pid_t self = getpid();

    if (taker <= 0 || taker == self)
        return false;
    for (int depth = 0; depth < DEPTH_MAX; depth++) {
        pid_t parent;

        if (taker == child)
            return true;
        parent = parent_of(taker);
        /* Gone before it could be placed (a wrapper's child that has
         * exited and been reaped): the benefit of the doubt. */
        if (parent == 0)
            return true;
        if (parent == 1 || parent == self)
            return false;
        taker = parent;
    }
    return false;
}
