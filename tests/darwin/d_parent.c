/*
 * A parent that dies before its child checks in. The test runs d_parent
 * MODE by plain posix_spawn with stdout on a pipe; d_parent cph_spawns a
 * child (one port attached), which inherits that stdout:
 *
 *   late    "d_client late - FD", where FD reads EOF once d_parent is
 *           dead;
 *   orphan  "d_child orphan", started suspended: the test resumes it with
 *           SIGCONT once d_parent is dead;
 *   nlorphan  the same, delivered nameless.
 *
 * then says "spawned PID" and waits to be killed (SIGKILL).
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

static int spawn_late(const cph_attachments_t *list, pid_t *pid)
{
    char fd[16], *argv[] = {"d_client", "late", "-", fd, NULL};
    int alive[2], err;

    if (pipe(alive) < 0)
        return errno;
    /* The child inherits the read end only. */
    if (fcntl(alive[1], F_SETFD, FD_CLOEXEC) < 0)
        return errno;
    snprintf(fd, sizeof fd, "%d", alive[0]);
    err = cph_spawn(pid, CPH_DARWIN_HELPERS "/d_client", NULL, NULL, argv,
                    environ, list);
    close(alive[0]);
    return err;
}

static int spawn_orphan(const cph_attachments_t *list, pid_t *pid)
{
    char *argv[] = {"d_child", "orphan", NULL};
    posix_spawnattr_t attr;
    int err = posix_spawnattr_init(&attr);

    if (err)
        return err;
    err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_START_SUSPENDED);
    if (!err)
        err = cph_spawn(pid, CPH_DARWIN_HELPERS "/d_child", NULL, &attr,
                        argv, environ, list);
    posix_spawnattr_destroy(&attr);
    return err;
}

int main(int argc, char **argv)
{
    cph_attachments_t *list;
    mach_port_t port;
    pid_t pid;
    int err;

    if (argc < 2)
        return 100;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &port) != KERN_SUCCESS ||
        cph_attachments_init(&list) != 0 ||
        /* The other modes speak the rendezvous (a pipe, a service). */
        cph_attachments_set_delivery(list,
                                     strcmp(argv[1], "nlorphan") == 0
                                         ? CPH_DELIVERY_NAMELESS
                                         : CPH_DELIVERY_PID_BOUND) != 0 ||
        cph_attachments_add_port(list, "port", port,
                                 MACH_MSG_TYPE_MAKE_SEND) != 0)
        return 101;
    if (strcmp(argv[1], "late") == 0)
        err = spawn_late(list, &pid);
    else if (strcmp(argv[1], "orphan") == 0 ||
             strcmp(argv[1], "nlorphan") == 0)
        err = spawn_orphan(list, &pid);
    else
        err = EINVAL;
    if (err) {
        printf("error %s\n", strerror(err));
        return 102;
    }
    printf("spawned %d\n", (int)pid);
    fflush(stdout);
    alarm(30); /* the test kills us long before */
    for (;;)
        pause();
}
