/*
 * What each OS provides to the core: lib/linux/ and lib/darwin/ implement
 * these, nothing else. Functions marked "under the lock" are called with
 * cph__lock() held.
 */
#ifndef CPH_TRANSPORT_H
#define CPH_TRANSPORT_H

#include "core/cph_core.h"

/*
 * Parent side.
 */

/* A pipe whose [0] the child reads and whose [1] the parent writes the
 * token into; both close-on-exec. The parent's end reports EOF once
 * every copy of the child's end is closed. */
int cph__pipe_create(int fds[2]);

/* 0 if the transport can carry fd to a child; EINVAL if it cannot (or
 * another errno value if it could not tell). */
int cph__fd_sendable(int fd);

/* Opens the server under the service name and starts its thread; on
 * failure leaves nothing behind. Called once per process (and again in a
 * forked child) by cph__server_start. Under the lock. */
int cph__server_open(const char *name);

/* Starts watching a published record's pipe and exit; stops. Under the
 * lock. */
int cph__server_watch(struct cph__record *r);
void cph__server_unwatch(struct cph__record *r);

/* In a forked child: close everything the server held, keep nothing.
 * Under the lock (taken before the fork). */
void cph__server_forget(void);

/*
 * Child side: the check-in runs in two steps so that the core can close
 * the pipe between them (the server decides on pipe EOF, so the request
 * must already be queued by then).
 */
struct cph__checkin;

/* Connects to service and sends token; on success *c is the open
 * check-in. parent is this process's parent as it was when the check-in
 * began: the server must belong to it (an impostor that took the name
 * after the parent died is refused with EPERM). Errors as
 * cph_child_status() documents. */
int cph__checkin_send(const char *service, const uint8_t *token,
                      pid_t parent, int64_t deadline_ms,
                      struct cph__checkin **c);

/* Receives every handle into *handles (malloc'd, *count of them) and ends
 * the check-in (always frees c). On error nothing received is kept. */
int cph__checkin_receive(struct cph__checkin *c, int64_t deadline_ms,
                         struct cph__handle **handles, size_t *count);

/* Whether fd is a pipe as cph__pipe_create makes them (EBADF if not). */
int cph__pipe_check(int fd);

#endif
