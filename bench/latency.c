/*
 * (a)-(d): spawn to exit of the same child, the four ways, interleaved
 * in each round in a rotating order, and per-round ratios. A run is
 * timed from the spawn call until waitpid returns, and for cph, as a
 * launcher does, cph_checkin_wait(pid, 5000) comes before waitpid (and
 * must answer 0); the child exits 0 only after taking all N fds, so the
 * exit status proves the handover.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define WARMUP 5

static const int sizes[] = {1, 16, 300, 1000};

#define SIZES (sizeof sizes / sizeof sizes[0])

/* The ratios printed for small (<= 16) or large N, with issue 6's
 * targets. */
enum when { SMALL = 1, LARGE = 2, ALWAYS = 3 };

struct ratio {
    enum variant top, bottom;
    enum when when;
    double target;
};

static const struct ratio ratios[] = {
    {DIRECT, FLOOR, SMALL, 1.08}, {PID_BOUND, FLOOR, SMALL, 1.15},
    {DIRECT, PLAIN, LARGE, 1.0}, {PID_BOUND, PLAIN, LARGE, 0},
    {DIRECT, DIRECT_PS, ALWAYS, 0},
    {PLAIN, FLOOR, ALWAYS, 0},
};

static int timed_run(struct fixture *f, enum variant v, double *us)
{
    pid_t pid;
    double t0;
    int err, status, outcome;

    fixture_use(f, v);
    t0 = now_us();
    err = fixture_spawn(f, v, &pid);
    if (err)
        return err;
    outcome = is_cph(v) ? cph_checkin_wait(pid, 5000) : 0;
    status = reap(pid);
    *us = now_us() - t0;
    return status != 0 ? EPROTO : outcome;
}

static void print_ratio(const struct ratio *r, int n,
                        double *const t[VARIANTS], int rounds, double *scratch)
{
    double med, p90;
    char name[48];

    for (int i = 0; i < rounds; i++)
        scratch[i] = t[r->top][i] / t[r->bottom][i];
    med = median_of(scratch, (size_t)rounds);
    p90 = quantile(scratch, (size_t)rounds, 0.9);
    snprintf(name, sizeof name, "%s / %s", variant_name[r->top],
             r->bottom == FLOOR   ? "no fd"
             : r->bottom == PLAIN ? "inherited"
                                  : "via posix_spawn");
    printf("  %-40s %5d %9.3f %9.3f", name, n, med, p90);
    if (r->target > 0)
        printf("   <= %.2f %s", r->target, med <= r->target ? "met" : "MISSED");
    printf("\n");
}

static int measure(const struct options *o, int n, double *t[VARIANTS])
{
    struct fixture f;
    int err = fixture_init(&f, o->child, n);

    for (int round = -WARMUP; !err && round < o->rounds; round++) {
        for (int k = 0; !err && k < VARIANTS; k++) {
            enum variant v = (enum variant)((round + WARMUP + k) % VARIANTS);
            double us;

            err = timed_run(&f, v, &us);
            if (err)
                fprintf(stderr, "N=%d %s: %s\n", n, variant_name[v],
                        strerror(err));
            else if (round >= 0)
                t[v][round] = us;
        }
    }
    fixture_destroy(&f);
    if (err)
        return err;
    for (int v = 0; v < VARIANTS; v++)
        printf("  %-40s %5d %9.1f %9.1f\n", variant_name[v], n,
               median_of(t[v], (size_t)o->rounds),
               quantile(t[v], (size_t)o->rounds, 0.9));
    fflush(stdout);
    return 0;
}

int run_latency(const struct options *o)
{
    size_t len = (size_t)o->rounds * sizeof(double);
    double *t[SIZES][VARIANTS] = {{0}}, *scratch = malloc(len);
    int err = scratch ? 0 : ENOMEM;

    for (size_t s = 0; !err && s < SIZES; s++)
        for (int v = 0; !err && v < VARIANTS; v++)
            if (!(t[s][v] = malloc(len)))
                err = ENOMEM;
    if (!err) {
        printf("\n(a)-(d) spawn to exit, %d rounds, variants interleaved "
               "(cph: cph_checkin_wait, then waitpid, both timed)\n",
               o->rounds);
        printf("  %-40s %5s %9s %9s\n", "us", "N", "median", "p90");
    }
    for (size_t s = 0; !err && s < SIZES; s++)
        err = measure(o, sizes[s], t[s]);
    if (!err)
        printf("  %-40s %5s %9s %9s   %s\n", "ratio of the same round", "N",
               "median", "p90", "target");
    for (size_t s = 0; !err && s < SIZES; s++)
        for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++)
            if (ratios[r].when & (sizes[s] <= 16 ? SMALL : LARGE))
                print_ratio(&ratios[r], sizes[s], t[s], o->rounds, scratch);
    for (size_t s = 0; s < SIZES; s++)
        for (int v = 0; v < VARIANTS; v++)
            free(t[s][v]);
    free(scratch);
    return err;
}
