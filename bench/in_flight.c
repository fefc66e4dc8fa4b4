/*
 * (e): 256 children in flight with N = 1000: spawn all, then wait all,
 * cph direct, cph pid-bound and plain inheritance in a rotating order.
 * A spawn that fails (EMFILE: a pending pid-bound child holds N + 2 fds)
 * is counted and the next one tried. The outcomes (cph_checkin_wait,
 * 5 s) are read after the timed part.
 *
 * So that all 256 are pending at once, the children are held: while it
 * spawns, the parent runs SCHED_FIFO on one CPU, its children are reset
 * to SCHED_OTHER on that CPU, and each is sent SIGSTOP as soon as
 * posix_spawn returns: the parent preempts the child as the exec wakes
 * it, so the stop lands before the child's first instruction. After the
 * burst they get every CPU back and SIGCONT (both counted in the time,
 * for every variant alike). Without the privilege for it, the children
 * run as they come; the "pending" column shows how many cph children
 * had not checked in when the burst ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
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
    int most_pending; /* cph children not checked in when the burst ended */
};

struct hold {
    bool usable, on;
    int times; /* bursts that ran held */
    cpu_set_t cpus;
    posix_spawnattr_t attr;
};

static void hold_init(struct hold *h)
{
    struct sched_param none = {0};
    int err = posix_spawnattr_init(&h->attr);

    if (!err)
        err = posix_spawnattr_setflags(&h->attr, POSIX_SPAWN_SETSCHEDULER);
    if (!err)
        err = posix_spawnattr_setschedpolicy(&h->attr, SCHED_OTHER);
    if (!err)
        err = posix_spawnattr_setschedparam(&h->attr, &none);
    h->usable = !err && sched_getaffinity(0, sizeof h->cpus, &h->cpus) == 0;
}

/* Whether the parent now runs alone on one CPU. */
static bool hold_begin(struct hold *h)
{
    struct sched_param first = {.sched_priority = 1};
    cpu_set_t one;
    int cpu = 0;

    if (!h->usable)
        return false;
    while (!CPU_ISSET(cpu, &h->cpus))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    h->on = sched_setaffinity(0, sizeof one, &one) == 0 &&
            sched_setscheduler(0, SCHED_FIFO, &first) == 0;
    if (!h->on)
        sched_setaffinity(0, sizeof h->cpus, &h->cpus);
    h->times += h->on;
    return h->on;
}

static void hold_child(const struct hold *h, pid_t pid)
{
    if (h->on)
        kill(pid, SIGSTOP);
}

static void hold_end(struct hold *h, const pid_t *pids, int n)
{
    struct sched_param none = {0};

    if (!h->on)
        return;
    sched_setscheduler(0, SCHED_OTHER, &none);
    sched_setaffinity(0, sizeof h->cpus, &h->cpus);
    for (int i = 0; i < n; i++) {
        sched_setaffinity(pids[i], sizeof h->cpus, &h->cpus);
        kill(pids[i], SIGCONT);
    }
}

static int max(int a, int b)
{
    return a > b ? a : b;
}

/* Not timed. */
static int pending(enum variant v, const pid_t *pids, int n)
{
    int count = 0;

    for (int i = 0; is_cph(v) && i < n; i++)
        count += cph_checkin_wait(pids[i], 0) == ETIMEDOUT;
    return count;
}

static void once(struct fixture *f, struct hold *h, enum variant v,
                 struct tally *t, int rep)
{
    pid_t pids[CHILDREN];
    int spawned = 0;
    double t0, t1, t2;

    fixture_use(f, v);
    f->attr = hold_begin(h) ? &h->attr : NULL;
    t0 = now_us();
    for (int i = 0; i < CHILDREN; i++) {
        int err = fixture_spawn(f, v, &pids[spawned]);

        if (!err)
            hold_child(h, pids[spawned++]);
        else if (t->failed++ == 0)
            t->first_error = err;
    }
    t1 = now_us();
    t->most_pending = max(t->most_pending, pending(v, pids, spawned));
    t2 = now_us();
    hold_end(h, pids, spawned);
    for (int i = 0; i < spawned; i++)
        if (reap(pids[i]) != 0)
            t->bad_exit++;
    t->spawn_ms[rep] = (t1 - t0) / 1e3;
    t->total_ms[rep] = (now_us() - t2 + t1 - t0) / 1e3;
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
    printf("  %-24s %9.1f %9.1f %7.2f %7d %-7s %5d %5d %8d\n",
           variant_name[v], median_of(t->spawn_ms, (size_t)reps),
           median_of(t->total_ms, (size_t)reps),
           ratio ? median_of(ratio, (size_t)reps) : 0, t->failed,
           t->failed ? strerrorname_np(t->first_error) : "-", t->bad_exit,
           t->not_handed, t->most_pending);
    free(ratio);
}

int run_in_flight(const struct options *o)
{
    struct tally t[KINDS];
    struct fixture f;
    struct hold h = {0};
    int err = fixture_init(&f, o->child, FDS);

    hold_init(&h);
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
            once(&f, &h, variants[at], &t[at], rep);
        }
    if (!err) {
        printf("\n(e) %d children in flight, N=%d, %d rep%s (medians; "
               "failures summed), children held in %d of %d bursts\n",
               CHILDREN, FDS, o->in_flight_reps,
               o->in_flight_reps == 1 ? "" : "s", h.times,
               o->in_flight_reps * (int)KINDS);
        printf("  %-24s %9s %9s %7s %7s %-7s %5s %5s %8s\n", "", "spawn ms",
               "total ms", "/plain", "failed", "errno", "exit!0",
               "!0wait", "pending");
        for (size_t k = 0; k < KINDS; k++)
            report(variants[k], &t[k], &t[KINDS - 1], o->in_flight_reps);
    }
    for (size_t k = 0; k < KINDS; k++) {
        free(t[k].spawn_ms);
        free(t[k].total_ms);
    }
    if (h.usable)
        posix_spawnattr_destroy(&h.attr);
    fixture_destroy(&f);
    return err;
}
