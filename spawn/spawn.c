/*
 * cph_spawn and cph_spawnp: posix_spawn plus a channel to the child (the
 * direct delivery's socketpair, or the pid-bound delivery's token pipe),
 * a CPH_HANDSHAKE entry naming it, and a record the server thread serves.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../lib/core/attachments.h"
#include "../lib/transport.h"
#include "placed.h"

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

#if defined(POSIX_SPAWN_SETEXEC) || defined(POSIX_SPAWN_CLOEXEC_DEFAULT)
static bool has_flag(const posix_spawnattr_t *attrp, short flag)
{
    short flags = 0;

    return attrp && posix_spawnattr_getflags(attrp, &flags) == 0 &&
           (flags & flag);
}
#endif

static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The number the child will find its end at: a close-on-exec duplicate
 * at the lowest free fd from 3/4 of RLIMIT_NOFILE (taken at most 1024:
 * 768 by default), where no caller's file actions name an fd in practice
 * (spawn.h) and the fd table stays the size select() allows; failing
 * that, the lowest free above 2. */
static int fd_for_child(int end)
{
    struct rlimit rl;
    rlim_t cap = CPH__CHILD_FD_CAP;
    int fd;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < cap)
        cap = rl.rlim_cur < 4 ? 4 : rl.rlim_cur;
    fd = cph__dup_from(end, (int)(cap - cap / 4));
    if (fd < 0 && errno == EMFILE)
        fd = cph__dup_from(end, 3);
    return fd;
}

/* Our own file actions: dup2 to a different number yields an inheritable
 * fd in the child only, so the parent never holds one. */
static int own_file_actions(posix_spawn_file_actions_t *fa, int end,
                            int child_fd, const posix_spawnattr_t *attrp)
{
    int err = posix_spawn_file_actions_init(fa);

    if (err)
        return err;
    err = posix_spawn_file_actions_adddup2(fa, end, child_fd);
#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
    /* xnu keeps dup2 targets open under CLOEXEC_DEFAULT; saying it with
     * addinherit_np as well costs nothing. */
    if (!err && has_flag(attrp, POSIX_SPAWN_CLOEXEC_DEFAULT))
        err = posix_spawn_file_actions_addinherit_np(fa, child_fd);
#else
    (void)attrp;
#endif
    if (err)
        posix_spawn_file_actions_destroy(fa);
    return err;
}

/* Pid-bound: the spawn's own copies of the handles, and a token written
 * into a new pipe before the child exists. */
static int prepare_pid_bound(struct cph__record *r,
                             const cph_attachments_t *list)
{
    int pipe_fds[2];
    int err = cph__attachments_hold(list, &r->held, &r->count);

    if (!err)
        err = cph__token_new(r->token);
    if (!err)
        err = cph__pipe_create(pipe_fds);
    if (err)
        return err;
    r->pipe_fd = pipe_fds[1];
    r->spawn_fds[0] = pipe_fds[0];
    return write_all(r->pipe_fd, r->token, sizeof r->token);
}

/* The fd whose copy the child gets. */
static int child_end(const struct cph__record *r)
{
    return r->delivery == CPH_DELIVERY_DIRECT ? r->end_fd : r->spawn_fds[0];
}

/* The channel, and the number the child gets its end at. */
static int prepare_channel(struct cph__record *r,
                           const cph_attachments_t *list, struct stat *st)
{
    int err;

#if CPH__HAS_DIRECT
    if (r->delivery == CPH_DELIVERY_DIRECT)
        err = cph__direct_prepare(r, list);
    else
#endif
        err = prepare_pid_bound(r, list);
    if (err)
        return err;
    r->spawn_fds[1] = fd_for_child(child_end(r));
    if (r->spawn_fds[1] < 0 || fstat(child_end(r), st) < 0)
        return errno;
    return 0;
}

/*
 * Everything a spawn needs before posix_spawn, made under the lock and
 * owned by r from the moment it exists: a fork() by another thread waits
 * for the lock (cph's atfork handler), then finds every one of these fds
 * in a record and closes it in the forked process.
 */
static int prepare(struct cph__record *r, const cph_attachments_t *list,
                   struct cph__env *e)
{
    struct stat st;
    int err = prepare_channel(r, list, &st);

#if CPH__HAS_DIRECT
    /* Out of fds: the channels of children that took their handles and
     * have not been collected yet may be what is missing. */
    if ((err == EMFILE || err == ENFILE) && cph__handed_collect() > 0) {
        cph__record_clear(r);
        err = prepare_channel(r, list, &st);
    }
#endif
    if (err)
        return err;
    e->delivery = r->delivery;
    e->fd = r->spawn_fds[1];
    e->inode = (uint64_t)st.st_ino;
    e->pid = getpid();
    /* Last, so that a spawn failing for want of fds starts nothing. The
     * direct delivery starts libcph's thread only once a child exists. */
    return r->delivery == CPH_DELIVERY_DIRECT ? 0
                                              : cph__server_start(e->service);
}

struct spawn_call {
    spawn_fn *fn;
    pid_t *pid;
    const char *path;
    const posix_spawn_file_actions_t *fa;
    char *const *argv;
    char *const *env;
};

static int run_spawn(void *ctx, const posix_spawnattr_t *attrp)
{
    struct spawn_call *c = ctx;

    return c->fn(c->pid, c->path, c->fa, attrp, c->argv, c->env);
}

#if CPH__MACH
/* Nameless: the port, and the registered-port slot the child finds it
 * in (ENOSPC: none of the parent's slots is free). */
static int prepare_nameless(struct cph__record *r,
                            const cph_attachments_t *list, struct cph__env *e)
{
    int err = cph__server_start(NULL);

    if (!err)
        err = cph__nameless_prepare(r, &e->slot);
    if (!err)
        err = cph__attachments_hold(list, &r->held, &r->count);
    e->delivery = r->delivery;
    e->pid = getpid();
    return err;
}
#endif

/* The keys the child may give back, then the delivery's own objects.
 * Nameless with none of the parent's slots free: the rendezvous
 * instead. */
static int prepare_delivery(struct cph__record *r,
                            const cph_attachments_t *list, struct cph__env *e)
{
    int err;

    if (list->nexpects > 0) {
        err = cph__giving_new(list, &r->giving);
        if (err)
            return err;
        r->expects = cph__giving_keys(r->giving, &r->nexpects);
    }
#if CPH__MACH
    if (r->delivery == CPH_DELIVERY_NAMELESS) {
        err = prepare_nameless(r, list, e);
        if (err != ENOSPC)
            return err;
        r->delivery = CPH_DELIVERY_PID_BOUND;
    }
#endif
    return prepare(r, list, e);
}


/* The spawn by posix_spawn, with the child's end added to the caller's
 * file actions (or in the window of spawn.h), or by the nameless
 * delivery's way. errno is saved on entry, posix_spawn's on return. */
static int spawn_plain(spawn_fn *fn, pid_t *child, const char *path,
                       const posix_spawn_file_actions_t *file_actions,
                       const posix_spawnattr_t *attrp, char *const argv[],
                       char *const env[], struct cph__record *r, int saved)
{
    posix_spawn_file_actions_t own;
    const posix_spawn_file_actions_t *fa = file_actions;
    struct spawn_call call = {fn, child, path, NULL, argv, env};
    int err = 0;

    if (r->delivery == CPH_DELIVERY_NAMELESS) {
        /* no fd to pass on */
    } else if (file_actions) {
        /* The window spawn.h describes opens here... */
        if (fcntl(r->spawn_fds[1], F_SETFD, 0) < 0)
            err = errno;
    } else {
        err = own_file_actions(&own, child_end(r), r->spawn_fds[1], attrp);
        if (!err)
            fa = &own;
    }
    if (err) {
        errno = err;
        return err;
    }
    call.fa = fa;
    errno = saved;
#if CPH__MACH
    if (r->delivery == CPH_DELIVERY_NAMELESS)
        err = cph__nameless_spawn(r, attrp, run_spawn, &call);
    else
#endif
        err = run_spawn(&call, attrp);
    if (fa == &own) {
        int after = errno;

        posix_spawn_file_actions_destroy(&own);
        errno = after;
    }
    return err;
}

/* The spawn: by cph's own spawner where it can run it (posix_spawn, not
 * posix_spawnp, without the caller's file actions and attributes, an fd
 * to hand on), which makes the child's pidfd too, else by posix_spawn.
 * errno is saved on entry, as posix_spawn leaves it on return. */
static int spawn_child(spawn_fn *fn, pid_t *child, const char *path,
                       const posix_spawn_file_actions_t *file_actions,
                       const posix_spawnattr_t *attrp, char *const argv[],
                       char *const env[], struct cph__record *r, int saved,
                       int *pidfd)
{
#if CPH__HAS_SPAWNER
    if (fn == posix_spawn && !file_actions && !attrp) {
        int err;

        errno = saved;
        err = cph__spawn_own(child, path, child_end(r), r->spawn_fds[1],
                             argv, env, pidfd);
        if (err != ENOSYS)
            return err;
    }
#else
    (void)pidfd;
#endif
    return spawn_plain(fn, child, path, file_actions, attrp, argv, env, r,
                       saved);
}

/* errno ends as posix_spawn leaves it (glibc's changes it on success at
 * times: a spawnp that tried other directories first, SETSIGDEF of every
 * signal; and leaves the error there on failure), whatever cph's own
 * calls around it do; a failure of cph's own before it leaves the error
 * there too. */
static int spawn_attached(spawn_fn *fn, pid_t *pid, const char *path,
                          const posix_spawn_file_actions_t *file_actions,
                          const posix_spawnattr_t *attrp, char *const argv[],
                          char *const envp[], const cph_attachments_t *list)
{
    int saved = errno, after;
    char entry[CPH__ENV_ENTRY_MAX];
    struct cph__env e;
    struct cph__record *r;
    char **env = NULL;
    pid_t child;
    int err, pidfd = -1;

#ifdef POSIX_SPAWN_SETEXEC
    if (has_flag(attrp, POSIX_SPAWN_SETEXEC))
        return EINVAL;
#endif
    r = cph__record_new();
    if (!r)
        return ENOMEM;
    r->delivery = (uint8_t)list->delivery;
    cph__lock();
    cph__registry_add(r);
    err = prepare_delivery(r, list, &e);
    cph__unlock();
    if (!err)
        err = cph__env_format(entry, sizeof entry, &e);
    if (!err)
        err = cph__env_with_handshake(envp, entry, &env);
    if (!err) {
        err = spawn_child(fn, &child, path, file_actions, attrp, argv, env, r,
                          saved, &pidfd);
        after = errno;
    } else {
        after = err;
    }
    free(env);

    cph__lock();
    /* ...and closes here (publish closes the spawn's fds). The pidfd joins
     * the record only now: a fork by another thread since the clone
     * copied it into its child (close-on-exec). */
    r->exit_fd = pidfd;
    if (err) {
#if CPH__MACH
        cph__nameless_end(r);
#endif
        cph__registry_drop(r);
    }
    else
        cph__registry_publish(r, child);
    cph__unlock();
    if (!err && pid)
        *pid = child;
    errno = after;
    return err;
}

/* With placements: the adapter, which then execs path (placed.c). */
static int spawn_placed(spawn_fn *fn, pid_t *pid, const char *path,
                        const posix_spawn_file_actions_t *file_actions,
                        const posix_spawnattr_t *attrp, char *const argv[],
                        char *const envp[], const cph_attachments_t *list)
{
    char **args;
    int err = cph__placed_argv(list, path, fn == posix_spawnp,
                               file_actions == NULL, argv, &args);

    if (err) {
        errno = err;
        return err;
    }
    err = spawn_attached(posix_spawn, pid, args[0], file_actions, attrp,
                         args, envp, list);
    cph__placed_free(args);
    return err;
}

/* posix_spawn is no cancellation point: neither is cph_spawn, whatever
 * its own calls are. */
static int spawn_with(spawn_fn *fn, pid_t *pid, const char *path,
                      const posix_spawn_file_actions_t *file_actions,
                      const posix_spawnattr_t *attrp, char *const argv[],
                      char *const envp[], const cph_attachments_t *list)
{
    int err, cancel;

    if (!list || (list->count == 0 && list->nexpects == 0))
        return fn(pid, path, file_actions, attrp, argv, envp);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    if (list->nplaces > 0 || list->systemd)
        err = spawn_placed(fn, pid, path, file_actions, attrp, argv, envp,
                           list);
    else
        err = spawn_attached(fn, pid, path, file_actions, attrp, argv, envp,
                             list);
    pthread_setcancelstate(cancel, NULL);
    return err;
}

int cph_spawn(pid_t *pid, const char *path,
              const posix_spawn_file_actions_t *file_actions,
              const posix_spawnattr_t *attrp, char *const argv[],
              char *const envp[], const cph_attachments_t *attachments)
{
    return spawn_with(posix_spawn, pid, path, file_actions, attrp, argv, envp,
                      attachments);
}

int cph_spawnp(pid_t *pid, const char *file,
               const posix_spawn_file_actions_t *file_actions,
               const posix_spawnattr_t *attrp, char *const argv[],
               char *const envp[], const cph_attachments_t *attachments)
{
    return spawn_with(posix_spawnp, pid, file, file_actions, attrp, argv,
                      envp, attachments);
}
