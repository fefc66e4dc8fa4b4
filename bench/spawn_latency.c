/*
 * What cph adds to a spawn, measured on this machine and printed (never
 * asserted): spawn to exit of one child that takes its fds, four ways
 * (posix_spawn without fds, posix_spawn with the fds inherited, cph
 * direct, cph pid-bound); 256 children in flight; 8 threads spawning;
 * pid-bound under a connect flood. See issue 6 for the targets.
 *
 *   spawn_latency [--quick] [--rounds R] [--child PATH]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* As many fds as the machine allows a process (its hard limit). */
#define FD_LIMIT 20000

static int usage(const char *self)
{
    fprintf(stderr, "usage: %s [--quick] [--rounds R] [--child PATH]\n",
            self);
    return 2;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max < FD_LIMIT ? rl.rlim_max : FD_LIMIT;
    setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
    struct options o = {.child = BENCH_CHILD, .rounds = 2000,
                        .in_flight_reps = 10, .thread_reps = 10,
                        .thread_spawns = 100, .flood_rounds = 300};
    struct rlimit rl;
    int err = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o.rounds = 20;
            o.in_flight_reps = 1;
            o.thread_reps = 1;
            o.thread_spawns = 20;
            o.flood_rounds = 100;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            o.rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--child") == 0 && i + 1 < argc) {
            o.child = argv[++i];
        } else {
            return usage(argv[0]);
        }
    }
    if (o.rounds < 1)
        return usage(argv[0]);
    raise_fd_limit();
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("#");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    /* Root escapes the per-user limit on fds in flight (RLIMIT_NOFILE),
     * which bounds the direct delivery's pending children in (e). */
    printf("\n# child %s, RLIMIT_NOFILE %lu, %ld CPUs online, euid %ld\n",
           o.child, (unsigned long)rl.rlim_cur,
           sysconf(_SC_NPROCESSORS_ONLN), (long)geteuid());
    fflush(stdout);
    err = run_latency(&o);
    if (!err)
        err = run_in_flight(&o);
    if (!err)
        err = run_threads(&o);
    if (!err)
        err = run_flood(&o);
    return err ? 1 : 0;
}
