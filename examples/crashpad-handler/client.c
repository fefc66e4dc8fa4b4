/*
 * The client side of Crashpad's handler start, ported to cph (Linux):
 * client HANDLER_PATH.
 *
 * Crashpad's client creates a ChildPortHandshake, passes its pipe to
 * the handler it launches, and RunServer() returns the send right the
 * handler checked in with; the client installs it as its exception
 * port. Here the client expects one fd back under "handler", spawns the
 * handler with cph_spawn, and takes the fd with cph_take_fd: a
 * connected socket to the handler's server end. It sends one request
 * and prints the reply.
 *
 * Exit status 0 when the handler answered as expected.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

/* Spawns the handler and takes what reaches it into *fd. */
static int start_handler(const char *path, pid_t *pid, int *fd)
{
    char *argv[] = {(char *)path, NULL};
    cph_attachments_t *list;
    int err = cph_attachments_init(&list);

    if (!err)
        err = cph_attachments_expect(list, "handler");
    if (!err)
        err = cph_spawn(pid, path, NULL, NULL, argv, environ, list);
    cph_attachments_destroy(list);
    if (!err)
        err = cph_take_fd(*pid, "handler", 5000, fd);
    return err;
}

static int ask(int fd, const char *request, char *reply, size_t size)
{
    ssize_t n;

    if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0)
        return errno;
    n = recv(fd, reply, size - 1, 0);
    if (n <= 0)
        return n < 0 ? errno : ECONNRESET;
    reply[n] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    char request[64], reply[160], want[64];
    int fd = -1, status, err;
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: client HANDLER_PATH\n");
        return 2;
    }
    err = start_handler(argv[1], &pid, &fd);
    if (err) {
        fprintf(stderr, "client: starting the handler: %s\n", strerror(err));
        return 1;
    }
    snprintf(request, sizeof request, "dump %d", (int)getpid());
    snprintf(want, sizeof want, "dumped %d", (int)getpid());
    err = ask(fd, request, reply, sizeof reply);
    close(fd); /* the handler's cue to exit */
    if (err) {
        fprintf(stderr, "client: asking the handler: %s\n", strerror(err));
        return 1;
    }
    printf("handler %d: %s\n", (int)pid, reply);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return 1;
    return strcmp(reply, want) == 0 ? 0 : 1;
}
