/*
 * (g): a forked process of the same uid connects to the pid-bound
 * service and closes, in a loop, as fast as it can; meanwhile the
 * parent spawns the N = 1 child pid-bound and times cph_spawn and a
 * cph_checkin_wait(pid, 0) made right after it (while the child checks
 * in). Each round also times a plain posix_spawn of the same child: on
 * 2 CPUs the flooder takes one, and that is what any spawn pays for it.
 * The same without the flood first, for comparison. The flooder
 * finds the name as anyone of the same uid could: the listening
 * abstract socket in /proc/net/unix whose inode the parent holds.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

/* A flood phase stops after this long even if rounds remain. */
#define PHASE_LIMIT_US 30e6

static bool held_by_us(unsigned long inode)
{
    char want[32], link[64], path[300];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    bool found = false;

    if (!d)
        return false;
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    while (!found && (e = readdir(d))) {
        ssize_t n;

        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = 0;
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

/* Fills addr with the abstract address of our listening socket. */
static int find_service(struct sockaddr_un *addr, socklen_t *len)
{
    FILE *f = fopen("/proc/net/unix", "r");
    char line[512], name[256];
    unsigned long flags, inode;
    int err = ENOENT;

    if (!f)
        return errno;
    while (err && fgets(line, sizeof line, f))
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu @%255s", &flags,
                   &inode, name) == 3 &&
            (flags & 0x10000) && held_by_us(inode)) { /* __SO_ACCEPTCON */
            memset(addr, 0, sizeof *addr);
            addr->sun_family = AF_UNIX;
            memcpy(addr->sun_path + 1, name, strlen(name));
            *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                               strlen(name));
            err = 0;
        }
    fclose(f);
    return err;
}

static void flood(const struct sockaddr_un *addr, socklen_t len,
                  volatile unsigned long *connects)
{
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd >= 0 && connect(fd, (const struct sockaddr *)addr, len) == 0)
            (*connects)++;
        if (fd >= 0)
            close(fd);
    }
}

enum sample { CPH_CALL, WAIT0, CPH_EXIT, FLOOR_CALL, FLOOR_EXIT, SAMPLES };

static const char *const sample_name[SAMPLES] = {
    [CPH_CALL] = "cph_spawn",
    [WAIT0] = "cph_checkin_wait(pid, 0)",
    [CPH_EXIT] = "cph_spawn to exit",
    [FLOOR_CALL] = "posix_spawn (control)",
    [FLOOR_EXIT] = "posix_spawn to exit",
};

struct phase {
    double *us[SAMPLES];
    int done, failed, not_handed;
    double seconds;
};

/* Times the spawn call and spawn to exit; for cph, also the poll. */
static int sample(struct fixture *f, enum variant v, struct phase *p)
{
    double t0, t1;
    pid_t pid;
    int err, status;

    t0 = now_us();
    err = fixture_spawn(f, v, &pid);
    t1 = now_us();
    if (err)
        return err;
    p->us[v == FLOOR ? FLOOR_CALL : CPH_CALL][p->done] = t1 - t0;
    if (v != FLOOR) {
        cph_checkin_wait(pid, 0);
        p->us[WAIT0][p->done] = now_us() - t1;
    }
    status = reap(pid);
    p->us[v == FLOOR ? FLOOR_EXIT : CPH_EXIT][p->done] = now_us() - t0;
    if (v != FLOOR && cph_checkin_wait(pid, 5000) != 0)
        p->not_handed++;
    return status == 0 ? 0 : EPROTO;
}

static void measure(struct fixture *f, int rounds, struct phase *p)
{
    double start = now_us();

    for (int i = 0; i < rounds && now_us() - start < PHASE_LIMIT_US; i++) {
        if (sample(f, PID_BOUND, p) != 0 || sample(f, FLOOR, p) != 0)
            p->failed++;
        else
            p->done++;
    }
    p->seconds = (now_us() - start) / 1e6;
}

static void report_row(const char *what, const double *us, int n)
{
    printf("  %-34s %9.1f %9.1f %9.1f\n", what, median_of(us, (size_t)n),
           quantile(us, (size_t)n, 0.99), quantile(us, (size_t)n, 1.0));
}

static void report(const char *title, const struct phase *p)
{
    printf("  %s: %d rounds in %.1f s, %d failed, %d not handed over\n",
           title, p->done, p->seconds, p->failed, p->not_handed);
    for (int k = 0; k < SAMPLES; k++) {
        char what[64];

        snprintf(what, sizeof what, "  %s", sample_name[k]);
        report_row(what, p->us[k], p->done);
    }
}

static int phase_alloc(struct phase *p, int rounds)
{
    memset(p, 0, sizeof *p);
    for (int k = 0; k < SAMPLES; k++)
        if (!(p->us[k] = calloc((size_t)rounds, sizeof(double))))
            return ENOMEM;
    return 0;
}

static void phase_free(struct phase *p)
{
    for (int k = 0; k < SAMPLES; k++)
        free(p->us[k]);
}

int run_flood(const struct options *o)
{
    struct phase quiet = {0}, flooded = {0};
    struct fixture f;
    struct sockaddr_un addr;
    socklen_t len = 0;
    volatile unsigned long *connects;
    unsigned long before, made;
    double worst;
    pid_t flooder;
    int err = fixture_init(&f, o->child, 1);

    if (!err)
        err = phase_alloc(&quiet, o->flood_rounds);
    if (!err)
        err = phase_alloc(&flooded, o->flood_rounds);
    connects = mmap(NULL, sizeof *connects, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!err && connects == MAP_FAILED)
        err = errno;
    fixture_use(&f, PID_BOUND);
    if (!err)
        measure(&f, o->flood_rounds, &quiet);
    if (!err)
        err = find_service(&addr, &len);
    if (!err) {
        flooder = fork();
        if (flooder == 0)
            flood(&addr, len, connects);
        if (flooder < 0)
            err = errno;
    }
    if (!err) {
        usleep(100000);
        before = *connects;
        measure(&f, o->flood_rounds, &flooded);
        made = *connects - before;
        kill(flooder, SIGKILL);
        reap(flooder);
        printf("\n(g) pid-bound under a connect+close flood by a forked "
               "same-uid process, N=1\n");
        printf("  %-34s %9s %9s %9s\n", "us", "median", "p99", "max");
        report("quiet", &quiet);
        report("flooded", &flooded);
        printf("  the flooder made %.0f connects/s\n",
               (double)made / flooded.seconds);
        worst = quantile(flooded.us[CPH_CALL], (size_t)flooded.done, 1.0);
        if (quantile(flooded.us[WAIT0], (size_t)flooded.done, 1.0) > worst)
            worst = quantile(flooded.us[WAIT0], (size_t)flooded.done, 1.0);
        printf("  target: cph_spawn and cph_checkin_wait < 10 ms under the "
               "flood: worst %.1f ms, %s\n",
               worst / 1e3, worst < 10e3 ? "met" : "MISSED");
    }
    if (err)
        fprintf(stderr, "flood: %s\n", strerror(err));
    if (connects != MAP_FAILED)
        munmap((void *)connects, sizeof *connects);
    phase_free(&quiet);
    phase_free(&flooded);
    fixture_destroy(&f);
    return err;
}
