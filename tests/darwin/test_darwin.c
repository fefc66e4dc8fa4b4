/*
 * The macOS cases: every right type, fileports, children that never
 * check in, wrong tokens, a server that is gone. Compiled by the Linux
 * cross-build; run on a Mac.
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

static mach_port_t new_receive_right(void)
{
    mach_port_t port;

    cr_assert_eq(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                                    &port), KERN_SUCCESS);
    return port;
}

static cph_attachments_t *list_with_port(mach_port_t port,
                                         mach_msg_type_name_t disposition)
{
    cph_attachments_t *list;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_port(list, "port", port, disposition), 0);
    return list;
}

/* The id of one message received on port within 5 s, or -1. */
static int receive_id(mach_port_t port)
{
    struct {
        mach_msg_header_t header;
        uint8_t rest[256];
    } msg;

    if (mach_msg(&msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof msg,
                 port, 5000, MACH_PORT_NULL) != KERN_SUCCESS)
        return -1;
    mach_msg_destroy(&msg.header);
    return msg.header.msgh_id;
}

/* d_child MODE sends on the right it was given; we receive on port. */
static void assert_child_sends(mach_port_t port, mach_port_t attach,
                               mach_msg_type_name_t disposition,
                               const char *mode, int id)
{
    cph_attachments_t *list = list_with_port(attach, disposition);
    char out[256], *args[] = {(char *)mode, out, NULL}, *report, line[32];
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("send"));
    pid = spawn_helper("d_child", args, list);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    cr_assert_eq(receive_id(port), id);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    snprintf(line, sizeof line, "status 0\nsent 0\n");
    cr_assert_str_eq(report, line);
    free(report);
    cph_attachments_destroy(list);
}

Test(darwin, receive_right)
{
    mach_port_t port = new_receive_right();
    cph_attachments_t *list;
    char out[256], *args[] = {"receive", out, NULL}, *report;
    mach_msg_header_t msg = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                             .msgh_size = sizeof msg, .msgh_id = 1234};
    pid_t pid;

    /* Keep a send right; the receive right goes to the child. */
    cr_assert_eq(mach_port_insert_right(mach_task_self(), port, port,
                                        MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    list = list_with_port(port, MACH_MSG_TYPE_MOVE_RECEIVE);
    snprintf(out, sizeof out, "%s", scratch_path("receive"));
    pid = spawn_helper("d_child", args, list);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    msg.msgh_remote_port = port;
    cr_assert_eq(mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg,
                          0, MACH_PORT_NULL, 5000, MACH_PORT_NULL),
                 KERN_SUCCESS);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    cr_assert_str_eq(report, "status 0\nreceived 1234\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(darwin, send_rights)
{
    mach_port_t port = new_receive_right();

    cr_assert_eq(mach_port_insert_right(mach_task_self(), port, port,
                                        MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    assert_child_sends(port, port, MACH_MSG_TYPE_COPY_SEND, "send", 4321);
    assert_child_sends(port, port, MACH_MSG_TYPE_MAKE_SEND, "send", 4321);
    /* A second reference for the list to take. */
    cr_assert_eq(mach_port_mod_refs(mach_task_self(), port,
                                    MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    assert_child_sends(port, port, MACH_MSG_TYPE_MOVE_SEND, "send", 4321);
}

Test(darwin, send_once_rights)
{
    mach_port_t port = new_receive_right(), once;
    mach_msg_type_name_t type;

    assert_child_sends(port, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, "sendonce",
                       5555);
    cr_assert_eq(mach_port_extract_right(mach_task_self(), port,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &once,
                                         &type), KERN_SUCCESS);
    assert_child_sends(port, once, MACH_MSG_TYPE_MOVE_SEND_ONCE, "sendonce",
                       5555);
}

Test(darwin, fileport_fd)
{
    cph_attachments_t *list;
    int p[2];
    char *report;

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "by fileport\n", 12), 12);
    close(p[1]);
    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "file", p[0]), 0);
    close(p[0]);
    cr_assert_eq(run_helper("d_child", "fd", NULL, list, &report), 0);
    cr_assert_str_eq(report, "status 0\nfile=by fileport\ncloexec 1\n");
    free(report);
    cph_attachments_destroy(list);
}

/* A child that never checks in (MODE exit) or only reads its pipe: the
 * MOVE right is destroyed, the MAKE/COPY ones leave ours as they were. */
static void assert_given_up(const char *mode)
{
    mach_port_t moved = new_receive_right(), copied = new_receive_right();
    mach_port_type_t type;
    mach_port_urefs_t before, after;
    cph_attachments_t *list;
    char *report;

    cr_assert_eq(mach_port_insert_right(mach_task_self(), moved, moved,
                                        MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    cr_assert_eq(mach_port_insert_right(mach_task_self(), copied, copied,
                                        MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    mach_port_get_refs(mach_task_self(), copied, MACH_PORT_RIGHT_SEND, &before);
    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_port(list, "moved", moved,
                                          MACH_MSG_TYPE_MOVE_RECEIVE), 0);
    cr_assert_eq(cph_attachments_add_port(list, "copied", copied,
                                          MACH_MSG_TYPE_COPY_SEND), 0);
    cr_assert_eq(cph_attachments_add_port(list, "made", copied,
                                          MACH_MSG_TYPE_MAKE_SEND), 0);
    {
        char out[256], *args[] = {(char *)mode, out, NULL};
        pid_t pid;
        snprintf(out, sizeof out, "%s", scratch_path("givenup"));
        pid = spawn_helper("d_client", args, list);
        cr_assert_eq(cph_checkin_wait(pid, 10000), ECONNABORTED, "%s", mode);
        wait_exit(pid);
        report = slurp(out);
        free(report);
    }
    cr_assert_eq(mach_port_type(mach_task_self(), moved, &type), KERN_SUCCESS);
    cr_assert(type & MACH_PORT_TYPE_DEAD_NAME, "the MOVE right lives on");
    mach_port_get_refs(mach_task_self(), copied, MACH_PORT_RIGHT_SEND, &after);
    cr_assert_eq(after, before);
    cph_attachments_destroy(list);
}

Test(darwin, child_never_checks_in)
{
    assert_given_up("exit");
}

Test(darwin, child_reads_pipe_then_exits)
{
    assert_given_up("readpipe");
}

Test(darwin, wrong_token_then_right)
{
    mach_port_t port = new_receive_right();
    cph_attachments_t *list = list_with_port(port, MACH_MSG_TYPE_MAKE_SEND);
    char out[256], *args[] = {"wrongthenright", out, NULL}, *report;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("wrong"));
    pid = spawn_helper("d_client", args, list);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    report = slurp(out);
    cr_assert_str_eq(report, "wrong refused\nright accepted 1\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(darwin, server_gone_before_check_in)
{
    char out[256], *args[] = {out, NULL}, *report = NULL;

    snprintf(out, sizeof out, "%s", scratch_path("late"));
    cr_assert_eq(wait_exit(spawn_helper("d_parent", args, NULL)), 0);
    for (int i = 0; i < 1000 && !(report && strchr(report, '\n')); i++) {
        free(report);
        usleep(10000);
        report = slurp(out);
    }
    cr_assert_not_null(report);
    cr_assert(strncmp(report, "late lookup-failed", 18) == 0 ||
                  strncmp(report, "late refused", 12) == 0 ||
                  strncmp(report, "late failed", 11) == 0,
              "a check-in with a dead server: %s", report);
    free(report);
}

Test(darwin, move_rights_go_to_one_child)
{
    mach_port_t port = new_receive_right();
    cph_attachments_t *list = list_with_port(port, MACH_MSG_TYPE_MOVE_RECEIVE);
    char *report;
    char *argv[] = {"d_child", "show", "/dev/null", NULL};
    pid_t pid;

    cr_assert_eq(run_helper("d_child", "show", NULL, list, &report), 0);
    cr_assert_str_eq(report, "status 0\ncount 1\n");
    free(report);
    cr_assert_eq(cph_spawn(&pid, helper_path("d_child"), NULL, NULL, argv,
                           environ, list), EINVAL);
    cph_attachments_destroy(list);
}

Test(darwin, add_port_errors)
{
    mach_port_t port = new_receive_right(), dead;
    cph_attachments_t *list;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_port(list, "a", MACH_PORT_NULL,
                                          MACH_MSG_TYPE_COPY_SEND), EINVAL);
    cr_assert_eq(cph_attachments_add_port(list, "a", MACH_PORT_DEAD,
                                          MACH_MSG_TYPE_COPY_SEND), EINVAL);
    cr_assert_eq(cph_attachments_add_port(list, "a", port,
                                          MACH_MSG_TYPE_COPY_RECEIVE), EINVAL);
    cr_assert_eq(cph_attachments_add_port(list, "a", port, 0), EINVAL);
    /* A receive right only: no send right to copy or move. */
    cr_assert_eq(cph_attachments_add_port(list, "a", port,
                                          MACH_MSG_TYPE_COPY_SEND), EINVAL);
    cr_assert_eq(cph_attachments_add_port(list, "bad key", port,
                                          MACH_MSG_TYPE_MAKE_SEND), EINVAL);
    dead = new_receive_right();
    mach_port_mod_refs(mach_task_self(), dead, MACH_PORT_RIGHT_RECEIVE, -1);
    cr_assert_eq(cph_attachments_add_port(list, "a", dead,
                                          MACH_MSG_TYPE_MAKE_SEND), EINVAL);
    cr_assert_eq(cph_attachments_add_port(list, "a", port,
                                          MACH_MSG_TYPE_MAKE_SEND), 0);
    cr_assert_eq(cph_attachments_add_port(list, "a", port,
                                          MACH_MSG_TYPE_MAKE_SEND), EEXIST);
    cph_attachments_destroy(list);
}

Test(darwin, setexec_refused)
{
    mach_port_t port = new_receive_right();
    cph_attachments_t *list = list_with_port(port, MACH_MSG_TYPE_MAKE_SEND);
    char *argv[] = {"d_child", "show", "/dev/null", NULL};
    posix_spawnattr_t attr;
    pid_t pid;

    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETEXEC);
    cr_assert_eq(cph_spawn(&pid, helper_path("d_child"), NULL, &attr, argv,
                           environ, list), EINVAL);
    posix_spawnattr_destroy(&attr);
    cph_attachments_destroy(list);
}

Test(darwin, cloexec_default_keeps_the_pipe)
{
    mach_port_t port = new_receive_right();
    cph_attachments_t *list = list_with_port(port, MACH_MSG_TYPE_MAKE_SEND);
    char out[256], *argv[] = {"d_child", "show", out, NULL}, *report;
    posix_spawnattr_t attr;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("cloexec"));
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_CLOEXEC_DEFAULT);
    cr_assert_eq(cph_spawn(&pid, helper_path("d_child"), NULL, &attr, argv,
                           environ, list), 0);
    posix_spawnattr_destroy(&attr);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    cr_assert_str_eq(report, "status 0\ncount 1\n");
    free(report);
    cph_attachments_destroy(list);
}
