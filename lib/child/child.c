/*
 * libcph_child: the check-in before main(), and the handles it received.
 * The public functions live in this same object as the constructor, so a
 * static link that uses any of them brings the check-in along.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cph/child.h>
#include <cph/spawn.h>

#include "../transport.h"

/* Taken handles stay in place with kind 0, so that numbering and keys
 * stay stable. */
static struct {
    int status;
    struct cph__handle *handles;
    size_t received;
    struct cph__keyset keys;
    pthread_mutex_t lock;
} got = {.status = ENOENT, .lock = PTHREAD_MUTEX_INITIALIZER};

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
static int check_in_pid_bound(const struct cph__env *e, int64_t deadline)
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
    if (!err)
        err = cph__checkin_receive(c, deadline, &got.handles, &got.received);
    return err;
}

/* A parent never sends a key twice; a reply that does is broken. */
static int index_keys(void)
{
    int err = cph__keyset_reserve(&got.keys, got.handles, sizeof *got.handles,
                                  0, got.received);

    for (size_t i = 0; !err && i < got.received; i++) {
        if (cph__keyset_find(&got.keys, got.handles, sizeof *got.handles,
                             got.handles[i].key) >= 0)
            err = EPROTO;
        else
            cph__keyset_put(&got.keys, got.handles, sizeof *got.handles, i);
    }
    return err;
}

static int check_in(const char *value)
{
    int64_t deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
    struct cph__env e;
    int err;

    if (cph__env_parse(value, &e) != 0)
        return EINVAL;
    if (check_channel(&e) != 0)
        return EBADF;
#if CPH__HAS_DIRECT
    if (e.delivery == CPH_DELIVERY_DIRECT) {
        err = cph__direct_receive(e.fd, deadline, &got.handles, &got.received);
        if (!err)
            err = index_keys();
        cph__direct_confirm(e.fd, err);
        close(e.fd);
    } else
#endif
    {
        err = check_in_pid_bound(&e, deadline);
        if (!err)
            err = index_keys();
    }
    if (err) {
        cph__handles_release(got.handles, got.received);
        free(got.handles);
        cph__keyset_free(&got.keys);
        got.handles = NULL;
        got.received = 0;
    }
    return err;
}

/* Runs before main(), which finds errno as the loader left it. */
__attribute__((constructor)) static void cph_child_init(void)
{
    const char *value = getenv(CPH__ENV_NAME);
    char copy[CPH__ENV_ENTRY_MAX];
    int saved = errno;

    if (!value)
        return;
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

#ifdef __APPLE__
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
#endif
