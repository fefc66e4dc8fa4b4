/*
 * cph-run's children: spawned with the handles, each bound to cph-run's
 * life, given the signals sent to cph-run, reaped, and with --restart,
 * --workers or --accept replaced or multiplied while the sockets stay
 * open in cph-run.
 *
 * Signals reach a loop through a pipe, with what siginfo says of their
 * sender: a signal the terminal sent to the foreground process group
 * (Ctrl-C, Ctrl-\, a resize, a hangup) already reached every child still
 * in cph-run's group, so it is not sent again. tini forwards everything
 * because it gives the child a process group of its own (tini.c,
 * reaper and isolate_child); coreutils' timeout --foreground leaves the
 * child in the terminal's group and sends it only its own signal. cph-run
 * does the latter, deciding per signal with si_code.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "describe.h"
#include "run.h"

/* How long the outcome of a child that has exited may take to be known:
 * libcph's thread learns of the exit on its own. */
#define OUTCOME_WAIT_MS 1000
/* Between two rounds of replacements, so that a PROGRAM that cannot start
 * does not spin a CPU. */
#define RESPAWN_GAP_MS 100

#define ADAPTER "cph-place"
static const char installed_adapter[] = CPH_LIBEXECDIR "/" ADAPTER;

struct sig_record {
    int sig;
    int code;
    pid_t sender;
};

static int sig_pipe[2] = {-1, -1};

static struct {
    const struct options *o;
    char **envp;
    const char *program;
    char **child_argv;      /* PROGRAM's */
    char *adapter;          /* cph-place's path, with placements */
    char *self;             /* cph-run's, with placements (Linux) */
    struct handle *handles;
    size_t count;
    sigset_t mask;          /* cph-run's mask at start, the children's */
    pid_t *pids;            /* children alive */
    bool *old;              /* replaced after a SIGHUP: not counted */
    size_t live, cap;
    pid_t first;            /* the first child, watched for the warnings */
    long long last_spawn;   /* ms, monotonic */
    int last_code;          /* of the last child reaped, -1 before */
    int stop;               /* the signal that asked cph-run to stop */
} run = {.last_code = -1};

static bool is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
           sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

static bool sent_by_process(int code)
{
#ifdef SI_TKILL
    if (code == SI_TKILL)
        return true;
#endif
    return code == SI_USER || code == SI_QUEUE;
}

static void on_signal(int sig, siginfo_t *si, void *context)
{
    struct sig_record r = {sig, si->si_code, si->si_pid};
    int saved = errno;

    (void)context;
    /* A real fault of cph-run's own: die of it when the instruction runs
     * again (its children die with it, see exec_helper). */
    if (is_fault(sig) && !sent_by_process(si->si_code)) {
        signal(sig, SIG_DFL);
        return;
    }
    /* A full pipe loses the record; children are reaped on any wake-up. */
    if (write(sig_pipe[1], &r, sizeof r) < 0)
        errno = saved;
    errno = saved;
}

static int set_flags(int fd, int fd_flags, int fl_flags)
{
    return fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | fd_flags) < 0 ||
                   fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | fl_flags) < 0
               ? -1
               : 0;
}

/*
 * Catches every signal but SIGKILL and SIGSTOP (and those cph-run was
 * started ignoring, which its children keep ignoring), SIGCHLD included.
 * SIGTTIN and SIGTTOU keep stopping cph-run: the terminal sends them to
 * the whole group, and a caught one would make a background write retry
 * without end.
 */
static int catch_signals(void)
{
    struct sigaction sa = {.sa_sigaction = on_signal,
                           .sa_flags = SA_SIGINFO | SA_RESTART};

    if (pipe(sig_pipe) < 0 || set_flags(sig_pipe[0], FD_CLOEXEC, O_NONBLOCK) ||
        set_flags(sig_pipe[1], FD_CLOEXEC, O_NONBLOCK))
        return fail(EXIT_CPH_RUN, "signal pipe: %s", strerror(errno));
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction was;

        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGTTIN ||
            sig == SIGTTOU || sigaction(sig, NULL, &was) < 0 ||
            (was.sa_handler == SIG_IGN && sig != SIGCHLD))
            continue;
        sigaction(sig, &sa, NULL);
    }
    return 0;
}

/* Did the terminal send r to a group child is still in? */
static bool reached_child(const struct sig_record *r, pid_t child)
{
#ifdef SI_KERNEL
    return r->code == SI_KERNEL && getpgid(child) == getpgrp();
#else
    (void)r;
    (void)child;
    return false;
#endif
}

static void forward(const struct sig_record *r)
{
    if (r->sender == getpid() && sent_by_process(r->code))
        return;
    for (size_t i = 0; i < run.live; i++)
        if (!reached_child(r, run.pids[i]))
            kill(run.pids[i], r->sig);
}

static bool keeps_children(void)
{
    return run.o->restart || run.o->workers > 0;
}

/* --- spawning ------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    if (run.o->quiet)
        return;
    flockfile(stderr);
    fputs("cph-run: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

/* The warning about handles never taken is said once: while the child
 * runs, or at its exit. */
static atomic_int warned;

static void *watch_checkin(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;

    if (cph_checkin_wait(pid, run.o->warn_after_ms) == ETIMEDOUT &&
        !atomic_exchange(&warned, 1))
        say("%s has not taken its handles after %d ms (is it linked with "
            "libcph_child? if it follows sd_listen_fds, use --systemd)",
            run.program, run.o->warn_after_ms);
    return NULL;
}

/* --expect threads still taking: cph-run waits for them before it exits,
 * since a child may give and exit at once. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int running;
} takers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void taker_count(int delta)
{
    pthread_mutex_lock(&takers.lock);
    takers.running += delta;
    if (takers.running == 0)
        pthread_cond_broadcast(&takers.done);
    pthread_mutex_unlock(&takers.lock);
}

static void wait_takers(void)
{
    pthread_mutex_lock(&takers.lock);
    while (takers.running > 0)
        pthread_cond_wait(&takers.done, &takers.lock);
    pthread_mutex_unlock(&takers.lock);
}

/* --expect: what the child gives back, printed on stdout. */
static void *take_given(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;

    for (size_t i = 0; i < run.o->expect_count; i++) {
        const char *key = run.o->expect[i];
        int fd, err = cph_take_fd(pid, key, -1, &fd);

        if (err) {
            say("%s gave nothing under '%s': %s", run.program, key,
                err == ECONNABORTED ? "it exited or closed its channel first"
                                    : strerror(err));
            continue;
        }
        flockfile(stdout);
        printf("%s  ", key);
        describe(fd);
        putchar('\n');
        fflush(stdout);
        funlockfile(stdout);
        close(fd);
    }
    taker_count(-1);
    return NULL;
}

/* Runs fn(pid) on a detached thread that no signal interrupts: 0 or an
 * errno. */
static int start_thread(void *(*fn)(void *), pid_t pid)
{
    sigset_t all, old;
    pthread_t thread;
    int err;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    err = pthread_create(&thread, NULL, fn, (void *)(intptr_t)pid);
    if (!err)
        pthread_detach(thread);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The library's adapter for the placements: the one beside cph-run when
 * run by a path (a build tree, a relocated install), else the one in
 * libexecdir.
 */
static char *adapter_path(const char *self)
{
    const char *slash = strrchr(self, '/');
    size_t dir = slash ? (size_t)(slash - self) + 1 : 0;
    char *path = malloc(dir + sizeof ADAPTER + sizeof installed_adapter);

    if (!path)
        return NULL;
    memcpy(path, self, dir);
    memcpy(path + dir, ADAPTER, sizeof ADAPTER);
    if (!slash || access(path, X_OK) != 0)
        strcpy(path, installed_adapter);
    return path;
}

/*
 * The adapter, which cph-run cannot do without once a handle is placed;
 * on Linux also cph-run's own path, for the exec helper the adapter
 * execs (its /proc/self/exe is the adapter). 0, or an exit code.
 */
static int find_adapter(const char *self)
{
    run.adapter = adapter_path(self);
    if (!run.adapter)
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    if (access(run.adapter, X_OK) != 0)
        return fail(EXIT_CPH_RUN, "cannot run the adapter %s (for "
                    "--systemd, --at, --env-fd, --stdin): %s (is cph "
                    "installed whole? cph-run looks beside itself, then in "
                    "%s)", run.adapter, strerror(errno), CPH_LIBEXECDIR);
#ifdef __linux__
    run.self = realpath("/proc/self/exe", NULL);
    if (!run.self)
        return fail(EXIT_CPH_RUN, "/proc/self/exe: %s (is /proc mounted?)",
                    strerror(errno));
#endif
    return 0;
}

/* The exit code for PROGRAM's exec failing with err: 127 not found, 126
 * not runnable. */
static int exec_failed(int err)
{
    fail(0, "%s: %s", run.child_argv[0], strerror(err));
    return err == ENOENT ? 127 : 126;
}

#ifdef __linux__
/*
 * The spawned process on Linux is cph-run again, as EXEC_HELPER ERRFD
 * PARENT PROGRAM...: it asks to be killed when cph-run dies, even by
 * SIGKILL (PR_SET_PDEATHSIG, kept across the exec of PROGRAM, as
 * bubblewrap's --die-with-parent does), then execs PROGRAM, which keeps
 * the pid, and so the handshake, cph_spawn prepared. An exec that fails
 * sends its errno on ERRFD; one that works closes it.
 */
int exec_helper(char **argv)
{
    int errfd = atoi(argv[2]), err;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != atol(argv[3]))
        return EXIT_CPH_RUN;
    fcntl(errfd, F_SETFD, FD_CLOEXEC);
    execvp(argv[4], argv + 4);
    err = errno;
    if (write(errfd, &err, sizeof err) < 0)
        return EXIT_CPH_RUN;
    return 127;
}

#define SPAWN_HINT " (through cph-run's exec helper, /proc/self/exe: is /proc mounted?)"

/* Moves *fd (inheritable) above every number the adapter places a
 * handle at, so that no placement closes it first. */
static int above_placements(int *fd)
{
    int floor = 3 + (int)run.count, moved, err;

    for (size_t i = 0; i < run.o->place_count; i++)
        if (run.o->places[i].at >= floor)
            floor = run.o->places[i].at + 1;
    moved = fcntl(*fd, F_DUPFD, floor);
    err = moved < 0 ? errno : 0;
    close(*fd);
    *fd = moved;
    return err;
}

/* argv for the helper, around child_argv; errfd is its ERRFD. */
static char **helper_argv(int errfd)
{
    static char fd_arg[16], parent_arg[24];
    size_t n = 0;
    char **argv;

    while (run.child_argv[n])
        n++;
    argv = calloc(n + 5, sizeof *argv);
    if (!argv)
        return NULL;
    snprintf(fd_arg, sizeof fd_arg, "%d", errfd);
    snprintf(parent_arg, sizeof parent_arg, "%ld", (long)getpid());
    argv[0] = run.self ? run.self : "/proc/self/exe";
    argv[1] = EXEC_HELPER;
    argv[2] = fd_arg;
    argv[3] = parent_arg;
    memcpy(argv + 4, run.child_argv, (n + 1) * sizeof *argv);
    return argv;
}

static int spawn_program(pid_t *pid, const posix_spawn_file_actions_t *fa,
                         const posix_spawnattr_t *attr,
                         cph_attachments_t *list)
{
    int errpipe[2], err, exec_err;
    char **argv;
    ssize_t n;

    if (pipe(errpipe) < 0)
        return errno;
    fcntl(errpipe[0], F_SETFD, FD_CLOEXEC);
    if (run.adapter && (err = above_placements(&errpipe[1])) != 0) {
        close(errpipe[0]);
        return err;
    }
    argv = helper_argv(errpipe[1]);
    err = argv ? cph_spawn(pid, argv[0], fa, attr, argv, run.envp, list)
               : ENOMEM;
    free(argv);
    close(errpipe[1]);
    if (err) {
        close(errpipe[0]);
        return err;
    }
    do
        n = read(errpipe[0], &exec_err, sizeof exec_err);
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    return n == sizeof exec_err ? -exec_failed(exec_err) : 0;
}
#else
#define SPAWN_HINT ""

/* No PR_SET_PDEATHSIG: PROGRAM is spawned as it is. */
int exec_helper(char **argv)
{
    (void)argv;
    return EXIT_CPH_RUN;
}

static int spawn_program(pid_t *pid, const posix_spawn_file_actions_t *fa,
                         const posix_spawnattr_t *attr,
                         cph_attachments_t *list)
{
    int err = cph_spawnp(pid, run.child_argv[0], fa, attr, run.child_argv,
                         run.envp, list);

    return err == ENOENT || err == EACCES || err == ENOEXEC
               ? -exec_failed(err)
               : err;
}
#endif

static int remember(pid_t pid)
{
    if (run.live == run.cap) {
        size_t cap = run.cap ? 2 * run.cap : 8;
        pid_t *pids = realloc(run.pids, cap * sizeof *pids);
        bool *old = pids ? realloc(run.old, cap * sizeof *old) : NULL;

        if (pids)
            run.pids = pids;
        if (!old)
            return ENOMEM;
        run.old = old;
        run.cap = cap;
    }
    run.pids[run.live] = pid;
    run.old[run.live++] = false;
    return 0;
}

/*
 * Spawns one child with list, and with stdio_fd (--inetd) on its stdin
 * and stdout unless -1. 0, or an exit code (reported).
 */
static int spawn_child(cph_attachments_t *list, int stdio_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    pid_t pid;
    int err;

    err = posix_spawn_file_actions_init(&fa);
    if (err)
        return fail(EXIT_CPH_RUN, "spawn: %s", strerror(err));
    err = posix_spawnattr_init(&attr);
    if (!err && stdio_fd >= 0)
        err = posix_spawn_file_actions_adddup2(&fa, stdio_fd, 0);
    if (!err && stdio_fd >= 0)
        err = posix_spawn_file_actions_adddup2(&fa, stdio_fd, 1);
    if (!err)
        err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (!err)
        err = posix_spawnattr_setsigmask(&attr, &run.mask);
    if (!err)
        err = spawn_program(&pid, &fa, &attr, list);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (err < 0)
        return -err;
    if (err)
        return fail(EXIT_CPH_RUN, "cannot spawn %s: %s%s", run.child_argv[0],
                    strerror(err), err == ENOENT ? SPAWN_HINT : "");
    if (remember(pid) != 0) {
        kill(pid, SIGKILL);
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    }
    run.last_spawn = now_ms();
    if (!run.first) {
        run.first = pid;
        if (list && !run.o->quiet && run.o->warn_after_ms > 0)
            start_thread(watch_checkin, pid);
    }
    if (run.o->expect_count > 0) {
        taker_count(1);
        if (start_thread(take_given, pid) != 0)
            taker_count(-1);
    }
    return 0;
}

/* --- handles -------------------------------------------------------- */

static int add(cph_attachments_t *list, const char *key, int fd)
{
    int err = cph_attachments_add_fd(list, key, fd);

    if (err == EINVAL)
        return fail(EXIT_CPH_RUN,
                    "bad key '%s': a key is 1 to 64 of [A-Za-z0-9._-]", key);
    if (err == EEXIST)
        return fail(EXIT_CPH_RUN, "key '%s' given twice", key);
    if (err == EBADF)
        return fail(EXIT_CPH_RUN, "%s: fd %d is not open", key, fd);
    if (err)
        return fail(EXIT_CPH_RUN, "%s: %s", key, strerror(err));
    return 0;
}

/* The placements, once list holds every handle they name. 0, or an exit
 * code. */
static int place(cph_attachments_t *list)
{
    const struct options *o = run.o;
    int err = list && run.adapter
                  ? cph_attachments_set_adapter(list, run.adapter)
                  : 0;

    for (size_t i = 0; !err && list && i < o->place_count; i++) {
        const struct place_option *p = &o->places[i];

        err = p->var ? cph_attachments_place_env(list, p->key, p->var)
                     : cph_attachments_place_fd(list, p->key, p->at);
        if (err)
            return fail(EXIT_CPH_RUN, "%s: %s", p->arg, strerror(err));
    }
    if (!err && list && o->systemd)
        err = cph_attachments_place_systemd(list, o->fdnames,
                                            o->no_pid ? CPH_SYSTEMD_NO_PID : 0);
    return err ? fail(EXIT_CPH_RUN, "--systemd: %s", strerror(err)) : 0;
}

/*
 * The list every child gets: each handle but, with --accept, the
 * listeners, and with --inetd, the socket on stdio; NULL when there is
 * none of either (PROGRAM then runs as posix_spawn would run it). 0, or
 * an exit code.
 */
static int base_list(cph_attachments_t **out)
{
    cph_attachments_t *list = NULL;
    int err = 0;

    *out = NULL;
    for (size_t i = 0; !err && i < run.count; i++) {
        const struct handle *h = &run.handles[i];

        if ((run.o->accept || run.o->inetd) && h->listener)
            continue;
        if (!list && (err = cph_attachments_init(&list)) != 0)
            return fail(EXIT_CPH_RUN, "%s", strerror(err));
        err = add(list, h->key, h->fd);
    }
    for (size_t i = 0; !err && i < run.o->expect_count; i++) {
        if (!list && (err = cph_attachments_init(&list)) != 0)
            return fail(EXIT_CPH_RUN, "%s", strerror(err));
        err = cph_attachments_expect(list, run.o->expect[i]);
        if (err)
            err = fail(EXIT_CPH_RUN, "--expect %s: %s", run.o->expect[i],
                       err == EEXIST ? "given twice" : "bad key");
    }
    if (!err && list && run.o->pid_bound &&
        (err = cph_attachments_set_delivery(list, CPH_DELIVERY_PID_BOUND)))
        err = fail(EXIT_CPH_RUN, "--pid-bound: %s", strerror(err));
    if (!err && !run.o->accept)
        err = place(list);
    if (err)
        cph_attachments_destroy(list);
    else
        *out = list;
    return err;
}

/* The listener every --accept, --inetd child is about, the first. */
static const struct handle *listener(void)
{
    for (size_t i = 0; i < run.count; i++)
        if (run.handles[i].listener)
            return &run.handles[i];
    return NULL;
}

/* --accept: one connection on h, to a child of its own. */
static int accept_one(const struct handle *h)
{
    cph_attachments_t *list;
    int conn = accept(h->fd, NULL, NULL), code;

    if (conn < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                       errno == ECONNABORTED
                   ? 0
                   : fail(EXIT_CPH_RUN, "accept on %s: %s", h->key,
                          strerror(errno));
    /* A BSD accept inherits O_NONBLOCK from the listener. */
    fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) & ~O_NONBLOCK);
    fcntl(conn, F_SETFD, FD_CLOEXEC);
    code = base_list(&list);
    if (!code && !run.o->inetd) {
        if (!list && (code = cph_attachments_init(&list)) != 0)
            code = fail(EXIT_CPH_RUN, "%s", strerror(code));
        if (!code)
            code = add(list, h->key, conn);
    }
    if (!code)
        code = place(list);
    if (!code)
        code = spawn_child(list, run.o->inetd ? conn : -1);
    cph_attachments_destroy(list);
    close(conn);
    return code;
}

/* --- the loop ------------------------------------------------------- */

static void replace_all(cph_attachments_t *list);

static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        size_t i = 0;

        while (i < run.live && run.pids[i] != pid)
            i++;
        if (i == run.live)
            continue;
        run.pids[i] = run.pids[--run.live];
        run.old[i] = run.old[run.live];
        run.last_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                            : WEXITSTATUS(status);
        if (pid == run.first && WIFEXITED(status) && !keeps_children() &&
            !run.o->accept && run.count > 0 &&
            cph_checkin_wait(pid, OUTCOME_WAIT_MS) == ENOTCONN &&
            run.o->expect_count == 0 && !atomic_exchange(&warned, 1))
            say("%s exited without checking in (is it linked with "
                "libcph_child?)", run.program);
    }
}

static size_t counted(void)
{
    size_t n = 0;

    for (size_t i = 0; i < run.live; i++)
        n += !run.old[i];
    return n;
}

static size_t wanted(void)
{
    return run.o->workers > 0 ? (size_t)run.o->workers : 1;
}

/* Tops the children up to their number: 0, or an exit code. */
static int top_up(cph_attachments_t *list)
{
    int code = 0;

    while (!code && counted() < wanted())
        code = spawn_child(list, run.o->inetd ? listener()->fd : -1);
    return code;
}

/* SIGHUP with --restart or --workers: the new children first, then the
 * old ones asked to stop, so that the sockets always have a taker. */
static void replace_all(cph_attachments_t *list)
{
    size_t had = run.live;

    for (size_t i = 0; i < had; i++)
        run.old[i] = true;
    if (top_up(list) != 0)
        return;
    for (size_t i = 0; i < run.live; i++)
        if (run.old[i])
            kill(run.pids[i], SIGTERM);
}

static bool stops(int sig)
{
    return sig == SIGINT || sig == SIGTERM || sig == SIGQUIT ||
           (sig == SIGHUP && !keeps_children());
}

/* SIGTSTP stops cph-run too, once forwarded, so that the shell sees
 * its job stop. */
static void stop_for_job_control(const struct sig_record *r)
{
    if (r->sig == SIGTSTP)
        raise(SIGSTOP);
}

static void handle(const struct sig_record *r, cph_attachments_t *list)
{
    if (r->sig == SIGCHLD)
        return;
    if (r->sig == SIGHUP && keeps_children() && !run.stop) {
        replace_all(list);
        return;
    }
    forward(r);
    stop_for_job_control(r);
    if (stops(r->sig) && (keeps_children() || run.o->accept))
        run.stop = r->sig;
}

static bool done(void)
{
    if (run.live > 0)
        return false;
    return run.stop || !(keeps_children() || run.o->accept);
}

static void drain_signals(cph_attachments_t *list)
{
    struct sig_record r;

    while (read(sig_pipe[0], &r, sizeof r) == sizeof r)
        handle(&r, list);
}

static int loop(cph_attachments_t *list)
{
    const struct handle *h = run.o->accept ? listener() : NULL;
    int code = 0;

    while (!code) {
        struct pollfd pfd[2] = {{.fd = sig_pipe[0], .events = POLLIN},
                                {.fd = h ? h->fd : -1, .events = POLLIN}};
        long long gap = run.last_spawn + RESPAWN_GAP_MS - now_ms();
        int timeout = -1;

        reap();
        if (keeps_children() && !run.stop && counted() < wanted()) {
            if (run.first && gap > 0)
                timeout = (int)gap;
            else
                code = top_up(list);
        }
        if (code || done())
            break;
        pfd[1].fd = h && !run.stop ? h->fd : -1;
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            return fail(EXIT_CPH_RUN, "poll: %s", strerror(errno));
        drain_signals(list);
        if (pfd[1].revents & POLLIN)
            code = accept_one(h);
    }
    if (code) {
        for (size_t i = 0; i < run.live; i++)
            kill(run.pids[i], SIGTERM);
        return code;
    }
    /* --accept's children each end with their connection: cph-run ends
     * with the signal that stopped it. */
    return run.o->accept || run.last_code < 0 ? 128 + run.stop
                                              : run.last_code;
}

int supervise(char **argv, const struct options *o, struct handle *handles,
              size_t count, char **envp)
{
    cph_attachments_t *list = NULL;
    int code;

    run.o = o;
    run.envp = envp;
    run.handles = handles;
    run.count = count;
    run.program = argv[o->program];
    run.child_argv = argv + o->program;
    code = (o->systemd || o->place_count > 0) && count > 0
               ? find_adapter(argv[0])
               : 0;
    pthread_sigmask(SIG_SETMASK, NULL, &run.mask);
    if (!code)
        code = catch_signals();
    if (!code && o->accept)
        code = set_flags(listener()->fd, 0, O_NONBLOCK) < 0
                   ? fail(EXIT_CPH_RUN, "%s", strerror(errno))
                   : 0;
    else if (!code)
        code = base_list(&list);
    if (!code && !keeps_children() && !o->accept)
        code = spawn_child(list, o->inetd ? listener()->fd : -1);
    if (!code)
        code = loop(list);
    wait_takers();
    cph_attachments_destroy(list);
    free(run.adapter);
    free(run.self);
    return code;
}
