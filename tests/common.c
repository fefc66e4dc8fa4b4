#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
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

/* Reads fd into a string: to EOF, or (nonblocking) to what it holds now. */
static char *read_fd(int fd, bool nonblocking)
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
        if (n < 0 && nonblocking && errno == EAGAIN)
            break;
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

char *read_all(int fd)
{
    return read_fd(fd, false);
}

char *read_now(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    cr_assert_geq(flags, 0, "fcntl: %s", strerror(errno));
    cr_assert_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
    return read_fd(fd, true);
}

void assert_text(char *text, const char *want)
{
    cr_assert_str_eq(text, want);
    free(text);
}

int attach_report(cph_attachments_t *list)
{
    int p[2];

    /* Close-on-exec: no other child of ours inherits the read end. */
#ifdef __linux__
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
#else
    cr_assert_eq(pipe(p), 0);
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
#endif
    cr_assert_eq(cph_attachments_add_fd(list, "report", p[1]), 0);
    close(p[1]);
    return p[0];
}

static char scratch_dir[64];

/* Removes the scratch directory at exit if the test left it empty. */
static void remove_scratch_dir(void)
{
    rmdir(scratch_dir);
}

const char *scratch_path(const char *name)
{
    static __thread char path[256];
    static int serial;

    if (!scratch_dir[0]) {
        snprintf(scratch_dir, sizeof scratch_dir, "/tmp/cph-test-XXXXXX");
        cr_assert_not_null(mkdtemp(scratch_dir));
        atexit(remove_scratch_dir);
    }
    snprintf(path, sizeof path, "%s/%s.%d", scratch_dir, name,
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

    list = list_new();
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    /* Without keys expected back, then with (which needs the thread). */
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            cr_assert_eq(cph_attachments_expect(list, "never"), 0);
        cr_assert_eq(cph_spawn(&pid, helper_path("h_child"), NULL, NULL,
                               argv, environ, list), 0);
        cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
        wait_exit(pid);
    }
    /* Its give channel is closed once that is known. */
    cr_assert_eq(cph_take_fd(pid, "never", 10000, &(int){-1}), ECONNABORTED);
    cph_attachments_destroy(list);
}

int suite_delivery(void)
{
#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
    /* The darwin cases are the rendezvous's; the nameless ones name
     * their delivery. */
    return CPH_DELIVERY_PID_BOUND;
#else
    const char *d = getenv("CPH_TEST_DELIVERY");

    return d && strcmp(d, "pid-bound") == 0 ? CPH_DELIVERY_PID_BOUND
                                            : CPH_DELIVERY_DIRECT;
#endif
}

cph_attachments_t *list_for(int delivery)
{
    cph_attachments_t *list = NULL;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_not_null(list);
    cr_assert_eq(cph_attachments_set_delivery(list, delivery), 0);
    return list;
}

cph_attachments_t *list_new(void)
{
    return list_for(suite_delivery());
}

void list_add(cph_attachments_t *list, const char *key, int fd)
{
    int err;

    cr_assert_geq(fd, 0, "no fd for %s", key);
    err = cph_attachments_add_fd(list, key, fd);
    cr_assert_eq(err, 0, "add %s: %s", key, strerror(err));
    close(fd);
}

char *finish_report(pid_t pid, int report)
{
    int err = cph_checkin_wait(pid, LIVENESS_MS), status = wait_exit(pid);
    char *text = read_now(report);

    cr_assert_eq(err, 0, "check-in of %d: %s; report:\n%s", (int)pid,
                 strerror(err), text);
    cr_assert_eq(status, 0, "helper exit status %d; report:\n%s", status,
                 text);
    return text;
}

char *report_of(const char *name, char *const args[], cph_attachments_t *list)
{
    int report = attach_report(list);

    return finish_report(spawn_helper(name, args, list), report);
}

#ifdef __linux__
/* Linux only from here: memfds and /proc. */

int memfd_text(const char *text)
{
    int fd = memfd_create("cph-test", MFD_CLOEXEC);
    ssize_t len = (ssize_t)strlen(text);

    cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
    cr_assert_eq(write(fd, text, (size_t)len), len);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

cph_attachments_t *shared_list(void)
{
    cph_attachments_t *list = list_new();

    list_add(list, "m", memfd_text("shared"));
    return list;
}

const char *spawn_expecting_shared(const cph_attachments_t *list)
{
    char *argv[] = {"h_report", "expect", "m", "shared", NULL};
    int status, err;
    pid_t pid;

    if (cph_spawn(&pid, helper_path("h_report"), NULL, NULL, argv, environ,
                  list) != 0)
        return "cph_spawn failed";
    err = cph_checkin_wait(pid, LIVENESS_MS);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return "waitpid failed";
    if (err)
        return "no check-in";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return "the child did not find its handle";
    return NULL;
}

void cloexec_all(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name), flags;

        if (e->d_name[0] == '.' || fd < 3 || fd == dirfd(d))
            continue;
        flags = fcntl(fd, F_GETFD);
        if (flags >= 0)
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    closedir(d);
}
#endif
