/*
 * Pollable fds for parents that cannot block (cph_child_pollfd, spawn.h).
 * One bell per child somebody asked for: a pipe (cph__pipe_create) whose
 * read end, handed out as duplicates, holds one byte while cph has news
 * about the child, and hangs up once cph has nothing more to say. The
 * core rings it where it decides: an outcome recorded, a handle given,
 * taken, or no longer to come. Guarded by cph__lock.
 *
 * A direct child's outcome is normally collected by whoever asks; while
 * a bell waits for one, libcph's thread collects them as they come
 * (cph__handed_follow), so that the bell rings without anybody asking.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "cph_core.h"

struct bell {
    pid_t pid;
    uint64_t id; /* the child's record and given-back entry; 0: none */
    int fds[2];
    bool decided;   /* its outcome is known */
    bool seen;      /* ... and cph_checkin_wait returned it */
    bool following; /* libcph's thread collects its outcome */
    bool rung;      /* fds[0] holds the byte */
    struct bell *next;
};

static struct bell *bells;

static void ring(struct bell *b, bool on)
{
    char c = 0;

    if (on == b->rung)
        return;
    if (on)
        b->rung = write(b->fds[1], &c, 1) == 1;
    else
        b->rung = !(read(b->fds[0], &c, 1) == 1);
}

/* Its outcome is known: libcph's thread need not collect it any more. */
static void unfollow(struct bell *b)
{
#if CPH__HAS_DIRECT
    if (b->following)
        cph__handed_attend(false);
#endif
    b->following = false;
}

static void bell_free(struct bell **at)
{
    struct bell *b = *at;

    *at = b->next;
    unfollow(b);
    close(b->fds[0]);
    close(b->fds[1]);
    free(b);
}

/* News: an outcome nobody was told, or a given handle to take. Nothing
 * more to say: the outcome told, and no handle left or to come. */
static void update(struct bell **at)
{
    struct bell *b = *at;
    bool held = false, open = cph__given_state(b->id, &held);

    if (b->decided && b->seen && !open && !held)
        bell_free(at);
    else
        ring(b, (b->decided && !b->seen) || held);
}

/* Calls f on every bell of pid; f may free it. */
static void each(pid_t pid, void (*f)(struct bell **))
{
    for (struct bell **p = &bells; *p;) {
        struct bell *b = *p;
        if (b->pid == pid)
            f(p);
        if (*p == b)
            p = &b->next;
    }
}

static void finished(struct bell **at)
{
    unfollow(*at);
    (*at)->decided = true;
    update(at);
}

void cph__polled_finished(pid_t pid)
{
    each(pid, finished);
}

static void seen(struct bell **at)
{
    (*at)->decided = (*at)->seen = true;
    update(at);
}

void cph__polled_seen(pid_t pid)
{
    each(pid, seen);
}

void cph__polled_given(pid_t pid)
{
    each(pid, update);
}

void cph__polled_replaced(pid_t pid)
{
    each(pid, bell_free);
}

void cph__polled_forget(void)
{
    while (bells) {
        bells->following = false;
        bell_free(&bells);
    }
}

static int nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    return flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? errno
                                                                    : 0;
}

/* A bell for pid, the child cph knows under that number. */
static int bell_new(pid_t pid, struct bell **out)
{
    struct cph__record *r = cph__registry_find_pid(pid);
    struct bell *b;
    int err;

    if (!r && cph__registry_outcome(pid) == ESRCH && !cph__given_id(pid))
        return ESRCH;
    b = calloc(1, sizeof *b);
    if (!b)
        return ENOMEM;
    b->pid = pid;
    b->id = r ? r->id : cph__given_id(pid);
    b->decided = !r;
    /* Its outcome forgotten, only its given-back handles are left. */
    b->seen = !r && cph__registry_outcome(pid) == ESRCH;
    err = cph__pipe_create(b->fds);
    if (err) {
        free(b);
        return err;
    }
    if (!(err = nonblocking(b->fds[0])))
        err = nonblocking(b->fds[1]);
#if CPH__HAS_DIRECT
    if (!err && r && r->nexpects == 0) {
        err = cph__handed_follow();
        b->following = err == 0;
    }
#endif
    if (err) {
        close(b->fds[0]);
        close(b->fds[1]);
        free(b);
        return err;
    }
    b->next = bells;
    bells = b;
    *out = b;
    return 0;
}

int cph_child_pollfd(pid_t pid, int *fd)
{
    struct bell *b;
    int err = 0, cancel, saved = errno;

    if (!fd)
        return EINVAL;
    if (pid <= 0)
        return ESRCH;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    cph__lock();
#if CPH__HAS_DIRECT
    cph__handed_collect();
#endif
    for (b = bells; b && b->pid != pid; b = b->next)
        ;
    if (!b)
        err = bell_new(pid, &b);
    if (!err) {
        *fd = cph__dup_from(b->fds[0], 3);
        err = *fd < 0 ? errno : 0;
        /* A bell with nothing to say from the start hangs up at once. */
        for (struct bell **p = &bells; *p; p = &(*p)->next) {
            if (*p == b) {
                update(p);
                break;
            }
        }
    }
    cph__unlock();
    pthread_setcancelstate(cancel, NULL);
    errno = saved;
    return err;
}

int cph_child_pidfd(pid_t pid, int *fd)
{
    bool known;
    int err, saved = errno;

    if (!fd)
        return EINVAL;
    if (pid <= 0)
        return ESRCH;
    cph__lock();
    known = cph__registry_find_pid(pid) ||
            cph__registry_outcome(pid) != ESRCH || cph__given_id(pid);
    cph__unlock();
    if (!known)
        return ESRCH;
    err = cph__exit_fd(pid, fd);
    errno = saved;
    return err;
}
