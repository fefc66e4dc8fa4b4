/*
 * cph/child.h — the child side of cph: take the handles a parent attached
 * with cph_spawn() (see <cph/spawn.h> for the whole protocol).
 *
 * Link the child program with libcph_child. Its constructor runs before
 * main() and does the whole check-in:
 *
 *   - reads CPH_HANDSHAKE and unsets it at once, whatever happens next, so
 *     that no grandchild sees it; without it there is nothing to do;
 *   - direct and pid-bound: checks that the fd it names is the channel
 *     the parent made (its inode, and what the OS tells of its kind: on
 *     Linux also its maker) and is not 0, 1 or 2; any other fd is left
 *     alone;
 *   - direct delivery (Linux): reads every handle queued in the inherited
 *     socket and closes it;
 *   - pid-bound delivery: checks that its parent (getppid()) is still the
 *     pid that serves the name, reads the 16-byte token from the pipe,
 *     connects to the parent's service (Linux: abstract Unix socket;
 *     macOS: bootstrap_look_up), sends the token, closes the pipe, and
 *     receives every handle with its key. The service must belong to its
 *     parent: on Linux this is checked before the token is sent, on macOS
 *     on the reply's audit trailer;
 *   - nameless delivery (macOS): takes the send right from the
 *     registered-port slot CPH_HANDSHAKE names and clears the slot (so
 *     that no process it creates inherits it), checks that its parent
 *     (getppid()) is still the pid that made it, sends its check-in on
 *     it, and receives every handle with its key; the reply's audit
 *     trailer must name its parent.
 *
 * When the parent expects handles back (cph_attachments_expect), the
 * constructor also keeps the channel the handles came on as its give
 * channel (close-on-exec; one fd for the life of the process): under the
 * direct delivery the inherited socketpair end, under the pid-bound
 * delivery the check-in's connection, on which it acknowledges the
 * check-in (a parent already gone misses the ack, and the check-in still
 * succeeds); on macOS, pid-bound or nameless, a send right to the give
 * port the parent sent with the reply (one port name for the life of the
 * process). cph_child_give_fd() sends on it; see GIVING BACK in
 * <cph/spawn.h>.
 *
 * The constructor never aborts, exits, prints or raises a signal, and
 * leaves errno as it found it. Its whole wait is bounded by
 * CPH_CHILD_TIMEOUT_MS. A pid-bound or nameless parent already gone
 * (getppid() is not the pid CPH_HANDSHAKE names) is noticed before
 * anything is sent, and main() starts at once. If the parent dies
 * mid-handshake: on Linux the channel or connection breaks and main()
 * starts at once. On macOS a request queued to the parent is destroyed
 * when the kernel tears the dead parent's ports down, and the child learns
 * of it then (ECONNRESET); pid-bound, launchd keeps the dead parent's name
 * resolvable for a while and that teardown can come later, so at worst the
 * child waits out the bound. If the parent is alive but never answers,
 * main() starts after the bound. Either way cph_child_status() tells why.
 *
 * With a static libcph_child, the constructor is linked only if the
 * program calls one of the functions below (they live in the same object).
 * A shared libcph_child is kept by --as-needed only for the same reason.
 *
 * Received fds have FD_CLOEXEC set. Handles nobody takes stay open (fds)
 * or held (rights) for the life of the process. All functions here are
 * thread-safe.
 */
#ifndef CPH_CHILD_H
#define CPH_CHILD_H

#include <stddef.h>

#include <cph/public.h>

#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
#include <mach/message.h>
#include <mach/port.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The most the constructor waits for its parent, in milliseconds. */
#define CPH_CHILD_TIMEOUT_MS 5000

/*
 * How the check-in went:
 *   0             checked in; every handle was received;
 *   ENOENT        not launched by cph_spawn (no CPH_HANDSHAKE);
 *   EINVAL        CPH_HANDSHAKE is malformed;
 *   EBADF         the fd CPH_HANDSHAKE names is not the channel it says
 *                 (left alone: not read, not closed); nameless: the
 *                 registered-port slot it names holds no port (a value
 *                 inherited from an earlier process);
 *   EPROTO        the pipe or the parent's reply broke the protocol (a
 *                 malformed reply, a key sent twice, ...);
 *   ECONNREFUSED  pid-bound, nameless: the parent's service (nameless: its
 *                 port) is gone or is not this process's parent (the
 *                 parent exited before the check-in, a wrapper forked
 *                 this process, or the name cannot be looked up);
 *   ECONNRESET    the parent closed the channel or the check-in before
 *                 every handle came: it refused it, it died
 *                 mid-handshake, or (macOS) it could not hand the
 *                 handles over (its outcome is EIO);
 *   EPERM         the service does not belong to this process's parent
 *                 (macOS: the reply's audit trailer names another pid);
 *   EIO           nameless: the slot could not be cleared
 *                 (mach_ports_register failed); the right is let go;
 *   ETIMEDOUT     no answer within CPH_CHILD_TIMEOUT_MS;
 *   ENOMEM, EMFILE, ENFILE  out of resources while receiving or after.
 *                 On Linux the parent then learns that the handles did
 *                 not arrive (its outcome is 0 only when this is 0); K
 *                 handles need K free fds in the child, under either
 *                 delivery. On macOS its outcome is already 0 (the reply
 *                 was queued), and ENOMEM also says that the reply's
 *                 rights did not fit in this process's port name space.
 * On any error no handle is kept: whatever had arrived is closed.
 */
CPH_PUBLIC int cph_child_status(void);

/*
 * Number of handles received (keys the parent expects back are not
 * handles and are not counted). Taking a handle does not change it, nor
 * anybody's index, so this loop takes every fd:
 *
 *   for (size_t i = 0; i < cph_child_count(); i++)
 *       use(cph_child_take_fd(cph_child_key(i)));
 */
CPH_PUBLIC size_t cph_child_count(void);

/*
 * The key of the index-th handle received (0 <= index < count), in the
 * order the parent added them (except that on macOS the rights the parent
 * moved, MOVE_SEND_ONCE and MOVE_RECEIVE, come after all others), whether
 * or not it was taken; NULL past the end. The string stays valid for the
 * life of the process.
 */
CPH_PUBLIC const char *cph_child_key(size_t index);

/*
 * Takes the fd received under key. Each key can be taken once; the caller
 * owns the fd (FD_CLOEXEC set). Returns -1 with errno ENOENT when there is
 * no fd under key (never sent, already taken, or a port right), EINVAL when
 * key is NULL.
 */
CPH_PUBLIC int cph_child_take_fd(const char *key);

/*
 * Gives fd back to the parent under key, which the parent expected
 * (cph_attachments_expect; see GIVING BACK in <cph/spawn.h>). The parent
 * receives a duplicate of fd (the same open file description); the
 * caller keeps fd and still owns it. Callable from any thread, at any
 * time after main() starts. One message is sent on the child's give
 * channel; when the parent's queue is full, waits for room for at most
 * CPH_CHILD_TIMEOUT_MS (gives from several threads are sent one at a
 * time, each with its own bound). Each key can be given once.
 * Returns 0 (the parent has it queued), or:
 *   EINVAL     key is NULL or not 1 to 64 bytes of [A-Za-z0-9._-];
 *   EBADF      fd is not an open file descriptor;
 *   ENOENT     not launched by cph_spawn, the check-in failed, or the
 *              parent does not expect key;
 *   EEXIST     key was already given;
 *   EPIPE      the parent is gone (or no longer reads this channel);
 *   ETIMEDOUT  no room within CPH_CHILD_TIMEOUT_MS;
 *   EMFILE     the parent's user has too many fds in flight;
 *   ENOMEM, ENOBUFS  out of kernel memory for the message.
 *   EINVAL     also (macOS): the fd cannot travel (fileport_makeport
 *              refuses it: a kqueue, a POSIX semaphore).
 * The give channel is close-on-exec; a process forked from the child
 * shares it, and gives from either count once per key (on macOS a
 * forked process cannot give: ENOENT). A fork() while another thread
 * gives waits for that give to end.
 */
CPH_PUBLIC int cph_child_give_fd(const char *key, int fd);

#if defined(__APPLE__) || defined(CPH_SIMULATED_MACH)
/*
 * macOS: takes the send or send-once right received under key; the caller
 * owns it (one user reference). MACH_PORT_NULL when there is none (never
 * sent, already taken, or not a send/send-once right), and for a right
 * whose port died before it arrived (the kernel delivers it as
 * MACH_PORT_DEAD, which names nothing; the key is listed until taken).
 */
CPH_PUBLIC mach_port_t cph_child_take_send_right(const char *key);

/*
 * macOS: takes the receive right received under key; the caller owns it.
 * MACH_PORT_NULL when there is none.
 */
CPH_PUBLIC mach_port_t cph_child_take_receive_right(const char *key);

/*
 * macOS: gives the parent a Mach port right under key, which the parent
 * expected, as cph_child_give_fd() gives an fd (the same channel, bound
 * and threads). disposition is one that cph_attachments_add_port()
 * accepts and says what the parent gets and what the caller keeps:
 *
 *   MACH_MSG_TYPE_COPY_SEND       a send right copied from port (a send
 *   MACH_MSG_TYPE_MAKE_SEND       right) / made from port (a receive right;
 *   MACH_MSG_TYPE_MAKE_SEND_ONCE  Crashpad's handler gives its exception
 *                                 port so) / a send-once right made from
 *                                 port. The caller keeps its right either
 *                                 way.
 *   MACH_MSG_TYPE_MOVE_SEND       one reference of the caller's send right,
 *   MACH_MSG_TYPE_MOVE_SEND_ONCE  its send-once right, its receive right
 *   MACH_MSG_TYPE_MOVE_RECEIVE    (the port then queues for the parent).
 *                                 On success it has left the caller (the
 *                                 name no longer holds it); on failure it
 *                                 is still the caller's under its name
 *                                 (after ETIMEDOUT a moved send-once or
 *                                 receive right comes back through the
 *                                 kernel: should another thread have taken
 *                                 the name meanwhile, it is destroyed).
 *
 * A MAKE_SEND or MAKE_SEND_ONCE give that times out made its right
 * before it failed: the kernel hands it back and cph destroys it, which
 * sends port the notification a destroyed right sends (MACH_NOTIFY_SEND_ONCE,
 * or no-senders if the caller asked for it).
 * A receive right the kernel will not move (an mk_timer's or another
 * kernel object's, one guarded or made immovable with mach_port_construct)
 * is refused with EINVAL; a reply port (MPO_REPLY_PORT) cannot be told
 * apart and must not be given: xnu raises a guard exception in the
 * caller.
 *
 * Returns 0 (queued to the parent, or destroyed with the parent that died
 * at that moment), or:
 *   EINVAL     key is NULL or not 1 to 64 bytes of [A-Za-z0-9._-], the
 *              disposition is not one of the above, port is not valid, or
 *              the caller holds no such right;
 *   ENOENT     not launched by cph_spawn, the check-in failed, the
 *              parent does not expect key, or this process was forked
 *              from the child (it has none of the child's rights);
 *   EEXIST     key was already given;
 *   EPIPE      the parent is gone;
 *   ETIMEDOUT  the parent's queue stayed full for CPH_CHILD_TIMEOUT_MS;
 *   EINTR      a signal came while it waited for room, and the moved
 *              right could not come back under its name (see above: it
 *              is destroyed);
 *   ENOMEM     out of kernel buffers.
 */
CPH_PUBLIC int cph_child_give_port(const char *key, mach_port_t port,
                                   mach_msg_type_name_t disposition);
#endif

#ifdef __cplusplus
}
#endif

#endif
