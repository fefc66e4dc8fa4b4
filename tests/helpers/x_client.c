/*
 * Speaks the Linux check-in by hand, to attack the server. Not linked with
 * libcph_child: it parses CPH_HANDSHAKE and reads the token itself.
 *
 * x_client MODE OUT [ARG] writes one line per attempt to the file OUT:
 *   "NAME rejected"                  the server closed: 0 bytes, 0 fds, EOF
 *   "NAME accepted K=TEXT K=TEXT..." a complete, valid reply came; TEXT is
 *                                    the start of each received fd's content
 *   "NAME odd bytes=B fds=F eof=E"   anything else
 * and "waiting" when it stops at the gate: it then waits until the file
 * ARG exists (at most 20 s) before its final, real check-in.
 *
 *   right             the real check-in only
 *   replay            the real check-in, then the same token again
 *   wrongthenright    the token with every bit flipped; gate; the real one
 *   forked            a forked grandchild sends the real token; gate; the
 *                     real check-in from this process
 *   malformed         every kind of bad request (see malformed()); gate;
 *                     the real one
 *   gated             "service NAME"; gate; the real one
 *   outsider          (ARG is a service name; no CPH_HANDSHAKE) guessed
 *                     tokens only; with a further argument N, it holds N
 *                     idle connections instead, until killed
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
#include <time.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "core/cph_core.h"
#include "linux/protocol.h"

static FILE *out;
static const char *gate_path;
static char service[CPH__SERVICE_MAX + 1];
static uint8_t token[CPH__TOKEN_SIZE];

static void line(const char *fmt, const char *name)
{
    fprintf(out, fmt, name);
    fflush(out);
}

static int connect_service(void)
{
    struct sockaddr_un addr;
    socklen_t len = cph__service_addr(service, &addr);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (len == 0 || fd < 0 || connect(fd, (struct sockaddr *)&addr, len) < 0)
        exit(110);
    return fd;
}

/* Sends len bytes of buf as one message, with nfds copies of pass. */
static void send_raw(int fd, const void *buf, size_t len, int pass, int nfds)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int) * 32)];
    } control;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    if (nfds > 0) {
        unsigned char *fds =
            cph__attach_fds(&msg, control.space, (size_t)nfds);
        for (int i = 0; i < nfds; i++)
            memcpy(fds + (size_t)i * sizeof(int), &pass, sizeof pass);
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
        exit(111);
}

/* Receives everything until EOF (at most 10 s) and reports it; closes
 * every fd that came, and fd. */
static void report(const char *name, int fd)
{
    static uint8_t buf[CPH__MESSAGE_MAX + 64];
    char text[2048] = "";
    size_t bytes = 0, fds = 0, handles = 0;
    bool eof = false, valid = true, last = false;

    for (;;) {
        union {
            struct cmsghdr align;
            char space[CMSG_SPACE(sizeof(int) * CPH__FDS_PER_MESSAGE)];
        } control;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = control.space,
                             .msg_controllen = sizeof control.space};
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        struct cph__message_head head;
        int got[CPH__FDS_PER_MESSAGE];
        size_t ngot = 0, off = sizeof head;
        ssize_t n;

        if (poll(&pfd, 1, 10000) != 1)
            break;
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0) {
            /* SEQPACKET: 0 is EOF (or an empty message, never sent by a
             * correct server). */
            eof = true;
            break;
        }
        bytes += (size_t)n;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
             cm = CMSG_NXTHDR(&msg, cm))
            for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                 i++)
                memcpy(&got[ngot++], CMSG_DATA(cm) + i * sizeof(int),
                       sizeof(int));
        fds += ngot;
        memcpy(&head, buf, sizeof head);
        if ((size_t)n < sizeof head || last ||
            memcmp(head.magic, CPH__MAGIC, 4) != 0 || head.count != ngot)
            valid = false;
        for (size_t i = 0; valid && i < ngot; i++) {
            struct cph__handle h;
            char content[64];
            ssize_t c;

            if (cph__wire_get(buf, (size_t)n, &off, &h) != 0) {
                valid = false;
                break;
            }
            c = pread(got[i], content, sizeof content - 1, 0);
            content[c > 0 ? c : 0] = '\0';
            content[strcspn(content, "\n")] = '\0';
            snprintf(text + strlen(text), sizeof text - strlen(text),
                     " %s=%s", h.key, c >= 0 ? content : "?");
            handles++;
        }
        if (off != (size_t)n)
            valid = false;
        if (valid && head.last)
            last = true;
        for (size_t i = 0; i < ngot; i++)
            close(got[i]);
    }
    close(fd);
    if (eof && bytes == 0 && fds == 0)
        fprintf(out, "%s rejected\n", name);
    else if (eof && valid && last)
        fprintf(out, "%s accepted%s\n", name, text);
    else
        fprintf(out, "%s odd bytes=%zu fds=%zu eof=%d\n", name, bytes, fds,
                eof);
    fflush(out);
}

static void attempt(const char *name, const uint8_t *with)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    int fd = connect_service();

    memcpy(req.token, with, sizeof req.token);
    send_raw(fd, &req, sizeof req, -1, 0);
    report(name, fd);
}

/* Waits for the test's go-ahead: the gate file appears. */
static void gate(void)
{
    struct timespec ms5 = {0, 5000000};

    if (!gate_path)
        exit(120);
    line("%s\n", "waiting");
    for (int i = 0; access(gate_path, F_OK) != 0; i++) {
        if (i > 4000)
            exit(121);
        nanosleep(&ms5, NULL);
    }
}

static void wrong_then_right(void)
{
    uint8_t wrong[CPH__TOKEN_SIZE];

    for (size_t i = 0; i < sizeof wrong; i++)
        wrong[i] = (uint8_t)~token[i];
    attempt("wrong", wrong);
    gate();
    attempt("right", token);
}

static void forked(void)
{
    pid_t pid;
    int status;

    fflush(out);
    pid = fork();
    if (pid < 0)
        exit(112);
    if (pid == 0) {
        attempt("grandchild", token);
        _exit(0);
    }
    if (waitpid(pid, &status, 0) != pid || status != 0)
        exit(113);
    gate();
    attempt("child", token);
}

/* Sends buf as the whole request on a new connection. */
static void bad(const char *name, const void *buf, size_t len, int pass,
                int nfds)
{
    int fd = connect_service();

    send_raw(fd, buf, len, pass, nfds);
    report(name, fd);
}

/* A right-size request with the real token and nfds copies of a pipe's
 * write end: rejected, and the server must not keep them: once its
 * copies are closed and ours too, the pipe's reader sees EOF. */
static void with_fds(const char *name, int nfds)
{
    struct cph__request req = {.magic = CPH__MAGIC};
    struct pollfd pfd;
    char c, label[64];
    int p[2];

    memcpy(req.token, token, sizeof req.token);
    if (pipe2(p, O_CLOEXEC) < 0)
        exit(114);
    bad(name, &req, sizeof req, p[1], nfds);
    close(p[1]);
    pfd.fd = p[0];
    pfd.events = POLLIN;
    snprintf(label, sizeof label, "%s-released %%d\n", name);
    fprintf(out, label, poll(&pfd, 1, 5000) == 1 && read(p[0], &c, 1) == 0);
    fflush(out);
    close(p[0]);
}

static void malformed(void)
{
    static uint8_t big[64 * 1024];
    struct cph__request req = {.magic = CPH__MAGIC};
    uint8_t longer[sizeof req + 1] = {0};
    int fd;

    memcpy(req.token, token, sizeof req.token);
    memcpy(longer, &req, sizeof req);
    memcpy(big, &req, sizeof req);
    bad("one-byte", "c", 1, -1, 0);
    bad("short", &req, sizeof req - 1, -1, 0);
    bad("long", longer, sizeof longer, -1, 0);
    bad("oversized", big, sizeof big, -1, 0);
    memcpy(req.magic, "cph2", 4);
    bad("magic", &req, sizeof req, -1, 0);
    memcpy(req.magic, CPH__MAGIC, 4);
    bad("empty", "", 0, -1, 0);
    with_fds("with-fd", 1);
    /* More than the server's control buffer holds (MSG_CTRUNC). */
    with_fds("with-fds", 20);
    /* Connect, say nothing, close. */
    close(connect_service());
    line("%s closed\n", "connect-close");
    /* Connect, say nothing, shut down the sending side. */
    fd = connect_service();
    shutdown(fd, SHUT_WR);
    report("shutdown", fd);
    gate();
    attempt("right", token);
}

static int read_token(int fd)
{
    size_t have = 0;

    while (have < sizeof token) {
        ssize_t n = read(fd, token + have, sizeof token - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

static void outsider(void)
{
    uint8_t guess[CPH__TOKEN_SIZE];

    if (cph__token_new(guess) != 0)
        exit(115);
    attempt("random", guess);
    memset(guess, 0, sizeof guess);
    attempt("zeros", guess);
    memset(guess, 0xff, sizeof guess);
    attempt("ones", guess);
}

/* Holds n idle connections (saying nothing) until killed. */
static void flood(int n)
{
    for (int i = 0; i < n; i++)
        connect_service();
    fprintf(out, "flooded %d\n", n);
    fflush(out);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    const char *value = getenv("CPH_HANDSHAKE");
    const char *mode;
    struct cph__env e;
    int fd;

    if (argc < 3 || !(out = fopen(argv[2], "we")))
        return 100;
    mode = argv[1];
    gate_path = argc > 3 ? argv[3] : NULL;
    if (strcmp(mode, "outsider") == 0) {
        if (value || !gate_path)
            return 101;
        snprintf(service, sizeof service, "%s", argv[3]);
        if (argc > 4)
            flood(atoi(argv[4]));
        outsider();
        return 0;
    }
    if (!value || cph__env_parse(value, &e) != 0 ||
        e.delivery != CPH_DELIVERY_PID_BOUND)
        return 102;
    fd = e.fd;
    strcpy(service, e.service);
    if (read_token(fd) != 0)
        return 102;
    if (strcmp(mode, "right") == 0) {
        attempt("right", token);
    } else if (strcmp(mode, "replay") == 0) {
        attempt("right", token);
        attempt("again", token);
    } else if (strcmp(mode, "wrongthenright") == 0) {
        wrong_then_right();
    } else if (strcmp(mode, "forked") == 0) {
        forked();
    } else if (strcmp(mode, "malformed") == 0) {
        malformed();
    } else if (strcmp(mode, "gated") == 0) {
        line("service %s\n", service);
        gate();
        attempt("right", token);
    } else {
        return 103;
    }
    /* The pipe stays open until the end: the server would give us up on
     * its EOF. */
    close(fd);
    return fclose(out) == 0 ? 0 : 104;
}
