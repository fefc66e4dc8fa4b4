/*
 * (f): 8 threads, each spawning the N = 1 child a fixed number of times
 * and waiting for it; spawns per second of posix_spawn (no fd), cph
 * direct and cph pid-bound, in a rotating order. cph_checkin_wait is not
 * called: the exit status proves each handover.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define THREADS 8

static const enum variant variants[] = {FLOOR, DIRECT, PID_BOUND};
#define KINDS (sizeof variants / sizeof variants[0])

struct crew {
    struct fixture *f;
    enum variant v;
    int spawns;
    pthread_barrier_t start;
    pthread_mutex_t lock;
    int failed;
};

static void *spawner(void *arg)
{
    struct crew *c = arg;
    int failed = 0;

    pthread_barrier_wait(&c->start);
    for (int i = 0; i < c->spawns; i++) {
        pid_t pid;

        if (fixture_spawn(c->f, c->v, &pid) != 0 || reap(pid) != 0)
            failed++;
    }
    pthread_mutex_lock(&c->lock);
    c->failed += failed;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Spawns per second, 0 if a thread could not start. */
static double rate(struct crew *c, enum variant v)
{
    pthread_t threads[THREADS];
    int started = 0;
    double t0;

    c->v = v;
    fixture_use(c->f, v);
    pthread_barrier_init(&c->start, NULL, THREADS + 1);
    for (; started < THREADS; started++)
        if (pthread_create(&threads[started], NULL, spawner, c) != 0)
            break;
    if (started < THREADS)
        abort(); /* the barrier would never open */
    pthread_barrier_wait(&c->start);
    t0 = now_us();
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&c->start);
    return THREADS * c->spawns / ((now_us() - t0) / 1e6);
}

int run_threads(const struct options *o)
{
    int reps = o->thread_reps;
    double *per_s[KINDS], *ratio = calloc((size_t)reps, sizeof *ratio);
    struct fixture f;
    struct crew c = {.f = &f, .spawns = o->thread_spawns,
                     .lock = PTHREAD_MUTEX_INITIALIZER};
    int err = fixture_init(&f, o->child, 1);

    for (size_t k = 0; k < KINDS; k++)
        if (!(per_s[k] = calloc((size_t)reps, sizeof(double))))
            err = ENOMEM;
    if (!ratio)
        err = ENOMEM;
    for (int rep = 0; !err && rep < reps; rep++)
        for (size_t k = 0; k < KINDS; k++) {
            size_t at = ((size_t)rep + k) % KINDS;
            per_s[at][rep] = rate(&c, variants[at]);
        }
    if (!err) {
        printf("\n(f) %d threads x %d spawns, N=1, %d reps (medians)\n",
               THREADS, o->thread_spawns, reps);
        printf("  %-24s %9s %11s   %s\n", "", "spawns/s", "/posix_spawn",
               "target");
        for (size_t k = 0; k < KINDS; k++) {
            double med;

            for (int r = 0; r < reps; r++)
                ratio[r] = per_s[k][r] / per_s[0][r];
            med = median_of(ratio, (size_t)reps);
            printf("  %-24s %9.0f %11.3f", variant_name[variants[k]],
                   median_of(per_s[k], (size_t)reps), med);
            if (k > 0)
                printf("   >= 0.95 %s", med >= 0.95 ? "met" : "MISSED");
            printf("\n");
        }
        printf("  failed spawns or exits: %d\n", c.failed);
    }
    for (size_t k = 0; k < KINDS; k++)
        free(per_s[k]);
    free(ratio);
    fixture_destroy(&f);
    return err;
}
