/*
 * The handshake core shared by every OS. Its decisions — keys, tokens, the
 * CPH_HANDSHAKE value, the reply's key list, the in-flight registry and
 * when a child is given up — are made here once; lib/linux/ and
 * lib/darwin/ only move bytes and handles (see transport.h).
 *
 * Internal names start with cph__. Nothing here is installed.
 */
#ifndef CPH_CORE_H
#define CPH_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The Mach transport: on macOS, and on Linux against the Mach simulator
 * (tests/machsim), which builds the same sources with CPH_SIMULATED_MACH. */
#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
#define CPH__MACH 1
#else
#define CPH__MACH 0
#endif

#if CPH__MACH
#include <mach/message.h>
#include <mach/port.h>
#endif

struct cph_attachments;

#define CPH__KEY_MAX 64
#define CPH__TOKEN_SIZE 16
/* Shorter than macOS's BOOTSTRAP_MAX_NAME_LEN (128), which truncates. */
#define CPH__SERVICE_MAX 127
#define CPH__ENV_NAME "CPH_HANDSHAKE"
/* The child's end of the channel is placed from 3/4 of RLIMIT_NOFILE,
 * the limit taken at most this high (see spawn.h). */
#define CPH__CHILD_FD_CAP 1024
/* Finished outcomes kept for cph_checkin_wait(). */
#define CPH__OUTCOMES_MAX 1024
/* The kernel's SCM_MAX_FD: most fds one message can carry. */
#define CPH__FDS_PER_MESSAGE 253
/* Children that can no longer give whose given-back handles are kept
 * for cph_take_fd(), at most (see spawn.h). */
#define CPH__GIVEN_ENDED_MAX 128

/* keys.c */
bool cph__name_valid(const char *s, size_t max);
bool cph__key_valid(const char *key);

/* token.c */
int cph__token_new(uint8_t token[CPH__TOKEN_SIZE]);
bool cph__token_equal(const uint8_t *a, const uint8_t *b);

/* thread.c */
int cph__thread_start(void *(*serve)(void *));

/* service.c */
int cph__service_name(char name[CPH__SERVICE_MAX + 1]);

/* clock.c: CLOCK_MONOTONIC milliseconds, and what is left until a deadline */
int64_t cph__now_ms(void);
int cph__ms_left(int64_t deadline_ms);

/*
 * handle.c — one handle: in a list, held for a spawn, or received.
 * kind is what the child receives; for ports, disposition says what
 * sending it does and what the holder owns (Chromium's Destroy table):
 * MOVE_* own a right; COPY_SEND / MAKE_SEND / MAKE_SEND_ONCE own nothing.
 */
enum cph__kind {
    CPH__KIND_FD = 1,
    CPH__KIND_SEND = 2,
    CPH__KIND_SEND_ONCE = 3,
    CPH__KIND_RECEIVE = 4,
    /* No handle: the parent expects one back under this key. */
    CPH__KIND_EXPECT = 5,
};

struct cph__handle {
    char key[CPH__KEY_MAX + 1];
    uint8_t kind;
    int fd;
#if CPH__MACH
    mach_port_t port;
    mach_msg_type_name_t disposition;
#endif
};

void cph__handle_release(struct cph__handle *h);
/* fcntl(fd, F_DUPFD_CLOEXEC, min), or -1 with errno: EMFILE, as for any
 * other lack of fds, also when min is past RLIMIT_NOFILE. */
int cph__dup_from(int fd, int min);
void cph__handles_release(struct cph__handle *h, size_t count);

/*
 * wire.c — the key list of the reply: for each handle, in order,
 * [u8 kind][u8 key length][key bytes]. The handles themselves travel
 * beside it (SCM_RIGHTS, or Mach descriptors), in the same order; an
 * entry of kind CPH__KIND_EXPECT carries a key the parent expects back
 * and no handle.
 */
size_t cph__wire_size(const struct cph__handle *h);
size_t cph__wire_put(uint8_t *buf, const struct cph__handle *h);
/* Reads one entry at *off; 0, or EPROTO for a malformed entry. */
int cph__wire_get(const uint8_t *buf, size_t len, size_t *off,
                  struct cph__handle *h);

/*
 * env.c — the value of CPH_HANDSHAKE, which names the child's end of the
 * channel and proves it is the child's own beyond its number:
 *   direct:     "d:<fd>:<inode>:<pid>"
 *   pid-bound:  "p:<fd>:<inode>:<pid>:<service>"
 *   nameless:   "n:<slot>:<pid>"
 * inode is the channel's (fstat st_ino); pid is the parent's, which made
 * the channel (direct), serves the service (pid-bound) or receives on
 * the port it registered for the child in registered-port slot <slot>
 * (nameless, 0 to CPH__SLOTS - 1; see mach_ports_lookup).
 */
#define CPH__SLOTS 3 /* xnu's TASK_PORT_REGISTER_MAX */

struct cph__env {
    int delivery; /* CPH_DELIVERY_* */
    int fd;       /* direct and pid-bound */
    int slot;     /* nameless */
    uint64_t inode;
    pid_t pid;
    char service[CPH__SERVICE_MAX + 1]; /* pid-bound only */
};

/* Room for "CPH_HANDSHAKE=" and the longest value. */
#define CPH__ENV_ENTRY_MAX (sizeof CPH__ENV_NAME + 64 + CPH__SERVICE_MAX)

int cph__env_format(char *buf, size_t size, const struct cph__env *e);
int cph__env_parse(const char *value, struct cph__env *e);
int cph__env_with_handshake(char *const envp[], const char *entry,
                            char ***out);

/*
 * keyset.c — an index of the keys of an array of handles that someone
 * else owns (the element at index i starts with a struct cph__handle and
 * is stride bytes long). Expected O(1) lookups, so that neither a list
 * of 1000 handles nor a child receiving them does quadratic work.
 */
struct cph__keyset {
    uint32_t *slots; /* 0 empty, else 1 + an index */
    size_t mask;
};

/* Makes room for want keys, re-indexing base[0..count). */
int cph__keyset_reserve(struct cph__keyset *s, const void *base,
                        size_t stride, size_t count, size_t want);
/* The index of key in base, or -1. */
long cph__keyset_find(const struct cph__keyset *s, const void *base,
                      size_t stride, const char *key);
/* Indexes base[index], room being reserved, and returns -1; or, when its
 * key is indexed already, indexes nothing and returns that index. */
long cph__keyset_put(struct cph__keyset *s, const void *base, size_t stride,
                     size_t index);
void cph__keyset_free(struct cph__keyset *s);

/*
 * given.c — handles children give back. The core decides: which keys a
 * child may give (those its list expected, each once), what waits for
 * cph_take_fd(), and when it is released. Transports only carry: they
 * call cph__given_put() for each give that arrives on a child's own
 * channel and cph__given_end() once that child can give no more. Both
 * under the lock. The public take functions (cph_take_fd, and on macOS
 * cph_take_port) wrap cph__given_take().
 */
struct cph__giving;

/* Before posix_spawn: the keys list expects, to be sent to the child
 * ((*keys)[0..*count) stay valid until the entry is released, which is
 * never before cph__given_end). */
int cph__giving_new(const struct cph_attachments *list,
                    struct cph__giving **g);
const struct cph__handle *cph__giving_keys(const struct cph__giving *g,
                                           size_t *count);
/* posix_spawn failed. */
void cph__giving_free(struct cph__giving *g);
/* posix_spawn succeeded: from here the core owns g, under id and pid. */
void cph__given_publish(struct cph__giving *g, uint64_t id, pid_t pid);
/* Child id gave h (a received fd or right, which the core takes). 0:
 * kept for taking. Otherwise h is released: ENOENT the key was not
 * expected, EEXIST it was given already, ESRCH the child can no longer
 * give (or was never expected to). */
int cph__given_put(uint64_t id, struct cph__handle *h);
/* cph_take_fd for any kind of handle: kinds is a mask of 1 << kind; a
 * handle of another kind under key answers ENOENT and stays. */
int cph__given_take(pid_t pid, const char *key, unsigned kinds,
                    int timeout_ms, struct cph__handle *out);
/* Whether child id can still give; *held: a handle it gave waits to be
 * taken. The id of pid's entry, or 0. */
bool cph__given_state(uint64_t id, bool *held);
uint64_t cph__given_id(pid_t pid);
/* Child id can give no more (idempotent; no-op for an unknown id). */
void cph__given_end(uint64_t id);
/* In a forked child: close and free everything. */
void cph__given_forget(void);

/*
 * polled.c — the fds cph_child_pollfd hands out. The registry and the
 * given-back table call these, under the lock, when what they know of
 * pid changes: its outcome recorded (finished), returned by
 * cph_checkin_wait or forgotten (seen), a handle given, taken or no
 * longer to come (given), a new child under the same number (replaced).
 */
void cph__polled_finished(pid_t pid);
void cph__polled_seen(pid_t pid);
void cph__polled_given(pid_t pid);
void cph__polled_replaced(pid_t pid);
/* In a forked child: close and free everything. */
void cph__polled_forget(void);

/* registry.c: conditions on the monotonic clock, waited with the lock
 * held for at most ms (negative: no limit). */
void cph__cond_init(pthread_cond_t *cond);
void cph__cond_wait(pthread_cond_t *cond, int ms);

/* attachments.c — a spawn's own copy of a list's handles (pid-bound) */
int cph__attachments_hold(const struct cph_attachments *list,
                          struct cph__handle **held, size_t *count);

/*
 * registry.c — every in-flight child, and the outcomes of finished ones.
 *
 * One mutex (cph__lock) guards the registry and the transport's server
 * state. A record goes SPAWNING (added before posix_spawn, owned by the
 * spawning thread) -> WAITING (pid published, owned by the transport) ->
 * DELIVERING (pid-bound, nameless: a valid check-in claimed it; only the server
 * thread touches it) -> HANDED (Linux pid-bound: every handle sent, the
 * connection waits for the child's close as a direct channel does) ->
 * finished (outcome kept, record freed).
 */
enum cph__state { CPH__SPAWNING, CPH__WAITING, CPH__DELIVERING, CPH__HANDED };

struct cph__record {
    uint64_t id;
    pid_t pid;
    uint8_t state;    /* enum cph__state */
    uint8_t delivery; /* CPH_DELIVERY_* */
    int end_fd;       /* direct: the parent's copy of the child's end;
                         pid-bound, once HANDED: the connection */
    int pipe_fd;      /* pid-bound: the pipe's write end, watched for EOF */
    int spawn_fds[2]; /* while spawning: [0] direct: the parent's sending
                         end; pid-bound: the pipe's read end. [1] the
                         child's end at the number the child gets */
    int exit_fd;      /* pid-bound Linux: pidfd, or -1 */
    unsigned sent;    /* direct: the messages queued before posix_spawn */
    /* pid-bound: the token, and the spawn's own copies of the handles */
    uint8_t token[CPH__TOKEN_SIZE];
    struct cph__handle *held;
    size_t count;
    /* The keys the parent expects back (entries of kind EXPECT), sent
     * after the handles; giving owns them until publish, then the core's
     * given-back table does (they outlive the record). */
    struct cph__giving *giving;
    const struct cph__handle *expects;
    size_t nexpects;
    struct cph__record *next;
};

void cph__lock(void);
void cph__unlock(void);

/* Under the lock: starts this process's server on first use; with name
 * (pid-bound), also its service, whose name it copies into name. The
 * nameless delivery passes NULL: a server without a service. */
int cph__server_start(char name[CPH__SERVICE_MAX + 1]);

/* Under the lock. publish hands r to the transport for its delivery. */
void cph__registry_add(struct cph__record *r);
void cph__registry_publish(struct cph__record *r, pid_t pid);
void cph__registry_drop(struct cph__record *r);
struct cph__record *cph__registry_find(uint64_t id);
struct cph__record *cph__registry_claim(const uint8_t *token, pid_t peer);
/* The same for the record id (nameless: the port the check-in came on
 * names it). */
struct cph__record *cph__registry_claim_id(uint64_t id, pid_t peer);
void cph__registry_finish(struct cph__record *r, int outcome);
void cph__registry_gone(struct cph__record *r);
/* The outcome of a child that went away without taking its handles:
 * ENOTCONN if it never began its check-in (what a program that does not
 * link libcph_child does), ECONNABORTED if it began and gave up. */
int cph__outcome_gone(bool began);
/* The published record of pid, or NULL; pid's outcome, ESRCH if none is
 * known (either way a record finished). */
struct cph__record *cph__registry_find_pid(pid_t pid);
int cph__registry_outcome(pid_t pid);

struct cph__record *cph__record_new(void);
void cph__record_close_spawn_fds(struct cph__record *r);
void cph__record_free(struct cph__record *r);
/* Closes *fd unless it is -1, and makes it -1. */
void cph__close_fd(int *fd);
/* Closes every fd r holds and releases its handles, keeping the rest. */
void cph__record_clear(struct cph__record *r);

#endif
