/*
 * A parent to be killed: x_giveparent REPORT_FD GO_FD DELIVERY spawns
 * "h_give wait k=late" with REPORT_FD under "report" and GO_FD under
 * "go", expecting k, waits for its check-in, writes "pid N" on stdout
 * and sleeps until killed.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

int main(int argc, char **argv)
{
    char path[4096];
    char *args[] = {"h_give", "wait", "k=late", NULL};
    cph_attachments_t *list;
    pid_t pid;

    if (argc != 4)
        return 100;
    snprintf(path, sizeof path, "%s", argv[0]);
    strcpy(strrchr(path, '/') + 1, "h_give");
    if (cph_attachments_init(&list) != 0 ||
        cph_attachments_set_delivery(list, atoi(argv[3])) != 0 ||
        cph_attachments_add_fd(list, "report", atoi(argv[1])) != 0 ||
        cph_attachments_add_fd(list, "go", atoi(argv[2])) != 0 ||
        cph_attachments_expect(list, "k") != 0)
        return 101;
    close(atoi(argv[1]));
    close(atoi(argv[2]));
    if (cph_spawn(&pid, path, NULL, NULL, args, environ, list) != 0 ||
        cph_checkin_wait(pid, 10000) != 0)
        return 102;
    cph_attachments_destroy(list);
    printf("pid %d\n", (int)pid);
    fflush(stdout);
    for (;;)
        pause();
}
