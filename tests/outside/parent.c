/* A program outside the tree, built with `pkg-config --cflags --libs cph`:
 * hands FILE to CHILD under the key "file" and waits for it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

int main(int argc, char **argv)
{
    cph_attachments_t *list;
    char *child_argv[2];
    pid_t pid;
    int fd, err, status;

    if (argc != 3)
        return 2;
    fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || cph_attachments_init(&list) != 0 ||
        cph_attachments_add_fd(list, "file", fd) != 0)
        return 1;
    close(fd);
    child_argv[0] = argv[1];
    child_argv[1] = NULL;
    err = cph_spawn(&pid, argv[1], NULL, NULL, child_argv, environ, list);
    cph_attachments_destroy(list);
    if (err) {
        fprintf(stderr, "cph_spawn: %s\n", strerror(err));
        return 1;
    }
    err = cph_checkin_wait(pid, 10000);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (err) {
        fprintf(stderr, "check-in: %s\n", strerror(err));
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
