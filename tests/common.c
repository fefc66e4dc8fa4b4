#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common.h"

extern char **environ;

const char *helper_path(const char *name)
{
    static __thread char path[4096];

    snprintf(path, sizeof path, "%s/%s", CPH_HELPERS, name);
    return path;
}

int count_fds(void)
{
#ifdef __APPLE__
    DIR *d = opendir("/dev/fd");
#else
    DIR *d = opendir("/proc/self/fd");
#endif
    int n = 0;

    cr_assert_not_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

pid_t spawn_helper(const char *name, char *const args[],
                   const cph_attachments_t *list)
{
    char *argv[32] = {(char *)name};
    size_t n = 1;
    pid_t pid = -1;
    int err;

    while (args && args[n - 1] && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    err = cph_spawn(&pid, helper_path(name), NULL, NULL, argv, environ, list);
    cr_assert_eq(err, 0, "cph_spawn(%s): %s", name, strerror(err));
    return pid;
}

int wait_exit(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t n;

    cr_assert_not_null(buf);
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

int attach_report(cph_attachments_t *list)
{
    int p[2];

    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "report", p[1]), 0);
    close(p[1]);
    return p[0];
}

const char *scratch_path(const char *name)
{
    static char dir[64];
    static __thread char path[256];
    static int serial;

    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/cph-test-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
    }
    snprintf(path, sizeof path, "%s/%s.%d", dir, name,
             __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
    return path;
}

char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    return fd < 0 ? NULL : read_all(fd);
}

int run_helper(const char *name, const char *mode, const char *extra,
               const cph_attachments_t *list, char **report)
{
    char out[256];
    char *args[] = {(char *)mode, out, (char *)extra, NULL};
    int status;

    snprintf(out, sizeof out, "%s", scratch_path(name));
    status = wait_exit(spawn_helper(name, args, list));
    *report = slurp(out);
    unlink(out);
    return status;
}

void start_server(void)
{
    cph_attachments_t *list;
    char *argv[] = {"h_child", "show", "/dev/null", NULL};
    pid_t pid;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cr_assert_eq(cph_spawn(&pid, helper_path("h_child"), NULL, NULL, argv,
                           environ, list), 0);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    wait_exit(pid);
    cph_attachments_destroy(list);
}
