/*
 * A child linked with libcph_child. d_child MODE [ARGS...] reports to the
 * fd it takes under "report":
 *
 *   receive    one message on the receive right "port": "received ID"
 *   send ID    message ID on the send or send-once right "port":
 *              "sent send|send-once KR"
 *   sendeach ID KEY...  the same on each right KEY
 *   loop ID    message ID on the send right "send", then one message on
 *              the receive right "recv": "sent send KR", "received ID"
 *   taken      what taking the send right "port" gave, and how many
 *              handles were received (taking changes neither count nor
 *              keys): "port null|dead|valid count N"
 *   fd KEY...  each fd KEY read to EOF: "KEY CONTENT cloexec 0|1"
 *   fdnums KEY...  whether "report", then each fd KEY, landed above
 *              stdio: "KEY high|low"
 *   keys [FD]  every key received, taken or not: "keys K..."; whether FD
 *              is open: "fd FD open|closed"
 *   orphan     (its parent died before the check-in) to stdout:
 *              "status ERRNO count N"
 *   slots      how many of its registered ports name a port (live or
 *              dead) once checked in, then the same in a process it
 *              forks: "slots N",
 *              "forked slots N"
 *
 * Giving back (the parent expects KEY):
 *   givesend KEY     a new receive right, given as MAKE_SEND (Crashpad's
 *                    handler), then one message on it: "gave ERR",
 *                    "received ID"
 *   giveonce KEY     the same with MAKE_SEND_ONCE
 *   givereceive KEY ID  a new receive right with a send right, the
 *                    receive right given as MOVE_RECEIVE, then message ID
 *                    on the send right: "gave ERR", "receive left|kept",
 *                    "sent send KR"
 *   giveerrors KEY   what each refusal leaves (ERR as numbers):
 *                    "unexpected ERR receive kept|left" (key nokey),
 *                    "given ERR receive kept|left" (KEY, MOVE_RECEIVE),
 *                    "again ERR" (KEY again), "bad ERR" (COPY_RECEIVE)
 *   giveimmovable KEY  MOVE_RECEIVE of receive rights xnu will not move,
 *                    under KEY: an mk_timer's "timer ERR", a guarded
 *                    port's "guarded ERR"
 *   givefd KEY       waits for EOF on the fd "go", then gives that fd
 *                    under KEY: "gave ERR"
 *   forkgive N       waits for EOF on the fd "go" (the parent holds its
 *                    server), then a thread gives a send right under g0
 *                    .. gN-1, more than the give port holds, so that a
 *                    give waits for room; once 1024 are queued, writes a
 *                    line to the fd "ready" and forks: the forked process
 *                    gives that fd under gN-1 (its port names are not
 *                    its parent's) and exits with what that returned:
 *                    "forked ERR", or "forked stuck" if it was still
 *                    waiting 3 s on; then "given M", the gives that
 *                    succeeded
 */
#include <errno.h>
#include <fcntl.h>
#include <mach/mach.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cph/child.h>

#include "timer.h"
#ifdef CPH_SIMULATED_MACH
#include "rights_left.h"
#endif

#define WAIT_MS 5000

static FILE *out;
static int report_fd;

static void destroy_receive(mach_port_t port)
{
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* One message on the receive right port, which is then destroyed. */
static int receive_on(mach_port_t port)
{
    union {
        mach_msg_header_t header;
        uint8_t bytes[1024];
    } msg;
    kern_return_t kr = mach_msg(&msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                0, sizeof msg, port, WAIT_MS, MACH_PORT_NULL);

    destroy_receive(port);
    if (kr != KERN_SUCCESS) {
        fprintf(out, "receive failed %#x\n", kr);
        return 1;
    }
    fprintf(out, "received %d\n", msg.header.msgh_id);
    mach_msg_destroy(&msg.header);
    return 0;
}

static int receive(const char *key)
{
    mach_port_t port = cph_child_take_receive_right(key);

    if (!MACH_PORT_VALID(port)) {
        fprintf(out, "no receive right\n");
        return 1;
    }
    return receive_on(port);
}

static int send_id(const char *key, const char *id)
{
    mach_port_t port = cph_child_take_send_right(key);
    mach_port_type_t type = 0;
    mach_msg_header_t msg = {
        .msgh_size = sizeof msg,
        .msgh_remote_port = port,
        .msgh_id = atoi(id),
    };
    bool once;

    if (!MACH_PORT_VALID(port) ||
        mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS) {
        fprintf(out, "no send right\n");
        return 1;
    }
    once = type & MACH_PORT_TYPE_SEND_ONCE;
    msg.msgh_bits = MACH_MSGH_BITS(once ? MACH_MSG_TYPE_MOVE_SEND_ONCE
                                        : MACH_MSG_TYPE_MOVE_SEND, 0);
    fprintf(out, "sent %s %d\n", once ? "send-once" : "send",
            mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg, 0,
                     MACH_PORT_NULL, WAIT_MS, MACH_PORT_NULL));
    return 0;
}

static int read_fd(const char *key)
{
    int fd = cph_child_take_fd(key);
    char buf[256];
    size_t len = 0;
    ssize_t n;

    if (fd < 0) {
        fprintf(out, "%s missing\n", key);
        return 1;
    }
    while (len < sizeof buf - 1 &&
           (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    fprintf(out, "%s %s cloexec %d\n", key, buf,
            (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    return 0;
}

static int keys(const char *fd)
{
    const char *key;

    fprintf(out, "keys");
    for (size_t i = 0; (key = cph_child_key(i)); i++)
        fprintf(out, " %s", key);
    fprintf(out, "\n");
    if (fd)
        fprintf(out, "fd %s %s\n", fd,
                fcntl(atoi(fd), F_GETFD) < 0 ? "closed" : "open");
    return 0;
}

/* What cph_child_take_send_right gives for "port". */
static int taken(void)
{
    mach_port_t port = cph_child_take_send_right("port");

    fprintf(out, "port %s count %zu\n",
            port == MACH_PORT_NULL   ? "null"
            : port == MACH_PORT_DEAD ? "dead"
                                     : "valid",
            cph_child_count());
    return 0;
}

static mach_port_t new_receive_right(void)
{
    mach_port_t port = MACH_PORT_NULL;

    mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port);
    return port;
}

static const char *receive_held(mach_port_t port)
{
    mach_port_type_t type = 0;

    mach_port_type(mach_task_self(), port, &type);
    return type & MACH_PORT_TYPE_RECEIVE ? "kept" : "left";
}

/* Gives a new receive right under key as disposition (MAKE_SEND or
 * MAKE_SEND_ONCE), then serves one message on it. */
static int give_made(const char *key, mach_msg_type_name_t disposition)
{
    mach_port_t port = new_receive_right();
    int err = cph_child_give_port(key, port, disposition);

    fprintf(out, "gave %d\n", err);
    if (err) {
        destroy_receive(port);
        return 1;
    }
    return receive_on(port);
}

static int give_receive(const char *key, const char *id)
{
    mach_port_t port = new_receive_right();
    mach_msg_header_t msg = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0),
        .msgh_size = sizeof msg,
        .msgh_remote_port = port,
        .msgh_id = atoi(id),
    };
    int err;

    mach_port_insert_right(mach_task_self(), port, port,
                           MACH_MSG_TYPE_MAKE_SEND);
    err = cph_child_give_port(key, port, MACH_MSG_TYPE_MOVE_RECEIVE);
    fprintf(out, "gave %d\nreceive %s\n", err, receive_held(port));
    fprintf(out, "sent send %d\n",
            mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg, 0,
                     MACH_PORT_NULL, WAIT_MS, MACH_PORT_NULL));
    return err != 0;
}

static int give_errors(const char *key)
{
    mach_port_t port = new_receive_right();
    int err;

    err = cph_child_give_port("nokey", port, MACH_MSG_TYPE_MOVE_RECEIVE);
    fprintf(out, "unexpected %d receive %s\n", err, receive_held(port));
    err = cph_child_give_port(key, port, MACH_MSG_TYPE_MOVE_RECEIVE);
    fprintf(out, "given %d receive %s\n", err, receive_held(port));
    port = new_receive_right();
    fprintf(out, "again %d\n",
            cph_child_give_port(key, port, MACH_MSG_TYPE_MAKE_SEND));
    fprintf(out, "bad %d\n",
            cph_child_give_port(key, port, MACH_MSG_TYPE_COPY_RECEIVE));
    destroy_receive(port);
    return 0;
}

static const char *height(int fd)
{
    return fd > STDERR_FILENO ? "high" : "low";
}

static int fd_numbers(int argc, char **argv)
{
    fprintf(out, "report %s\n", height(report_fd));
    for (int i = 2; i < argc; i++)
        fprintf(out, "%s %s\n", argv[i], height(cph_child_take_fd(argv[i])));
    return 0;
}

static int give_immovable(const char *key)
{
    mach_port_options_t options = {.flags = MPO_CONTEXT_AS_GUARD};
    mach_port_t timer = mk_timer_create(), guarded = MACH_PORT_NULL;

    fprintf(out, "timer %d\n",
            cph_child_give_port(key, timer, MACH_MSG_TYPE_MOVE_RECEIVE));
    mach_port_construct(mach_task_self(), &options, 1, &guarded);
    fprintf(out, "guarded %d\n",
            cph_child_give_port(key, guarded, MACH_MSG_TYPE_MOVE_RECEIVE));
    mk_timer_destroy(timer);
    mach_port_destruct(mach_task_self(), guarded, 0, 1);
    return 0;
}

struct giver {
    mach_port_t port;
    int count;
    atomic_int given;
};

static void *give_all(void *arg)
{
    struct giver *g = arg;
    char key[16];

    for (int i = 0; i < g->count; i++) {
        snprintf(key, sizeof key, "g%d", i);
        if (cph_child_give_port(key, g->port, MACH_MSG_TYPE_MAKE_SEND) == 0)
            atomic_fetch_add(&g->given, 1);
    }
    return NULL;
}

static void wait_eof(int fd)
{
    char c;

    while (read(fd, &c, 1) > 0)
        ;
}

static int failed(const char *what)
{
    fprintf(out, "%s: %s\n", what, strerror(errno));
    return 1;
}

static int give_go(const char *key)
{
    int go = cph_child_take_fd("go"), err;

    wait_eof(go);
    err = cph_child_give_fd(key, go);
    fprintf(out, "gave %d\n", err);
    close(go);
    return err != 0;
}

static int fork_give(const char *count)
{
    struct giver g = {.port = new_receive_right(), .count = atoi(count)};
    int go = cph_child_take_fd("go"), ready = cph_child_take_fd("ready");
    int status = 0;
    char key[16];
    pthread_t thread;
    pid_t pid;

    wait_eof(go);
    if (pthread_create(&thread, NULL, give_all, &g) != 0)
        return failed("pthread_create");
    for (int i = 0; i < 1000 && atomic_load(&g.given) < 1024; i++)
        usleep(10 * 1000);
    usleep(50 * 1000);
    snprintf(key, sizeof key, "g%d", g.count - 1);
    fflush(out);
    if (write(ready, "ready\n", 6) != 6)
        return failed("write");
    pid = fork();
    if (pid == 0) {
        alarm(3);
        _exit(cph_child_give_fd(key, ready));
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return failed("fork");
    pthread_join(thread, NULL);
    destroy_receive(g.port);
    if (WIFEXITED(status))
        fprintf(out, "forked %d\n", WEXITSTATUS(status));
    else
        fprintf(out, "forked stuck\n");
    fprintf(out, "given %d\n", atomic_load(&g.given));
    return 0;
}

/* Slots that name a port, live or dead (the parent destroys the
 * nameless port once the check-in is done). */
static int used_slots(void)
{
    mach_port_array_t ports = NULL;
    mach_msg_type_number_t n = 0;
    int used = 0;

    if (mach_ports_lookup(mach_task_self(), &ports, &n) != KERN_SUCCESS)
        return -1;
    for (mach_msg_type_number_t i = 0; i < n; i++) {
        used += ports[i] != MACH_PORT_NULL;
        if (MACH_PORT_VALID(ports[i]))
            mach_port_deallocate(mach_task_self(), ports[i]);
    }
    vm_deallocate(mach_task_self(), (vm_address_t)ports, n * sizeof *ports);
    return used;
}

/* The nameless port is cleared from the slots before main(): a process
 * forked now (its task made from this one's, registered ports and all)
 * finds none of it. */
static int slots(void)
{
    int status = -1;
    pid_t pid;

    fprintf(out, "slots %d\n", used_slots());
    fflush(out);
    pid = fork();
    if (pid == 0) {
        fprintf(out, "forked slots %d\n", used_slots());
        fflush(out);
        _exit(0);
    }
    return pid < 0 || waitpid(pid, &status, 0) != pid || status != 0;
}

static int run(int argc, char **argv)
{
    int failed = 0;

    if (strcmp(argv[1], "receive") == 0)
        return receive("port");
    if (strcmp(argv[1], "send") == 0 && argc > 2)
        return send_id("port", argv[2]);
    if (strcmp(argv[1], "sendeach") == 0 && argc > 3) {
        for (int i = 3; i < argc; i++)
            failed |= send_id(argv[i], argv[2]);
        return failed;
    }
    if (strcmp(argv[1], "loop") == 0 && argc > 2)
        return send_id("send", argv[2]) | receive("recv");
    if (strcmp(argv[1], "taken") == 0)
        return taken();
    if (strcmp(argv[1], "givesend") == 0 && argc > 2)
        return give_made(argv[2], MACH_MSG_TYPE_MAKE_SEND);
    if (strcmp(argv[1], "giveonce") == 0 && argc > 2)
        return give_made(argv[2], MACH_MSG_TYPE_MAKE_SEND_ONCE);
    if (strcmp(argv[1], "givereceive") == 0 && argc > 3)
        return give_receive(argv[2], argv[3]);
    if (strcmp(argv[1], "giveerrors") == 0 && argc > 2)
        return give_errors(argv[2]);
    if (strcmp(argv[1], "giveimmovable") == 0 && argc > 2)
        return give_immovable(argv[2]);
    if (strcmp(argv[1], "givefd") == 0 && argc > 2)
        return give_go(argv[2]);
    if (strcmp(argv[1], "forkgive") == 0 && argc > 2)
        return fork_give(argv[2]);
    if (strcmp(argv[1], "fdnums") == 0)
        return fd_numbers(argc, argv);
    if (strcmp(argv[1], "keys") == 0)
        return keys(argv[2]);
    if (strcmp(argv[1], "slots") == 0)
        return slots();
    if (strcmp(argv[1], "fd") != 0)
        return 101;
    for (int i = 2; i < argc; i++)
        failed |= read_fd(argv[i]);
    return failed;
}

#ifdef CPH_SIMULATED_MACH
/* Every handle not taken, released as a program that took it would. */
static void release_untaken(void)
{
    for (size_t i = 0; i < cph_child_count(); i++) {
        const char *key = cph_child_key(i);
        int fd = cph_child_take_fd(key);
        mach_port_t port;

        if (fd >= 0) {
            close(fd);
            continue;
        }
        port = cph_child_take_send_right(key);
        if (MACH_PORT_VALID(port)) {
            mach_port_deallocate(mach_task_self(), port);
            continue;
        }
        port = cph_child_take_receive_right(key);
        if (MACH_PORT_VALID(port))
            mach_port_mod_refs(mach_task_self(), port,
                               MACH_PORT_RIGHT_RECEIVE, -1);
    }
}

#endif

int main(int argc, char **argv)
{
    int report, status;

    if (argc < 2)
        return 100;
    if (strcmp(argv[1], "orphan") == 0) {
        printf("status %d count %zu\n", cph_child_status(),
               cph_child_count());
        return 0;
    }
    report = report_fd = cph_child_take_fd("report");
    if (report < 0 || !(out = fdopen(report, "w")))
        return 100;
    status = run(argc, argv);
#ifdef CPH_SIMULATED_MACH
    release_untaken();
    /* The give channel's send right stays. */
    if (!rights_left_none(out, 1) && status == 0)
        status = 104;
#endif
    return fclose(out) == 0 ? status : 102;
}
