/*
 * libcph_child: the check-in before main(), and the handles it received.
 * The public functions live in this same object as the constructor, so a
 * static link that uses any of them brings the check-in along.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cph/child.h>
#include <cph/spawn.h>

#include "../transport.h"
#include "trace.h"
#if CPH__MACH
#include "../darwin/ports.h"
#endif

/* Taken handles stay in place with kind 0, so that numbering and keys
 * stay stable. */
static struct {
    int status;
    struct cph__handle *handles;
    size_t received;
    struct cph__keyset keys;
    pthread_mutex_t lock;
} got = {.status = ENOENT, .lock = PTHREAD_MUTEX_INITIALIZER};

/* What the parent expects back, and the channel to give it on
 * (CPH__NO_CHANNEL when it expects nothing). The lock also serializes
 * sends on the channel. */
static struct {
    cph__channel_t channel;
    struct cph__handle *keys;
    bool *given;
    size_t count;
    struct cph__keyset index;
    pthread_mutex_t lock;
} give = {.channel = CPH__NO_CHANNEL, .lock = PTHREAD_MUTEX_INITIALIZER};

static int read_token(int fd, uint8_t token[CPH__TOKEN_SIZE],
                      int64_t deadline_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    size_t have = 0;

    while (have < CPH__TOKEN_SIZE) {
        int ready = poll(&pfd, 1, cph__ms_left(deadline_ms));
        ssize_t n;

        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return ready == 0 ? ETIMEDOUT : errno;
        n = read(fd, token + have, CPH__TOKEN_SIZE - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? EPROTO : errno;
        have += (size_t)n;
    }
    return 0;
}

/* The fd CPH_HANDSHAKE names is used only once it is proved to be the
 * channel the parent made: its inode, then what the transport can tell
 * of its kind and maker. A stale or forged value names someone else's
 * fd, which is left alone. */
static int check_channel(const struct cph__env *e)
{
    struct stat st;

    if (e->delivery == CPH_DELIVERY_NAMELESS)
        return CPH__MACH ? 0 : EBADF;
    if (fstat(e->fd, &st) < 0 || (uint64_t)st.st_ino != e->inode)
        return EBADF;
#if CPH__HAS_DIRECT
    if (e->delivery == CPH_DELIVERY_DIRECT)
        return cph__direct_check(e->fd, e->pid);
#endif
    return cph__pipe_check(e->fd);
}

/* The pid-bound check-in, in the order the server relies on: the
 * request is queued before the pipe closes, because the server gives a
 * child up on the pipe's EOF once it has taken in what was queued. Only
 * the spawned process itself can check in: when its parent is no longer
 * the one that serves the name (it died, or this process was not spawned
 * by it), the token never leaves the pipe. */
static int check_in_pid_bound(const struct cph__env *e, int64_t deadline,
                              cph__channel_t *channel)
{
    uint8_t token[CPH__TOKEN_SIZE];
    struct cph__checkin *c;
    pid_t parent = getppid();
    int err = parent == e->pid ? 0 : ECONNREFUSED;

    if (!err)
        err = read_token(e->fd, token, deadline);
    if (!err)
        err = cph__checkin_send(e->service, token, parent, deadline, &c);
    close(e->fd);
#if CPH__MACH
    /* The give port comes with the reply. */
    if (!err)
        cph__checkin_give_to(c, channel);
#else
    /* The connection carries the verdict, and the gives if keys are
     * expected back. */
    if (!err)
        *channel = cph__checkin_fd(c);
#endif
    if (!err)
        err = cph__checkin_receive(c, deadline, &got.handles, &got.received);
    return err;
}

#if CPH__MACH
/* The nameless check-in: the port is taken from its slot (and the slot
 * cleared) before anything can fail; only a child of the parent that
 * registered it sends on it, with no token (the port names the spawn). */
static int check_in_nameless(const struct cph__env *e, int64_t deadline,
                             cph__channel_t *channel)
{
    static const uint8_t no_token[CPH__TOKEN_SIZE];
    struct cph__checkin *c;
    mach_port_t port = MACH_PORT_NULL;
    int err = cph__nameless_take(e->slot, &port);

    if (err)
        return err;
    if (getppid() != e->pid)
        err = ECONNREFUSED;
    if (!err)
        err = cph__checkin_send_port(port, no_token, e->pid, deadline, &c);
    /* The request copied the send right (COPY_SEND); the one taken from
     * the slot is ours to drop (ipc/mach_port.c, mach_port_deallocate;
     * ipc_right.c, ipc_right_dealloc). */
    mach_port_deallocate(mach_task_self(), port);
    if (!err) {
        cph__checkin_give_to(c, channel);
        err = cph__checkin_receive(c, deadline, &got.handles, &got.received);
    }
    return err;
}
#endif

/* The index of a list of up to 32 handles: none allocated in the
 * constructor (see receive.c). */
#define SMALL_INDEX 64
static uint32_t small_index[SMALL_INDEX];

/* A parent never sends a key twice; a reply that does is broken. */
static int index_keys(struct cph__keyset *keys, const struct cph__handle *h,
                      size_t count)
{
    int err = cph__keyset_reserve(keys, h, sizeof *h, 0, count);

    for (size_t i = 0; !err && i < count; i++)
        if (cph__keyset_put(keys, h, sizeof *h, i) >= 0)
            err = EPROTO;
    return err;
}

/* Moves the expected keys (entries of kind EXPECT) out of the handles. */
static int split_expects(void)
{
    size_t kept = 0, n = 0;

    for (size_t i = 0; i < got.received; i++)
        n += got.handles[i].kind == CPH__KIND_EXPECT;
    if (n == 0)
        return 0;
    give.keys = malloc(n * sizeof *give.keys);
    give.given = calloc(n, sizeof *give.given);
    if (!give.keys || !give.given)
        return ENOMEM;
    for (size_t i = 0; i < got.received; i++) {
        if (got.handles[i].kind == CPH__KIND_EXPECT)
            give.keys[give.count++] = got.handles[i];
        else
            got.handles[kept++] = got.handles[i];
    }
    got.received = kept;
    return index_keys(&give.index, give.keys, give.count);
}

/* A give holds give.lock for up to CPH_CHILD_TIMEOUT_MS: a fork() by
 * another thread meanwhile waits for it, so that the forked process,
 * where only the forking thread lives, does not start with the lock
 * held for good. */
static void give_prepare(void)
{
    pthread_mutex_lock(&give.lock);
}

static void give_parent(void)
{
    pthread_mutex_unlock(&give.lock);
}

static void give_child(void)
{
#if CPH__MACH
    /* A new IPC space, where the give port's name means nothing, or
     * later something else (xnu-11417 ipc_task_init passes on only the
     * task's special ports). */
    give.channel = CPH__NO_CHANNEL;
#endif
    pthread_mutex_unlock(&give.lock);
}

static int guard_forks(void)
{
    return pthread_atfork(give_prepare, give_parent, give_child) ? ENOMEM
                                                                 : 0;
}

/* A take holds got.lock for a moment: a fork() by another thread waits
 * for it, or the forked process would find it held for good. Registered
 * once the handles arrived, before any give's, whose prepare handler so
 * runs first: a fork takes give.lock, then got.lock. */
static void got_prepare(void)
{
    pthread_mutex_lock(&got.lock);
}

static void got_release(void)
{
    pthread_mutex_unlock(&got.lock);
}

#if CPH__MACH
static int open_give(cph__channel_t channel, int64_t deadline)
{
    (void)deadline;
    if (channel == CPH__NO_CHANNEL)
        return EPROTO;
    if (guard_forks() != 0)
        return ENOMEM;
    give.channel = channel;
    return 0;
}

static void close_channel(cph__channel_t channel, bool failed)
{
    (void)failed;
    mach_port_deallocate(mach_task_self(), channel);
}
#else
/* Keeps channel as the give channel, acknowledging the handles on it
 * first (the parent's outcome 0). A parent already gone cannot hear the
 * ack, but the handles did arrive: gives will say EPIPE. */
static int open_give(cph__channel_t channel, int64_t deadline)
{
    int err;

    if (channel < 0 || fcntl(channel, F_SETFD, FD_CLOEXEC) < 0)
        return EMFILE;
    if (guard_forks() != 0)
        return ENOMEM;
    err = cph__give_ack(channel, deadline);
    if (!err || err == EPIPE)
        give.channel = channel;
    return err == EPIPE ? 0 : err;
}

static void close_channel(cph__channel_t channel, bool failed)
{
    /* A parent waiting for an ack learns at once. */
    if (failed)
        shutdown(channel, SHUT_RDWR);
    close(channel);
}
#endif

/* The received keys' index, in small_index when it fits. */
static int index_received(void)
{
    if (got.received * 2 <= SMALL_INDEX) {
        memset(small_index, 0, sizeof small_index);
        got.keys.slots = small_index;
        got.keys.mask = SMALL_INDEX - 1;
    }
    return index_keys(&got.keys, got.handles, got.received);
}

static void forget_received(void)
{
    cph__handles_release(got.handles, got.received);
    cph__received_free(got.handles);
    if (got.keys.slots == small_index)
        got.keys.slots = NULL;
    cph__keyset_free(&got.keys);
    got.handles = NULL;
    got.received = 0;
    free(give.keys);
    free(give.given);
    cph__keyset_free(&give.index);
    give.keys = NULL;
    give.given = NULL;
    give.count = 0;
}

static int check_in(const char *value)
{
    int64_t deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
    struct cph__env e;
    cph__channel_t channel = CPH__NO_CHANNEL;
    int err;

    if (cph__env_parse(value, &e) != 0)
        return EINVAL;
    if (check_channel(&e) != 0)
        return EBADF;
#if CPH__HAS_DIRECT
    if (e.delivery == CPH_DELIVERY_DIRECT) {
        err = cph__direct_receive(e.fd, e.pid, deadline, &got.handles,
                                  &got.received);
        channel = e.fd;
    } else
#endif
#if CPH__MACH
    if (e.delivery == CPH_DELIVERY_NAMELESS)
        err = check_in_nameless(&e, deadline, &channel);
    else
#endif
        err = check_in_pid_bound(&e, deadline, &channel);
    if (!err)
        err = split_expects();
    if (!err)
        err = index_received();
    if (!err && pthread_atfork(got_prepare, got_release, got_release) != 0)
        err = ENOMEM;
    if (!err && give.count > 0)
        err = open_give(channel, deadline);
#if CPH__HAS_DIRECT
    else if (e.delivery == CPH_DELIVERY_DIRECT)
        err = cph__direct_confirm(channel, e.pid, err);
    else if (channel != CPH__NO_CHANNEL)
        cph__checkin_confirm(channel, err);
#endif
    if (channel != CPH__NO_CHANNEL && channel != give.channel)
        close_channel(channel, err != 0);
    if (err)
        forget_received();
    return err;
}

/* Runs before main(), which finds errno as the loader left it. */
__attribute__((constructor)) static void cph_child_init(void)
{
    const char *value = getenv(CPH__ENV_NAME);
    char copy[CPH__ENV_ENTRY_MAX] = "";
    int saved = errno;

    if (!value) {
        cph__child_trace(NULL, ENOENT);
        return;
    }
    if (strlen(value) >= sizeof copy) {
        got.status = EINVAL;
    } else {
        strcpy(copy, value);
        got.status = -1;
    }
    /* Before anything can fail or wait: no grandchild may see it. */
    unsetenv(CPH__ENV_NAME);
    if (got.status == -1)
        got.status = check_in(copy);
    cph__child_trace(copy[0] ? copy : "(too long)", got.status);
    errno = saved;
}

int cph_child_status(void)
{
    return got.status;
}

size_t cph_child_count(void)
{
    return got.received;
}

const char *cph_child_key(size_t index)
{
    return index < got.received ? got.handles[index].key : NULL;
}

/* Takes the handle under key if its kind is one of kinds (a bit mask of
 * 1 << kind). */
static bool take(const char *key, unsigned kinds, struct cph__handle *out)
{
    long at;
    bool found = false;

    pthread_mutex_lock(&got.lock);
    at = cph__keyset_find(&got.keys, got.handles, sizeof *got.handles, key);
    if (at >= 0 && got.handles[at].kind != 0 &&
        (kinds & 1u << got.handles[at].kind)) {
        *out = got.handles[at];
        got.handles[at].kind = 0;
        found = true;
    }
    pthread_mutex_unlock(&got.lock);
    return found;
}

int cph_child_take_fd(const char *key)
{
    struct cph__handle h;

    if (!key) {
        errno = EINVAL;
        return -1;
    }
    if (!take(key, 1u << CPH__KIND_FD, &h)) {
        errno = ENOENT;
        return -1;
    }
    return h.fd;
}

/* Gives h (its key set, its handle checked) if the parent expects its
 * key and it was not given yet. */
static int give_handle(const struct cph__handle *h)
{
    long at;
    int err = ENOENT;

    pthread_mutex_lock(&give.lock);
    at = give.channel == CPH__NO_CHANNEL
             ? -1
             : cph__keyset_find(&give.index, give.keys, sizeof *give.keys,
                                h->key);
    if (at >= 0 && give.given[at])
        err = EEXIST;
    else if (at >= 0)
        err = cph__give_send(give.channel, h,
                             cph__now_ms() + CPH_CHILD_TIMEOUT_MS);
    if (!err)
        give.given[at] = true;
    pthread_mutex_unlock(&give.lock);
    return err;
}

int cph_child_give_fd(const char *key, int fd)
{
    struct cph__handle h = {.kind = CPH__KIND_FD, .fd = fd};

    if (!key || !cph__key_valid(key))
        return EINVAL;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return EBADF;
    strcpy(h.key, key);
    return give_handle(&h);
}

#if CPH__MACH
mach_port_t cph_child_take_send_right(const char *key)
{
    struct cph__handle h;

    if (!key || !take(key, 1u << CPH__KIND_SEND | 1u << CPH__KIND_SEND_ONCE,
                      &h))
        return MACH_PORT_NULL;
    return h.port;
}

mach_port_t cph_child_take_receive_right(const char *key)
{
    struct cph__handle h;

    if (!key || !take(key, 1u << CPH__KIND_RECEIVE, &h))
        return MACH_PORT_NULL;
    return h.port;
}

int cph_child_give_port(const char *key, mach_port_t port,
                        mach_msg_type_name_t disposition)
{
    struct cph__handle h;

    if (!key || !cph__key_valid(key) ||
        cph__port_handle(port, disposition, &h) != 0)
        return EINVAL;
    strcpy(h.key, key);
    return give_handle(&h);
}
#endif
