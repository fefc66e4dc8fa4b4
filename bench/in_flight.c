/*
 * (e): 256 children in flight with N = 1000: spawn all, then wait all,
 * cph direct, cph pid-bound and plain inheritance in a rotating order.
 * A spawn that fails (EMFILE: a pending pid-bound child holds N + 2 fds)
 * is counted and the next one tried. The outcomes (cph_checkin_wait,
 * 5 s) are read after the timed part.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CHILDREN 256
#define FDS 1000

static const enum variant variants[] = {DIRECT, PID_BOUND, PLAIN};
#define KINDS (sizeof variants / sizeof variants[0])

struct tally {
    double *spawn_ms, *total_ms;
    int failed, first_error, bad_exit, not_handed;
};

static void once(struct fixture *f, enum variant v, struct tally *t, int rep)
{
    pid_t pids[CHILDREN];
    int spawned = 0;
    double t0, t1;

    fixture_use(f, v);
    t0 = now_us();
    for (int i = 0; i < CHILDREN; i++) {
        int err = fixture_spawn(f, v, &pids[spawned]);

        if (!err)
            spawned++;
        else if (t->failed++ == 0)
            t->first_error = err;
    }
    t1 = now_us();
    for (int i = 0; i < spawned; i++)
        if (reap(pids[i]) != 0)
            t->bad_exit++;
    t->spawn_ms[rep] = (t1 - t0) / 1e3;
    t->total_ms[rep] = (now_us() - t0) / 1e3;
    for (int i = 0; is_cph(v) && i < spawned; i++)
        if (cph_checkin_wait(pids[i], 5000) != 0)
            t->not_handed++;
}

static void report(enum variant v, struct tally *t, const struct tally *plain,
                   int reps)
{
    double *ratio = malloc((size_t)reps * sizeof *ratio);

    for (int r = 0; ratio && r < reps; r++)
        ratio[r] = t->total_ms[r] / plain->total_ms[r];
    printf("  %-24s %9.1f %9.1f %7.2f %7d %-7s %5d %5d\n", variant_name[v],
           median_of(t->spawn_ms, (size_t)reps),
           median_of(t->total_ms, (size_t)reps),
           ratio ? median_of(ratio, (size_t)reps) : 0, t->failed,
           t->failed ? strerror(t->first_error) : "-", t->bad_exit,
           t->not_handed);
    free(ratio);
}

int run_in_flight(const struct options *o)
{
    struct tally t[KINDS];
    struct fixture f;
    int err = fixture_init(&f, o->child, FDS);

    memset(t, 0, sizeof t);
    for (size_t k = 0; !err && k < KINDS; k++) {
        t[k].spawn_ms = calloc((size_t)o->in_flight_reps, sizeof(double));
        t[k].total_ms = calloc((size_t)o->in_flight_reps, sizeof(double));
        if (!t[k].spawn_ms || !t[k].total_ms)
            err = ENOMEM;
    }
    for (int rep = 0; !err && rep < o->in_flight_reps; rep++)
        for (size_t k = 0; k < KINDS; k++) {
            size_t at = ((size_t)rep + k) % KINDS;
            once(&f, variants[at], &t[at], rep);
        }
    if (!err) {
        printf("\n(e) %d children in flight, N=%d, %d rep%s (medians; "
               "failures summed)\n",
               CHILDREN, FDS, o->in_flight_reps,
               o->in_flight_reps == 1 ? "" : "s");
        printf("  %-24s %9s %9s %7s %7s %-7s %5s %5s\n", "", "spawn ms",
               "total ms", "/plain", "failed", "errno", "exit!0",
               "!0wait");
        for (size_t k = 0; k < KINDS; k++)
            report(variants[k], &t[k], &t[KINDS - 1], o->in_flight_reps);
    }
    for (size_t k = 0; k < KINDS; k++) {
        free(t[k].spawn_ms);
        free(t[k].total_ms);
    }
    fixture_destroy(&f);
    return err;
}
