/*
 * CPH_DEBUG=1: one line on stderr from libcph_child's constructor, saying
 * what it found and what it did, so that a check-in that failed (or never
 * happened) can be told apart without a debugger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

#include "trace.h"

static const char *cause(const char *value, int status)
{
    switch (status) {
    case EINVAL:
        return "CPH_HANDSHAKE is stale or malformed";
    case EBADF:
        if (value[0] == 'n')
            return "the registered-port slot it names holds no port: the "
                   "value was inherited from an earlier process";
        return "the fd it names is not cph's channel: the launcher closed it "
               "(posix_spawn_file_actions_addclosefrom_np, closefrom) or the "
               "value was inherited from an earlier process";
    case ECONNREFUSED:
        return "pid-bound, nameless: the parent is gone, or this process is "
               "not the one it spawned (a wrapper forked it)";
    case ECONNRESET:
        return "the parent closed the channel first (it died, or gave the "
               "handles to another process)";
    case EPERM:
        return "the service answering is not this process's parent's";
    case ETIMEDOUT:
        return "the parent did not answer in time";
    default:
        return strerror(status);
    }
}

void cph__child_trace(const char *value, int status)
{
    const char *debug = getenv("CPH_DEBUG");
    size_t count = cph_child_count();

    if (!debug || strcmp(debug, "1") != 0)
        return;
    if (!value) {
        dprintf(2, "cph[%ld]: no CPH_HANDSHAKE: not launched by cph_spawn, "
                "nothing to take\n", (long)getpid());
        return;
    }
    if (status != 0) {
        dprintf(2, "cph[%ld]: CPH_HANDSHAKE=%s: check-in failed: %s\n",
                (long)getpid(), value, cause(value, status));
        return;
    }
    dprintf(2, "cph[%ld]: CPH_HANDSHAKE=%s: checked in, %zu handle%s",
            (long)getpid(), value, count, count == 1 ? "" : "s");
    for (size_t i = 0; i < count; i++)
        dprintf(2, "%s%s", i ? " " : ": ", cph_child_key(i));
    dprintf(2, "\n");
}
