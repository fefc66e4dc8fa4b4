/*
 * A child linked with libcph_child. h_child MODE OUT [ARG]: does MODE and
 * writes what it saw to the file OUT.
 *
 *   show        status, whether CPH_HANDSHAKE is set, count, keys
 *   read        takes every fd and reads it: "KEY=first line"
 *   api         exercises the child API and reports each finding
 *   grandchild  posix_spawns "h_child show ARG" with its own environ
 *   accept      accepts one connection on "listen" and sends "hello"
 *   echo        echoes one message on "sock"
 *   time        status and the CLOCK_MONOTONIC ms at which main started
 *   forktake    forks 200 times while a thread keeps taking a key that is
 *               not there; each forked process takes "a" within 2 s or
 *               dies of SIGALRM: "stuck N", the ones that did not (it
 *               stops at the first)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cph/child.h>

extern char **environ;

static FILE *out;

static void show(void)
{
    fprintf(out, "status %d\n", cph_child_status());
    fprintf(out, "env %s\n", getenv("CPH_HANDSHAKE") ? "set" : "unset");
    fprintf(out, "count %zu\n", cph_child_count());
    for (size_t i = 0; cph_child_key(i); i++)
        fprintf(out, "key %s\n", cph_child_key(i));
}

static void read_all_handles(void)
{
    char key[65], buf[256];

    fprintf(out, "status %d\n", cph_child_status());
    for (size_t i = 0; i < cph_child_count(); i++) {
        int fd;
        ssize_t n;

        snprintf(key, sizeof key, "%s", cph_child_key(i));
        fd = cph_child_take_fd(key);
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0) {
            fprintf(out, "%s!%d\n", key, errno);
        } else {
            buf[n] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            fprintf(out, "%s=%s\n", key, buf);
        }
        close(fd);
    }
}

static void api(void)
{
    const char *first = cph_child_key(0);
    size_t count = cph_child_count();
    int fd;

    fprintf(out, "count %zu\n", count);
    fprintf(out, "past-end %s\n", cph_child_key(count) ? "key" : "null");
    fd = cph_child_take_fd(cph_child_key(count - 1));
    fprintf(out, "take-last %s\n", fd >= 0 ? "ok" : "fail");
    fprintf(out, "cloexec %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    fprintf(out, "count-after %zu\n", cph_child_count());
    fprintf(out, "first-still %s\n", first);
    fd = cph_child_take_fd("b");
    fprintf(out, "retake %d %d\n", fd, errno);
    fd = cph_child_take_fd("nope");
    fprintf(out, "missing %d %d\n", fd, errno);
    fd = cph_child_take_fd(NULL);
    fprintf(out, "null %d %d\n", fd, errno);
}

static void grandchild(const char *report)
{
    char *argv[] = {"h_child", "show", (char *)report, NULL};
    pid_t pid;
    int status;

    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) < 0)
        fprintf(out, "spawn failed\n");
    else
        fprintf(out, "spawned %d\n", WEXITSTATUS(status));
}

static void accept_one(void)
{
    int fd = cph_child_take_fd("listen");
    int conn = accept(fd, NULL, NULL);

    fprintf(out, "accepted %d\n", conn >= 0);
    if (conn >= 0 && write(conn, "hello", 5) != 5)
        fprintf(out, "write failed\n");
}

static void echo(void)
{
    int fd = cph_child_take_fd("sock");
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);

    fprintf(out, "echoed %d\n", n > 0 && write(fd, buf, (size_t)n) == n);
}

static atomic_bool forking = true;

static void *keep_taking(void *arg)
{
    (void)arg;
    while (atomic_load(&forking))
        cph_child_take_fd("not-there");
    return NULL;
}

static void fork_while_taking(void)
{
    pthread_t thread;
    int stuck = 0;

    if (pthread_create(&thread, NULL, keep_taking, NULL) != 0) {
        fprintf(out, "no thread\n");
        return;
    }
    for (int i = 0; i < 200 && !stuck; i++) {
        int status;
        pid_t pid = fork();

        if (pid == 0) {
            alarm(2);
            cph_child_take_fd("a");
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            continue;
        stuck += WIFSIGNALED(status);
    }
    atomic_store(&forking, false);
    pthread_join(thread, NULL);
    fprintf(out, "stuck %d\n", stuck);
}

int main(int argc, char **argv)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (argc < 3 || !(out = fopen(argv[2], "w")))
        return 100;
    if (strcmp(argv[1], "show") == 0)
        show();
    else if (strcmp(argv[1], "read") == 0)
        read_all_handles();
    else if (strcmp(argv[1], "api") == 0)
        api();
    else if (strcmp(argv[1], "grandchild") == 0 && argc > 3)
        grandchild(argv[3]);
    else if (strcmp(argv[1], "accept") == 0)
        accept_one();
    else if (strcmp(argv[1], "echo") == 0)
        echo();
    else if (strcmp(argv[1], "forktake") == 0)
        fork_while_taking();
    else if (strcmp(argv[1], "time") == 0)
        fprintf(out, "status %d\nstarted %lld\n", cph_child_status(),
                (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    else
        return 101;
    return fclose(out) == 0 ? 0 : 102;
}
