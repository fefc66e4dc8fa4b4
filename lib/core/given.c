/*
 * Handles children give back to their parent (see spawn.h). One entry
 * per child spawned with expected keys, from its publish until it is
 * released: it outlives the check-in record, because a child gives
 * whenever it likes. Guarded by cph__lock.
 *
 * An entry is open while its child can still give, ended after. Ended
 * entries are kept, with what nobody took, so that cph_take_fd() can
 * still answer; past CPH__GIVEN_ENDED_MAX of them the oldest is released
 * (its fds closed). Open entries are bounded by the children alive.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "attachments.h"
#include "cph_core.h"

enum slot_state { SLOT_EXPECTED, SLOT_HELD, SLOT_TAKEN };

struct cph__giving {
    uint64_t id;
    pid_t pid;
    bool ended;
    /* keys[i] (kind EXPECT) is expected; held[i] is it once given. */
    struct cph__handle *keys;
    uint8_t *state;
    struct cph__handle *held;
    size_t count;
    struct cph__keyset index;
    struct cph__giving *next; /* newest first */
};

/* Threads in cph_take_fd, each woken when its child's entry changes. */
struct taker {
    pid_t pid;
    pthread_cond_t changed;
    struct taker *next;
};

static struct cph__giving *entries;
static size_t ended_count;
static struct taker *takers;

int cph__giving_new(const struct cph_attachments *list,
                    struct cph__giving **out)
{
    struct cph__giving *g = calloc(1, sizeof *g);
    size_t n = list->nexpects;

    if (!g)
        return ENOMEM;
    g->keys = malloc(n * sizeof *g->keys);
    g->state = calloc(n, sizeof *g->state);
    g->held = malloc(n * sizeof *g->held);
    if (!g->keys || !g->state || !g->held)
        goto fail;
    memcpy(g->keys, list->expects, n * sizeof *g->keys);
    if (cph__keyset_reserve(&g->index, g->keys, sizeof *g->keys, 0, n) != 0)
        goto fail;
    g->count = n;
    for (size_t i = 0; i < n; i++)
        cph__keyset_put(&g->index, g->keys, sizeof *g->keys, i);
    *out = g;
    return 0;
fail:
    cph__giving_free(g);
    return ENOMEM;
}

const struct cph__handle *cph__giving_keys(const struct cph__giving *g,
                                           size_t *count)
{
    *count = g->count;
    return g->keys;
}

void cph__giving_free(struct cph__giving *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->count; i++)
        if (g->state[i] == SLOT_HELD)
            cph__handle_release(&g->held[i]);
    cph__keyset_free(&g->index);
    free(g->keys);
    free(g->state);
    free(g->held);
    free(g);
}

static void wake(pid_t pid)
{
    for (struct taker *t = takers; t; t = t->next)
        if (t->pid == pid)
            pthread_cond_signal(&t->changed);
}

static void release(struct cph__giving **at)
{
    struct cph__giving *g = *at;

    *at = g->next;
    if (g->ended)
        ended_count--;
    wake(g->pid);
    cph__polled_given(g->pid);
    cph__giving_free(g);
}

void cph__given_publish(struct cph__giving *g, uint64_t id, pid_t pid)
{
    /* An older entry under the same pid is about another process. */
    for (struct cph__giving **p = &entries; *p;) {
        if ((*p)->pid == pid)
            release(p);
        else
            p = &(*p)->next;
    }
    g->id = id;
    g->pid = pid;
    g->next = entries;
    entries = g;
}

/* The entry of id, or (id 0) the newest of pid. */
static struct cph__giving *find(uint64_t id, pid_t pid)
{
    for (struct cph__giving *g = entries; g; g = g->next)
        if (id ? g->id == id : g->pid == pid)
            return g;
    return NULL;
}

int cph__given_put(uint64_t id, struct cph__handle *h)
{
    struct cph__giving *g = find(id, 0);
    long at = -1;
    int err = 0;

    if (!g || g->ended)
        err = ESRCH;
    else if ((at = cph__keyset_find(&g->index, g->keys, sizeof *g->keys,
                                    h->key)) < 0)
        err = ENOENT;
    else if (g->state[at] != SLOT_EXPECTED)
        err = EEXIST;
    if (err) {
        cph__handle_release(h);
        return err;
    }
    g->state[at] = SLOT_HELD;
    g->held[at] = *h;
    wake(g->pid);
    cph__polled_given(g->pid);
    return 0;
}

void cph__given_end(uint64_t id)
{
    struct cph__giving *g = find(id, 0), **p, **oldest = NULL;

    if (!g || g->ended)
        return;
    g->ended = true;
    wake(g->pid);
    cph__polled_given(g->pid);
    if (++ended_count <= CPH__GIVEN_ENDED_MAX)
        return;
    for (p = &entries; *p; p = &(*p)->next)
        if ((*p)->ended)
            oldest = p;
    release(oldest);
}

bool cph__given_state(uint64_t id, bool *held)
{
    struct cph__giving *g = id ? find(id, 0) : NULL;

    *held = false;
    for (size_t i = 0; g && i < g->count; i++)
        *held |= g->state[i] == SLOT_HELD;
    return g && !g->ended;
}

uint64_t cph__given_id(pid_t pid)
{
    struct cph__giving *g = find(0, pid);

    return g ? g->id : 0;
}

/* The parent's takers are threads this process does not have. */
void cph__given_forget(void)
{
    takers = NULL;
    while (entries)
        release(&entries);
}

/* One look at pid's entry: 0 and *out when key can be taken, EAGAIN
 * when it may still come, else the final answer. */
static int try_take(pid_t pid, const char *key, unsigned kinds,
                    struct cph__handle *out)
{
    struct cph__giving *g = find(0, pid);
    long at;

    if (!g)
        return ESRCH;
    at = cph__keyset_find(&g->index, g->keys, sizeof *g->keys, key);
    if (at < 0)
        return ENOENT;
    if (g->state[at] == SLOT_TAKEN)
        return EALREADY;
    if (g->state[at] == SLOT_HELD) {
        if (!(kinds & 1u << g->held[at].kind))
            return ENOENT;
        *out = g->held[at];
        g->state[at] = SLOT_TAKEN;
        cph__polled_given(pid);
        return 0;
    }
    return g->ended ? ECONNABORTED : EAGAIN;
}

static void taker_remove(struct taker *t)
{
    for (struct taker **p = &takers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            return;
        }
    }
}

/* Not a cancellation point, as cph_checkin_wait. */
int cph__given_take(pid_t pid, const char *key, unsigned kinds,
                    int timeout_ms, struct cph__handle *out)
{
    int64_t deadline = timeout_ms < 0 ? -1 : cph__now_ms() + timeout_ms;
    struct taker t = {.pid = pid};
    int result, cancel, saved = errno;

    if (!key || !cph__key_valid(key))
        return EINVAL;
    if (pid <= 0)
        return ESRCH;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    cph__lock();
    result = try_take(pid, key, kinds, out);
    if (result == EAGAIN && timeout_ms != 0) {
        cph__cond_init(&t.changed);
        t.next = takers;
        takers = &t;
        while (result == EAGAIN && cph__ms_left(deadline) != 0) {
            cph__cond_wait(&t.changed, cph__ms_left(deadline));
            result = try_take(pid, key, kinds, out);
        }
        taker_remove(&t);
        pthread_cond_destroy(&t.changed);
    }
    cph__unlock();
    pthread_setcancelstate(cancel, NULL);
    errno = saved;
    return result == EAGAIN ? ETIMEDOUT : result;
}

int cph_take_fd(pid_t pid, const char *key, int timeout_ms, int *fd)
{
    struct cph__handle h;
    int err;

    if (!fd)
        return EINVAL;
    err = cph__given_take(pid, key, 1u << CPH__KIND_FD, timeout_ms, &h);
    if (!err)
        *fd = h.fd;
    return err;
}

#if CPH__MACH
int cph_take_port(pid_t pid, const char *key, int timeout_ms,
                  mach_port_t *port)
{
    struct cph__handle h;
    int err;

    if (!port)
        return EINVAL;
    err = cph__given_take(pid, key,
                          1u << CPH__KIND_SEND | 1u << CPH__KIND_SEND_ONCE |
                              1u << CPH__KIND_RECEIVE,
                          timeout_ms, &h);
    if (!err)
        *port = h.port;
    return err;
}
#endif
