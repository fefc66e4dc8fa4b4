/*
 * d_parent OUT: cph_spawns "d_client late OUT" with one right attached
 * and exits at once, taking its server with it.
 */
#include <mach/mach.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

int main(int argc, char **argv)
{
    char *child_argv[] = {"d_client", "late", argv[1], NULL};
    cph_attachments_t *list;
    mach_port_t port;
    pid_t pid;

    if (argc < 2)
        return 100;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &port) != KERN_SUCCESS ||
        cph_attachments_init(&list) != 0 ||
        cph_attachments_add_port(list, "port", port,
                                 MACH_MSG_TYPE_MAKE_SEND) != 0 ||
        cph_spawn(&pid, CPH_HELPERS "/d_client", NULL, NULL, child_argv, environ, list) != 0)
        return 101;
    return 0;
}
