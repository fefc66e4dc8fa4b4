/*
 * A child linked with libcph_child that gives handles back. It reports on
 * the fd it takes under "report" (or stdout), one line per step:
 *
 *   h_give STEP...
 *     KEY=TEXT   gives a memfd holding TEXT under KEY: "KEY RESULT",
 *                RESULT 0 or the errno's name
 *     wait       reads one byte from the fd under "go" (EOF ends it)
 *     bad        "bad R1 R2 R3": gives with a NULL key, a bad key and
 *                fd -1
 *     threads    gives t0..t7 from 8 threads at once, each holding its
 *                key: "threads R" (R: 0 if every give returned 0)
 *     echo       takes "in", gives under "out" a memfd holding
 *                "got:" and the first line of "in"
 *     fork:KEY=TEXT  gives from a forked process (which shares the
 *                channel but not this process's record of what it gave)
 *
 * Exit status: 0, or 100+ for misuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/child.h>

static const char *name_of(int err)
{
    static const struct {
        int err;
        const char *name;
    } names[] = {{0, "0"}, {EINVAL, "EINVAL"}, {EBADF, "EBADF"},
                 {ENOENT, "ENOENT"}, {EEXIST, "EEXIST"}, {EPIPE, "EPIPE"},
                 {ETIMEDOUT, "ETIMEDOUT"}, {EMFILE, "EMFILE"}};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].err == err)
            return names[i].name;
    return "other";
}

static int memfd_of(const char *text)
{
    int fd = memfd_create("h_give", MFD_CLOEXEC);

    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        exit(101);
    return fd;
}

static void give(FILE *out, const char *key, const char *text)
{
    int fd = memfd_of(text);

    fprintf(out, "%s %s\n", key, name_of(cph_child_give_fd(key, fd)));
    fflush(out);
    close(fd);
}

#define THREADS 8

static void *give_own_key(void *arg)
{
    char key[8];
    int fd;
    intptr_t err;

    snprintf(key, sizeof key, "t%d", (int)(intptr_t)arg);
    fd = memfd_of(key);
    err = cph_child_give_fd(key, fd);
    close(fd);
    return (void *)err;
}

static void threads(FILE *out)
{
    pthread_t t[THREADS];
    int failed = 0;

    for (intptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, give_own_key, (void *)i) != 0)
            exit(106);
    for (int i = 0; i < THREADS; i++) {
        void *err;
        pthread_join(t[i], &err);
        failed |= err != NULL;
    }
    fprintf(out, "threads %s\n", failed ? "failed" : "0");
    fflush(out);
}

static void echo(FILE *out)
{
    char line[256] = "";
    int in = cph_child_take_fd("in");
    ssize_t n = in < 0 ? -1 : pread(in, line, sizeof line - 1, 0);
    char text[300];

    if (n < 0)
        exit(102);
    line[strcspn(line, "\n")] = '\0';
    snprintf(text, sizeof text, "got:%s", line);
    give(out, "out", text);
}

int main(int argc, char **argv)
{
    int report = cph_child_take_fd("report");
    int go = cph_child_take_fd("go");
    FILE *out = report >= 0 ? fdopen(report, "w") : stdout;
    char byte;

    if (!out)
        return 100;
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (strncmp(argv[i], "fork:", 5) == 0 && eq) {
            pid_t pid = fork();
            *eq = '\0';
            if (pid == 0) {
                give(out, argv[i] + 5, eq + 1);
                _exit(0);
            }
            if (pid < 0 || waitpid(pid, NULL, 0) != pid)
                return 105;
        } else if (eq) {
            *eq = '\0';
            give(out, argv[i], eq + 1);
        } else if (strcmp(argv[i], "wait") == 0) {
            if (go < 0 || read(go, &byte, 1) != 1)
                return 103;
        } else if (strcmp(argv[i], "bad") == 0) {
            fprintf(out, "bad %s %s %s\n", name_of(cph_child_give_fd(NULL, 0)),
                    name_of(cph_child_give_fd("a/b", 0)),
                    name_of(cph_child_give_fd("k", -1)));
            fflush(out);
        } else if (strcmp(argv[i], "threads") == 0) {
            threads(out);
        } else if (strcmp(argv[i], "echo") == 0) {
            echo(out);
        } else {
            return 104;
        }
    }
    return 0;
}
