/*
 * A parent that never blocks (Linux): it spawns three workers and one
 * program that knows nothing of cph, then serves them all from one poll()
 * loop, two fds per child: cph_child_pollfd (news: the outcome, a handle
 * given back; a hang-up once nothing more can come) and cph_child_pidfd
 * (the exit, reaped with waitid). An event loop (libuv, GLib, tokio,
 * asyncio) watches the same fds.
 *
 *   poll-parent WORKER
 *
 * Exits 0 when every worker checked in and gave its result, and the
 * other program was told apart (it never checked in: ENOTCONN; nothing
 * to take from it: ECONNABORTED).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/spawn.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILDREN 4

extern char **environ;

struct child {
    pid_t pid;
    int outcome; /* ETIMEDOUT until known */
    int result;  /* cph_take_fd's answer for "result" */
};

/* Spawns path (PATH searched) expecting "result" back, with a task under
 * "task". */
static int spawn(struct child *c, const char *path, int n)
{
    char *argv[] = {(char *)path, NULL};
    cph_attachments_t *list;
    char task[32];
    int p[2], err, len = snprintf(task, sizeof task, "task %d\n", n);

    if (pipe(p) < 0)
        return errno;
    err = write(p[1], task, (size_t)len) == len ? 0 : EIO;
    close(p[1]);
    if (!err)
        err = cph_attachments_init(&list);
    if (!err) {
        err = cph_attachments_add_fd(list, "task", p[0]);
        if (!err)
            err = cph_attachments_expect(list, "result");
        if (!err)
            err = cph_spawnp(&c->pid, path, NULL, NULL, argv, environ, list);
        cph_attachments_destroy(list);
    }
    close(p[0]);
    c->outcome = c->result = ETIMEDOUT;
    return err;
}

/* The news of c: its outcome, and its result once given. */
static void news(struct child *c)
{
    char answer[128];
    ssize_t n;
    int fd;

    if (c->outcome == ETIMEDOUT) {
        c->outcome = cph_checkin_wait(c->pid, 0);
        if (c->outcome != ETIMEDOUT)
            printf("%d: %s\n", (int)c->pid,
                   c->outcome ? strerror(c->outcome) : "took its handles");
    }
    if (c->result != ETIMEDOUT)
        return;
    c->result = cph_take_fd(c->pid, "result", 0, &fd);
    if (c->result == 0) {
        n = read(fd, answer, sizeof answer - 1);
        answer[n > 0 ? n : 0] = '\0';
        printf("%d: gave back \"%s\"\n", (int)c->pid, answer);
        close(fd);
    } else if (c->result != ETIMEDOUT) {
        printf("%d: gives nothing: %s\n", (int)c->pid, strerror(c->result));
    }
}

int main(int argc, char **argv)
{
    struct child c[CHILDREN];
    struct pollfd p[2 * CHILDREN];
    int open = 0, err, ok = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: poll-parent WORKER\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < CHILDREN; i++) {
        /* The last is "true": it never checks in. */
        err = spawn(&c[i], i < CHILDREN - 1 ? argv[1] : "true", i);
        if (!err)
            err = cph_child_pollfd(c[i].pid, &p[2 * i].fd);
        if (!err)
            err = cph_child_pidfd(c[i].pid, &p[2 * i + 1].fd);
        if (err) {
            fprintf(stderr, "poll-parent: child %d: %s\n", i, strerror(err));
            return 1;
        }
        p[2 * i].events = p[2 * i + 1].events = POLLIN;
        open += 2;
    }
    while (open > 0) {
        if (poll(p, 2 * CHILDREN, -1) < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < 2 * CHILDREN; i++) {
            struct child *ch = &c[i / 2];
            siginfo_t info = {0};

            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            if (i % 2 == 0) {
                news(ch);
                if (!(p[i].revents & POLLHUP))
                    continue;
            } else if (waitid(P_PIDFD, (id_t)p[i].fd, &info, WEXITED) == 0) {
                printf("%d: exited with %d\n", (int)ch->pid, info.si_status);
            }
            close(p[i].fd);
            p[i].fd = -1; /* poll skips it */
            open--;
        }
    }
    for (int i = 0; i < CHILDREN; i++) {
        bool worker = i < CHILDREN - 1;

        ok &= c[i].outcome == (worker ? 0 : ENOTCONN) &&
              c[i].result == (worker ? 0 : ECONNABORTED);
    }
    return ok ? 0 : 1;
}
