/*
 * A parent that serves the check-in by hand, to fail it on purpose.
 * x_fakeparent MODE OUT CHILD_OUT: launches "h_child time|show CHILD_OUT"
 * with a real pipe, token and CPH_HANDSHAKE, then:
 *
 *   die-after-request  reads the child's request, then dies (SIGKILL)
 *   die-before-connect closes its socket before the child runs, dies
 *   half-reply         sends the first of two replies, then dies
 *   hang               reads the request and never answers
 *   impostor           a forked process owns the socket and answers
 *   bad-magic, bad-count, bad-key, bad-kind, trailing, truncated
 *                      answers with that malformed reply
 *
 * OUT gets "spawned MS" and, for the dying modes, "killed MS"
 * (CLOCK_MONOTONIC) just before the SIGKILL.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cph_core.h"
#include "linux/protocol.h"
#include "transport.h"

static FILE *out;

static void note(const char *what)
{
    fprintf(out, "%s %lld\n", what, (long long)cph__now_ms());
    fflush(out);
}

static void die(void)
{
    note("killed");
    raise(SIGKILL);
}

static int listen_on(const char *service)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, len) < 0 ||
        listen(fd, 8) < 0)
        exit(110);
    return fd;
}

/* Launches h_child with the handshake set up; returns its pid. */
static pid_t launch(const char *mode, const char *child_out,
                    const char *service)
{
    char path[4096], entry[256], *argv[] = {"h_child", (char *)mode,
                                            (char *)child_out, NULL};
    char *envp[] = {entry, NULL};
    posix_spawn_file_actions_t fa;
    uint8_t token[CPH__TOKEN_SIZE];
    int p[2];
    pid_t pid;
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);

    if (n <= 0)
        exit(116);
    path[n] = '\0';
    strcpy(strrchr(path, '/'), "/h_child");
    if (cph__pipe_create(p) || cph__token_new(token) ||
        write(p[1], token, sizeof token) != sizeof token ||
        cph__env_format(entry, sizeof entry, 70, service) ||
        posix_spawn_file_actions_init(&fa) ||
        posix_spawn_file_actions_adddup2(&fa, p[0], 70) ||
        posix_spawn(&pid, path, &fa, NULL, argv, envp))
        exit(111);
    close(p[0]);
    /* p[1] stays open: the child must not see EOF before the token. */
    note("spawned");
    return pid;
}

static int take_request(int lfd)
{
    struct cph__request req;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0 || recv(fd, &req, sizeof req, 0) != sizeof req)
        exit(112);
    return fd;
}

/* One reply: head, then entries as given, with fds fds attached. */
static void reply(int fd, const char *magic, uint16_t count, uint8_t last,
                  const void *entries, size_t len, int nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * 2)];
    } control;
    uint8_t buf[256];
    struct cph__reply_head head = {.count = count, .last = last};
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof head + len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    int fds[2] = {0, 0};

    memcpy(head.magic, magic, sizeof head.magic);
    memcpy(buf, &head, sizeof head);
    memcpy(buf + sizeof head, entries, len);
    if (nfds > 0) {
        struct cmsghdr *cm;
        msg.msg_control = control.space;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0)
        exit(113);
}

#define ENTRY_A "\x01\x01" "a"

/* The malformed replies, by mode; false if mode is not one of them. */
static bool bad_reply(const char *mode, int fd)
{
    if (strcmp(mode, "bad-magic") == 0)
        reply(fd, "xph1", 1, 1, ENTRY_A, 3, 1);
    else if (strcmp(mode, "bad-count") == 0)
        reply(fd, CPH__MAGIC, 2, 1, ENTRY_A, 3, 1);
    else if (strcmp(mode, "bad-key") == 0)
        reply(fd, CPH__MAGIC, 1, 1, "\x01\x01/", 3, 1);
    else if (strcmp(mode, "bad-kind") == 0)
        reply(fd, CPH__MAGIC, 1, 1, "\x02\x01" "a", 3, 1);
    else if (strcmp(mode, "trailing") == 0)
        reply(fd, CPH__MAGIC, 1, 1, ENTRY_A "zz", 5, 1);
    else if (strcmp(mode, "truncated") == 0)
        reply(fd, CPH__MAGIC, 1, 1, "\x01\x05" "ab", 4, 1);
    else
        return false;
    return true;
}

/* The socket belongs to a process that is not the child's parent. */
static void impostor(const char *child_out)
{
    char service[CPH__SERVICE_MAX + 1];
    int ready[2];
    pid_t other;
    char c;

    cph__service_name(service);
    if (pipe(ready) < 0 || (other = fork()) < 0)
        exit(114);
    if (other == 0) {
        int lfd = listen_on(service), fd;
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        fd = take_request(lfd);
        reply(fd, CPH__MAGIC, 1, 1, ENTRY_A, 3, 1);
        sleep(2);
        _exit(0);
    }
    if (read(ready[0], &c, 1) != 1)
        exit(115);
    waitpid(launch("show", child_out, service), NULL, 0);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
}

int main(int argc, char **argv)
{
    char service[CPH__SERVICE_MAX + 1];
    const char *mode;
    int lfd, fd;
    pid_t child;

    if (argc < 4 || !(out = fopen(argv[2], "w")))
        return 100;
    mode = argv[1];
    if (strcmp(mode, "impostor") == 0) {
        impostor(argv[3]);
        return 0;
    }
    cph__service_name(service);
    lfd = listen_on(service);
    if (strcmp(mode, "die-before-connect") == 0) {
        close(lfd);
        launch("time", argv[3], service);
        die();
    }
    child = launch(strncmp(mode, "die", 3) == 0 || strcmp(mode, "hang") == 0
                       ? "time" : "show",
                   argv[3], service);
    fd = take_request(lfd);
    if (strcmp(mode, "die-after-request") == 0)
        die();
    if (strcmp(mode, "half-reply") == 0) {
        reply(fd, CPH__MAGIC, 1, 0, ENTRY_A, 3, 1);
        die();
    }
    if (strcmp(mode, "hang") == 0)
        pause();
    if (!bad_reply(mode, fd))
        return 101;
    close(fd);
    waitpid(child, NULL, 0);
    return 0;
}
