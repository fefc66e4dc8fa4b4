/*
 * Measures what cph adds to a spawn. The same child (linked with
 * libcph_child, exiting as soon as main runs) is launched ROUNDS times
 * each way and timed from the spawn call until waitpid returns:
 * posix_spawn (no CPH_HANDSHAKE: the constructor returns at once) against
 * cph_spawn with N fds attached (the constructor checks in and receives
 * them before main). The difference is the handshake. Prints the median
 * and the 90th percentile of each, in microseconds.
 *
 *   spawn_latency CHILD [N_FDS] [ROUNDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cph/spawn.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void report(const char *what, double *us, int rounds)
{
    qsort(us, (size_t)rounds, sizeof *us, by_value);
    printf("%-34s median %8.1f us   p90 %8.1f us\n", what, us[rounds / 2],
           us[rounds * 9 / 10]);
}

static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
    int nfds = argc > 2 ? atoi(argv[2]) : 1;
    int rounds = argc > 3 ? atoi(argv[3]) : 200;
    char *child_argv[] = {argv[1], NULL};
    cph_attachments_t *list;
    double *plain, *cph;
    char label[64];
    int err;

    if (argc < 2 || nfds < 1 || rounds < 1) {
        fprintf(stderr, "usage: %s CHILD [N_FDS] [ROUNDS]\n", argv[0]);
        return 2;
    }
    plain = calloc((size_t)rounds, sizeof *plain);
    cph = calloc((size_t)rounds, sizeof *cph);
    if (!plain || !cph || cph_attachments_init(&list) != 0)
        return 1;
    for (int i = 0; i < nfds; i++) {
        char key[16];
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        snprintf(key, sizeof key, "fd%d", i);
        if (fd < 0 || cph_attachments_add_fd(list, key, fd) != 0) {
            fprintf(stderr, "cannot attach fd %d\n", i);
            return 1;
        }
        close(fd);
    }
    for (int i = 0; i < rounds; i++) {
        pid_t pid;
        double t0 = now_us();

        err = posix_spawn(&pid, argv[1], NULL, NULL, child_argv, environ);
        if (err) {
            fprintf(stderr, "posix_spawn: %s\n", strerror(err));
            return 1;
        }
        reap(pid);
        plain[i] = now_us() - t0;

        t0 = now_us();
        err = cph_spawn(&pid, argv[1], NULL, NULL, child_argv, environ, list);
        if (err == 0 && reap(pid) != 0)
            err = EPROTO;
        cph[i] = now_us() - t0;
        if (err == 0)
            err = cph_checkin_wait(pid, 0);
        if (err) {
            fprintf(stderr, "cph_spawn/check-in: %s\n", strerror(err));
            return 1;
        }
    }
    report("posix_spawn, until exit", plain, rounds);
    snprintf(label, sizeof label, "cph_spawn, %d fd%s, until exit", nfds,
             nfds == 1 ? "" : "s");
    report(label, cph, rounds);
    cph_attachments_destroy(list);
    free(plain);
    free(cph);
    return 0;
}
