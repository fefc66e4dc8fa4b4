/*
 * The seed question's "bootstrap port swap dance", ported to cph (Linux,
 * fds). The original swaps its own bootstrap port for a port it wants the
 * forked child to have, forks, and has the child send back a port of its
 * own so that the parent can return the real bootstrap port to it. With
 * cph there is nothing to swap: the parent attaches its channel under a
 * key, and the child takes it by key before main. The rest of the dance
 * stays: the child makes a channel of its own, sends the parent one end
 * over the parent's channel, and the parent answers on it.
 *
 *   fd_dance           the parent: launches itself as the child
 *   fd_dance child     the child (launched by the parent only)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/child.h>
#include <cph/spawn.h>

extern char **environ;

static const char answer[] = "the parent got your channel";

/* Sends fd over channel, with one byte of data (SCM_RIGHTS needs some). */
static int send_fd(int channel, int fd)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control = {0};
    char byte = 'f';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(channel, &msg, 0) == 1 ? 0 : -1;
}

/* Receives one fd from channel; -1 if none came. */
static int recv_fd(int channel)
{
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    struct cmsghdr *cm;
    int fd;

    if (recvmsg(channel, &msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

static int child(void)
{
    int parent = cph_child_take_fd("parent");
    int mine[2];
    char buf[64];
    ssize_t n;

    if (parent < 0) {
        fprintf(stderr, "child: no channel from the parent: %s\n",
                strerror(cph_child_status()));
        return 1;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, mine) < 0 ||
        send_fd(parent, mine[1]) < 0) {
        perror("child: send my channel");
        return 1;
    }
    close(mine[1]);
    n = read(mine[0], buf, sizeof buf - 1);
    if (n <= 0) {
        fprintf(stderr, "child: no answer\n");
        return 1;
    }
    buf[n] = '\0';
    printf("child: on my own channel: %s\n", buf);
    return 0;
}

static int parent(void)
{
    char *argv[] = {"fd_dance", "child", NULL};
    cph_attachments_t *list;
    int channel[2], theirs, err, status;
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0) {
        perror("socketpair");
        return 1;
    }
    err = cph_attachments_init(&list);
    if (!err)
        err = cph_attachments_add_fd(list, "parent", channel[1]);
    close(channel[1]);
    if (!err)
        err = cph_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ,
                        list);
    cph_attachments_destroy(list);
    if (err) {
        fprintf(stderr, "parent: cph_spawn: %s\n", strerror(err));
        return 1;
    }
    theirs = recv_fd(channel[0]);
    if (theirs < 0 || write(theirs, answer, strlen(answer)) < 0)
        fprintf(stderr, "parent: no channel from the child\n");
    else
        printf("parent: answered on the child's channel\n");
    fflush(stdout);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && theirs >= 0
               ? 0 : 1;
}

int main(int argc, char **argv)
{
    return argc == 2 && strcmp(argv[1], "child") == 0 ? child() : parent();
}
