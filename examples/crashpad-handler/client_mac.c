/*
 * The client side of Crashpad's handler start, ported to cph (macOS):
 * client HANDLER_PATH.
 *
 * Crashpad's client runs a ChildPortHandshake server, launches the
 * handler with its pipe, and RunServer() returns the send right the
 * handler checked in with; the client installs it as its exception port.
 * Here the client expects one right back under "handler", spawns the
 * handler with cph_spawn, and takes the send right with cph_take_port.
 * It sends one request, prints the answer, and lets go of the right,
 * which ends the handler.
 *
 * Exit status 0 when the handler answered as expected.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "mac.h"

extern char **environ;

/* Spawns the handler and takes the send right that reaches it. */
static int start_handler(const char *path, pid_t *pid, mach_port_t *port)
{
    char *argv[] = {(char *)path, NULL};
    cph_attachments_t *list;
    int err = cph_attachments_init(&list);

    if (!err)
        err = cph_attachments_expect(list, "handler");
    if (!err)
        err = cph_spawn(pid, path, NULL, NULL, argv, environ, list);
    cph_attachments_destroy(list);
    if (!err)
        err = cph_take_port(*pid, "handler", 5000, port);
    return err;
}

/* One request and its answer, on a reply port of our own. */
static int ask(mach_port_t handler, int32_t *answered)
{
    union dump_buffer buf = {
        .m = {
            .header = {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
                                            MACH_MSG_TYPE_MAKE_SEND_ONCE),
                .msgh_size = sizeof buf.m,
                .msgh_remote_port = handler,
                .msgh_id = DUMP_REQUEST,
            },
            .pid = getpid(),
        },
    };
    mach_port_t reply = MACH_PORT_NULL;
    kern_return_t kr;

    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &reply) != KERN_SUCCESS)
        return ENOMEM;
    buf.m.header.msgh_local_port = reply;
    kr = mach_msg(&buf.m.header,
                  MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                  sizeof buf.m, sizeof buf, reply, 5000, MACH_PORT_NULL);
    mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
    if (kr != KERN_SUCCESS)
        return EIO;
    if (buf.m.header.msgh_id != DUMP_DONE ||
        buf.m.header.msgh_size != sizeof buf.m)
        return EPROTO;
    *answered = buf.m.pid;
    return 0;
}

int main(int argc, char **argv)
{
    mach_port_t handler = MACH_PORT_NULL;
    int32_t answered = 0;
    int status, err;
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: client HANDLER_PATH\n");
        return 2;
    }
    err = start_handler(argv[1], &pid, &handler);
    if (err) {
        fprintf(stderr, "client: starting the handler: %s\n", strerror(err));
        return 1;
    }
    err = ask(handler, &answered);
    /* The handler's cue to exit: its port has no sender left. */
    mach_port_deallocate(mach_task_self(), handler);
    if (err) {
        fprintf(stderr, "client: asking the handler: %s\n", strerror(err));
        return 1;
    }
    printf("handler %d: dumped %d\n", (int)pid, (int)answered);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return 1;
    return answered == getpid() ? 0 : 1;
}
