/*
 * Apple's posix_spawn on Linux. The objects and their setters follow
 * libsyscall wrappers/spawn/posix_spawn.c; the spawn follows xnu
 * bsd/kern/kern_exec.c posix_spawn: a new process (a raw clone, which runs no
 * atfork handler: the kernel's fork1 runs no user code), the file actions
 * (exec_handle_file_actions), the port actions (exec_handle_port_actions, here
 * machsim__task_create_child), the attributes, the exec. xnu returns every
 * error of that sequence, exec's included, from posix_spawn itself, and then
 * no child exists: the child here reports its errno through a close-on-exec
 * pipe and the spawn reaps it.
 *
 * Between clone and exec the child only makes async-signal-safe calls:
 * everything it needs is prepared before the clone, and it takes no lock.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <spawn_private.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "process.h"

/* macOS's limits (sys/syslimits.h OPEN_MAX, PATH_MAX;
 * mach/task_special_ports.h TASK_PORT_REGISTER_MAX; paths.h _PATH_DEFPATH). */
#define DARWIN_OPEN_MAX 10240
#define DARWIN_PATH_MAX 1024
#define REGISTER_MAX 3
#define DARWIN_DEFPATH "/usr/bin:/bin"

/* The room internal.h's struct machsim__spawn_ports has. */
#define SPECIAL_MAX 8

struct attr {
    short flags;
    pid_t pgroup;
    sigset_t sigdefault, sigmask;
    struct machsim__spawn_ports ports;
    /* Registered ports asked for, in all calls: more than REGISTER_MAX fail
     * the spawn. */
    uint32_t nregistered;
};

enum { FA_OPEN, FA_CLOSE, FA_DUP2, FA_INHERIT, FA_CHDIR, FA_FCHDIR };

struct action {
    int type, fd, newfd, oflag;
    mode_t mode;
    char *path;
};

struct actions {
    size_t count, alloc;
    struct action *act;
};

/* One spawn, prepared before the clone. */
struct job {
    const char *path;
    char *const *argv, *const *envp;
    const struct attr *attr;  /* NULL: none */
    const struct actions *fa; /* NULL: none */
    int *inherit; /* CLOEXEC_DEFAULT: the fds the file actions name, sorted */
    size_t ninherit;
    sigset_t mask; /* the calling thread's */
    int go[2], report[2];
};

static bool has(const struct attr *a, short flag)
{
    return a && (a->flags & flag);
}

/* posix_spawnattr_*: EINVAL for an object that was never initialised or was
 * destroyed, as libsyscall checks `attr == NULL || *attr == NULL`. */
static struct attr *attr_of(const posix_spawnattr_t *attr)
{
    return attr ? *attr : NULL;
}

int posix_spawnattr_init(posix_spawnattr_t *attr)
{
    struct attr *a = calloc(1, sizeof *a);

    if (!a)
        return ENOMEM;
    sigemptyset(&a->sigdefault);
    sigemptyset(&a->sigmask);
    *attr = a;
    return 0;
}

int posix_spawnattr_destroy(posix_spawnattr_t *attr)
{
    if (!attr_of(attr))
        return EINVAL;
    free(*attr);
    *attr = NULL;
    return 0;
}

/* libsyscall posix_spawnattr_setflags stores any value; the kernel ignores
 * bits it does not know. */
int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags)
{
    struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    a->flags = flags;
    return 0;
}

int posix_spawnattr_getflags(const posix_spawnattr_t *attr, short *flags)
{
    const struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    *flags = a->flags;
    return 0;
}

int posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup)
{
    struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    a->pgroup = pgroup;
    return 0;
}

int posix_spawnattr_getpgroup(const posix_spawnattr_t *attr, pid_t *pgroup)
{
    const struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    *pgroup = a->pgroup;
    return 0;
}

static int set_sigset(const posix_spawnattr_t *attr, size_t offset,
                      const sigset_t *from)
{
    struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    memcpy((char *)a + offset, from, sizeof *from);
    return 0;
}

static int get_sigset(const posix_spawnattr_t *attr, size_t offset,
                      sigset_t *to)
{
    const struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    memcpy(to, (const char *)a + offset, sizeof *to);
    return 0;
}

int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *mask)
{
    return set_sigset(attr, offsetof(struct attr, sigmask), mask);
}

int posix_spawnattr_getsigmask(const posix_spawnattr_t *attr, sigset_t *mask)
{
    return get_sigset(attr, offsetof(struct attr, sigmask), mask);
}

int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set)
{
    return set_sigset(attr, offsetof(struct attr, sigdefault), set);
}

int posix_spawnattr_getsigdefault(const posix_spawnattr_t *attr, sigset_t *set)
{
    return get_sigset(attr, offsetof(struct attr, sigdefault), set);
}

/* libsyscall posix_spawn_appendportaction_np takes any name and any `which`;
 * the kernel checks them at the spawn (exec_handle_port_actions: EINVAL).
 * Guess: ENOMEM past SPECIAL_MAX special ports, where libsyscall would grow
 * its array. */
int posix_spawnattr_setspecialport_np(posix_spawnattr_t *attr,
                                      mach_port_t new_port, int which)
{
    struct attr *a = attr_of(attr);

    if (!a)
        return EINVAL;
    if (a->ports.nspecial == SPECIAL_MAX)
        return ENOMEM;
    a->ports.special_which[a->ports.nspecial] = which;
    a->ports.special_port[a->ports.nspecial++] = new_port;
    return 0;
}

/* libsyscall posix_spawnattr_set_registered_ports_np: EINVAL for more than
 * TASK_PORT_REGISTER_MAX in one call; calls add up, and the spawn refuses more
 * than that in all (exec_handle_port_actions). */
int posix_spawnattr_set_registered_ports_np(posix_spawnattr_t *attr,
                                            mach_port_t portarray[],
                                            uint32_t count)
{
    struct attr *a = attr_of(attr);

    if (count > REGISTER_MAX)
        return EINVAL;
    if (!a)
        return count ? EINVAL : 0;
    for (uint32_t i = 0; i < count; i++, a->nregistered++)
        if (a->nregistered < REGISTER_MAX)
            a->ports.registered[a->nregistered] = portarray[i];
    a->ports.nregistered =
        a->nregistered < REGISTER_MAX ? (int)a->nregistered : REGISTER_MAX;
    a->ports.registered_set = a->nregistered > 0;
    return 0;
}

int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions)
{
    struct actions *fa = calloc(1, sizeof *fa);

    if (!fa)
        return ENOMEM;
    *file_actions = fa;
    return 0;
}

int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions)
{
    struct actions *fa = file_actions ? *file_actions : NULL;

    if (!fa)
        return EINVAL;
    for (size_t i = 0; i < fa->count; i++)
        free(fa->act[i].path);
    free(fa->act);
    free(fa);
    *file_actions = NULL;
    return 0;
}

/* The checks every posix_spawn_file_actions_add* makes, in libsyscall's order:
 * the object (EINVAL), the fds' range (EBADF, OPEN_MAX however low
 * RLIMIT_NOFILE is), then room (ENOMEM). Returns the new, zeroed, action or
 * NULL with *err. */
static struct action *add_action(posix_spawn_file_actions_t *file_actions,
                                 int type, int fd, int newfd, int *err)
{
    struct actions *fa = file_actions ? *file_actions : NULL;
    struct action *a;

    *err = EINVAL;
    if (!fa)
        return NULL;
    *err = EBADF;
    if (fd < 0 || fd >= DARWIN_OPEN_MAX || newfd < 0 ||
        newfd >= DARWIN_OPEN_MAX)
        return NULL;
    *err = ENOMEM;
    if (fa->count == fa->alloc) {
        size_t n = fa->alloc ? fa->alloc * 2 : 4;
        struct action *grown = realloc(fa->act, n * sizeof *grown);

        if (!grown)
            return NULL;
        fa->act = grown;
        fa->alloc = n;
    }
    a = &fa->act[fa->count++];
    *a = (struct action){.type = type, .fd = fd, .newfd = newfd};
    *err = 0;
    return a;
}

/* A path copied as libsyscall does, into PATH_MAX bytes: addopen truncates
 * (strlcpy), addchdir_np refuses (ENAMETOOLONG). */
static int add_path(posix_spawn_file_actions_t *file_actions, struct action *a,
                    const char *path, bool truncate)
{
    size_t len = strlen(path);
    struct actions *fa = *file_actions;

    if (len >= DARWIN_PATH_MAX) {
        if (!truncate) {
            fa->count--;
            return ENAMETOOLONG;
        }
        len = DARWIN_PATH_MAX - 1;
    }
    a->path = strndup(path, len);
    if (!a->path) {
        fa->count--;
        return ENOMEM;
    }
    return 0;
}

int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *file_actions,
                                     int filedes, const char *path, int oflag,
                                     mode_t mode)
{
    int err;
    struct action *a = add_action(file_actions, FA_OPEN, filedes, 0, &err);

    if (!a)
        return err;
    a->oflag = oflag;
    a->mode = mode;
    return add_path(file_actions, a, path, true);
}

static int add_fd_action(posix_spawn_file_actions_t *file_actions, int type,
                         int fd, int newfd)
{
    int err;

    add_action(file_actions, type, fd, newfd, &err);
    return err;
}

int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *file_actions,
                                      int filedes)
{
    return add_fd_action(file_actions, FA_CLOSE, filedes, 0);
}

int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions,
                                     int filedes, int newfiledes)
{
    return add_fd_action(file_actions, FA_DUP2, filedes, newfiledes);
}

int posix_spawn_file_actions_addinherit_np(
    posix_spawn_file_actions_t *file_actions, int filedes)
{
    return add_fd_action(file_actions, FA_INHERIT, filedes, 0);
}

int posix_spawn_file_actions_addfchdir_np(
    posix_spawn_file_actions_t *file_actions, int filedes)
{
    return add_fd_action(file_actions, FA_FCHDIR, filedes, 0);
}

int posix_spawn_file_actions_addchdir_np(
    posix_spawn_file_actions_t *file_actions, const char *path)
{
    int err;
    struct action *a = add_action(file_actions, FA_CHDIR, 0, 0, &err);

    return a ? add_path(file_actions, a, path, false) : err;
}

/* --- In the new process (or, for SETEXEC, the caller): async-signal-safe from
 * here on. --- */

/* xnu exec_handle_file_actions, PSFA_OPEN: open, then move the fd where it was
 * asked for. The mode loses the sticky bit and what the umask masks. */
static int action_open(const struct action *a)
{
    int fd = open(a->path, a->oflag, a->mode & 06777);

    if (fd < 0)
        return errno;
    if (fd == a->fd)
        return 0;
    if (dup2(fd, a->fd) < 0) {
        int err = errno;

        close(fd);
        return err;
    }
    close(fd);
    return 0;
}

/* PSFA_INHERIT: the fd must exist; it loses close-on-exec. */
static int action_inherit(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        return errno;
    return 0;
}

/* One action, as exec_handle_file_actions applies it. PSFA_DUP2 is the dup2
 * system call, whose dup2(fd, fd) leaves close-on-exec as it is (xnu
 * bsd/kern/kern_descrip.c dup2, the `old == new` case): Linux's dup2 does the
 * same. */
static int apply_action(const struct action *a)
{
    int rc;

    switch (a->type) {
    case FA_OPEN:
        return action_open(a);
    case FA_CLOSE:
        rc = close(a->fd);
        break;
    case FA_DUP2:
        rc = dup2(a->fd, a->newfd);
        break;
    case FA_INHERIT:
        return action_inherit(a->fd);
    case FA_CHDIR:
        rc = chdir(a->path);
        break;
    default:
        rc = fchdir(a->fd);
        break;
    }
    return rc < 0 ? errno : 0;
}

/* In order; the first failure ends the spawn ("All file actions failures are
 * considered fatal, per POSIX"). */
static int apply_actions(const struct actions *fa)
{
    for (size_t i = 0; i < fa->count; i++) {
        int err = apply_action(&fa->act[i]);

        if (err)
            return err;
    }
    return 0;
}

/* POSIX_SPAWN_CLOEXEC_DEFAULT: xnu marks the fds that dup2, open and inherit
 * actions name (UF_INHERIT, exec_handle_file_actions) and fdt_exec closes
 * every other one at the exec; a marked fd that is close-on-exec still closes.
 * Here every fd outside the marked set becomes close-on-exec. */
static int cloexec_default(const struct job *j)
{
    unsigned int from = 0;

    for (size_t i = 0; i <= j->ninherit; i++) {
        unsigned int to = i < j->ninherit ? (unsigned int)j->inherit[i] : ~0U;

        if (to > from &&
            syscall(SYS_close_range, from, to - 1, CLOSE_RANGE_CLOEXEC) < 0)
            return errno;
        if (i < j->ninherit)
            from = to + 1;
    }
    return 0;
}

/* POSIX_SPAWN_RESETIDS: the effective ids become the real ones (kern_exec.c
 * posix_spawn, then exec_handle_sugid). Raw system calls: glibc's setresuid
 * signals every thread it knows, and this process has only the one. */
static void reset_ids(void)
{
    syscall(SYS_setresgid, -1, getgid(), -1);
    syscall(SYS_setresuid, -1, getuid(), -1);
}

/* SETPGROUP, then SETSID, in xnu's order (posix_spawn, after the image is
 * activated): so both with pgroup 0 fail as setsid fails for a group leader
 * (EPERM). */
static int apply_session(const struct attr *a)
{
    if (has(a, POSIX_SPAWN_SETPGROUP) && setpgid(0, a->pgroup) < 0)
        return errno;
    if (has(a, POSIX_SPAWN_SETSID) && setsid() < 0)
        return errno;
    return 0;
}

/* SETSIGDEF's signals get the default disposition; with `caught`, so do the
 * ones the caller catches, so that none of its handlers runs in this process
 * before the exec (the kernel's spawn runs none; the exec resets them anyway).
 */
static void default_signals(const struct attr *a, bool caught)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;

    for (int sig = 1; sig < NSIG; sig++) {
        bool reset;

        if (sigaction(sig, NULL, &old) < 0)
            continue;
        reset =
            caught && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
        if (has(a, POSIX_SPAWN_SETSIGDEF) && sigismember(&a->sigdefault, sig))
            reset = true;
        if (reset)
            sigaction(sig, &dfl, NULL);
    }
}

/* Everything between the new process and its exec that can fail, in xnu's
 * order: file actions, port actions (port_err, the kernel's answer), RESETIDS,
 * then what xnu does after activating the image but still reports from
 * posix_spawn (SETPGROUP, SETSID). */
static int become(const struct job *j, int port_err)
{
    int err = j->fa ? apply_actions(j->fa) : 0;

    if (!err)
        err = port_err;
    if (!err && has(j->attr, POSIX_SPAWN_CLOEXEC_DEFAULT))
        err = cloexec_default(j);
    if (!err && has(j->attr, POSIX_SPAWN_RESETIDS))
        reset_ids();
    if (!err)
        err = apply_session(j->attr);
    return err;
}

/* Closes what the exec would close: a child stopped before its exec must not
 * hold another spawn's report pipe (or anything else of the caller's that is
 * close-on-exec). */
static void close_cloexec_fds(void)
{
    char buf[4096];
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long n;

    if (dir < 0)
        return;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            int fd = 0;

            for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
                fd = fd * 10 + (*c - '0');
            if (d->d_name[0] != '.' && fd != dir &&
                (fcntl(fd, F_GETFD) & FD_CLOEXEC))
                close(fd);
            off += d->d_reclen;
        }
    }
    close(dir);
}

/* POSIX_SPAWN_START_SUSPENDED: xnu stops the task once its image is loaded
 * (load_machfile caller exec_mach_imgact: p_stat = SSTOP, task_suspend), so
 * exec errors still reach the caller. Here the process stops just before its
 * exec, after telling the parent (a 0 on the report pipe). Guess: only what
 * access(X_OK) finds (ENOENT, EACCES, ENOTDIR, ...) is reported; an exec that
 * fails after SIGCONT ends the child with status 127. */
static int suspend(const struct job *j)
{
    int marker = 0;

    if (access(j->path, X_OK) < 0)
        return errno;
    if (write(j->report[1], &marker, sizeof marker) != sizeof marker)
        return EIO;
    close_cloexec_fds();
    kill(getpid(), SIGSTOP);
    return 0;
}

static _Noreturn void child_main(struct job *j)
{
    int port_err = EIO, err;

    close(j->go[1]);
    close(j->report[0]);
    if (read(j->go[0], &port_err, sizeof port_err) != sizeof port_err)
        _exit(127);
    close(j->go[0]);
    machsim__kqueues_drop();
    err = become(j, port_err);
    default_signals(j->attr, true);
    /* The new image starts with the caller's mask, or SETSIGMASK's. */
    sigprocmask(SIG_SETMASK,
                has(j->attr, POSIX_SPAWN_SETSIGMASK) ? &j->attr->sigmask
                                                     : &j->mask,
                NULL);
    if (!err && has(j->attr, POSIX_SPAWN_START_SUSPENDED)) {
        err = suspend(j);
        if (!err) {
            execve(j->path, j->argv, j->envp);
            _exit(127);
        }
    }
    if (!err) {
        execve(j->path, j->argv, j->envp);
        err = errno;
    }
    while (write(j->report[1], &err, sizeof err) < 0 && errno == EINTR)
        ;
    _exit(127);
}

/* --- In the caller. --- */

static const struct machsim__spawn_ports *ports_of(const struct attr *a)
{
    return a ? &a->ports : NULL;
}

/* The kernel's part of the port actions: more than REGISTER_MAX registered
 * ports, or a refusal of the task's creation (a bad name or `which`), is
 * EINVAL (exec_handle_port_actions). */
static int create_task(pid_t pid, const struct attr *a)
{
    if (a && a->nregistered > REGISTER_MAX)
        return EINVAL;
    return machsim__task_create_child(pid, ports_of(a)) == KERN_SUCCESS
               ? 0
               : EINVAL;
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) -
           (*(const int *)a < *(const int *)b);
}

/* The fds CLOEXEC_DEFAULT keeps (exec_handle_file_actions: the target of dup2
 * and open, the fd of inherit), and the highest fd any action names. */
static int plan_fds(struct job *j, int *maxfd)
{
    size_t n = j->fa ? j->fa->count : 0;

    *maxfd = -1;
    j->inherit = malloc((n + 1) * sizeof *j->inherit);
    if (!j->inherit)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct action *a = &j->fa->act[i];
        int fd = a->type == FA_DUP2 ? a->newfd : a->fd;

        if (a->fd > *maxfd)
            *maxfd = a->fd;
        if (a->newfd > *maxfd)
            *maxfd = a->newfd;
        if (a->type == FA_DUP2 || a->type == FA_OPEN || a->type == FA_INHERIT)
            j->inherit[j->ninherit++] = fd;
    }
    qsort(j->inherit, j->ninherit, sizeof *j->inherit, cmp_int);
    return 0;
}

/* Moves fd above every fd the file actions name, so that none of them replaces
 * it. Where RLIMIT_NOFILE forbids, the action naming that number fails with
 * EBADF anyway. */
static void move_above(int *fd, int maxfd)
{
    int moved;

    if (*fd > maxfd)
        return;
    moved = fcntl(*fd, F_DUPFD_CLOEXEC, maxfd + 1);
    if (moved >= 0) {
        close(*fd);
        *fd = moved;
    }
}

/* The channels: `go` (a socketpair, so that a child killed before reading it
 * cannot raise SIGPIPE here) carries the kernel's answer to the child;
 * `report` carries the child's errno, or 0 before a START_SUSPENDED stop, or
 * nothing (EOF) once the exec closed it. */
static int open_channels(struct job *j)
{
    int maxfd, err = plan_fds(j, &maxfd);

    if (err)
        return err;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, j->go) < 0)
        return errno;
    if (pipe2(j->report, O_CLOEXEC) < 0) {
        err = errno;
        close(j->go[0]);
        close(j->go[1]);
        return err;
    }
    move_above(&j->report[1], maxfd);
    return 0;
}

/* What the child said: 0 once it has exec'd, or stopped (START_SUSPENDED, then
 * it is known stopped); its errno otherwise, after reaping it. */
static int outcome(const struct job *j, pid_t pid)
{
    int said;
    ssize_t n;
    siginfo_t info;

    do
        n = read(j->report[0], &said, sizeof said);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    if (n != sizeof said)
        said = EIO;
    if (said == 0) {
        while (waitid(P_PID, (id_t)pid, &info, WSTOPPED | WNOWAIT) < 0 &&
               errno == EINTR)
            ;
        return 0;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return said;
}

static int spawn_child(pid_t *pid, struct job *j)
{
    sigset_t all;
    long child;
    int err, port_err;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &j->mask);
    child = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (child == 0)
        child_main(j);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &j->mask, NULL);
    close(j->go[0]);
    close(j->report[1]);
    if (child < 0) {
        close(j->go[1]);
        close(j->report[0]);
        return err;
    }
    port_err = create_task((pid_t)child, j->attr);
    send(j->go[1], &port_err, sizeof port_err, MSG_NOSIGNAL);
    close(j->go[1]);
    err = outcome(j, (pid_t)child);
    close(j->report[0]);
    if (!err && pid)
        *pid = (pid_t)child;
    return err;
}

/* POSIX_SPAWN_SETEXEC: the caller becomes the new image (xnu posix_spawn
 * without fork1). The kernel learns the port actions for this task's next
 * image. Guess: SETPGROUP, SETSID and RESETIDS stay applied when the exec
 * fails (xnu applies the first two only once the image is activated), and so
 * do SETSIGDEF's dispositions and CLOEXEC_DEFAULT's close-on-exec marks (xnu
 * closes at fdt_exec, past the point of no return); the signal mask is
 * restored. */
static int exec_in_place(struct job *j)
{
    int err;

    pthread_sigmask(SIG_SETMASK, NULL, &j->mask);
    err = become(j, create_task(getpid(), j->attr));
    if (err)
        return err;
    default_signals(j->attr, false);
    if (has(j->attr, POSIX_SPAWN_SETSIGMASK))
        pthread_sigmask(SIG_SETMASK, &j->attr->sigmask, NULL);
    execve(j->path, j->argv, j->envp);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &j->mask, NULL);
    return err;
}

/* libsyscall posix_spawn: a NULL attribute or file-action object (never
 * initialised, or destroyed) counts as none. errno is left as it was. */
int posix_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *file_actions,
                const posix_spawnattr_t *attrp, char *const argv[],
                char *const envp[])
{
    struct job j = {
        .path = path,
        .argv = argv,
        .envp = envp,
        .attr = attr_of(attrp),
        .fa = file_actions ? *file_actions : NULL,
    };
    int saved = errno, err, cancel;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    err = open_channels(&j);
    if (!err && has(j.attr, POSIX_SPAWN_SETEXEC)) {
        close(j.go[0]);
        close(j.go[1]);
        close(j.report[0]);
        close(j.report[1]);
        err = exec_in_place(&j);
    } else if (!err) {
        err = spawn_child(pid, &j);
    }
    free(j.inherit);
    pthread_setcancelstate(cancel, NULL);
    errno = saved;
    return err;
}

/* One candidate of a PATH search: dir (len bytes, empty = the current
 * directory) + "/" + file. */
static char *candidate(const char *dir, size_t len, const char *file)
{
    size_t flen = strlen(file);
    char *p = malloc(len + flen + 3);

    if (!p)
        return NULL;
    if (len == 0)
        p[len++] = '.';
    else
        memcpy(p, dir, len);
    p[len] = '/';
    memcpy(p + len + 1, file, flen + 1);
    return p;
}

/* Apple's Libc posix_spawnp: a file with a slash is spawned as it is;
 * otherwise each directory of the caller's PATH (default _PATH_DEFPATH) in
 * turn, going on past ENOENT, ENOTDIR and EACCES (remembered: the result when
 * nothing else is found). Guess: no retry through /bin/sh on ENOEXEC (Libc
 * does one; cph never relies on it). */
int posix_spawnp(pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *file_actions,
                 const posix_spawnattr_t *attrp, char *const argv[],
                 char *const envp[])
{
    const char *path = getenv("PATH"), *dir;
    bool denied = false;

    if (*file == '\0')
        return ENOENT;
    if (strchr(file, '/'))
        return posix_spawn(pid, file, file_actions, attrp, argv, envp);
    if (!path)
        path = DARWIN_DEFPATH;
    for (dir = path;; dir++) {
        size_t len = strcspn(dir, ":");
        char *full = candidate(dir, len, file);
        int err;

        if (!full)
            return ENOMEM;
        err = posix_spawn(pid, full, file_actions, attrp, argv, envp);
        free(full);
        if (err == EACCES)
            denied = true;
        else if (err != ENOENT && err != ENOTDIR)
            return err;
        dir += len;
        if (*dir == '\0')
            return denied ? EACCES : ENOENT;
    }
}
