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
/* Made by registry_init, before any record exists to wait for. */
static pthread_cond_t changed;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static struct cph__record *live;
static uint64_t last_id;

/* The server, once started; its fds and thread belong to the transport. */
static bool server_started;
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
static void init_changed(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
#ifndef __APPLE__
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);
}

/* Waits on `changed` for at most ms (negative: no limit). */
static void wait_changed(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    if (ms < 0) {
        pthread_cond_wait(&changed, &lock);
        return;
    }
#ifdef __APPLE__
    pthread_cond_timedwait_relative_np(&changed, &lock, &ts);
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
    pthread_cond_timedwait(&changed, &lock, &ts);
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

/* The forked child has none of the parent's children and no server
 * thread: drop every record, closing the fds the parent's copies held.
 * Port names are not inherited across fork, so there is nothing to
 * release for them. */
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
    outcomes_next = outcomes_used = 0;
    server_started = false;
    cph__server_forget();
    init_changed();
    pthread_mutex_unlock(&lock);
}

static void registry_init(void)
{
    init_changed();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

int cph__server_start(char name[CPH__SERVICE_MAX + 1])
{
    if (!server_started) {
        int err = cph__service_name(server_name);
        if (!err)
            err = cph__server_open(server_name);
        if (err)
            return err;
        server_started = true;
    }
    memcpy(name, server_name, sizeof server_name);
    return 0;
}

struct cph__record *cph__record_new(void)
{
    struct cph__record *r = calloc(1, sizeof *r);

    if (r)
        r->pipe_fd = r->exit_fd = r->spawn_fds[0] = r->spawn_fds[1] = -1;
    return r;
}

void cph__record_close_spawn_fds(struct cph__record *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->spawn_fds[i] >= 0)
            close(r->spawn_fds[i]);
        r->spawn_fds[i] = -1;
    }
}

/* Frees r and everything it still holds. */
void cph__record_free(struct cph__record *r)
{
    cph__record_close_spawn_fds(r);
    if (r->pipe_fd >= 0)
        close(r->pipe_fd);
    if (r->exit_fd >= 0)
        close(r->exit_fd);
    cph__handles_release(r->held, r->count);
    free(r->held);
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

/* posix_spawn failed: the record never had a child. */
void cph__registry_drop(struct cph__record *r)
{
    unlink_record(r);
    cph__record_free(r);
    pthread_cond_broadcast(&changed);
}

/* posix_spawn succeeded: from here the server owns r. If it cannot watch
 * the child, the child is given up at once (it exists, so the spawn
 * itself still succeeds; cph_checkin_wait reports ECONNABORTED). */
int cph__registry_publish(struct cph__record *r, pid_t pid)
{
    int err;

    r->pid = pid;
    r->state = CPH__WAITING;
    err = cph__server_watch(r);
    if (err)
        cph__registry_finish(r, ECONNABORTED);
    pthread_cond_broadcast(&changed);
    return err;
}

struct cph__record *cph__registry_find(uint64_t id)
{
    struct cph__record *r;

    for (r = live; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static struct cph__record *find_token(const uint8_t *token)
{
    struct cph__record *found = NULL;

    /* Every record is compared, so the time taken says nothing about
     * which one matched. */
    for (struct cph__record *r = live; r; r = r->next)
        if (cph__token_equal(r->token, token))
            found = r;
    return found;
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
struct cph__record *cph__registry_claim(const uint8_t *token, pid_t peer)
{
    int64_t deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
    struct cph__record *r;

    for (;;) {
        r = find_token(token);
        if (!r || r->state != CPH__SPAWNING)
            break;
        if (cph__ms_left(deadline) == 0)
            return NULL;
        wait_changed(cph__ms_left(deadline));
    }
    if (!r || r->state != CPH__WAITING || r->pid != peer)
        return NULL;
    r->state = CPH__DELIVERING;
    return r;
}

/* The handshake with r is over: keep its outcome, release the rest. */
void cph__registry_finish(struct cph__record *r, int outcome)
{
    cph__server_unwatch(r);
    unlink_record(r);
    outcomes[outcomes_next].pid = r->pid;
    outcomes[outcomes_next].outcome = outcome;
    outcomes_next = (outcomes_next + 1) % CPH__OUTCOMES_MAX;
    if (outcomes_used < CPH__OUTCOMES_MAX)
        outcomes_used++;
    cph__record_free(r);
    pthread_cond_broadcast(&changed);
}

/* r's child closed its pipe or exited, and the transport has already
 * taken in every check-in that was queued before: a child still WAITING
 * can no longer check in. */
void cph__registry_gone(struct cph__record *r)
{
    if (r->state == CPH__WAITING)
        cph__registry_finish(r, ECONNABORTED);
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

int cph_checkin_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : cph__now_ms() + timeout_ms;
    int result;

    if (pid <= 0)
        return ESRCH;
    pthread_mutex_lock(&lock);
    while (find_pid(pid)) {
        if (cph__ms_left(deadline) == 0) {
            pthread_mutex_unlock(&lock);
            return ETIMEDOUT;
        }
        wait_changed(cph__ms_left(deadline));
    }
    result = find_outcome(pid);
    pthread_mutex_unlock(&lock);
    return result;
}
