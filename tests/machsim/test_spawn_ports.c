/*
 * Rule tests of posix_spawn's port actions against the simulator's kernel
 * (xnu-11417 bsd/kern/kern_exec.c exec_handle_port_actions;
 * osfmk/kern/ipc_tt.c ipc_task_init): the spawned task's special and
 * registered ports. SPAWN_PORTS_HELPER (spawn_ports_helper.c) uses them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <spawn_private.h>
#include <sys/wait.h>

#include "rules.h"

extern char **environ;

static int spawn_helper(pid_t *pid, posix_spawnattr_t *attr, char *a1,
                        char *a2)
{
    char *argv[] = {"spawn_ports_helper", a1, a2, NULL};

    return posix_spawn(pid, SPAWN_PORTS_HELPER, NULL, attr, argv, environ);
}

static void exits_ok(pid_t pid)
{
    int status;

    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);
}

/* One message on port, with that id, from pid. */
static void received(mach_port_t port, mach_msg_id_t id, pid_t pid)
{
    struct rmsg r;

    cr_assert_eq(recv_msg(port, &r, 10000), MACH_MSG_SUCCESS);
    cr_assert_eq(r.h.msgh_id, id);
    cr_assert_eq(trailer_of(&r)->msgh_audit.val[5], (unsigned)pid);
}

/* exec_handle_port_actions, PSPA_SPECIAL: task_set_special_port on the new
 * task. */
Test(spawn_ports, special_port_set)
{
    mach_port_t port = rcv_send_port();
    posix_spawnattr_t a;
    pid_t pid;

    cr_assert_eq(posix_spawnattr_init(&a), 0);
    cr_assert_eq(
        posix_spawnattr_setspecialport_np(&a, port, TASK_BOOTSTRAP_PORT), 0);
    cr_assert_eq(spawn_helper(&pid, &a, "special", "4"), 0);
    exits_ok(pid);
    received(port, 77, pid);
    posix_spawnattr_destroy(&a);
}

/* exec_handle_port_actions, PSPA_REGISTERED_PORTS: the new task's registered
 * ports, in order. */
Test(spawn_ports, registered_ports_set)
{
    mach_port_t ports[2] = {rcv_send_port(), rcv_send_port()};
    posix_spawnattr_t a;
    pid_t pid;

    cr_assert_eq(posix_spawnattr_init(&a), 0);
    cr_assert_eq(posix_spawnattr_set_registered_ports_np(&a, ports, 2), 0);
    cr_assert_eq(spawn_helper(&pid, &a, "registered", NULL), 0);
    exits_ok(pid);
    received(ports[0], 100, pid);
    received(ports[1], 101, pid);
    posix_spawnattr_destroy(&a);
}

/* ipc_task_init: without port actions, the spawned task inherits the
 * caller's registered ports. */
Test(spawn_ports, registered_ports_inherited)
{
    mach_port_t port = rcv_send_port();
    pid_t pid;

    cr_assert_eq(mach_ports_register(mach_task_self(), &port, 1),
                 KERN_SUCCESS);
    cr_assert_eq(spawn_helper(&pid, NULL, "registered", NULL), 0);
    exits_ok(pid);
    received(port, 100, pid);
}

/* exec_handle_port_actions: a name that is not a send right of the caller,
 * or a `which` task_set_special_port refuses, fails the spawn with EINVAL;
 * no child is left. */
Test(spawn_ports, refused_port_einval)
{
    posix_spawnattr_t bad_name, bad_which;
    pid_t pid;

    cr_assert_eq(posix_spawnattr_init(&bad_name), 0);
    cr_assert_eq(posix_spawnattr_init(&bad_which), 0);
    cr_assert_eq(posix_spawnattr_setspecialport_np(&bad_name, 0x7f03,
                                                   TASK_BOOTSTRAP_PORT),
                 0);
    cr_assert_eq(
        posix_spawnattr_setspecialport_np(&bad_which, rcv_send_port(), 99), 0);
    cr_assert_eq(spawn_helper(&pid, &bad_name, "special", "4"), EINVAL);
    cr_assert_eq(spawn_helper(&pid, &bad_which, "special", "4"), EINVAL);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
    posix_spawnattr_destroy(&bad_name);
    posix_spawnattr_destroy(&bad_which);
}
