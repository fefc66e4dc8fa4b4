/*
 * What the parts of spawn_latency share: the ways of spawning the same
 * child with the same N fds, a clock, and order statistics.
 */
#ifndef BENCH_H
#define BENCH_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cph/spawn.h>

enum variant {
    FLOOR,     /* posix_spawn, no fd */
    PLAIN,     /* posix_spawn, the fds dup2'd to 3.., LISTEN_FDS */
    DIRECT,    /* cph_spawn, CPH_DELIVERY_DIRECT */
    PID_BOUND, /* cph_spawn, CPH_DELIVERY_PID_BOUND */
    DIRECT_PS, /* DIRECT through posix_spawn: empty file actions, which
                  cph's own spawner does not take */
    VARIANTS
};

extern const char *const variant_name[VARIANTS];

/* N fds of the caller, the same N in a cph list, and what plain
 * inheritance needs to pass them. */
struct fixture {
    const char *child;
    const posix_spawnattr_t *attr; /* NULL unless a part sets it */
    int n;
    int *fds;
    cph_attachments_t *list;
    posix_spawn_file_actions_t inherit, none;
    char **inherit_env;
    char count_arg[16];
    char *argv[3];
    char *argv_none[3];
};

int fixture_init(struct fixture *f, const char *child, int n);
void fixture_destroy(struct fixture *f);
/* Chooses the list's delivery for v; not to be called while another
 * thread spawns with f. */
void fixture_use(struct fixture *f, enum variant v);
int fixture_spawn(struct fixture *f, enum variant v, pid_t *pid);
bool is_cph(enum variant v);
/* The child's exit status, -1 if it did not exit. */
int reap(pid_t pid);

double now_us(void);
double quantile(const double *v, size_t n, double q);
double median_of(const double *v, size_t n);

/* The parts of the run; each prints its own table. */
struct options {
    const char *child;
    int rounds;
    int in_flight_reps;
    int thread_reps;
    int thread_spawns;
    int flood_rounds;
};

int run_latency(const struct options *o);
int run_in_flight(const struct options *o);
int run_threads(const struct options *o);
int run_flood(const struct options *o);

#endif
