/*
 * The Linux transport's one thread: an epoll set serving both deliveries.
 * Events name a record id (shifted) or a pointer (malloc'd, so 16-byte
 * aligned) above a 4-bit tag.
 * Records are found again by id, so an event for a record that an earlier
 * event finished is ignored.
 */
#ifndef CPH_LINUX_LOOP_H
#define CPH_LINUX_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cph__tag {
    CPH__TAG_LISTEN,   /* pid-bound: the named socket */
    CPH__TAG_CONN,     /* pid-bound: a connection (pointer) */
    CPH__TAG_PIPE,     /* pid-bound: a record's pipe */
    CPH__TAG_EXIT,     /* pid-bound: a record's pidfd */
    CPH__TAG_END,      /* a handed-over record's channel (handed.c) */
    CPH__TAG_DIED,     /* direct: a record's pidfd, in flight */
    CPH__TAG_SENDER,   /* direct without a pidfd: the sending end */
    CPH__TAG_GIVE,     /* a give channel (pointer) */
    CPH__TAG_GONE,     /* a give channel's child's pidfd (pointer) */
    CPH__TAG_QUIET,    /* the quiet set, in the thread's while a thread
                          waits on it */
};

#define CPH__TAG_MASK 15

static inline uint64_t cph__tagged(uint64_t id, enum cph__tag tag)
{
    return id << 4 | (uint64_t)tag;
}

static inline uint64_t cph__tagged_ptr(const void *p, enum cph__tag tag)
{
    return (uint64_t)(uintptr_t)p | (uint64_t)tag;
}

/* Under the lock: starts the thread (once: before posix_spawn, so that a
 * thread that cannot start fails the spawn); adds, changes or removes a
 * watch (op as for epoll_ctl), making the epoll set if need be. */
int cph__loop_start(void);
int cph__loop_watch(int op, int fd, uint32_t events, uint64_t data);

/*
 * The quiet set: what the direct delivery watches (each child's hangup,
 * its pidfd in flight, or its parent's sending end) and pid-bound
 * channels whose handles are all out (handed.c). No thread watches it:
 * it is collected by whoever asks (cph_checkin_wait, which polls it
 * itself; a spawn, when 64 channels wait or fds run short). It joins the
 * thread's set only while a thread waits in cph_checkin_wait for an
 * outcome the thread decides (pid-bound, or keys expected back). Under
 * the lock, all of them but cph__loop_quiet_wait.
 */
/* Watches fd for events; channel: it counts as a child's channel. */
int cph__loop_quiet_watch(int fd, uint32_t events, uint64_t data,
                          bool channel);
/* Up to max events (their data), without waiting. */
int cph__loop_quiet_ready(uint64_t *data, int max);
/* Without the lock: waits at most ms (negative: no limit) until the set
 * has something ready; poll's result. */
int cph__loop_quiet_wait(int ms);
/* How many channels the quiet set watches. */
size_t cph__loop_quiet_count(void);
/* The thread's set is made (and the thread started) if need be, then as
 * cph__loop_attend(true). */
int cph__loop_follow(void);
/* One more (or one less) thread waiting for an outcome on the thread. */
void cph__loop_attend(bool more);
/* Removes fd from whichever set watches it. */
void cph__loop_unwatch(int fd);

/* Under the lock: every handle of r is out (or, tag SENDER, kept by the
 * parent's sending end) and r->end_fd is its channel; watches it for the
 * child's hangup in the quiet set (handed.c). EIO: it cannot. */
struct cph__record;
int cph__handed_watch(struct cph__record *r, enum cph__tag tag);
/* Under the lock, before a record being published has anything in the
 * quiet set (collecting it would finish the record under its
 * publisher): collects the set if 64 channels wait in it. */
void cph__handed_room(void);

/* Event handlers, called by the thread without the lock. */
void cph__server_event(uint64_t data, enum cph__tag tag);
/* The quiet set is ready while a thread waits on it. */
void cph__handed_ready(void);
void cph__give_event(void *giver, enum cph__tag tag);

/* Under the lock: watches fd, the parent's end of child id's give
 * channel, and pidfd, the child's (-1: none; the channel's hangup tells
 * then), and takes both (closed on failure). The child's ack on fd ends
 * record id's handshake with 0; a hangup before it, with ECONNABORTED. */
int cph__give_watch(uint64_t id, int pidfd, int fd);
/* Called once per wake-up: frees the give channels that ended. */
void cph__give_sweep(void);
/* In a forked child, under the lock: close every give channel. */
void cph__give_forget(void);

/* Called once per wake-up: the pid-bound server's housekeeping; returns
 * the ms until it needs to run again, or -1. */
int cph__server_tick(void);

/* A pidfd of pid (readable once it exits), or -1 with errno. */
int cph__pidfd_open(pid_t pid);
/* r's child's pidfd, the caller's: the one its spawn made
 * (cph__spawn_own), else a new one. */
int cph__child_pidfd(struct cph__record *r);

/* Whether the process that sent an ack (its pid as the kernel stamped
 * it) is child or one of its descendants (taker.c). */
bool cph__taker_ok(pid_t taker, pid_t child);

/* In a forked child: forget the thread and the epoll set. */
void cph__loop_forget(void);

#endif
