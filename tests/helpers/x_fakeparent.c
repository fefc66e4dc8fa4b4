/*
 * A parent that serves the check-in by hand, to fail it on purpose.
 * x_fakeparent MODE OUT CHILD_OUT CHILD_STDIO makes its own pipe, token
 * and abstract socket (a fresh name), and posix_spawns "x_child CHILD_OUT
 * 70" (linked with libcph_child) with the pipe's read end dup2'd to fd 70,
 * CPH_HANDSHAKE naming fd 70 and the socket, and stdout and stderr going to CHILD_STDIO.
 * The fds it sends are memfds named "cph-x-sent". Then, by MODE:
 *
 *   good              one valid reply with one fd (the control case)
 *   good-two          two valid replies, one fd each (last=0, last=1)
 *   stop-after-request reads the request, then stops itself (SIGSTOP) for
 *                     the test to kill
 *   stop-after-half   sends the first of two replies, then stops itself
 *   before-connect    a keeper process holds the pipe's write end and
 *                     writes the token only once this process is dead;
 *                     this process stops itself before any token is there
 *   hang              reads the request and never answers; waits for
 *                     the child to exit
 *   impostor          a forked process owns the socket (bind + listen) and
 *                     sends a valid reply as soon as it accepts
 *   bad-magic, count-more, count-less, bad-key, empty-key, bad-kind,
 *   trailing, truncated, short-head, dup-key
 *                     that malformed reply
 *   zero-fds          a zero-length message carrying an fd
 *   empty-then-good   a zero-length message without fds, which the child
 *                     reads as an EOF, then a valid reply
 *   cut-fds           a valid reply with four fds to a child that can
 *                     take only some of them (RLIMIT_NOFILE 6, set by
 *                     h_exec, which then execs x_child): the kernel cuts
 *                     the rest off
 *   direct-good, direct-zero-fds, direct-cut-fds
 *                     the direct delivery instead: a socketpair whose
 *                     end is dup2'd to fd 70 (with SO_PASSCRED, as cph
 *                     makes it), CPH_HANDSHAKE "d:..." naming it, and
 *                     that reply queued in it
 *
 * OUT gets "child PID", "spawned MS" (CLOCK_MONOTONIC, just before the
 * spawn), "request N" (bytes of the request it read), "keeper PID",
 * "impostor-request N" (bytes the impostor got: 0 is EOF; -errno, with
 * -ETIMEDOUT for nothing within 10 s), "child-exit N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "core/cph_core.h"
#include "linux/protocol.h"

#define CHILD_FD 70

static FILE *out;
static const char *child_out, *child_stdio;
static uint8_t token[CPH__TOKEN_SIZE];

static void note(const char *what, long long value)
{
    fprintf(out, "%s %lld\n", what, value);
    fflush(out);
}

static int listen_on(const char *service)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (len == 0 || fd < 0 || bind(fd, (struct sockaddr *)&addr, len) < 0 ||
        listen(fd, 8) < 0)
        exit(110);
    return fd;
}

/* Whether x_child runs with few fds (through h_exec -n 6). */
static bool child_limited;

/* The path of helper name, next to this program. */
static void sibling(char path[4096], const char *name)
{
    ssize_t n = readlink("/proc/self/exe", path, 4096 - 16);

    if (n <= 0)
        exit(111);
    path[n] = '\0';
    strcpy(strrchr(path, '/') + 1, name);
}

/* Spawns x_child with end as its channel: the pipe of service, or (no
 * service) a direct socketpair's end; returns its pid. */
static pid_t launch(int end, const char *service)
{
    char path[4096], x_child[4096], entry[CPH__ENV_ENTRY_MAX], fdarg[16];
    struct cph__env e = {.delivery = service ? CPH_DELIVERY_PID_BOUND
                                             : CPH_DELIVERY_DIRECT,
                         .fd = CHILD_FD};
    struct stat st;
    char *argv[] = {"h_exec", "-n", "6", x_child, (char *)child_out, fdarg,
                    NULL};
    char *envp[] = {entry, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;

    sibling(x_child, "x_child");
    sibling(path, child_limited ? "h_exec" : "x_child");
    snprintf(fdarg, sizeof fdarg, "%d", CHILD_FD);
    if (fstat(end, &st) < 0)
        exit(111);
    e.inode = (uint64_t)st.st_ino;
    e.pid = getpid();
    snprintf(e.service, sizeof e.service, "%s", service ? service : "");
    if (cph__env_format(entry, sizeof entry, &e) != 0 ||
        posix_spawn_file_actions_init(&fa) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, end, CHILD_FD) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, child_stdio,
                                         O_WRONLY | O_CREAT | O_TRUNC,
                                         0600) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, 1, 2) != 0)
        exit(112);
    note("spawned", (long long)cph__now_ms());
    if (posix_spawn(&pid, path, &fa, NULL,
                    child_limited ? argv : argv + 3, envp) != 0)
        exit(113);
    posix_spawn_file_actions_destroy(&fa);
    close(end);
    note("child", pid);
    return pid;
}

/* A pipe with the token in it; launches the child on it. The write end
 * stays open: the child must not see EOF. */
static pid_t launch_with_token(const char *service)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0 ||
        write(p[1], token, sizeof token) != (ssize_t)sizeof token)
        exit(114);
    return launch(p[0], service);
}

/* Accepts one connection and reads the request (at most 10 s). */
static int take_request(int lfd)
{
    struct cph__request req;
    struct pollfd pfd = {.events = POLLIN};
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        exit(115);
    pfd.fd = fd;
    n = poll(&pfd, 1, 10000) == 1 ? recv(fd, &req, sizeof req, 0) : -1;
    note("request", n);
    if (n != (ssize_t)sizeof req || memcmp(req.magic, CPH__MAGIC, 4) != 0 ||
        memcmp(req.token, token, sizeof token) != 0)
        exit(116);
    return fd;
}

/* Sends len bytes of buf as one message with nfds fresh memfds. */
static int send_msg(int fd, const void *buf, size_t len, int nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    int fds[4];
    ssize_t n;

    for (int i = 0; i < nfds; i++) {
        fds[i] = memfd_create("cph-x-sent", MFD_CLOEXEC);
        if (fds[i] < 0 || write(fds[i], "sent", 4) != 4)
            exit(117);
    }
    if (nfds > 0)
        memcpy(cph__attach_fds(&msg, control.space, (size_t)nfds), fds,
               sizeof(int) * (size_t)nfds);
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    return n == (ssize_t)len ? 0 : -1;
}

/* One reply: a head, then len bytes of entries, with nfds fds. */
static int reply(int fd, const char *magic, uint16_t count, uint8_t last,
                 const void *entries, size_t len, int nfds)
{
    uint8_t buf[256];
    struct cph__message_head head = {.count = count, .last = last};

    memcpy(head.magic, magic, sizeof head.magic);
    memcpy(buf, &head, sizeof head);
    memcpy(buf + sizeof head, entries, len);
    return send_msg(fd, buf, sizeof head + len, nfds);
}

#define ENTRY_A "\x01\x01" "a"
#define ENTRY_B "\x01\x01" "b"
#define ENTRIES_ABCD ENTRY_A ENTRY_B "\x01\x01" "c" "\x01\x01" "d"

/* The replies of the modes that answer and end; false for other modes. */
static bool answer(const char *mode, int fd)
{
    int err;

    if (strcmp(mode, "good") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, ENTRY_A, 3, 1);
    else if (strcmp(mode, "good-two") == 0)
        err = reply(fd, CPH__MAGIC, 1, 0, ENTRY_A, 3, 1) ||
              reply(fd, CPH__MAGIC, 1, 1, ENTRY_B, 3, 1);
    else if (strcmp(mode, "bad-magic") == 0)
        err = reply(fd, "cph2", 1, 1, ENTRY_A, 3, 1);
    else if (strcmp(mode, "count-more") == 0)
        err = reply(fd, CPH__MAGIC, 2, 1, ENTRY_A ENTRY_B, 6, 1);
    else if (strcmp(mode, "count-less") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, ENTRY_A, 3, 2);
    else if (strcmp(mode, "bad-key") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, "\x01\x01/", 3, 1);
    else if (strcmp(mode, "empty-key") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, "\x01\x00", 2, 1);
    else if (strcmp(mode, "bad-kind") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, "\x07\x01" "a", 3, 1);
    else if (strcmp(mode, "trailing") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, ENTRY_A "zz", 5, 1);
    else if (strcmp(mode, "truncated") == 0)
        err = reply(fd, CPH__MAGIC, 1, 1, "\x01\x05" "ab", 4, 1);
    else if (strcmp(mode, "short-head") == 0)
        err = send_msg(fd, "cph", 3, 1);
    else if (strcmp(mode, "dup-key") == 0)
        err = reply(fd, CPH__MAGIC, 2, 1, ENTRY_A ENTRY_A, 6, 2);
    else if (strcmp(mode, "zero-fds") == 0)
        err = send_msg(fd, "", 0, 1);
    else if (strcmp(mode, "empty-then-good") == 0)
        err = send_msg(fd, "", 0, 0) ||
              reply(fd, CPH__MAGIC, 1, 1, ENTRY_A, 3, 1);
    else if (strcmp(mode, "cut-fds") == 0)
        err = reply(fd, CPH__MAGIC, 4, 1, ENTRIES_ABCD, 12, 4);
    else
        return false;
    if (err)
        exit(118);
    return true;
}

static void stop(void)
{
    raise(SIGSTOP);
    for (;;)
        pause();
}

static void wait_child(pid_t child)
{
    int status;

    if (waitpid(child, &status, 0) != child)
        exit(119);
    note("child-exit", WIFEXITED(status) ? WEXITSTATUS(status)
                                         : 128 + WTERMSIG(status));
}

/* The keeper writes the token once we are dead. */
static void before_connect(const char *service)
{
    int tp[2], dp[2];
    pid_t keeper, self = getpid();
    char c;

    if (pipe2(tp, O_CLOEXEC) < 0 || pipe2(dp, O_CLOEXEC) < 0)
        exit(120);
    fflush(out);
    keeper = fork();
    if (keeper < 0)
        exit(121);
    if (keeper == 0) {
        struct timespec ms1 = {0, 1000000};

        close(dp[1]);
        close(tp[0]);
        while (read(dp[0], &c, 1) != 0)
            ;
        /* The pipe's EOF may come before the socket is closed (a dying
         * process closes its fds one by one); reparenting comes after
         * all of them. */
        while (getppid() == self)
            nanosleep(&ms1, NULL);
        /* A child that started only after our death has refused at
         * once (its parent is not the service's) and closed the pipe. */
        signal(SIGPIPE, SIG_IGN);
        _exit(write(tp[1], token, sizeof token) == (ssize_t)sizeof token ||
                      errno == EPIPE
                  ? 0 : 1);
    }
    note("keeper", keeper);
    close(dp[0]);
    close(tp[1]);
    /* Forked first, so the keeper holds no copy of the socket. */
    listen_on(service);
    launch(tp[0], service);
    stop();
}

static void impostor(const char *service)
{
    int ready[2];
    pid_t other;
    char c;

    if (pipe2(ready, O_CLOEXEC) < 0)
        exit(122);
    fflush(out);
    other = fork();
    if (other < 0)
        exit(123);
    if (other == 0) {
        uint8_t buf[64];
        struct pollfd pfd = {.events = POLLIN};
        int lfd = listen_on(service), fd;
        ssize_t n;

        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            _exit(2);
        /* Valid-looking, unasked: may fail once the child has gone. */
        reply(fd, CPH__MAGIC, 1, 1, ENTRY_A, 3, 1);
        pfd.fd = fd;
        if (poll(&pfd, 1, 10000) != 1)
            n = -ETIMEDOUT;
        else if ((n = recv(fd, buf, sizeof buf, 0)) < 0)
            n = -errno;
        note("impostor-request", n);
        _exit(0);
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1)
        exit(124);
    wait_child(launch_with_token(service));
    if (waitpid(other, NULL, 0) != other)
        exit(125);
}

/* The direct delivery by hand: the reply is queued before the child
 * exists, as cph does. */
static void direct(const char *mode)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
        cph__pass_creds(sv[1], true) != 0)
        exit(126);
    if (strcmp(mode, "good") == 0 ? reply(sv[0], CPH__MAGIC, 1, 1, ENTRY_A,
                                          3, 1) != 0
                                  : !answer(mode, sv[0]))
        exit(127);
    wait_child(launch(sv[1], NULL));
    close(sv[0]);
}

int main(int argc, char **argv)
{
    char service[CPH__SERVICE_MAX + 1];
    const char *mode;
    pid_t child;
    int lfd, fd;

    if (argc < 5 || !(out = fopen(argv[2], "we")))
        return 100;
    mode = argv[1];
    child_out = argv[3];
    child_stdio = argv[4];
    if (cph__service_name(service) != 0 || cph__token_new(token) != 0)
        return 101;
    child_limited = strstr(mode, "cut-fds") != NULL;
    if (strncmp(mode, "direct-", 7) == 0) {
        direct(mode + 7);
        return 0;
    }
    if (strcmp(mode, "before-connect") == 0)
        before_connect(service);
    if (strcmp(mode, "impostor") == 0) {
        impostor(service);
        return 0;
    }
    lfd = listen_on(service);
    child = launch_with_token(service);
    fd = take_request(lfd);
    if (strcmp(mode, "stop-after-request") == 0)
        stop();
    if (strcmp(mode, "stop-after-half") == 0) {
        if (reply(fd, CPH__MAGIC, 1, 0, ENTRY_A, 3, 1) != 0)
            return 102;
        stop();
    }
    if (strcmp(mode, "hang") != 0 && !answer(mode, fd))
        return 103;
    /* The connection stays open until the child is done. */
    wait_child(child);
    close(fd);
    return 0;
}
