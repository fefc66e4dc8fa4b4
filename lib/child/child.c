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
#include <unistd.h>

#include <cph/child.h>

#include "../transport.h"

static struct {
    int status;
    struct cph__handle *handles;
    size_t received, left;
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

/* A parent never sends a key twice; a reply that does is broken. */
static bool keys_unique(const struct cph__handle *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(h[i].key, h[j].key) == 0)
                return false;
    return true;
}

/* The check-in, in the order the server relies on: the request is
 * queued before the pipe closes, because the server gives a child up on
 * the pipe's EOF once it has taken in what was queued. */
static int check_in(const char *value)
{
    int64_t deadline = cph__now_ms() + CPH_CHILD_TIMEOUT_MS;
    pid_t parent = getppid();
    char service[CPH__SERVICE_MAX + 1];
    uint8_t token[CPH__TOKEN_SIZE];
    struct cph__checkin *c;
    int fd, err;

    if (cph__env_parse(value, &fd, service) != 0)
        return EINVAL;
    if (cph__pipe_check(fd) != 0)
        return EBADF;
    err = read_token(fd, token, deadline);
    if (!err)
        err = cph__checkin_send(service, token, parent, deadline, &c);
    close(fd);
    if (err)
        return err;
    err = cph__checkin_receive(c, deadline, &got.handles, &got.received);
    if (!err && !keys_unique(got.handles, got.received)) {
        cph__handles_release(got.handles, got.received);
        free(got.handles);
        got.handles = NULL;
        got.received = 0;
        err = EPROTO;
    }
    return err;
}

__attribute__((constructor)) static void cph_child_init(void)
{
    const char *value = getenv(CPH__ENV_NAME);
    char copy[sizeof "1:" + 12 + CPH__SERVICE_MAX];

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
    got.left = got.received;
}

int cph_child_status(void)
{
    return got.status;
}

size_t cph_child_count(void)
{
    size_t n;

    pthread_mutex_lock(&got.lock);
    n = got.left;
    pthread_mutex_unlock(&got.lock);
    return n;
}

/* Taken handles stay in place with kind 0, so keys already handed out
 * stay valid. */
const char *cph_child_key(size_t index)
{
    const char *key = NULL;

    pthread_mutex_lock(&got.lock);
    for (size_t i = 0; i < got.received && !key; i++)
        if (got.handles[i].kind != 0 && index-- == 0)
            key = got.handles[i].key;
    pthread_mutex_unlock(&got.lock);
    return key;
}

/* Takes the handle under key if its kind is one of kinds (a bit mask of
 * 1 << kind). */
static bool take(const char *key, unsigned kinds, struct cph__handle *out)
{
    bool found = false;

    pthread_mutex_lock(&got.lock);
    for (size_t i = 0; i < got.received; i++) {
        struct cph__handle *h = &got.handles[i];
        if (h->kind != 0 && (kinds & 1u << h->kind) &&
            strcmp(h->key, key) == 0) {
            *out = *h;
            h->kind = 0;
            got.left--;
            found = true;
            break;
        }
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
