/*
 * The nameless delivery against the pid-bound rendezvous, on the Mach
 * simulator (tests/machsim, built with -Dmig on Linux): spawn to exit of
 * take_child with N fds, four ways interleaved in each round in a
 * rotating order (posix_spawn without fds; cph pid-bound; cph nameless
 * with attrp NULL, which sets the child's registered ports for that spawn
 * alone; cph nameless with the caller's own attributes, which registers
 * the port on the parent around posix_spawn). Prints the medians and p90
 * of per-round ratios, never absolute times and never a verdict: every
 * Mach call is an RPC to machsim-kernel here, so the ratios weigh the
 * calls each delivery makes at the simulator's price, not at a Mac's.
 * The child exits 0 only after taking all N fds, and cph_checkin_wait is
 * checked after each cph spawn, outside the time.
 *
 *   nameless_sim [--rounds R] [--child PATH]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define WARMUP 3

enum way { NO_FD, PID_BOUND_WAY, NAMELESS_WAY, NAMELESS_ATTR, WAYS };

static const struct {
    const char *name;
    int delivery; /* 0: posix_spawn without fds */
    bool own_attr;
} ways[WAYS] = {
    [NO_FD] = {"posix_spawn, no fd", 0, false},
    [PID_BOUND_WAY] = {"pid-bound", CPH_DELIVERY_PID_BOUND, false},
    [NAMELESS_WAY] = {"nameless", CPH_DELIVERY_NAMELESS, false},
    [NAMELESS_ATTR] = {"nameless, caller's attr", CPH_DELIVERY_NAMELESS,
                       true},
};

static const struct {
    enum way top, bottom;
} ratios[] = {
    {NAMELESS_WAY, PID_BOUND_WAY}, {NAMELESS_ATTR, PID_BOUND_WAY},
    {NAMELESS_ATTR, NAMELESS_WAY}, {PID_BOUND_WAY, NO_FD},
    {NAMELESS_WAY, NO_FD},
};

static const int sizes[] = {1, 16};

#define SIZES (sizeof sizes / sizeof sizes[0])

static int spawn_to_exit(struct fixture *f, enum way w,
                         const posix_spawnattr_t *attr, double *us)
{
    double t0;
    pid_t pid;
    int err;

    if (ways[w].delivery)
        cph_attachments_set_delivery(f->list, ways[w].delivery);
    f->attr = ways[w].own_attr ? attr : NULL;
    t0 = now_us();
    /* Any cph variant is cph_spawn with f->list. */
    err = fixture_spawn(f, ways[w].delivery ? PID_BOUND : FLOOR, &pid);
    if (err)
        return err;
    if (reap(pid) != 0)
        return EPROTO;
    *us = now_us() - t0;
    return ways[w].delivery ? cph_checkin_wait(pid, 5000) : 0;
}

static void print_ratios(int n, double *const t[WAYS], int rounds,
                         double *scratch)
{
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        char name[64];

        for (int i = 0; i < rounds; i++)
            scratch[i] = t[ratios[r].top][i] / t[ratios[r].bottom][i];
        snprintf(name, sizeof name, "%s / %s", ways[ratios[r].top].name,
                 ways[ratios[r].bottom].name);
        printf("  %-48s %3d %7.2f %7.2f\n", name, n,
               median_of(scratch, (size_t)rounds),
               quantile(scratch, (size_t)rounds, 0.9));
    }
}

static int measure(const char *child, int n, int rounds,
                   const posix_spawnattr_t *attr, double *t[WAYS])
{
    struct fixture f;
    int err = fixture_init(&f, child, n);

    for (int round = -WARMUP; !err && round < rounds; round++) {
        for (int k = 0; !err && k < WAYS; k++) {
            enum way w = (enum way)((round + WARMUP + k) % WAYS);
            double us;

            err = spawn_to_exit(&f, w, attr, &us);
            if (err)
                fprintf(stderr, "N=%d %s: %s\n", n, ways[w].name,
                        strerror(err));
            else if (round >= 0)
                t[w][round] = us;
        }
    }
    fixture_destroy(&f);
    return err;
}

static int run(const char *child, int rounds)
{
    size_t len = (size_t)rounds * sizeof(double);
    double *t[WAYS] = {0}, *scratch = malloc(len);
    posix_spawnattr_t attr;
    int err = posix_spawnattr_init(&attr);

    if (err) {
        free(scratch);
        return err;
    }
    err = scratch ? 0 : ENOMEM;
    for (int w = 0; !err && w < WAYS; w++)
        if (!(t[w] = malloc(len)))
            err = ENOMEM;
    if (!err)
        printf("\nspawn to exit, ratio of the same round, %d rounds\n"
               "  %-48s %3s %7s %7s\n",
               rounds, "", "N", "median", "p90");
    for (size_t s = 0; !err && s < SIZES; s++) {
        err = measure(child, sizes[s], rounds, &attr, t);
        if (!err)
            print_ratios(sizes[s], t, rounds, scratch);
        fflush(stdout);
    }
    for (int w = 0; w < WAYS; w++)
        free(t[w]);
    free(scratch);
    posix_spawnattr_destroy(&attr);
    return err;
}

int main(int argc, char **argv)
{
    const char *child = BENCH_CHILD;
    int rounds = 200;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--child") == 0 && i + 1 < argc) {
            child = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--rounds R] [--child PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rounds < 1)
        return 2;
    printf("#");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n# the Mach simulator: every Mach call is an RPC to "
           "machsim-kernel; not a Mac's figures\n");
    return run(child, rounds) ? 1 : 0;
}
