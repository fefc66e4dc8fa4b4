/*
 * The pid-bound rendezvous server, driven over its real socket. Each input
 * is a script of operations on up to CONNS connections of the fuzzer's own
 * (see run_script), played while a real child, spawned by cph_spawn with
 * one fd, is in flight. After each input:
 *   - the child has checked in (cph_checkin_wait says 0) and saw its fd;
 *   - no connection of the fuzzer was sent anything, bytes or fds;
 *   - every connection, once shut down, was closed by the server;
 *   - the process holds as many fds as before the input: the server
 *     closed every fd the fuzzer sent it.
 * A failed check aborts, which libFuzzer reports as a crash.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "core/cph_core.h"
#include "fuzz.h"
#include "linux/protocol.h"

extern char **environ;

#define CONNS 8
/* Most fds one message of the fuzzer carries: past the 8 the server's
 * control buffer holds, the kernel truncates. */
#define FDS_MAX 16
/* How long the server may take to close a connection, or to close the
 * fds of closed ones: well below CPH_CHILD_TIMEOUT_MS, so that a
 * connection the server forgot is not mistaken for one it closed. */
#define SERVER_MS 3000

enum op { OP_CONNECT, OP_SEND, OP_SEND_FDS, OP_SHUTDOWN, OP_CLOSE, OPS };

static struct sockaddr_un server;
static socklen_t server_len;
static cph_attachments_t *attachments;
static int devnull = -1;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_server: %s\n", what);
    abort();
}

/*
 * Where the pid-bound server listens. The only part of the harness that
 * knows how libcph names and starts its server: when that changes, this
 * function changes.
 */
static socklen_t server_address(struct sockaddr_un *addr)
{
    char name[CPH__SERVICE_MAX + 1];
    int err;

    cph__lock();
    err = cph__server_start(name);
    cph__unlock();
    return err ? 0 : cph__service_addr(name, addr);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spawns the real child; the server starts with the first one. */
static pid_t spawn_child(void)
{
    char *argv[] = {"fuzz_child", NULL};
    pid_t pid;

    if (cph_spawn(&pid, FUZZ_CHILD, NULL, NULL, argv, environ,
                  attachments) != 0)
        fail("cph_spawn failed");
    return pid;
}

static void expect_checkin(pid_t pid)
{
    int status, outcome = cph_checkin_wait(pid, -1);
    pid_t got;

    if (outcome != 0) {
        fprintf(stderr, "fuzz_server: check-in: %s\n", strerror(outcome));
        fail("the real child did not check in");
    }
    /* libFuzzer's SIGALRM (every -timeout / 2 + 1 s) has no SA_RESTART. */
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        continue;
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the real child did not receive its fd");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || cph_attachments_init(&attachments) != 0 ||
        cph_attachments_set_delivery(attachments,
                                     CPH_DELIVERY_PID_BOUND) != 0 ||
        cph_attachments_add_fd(attachments, "f", devnull) != 0)
        fail("cannot make the attachments");
    expect_checkin(spawn_child());
    server_len = server_address(&server);
    if (server_len == 0)
        fail("no server address");
    return 0;
}

/* A length byte, then that many bytes (fewer at the end of the input). */
static const uint8_t *next_payload(struct fuzz_script *s, size_t *len)
{
    const uint8_t *p;

    *len = fuzz_byte(s);
    if (*len > s->size - s->at)
        *len = s->size - s->at;
    p = s->data + s->at;
    s->at += *len;
    return p;
}

/*
 * Each operation is one byte: its low 3 bits pick a connection, the rest
 * the operation. OP_SEND is followed by a length byte and the message;
 * OP_SEND_FDS by a byte giving 1 to FDS_MAX fds, then as OP_SEND.
 */
static void run_script(struct fuzz_script *s, int conns[CONNS])
{
    while (s->at < s->size) {
        uint8_t b = fuzz_byte(s);
        int *c = &conns[b % CONNS];
        size_t len, nfds = 0;
        const uint8_t *payload;

        switch ((enum op)((b / CONNS) % OPS)) {
        case OP_CONNECT:
            if (*c >= 0)
                break;
            *c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
            if (*c < 0 ||
                connect(*c, (struct sockaddr *)&server, server_len) < 0)
                fail("cannot connect to the server");
            break;
        case OP_SEND_FDS:
            nfds = 1 + fuzz_byte(s) % FDS_MAX;
            /* fall through */
        case OP_SEND:
            payload = next_payload(s, &len);
            /* The server reads one message and closes: later ones may
             * fail. */
            if (*c >= 0)
                fuzz_send(*c, payload, len, devnull, nfds);
            break;
        case OP_SHUTDOWN:
            if (*c >= 0)
                shutdown(*c, SHUT_WR);
            break;
        case OP_CLOSE:
            if (*c >= 0)
                close(*c);
            *c = -1;
            break;
        case OPS:
            break;
        }
    }
}

/* Shuts the connection down and reads it to its end: the server must
 * close it having sent nothing. */
static void expect_closed_empty(int fd)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * FDS_MAX)];
    } control;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t deadline = now_ms() + SERVER_MS;
    int ready;
    ssize_t n;

    shutdown(fd, SHUT_WR);
    do {
        int64_t left = deadline - now_ms();
        ready = poll(&p, 1, left > 0 ? (int)left : 0);
    } while (ready < 0 && errno == EINTR);
    if (ready != 1)
        fail("the server kept a connection open");
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno != ECONNRESET)
        fail("cannot read a connection");
    if (n >= 0 && msg.msg_controllen > 0)
        fail("the server handed the fuzzer fds");
    if (n > 0)
        fail("the server answered the fuzzer");
    close(fd);
}

/* The server closes what belonged to connections the fuzzer closed a
 * moment after the fuzzer does. */
static void expect_fds(int count)
{
    int64_t deadline = now_ms() + SERVER_MS;

    while (fuzz_count_fds() != count) {
        if (now_ms() > deadline)
            fail("fds leaked");
        usleep(1000);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_script s = {.data = data, .size = size};
    int conns[CONNS], fds = fuzz_count_fds();
    pid_t pid = spawn_child();

    for (int i = 0; i < CONNS; i++)
        conns[i] = -1;
    run_script(&s, conns);
    expect_checkin(pid);
    for (int i = 0; i < CONNS; i++)
        if (conns[i] >= 0)
            expect_closed_empty(conns[i]);
    expect_fds(fds);
    return 0;
}
