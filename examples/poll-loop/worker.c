/*
 * A worker for parent.c: takes its task under "task", answers it on a
 * pipe whose read end it gives back under "result".
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

int main(void)
{
    char task[64] = "", answer[128];
    int in = cph_child_take_fd("task"), p[2], err;
    ssize_t n = in < 0 ? -1 : read(in, task, sizeof task - 1);

    if (n < 0 || pipe(p) < 0) {
        fprintf(stderr, "worker: no task\n");
        return 1;
    }
    task[strcspn(task, "\n")] = '\0';
    n = snprintf(answer, sizeof answer, "%s: done by %d", task, (int)getpid());
    if (write(p[1], answer, (size_t)n) != n)
        return 1;
    close(p[1]);
    err = cph_child_give_fd("result", p[0]);
    if (err != 0) {
        fprintf(stderr, "worker: give: %s\n", strerror(err));
        return 1;
    }
    return 0;
}
