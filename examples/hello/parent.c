/*
 * The README's parent, complete: hands the child a file under the key
 * "config", checks that the child took it, and exits with its status.
 *
 *   hello-parent CHILD FILE
 */
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
    char *child_argv[] = {argv[1], NULL};
    int config_fd, err, status;
    pid_t pid;

    if (argc != 3) {
        fprintf(stderr, "usage: %s CHILD FILE\n", argv[0]);
        return 2;
    }
    config_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (config_fd < 0) {
        perror(argv[2]);
        return 1;
    }
    err = cph_attachments_init(&list);
    if (!err)
        err = cph_attachments_add_fd(list, "config", config_fd);
    close(config_fd);   /* the list keeps its own duplicate */
    if (!err)
        err = cph_spawn(&pid, argv[1], NULL, NULL, child_argv, environ, list);
    cph_attachments_destroy(list);   /* the spawn keeps what it needs */
    if (err) {
        fprintf(stderr, "parent: cannot launch %s: %s\n", argv[1],
                strerror(err));
        return 1;
    }

    err = cph_checkin_wait(pid, 5000);
    if (err == 0)
        printf("parent: the child took its handles\n");
    else
        printf("parent: the child did not take its handles: %s\n",
               strerror(err));
    fflush(stdout);

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
