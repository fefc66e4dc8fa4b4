/*
 * cph/spawn.h — the parent side of cph: launch a child and hand it a set of
 * named handles (file descriptors everywhere, Mach port rights on macOS).
 *
 * Replace posix_spawn(3) with cph_spawn() and link libcph; link the child
 * program with libcph_child (see <cph/child.h>), which takes the handles
 * before main() runs.
 *
 * THE PROTOCOL
 *
 * No OS lets a parent pass arbitrary Mach port rights across posix_spawn,
 * and passing fds by number is fragile. cph hands the child its handles
 * while it starts, in one of three deliveries, chosen per list with
 * cph_attachments_set_delivery() (side by side under "The deliveries
 * side by side" below):
 *
 * Direct (Linux; the default there). Per spawn, one SOCK_SEQPACKET
 * socketpair:
 *  1. Before posix_spawn, the parent queues every handle in it: the keys,
 *     and the list's own fds by SCM_RIGHTS (253 per message; the kernel
 *     holds the in-flight references, so no spawn duplicates anything).
 *  2. The child's end reaches the child only (see "the channel" below).
 *     Its environment gets CPH_HANDSHAKE=d:<fd>:<inode>:<pid>, naming the
 *     end by number, inode and the parent's pid.
 *  3. The final message, queued before posix_spawn too, carries the
 *     parent's sending end itself (the receipt); right after posix_spawn
 *     a trailer carries a pidfd of the child (or no fd when the parent
 *     cannot make one). The parent keeps one fd per pending child: a
 *     copy of the child's end, which has SO_PASSCRED, so that the kernel
 *     stamps every message queued in it with its sender's pid.
 *  4. libcph_child's constructor, before main(), unsets CPH_HANDSHAKE,
 *     checks that the fd is that socket (inode, SO_PEERCRED of the
 *     parent), reads every message (each must be stamped with the
 *     parent's pid: a copy of the end elsewhere cannot slip one in),
 *     closes the trailer's pidfd if it is there (which ends the parent's
 *     watch on its exit), writes the ack on the receipt (on its end
 *     after a trailer without an fd: the parent kept its sending end
 *     instead), and closes the receipt and its end.
 *  5. The parent learns the outcome from its copy of the child's end: a
 *     hangup with nothing left queued but the ack means the handles were
 *     taken; the ack's pid, which a process without CAP_SYS_ADMIN cannot
 *     forge (SCM_CREDENTIALS), says by whom: 0 if it is the spawned
 *     process (exec-ing wrappers keep its pid) or, as /proc shows when
 *     the parent collects the outcome, one of its descendants, EACCES if
 *     it is any other process (or no ack came). A taker already gone by
 *     then (reaped) cannot be placed and counts as the child's, so a
 *     wrapper's child that exits first still gets 0. A process that may
 *     ptrace the child can act as it, and is not caught. A reset, or a
 *     hangup with messages still
 *     queued, means the child gave up (on any error it writes a refusal
 *     into the receipt's queue and closes the receipt before it shuts
 *     its end down; nothing it does after reading the final message can
 *     fail but that); and when
 *     the spawned process exits first, the pidfd (watched while only the
 *     queue holds it) tells, and the parent drains and closes whatever is
 *     left, even if a descendant still holds the child's end. Hangups
 *     wake nobody: the parent collects them many at a time (see
 *     cph_spawn), so a child that takes its handles costs the parent no
 *     thread wake-up.
 *  No server, no name: the inherited socket is the capability. The
 *  handles go to the first process that runs libcph_child's constructor
 *  in the spawned process's exec chain or among its descendants, so
 *  wrappers that fork and wait (timeout, strace, sh -c, scripts) work;
 *  the spawned process must outlive that check-in, since its exit
 *  releases what was not read.
 *
 * Pid-bound (Linux and macOS, by choice; on macOS also where the
 * nameless delivery finds no free registered-port slot, see below). The
 * rendezvous of Crashpad's ChildPortHandshake and Chromium's
 * MachPortRendezvous, which binds the handles to the spawned pid:
 *  1. The parent runs one rendezvous server per process, started on the
 *     first pid-bound spawn. It is registered under an unguessable but
 *     public service name: an abstract-namespace Unix socket on Linux, a
 *     bootstrap service on macOS.
 *  2. For each spawn the parent draws a fresh 128-bit token from the OS
 *     CSPRNG, creates a pipe, and writes the token into it before the
 *     child exists. CPH_HANDSHAKE=p:<fd>:<inode>:<pid>:<service>.
 *  3. The child's constructor unsets CPH_HANDSHAKE, checks the pipe and
 *     that its parent (getppid()) is still the pid that serves the name
 *     (else ECONNREFUSED, before the token is read), reads the token,
 *     connects, checks on Linux that the server is its parent
 *     (SO_PEERCRED), sends a check-in carrying the token, closes the
 *     pipe, and receives the handles.
 *  4. The server accepts a check-in only if the token matches (compared
 *     in constant time) AND the sender is the spawned child's pid
 *     (SO_PEERCRED on Linux, the message's audit trailer on macOS).
 *     Anything else — another process, a grandchild holding the token, a
 *     wrapper that forked, a malformed or oversized message — is
 *     rejected; nothing is handed out and the server goes on waiting for
 *     the real child. A token is good for one check-in.
 *  5. The server replies with every attachment under its key: fds by
 *     SCM_RIGHTS on Linux, port rights and fileports in one Mach message
 *     on macOS. On Linux it then shuts its side, and the child's close of
 *     the connection gives the outcome: a plain close is "handed over";
 *     a child that could not take them says so with one byte first, and
 *     one that closes with messages unread resets the connection
 *     (ECONNABORTED). The parent keeps only the connection by then, and
 *     collects its close as it does a direct hangup, without a thread
 *     wake-up. On macOS the outcome is 0 once the reply is queued.
 *  6. Until the check-in, the parent watches each child's pipe and its
 *     exit (a pidfd on Linux, EVFILT_PROC on macOS). A child that closes
 *     its pipe or exits without a valid check-in is given up: everything
 *     held for it is released at once.
 *  The pid-bound spawn holds its own duplicate of every attached fd until
 *  the server has sent them to the checked-in child, or the child is gone.
 *  On macOS registering the service needs the sandbox rule
 *  "mach-register": where it is denied, cph_spawn says EPERM.
 *
 * Nameless (macOS; the default there). The rendezvous's server and
 * messages without its name, token and pipe: the port the child checks
 * in on reaches it through its registered ports. Every task starts with
 * a send right for each of the three registered ports of the task it was
 * created from (xnu osfmk/kern/ipc_tt.c, ipc_task_init: posix_spawn's new
 * task and fork's alike; exec keeps them); mach_ports_lookup() reads
 * them and mach_ports_register() replaces them. Unlike a task special
 * port (posix_spawnattr_setspecialport_np), each of which the system
 * gives a meaning (bootstrap, host, ...) the child would lose, a
 * registered port means nothing to anyone else.
 *  1. The parent's server (libcph's thread and kqueue, as for pid-bound,
 *     but no bootstrap service) receives on a port set. Per spawn the
 *     parent makes a port in that set, and picks the first of its own
 *     three registered-port slots that holds no port. None free: the
 *     spawn uses the pid-bound delivery instead.
 *  2. The child's registered ports are the parent's own set with a send
 *     right to that port in that slot (see "the channel" below for how).
 *     CPH_HANDSHAKE=n:<slot>:<pid>.
 *  3. The child's constructor unsets CPH_HANDSHAKE, takes the right from
 *     the slot and clears it (registering the other two again), so that
 *     no process it creates inherits it; checks that its parent
 *     (getppid()) is still <pid> (else ECONNREFUSED, and nothing is
 *     sent); sends the rendezvous's check-in request on the port, with a
 *     token of zeros and a reply right; lets its send right go; receives
 *     the same reply as under the pid-bound delivery (the same
 *     descriptors in the same order, the same give port) and checks its
 *     audit trailer against its parent's pid.
 *  4. The server takes a check-in on that port for that spawn alone, and
 *     only from the spawned pid (the request's audit trailer): anything
 *     else is destroyed, and the server goes on waiting for the real
 *     child. The token is not looked at: the port names the spawn.
 *  5. The outcome: 0 once the reply is queued, as for pid-bound on macOS.
 *     Once the child exists the parent lets its own send right go, and
 *     the port's no-senders notification takes the place of the pipe's
 *     EOF: it comes when the child and every process that inherited the
 *     right from it have let it go or exited, and without a check-in
 *     before it, the outcome is ENOTCONN; so is the child's exit
 *     (EVFILT_PROC) without one.
 *  Nothing is public: no service name, no lookup, so a sandbox that
 *  denies "mach-register" (or the lookup of a name) does not stop it. The
 *  spawn holds its own duplicate of every attached fd, as pid-bound does.
 *  An exec-ing wrapper keeps the pid and the registered ports: the
 *  program it executes checks in. A forking wrapper's child inherits the
 *  right as well (fork copies the registered ports) and CPH_HANDSHAKE:
 *  its constructor takes the right out of the slot and stops at step 3
 *  (its parent is the wrapper: ECONNREFUSED), and a check-in sent from it
 *  anyway is destroyed at step 4; the parent's outcome is ENOTCONN once
 *  the wrapper exits (or every holder of the right has let it go).
 *
 * Every delivery: cph never reaps (waitpid) the caller's children and
 * never touches signal dispositions. The child leaves alone any fd that is
 * not the channel CPH_HANDSHAKE names (a stale or forged value, a caller's
 * own fd at that number), and never uses fds 0-2 for it; received fds
 * never land on 0, 1 or 2.
 *
 * The channel (direct and pid-bound). With file_actions NULL, cph adds its
 * own file action dup2(end, M), where M is a close-on-exec duplicate made
 * for the purpose: no inheritable copy of the child's end (the socket, or
 * the pipe) ever exists in the parent, so a process spawned or forked
 * concurrently by another thread cannot get it. On macOS the pipe is a
 * socketpair, which is created inheritable (there is no SOCK_CLOEXEC) and
 * made close-on-exec right after: a process that another thread
 * posix_spawns in between inherits both ends, can read the token (it
 * cannot check in: the pid check refuses it) and delays the pipe's EOF
 * until it closes them (the child's exit is still noticed). When the
 * caller passes its own file_actions, cph cannot add to them (the object
 * is the caller's and cannot be copied), so M is made inheritable from
 * just before posix_spawn until it returns; a process that another thread
 * forks or spawns inside that window inherits M too. Pid-bound, such a
 * process cannot check in (the pid check refuses it) but could read the
 * token away; direct, it could take the handles, and the outcome says
 * EACCES. (The kernel offers no narrower window without a thread of
 * cph's own: unshare(CLONE_FILES) would keep M inheritable for the
 * spawning thread only, but cannot be undone, and a child's
 * PR_SET_PDEATHSIG follows the thread that spawned it.) M is the lowest free fd
 * from 3/4 of RLIMIT_NOFILE's soft limit, that limit taken at most 1024
 * (so 768 by default; the lowest free above 2 when none is free there): a
 * number no caller's file actions name in practice, so that naming an fd
 * the caller does not hold fails as it does with posix_spawn (EBADF)
 * instead of finding cph's channel. What is left: file actions that name M
 * itself as a source find the channel there, and file actions that close M
 * (or a range containing it), or dup2 onto it, make the child's check-in
 * fail, and so does macOS's POSIX_SPAWN_CLOEXEC_DEFAULT with the caller's
 * own file actions (cph cannot add addinherit_np to them).
 * Everything a spawn creates, and every connection the pid-bound server
 * accepts, is made under cph's lock and closed by its atfork handler,
 * so a process that another thread fork()s meanwhile keeps none of it.
 *
 * The channel (nameless). There is no fd: the caller's file_actions and
 * POSIX_SPAWN_CLOEXEC_DEFAULT do not reach it. With attrp NULL, cph
 * spawns with attributes of its own that set the child's registered
 * ports for that spawn alone (posix_spawnattr_set_registered_ports_np;
 * xnu bsd/kern/kern_exec.c, PSPA_REGISTERED_PORTS): the parent's own
 * registered ports never hold the port, so no other process can inherit
 * it. The function is private (libsyscall's spawn_private.h, not in the
 * SDK) and came with macOS 10.15 (xnu-6153; xnu-4903, macOS 10.14, has
 * none): cph looks it up at run time, and where it is missing does as
 * with the caller's attributes. When the caller passes attrp, cph cannot
 * add to it (Apple's attributes are opaque and cannot be copied), so it
 * registers the port on the parent's own task (mach_ports_register)
 * just before posix_spawn and puts the parent's own set back as soon as
 * it returns, all under cph's lock: a fork() by another thread meanwhile
 * waits for the lock (cph's atfork handler takes it), but a process that
 * another thread creates without fork() inside that window (posix_spawn,
 * or a cph_spawn already past its preparation) inherits the send right.
 * It cannot check in (the pid check refuses it), but while it, or a
 * process it created, holds the right, the no-senders notification
 * waits, and the outcome comes from the child's check-in or exit. A
 * nameless cph_spawn with attrp NULL that finds its slot taken meanwhile
 * fails with EAGAIN. cph's other calls (spawns, waits, the server
 * thread) wait for that window to end, since it holds the lock.
 *
 * The deliveries side by side (the windows as "the channel" says):
 *                     direct             pid-bound          nameless
 *  systems            Linux, default     Linux and macOS    macOS, default
 *  CPH_HANDSHAKE      d:<fd>:<inode>:    p:<fd>:<inode>:    n:<slot>:<pid>
 *                     <pid>              <pid>:<service>
 *  needs              a socketpair       a pipe, a token,   a port, a free
 *                                        a public name      registered-port
 *                                        (macOS: the rule   slot (else:
 *                                        mach-register)     pid-bound)
 *  who takes them     the first process  the spawned pid    the spawned pid
 *                     to read them from  with the token
 *                     the socket
 *  window with        none               none (macOS: the   none (before
 *  attrp and                             socketpair until   macOS 10.15: as
 *  file_actions NULL                     it is CLOEXEC)     with attrp)
 *  window with the    file_actions: M,   file_actions: M,   attrp: the port,
 *  caller's objects   to forks, spawns   to forks, spawns   to spawns only
 *  what inherits it   can take the       can read the       cannot check in;
 *                     handles            token; cannot      holds the right
 *                                        check in
 *  exec-ing wrapper   works              works              works
 *  forking wrapper    works              refused            refused
 *
 * posix_spawn's twin. With no attachments, cph_spawn is posix_spawn.
 * Otherwise it takes the same arguments, modifies none of the objects they
 * point to, is no cancellation point, leaves errno as posix_spawn leaves
 * it in the same situation (glibc's changes it at times even on success,
 * and leaves the error there on failure; cph's own calls around it change
 * nothing, and a failure of cph's own before it leaves its error there),
 * returns what posix_spawn returns when the spawn fails, and then leaves
 * nothing behind: libcph's thread starts before posix_spawn, so that a
 * thread that cannot start fails the spawn (EAGAIN, ENOMEM) instead of
 * every outcome, and ends again when the spawn fails before any child
 * needs it; its epoll set and the pid-bound server start with the first
 * child that exists (on macOS the server, its kqueue, port set and thread,
 * starts before the first pid-bound or nameless posix_spawn and stays even
 * if that spawn fails, and so does the service name and its port that the
 * first pid-bound spawn adds). It differs where the channel costs
 * something: it needs free fds in the parent (direct 3, pid-bound 4, and
 * on the first pid-bound spawn one more for the server; nameless none for
 * its channel, a port, and on the first nameless spawn one for the
 * server's kqueue; pid-bound and nameless spawns also duplicate every
 * attached fd; libcph's thread takes one more where it runs, and the quiet
 * set one more once a child has been sent its handles), where posix_spawn
 * needs none: without them it fails with EMFILE. glibc's and musl's own
 * posix_spawn tests pass through it but for that one (glibc's tst-spawn3,
 * which fills the fd table first).
 *
 * Every public function is thread-safe. A process that forks after using
 * cph gets a clean state in the forked child (handlers registered with
 * pthread_atfork close every fd cph held there) and may use cph again.
 * libcph starts one thread of its own, with all signals blocked, only
 * where one is needed: for the pid-bound or nameless server, and for lists
 * that expect keys back (it reads the gives). The direct delivery of a
 * list that expects nothing never makes its caller multithreaded: its
 * outcomes are collected by whoever asks.
 */
/*
 * GIVING BACK (child to parent; every delivery, both systems)
 *
 * The other direction of Crashpad's ChildPortHandshake: a child, such
 * as a crash handler that creates its own server end, gives its parent
 * a handle. The parent names the keys it will accept with
 * cph_attachments_expect(); the child gives with cph_child_give_fd()
 * or, on macOS, cph_child_give_port() (<cph/child.h>) at any time after
 * main() starts; the parent takes with cph_take_fd() or cph_take_port().
 *
 *  1. The expected keys travel to the child with the handles, as entries
 *     without a handle. A child knows what its parent will accept.
 *  2. The child gives on a channel only it holds: the direct delivery's
 *     socketpair end (it stays open, close-on-exec, after the check-in;
 *     no name reaches it), or under the pid-bound delivery the check-in's
 *     own connection, which proved the token and the pid (a connection
 *     from any other process is refused as before). The child
 *     acknowledges the check-in on it once it has accepted every handle;
 *     that ack, and nothing else, is the outcome 0. A child whose parent
 *     is already gone keeps its handles (cph_child_status() 0); its
 *     gives say EPIPE.
 *  3. Each give is one message: the key and the fd by SCM_RIGHTS (the
 *     kernel duplicates the fd, the child keeps its own). The parent's
 *     core accepts a key it expected, once: a give under any other key,
 *     or a second give under the same key, is refused and its fd closed.
 *     A child cannot make its parent hold more fds than the list expected,
 *     nor keep libcph's thread from its siblings: a channel is read at
 *     most 32 messages at a time.
 *  4. Given fds wait in the parent until taken. The channel ends when
 *     the child closes it or exits (read to the end first); keys not
 *     given then answer ECONNABORTED at once. A process the child forked
 *     shares the channel while the child lives (its gives count as the
 *     child's, each key still once); after the child exited it finds the
 *     channel closed. A child whose parent died gets EPIPE, at once.
 *
 * On macOS the channel is a port. When a check-in's list expects keys,
 * the server makes a receive right for that child, its give port, and
 * puts a send right to it in the reply (after the handles, before the
 * expected keys). The child keeps that send right (it is not passed on
 * by fork) and gives by sending to it one message per handle: one port
 * descriptor with the disposition the child chose (fds as fileports),
 * and the key. The parent takes a give only from the checked-in process
 * itself: the message's audit trailer must carry the pid and pid version
 * of the check-in's, so that a right the child passed on gives nothing.
 * A give that is malformed, or from anyone else, is destroyed with its
 * rights; one under a key not expected, or given already, is released by
 * the core. The channel ends when the child exits (what it sent before
 * is read first) or when the give port has no senders left (the child's
 * send right went away); the port is then destroyed. A process the child
 * forked cannot give (ENOENT).
 *
 * Bounds and release. Per child spawned with expected keys the parent
 * keeps, while the child lives, its give channel: under the direct
 * delivery 3 fds until the check-in (the channel's two ends and a pidfd; a
 * list without expected keys costs 1) and 2 until the child exits; under
 * the pid-bound delivery what the check-in costs today, then 2 (the
 * connection and a pidfd) until it exits (on macOS, pid-bound or nameless:
 * one port and the exit watch); plus at most one fd or right per expected
 * key, given and not yet taken. After the child can no longer give, what
 * nobody took stays for cph_take_fd(), for the last 128 such children:
 * past that the oldest entry is released and its fds closed (then ESRCH).
 * A new child with the same pid replaces an older entry.
 */
#ifndef CPH_SPAWN_H
#define CPH_SPAWN_H

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

#include <cph/public.h>

#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
#include <mach/message.h>
#include <mach/port.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A list of keyed handles to hand to children. Keys are 1 to 64 bytes of
 * [A-Za-z0-9._-]. A list is not modified by cph_spawn() and can serve any
 * number of spawns, from any number of threads, as long as no thread adds
 * to or destroys it at the same time.
 */
typedef struct cph_attachments cph_attachments_t;

/*
 * Creates an empty list in *list.
 * Returns 0, EINVAL (list is NULL) or ENOMEM.
 */
CPH_PUBLIC int cph_attachments_init(cph_attachments_t **list);

/*
 * How a list's handles travel (see THE PROTOCOL above). A new list has
 * the system's default:
 *   CPH_DELIVERY_DIRECT     Linux, the default there: queued before
 *                           posix_spawn in a socketpair the child
 *                           inherits; no server, no name.
 *   CPH_DELIVERY_PID_BOUND  Linux and macOS: the rendezvous, a token on
 *                           an inherited pipe and a named service that
 *                           serves only the spawned pid.
 *   CPH_DELIVERY_NAMELESS   macOS, the default there: the rendezvous's
 *                           server reached through a port the child
 *                           inherits in its registered ports; no name,
 *                           no token, serves only the spawned pid. A
 *                           spawn that finds none of the parent's three
 *                           registered-port slots free is pid-bound.
 */
#define CPH_DELIVERY_DIRECT 1
#define CPH_DELIVERY_PID_BOUND 2
#define CPH_DELIVERY_NAMELESS 3

/*
 * Chooses how children spawned with list receive its handles.
 * Returns 0, or:
 *   EINVAL   list is NULL or delivery is not one of the above;
 *   ENOTSUP  this OS does not carry that delivery (direct on macOS,
 *            nameless on Linux).
 */
CPH_PUBLIC int cph_attachments_set_delivery(cph_attachments_t *list,
                                            int delivery);

/*
 * Destroys a list and closes the duplicates it holds. Children already
 * spawned with it are not affected: their handles are already in flight
 * in their channel (direct) or held by their spawn (pid-bound,
 * nameless). NULL is allowed.
 */
CPH_PUBLIC void cph_attachments_destroy(cph_attachments_t *list);

/*
 * Adds fd under key. The list keeps its own close-on-exec duplicate, so the
 * caller may close fd at once. Each child receives its own duplicate of
 * the same open file description.
 * Returns 0, or:
 *   EINVAL  list is NULL or key is not 1 to 64 bytes of [A-Za-z0-9._-];
 *   EEXIST  key is already in the list;
 *   EBADF   fd is not an open file descriptor;
 *   EINVAL  also: the OS cannot hand fd over (macOS: fds that
 *           fileport_makeport refuses, such as kqueues and POSIX
 *           semaphores; and any fd while this task's Mach name space
 *           is full, which xnu reports so);
 *   EMFILE, ENFILE, ENOMEM  out of resources (macOS: ENOMEM also when no
 *           fileport could be made).
 * macOS: an fd guarded against fileports (GUARD_FILEPORT) raises a guard
 * exception in the caller instead; do not add one.
 * On error the list is unchanged.
 */
CPH_PUBLIC int cph_attachments_add_fd(cph_attachments_t *list, const char *key, int fd);

/*
 * Lets children spawned with list give one handle back under key (see
 * GIVING BACK below). Expected keys are their own namespace: a key may
 * be both attached and expected.
 * Returns 0, or:
 *   EINVAL  list is NULL or key is not 1 to 64 bytes of [A-Za-z0-9._-];
 *   EEXIST  key is already expected;
 *   ENOMEM  out of memory.
 * On error the list is unchanged.
 */
CPH_PUBLIC int cph_attachments_expect(cph_attachments_t *list,
                                      const char *key);

/*
 * PLACEMENT, for a program that does not link libcph_child: a FastCGI
 * application reading fd 0, a systemd-style server reading fds 3 and up,
 * a client reading an fd number from a variable (WAYLAND_SOCKET). A list
 * with any placement spawns cph's adapter, cph-place (installed in
 * libexecdir), in the child's stead: posix_spawn runs it with the
 * caller's file actions, attributes and envp; in the same process it
 * checks in as a linked child would, puts each fd where the list says,
 * and execs path (as found by cph_spawn or cph_spawnp, before the spawn)
 * with argv. The program keeps the pid and what the file actions, the
 * attributes and the environment gave it; it also has its placed fds,
 * inheritable (and nothing else of cph's: the adapter's own fds are
 * close-on-exec), and the variables the placements set; CPH_HANDSHAKE is
 * gone. The outcome (cph_checkin_wait) is the adapter's check-in: 0 when
 * it took every handle. If the exec of path fails in the adapter anyway
 * (ENOEXEC, E2BIG, a file replaced in between), the child exits with 127
 * (ENOENT) or 126 (anything else) after a line naming the program on its
 * stderr, as a shell does; it exits 126 too, after a line naming the key,
 * if it cannot place a handle (a number past the child's RLIMIT_NOFILE).
 * With the caller's file actions, which may change the child's
 * directory, a relative path (and, for cph_spawnp, a match in a relative
 * PATH entry) is not checked before the spawn.
 * A spawn with placements fails with EINVAL when the list expects keys
 * (the program cannot give them), holds a Mach port, or holds an fd
 * placed nowhere without the systemd layout; and with the layout, when a
 * placement takes one of its numbers or variables (LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES), or fdnames has more names than it has fds.
 * A list that attaches nothing is posix_spawn exactly, placements or not.
 */

/*
 * Places key's fd at fd number fd in the program. One key may be placed
 * at several numbers (an inetd-style socket on fds 0 and 1).
 * Returns 0, or:
 *   EINVAL  list is NULL, key is not a valid key, or key is a port;
 *   ENOENT  list has no key;
 *   EBADF   fd is negative or not below getdtablesize(), as
 *           posix_spawn_file_actions_adddup2 checks it;
 *   EEXIST  another placement already takes fd;
 *   ENOMEM  out of memory.
 * On error the list is unchanged.
 */
CPH_PUBLIC int cph_attachments_place_fd(cph_attachments_t *list,
                                        const char *key, int fd);

/*
 * Places key's fd at a number the adapter picks, above every other
 * placement, and sets variable var to that number (decimal) in the
 * program's environment.
 * Returns 0, or:
 *   EINVAL  list is NULL, key is not a valid key or is a port, or var is
 *           not a variable name ([A-Za-z_][A-Za-z0-9_]*);
 *   ENOENT  list has no key;
 *   EEXIST  another placement already sets var;
 *   ENOMEM  out of memory.
 * On error the list is unchanged.
 */
CPH_PUBLIC int cph_attachments_place_env(cph_attachments_t *list,
                                         const char *key, const char *var);

/* cph_attachments_place_systemd: no LISTEN_PID. */
#define CPH_SYSTEMD_NO_PID 1

/*
 * Places every fd no other placement names as systemd socket activation
 * does (sd_listen_fds(3)): at 3, 4, ... in the order they were added,
 * with LISTEN_FDS (their count), LISTEN_PID (the program's pid; none
 * with CPH_SYSTEMD_NO_PID, for a program that forks before it reads
 * them) and LISTEN_FDNAMES (their keys; fdnames, "NAME[:NAME]...",
 * replaces the first ones, NULL keeps the keys). Calling it again
 * replaces fdnames and flags.
 * Returns 0, or:
 *   EINVAL  list is NULL, flags has a bit other than CPH_SYSTEMD_NO_PID,
 *           or a name in fdnames is longer than 255 bytes or holds a
 *           byte that is not printable ASCII;
 *   ENOMEM  out of memory.
 * On error the list is unchanged.
 */
CPH_PUBLIC int cph_attachments_place_systemd(cph_attachments_t *list,
                                             const char *fdnames, int flags);

/*
 * The adapter spawns with list's placements run, instead of the one
 * installed with cph (a build tree, a relocated installation). path is
 * copied; it is run as posix_spawn runs a path, and must be cph-place of
 * this version of cph.
 * Returns 0, or EINVAL (list is NULL, path is NULL or empty) or ENOMEM.
 */
CPH_PUBLIC int cph_attachments_set_adapter(cph_attachments_t *list,
                                           const char *path);

/*
 * Takes the fd child pid gave back under key, waiting for at most
 * timeout_ms milliseconds (0 polls, a negative value waits without
 * limit). On success *fd is the caller's, close-on-exec: a duplicate of
 * the fd the child gave (the same open file description).
 * Returns 0, or:
 *   EINVAL        key is not a valid key, or fd is NULL;
 *   ESRCH         cph spawned no child pid with expected keys, or its
 *                 entry was released (see below);
 *   ENOENT        pid's list did not expect key;
 *   EALREADY      the handle given under key was already taken (each
 *                 given handle is taken once);
 *   ETIMEDOUT     not given yet;
 *   ECONNABORTED  the child can no longer give and did not give key: it
 *                 exited, closed its give channel, or never checked in.
 *                 Answered as soon as libcph's thread learns it, not at
 *                 the end of the timeout.
 * Not a cancellation point; leaves errno alone.
 */
CPH_PUBLIC int cph_take_fd(pid_t pid, const char *key, int timeout_ms,
                           int *fd);

/*
 * posix_spawn(3) that also hands attachments to the child.
 *
 * pid, path, file_actions, attrp, argv and envp are as for posix_spawn;
 * none of the objects they point to is modified. With attachments NULL, or
 * a list that neither attaches nor expects anything, this is posix_spawn
 * exactly: same arguments, no CPH_HANDSHAKE. A list that only expects
 * keys runs the whole handshake.
 * Otherwise the child's environment is envp (an empty one if envp is NULL)
 * with CPH_HANDSHAKE set, and the channel is added as described above
 * (direct, pid-bound: an fd; nameless: a registered port).
 *
 * On Linux with glibc (x86_64, aarch64), a spawn with file_actions and
 * attrp NULL runs on cph's own spawner, which does what glibc's
 * posix_spawn does for it (clone with CLONE_VM, CLONE_VFORK and
 * CLONE_PIDFD; a child that ignores glibc's internal signals, resets
 * every handler, restores the mask and execs), with fewer system calls
 * and the child's pidfd for free; posix_spawn on a kernel before 5.2 and
 * when no fd is free for the pidfd.
 * cph_spawn returns as soon as posix_spawn has; the outcome is watched by
 * libcph's own thread (pid-bound, nameless, keys expected back) or
 * collected when asked (direct). Use cph_checkin_wait() to learn how it
 * ended.
 * A pending child costs the parent: direct, one fd (its copy of the
 * child's end), the record (about 100 bytes), and the attached fds in
 * flight, which Linux counts per user against RLIMIT_NOFILE; pid-bound,
 * a pipe, a pidfd (macOS: an exit watch in the server's kqueue) and a
 * duplicate of every attached fd until the check-in has been served,
 * then on Linux one fd (the connection) and the record; nameless, the
 * record, a port, an exit watch and a duplicate of every attached fd
 * until the check-in has been served.
 * On Linux a child that took its handles keeps its one fd and record
 * until the parent collects them, many at a time and without waking
 * anyone: at the next cph_checkin_wait, when 64 of them wait (at the next
 * spawn), or at a spawn that runs short of fds.
 *
 * Returns 0 or an errno value, like posix_spawn:
 *   EINVAL  attrp has POSIX_SPAWN_SETEXEC (macOS), or attachments are
 *           unusable (see cph_attachments_add_port on macOS, and
 *           PLACEMENT above);
 *   ENOENT, EACCES, ENOTDIR, ...  with placements: path (or file, along
 *           PATH) cannot be run, found before the spawn; also ENOENT
 *           when the adapter is missing (cph_attachments_set_adapter);
 *   EMFILE  out of fds, or (direct) the fds in flight to children that
 *           have not taken them yet would exceed RLIMIT_NOFILE (Linux
 *           counts them per user);
 *   ENOBUFS (direct) the list does not fit in a socket buffer even at
 *           net.core.wmem_max;
 *   EPERM   macOS, pid-bound: the sandbox denies registering the
 *           bootstrap service (the rule "mach-register" is needed; the
 *           nameless delivery needs none);
 *   EADDRINUSE  macOS, pid-bound: the bootstrap server says the service
 *           name is taken;
 *   ENXIO   macOS, pid-bound: the bootstrap server cannot be used (no
 *           bootstrap port, or launchd knows no job for this process):
 *           retrying will not help;
 *   EAGAIN  macOS also: out of Mach resources, or (nameless) the
 *           registered-port slot chosen for the child was taken before
 *           posix_spawn (by another thread's window, see "the channel",
 *           or by the caller's own mach_ports_register);
 *   EIO     macOS, nameless: the kernel refused, for a reason other
 *           than resources, a Mach call that prepares the child's port
 *           (mach_ports_lookup or mach_ports_register of the parent's
 *           own set, the port's set-up);
 *   any error of posix_spawn, socket, pipe or thread creation (ENOENT,
 *   EACCES, ENFILE, ENOMEM, EAGAIN, ...).
 * On error no child exists and everything cph made for the spawn is
 * released; *pid is left unchanged.
 */
CPH_PUBLIC int cph_spawn(pid_t *pid, const char *path,
              const posix_spawn_file_actions_t *file_actions,
              const posix_spawnattr_t *attrp,
              char *const argv[], char *const envp[],
              const cph_attachments_t *attachments);

/*
 * As cph_spawn, with posix_spawnp's search of PATH for file.
 */
CPH_PUBLIC int cph_spawnp(pid_t *pid, const char *file,
               const posix_spawn_file_actions_t *file_actions,
               const posix_spawnattr_t *attrp,
               char *const argv[], char *const envp[],
               const cph_attachments_t *attachments);

/*
 * Waits until the handshake with child pid has ended, for at most
 * timeout_ms milliseconds (0 polls, a negative value waits without limit).
 * Returns:
 *   0             the child checked in and every handle was handed over.
 *                 On macOS: the reply holding them was queued to the
 *                 child's reply right. A child that died in between still
 *                 gets 0: the kernel destroys a message sent to a dead
 *                 port and reports success;
 *   ETIMEDOUT     still pending;
 *   ENOTCONN      the child went away (exited, or, pid-bound, closed its
 *                 pipe, or, nameless, let its right to the port go, as
 *                 did every process that inherited it) before it checked
 *                 in: direct, it never read its channel; pid-bound and
 *                 nameless, no check-in of its reached the parent. This
 *                 is what a program that does not link libcph_child does
 *                 (and one whose constructor did not run, or whose file
 *                 actions closed the channel). Direct, when cph could not
 *                 watch the child by a pidfd (Linux before 5.3, a seccomp
 *                 filter) it cannot tell this case from ECONNABORTED and
 *                 says ECONNABORTED. Everything held for it is released;
 *   ECONNABORTED  the child began to check in, then went away or gave up
 *                 without taking its handles; everything held for it is
 *                 released;
 *   EACCES        direct: the handles were taken, but not by the spawned
 *                 process or a descendant of it (see THE PROTOCOL, 5):
 *                 another process held a copy of the child's end (the
 *                 window with caller file actions, pidfd_getfd); the
 *                 child finds the channel empty (ECONNRESET);
 *   EIO           the parent could not hand the handles over or watch the
 *                 child (out of resources, or the kernel refused a
 *                 handle); everything held for it is released (on macOS
 *                 the child got none);
 *   ESRCH         cph knows nothing of pid: it was not spawned with
 *                 attachments, or its outcome is too old. The last 1024
 *                 outcomes are kept, whether or not anybody waits for
 *                 them; a newer child spawned by cph with the same pid
 *                 replaces an older one's outcome.
 * The outcome stays readable; calling again returns it again. The
 * outcome of a child that exits is recorded a moment after the exit
 * (direct: by the caller itself, which collects what is ready first):
 * right after waitpid, a timeout of 0 may still say ETIMEDOUT.
 * Only the threads waiting for pid are woken. Not a cancellation point:
 * a pending cancellation is acted on at the caller's next one.
 */
CPH_PUBLIC int cph_checkin_wait(pid_t pid, int timeout_ms);

/*
 * For parents that cannot block (an event loop: libuv, GLib, tokio,
 * asyncio): an fd that polls readable when cph has news about child pid,
 * so that cph_checkin_wait(pid, 0) and cph_take_fd(pid, key, 0, ...)
 * answer at once instead of ETIMEDOUT. On success *fd is the caller's,
 * close-on-exec and non-blocking: watch it for input (POLLIN, EPOLLIN,
 * UV_READABLE, G_IO_IN), never read from it, close it when done. Each
 * call returns a new fd; all of them watch the same news.
 *
 * The fd polls readable (POLLIN):
 *   - while pid's outcome is known and cph_checkin_wait() has not
 *     returned it yet (once it has, that news is told);
 *   - while a handle pid gave back waits to be taken (cph_take_fd,
 *     cph_take_port: each take is one less).
 * It hangs up (POLLHUP, and read() would say end-of-file) once cph has
 * nothing more to say: the outcome was returned, and pid can give no
 * more with nothing left to take (keys it never gave now answer
 * ECONNABORTED). It also hangs up when cph forgets pid (its outcome and
 * given-back handles released as cph_checkin_wait and cph_take_fd
 * describe, or a new child under the same pid). So on each wake-up:
 * call cph_checkin_wait(pid, 0), take what you wait for with a timeout
 * of 0, and on POLLHUP close the fd.
 *
 * Cost: the first call for pid makes a pipe that cph keeps until it
 * hangs up (2 fds). On Linux, while the outcome of a child without
 * expected keys is pending, libcph's thread (started if need be) collects
 * the outcomes of such children as they come, which otherwise wait for
 * whoever asks (see cph_spawn): a thread wake-up per child that checks
 * in. Works under every delivery, on Linux and macOS.
 *
 * Returns 0, or:
 *   EINVAL  fd is NULL;
 *   ESRCH   cph knows nothing of pid (as cph_checkin_wait and
 *           cph_take_fd both would say);
 *   EMFILE, ENFILE, ENOMEM  out of resources;
 *   EAGAIN  Linux: libcph's thread could not start.
 * Not a cancellation point; leaves errno alone.
 */
CPH_PUBLIC int cph_child_pollfd(pid_t pid, int *fd);

/*
 * Linux: a pidfd of child pid (see pidfd_open(2)) in *fd, the caller's,
 * close-on-exec: it polls readable once pid has exited, to be watched
 * with the fd of cph_child_pollfd() in the same loop (and waitid(P_PIDFD)
 * reaps through it). cph never reaps: call this before you reap pid
 * (waitpid, SIGCHLD set to SIG_IGN), as cph_spawn takes its own. Until
 * then pid names the child, even after it has exited, and the pidfd is
 * the child's; once reaped, the number may name another process, which
 * neither cph nor pidfd_open can tell.
 * Returns 0, or:
 *   EINVAL  fd is NULL;
 *   ESRCH   cph knows nothing of pid, or no process pid exists (reaped);
 *   ENOTSUP macOS, which has no pidfds (a kqueue's EVFILT_PROC watches
 *           a pid there);
 *   ENOSYS  Linux older than 5.3;
 *   EMFILE, ENFILE, ENOMEM  out of resources.
 * Leaves errno alone.
 */
CPH_PUBLIC int cph_child_pidfd(pid_t pid, int *fd);

#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
/*
 * macOS: adds a Mach port right under key. disposition says which right
 * the child receives and who owns what:
 *
 *   MACH_MSG_TYPE_COPY_SEND       the child gets a send right copied from
 *   MACH_MSG_TYPE_MAKE_SEND       port (a send right) / made from port (a
 *   MACH_MSG_TYPE_MAKE_SEND_ONCE  receive right) / a send-once right made
 *                                 from port, when it checks in. The list
 *                                 owns nothing: the caller must keep its
 *                                 right until cph_checkin_wait() has
 *                                 answered for every child spawned with it.
 *                                 Every spawn with the list hands out one.
 *   MACH_MSG_TYPE_MOVE_SEND       the list takes one reference of the
 *   MACH_MSG_TYPE_MOVE_SEND_ONCE  caller's right at once (the caller must
 *   MACH_MSG_TYPE_MOVE_RECEIVE    not use or release it any more). It goes
 *                                 to one child only: the first spawn with
 *                                 the list takes it; a later spawn with the
 *                                 same list fails with EINVAL. If that spawn
 *                                 fails, or its child never claims it, the
 *                                 right is destroyed. Destroying a list
 *                                 that still holds it destroys it.
 *
 * Returns 0, or EINVAL (bad key, port MACH_PORT_NULL or dead, unknown
 * disposition, the caller holds no such right, or MOVE_RECEIVE of a
 * receive right xnu will not move or cph could not destroy: a kernel
 * object's such as an mk_timer port, or one guarded or made immovable
 * with mach_port_construct), EEXIST (duplicate key), ENOMEM. On error the
 * list is unchanged and owns nothing new.
 *
 * Some rights pass this check and still cannot travel, because nothing
 * tells them apart from here: xnu refuses them when the child checks in,
 * with a guard exception in the parent's server thread (fatal for
 * MOVE_RECEIVE), and that child's outcome is EIO. Do not attach a reply
 * port (MPO_REPLY_PORT) or a thread's special reply port in any
 * disposition, nor COPY_SEND or MOVE_SEND of an immovable send right (a
 * task or thread control port where the system makes them immovable).
 */
CPH_PUBLIC int cph_attachments_add_port(cph_attachments_t *list, const char *key,
                             mach_port_t port,
                             mach_msg_type_name_t disposition);

/*
 * macOS: takes the right child pid gave back under key with
 * cph_child_give_port(), as cph_take_fd() takes an fd: the same waiting
 * and the same errors (and EINVAL for port NULL). On success *port is
 * the caller's right, of the kind the child's disposition made: a send
 * right (COPY_SEND, MAKE_SEND, MOVE_SEND), a send-once right
 * (MAKE_SEND_ONCE, MOVE_SEND_ONCE) or a receive right (MOVE_RECEIVE),
 * one user reference; MACH_PORT_DEAD for a send or send-once right whose
 * port died on the way. An fd given under key answers ENOENT (take it
 * with cph_take_fd) and stays.
 */
CPH_PUBLIC int cph_take_port(pid_t pid, const char *key, int timeout_ms,
                             mach_port_t *port);
#endif

#ifdef __cplusplus
}
#endif

#endif
