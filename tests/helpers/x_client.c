/*
 * Speaks the Linux check-in by hand, to attack it. x_client MODE OUT
 * [SERVICE] writes one line per attempt to OUT: "NAME rejected" (the
 * server closed without a reply) or "NAME accepted N" (N handles came).
 *
 *   wrongthenright  a flipped token, then the real one
 *   forked          a forked grandchild sends the real token, then we do
 *   malformed       every kind of bad request, then the real one
 *   outsider        no CPH_HANDSHAKE: a random token to SERVICE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cph_core.h"
#include "linux/protocol.h"

static FILE *out;
static char service[CPH__SERVICE_MAX + 1];
static uint8_t token[CPH__TOKEN_SIZE];

static int connect_service(void)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, len) < 0)
        exit(110);
    return fd;
}

/* Sends raw bytes (and fd, if >= 0) as one message. */
static void send_raw(int fd, const void *buf, size_t len, int pass)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (pass >= 0) {
        struct cmsghdr *cm;
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof control.space;
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass, sizeof pass);
    }
    sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* Reads replies until the last or EOF; closes what came. */
static void report(const char *name, int fd)
{
    static uint8_t buf[CPH__REPLY_MAX];
    size_t handles = 0;
    bool last = false;

    while (!last) {
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(int) * CPH__FDS_PER_REPLY)];
        } control;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
        struct cph__reply_head head;
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

        if (n < (ssize_t)sizeof head)
            break;
        memcpy(&head, buf, sizeof head);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
             cm = CMSG_NXTHDR(&msg, cm))
            for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                 i++) {
                int got;
                memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof got);
                close(got);
                handles++;
            }
        last = head.last;
    }
    if (last)
        fprintf(out, "%s accepted %zu\n", name, handles);
    else
        fprintf(out, "%s rejected\n", name);
    fflush(out);
    close(fd);
}

static void attempt(const char *name, const uint8_t *with)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    int fd = connect_service();

    memcpy(req.token, with, sizeof req.token);
    send_raw(fd, &req, sizeof req, -1);
    report(name, fd);
}

static void wrong_then_right(void)
{
    uint8_t wrong[CPH__TOKEN_SIZE];

    for (size_t i = 0; i < sizeof wrong; i++)
        wrong[i] = token[i] ^ 0x5a;
    attempt("wrong", wrong);
    attempt("right", token);
}

static void forked(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        attempt("grandchild", token);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    attempt("child", token);
}

/* Sends buf as the whole request on a new connection. */
static void bad(const char *name, const void *buf, size_t len, int pass)
{
    int fd = connect_service();

    send_raw(fd, buf, len, pass);
    report(name, fd);
}

/* The server must not keep fds sent to it: once it has closed its copy
 * and we ours, the pipe's reader sees EOF. */
static void fds_are_closed(void)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    struct pollfd pfd;
    int p[2];
    char c;

    memcpy(req.token, token, sizeof req.token);
    if (pipe2(p, O_CLOEXEC) < 0)
        exit(111);
    bad("with-fd", &req, sizeof req, p[1]);
    close(p[1]);
    pfd.fd = p[0];
    pfd.events = POLLIN;
    fprintf(out, "fd-released %d\n",
            poll(&pfd, 1, 5000) == 1 && read(p[0], &c, 1) == 0);
    close(p[0]);
}

static void malformed(void)
{
    static uint8_t big[65536];
    struct cph__request req = {.magic = CPH__MAGIC};
    uint8_t longer[sizeof req + 1] = {0};
    int fd;

    memcpy(req.token, token, sizeof req.token);
    memcpy(longer, &req, sizeof req);
    bad("one-byte", "c", 1, -1);
    bad("short", &req, sizeof req - 1, -1);
    bad("long", longer, sizeof longer, -1);
    memcpy(big, &req, sizeof req);
    bad("oversized", big, sizeof big, -1);
    memcpy(req.magic, "cph2", 4);
    bad("magic", &req, sizeof req, -1);
    memcpy(req.magic, CPH__MAGIC, 4);
    bad("empty", "", 0, -1);
    fds_are_closed();
    fd = connect_service();
    close(fd);
    attempt("right", token);
}

static int read_token(int fd)
{
    size_t have = 0;

    while (have < sizeof token) {
        ssize_t n = read(fd, token + have, sizeof token - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *value = getenv("CPH_HANDSHAKE");
    int fd;

    if (argc < 3 || !(out = fopen(argv[2], "w")))
        return 100;
    if (strcmp(argv[1], "outsider") == 0 && argc > 3) {
        snprintf(service, sizeof service, "%s", argv[3]);
        cph__token_new(token);
        attempt("outsider", token);
        return 0;
    }
    if (!value || cph__env_parse(value, &fd, service) != 0 ||
        read_token(fd) != 0)
        return 102;
    if (strcmp(argv[1], "wrongthenright") == 0)
        wrong_then_right();
    else if (strcmp(argv[1], "forked") == 0)
        forked();
    else if (strcmp(argv[1], "malformed") == 0)
        malformed();
    else
        return 101;
    close(fd);
    return 0;
}
