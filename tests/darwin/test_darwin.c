/*
 * The macOS cases, after Crashpad's ChildPortHandshake tests and
 * Chromium's MachPortRendezvous tests: each right type, fileports,
 * children that never check in, wrong tokens, a server gone before the
 * check-in, the argument contract, and what xnu decides: descriptor
 * order, unsendable fds, dead rights, a full queue, a rogue sender; and
 * the other direction, rights given back to the parent. The helpers are
 * d_*.c here.
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#ifdef CPH_SIMULATED_MACH
#include <malloc.h>
#else
#include <malloc/malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/child.h>
#include <cph/spawn.h>

#include "by_hand.h"
#include "common.h"
#include "core/cph_core.h"
#include "darwin/give.h"
#include "darwin/sdk.h"
#include "holds.h"
#include "timer.h"
#include "transport.h"

/* The bound of every Mach receive here. */
#define RECEIVE_MS 5000

extern char **environ;

static const char *darwin_helper(const char *name)
{
    static char path[1024];

    snprintf(path, sizeof path, "%s/%s", CPH_DARWIN_HELPERS, name);
    return path;
}

/* cph_spawn of the helper argv[0], which must succeed. */
static pid_t spawn_d(char *const argv[], const posix_spawnattr_t *attr,
                     const cph_attachments_t *list)
{
    pid_t pid = -1;
    int err = cph_spawn(&pid, darwin_helper(argv[0]), NULL, attr, argv,
                        environ, list);

    cr_assert_eq(err, 0, "cph_spawn(%s): %s", argv[0], strerror(err));
    return pid;
}

/* A pipe that no child inherits (macOS has no pipe2). */
static void cloexec_pipe(int p[2])
{
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(fcntl(p[0], F_SETFD, FD_CLOEXEC), 0);
    cr_assert_eq(fcntl(p[1], F_SETFD, FD_CLOEXEC), 0);
}

/* Waits for the check-in of helper pid (which must succeed) and for its
 * exit (status 0); returns what it wrote to report, which is closed. */
static char *report_after(pid_t pid, int report)
{
    int err = cph_checkin_wait(pid, LIVENESS_MS), status = wait_exit(pid);
    char *text = read_now(report);

    cr_assert_eq(err, 0, "check-in: %s; report:\n%s", strerror(err), text);
    cr_assert_eq(status, 0, "exit status %d; report:\n%s", status, text);
    return text;
}

/* Runs "d_client MODE OUT" with list until it exits (status 0), checks
 * its outcome, and returns what it wrote to OUT. */
static char *run_client(const char *mode, const cph_attachments_t *list,
                        int outcome)
{
    char out[256], *argv[] = {"d_client", (char *)mode, out, NULL}, *text;
    pid_t pid;
    int err;

    snprintf(out, sizeof out, "%s", scratch_path("client"));
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(wait_exit(pid), 0);
    err = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(err, outcome, "outcome: %s", strerror(err));
    text = slurp(out);
    cr_assert_not_null(text);
    unlink(out);
    return text;
}

static mach_port_t receive_right(void)
{
    mach_port_t port = MACH_PORT_NULL;

    cr_assert_eq(mach_port_allocate(mach_task_self(),
                                    MACH_PORT_RIGHT_RECEIVE, &port),
                 KERN_SUCCESS);
    holds_own(port);
    return port;
}

/* A receive right and one send right, under the same name. */
static mach_port_t port_with_send(void)
{
    mach_port_t port = receive_right();

    cr_assert_eq(mach_port_insert_right(mach_task_self(), port, port,
                                        MACH_MSG_TYPE_MAKE_SEND),
                 KERN_SUCCESS);
    return port;
}

/* A send-once right to port, under a name of its own. */
static mach_port_t send_once_to(mach_port_t port)
{
    mach_port_t once = MACH_PORT_NULL;
    mach_msg_type_name_t type;

    cr_assert_eq(mach_port_extract_right(mach_task_self(), port,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &once,
                                         &type),
                 KERN_SUCCESS);
    holds_own(once);
    return once;
}

static mach_port_type_t type_of(mach_port_t name)
{
    mach_port_type_t type = 0;

    cr_assert_eq(mach_port_type(mach_task_self(), name, &type),
                 KERN_SUCCESS, "no right named %u", name);
    return type;
}

static mach_port_urefs_t send_refs(mach_port_t name)
{
    mach_port_urefs_t refs = 0;

    cr_assert_eq(mach_port_get_refs(mach_task_self(), name,
                                    MACH_PORT_RIGHT_SEND, &refs),
                 KERN_SUCCESS);
    return refs;
}

static mach_port_status_t status_of(mach_port_t port)
{
    mach_port_status_t status;
    mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;

    cr_assert_eq(mach_port_get_attributes(mach_task_self(), port,
                                          MACH_PORT_RECEIVE_STATUS,
                                          (mach_port_info_t)&status, &count),
                 KERN_SUCCESS);
    return status;
}

static void add_port(cph_attachments_t *list, const char *key,
                     mach_port_t port, mach_msg_type_name_t disposition)
{
    int err = cph_attachments_add_port(list, key, port, disposition);

    cr_assert_eq(err, 0, "add_port(%s): %s", key, strerror(err));
}

struct received {
    mach_msg_id_t id;
    pid_t sender;
};

/* One message on port, which must come within RECEIVE_MS; its rights are
 * destroyed. */
static struct received receive_one(mach_port_t port)
{
    union {
        mach_msg_header_t header;
        uint8_t bytes[1024];
    } msg;
    const mach_msg_audit_trailer_t *trailer;
    struct received got;
    kern_return_t kr = mach_msg(
        &msg.header,
        MACH_RCV_MSG | MACH_RCV_TIMEOUT |
            MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
            MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
        0, sizeof msg, port, RECEIVE_MS, MACH_PORT_NULL);

    cr_assert_eq(kr, KERN_SUCCESS, "receive on %u: %#x", port, kr);
    trailer = (const void *)(msg.bytes + round_msg(msg.header.msgh_size));
    got.id = msg.header.msgh_id;
    got.sender = (pid_t)trailer->msgh_audit.val[5];
    mach_msg_destroy(&msg.header);
    return got;
}

static void send_id(mach_port_t port, mach_msg_id_t id)
{
    mach_msg_header_t msg = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
        .msgh_size = sizeof msg,
        .msgh_remote_port = port,
        .msgh_id = id,
    };

    cr_assert_eq(mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                          sizeof msg, 0, MACH_PORT_NULL, RECEIVE_MS,
                          MACH_PORT_NULL),
                 KERN_SUCCESS);
}

Test(darwin, receive_right, .init = holds_before)
{
    mach_port_t port = port_with_send();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "receive", NULL}, *text;
    int report;
    pid_t pid;

    add_port(list, "port", port, MACH_MSG_TYPE_MOVE_RECEIVE);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    /* The receive right left with the reply; our send right stayed. */
    cr_assert_eq(type_of(port) &
                     (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND),
                 MACH_PORT_TYPE_SEND);
    send_id(port, 1234);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "received 1234\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The child sends on the right attached as name with disposition; we
 * receive on port. kind is the right it must have found. */
static void assert_child_sends(mach_port_t port, mach_port_t name,
                               mach_msg_type_name_t disposition,
                               const char *kind)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "send", "4321", NULL}, *text, expected[64];
    struct received got;
    int report;
    pid_t pid;

    add_port(list, "port", name, disposition);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    got = receive_one(port);
    cr_assert_eq(got.id, 4321);
    cr_assert_eq(got.sender, pid, "sent by %d, not the child %d",
                 (int)got.sender, (int)pid);
    text = report_after(pid, report);
    snprintf(expected, sizeof expected, "sent %s 0\n", kind);
    cr_assert_str_eq(text, expected);
    free(text);
    cph_attachments_destroy(list);
}

Test(darwin, copy_send_right, .init = holds_before)
{
    mach_port_t port = port_with_send();

    assert_child_sends(port, port, MACH_MSG_TYPE_COPY_SEND, "send");
    cr_assert_eq(send_refs(port), 1, "a copy took our reference");
    holds_nothing_more();
}

Test(darwin, make_send_right, .init = holds_before)
{
    mach_port_t port = receive_right();

    assert_child_sends(port, port, MACH_MSG_TYPE_MAKE_SEND, "send");
    cr_assert_eq(send_refs(port), 0);
    holds_nothing_more();
}

Test(darwin, move_send_right, .init = holds_before)
{
    mach_port_t port = port_with_send();

    assert_child_sends(port, port, MACH_MSG_TYPE_MOVE_SEND, "send");
    cr_assert_eq(send_refs(port), 0, "the moved send right stayed here");
    holds_nothing_more();
}

Test(darwin, make_send_once_right, .init = holds_before)
{
    mach_port_t port = receive_right();

    assert_child_sends(port, port, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                       "send-once");
    holds_nothing_more();
}

Test(darwin, move_send_once_right, .init = holds_before)
{
    mach_port_t port = receive_right(), once = send_once_to(port);
    mach_port_type_t type;

    assert_child_sends(port, once, MACH_MSG_TYPE_MOVE_SEND_ONCE,
                       "send-once");
    cr_assert_eq(mach_port_type(mach_task_self(), once, &type),
                 KERN_INVALID_NAME, "the moved send-once right stayed here");
    holds_nothing_more();
}

Test(darwin, fileport_fds, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "fd", "pipe", "file", NULL}, *text;
    const char *path = scratch_path("file");
    int p[2], fd, report;

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "by pipe", 7), 7);
    close(p[1]);
    list_add(list, "pipe", p[0]);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, "by file", 7), 7);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    unlink(path);
    list_add(list, "file", fd);
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    cr_assert_str_eq(text, "pipe by pipe cloexec 1\nfile by file cloexec 1\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* Placement on macOS: the adapter (d_place, cph-place built against this
 * libcph_child) takes the fds through fileports, places them and execs a
 * shell that knows nothing of cph, under delivery. */
static void placed_for_a_plain_program(int delivery)
{
    cph_attachments_t *list = list_for(delivery);
    const char *out = scratch_path("placed");
    char *argv[] = {"sh", "-c",
                    "{ cat <&5; echo \" $LISTEN_FDS $LISTEN_FDNAMES\"; "
                    "cat <&3; } > \"$0\"",
                    (char *)out, NULL}, *text;
    int p[2], q[2], status;
    pid_t pid;

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    cr_assert_eq(write(p[1], "by pipe", 7), 7);
    cr_assert_eq(write(q[1], "laid out", 8), 8);
    close(p[1]);
    close(q[1]);
    list_add(list, "pipe", p[0]);
    list_add(list, "web", q[0]);
    cr_assert_eq(cph_attachments_place_fd(list, "pipe", 5), 0);
    cr_assert_eq(cph_attachments_place_systemd(list, NULL, 0), 0);
    cr_assert_eq(cph_attachments_set_adapter(list, darwin_helper("d_place")),
                 0);
    cr_assert_eq(cph_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ, list),
                 0);
    cph_attachments_destroy(list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    status = wait_exit(pid);
    text = slurp(out);
    cr_assert_eq(status, 0, "exit %d: %s", status, text ? text : "");
    cr_assert_str_eq(text, "by pipe 1 web\nlaid out");
    free(text);
    holds_nothing_more();
}

Test(darwin, placed_for_a_plain_program_pid_bound, .init = holds_before)
{
    placed_for_a_plain_program(CPH_DELIVERY_PID_BOUND);
}

Test(darwin, placed_for_a_plain_program_nameless, .init = holds_before)
{
    placed_for_a_plain_program(CPH_DELIVERY_NAMELESS);
}

/*
 * Rights attached for a child that never claims them, and what we keep
 * of each. Once the child is given up, the MOVE rights are destroyed and
 * the others left as they were (Chromium's "cleanup when the child exits
 * without rendezvous").
 */
struct stake {
    mach_port_t moved;     /* MOVE_RECEIVE; we keep a send right */
    mach_port_t sent;      /* MOVE_SEND of one of our two references */
    mach_port_t copied;    /* COPY_SEND; we keep receive and send */
    mach_port_t made;      /* MAKE_SEND and MAKE_SEND_ONCE; receive only */
    mach_port_t once;      /* MOVE_SEND_ONCE, a right to once_port */
    mach_port_t once_port;
};

static struct stake stake_in(cph_attachments_t *list)
{
    struct stake s = {
        .moved = port_with_send(),
        .sent = port_with_send(),
        .copied = port_with_send(),
        .made = receive_right(),
        .once_port = receive_right(),
    };

    s.once = send_once_to(s.once_port);
    cr_assert_eq(mach_port_mod_refs(mach_task_self(), s.sent,
                                    MACH_PORT_RIGHT_SEND, 1),
                 KERN_SUCCESS);
    add_port(list, "moved", s.moved, MACH_MSG_TYPE_MOVE_RECEIVE);
    add_port(list, "sent", s.sent, MACH_MSG_TYPE_MOVE_SEND);
    add_port(list, "copied", s.copied, MACH_MSG_TYPE_COPY_SEND);
    add_port(list, "made", s.made, MACH_MSG_TYPE_MAKE_SEND);
    add_port(list, "made-once", s.made, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    add_port(list, "once", s.once, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    return s;
}

static void assert_stake_released(const struct stake *s)
{
    const mach_port_type_t both = MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND;
    mach_port_status_t made = status_of(s->made);
    mach_port_type_t type;

    cr_assert(type_of(s->moved) & MACH_PORT_TYPE_DEAD_NAME,
              "the MOVE_RECEIVE right lives on");
    cr_assert_eq(send_refs(s->sent), 1, "the MOVE_SEND reference was kept");
    cr_assert_eq(type_of(s->copied) & both, both);
    cr_assert_eq(send_refs(s->copied), 1);
    cr_assert_eq(type_of(s->made) & both, MACH_PORT_TYPE_RECEIVE);
    cr_assert_not(made.mps_srights, "a send right was made");
    cr_assert_eq(made.mps_sorights, 0, "a send-once right was made");
    /* A destroyed send-once right notifies its port. */
    cr_assert_eq(mach_port_type(mach_task_self(), s->once, &type),
                 KERN_INVALID_NAME, "the MOVE_SEND_ONCE right lives on");
    cr_assert_eq(receive_one(s->once_port).id, MACH_NOTIFY_SEND_ONCE);
}

/* A child that exits without checking in, spawned with a stake in list
 * (destroyed here): what is left of the stake. */
static struct stake never_checks_in(cph_attachments_t *list)
{
    struct stake s = stake_in(list);
    char *argv[] = {"true", NULL};
    pid_t pid;

    cr_assert_eq(cph_spawn(&pid, "/usr/bin/true", NULL, NULL, argv, environ,
                           list),
                 0);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), ENOTCONN);
    cr_assert_eq(wait_exit(pid), 0);
    assert_stake_released(&s);
    cph_attachments_destroy(list);
    holds_nothing_more();
    return s;
}

Test(darwin, child_never_checks_in, .init = holds_before)
{
    never_checks_in(list_new());
}

Test(darwin, child_closes_pipe_without_check_in, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    struct stake s = stake_in(list);
    char *argv[] = {"d_client", "readpipe", "/dev/null", NULL};
    pid_t pid = spawn_d(argv, NULL, list);

    /* The child is still alive: the pipe's EOF alone gives it up. */
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), ENOTCONN);
    assert_stake_released(&s);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    cr_assert_eq(wait_exit(pid), 128 + SIGKILL,
                 "the helper was not waiting to be killed");
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, wrong_token_then_right, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char *text;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    list_add(list, "file", open("/dev/null", O_RDONLY | O_CLOEXEC));
    text = run_client("wrongthenright", list, 0);
    cr_assert_str_eq(text, "wrong refused\n"
                           "right accepted 2 port file\n"
                           "again refused\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends what fd yields to the string buf (of size bytes) until EOF, or
 * with line until buf holds a newline. False if deadline came first. */
static bool read_until(int fd, char *buf, size_t size, bool line,
                       int64_t deadline)
{
    size_t len = strlen(buf);

    while (!line || !strchr(buf, '\n')) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        ssize_t n;

        if (ready < 0 && errno == EINTR)
            continue;
        cr_assert_geq(ready, 0, "poll: %s", strerror(errno));
        cr_assert_lt(len, size - 1, "too much output: %s", buf);
        if (ready == 0)
            return false;
        n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            return true;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return true;
}

/*
 * Runs "d_parent MODE" (plain posix_spawn, stdout on a pipe), which
 * cph_spawns a child and says "spawned PID"; kills it before that child
 * checks in, resumes the child if it was started suspended, and leaves in
 * text all the pipe carried once the child is done. The child's own wait
 * is bounded by CPH_CHILD_TIMEOUT_MS, shorter than LIVENESS_MS here.
 */
static void run_orphaned(const char *mode, bool suspended, char *text,
                         size_t size)
{
    char *argv[] = {"d_parent", (char *)mode, NULL};
    posix_spawn_file_actions_t fa;
    int p[2], err, child = -1;
    pid_t parent;

    cloexec_pipe(p);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, p[1], 1), 0);
    err = posix_spawn(&parent, darwin_helper("d_parent"), &fa, NULL, argv,
                      environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    cr_assert_eq(err, 0, "posix_spawn(d_parent): %s", strerror(err));

    text[0] = '\0';
    cr_assert(read_until(p[0], text, size, true, now_ms() + LIVENESS_MS),
              "d_parent said: %s", text);
    cr_assert_eq(sscanf(text, "spawned %d", &child), 1, "d_parent said: %s",
                 text);
    cr_assert_eq(kill(parent, SIGKILL), 0);
    cr_assert_eq(wait_exit(parent), 128 + SIGKILL);
    if (suspended)
        cr_assert_eq(kill(child, SIGCONT), 0);
    cr_assert(read_until(p[0], text, size, false, now_ms() + LIVENESS_MS),
              "the child hung: %s", text);
    close(p[0]);
}

Test(darwin, server_gone_by_hand, .init = holds_before)
{
    char text[512];
    const char *late;

    run_orphaned("late", false, text, sizeof text);
    late = strchr(text, '\n') + 1;
    /* By hand, without libcph_child's check of its parent: launchd may
     * still resolve the dead parent's name, and a request sent to its
     * dead port is destroyed (ipc_kmsg_send), which the send-once right
     * reports. */
    cr_assert(strncmp(late, "late lookup-failed ", 19) == 0 ||
                  strncmp(late, "late send-failed ", 17) == 0 ||
                  strcmp(late, "late refused\n") == 0,
              "a check-in with a dead server: %s", text);
    holds_nothing_more();
}

/* The child of "d_parent mode", orphaned before its check-in, says
 * ECONNREFUSED and keeps nothing. */
static void assert_orphan_refused(const char *mode)
{
    char text[512];
    int status = -1;
    size_t count = 1;

    run_orphaned(mode, true, text, sizeof text);
    cr_assert_eq(sscanf(strchr(text, '\n') + 1, "status %d count %zu",
                        &status, &count),
                 2, "the child said: %s", text);
    cr_assert_eq(status, ECONNREFUSED, "cph_child_status: %s",
                 strerror(status));
    cr_assert_eq(count, 0);
    holds_nothing_more();
}

/* Its parent gone (getppid() is 1), the child never sends the token. */
Test(darwin, server_gone_child_status, .init = holds_before)
{
    assert_orphan_refused("orphan");
}

Test(darwin, move_right_goes_to_one_child, .init = holds_before)
{
    mach_port_t port = port_with_send();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "send", "77", NULL}, *text;
    int report;
    pid_t pid;

    add_port(list, "port", port, MACH_MSG_TYPE_MOVE_SEND);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(receive_one(port).id, 77);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "sent send 0\n");
    free(text);
    pid = -1;
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_child"), NULL, NULL, argv,
                           environ, list),
                 EINVAL);
    cr_assert_eq(pid, -1, "*pid was set by a failed spawn");
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, move_right_destroyed_when_spawn_fails, .init = holds_before)
{
    mach_port_t port = port_with_send();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_missing", NULL};
    pid_t pid = -1;

    add_port(list, "port", port, MACH_MSG_TYPE_MOVE_RECEIVE);
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_missing"), NULL, NULL,
                           argv, environ, list),
                 ENOENT);
    cr_assert(type_of(port) & MACH_PORT_TYPE_DEAD_NAME,
              "the right a failed spawn took lives on");
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_missing"), NULL, NULL,
                           argv, environ, list),
                 EINVAL);
    cr_assert_eq(pid, -1);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, destroying_a_list_releases_its_move_rights, .init = holds_before)
{
    mach_port_t moved = port_with_send(), sent = port_with_send();
    mach_port_t copied = port_with_send();
    cph_attachments_t *list = list_new();

    cr_assert_eq(mach_port_mod_refs(mach_task_self(), sent,
                                    MACH_PORT_RIGHT_SEND, 1),
                 KERN_SUCCESS);
    add_port(list, "moved", moved, MACH_MSG_TYPE_MOVE_RECEIVE);
    add_port(list, "sent", sent, MACH_MSG_TYPE_MOVE_SEND);
    add_port(list, "copied", copied, MACH_MSG_TYPE_COPY_SEND);
    cph_attachments_destroy(list);
    cr_assert(type_of(moved) & MACH_PORT_TYPE_DEAD_NAME);
    cr_assert_eq(send_refs(sent), 1);
    cr_assert_eq(send_refs(copied), 1);
    holds_nothing_more();
}

Test(darwin, setexec_refused, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_missing", NULL};
    posix_spawnattr_t attr;
    pid_t pid = -1;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETEXEC), 0);
    /* A missing program: were SETEXEC let through, this process would
     * not be replaced, and the error would be ENOENT. */
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_missing"), NULL, &attr,
                           argv, environ, list),
                 EINVAL);
    cr_assert_eq(pid, -1);
    posix_spawnattr_destroy(&attr);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

static void assert_refused(cph_attachments_t *list, const char *key,
                           mach_port_t port, mach_msg_type_name_t disposition,
                           int expected)
{
    int err = cph_attachments_add_port(list, key, port, disposition);

    cr_assert_eq(err, expected, "add_port(%s, %u, %u): %s", key ? key : "NULL",
                 port, disposition, strerror(err));
}

Test(darwin, add_port_errors, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    mach_port_t port = receive_right(), sendable = port_with_send();
    mach_port_t dead = port_with_send(), gone = receive_right();
    mach_port_t self = mach_task_self(); /* a send right only */
    char long_key[66], *argv[] = {"d_child", "keys", NULL}, *text;
    char expected[128];
    int report;

    memset(long_key, 'k', 65);
    long_key[65] = '\0';
    /* dead: a dead name; gone: a name this task no longer holds */
    cr_assert_eq(mach_port_mod_refs(self, dead, MACH_PORT_RIGHT_RECEIVE, -1),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_mod_refs(self, gone, MACH_PORT_RIGHT_RECEIVE, -1),
                 KERN_SUCCESS);

    assert_refused(list, "a", MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, EINVAL);
    assert_refused(list, "a", MACH_PORT_DEAD, MACH_MSG_TYPE_COPY_SEND, EINVAL);
    assert_refused(list, "a", port, MACH_MSG_TYPE_COPY_RECEIVE, EINVAL);
    assert_refused(list, "a", port, 0, EINVAL);
    assert_refused(list, "a", port, MACH_MSG_TYPE_COPY_SEND, EINVAL);
    assert_refused(list, "a", port, MACH_MSG_TYPE_MOVE_SEND, EINVAL);
    assert_refused(list, "a", port, MACH_MSG_TYPE_MOVE_SEND_ONCE, EINVAL);
    assert_refused(list, "a", self, MACH_MSG_TYPE_MAKE_SEND, EINVAL);
    assert_refused(list, "a", self, MACH_MSG_TYPE_MAKE_SEND_ONCE, EINVAL);
    assert_refused(list, "a", self, MACH_MSG_TYPE_MOVE_RECEIVE, EINVAL);
    assert_refused(list, "a", dead, MACH_MSG_TYPE_COPY_SEND, EINVAL);
    assert_refused(list, "a", gone, MACH_MSG_TYPE_MAKE_SEND, EINVAL);
    assert_refused(list, "a", gone, MACH_MSG_TYPE_COPY_SEND, EINVAL);
    assert_refused(list, NULL, sendable, MACH_MSG_TYPE_MOVE_SEND, EINVAL);
    assert_refused(list, "", sendable, MACH_MSG_TYPE_MOVE_SEND, EINVAL);
    assert_refused(list, "bad key", sendable, MACH_MSG_TYPE_MOVE_SEND, EINVAL);
    assert_refused(list, long_key, sendable, MACH_MSG_TYPE_MOVE_SEND, EINVAL);
    assert_refused(NULL, "a", sendable, MACH_MSG_TYPE_MOVE_SEND, EINVAL);

    long_key[64] = '\0';
    add_port(list, long_key, port, MACH_MSG_TYPE_MAKE_SEND);
    add_port(list, "a", port, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    assert_refused(list, "a", port, MACH_MSG_TYPE_MAKE_SEND, EEXIST);
    assert_refused(list, "a", sendable, MACH_MSG_TYPE_MOVE_SEND, EEXIST);
    cr_assert_eq(send_refs(sendable), 1);

    /* Nothing refused made its way into the list. */
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    snprintf(expected, sizeof expected, "keys %s a report\n", long_key);
    cr_assert_str_eq(text, expected);
    free(text);
    /* Nor does the list own a reference it was refused. */
    cph_attachments_destroy(list);
    cr_assert_eq(send_refs(sendable), 1);
    holds_nothing_more();
}

Test(darwin, cloexec_default_still_checks_in, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char fd[16], *argv[] = {"d_child", "keys", fd, NULL}, *text;
    char expected[64];
    int marker = fcntl(STDERR_FILENO, F_DUPFD, 50), report;
    posix_spawnattr_t attr;

    /* An inheritable fd that CLOEXEC_DEFAULT must keep from the child. */
    cr_assert_geq(marker, 50);
    snprintf(fd, sizeof fd, "%d", marker);
    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    report = attach_report(list);
    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_CLOEXEC_DEFAULT),
                 0);
    text = report_after(spawn_d(argv, &attr, list), report);
    close(marker);
    snprintf(expected, sizeof expected, "keys port report\nfd %d closed\n",
             marker);
    cr_assert_str_eq(text, expected);
    free(text);
    posix_spawnattr_destroy(&attr);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The kernel copies descriptors in in order: cph sends every right it
 * copies or makes before the ones it moves. */
Test(darwin, receive_right_moved_with_a_send_right_made, .init = holds_before)
{
    mach_port_t port = receive_right();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "loop", "55", NULL}, *text;
    mach_port_type_t type;
    int report;

    add_port(list, "recv", port, MACH_MSG_TYPE_MOVE_RECEIVE);
    add_port(list, "send", port, MACH_MSG_TYPE_MAKE_SEND);
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    cr_assert_str_eq(text, "sent send 0\nreceived 55\n");
    free(text);
    cr_assert_eq(mach_port_type(mach_task_self(), port, &type),
                 KERN_INVALID_NAME, "the receive right stayed here");
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, last_send_right_moved_and_copied, .init = holds_before)
{
    mach_port_t port = port_with_send();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "sendeach", "66", "moved", "copied", NULL};
    char *text;
    int report;
    pid_t pid;

    add_port(list, "moved", port, MACH_MSG_TYPE_MOVE_SEND);
    add_port(list, "copied", port, MACH_MSG_TYPE_COPY_SEND);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(receive_one(port).id, 66);
    cr_assert_eq(receive_one(port).id, 66);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "sent send 0\nsent send 0\n");
    free(text);
    cr_assert_eq(send_refs(port), 0, "the moved send right stayed here");
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* Adds the read end of a new pipe under "pipe" to list, the key a failed
 * add left free, and checks that a child gets it and nothing else. */
static void pipe_alone_handed_over(cph_attachments_t *list)
{
    char *argv[] = {"d_child", "keys", NULL}, *text;
    int p[2], report;

    cr_assert_eq(pipe(p), 0);
    list_add(list, "pipe", p[0]);
    close(p[1]);
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    cr_assert_str_eq(text, "keys pipe report\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* fileport_makeport refuses a kqueue (xnu's fg_sendable): so does the
 * list, at once. */
Test(darwin, unsendable_fd_refused, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    int kq = kqueue();

    cr_assert_geq(kq, 0);
    cr_assert_eq(cph_attachments_add_fd(list, "kq", kq), EINVAL);
    close(kq);
    pipe_alone_handed_over(list);
}

#ifdef CPH_SIMULATED_MACH
void machsim_fail_fileports(bool fail);

/* When xnu makes no fileport (sys_fileport_makeport answers EAGAIN: no
 * memory for the port), the list says ENOMEM, as spawn.h lists, and takes
 * the fd once the kernel can again (review D12e). Only the simulator can
 * make fileport_alloc fail. */
Test(darwin, fileport_failure_is_enomem, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    int p[2];

    cr_assert_eq(pipe(p), 0);
    machsim_fail_fileports(true);
    cr_assert_eq(cph_attachments_add_fd(list, "pipe", p[0]), ENOMEM);
    machsim_fail_fileports(false);
    close(p[0]);
    close(p[1]);
    pipe_alone_handed_over(list);
}
#endif

/* A copied right whose port died before the check-in arrives dead:
 * child.h promises MACH_PORT_NULL for it. */
Test(darwin, dead_right_taken_as_null, .init = holds_before)
{
    mach_port_t port = port_with_send();
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "taken", NULL}, *text;
    int report;

    add_port(list, "port", port, MACH_MSG_TYPE_COPY_SEND);
    cr_assert_eq(mach_port_mod_refs(mach_task_self(), port,
                                    MACH_PORT_RIGHT_RECEIVE, -1),
                 KERN_SUCCESS);
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    cr_assert_str_eq(text, "port null count 2\n");
    free(text);
    cph_attachments_destroy(list);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), port), KERN_SUCCESS);
    holds_nothing_more();
}

/* A d_client in mode, spawned with list, writing to a fresh scratch
 * file (its path in c->out) and waiting for EOF on the read end of a
 * pipe whose write end (c->go) the test closes to let it go on. */
struct client {
    pid_t pid;
    int go;
    char out[256];
};

static struct client spawn_client(const char *mode,
                                  const cph_attachments_t *list)
{
    struct client c;
    char fd[16], *argv[] = {"d_client", (char *)mode, c.out, fd, NULL};
    int go[2];

    snprintf(c.out, sizeof c.out, "%s", scratch_path("client"));
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(fcntl(go[1], F_SETFD, FD_CLOEXEC), 0);
    snprintf(fd, sizeof fd, "%d", go[0]);
    c.pid = spawn_d(argv, NULL, list);
    close(go[0]);
    c.go = go[1];
    return c;
}

/* Lets c go on, waits for its exit (status 0) and returns what it
 * wrote. */
/* What the exited client c wrote, once its exit status is known to be
 * 0. */
static char *client_output(struct client *c, int status)
{
    char *text = slurp(c->out);

    cr_assert_not_null(text);
    unlink(c->out);
    cr_assert_eq(status, 0, "client exit status %d; it wrote:\n%s", status,
                 text);
    return text;
}

static char *client_done(struct client *c)
{
    close(c->go);
    return client_output(c, wait_exit(c->pid));
}

/* The client floods the server's queue while the server is held: the
 * server thread handles each message under this lock, so it takes at
 * most one out of the queue until the lock is let go. */
static char *flood_held(struct client *c)
{
    int status;

    cph__lock();
    close(c->go);
    status = wait_exit(c->pid);
    cph__unlock();
    return client_output(c, status);
}

/* Runs the client mode (flood...) that fills the server's queue and
 * checks in with a deadline; checks that the queue took far more than 5
 * and that the rest of what it says is tail. */
static void check_in_to_full_queue(const char *mode, const char *tail)
{
    cph_attachments_t *list = list_new();
    struct client c;
    char *text;
    int queued = 0;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    c = spawn_client(mode, list);
    text = flood_held(&c);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), ENOTCONN);
    cr_assert_eq(sscanf(text, "queued %d", &queued), 1, "%s", text);
    cr_assert_geq(queued, 1024, "the queue limit stayed low: %s", text);
    cr_assert_str_eq(strchr(text, '\n') + 1, tail);
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A check-in that cannot be queued gives up at its deadline and leaves
 * no right behind, over a reply port (the kernel swallows its send-once
 * right) and over a plain receive right (the send-once right comes
 * back). */
Test(darwin, full_queue_send_times_out_clean, .init = holds_before)
{
    check_in_to_full_queue("flood", "check-in timed-out\nnames same\n");
    check_in_to_full_queue("floodplain", "check-in timed-out\nnames same\n");
}

/* The same with signals arriving while the check-in waits for room:
 * each interrupted send is cleaned up and sent again by cph (libsyscall
 * would resend the header it was first given, one more reference of the
 * server's send right each time, and over a plain port one more
 * send-once right). */
Test(darwin, interrupted_check_in_leaves_no_reference, .init = holds_before)
{
    check_in_to_full_queue("floodsignal",
                           "check-in timed-out\nnames same\nrefs same\n");
    check_in_to_full_queue("floodsignalplain",
                           "check-in timed-out\nnames same\nrefs same\n");
}

/* Starts cph's server in this process (or finds it started): its
 * service name. */
static void server_name(char name[CPH__SERVICE_MAX + 1])
{
    int err;

    cph__lock();
    err = cph__server_start(name);
    cph__unlock();
    cr_assert_eq(err, 0, "server: %s", strerror(err));
}

/* How many messages the receive right name holds. */
static natural_t messages_on(mach_port_t name)
{
    return status_of(name).mps_msgcount;
}

/* A flood to the public name holds cph's lock one message at a time: once
 * the server has started on a full queue, another thread gets the lock
 * while most of it is still queued (a server that drains the queue
 * holding the lock lets go of it only once the queue is empty). */
Test(darwin, flood_lets_go_of_the_lock, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char name[CPH__SERVICE_MAX + 1];
    mach_port_t service = MACH_PORT_NULL;
    struct client c;
    natural_t full, left;
    int64_t deadline;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    c = spawn_client("flood", list);
    /* Our send right lands on the server's own name (its receive right
     * is in this task). */
    server_name(name);
    cr_assert_eq(bootstrap_look_up(bootstrap_port, name, &service),
                 KERN_SUCCESS);
    cph__lock();
    close(c.go);
    cr_assert_eq(wait_exit(c.pid), 0);
    full = messages_on(service);
    cph__unlock();
    unlink(c.out);
    cr_assert_geq(full, 1000, "the queue was not full: %u", full);
    deadline = now_ms() + LIVENESS_MS;
    while (messages_on(service) == full && now_ms() < deadline)
        usleep(1000);
    cr_assert_lt(messages_on(service), full, "the server took nothing");
    cph__lock();
    left = messages_on(service);
    cph__unlock();
    cr_assert_gt(left, 0, "the server drained %u messages holding the lock",
                 full);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), ENOTCONN);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), service),
                 KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* Anyone can send to the public name: a check_in carrying rights is
 * destroyed with them, and the real check-in is still served. */
Test(darwin, rogue_check_in_destroyed, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char *text;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    text = run_client("rogue", list, 0);
    cr_assert_str_eq(text, "rogue refused\n"
                           "bait refused\n"
                           "right accepted 1 port\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/*
 * Giving back (issue 8): the child gives rights to its parent under keys
 * the parent expected, on the give port that came with its reply.
 */

static cph_attachments_t *expecting(const char *key)
{
    cph_attachments_t *list = list_new();

    cr_assert_eq(cph_attachments_expect(list, key), 0);
    return list;
}

static void destroy_receive(mach_port_t port)
{
    cr_assert_eq(mach_port_mod_refs(mach_task_self(), port,
                                    MACH_PORT_RIGHT_RECEIVE, -1),
                 KERN_SUCCESS);
}

static mach_port_t take_port(pid_t pid, const char *key)
{
    mach_port_t port = MACH_PORT_NULL;
    int err = cph_take_port(pid, key, LIVENESS_MS, &port);

    cr_assert_eq(err, 0, "take %s: %s", key, strerror(err));
    holds_own(port);
    return port;
}

/* Crashpad's handler: it makes a receive right and gives its parent a
 * send right to it; the parent sends the first message. */
static void assert_gives_send_right(int delivery)
{
    cph_attachments_t *list = list_for(delivery);
    char *argv[] = {"d_child", "givesend", "handler", NULL}, *text;
    int report;
    pid_t pid;
    mach_port_t port;

    cr_assert_eq(cph_attachments_expect(list, "handler"), 0);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    port = take_port(pid, "handler");
    cr_assert_eq(type_of(port) & MACH_PORT_TYPE_SEND_RIGHTS,
                 MACH_PORT_TYPE_SEND);
    send_id(port, 77);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "gave 0\nreceived 77\n");
    free(text);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), port), KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, give_send_right_back, .init = holds_before)
{
    assert_gives_send_right(suite_delivery());
}

Test(darwin, give_receive_right_back, .init = holds_before)
{
    cph_attachments_t *list = expecting("queue");
    char *argv[] = {"d_child", "givereceive", "queue", "88", NULL}, *text;
    int report = attach_report(list);
    pid_t pid = spawn_d(argv, NULL, list);
    mach_port_t port = take_port(pid, "queue");
    struct received got;

    cr_assert(type_of(port) & MACH_PORT_TYPE_RECEIVE);
    /* The child sends on the send right it kept, to our receive right. */
    got = receive_one(port);
    cr_assert_eq(got.id, 88);
    cr_assert_eq(got.sender, pid);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "gave 0\nreceive left\nsent send 0\n");
    free(text);
    destroy_receive(port);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, give_send_once_right_back, .init = holds_before)
{
    cph_attachments_t *list = expecting("once");
    char *argv[] = {"d_child", "giveonce", "once", NULL}, *text;
    int report = attach_report(list);
    pid_t pid = spawn_d(argv, NULL, list);
    mach_port_t port = take_port(pid, "once");
    mach_msg_header_t msg = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
        .msgh_size = sizeof msg,
        .msgh_remote_port = port,
        .msgh_id = 99,
    };

    cr_assert(type_of(port) & MACH_PORT_TYPE_SEND_ONCE);
    cr_assert_eq(mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                          sizeof msg, 0, MACH_PORT_NULL, RECEIVE_MS,
                          MACH_PORT_NULL),
                 KERN_SUCCESS);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "gave 0\nreceived 99\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* What a refused give leaves with the child: a MOVE right it gave under a
 * key nobody expects, or with a disposition cph refuses, stays its own. */
Test(darwin, give_refusals_keep_the_right, .init = holds_before)
{
    cph_attachments_t *list = expecting("key");
    char *argv[] = {"d_child", "giveerrors", "key", NULL}, *text;
    char expected[256];
    int report = attach_report(list);
    pid_t pid = spawn_d(argv, NULL, list);
    mach_port_t port = take_port(pid, "key"), other;

    cr_assert(type_of(port) & MACH_PORT_TYPE_RECEIVE);
    cr_assert_eq(cph_take_port(pid, "nokey", 0, &other), ENOENT);
    cr_assert_eq(cph_take_port(pid, "key", 0, &other), EALREADY);
    text = report_after(pid, report);
    snprintf(expected, sizeof expected,
             "unexpected %d receive kept\ngiven 0 receive left\n"
             "again %d\nbad %d\n",
             ENOENT, EEXIST, EINVAL);
    cr_assert_str_eq(text, expected);
    free(text);
    destroy_receive(port);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The server side of the same rules: a give under a key nobody expects,
 * or malformed, is destroyed with its right; a give from any process but
 * the child, even on the child's own give port, too; and the child's exit
 * ends giving although a send right to its port lives on. */
Test(darwin, rogue_gives_destroyed, .init = holds_before)
{
    cph_attachments_t *list = expecting("good");
    mach_port_t give, replied, bait = receive_right(), none;
    struct client c;
    char *text;

    cr_assert_eq(cph_attachments_expect(list, "later"), 0);
    cr_assert_eq(cph_attachments_expect(list, "replied"), 0);
    c = spawn_client("roguegive", list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    /* The child gave us a send right to its own give port. */
    give = take_port(c.pid, "good");
    cr_assert_eq(give_by_hand(give, CPH__GIVE_ID, CPH__KIND_SEND_ONCE,
                              "later", bait, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                              MACH_PORT_NULL),
                 KERN_SUCCESS);
    cr_assert_eq(receive_one(bait).id, MACH_NOTIFY_SEND_ONCE,
                 "a give from the parent's pid was taken");
    cr_assert_eq(cph_take_port(c.pid, "later", 0, &none), ETIMEDOUT);
    cr_assert_eq(cph_take_port(c.pid, "bad", 0, &none), ENOENT);
    /* Taken, and the reply right its header carried destroyed. */
    replied = take_port(c.pid, "replied");
    text = client_done(&c);
    cr_assert_eq(cph_take_port(c.pid, "later", LIVENESS_MS, &none),
                 ECONNABORTED);
    cr_assert_str_eq(text, "unexpected refused\n"
                           "malformed refused\n"
                           "good sent 0\n"
                           "replied refused\n");
    free(text);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), replied),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), give), KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A child that exits without giving, or never checks in: the parent
 * learns it at once. */
Test(darwin, take_after_exit_without_giving, .init = holds_before)
{
    cph_attachments_t *list = expecting("never");
    char *argv[] = {"d_child", "keys", NULL}, *text;
    char *true_argv[] = {"true", NULL};
    int report = attach_report(list);
    mach_port_t port;
    pid_t pid = spawn_d(argv, NULL, list);

    text = report_after(pid, report);
    cr_assert_str_eq(text, "keys report\n");
    free(text);
    cr_assert_eq(cph_take_port(pid, "never", LIVENESS_MS, &port),
                 ECONNABORTED);
    cr_assert_eq(cph_spawn(&pid, "/usr/bin/true", NULL, NULL, true_argv,
                           environ, list),
                 0);
    cr_assert_eq(cph_take_port(pid, "never", LIVENESS_MS, &port),
                 ECONNABORTED);
    cr_assert_eq(wait_exit(pid), 0);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/*
 * What the review of the transport against xnu-11417 found (see
 * /work/notes/h4-tests.md for which case stands for which finding).
 */

/* fileport_makefd takes the lowest free fd: with stdio closed in the
 * child, received fds would land on 0-2 unless cph moves them. */
static void assert_fds_high(const posix_spawn_file_actions_t *fa,
                            const posix_spawnattr_t *attr)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "fdnums", "a", "b", NULL}, *text;
    int report;
    pid_t pid = -1;

    list_add(list, "a", open("/dev/null", O_RDONLY | O_CLOEXEC));
    list_add(list, "b", open("/dev/null", O_RDONLY | O_CLOEXEC));
    report = attach_report(list);
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_child"), fa, attr, argv,
                           environ, list),
                 0);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "report high\na high\nb high\n");
    free(text);
    cph_attachments_destroy(list);
}

Test(darwin, received_fds_never_on_stdio, .init = holds_before)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;

    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    for (int fd = 0; fd <= 2; fd++)
        cr_assert_eq(posix_spawn_file_actions_addclose(&fa, fd), 0);
    assert_fds_high(&fa, NULL);
    posix_spawn_file_actions_destroy(&fa);
    /* CLOEXEC_DEFAULT with cph's own file actions: stdio closed too. */
    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    cr_assert_eq(posix_spawnattr_setflags(&attr, POSIX_SPAWN_CLOEXEC_DEFAULT),
                 0);
    assert_fds_high(NULL, &attr);
    posix_spawnattr_destroy(&attr);
    holds_nothing_more();
}

/* The parent's side: an fd given back while the parent has stdio closed
 * is opened above it (the server's fileport_makefd would take 0). */
Test(darwin, given_fds_never_on_stdio, .init = holds_before)
{
    cph_attachments_t *list = expecting("back");
    char *argv[] = {"d_child", "givefd", "back", NULL}, *text;
    int go[2], saved[3], report, fd = -1, err;
    pid_t pid;

    cloexec_pipe(go);
    list_add(list, "go", go[0]);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    for (int i = 0; i <= 2; i++) {
        saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
        cr_assert_geq(saved[i], 10);
        close(i);
    }
    close(go[1]);
    err = cph_take_fd(pid, "back", LIVENESS_MS, &fd);
    for (int i = 0; i <= 2; i++) {
        dup2(saved[i], i);
        close(saved[i]);
    }
    cr_assert_eq(err, 0, "take: %s", strerror(err));
    cr_assert_gt(fd, 2, "a given fd landed on %d", fd);
    close(fd);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "gave 0\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A child that has exited (a zombie) before the server watches it:
 * EVFILT_PROC refuses it with ESRCH, and the child is gone, not the
 * parent's failure. Driven through the core as cph_spawn drives it. */
Test(darwin, exited_before_watch_never_checked_in, .init = holds_before)
{
    char *argv[] = {"true", NULL}, name[CPH__SERVICE_MAX + 1];
    struct cph__record *r = cph__record_new();
    siginfo_t info;
    int fds[2];
    pid_t pid;

    cr_assert_not_null(r);
    cr_assert_eq(posix_spawn(&pid, "/usr/bin/true", NULL, NULL, argv,
                             environ),
                 0);
    cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    cr_assert_eq(cph__pipe_create(fds), 0);
    r->delivery = CPH_DELIVERY_PID_BOUND;
    r->pipe_fd = fds[1];
    server_name(name);
    cph__lock();
    cph__registry_add(r);
    cph__registry_publish(r, pid);
    cph__unlock();
    cr_assert_eq(cph_checkin_wait(pid, 0), ENOTCONN);
    close(fds[0]);
    cr_assert_eq(wait_exit(pid), 0);
    holds_nothing_more();
}

/* One check-in, so that what the server's first spawn brings (its thread's
 * stack and malloc arena) is in place before a measure of the parent. */
static void warm_up_server(void)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "keys", NULL};
    int report;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    report = attach_report(list);
    free(report_after(spawn_d(argv, NULL, list), report));
    cph_attachments_destroy(list);
}

static mach_vm_size_t virtual_size(void)
{
    task_vm_info_data_t info;
    mach_msg_type_number_t count = TASK_VM_INFO_COUNT;

    cr_assert_eq(task_info(mach_task_self(), TASK_VM_INFO,
                           (task_info_t)&info, &count),
                 KERN_SUCCESS);
    return info.virtual_size;
}

/* Out-of-line memory sent to the public name as MACH_MSG_PHYSICAL_COPY
 * arrives with deallocate FALSE, which mach_msg_destroy leaves mapped:
 * 64 such messages of 1 MiB must not stay in the parent. */
Test(darwin, ool_memory_unmapped, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char name[CPH__SERVICE_MAX + 1];
    struct client c;
    mach_vm_size_t before;
    char *text;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    server_name(name);
    warm_up_server();
    before = virtual_size();
    c = spawn_client("ool", list);
    /* The server takes messages in order: the check-in comes last. */
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    cr_assert_lt(virtual_size(), before + 16 * 1024 * 1024,
                 "the out-of-line memory stayed mapped");
    text = client_done(&c);
    cr_assert_str_eq(text, "ool sent 64\nright accepted 1 port\n");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The same sent to a child's give port: the parent destroys each
 * malformed give, memory and all, and takes the good one after them. */
Test(darwin, ool_memory_given_unmapped, .init = holds_before)
{
    cph_attachments_t *list = expecting("good");
    char name[CPH__SERVICE_MAX + 1];
    mach_port_t good;
    struct client c;
    mach_vm_size_t before;
    char *text;

    server_name(name);
    warm_up_server();
    before = virtual_size();
    c = spawn_client("oolgive", list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    good = take_port(c.pid, "good");
    cr_assert_lt(virtual_size(), before + 16 * 1024 * 1024,
                 "the out-of-line memory stayed mapped");
    text = client_done(&c);
    cr_assert_str_eq(text, "ool sent 64\ngood sent 0\n");
    free(text);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), good), KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* MOVE_RECEIVE of a receive right xnu will not move would kill the
 * parent's server thread with a guard exception once the child checks
 * in: refused at once. The same right made a send right travels. */
Test(darwin, immovable_receive_rights_refused, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    mach_port_options_t guarded_options = {.flags = MPO_CONTEXT_AS_GUARD};
    mach_port_options_t immovable_options = {
        .flags = MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE};
    mach_port_t timer = mk_timer_create(), guarded, immovable;
    char *argv[] = {"d_child", "keys", NULL}, *text;
    int report;

    cr_assert(MACH_PORT_VALID(timer));
    cr_assert_eq(mach_port_construct(mach_task_self(), &guarded_options, 1,
                                     &guarded),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_construct(mach_task_self(), &immovable_options,
                                     2, &immovable),
                 KERN_SUCCESS);
    assert_refused(list, "t", timer, MACH_MSG_TYPE_MOVE_RECEIVE, EINVAL);
    assert_refused(list, "g", guarded, MACH_MSG_TYPE_MOVE_RECEIVE, EINVAL);
    assert_refused(list, "i", immovable, MACH_MSG_TYPE_MOVE_RECEIVE, EINVAL);
    add_port(list, "timer", timer, MACH_MSG_TYPE_MAKE_SEND);
    report = attach_report(list);
    text = report_after(spawn_d(argv, NULL, list), report);
    cr_assert_str_eq(text, "keys timer report\n");
    free(text);
    cph_attachments_destroy(list);
    cr_assert_eq(mk_timer_destroy(timer), KERN_SUCCESS);
    cr_assert_eq(mach_port_destruct(mach_task_self(), guarded, 0, 1),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_destruct(mach_task_self(), immovable, 0, 2),
                 KERN_SUCCESS);
    holds_nothing_more();
}

/* The same refusal in the child, for cph_child_give_port. */
Test(darwin, immovable_receive_rights_not_given, .init = holds_before)
{
    cph_attachments_t *list = expecting("key");
    char *argv[] = {"d_child", "giveimmovable", "key", NULL}, *text;
    char expected[64];
    int report = attach_report(list);
    pid_t pid = spawn_d(argv, NULL, list);
    mach_port_t none;

    text = report_after(pid, report);
    snprintf(expected, sizeof expected, "timer %d\nguarded %d\n", EINVAL,
             EINVAL);
    cr_assert_str_eq(text, expected);
    free(text);
    cr_assert_eq(cph_take_port(pid, "key", LIVENESS_MS, &none),
                 ECONNABORTED);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The child's name space cannot take the reply's rights: the receive
 * reports MACH_RCV_BODY_ERROR with the rights that fit copied out, which
 * the child must destroy ("on any error no handle is kept"). The helper
 * fills its own name space (a simulator's limit; on a Mac, a task that
 * does so risks its port-space resource limit). */
Test(darwin, child_body_error_keeps_nothing, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char expected[64], *text;

    for (int i = 0; i < 8; i++) {
        char key[8];

        snprintf(key, sizeof key, "p%d", i);
        add_port(list, key, receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    }
    text = run_client("fullspace", list, 0);
    snprintf(expected, sizeof expected, "reply %d left 0\n", ENOMEM);
    cr_assert_str_eq(text, expected);
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A reply refused at a descriptor's copyin (a MAKE_SEND whose receive
 * right the caller destroyed, against the contract): only the
 * descriptors before it were taken; the moved right after it is still
 * the parent's, and must be destroyed, not leaked. */
Test(darwin, body_error_destroys_unsent_moved_rights, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    mach_port_t made = receive_right(), moved = port_with_send();
    char *argv[] = {"d_child", "keys", NULL};
    pid_t pid;

    add_port(list, "made", made, MACH_MSG_TYPE_MAKE_SEND);
    add_port(list, "moved", moved, MACH_MSG_TYPE_MOVE_RECEIVE);
    destroy_receive(made);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), EIO);
    /* No handle arrived, "report" neither. */
    cr_assert_eq(wait_exit(pid), 100);
    cr_assert(type_of(moved) & MACH_PORT_TYPE_DEAD_NAME,
              "the moved receive right lives on in the parent");
    cr_assert_eq(mach_port_deallocate(mach_task_self(), moved), KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The server's own receive fails part-way (its name space is full): the
 * rights that were copied out before the failing descriptor are the
 * server's to destroy, here a copy of a send right to our witness port.
 * Filling this process's name space is a simulator's game (see
 * child_body_error_keeps_nothing). */
Test(darwin, server_body_error_destroyed, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    mach_port_t witness = receive_right(), *names;
    struct client c;
    int64_t deadline;
    size_t n;
    char *text;

    add_port(list, "witness", witness, MACH_MSG_TYPE_MAKE_SEND);
    c = spawn_client("fullserver", list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    names = fill_space(0, &n);
    text = client_done(&c);
    free_space(names, n);
    cr_assert_str_eq(text, "bait refused\n");
    free(text);
    deadline = now_ms() + LIVENESS_MS;
    while (send_refs(witness) != 0 && now_ms() < deadline)
        usleep(1000);
    cr_assert_eq(send_refs(witness), 0,
                 "the server kept what it received with a body error");
    destroy_receive(witness);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A MOVE right whose give fails at the send stays the child's: the give
 * port dead (EPIPE; the test destroys it behind cph's back, through the
 * send right the child gave), or full until the deadline (ETIMEDOUT: the
 * kernel hands it back). */
Test(darwin, failed_give_keeps_the_moved_right, .init = holds_before)
{
    cph_attachments_t *list = expecting("good");
    mach_port_t give, none;
    struct client c;
    char *text, expected[128];

    cr_assert_eq(cph_attachments_expect(list, "later"), 0);
    c = spawn_client("givedead", list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    give = take_port(c.pid, "good");
    destroy_receive(give);
    text = client_done(&c);
    snprintf(expected, sizeof expected,
             "good sent 0\nlater gave %d receive kept\n", EPIPE);
    cr_assert_str_eq(text, expected);
    free(text);
    cr_assert_eq(cph_take_port(c.pid, "later", LIVENESS_MS, &none),
                 ECONNABORTED);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), give), KERN_SUCCESS);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* Runs the client mode (givefull or givefullsignal) that fills its give
 * port and gives "later" with a deadline; checks that the give port was
 * filled and that the rest of what it says is ETIMEDOUT then tail. */
static void give_to_full_port(const char *mode, const char *tail)
{
    cph_attachments_t *list = expecting("later");
    struct client c;
    char *text, expected[96];
    int filled = 0;

    c = spawn_client(mode, list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    text = flood_held(&c);
    cr_assert_eq(sscanf(text, "filled %d", &filled), 1, "%s", text);
    cr_assert_geq(filled, 1023, "%s", text);
    snprintf(expected, sizeof expected, "later gave %d receive kept\n%s",
             ETIMEDOUT, tail);
    cr_assert_str_eq(strchr(text, '\n') + 1, expected);
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

Test(darwin, timed_out_give_keeps_the_moved_right, .init = holds_before)
{
    give_to_full_port("givefull", "");
}

/* The same with signals arriving while the give waits for room: each
 * interrupted send is taken back and sent again by cph (libsyscall would
 * resend the header and descriptor it was first given, one more
 * reference of the give right each time). */
Test(darwin, interrupted_give_leaves_no_reference, .init = holds_before)
{
    give_to_full_port("givefullsignal", "names same\nrefs same\n");
}

/* A fork while another thread's give waits for room in a full give port
 * waits for that give, so that the forked process does not start with
 * the give lock held for good: its own give answers ENOENT at once (its
 * give channel is not its parent's) (review D12d). */
Test(darwin, fork_during_a_give, .init = holds_before)
{
    enum { KEYS = 1030 };
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "forkgive", "1030", NULL}, key[16];
    char *text, line[16] = "", expected[64];
    int go[2], ready[2], report;
    mach_port_t port;
    bool filled;
    pid_t pid;

    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "g%d", i);
        cr_assert_eq(cph_attachments_expect(list, key), 0);
    }
    cloexec_pipe(go);
    cloexec_pipe(ready);
    list_add(list, "go", go[0]);
    list_add(list, "ready", ready[1]);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), 0);
    cph__lock();
    close(go[1]);
    filled = read_until(ready[0], line, sizeof line, true,
                        now_ms() + LIVENESS_MS);
    usleep(100 * 1000); /* the fork waits meanwhile */
    cph__unlock();
    cr_assert(filled, "the child never filled its give port");
    text = report_after(pid, report);
    snprintf(expected, sizeof expected, "forked %d\ngiven %d\n", ENOENT,
             KEYS);
    cr_assert_str_eq(text, expected);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "g%d", i);
        cr_assert_eq(cph_take_port(pid, key, LIVENESS_MS, &port), 0);
        /* Dead once the child's exit has destroyed its port. */
        if (MACH_PORT_VALID(port))
            cr_assert_eq(mach_port_deallocate(mach_task_self(), port),
                         KERN_SUCCESS);
    }
    free(text);
    close(ready[0]);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The give port's no-senders notification alone ends giving: the child
 * is alive and still has its pipe, but dropped its give right. */
Test(darwin, dropped_give_right_ends_giving, .init = holds_before)
{
    cph_attachments_t *list = expecting("never");
    mach_port_t none;
    struct client c;
    char *text;

    c = spawn_client("dropgive", list);
    cr_assert_eq(cph_checkin_wait(c.pid, LIVENESS_MS), 0);
    cr_assert_eq(cph_take_port(c.pid, "never", LIVENESS_MS, &none),
                 ECONNABORTED);
    cr_assert_eq(kill(c.pid, 0), 0, "the child exited: not no-senders");
    text = client_done(&c);
    cr_assert_str_eq(text, "");
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* A process between cph_spawn and the child (a wrapper that spawns it)
 * makes getppid() another pid than the parent's while the parent lives:
 * the child must not send the token, which stays in the pipe. */
Test(darwin, wrapped_child_keeps_the_token, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char expected[64], *text;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    text = run_client("wrapper", list, ENOTCONN);
    snprintf(expected, sizeof expected, "status %d count 0\ntoken unread\n",
             ECONNREFUSED);
    cr_assert_str_eq(text, expected);
    free(text);
    cph_attachments_destroy(list);
    holds_nothing_more();
}

/* The nameless delivery (the macOS default): a port the child finds in
 * its registered ports, no service name. */
static void assert_nameless_handed_over(void)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_NAMELESS);
    char *argv[] = {"d_child", "keys", NULL}, *text;
    int report;
    pid_t pid;

    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    report = attach_report(list);
    pid = spawn_d(argv, NULL, list);
    text = report_after(pid, report);
    cr_assert_str_eq(text, "keys port report\n");
    free(text);
    cph_attachments_destroy(list);
}

Test(darwin, nameless_handed_over, .init = holds_before)
{
    assert_nameless_handed_over();
    holds_nothing_more();
}

#ifdef CPH_SIMULATED_MACH
void machsim_deny_register(bool deny);
#else
/* <sandbox.h> (libsystem_sandbox, in libSystem), absent from zig's SDK;
 * deprecated since macOS 10.8, still exported: a process sandboxes itself
 * with a profile string (flags 0). */
int sandbox_init(const char *profile, uint64_t flags, char **errorbuf);
#endif

/* This process in a sandbox that denies mach-register and nothing else:
 * the simulator's switch; on a Mac, sandbox_init with such a profile
 * (its children inherit it). */
static void deny_mach_register(void)
{
#ifdef CPH_SIMULATED_MACH
    machsim_deny_register(true);
#else
    char *error = NULL;

    cr_assert_eq(sandbox_init("(version 1)(allow default)"
                              "(deny mach-register)",
                              0, &error),
                 0, "sandbox_init: %s", error ? error : "");
#endif
}

/* A sandbox without mach-register: the rendezvous cannot check its
 * service in, the nameless delivery needs none. */
Test(darwin, nameless_survives_denied_mach_register, .init = holds_before)
{
    cph_attachments_t *list = list_new();
    char *argv[] = {"d_child", "keys", NULL};
    pid_t pid;

    deny_mach_register();
    add_port(list, "port", receive_right(), MACH_MSG_TYPE_MAKE_SEND);
    cr_assert_eq(cph_spawn(&pid, darwin_helper("d_child"), NULL, NULL, argv,
                           environ, list),
                 EPERM);
    cph_attachments_destroy(list);
    assert_nameless_handed_over();
    holds_nothing_more();
}

/*
 * The nameless delivery's cases (issue 19). Each ends with the parent's
 * port rights as they were once its server ran (one nameless spawn
 * first): nothing a case made for a child is left behind.
 */
#ifdef CPH_SIMULATED_MACH
#include "../machsim/machsim.h"

static int own_rights(struct machsim_right *out, int max)
{
    return machsim_rights(getpid(), out, max);
}
#else
struct machsim_right {
    mach_port_name_t name;
    mach_port_type_t type;
    mach_port_urefs_t urefs;
};

/* What machsim_rights tells, from this task's own name space. */
static int own_rights(struct machsim_right *out, int max)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t n = 0, m = 0;

    cr_assert_eq(mach_port_names(mach_task_self(), &names, &n, &types, &m),
                 KERN_SUCCESS);
    for (mach_msg_type_number_t i = 0; i < n && (int)i < max; i++) {
        out[i] = (struct machsim_right){names[i], types[i], 0};
        if (types[i] & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DEAD_NAME))
            mach_port_get_refs(mach_task_self(), names[i],
                               types[i] & MACH_PORT_TYPE_SEND
                                   ? MACH_PORT_RIGHT_SEND
                                   : MACH_PORT_RIGHT_DEAD_NAME,
                               &out[i].urefs);
    }
    vm_deallocate(mach_task_self(), (vm_address_t)names, n * sizeof *names);
    vm_deallocate(mach_task_self(), (vm_address_t)types, m * sizeof *types);
    return (int)n;
}
#endif

#define RIGHTS_MAX 512

struct rights {
    int n;
    struct machsim_right r[RIGHTS_MAX];
};

static void rights_now(struct rights *s)
{
    s->n = own_rights(s->r, RIGHTS_MAX);
    cr_assert(s->n >= 0 && s->n <= RIGHTS_MAX, "%d rights", s->n);
}

/* The rights after a nameless spawn has started the server. */
static struct rights *rights_mark(void)
{
    struct rights *s = malloc(sizeof *s);

    cr_assert_not_null(s);
    assert_nameless_handed_over();
    rights_now(s);
    return s;
}

static bool rights_equal(const struct rights *a, const struct rights *b)
{
    return a->n == b->n &&
           memcmp(a->r, b->r, (size_t)a->n * sizeof *a->r) == 0;
}

/* The server lets go of a child's ports on its own thread (a give port
 * once the child's exit is reported): waits for that, as liveness. */
static void assert_rights_back(struct rights *mark)
{
    struct rights now;
    int64_t deadline = now_ms() + LIVENESS_MS;

    rights_now(&now);
    while (!rights_equal(mark, &now) && now_ms() < deadline) {
        usleep(10000);
        rights_now(&now);
    }
    for (int i = 0; i < now.n || i < mark->n; i++)
        cr_assert(i < now.n && i < mark->n &&
                      memcmp(&now.r[i], &mark->r[i], sizeof now.r[i]) == 0,
                  "right %d: %#x type %#x urefs %u, was %#x type %#x "
                  "urefs %u (%d rights, were %d)",
                  i, i < now.n ? now.r[i].name : 0,
                  i < now.n ? now.r[i].type : 0,
                  i < now.n ? now.r[i].urefs : 0,
                  i < mark->n ? mark->r[i].name : 0,
                  i < mark->n ? mark->r[i].type : 0,
                  i < mark->n ? mark->r[i].urefs : 0, now.n, mark->n);
    free(mark);
}

static cph_attachments_t *nameless_list(mach_port_t port)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_NAMELESS);

    add_port(list, "port", port, MACH_MSG_TYPE_MAKE_SEND);
    return list;
}

/* What "argv..." (a helper that runs d_child with a report) reports,
 * spawned with attr and a port attached, which is released after. */
static char *nameless_report(char *argv[], const posix_spawnattr_t *attr)
{
    mach_port_t port = receive_right();
    cph_attachments_t *list = nameless_list(port);
    int report = attach_report(list);
    char *text = report_after(spawn_d(argv, attr, list), report);

    cph_attachments_destroy(list);
    destroy_receive(port);
    return text;
}

/* A process the spawned child forked inherits the port in its slot,
 * but its check-in is refused (the audit pid is not the spawned one);
 * the child's own is served. */
Test(darwin, nameless_foreign_check_in_refused, .init = holds_before)
{
    struct rights *mark = rights_mark();
    mach_port_t port = receive_right();
    cph_attachments_t *list = nameless_list(port);
    char *text = run_client("nlforeign", list, 0);

    cr_assert_str_eq(text, "descendant refused\nright accepted 1 port\n");
    free(text);
    cph_attachments_destroy(list);
    destroy_receive(port);
    assert_rights_back(mark);
}

/* The child exits without checking in: given up, and the rights
 * attached for it released as for the rendezvous. */
Test(darwin, nameless_child_exits_early, .init = holds_before)
{
    struct rights *mark = rights_mark();
    struct stake s = never_checks_in(list_for(CPH_DELIVERY_NAMELESS));

    destroy_receive(s.made);
    destroy_receive(s.once_port);
    cr_assert_eq(mach_port_mod_refs(mach_task_self(), s.moved,
                                    MACH_PORT_RIGHT_DEAD_NAME, -1),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), s.sent),
                 KERN_SUCCESS);
    destroy_receive(s.sent);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), s.copied),
                 KERN_SUCCESS);
    destroy_receive(s.copied);
    assert_rights_back(mark);
}

/* The port's no-senders, not the child's exit, gave pid up. */
static void assert_given_up_alive(pid_t pid)
{
    cr_assert_eq(cph_checkin_wait(pid, LIVENESS_MS), ENOTCONN);
    cr_assert_eq(kill(pid, 0), 0, "the child exited: not no-senders");
}

/* The child lets go of the port without checking in, and lives on: the
 * port's no-senders gives it up, as the pipe's EOF does the rendezvous. */
Test(darwin, nameless_child_lets_go_of_the_port, .init = holds_before)
{
    struct rights *mark = rights_mark();
    mach_port_t port = receive_right();
    cph_attachments_t *list = nameless_list(port);
    struct client c = spawn_client("nldrop", list);
    char *text;

    assert_given_up_alive(c.pid);
    text = client_done(&c);
    cr_assert_str_eq(text, "dropped\n");
    free(text);
    cph_attachments_destroy(list);
    destroy_receive(port);
    assert_rights_back(mark);
}

/* A wrapper that execs the real child: the same pid, the registered
 * ports kept across exec. */
Test(darwin, nameless_through_exec_wrapper, .init = holds_before)
{
    struct rights *mark = rights_mark();
    char *argv[] = {"d_client", "nlexec", "d_child", "keys", NULL};
    char *text = nameless_report(argv, NULL);

    cr_assert_str_eq(text, "keys port report\n");
    free(text);
    assert_rights_back(mark);
}

/* The child clears its slot before main(): neither it nor a process it
 * forks finds the port in its registered ports. */
Test(darwin, nameless_grandchild_does_not_inherit, .init = holds_before)
{
    struct rights *mark = rights_mark();
    char *argv[] = {"d_child", "slots", NULL};
    char *text = nameless_report(argv, NULL);

    cr_assert_str_eq(text, "slots 0\nforked slots 0\n");
    free(text);
    assert_rights_back(mark);
}

/* Waits until the file at path holds text, as liveness. */
static void await_file(const char *path, const char *text)
{
    int64_t deadline = now_ms() + LIVENESS_MS;
    char *got = slurp(path);

    while ((!got || strcmp(got, text) != 0) && now_ms() < deadline) {
        free(got);
        usleep(10000);
        got = slurp(path);
    }
    cr_assert(got && strcmp(got, text) == 0, "%s holds: %s", path,
              got ? got : "(nothing)");
    free(got);
}

/* The child forked a process that keeps the port in its slot, then let
 * go of its own: the outcome waits for that descendant (no-senders),
 * which gives the child up while it still runs. */
Test(darwin, nameless_descendant_holds_the_right, .init = holds_before)
{
    struct rights *mark = rights_mark();
    mach_port_t port = receive_right();
    cph_attachments_t *list = nameless_list(port);
    struct client c = spawn_client("nlhold", list);

    await_file(c.out, "dropped\n");
    cr_assert_eq(cph_checkin_wait(c.pid, 200), ETIMEDOUT,
                 "given up while a descendant held the port");
    close(c.go);
    assert_given_up_alive(c.pid);
    cr_assert_eq(kill(c.pid, SIGKILL), 0);
    cr_assert_eq(wait_exit(c.pid), 128 + SIGKILL);
    unlink(c.out);
    cph_attachments_destroy(list);
    destroy_receive(port);
    assert_rights_back(mark);
}

/* The parent dies before its child (started suspended) checks in: the
 * port in the child's slot is dead, and the child says so at once. */
Test(darwin, nameless_parent_dies, .init = holds_before)
{
    struct rights *mark = rights_mark();

    assert_orphan_refused("nlorphan");
    assert_rights_back(mark);
}

#define IN_FLIGHT 24

/* Many children spawned before any checks in: each finds its own port
 * and gets its own handles. */
Test(darwin, nameless_many_in_flight, .init = holds_before)
{
    struct rights *mark = rights_mark();
    mach_port_t ports[IN_FLIGHT];
    cph_attachments_t *lists[IN_FLIGHT];
    int reports[IN_FLIGHT];
    pid_t pids[IN_FLIGHT];

    for (int i = 0; i < IN_FLIGHT; i++) {
        char id[16], *argv[] = {"d_child", "send", id, NULL};

        snprintf(id, sizeof id, "%d", 1000 + i);
        ports[i] = receive_right();
        lists[i] = nameless_list(ports[i]);
        reports[i] = attach_report(lists[i]);
        pids[i] = spawn_d(argv, NULL, lists[i]);
    }
    for (int i = 0; i < IN_FLIGHT; i++) {
        struct received got = receive_one(ports[i]);
        char *text;

        cr_assert_eq(got.id, 1000 + i, "child %d sent %d", i, got.id);
        cr_assert_eq(got.sender, pids[i], "sent by %d, not the child %d",
                     (int)got.sender, (int)pids[i]);
        text = report_after(pids[i], reports[i]);
        cr_assert_str_eq(text, "sent send 0\n");
        free(text);
        cph_attachments_destroy(lists[i]);
        destroy_receive(ports[i]);
    }
    assert_rights_back(mark);
}

/* Giving back works the same through the nameless check-in: the give
 * port comes with its reply. */
Test(darwin, nameless_give_back, .init = holds_before)
{
    struct rights *mark = rights_mark();

    assert_gives_send_right(CPH_DELIVERY_NAMELESS);
    assert_rights_back(mark);
}

/* This task's registered ports (send rights of ours, released here). */
static void registered(mach_port_t out[CPH__SLOTS])
{
    mach_port_array_t ports = NULL;
    mach_msg_type_number_t n = 0;

    cr_assert_eq(mach_ports_lookup(mach_task_self(), &ports, &n),
                 KERN_SUCCESS);
    cr_assert_eq(n, CPH__SLOTS);
    for (int i = 0; i < CPH__SLOTS; i++) {
        out[i] = ports[i];
        if (MACH_PORT_VALID(ports[i]))
            mach_port_deallocate(mach_task_self(), ports[i]);
    }
    vm_deallocate(mach_task_self(), (vm_address_t)ports, n * sizeof *ports);
}

/* With attrp NULL (cph's own attributes set the child's registered
 * ports) and with one (cph registers the port on this task around the
 * spawn): the child finds the parent's own registered port in its slot
 * and cph's in the next, takes cph's only, and the parent's set is as
 * it was. */
static void assert_registered_kept(const posix_spawnattr_t *attr)
{
    mach_port_t mine = port_with_send();
    mach_port_t before[CPH__SLOTS], after[CPH__SLOTS];
    mach_port_t none[CPH__SLOTS] = {MACH_PORT_NULL};
    char *argv[] = {"d_child", "slots", NULL}, *text;

    cr_assert_eq(mach_ports_register(mach_task_self(), &mine, 1),
                 KERN_SUCCESS);
    registered(before);
    cr_assert_eq(before[0], mine);
    text = nameless_report(argv, attr);
    registered(after);
    cr_assert_str_eq(text, "slots 1\nforked slots 1\n");
    cr_assert_arr_eq(after, before, sizeof before,
                     "this task's registered ports changed: %u %u %u",
                     after[0], after[1], after[2]);
    free(text);
    cr_assert_eq(mach_ports_register(mach_task_self(), none, CPH__SLOTS),
                 KERN_SUCCESS);
    cr_assert_eq(mach_port_deallocate(mach_task_self(), mine), KERN_SUCCESS);
    destroy_receive(mine);
}

Test(darwin, nameless_without_attr_keeps_registered_ports, .init = holds_before)
{
    struct rights *mark = rights_mark();

    assert_registered_kept(NULL);
    assert_rights_back(mark);
}

Test(darwin, nameless_with_attr_keeps_registered_ports, .init = holds_before)
{
    struct rights *mark = rights_mark();
    posix_spawnattr_t attr;

    cr_assert_eq(posix_spawnattr_init(&attr), 0);
    assert_registered_kept(&attr);
    posix_spawnattr_destroy(&attr);
    assert_rights_back(mark);
}

/* The bytes this process has allocated with malloc. */
static size_t bytes_in_use(void)
{
#ifdef CPH_SIMULATED_MACH
    struct mallinfo2 info = mallinfo2();

    return info.uordblks + info.hblkhd;
#else
    malloc_statistics_t stats;

    malloc_zone_statistics(NULL, &stats);
    return stats.size_in_use;
#endif
}

#define LONG_KEYS 16
#define FALLBACK_SPAWNS 40

/* What n spawns of "d_child keys" through delivery cost in memory, each
 * list expecting LONG_KEYS long keys the child never gives (released
 * when it exits). */
static size_t cost_of_spawns(int delivery, int n)
{
    size_t before = bytes_in_use();

    for (int i = 0; i < n; i++) {
        cph_attachments_t *list = list_for(delivery);
        char *argv[] = {"d_child", "keys", NULL}, *text, key[CPH__KEY_MAX];
        int report = attach_report(list);

        for (int k = 0; k < LONG_KEYS; k++) {
            memset(key, 'a' + k, sizeof key - 1); /* the longest key */
            key[sizeof key - 1] = '\0';
            cr_assert_eq(cph_attachments_expect(list, key), 0);
        }
        text = report_after(spawn_d(argv, NULL, list), report);
        cr_assert_str_eq(text, "keys report\n");
        free(text);
        cph_attachments_destroy(list);
    }
    return bytes_in_use() - before;
}

/* Every one of the parent's registered-port slots taken: a nameless
 * spawn is a pid-bound one, and costs what a pid-bound one does (the
 * keys it expects are not set aside twice). */
Test(darwin, nameless_without_a_free_slot_is_pid_bound,
     .init = holds_before)
{
    mach_port_t mine[CPH__SLOTS], none[CPH__SLOTS] = {MACH_PORT_NULL};
    size_t pid_bound, fallback;

    for (int i = 0; i < CPH__SLOTS; i++)
        mine[i] = port_with_send();
    cr_assert_eq(mach_ports_register(mach_task_self(), mine, CPH__SLOTS),
                 KERN_SUCCESS);
    cost_of_spawns(CPH_DELIVERY_PID_BOUND, 4);
    cost_of_spawns(CPH_DELIVERY_NAMELESS, 4);
    pid_bound = cost_of_spawns(CPH_DELIVERY_PID_BOUND, FALLBACK_SPAWNS);
    fallback = cost_of_spawns(CPH_DELIVERY_NAMELESS, FALLBACK_SPAWNS);
    cr_assert_lt(fallback, pid_bound + FALLBACK_SPAWNS * LONG_KEYS * 16,
                 "%d nameless spawns kept %zu bytes, pid-bound ones %zu",
                 FALLBACK_SPAWNS, fallback, pid_bound);
    cr_assert_eq(mach_ports_register(mach_task_self(), none, CPH__SLOTS),
                 KERN_SUCCESS);
    for (int i = 0; i < CPH__SLOTS; i++) {
        cr_assert_eq(mach_port_deallocate(mach_task_self(), mine[i]),
                     KERN_SUCCESS);
        destroy_receive(mine[i]);
    }
    holds_nothing_more();
}
