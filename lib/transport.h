/*
 * What each OS provides to the core: lib/linux/ and lib/darwin/ implement
 * these, nothing else. Functions marked "under the lock" are called with
 * cph__lock() held.
 */
#ifndef CPH_TRANSPORT_H
#define CPH_TRANSPORT_H

#include <spawn.h>

#include "core/cph_core.h"

/* Which deliveries this OS carries (see cph_attachments_set_delivery). */
#if !CPH__MACH
#define CPH__HAS_DIRECT 1
#define CPH__DELIVERY_DEFAULT CPH_DELIVERY_DIRECT
#else
#define CPH__HAS_DIRECT 0
#define CPH__DELIVERY_DEFAULT CPH_DELIVERY_NAMELESS
#endif

/* Whether cph__spawn_own exists: Linux with glibc (not uClibc, which
 * says it is) on x86_64 or aarch64, 64-bit (its child mirrors glibc's,
 * and knows the kernel's struct sigaction there), outside sanitizers (its
 * child must run no instrumented code). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer) || __has_feature(hwaddress_sanitizer)
#define CPH__SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(__SANITIZE_HWADDRESS__)
#define CPH__SANITIZED 1
#endif
#if !CPH__MACH && defined(__GLIBC__) && !defined(__UCLIBC__) && \
    !defined(CPH__SANITIZED) && !defined(__ILP32__) && \
    (defined(__x86_64__) || defined(__aarch64__))
#define CPH__HAS_SPAWNER 1
#else
#define CPH__HAS_SPAWNER 0
#endif

/* Where CPH__HAS_SPAWNER: posix_spawn(pid, path, fa, NULL, argv, envp)
 * whose fa would only dup2 end to child_fd, and a pidfd of the child in
 * *pidfd (close-on-exec, the caller's; -1 on a kernel before 5.2).
 * Returns and leaves errno as posix_spawn; ENOSYS: use posix_spawn (a
 * filter refuses the clone, no child stack could be mapped, or no fd is
 * free for the pidfd, which posix_spawn does not need). */
int cph__spawn_own(pid_t *pid, const char *path, int end, int child_fd,
                   char *const argv[], char *const envp[], int *pidfd);

/*
 * Parent side, direct delivery (only where CPH__HAS_DIRECT).
 */

/* Before posix_spawn, under the lock: a new channel with every handle of
 * list already queued in it, taken straight from the list. Sets
 * r->end_fd (the child's end, which the parent keeps a copy of) and
 * r->spawn_fds[0] (the parent's sending end). */
int cph__direct_prepare(struct cph__record *r,
                        const struct cph_attachments *list);

/* After posix_spawn succeeded, under the lock: sends the final message
 * and starts watching the child. Non-zero: the outcome of a child that
 * can no longer be served (it gave up already, or the parent failed). */
int cph__direct_publish(struct cph__record *r);

/* Under the lock: finishes the children whose channel hung up without
 * waking anyone (the transport notices hang-ups only when asked; Linux,
 * both deliveries), and says how many; one more (or one less) thread
 * waiting in cph_checkin_wait for an outcome libcph's thread decides,
 * which makes the thread notice them at once. */
size_t cph__handed_collect(void);
void cph__handed_attend(bool more);
/* Without the lock: waits at most ms (negative: no limit) until a child
 * may have hung up, for a waiter that collects itself (a direct child
 * without keys expected back: no thread decides its outcome). */
int cph__handed_wait(int ms);

/* Under the lock: libcph's thread collects the hang-ups from now on, as
 * they come (it starts if need be), until as many
 * cph__handed_attend(false) as calls that returned 0: for a bell that
 * must ring without anybody asking (cph_child_pollfd). */
int cph__handed_follow(void);

/* Under the lock: a spawn failed. libcph's thread, started for it, ends
 * if no child needs it yet (Linux, both deliveries). */
void cph__loop_idle(void);

/* A pidfd of pid in *fd, close-on-exec, the caller's (cph_child_pidfd);
 * or an errno: ENOTSUP where the OS has none. */
int cph__exit_fd(pid_t pid, int *fd);

/*
 * Parent side, pid-bound delivery.
 */

/* A pipe whose [0] the child reads and whose [1] the parent writes the
 * token into; both close-on-exec. The parent's end reports EOF once
 * every copy of the child's end is closed. */
int cph__pipe_create(int fds[2]);

/* 0 if the transport can carry fd to a child; EINVAL if it cannot,
 * EBADF if fd is not open, ENOMEM if it could not tell for want of
 * resources (the errno values cph_attachments_add_fd documents). */
int cph__fd_sendable(int fd);

/* Opens the server under the service name; on failure leaves nothing
 * behind. Called once per process (and again in a forked child) by
 * cph__server_start. Under the lock. The Mach transport also takes NULL
 * (the nameless delivery): a server without a service, to which a later
 * call with a name adds one (a failure then leaves the server running). */
int cph__server_open(const char *name);

/* The spawn that opened the server failed and no other child needs it:
 * true if the transport closed it (then it is opened anew next time), so
 * that a failed spawn leaves nothing behind. Under the lock. */
bool cph__server_unused(void);

/* Starts watching a published record's pipe and exit; stops. Under the
 * lock. ESRCH: the child has exited already (the core gives it up as
 * gone); another errno: the parent failed. */
int cph__server_watch(struct cph__record *r);
void cph__server_unwatch(struct cph__record *r);

/* In a forked child: close everything the server held, keep nothing.
 * Under the lock (taken before the fork). */
void cph__server_forget(void);

#if CPH__MACH
/*
 * Parent side, nameless delivery (lib/darwin/nameless.c), for a record
 * whose server runs (cph__server_start(NULL)). Under the lock, before
 * posix_spawn: a port for r in the server's port set, *slot the first of
 * this process's own registered-port slots that is free (ENOSPC: none
 * is). cph__server_watch of r drops the parent's own send right to it,
 * cph__server_unwatch and cph__nameless_end (a spawn that failed)
 * destroy it.
 */
int cph__nameless_prepare(struct cph__record *r, int *slot);
void cph__nameless_end(struct cph__record *r);

/* Runs run(ctx, attrp'), which calls posix_spawn, so that the spawned
 * task, and no other, finds r's port in its registered-port slot. Not
 * under the lock (it takes it when attrp is not NULL). */
int cph__nameless_spawn(const struct cph__record *r,
                        const posix_spawnattr_t *attrp,
                        int (*run)(void *ctx, const posix_spawnattr_t *attrp),
                        void *ctx);

/* Child side: takes the send right in registered-port slot and clears
 * the slot (grandchildren do not inherit it); EBADF if it is empty,
 * ECONNREFUSED if the port died (the parent is gone). */
int cph__nameless_take(int slot, mach_port_t *port);

struct cph__checkin;
/* Connects the check-in to a port the caller holds a send right to
 * (nameless: no token, no look-up); as cph__checkin_send otherwise. */
int cph__checkin_send_port(mach_port_t server, const uint8_t *token,
                           pid_t parent, int64_t deadline_ms,
                           struct cph__checkin **c);
#endif

/*
 * Child side, direct delivery: whether fd is a channel made by pid (EBADF
 * if not); then every handle queued in it by pid (on error nothing
 * received is kept); then, with the core's verdict on them (0 or an
 * errno), telling the parent whether they were accepted: the verdict,
 * or the error that kept an acceptance from reaching the parent (then it
 * learns a refusal).
 */
int cph__direct_check(int fd, pid_t pid);
int cph__direct_receive(int fd, pid_t pid, int64_t deadline_ms,
                        struct cph__handle **handles, size_t *count);
int cph__direct_confirm(int fd, pid_t pid, int err);

/*
 * Child side, pid-bound delivery: the check-in runs in two steps so that
 * the core can close the pipe between them (the server decides on pipe
 * EOF, so the request must already be queued by then).
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

/* Receives every handle into *handles (*count of them, to be freed by
 * cph__received_free) and ends the check-in (always frees c; on Linux its
 * connection, cph__checkin_fd, stays open for cph__checkin_confirm or the
 * gives). On error nothing received is kept. */
int cph__checkin_receive(struct cph__checkin *c, int64_t deadline_ms,
                         struct cph__handle **handles, size_t *count);

/* Child side: frees the array of handles a check-in received (Linux
 * keeps a small one in static storage, so that a constructor receiving
 * few handles allocates nothing). */
void cph__received_free(struct cph__handle *handles);

/* Whether fd is a pipe as cph__pipe_create makes them (EBADF if not). */
int cph__pipe_check(int fd);

/*
 * Child side, giving back. The give channel
 * is, on Linux, the direct delivery's end of the socketpair, or the
 * pid-bound check-in's connection (cph__checkin_fd, before
 * cph__checkin_receive closes it); on macOS a send right to the give
 * port the parent made for this child, which comes with the reply
 * (cph__checkin_give_to names where cph__checkin_receive leaves it;
 * MACH_PORT_NULL when the parent expects nothing back).
 */
#if CPH__MACH
typedef mach_port_t cph__channel_t;
#define CPH__NO_CHANNEL MACH_PORT_NULL
void cph__checkin_give_to(struct cph__checkin *c, mach_port_t *give);
#else
typedef int cph__channel_t;
#define CPH__NO_CHANNEL (-1)
int cph__checkin_fd(const struct cph__checkin *c);
/* With the core's verdict on the handles (0 or an errno), tells the
 * server whether they were accepted, on the check-in's connection. */
void cph__checkin_confirm(int fd, int err);
/* Calls are serialized by the caller. Every handle arrived (the
 * parent's outcome 0). */
int cph__give_ack(int fd, int64_t deadline_ms);
#endif
/* Sends h on the channel, waiting until deadline_ms for room; calls are
 * serialized by the caller. Kind FD: a duplicate of h->fd travels. A
 * port (macOS): h->disposition says what leaves, as for
 * cph_child_give_port; on failure the caller keeps what it had. EPIPE:
 * the parent is gone. */
int cph__give_send(cph__channel_t channel, const struct cph__handle *h,
                   int64_t deadline_ms);

#endif
