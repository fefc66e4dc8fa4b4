#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cph/child.h>
#include <cph/spawn.h>

#include "../transport.h"
#include "cph_core.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Made by registry_init, before any record exists to wait for:
 * `published` wakes the server when a spawning thread publishes a pid. */
static pthread_condattr_t cond_attr;
static pthread_cond_t published;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void registry_init(void);

/* Threads in cph_checkin_wait, each woken only when its own child's
 * handshake ends. */
struct waiter {
    pid_t pid;
    pthread_cond_t done;
    struct waiter *next;
};
static struct waiter *waiters;
/* A waiter polls the transport itself (Linux: cph__handed_wait); the
 * others wait for it to collect. */
static bool leading;

static struct cph__record *live;
static uint64_t last_id;

/* The server, once started, and its service once named (the nameless
 * delivery needs none); its fds and thread belong to the transport. */
static bool server_started, server_named;
static char server_name[CPH__SERVICE_MAX + 1];

/* Outcomes of finished handshakes, newest at outcomes[(next - 1) % MAX]. */
static struct {
    pid_t pid;
    int outcome;
} outcomes[CPH__OUTCOMES_MAX];
static size_t outcomes_next, outcomes_used;

void cph__lock(void)
{
    pthread_mutex_lock(&lock);
}

void cph__unlock(void)
{
    pthread_mutex_unlock(&lock);
}

/* Timed waits follow CLOCK_MONOTONIC, so that setting the clock does not
 * stretch or cut them (macOS has no pthread_condattr_setclock, but waits
 * relative to now). */
static void init_conds(void)
{
    pthread_condattr_init(&cond_attr);
#ifndef __APPLE__
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
#endif
    pthread_cond_init(&published, &cond_attr);
}

void cph__cond_init(pthread_cond_t *cond)
{
    pthread_once(&init_once, registry_init);
    pthread_cond_init(cond, &cond_attr);
}

void cph__cond_wait(pthread_cond_t *cond, int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    if (ms < 0) {
        pthread_cond_wait(cond, &lock);
        return;
    }
#ifdef __APPLE__
    pthread_cond_timedwait_relative_np(cond, &lock, &ts);
#else
    {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ts.tv_sec += now.tv_sec;
        ts.tv_nsec += now.tv_nsec;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
    }
    pthread_cond_timedwait(cond, &lock, &ts);
#endif
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

/* The forked child has none of the parent's children, no server thread
 * and no waiting thread: drop every record, closing the fds the parent's
 * copies held. Port names are not inherited across fork, so there is
 * nothing to release for them. */
static void atfork_child(void)
{
    while (live) {
        struct cph__record *r = live;
        live = r->next;
        for (size_t i = 0; i < r->count; i++)
            if (r->held[i].kind == CPH__KIND_FD)
                close(r->held[i].fd);
        r->count = 0;
        cph__record_free(r);
    }
    waiters = NULL;
    leading = false;
    cph__polled_forget();
    cph__given_forget();
    outcomes_next = outcomes_used = 0;
    server_started = server_named = false;
    cph__server_forget();
    pthread_cond_init(&published, &cond_attr);
    pthread_mutex_unlock(&lock);
}

static void registry_init(void)
{
    init_conds();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

int cph__server_start(char name[CPH__SERVICE_MAX + 1])
{
    int err = 0;

    if (server_started && (!name || server_named))
        goto out;
    if (name)
        err = cph__service_name(server_name);
    if (!err)
        err = cph__server_open(name ? server_name : NULL);
    if (err)
        return err;
    server_started = true;
    server_named = name != NULL;
out:
    if (name)
        memcpy(name, server_name, sizeof server_name);
    return 0;
}

struct cph__record *cph__record_new(void)
{
    struct cph__record *r = calloc(1, sizeof *r);

    if (r)
        r->end_fd = r->pipe_fd = r->exit_fd = r->spawn_fds[0] =
            r->spawn_fds[1] = -1;
    return r;
}

void cph__record_close_spawn_fds(struct cph__record *r)
{
    cph__close_fd(&r->spawn_fds[0]);
    cph__close_fd(&r->spawn_fds[1]);
}

void cph__close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void cph__record_clear(struct cph__record *r)
{
    cph__record_close_spawn_fds(r);
    cph__close_fd(&r->end_fd);
    cph__close_fd(&r->pipe_fd);
    cph__close_fd(&r->exit_fd);
    cph__handles_release(r->held, r->count);
    free(r->held);
    r->held = NULL;
    r->count = 0;
}

/* Frees r and everything it still holds. */
void cph__record_free(struct cph__record *r)
{
    cph__record_clear(r);
    cph__giving_free(r->giving);
    free(r);
}

void cph__registry_add(struct cph__record *r)
{
    pthread_once(&init_once, registry_init);
    r->id = ++last_id;
    r->state = CPH__SPAWNING;
    r->next = live;
    live = r;
}

static void unlink_record(struct cph__record *r)
{
    for (struct cph__record **p = &live; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            return;
        }
    }
}

static bool server_needed(void)
{
    for (struct cph__record *r = live; r; r = r->next)
        if (r->delivery != CPH_DELIVERY_DIRECT)
            return true;
    return false;
}

/* posix_spawn failed: the record never had a child. */
void cph__registry_drop(struct cph__record *r)
{
    unlink_record(r);
    cph__record_free(r);
    if (server_started && !server_needed() && cph__server_unused())
        server_started = server_named = false;
#if CPH__HAS_DIRECT
    cph__loop_idle();
#endif
    pthread_cond_broadcast(&published);
}

/* A new child has pid: what cph remembers of an older process that had
 * the same number is about another process. */
static void forget_outcome(pid_t pid)
{
    cph__polled_replaced(pid);
    for (size_t i = 0; i < outcomes_used; i++)
        if (outcomes[i].pid == pid)
            outcomes[i].pid = 0;
}

/* A child that exited before it could be watched went away before it
 * checked in, as one whose exit is seen later does; any other failure to
 * watch is the parent's. */
static int watch_outcome(int err)
{
    return !err ? 0 : err == ESRCH ? cph__outcome_gone(false) : EIO;
}

/* posix_spawn succeeded: from here the server owns r. If the transport
 * cannot serve the child, it is given up at once with the outcome the
 * transport names (it exists, so the spawn itself still succeeds). */
void cph__registry_publish(struct cph__record *r, pid_t pid)
{
    int outcome;

    forget_outcome(pid);
    r->pid = pid;
    r->state = CPH__WAITING;
    if (r->giving) {
        cph__given_publish(r->giving, r->id, pid);
        r->giving = NULL;
    }
    /* The child has its copy: closing ours first leaves a free fd for
     * the transport's pidfd even when the table was full. */
    close(r->spawn_fds[1]);
    r->spawn_fds[1] = -1;
#if CPH__HAS_DIRECT
    if (r->delivery == CPH_DELIVERY_DIRECT)
        outcome = cph__direct_publish(r);
    else
#endif
        outcome = watch_outcome(cph__server_watch(r));
    cph__record_close_spawn_fds(r);
    pthread_cond_broadcast(&published);
    if (outcome)
        cph__registry_finish(r, outcome);
}

struct cph__record *cph__registry_find(uint64_t id)
{
    struct cph__record *r;

    for (r = live; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static struct cph__record *find_token(const void *token)
{
    struct cph__record *found = NULL;

    /* Every record is compared, so the time taken says nothing about
     * which one matched. Only a pid-bound record has a token. */
    for (struct cph__record *r = live; r; r = r->next)
        if (cph__token_equal(r->token, token) &&
            r->delivery == CPH_DELIVERY_PID_BOUND)
            found = r;
    return found;
}

static struct cph__record *find_id(const void *id)
{
    return cph__registry_find(*(const uint64_t *)id);
}

/*
 * A check-in with token arrived from process peer. Returns the record it
 * claims, now DELIVERING, or NULL to reject it (the record, if any, goes
 * on waiting for its real child).
 *
 * A child can check in before the thread that spawned it has learnt its
 * pid: posix_spawn returns after the child has exec'd. Then the spawning
 * thread is a few instructions from publishing, so wait for it (bounded
 * by the child's own patience).
 */
static struct cph__record *claim(struct cph__record *(*find)(const void *),
                                 const void *key, pid_t peer)
{
    int64_t deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
    struct cph__record *r;

    for (;;) {
        r = find(key);
        if (!r || r->state != CPH__SPAWNING)
            break;
        if (cph__ms_left(deadline) == 0)
            return NULL;
        cph__cond_wait(&published, cph__ms_left(deadline));
    }
    if (!r || r->state != CPH__WAITING || r->pid != peer)
        return NULL;
    r->state = CPH__DELIVERING;
    return r;
}

struct cph__record *cph__registry_claim(const uint8_t *token, pid_t peer)
{
    return claim(find_token, token, peer);
}

struct cph__record *cph__registry_claim_id(uint64_t id, pid_t peer)
{
    return claim(find_id, &id, peer);
}

/* The handshake with r is over: keep its outcome, release the rest. */
void cph__registry_finish(struct cph__record *r, int outcome)
{
    cph__server_unwatch(r);
    unlink_record(r);
    if (outcomes_used == CPH__OUTCOMES_MAX && outcomes[outcomes_next].pid) {
        pid_t old = outcomes[outcomes_next].pid;
        outcomes[outcomes_next].pid = 0;
        cph__polled_seen(old);
    }
    outcomes[outcomes_next].pid = r->pid;
    outcomes[outcomes_next].outcome = outcome;
    outcomes_next = (outcomes_next + 1) % CPH__OUTCOMES_MAX;
    if (outcomes_used < CPH__OUTCOMES_MAX)
        outcomes_used++;
    for (struct waiter *w = waiters; w; w = w->next)
        if (w->pid == r->pid)
            pthread_cond_signal(&w->done);
    /* A child that never checked in can give nothing back. */
    if (outcome)
        cph__given_end(r->id);
    cph__polled_finished(r->pid);
    cph__record_free(r);
}

/* r's child closed its pipe or exited, and the transport has already
 * taken in every check-in that was queued before: a child still WAITING
 * can no longer check in. */
void cph__registry_gone(struct cph__record *r)
{
    if (r->state == CPH__WAITING)
        cph__registry_finish(r, cph__outcome_gone(false));
}

int cph__outcome_gone(bool began)
{
    return began ? ECONNABORTED : ENOTCONN;
}

static struct cph__record *find_pid(pid_t pid)
{
    for (struct cph__record *r = live; r; r = r->next)
        if (r->state != CPH__SPAWNING && r->pid == pid)
            return r;
    return NULL;
}

static int find_outcome(pid_t pid)
{
    for (size_t i = 1; i <= outcomes_used; i++) {
        size_t at = (outcomes_next + CPH__OUTCOMES_MAX - i) % CPH__OUTCOMES_MAX;
        if (outcomes[at].pid == pid)
            return outcomes[at].outcome;
    }
    return ESRCH;
}

struct cph__record *cph__registry_find_pid(pid_t pid)
{
    return find_pid(pid);
}

int cph__registry_outcome(pid_t pid)
{
    return find_outcome(pid);
}

static void waiter_remove(struct waiter *w)
{
    for (struct waiter **p = &waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return;
        }
    }
}

#if CPH__HAS_DIRECT
/* Whether no thread decides r's outcome: a direct child without keys
 * expected back, whose channel alone says, in the quiet set. */
static bool collects_itself(const struct cph__record *r)
{
    return r->delivery == CPH_DELIVERY_DIRECT && r->nexpects == 0;
}

/* One round of polling the quiet set for every waiter (w leads it), then
 * every other waiter looks again, and one of them leads the next. */
static void lead(struct waiter *w, int ms)
{
    leading = true;
    pthread_mutex_unlock(&lock);
    cph__handed_wait(ms);
    pthread_mutex_lock(&lock);
    leading = false;
    cph__handed_collect();
    for (struct waiter *o = waiters; o; o = o->next)
        if (o != w)
            pthread_cond_signal(&o->done);
}
#endif

/* Waits until pid's record is finished or the deadline passes. */
static void wait_for(struct waiter *w, int64_t deadline)
{
    struct cph__record *r;
#if CPH__HAS_DIRECT
    bool attending = false;
#endif

    while ((r = find_pid(w->pid)) && cph__ms_left(deadline) != 0) {
#if CPH__HAS_DIRECT
        if (collects_itself(r)) {
            if (!leading)
                lead(w, cph__ms_left(deadline));
            else
                cph__cond_wait(&w->done, cph__ms_left(deadline));
            continue;
        }
        if (!attending) {
            attending = true;
            cph__handed_attend(true);
            cph__handed_collect(); /* what hung up before the thread looked */
            continue;
        }
#endif
        cph__cond_wait(&w->done, cph__ms_left(deadline));
    }
#if CPH__HAS_DIRECT
    if (attending)
        cph__handed_attend(false);
#endif
}

/* Not a cancellation point (see spawn.h): it holds cph's lock while it
 * waits, and a cancelled waiter would leave it held. */
int cph_checkin_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : cph__now_ms() + timeout_ms;
    struct waiter w = {.pid = pid};
    int result = ETIMEDOUT, cancel, saved = errno;

    if (pid <= 0)
        return ESRCH;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    pthread_mutex_lock(&lock);
#if CPH__HAS_DIRECT
    cph__handed_collect();
#endif
    if (find_pid(pid) && timeout_ms != 0) {
        cph__cond_init(&w.done);
        w.next = waiters;
        waiters = &w;
        wait_for(&w, deadline);
        waiter_remove(&w);
        pthread_cond_destroy(&w.done);
    }
    if (!find_pid(pid)) {
        result = find_outcome(pid);
        cph__polled_seen(pid);
    }
    pthread_mutex_unlock(&lock);
    pthread_setcancelstate(cancel, NULL);
    errno = saved;
    return result;
}
