/*
 * The seed question's "bootstrap port swap dance", ported to cph (macOS,
 * Mach ports). The original replaces its own bootstrap port with the port
 * it wants the forked child to have, forks, and has the child send back a
 * port of its own so that the parent can return the real bootstrap port
 * on it. With cph nothing is swapped: the parent attaches a send right to
 * its port under a key, and the child takes it by key before main. The
 * rest of the dance stays: the child allocates a port of its own, sends
 * the parent a send right to it, and the parent answers there.
 *
 *   port_dance           the parent: launches itself as the child
 *   port_dance child     the child (launched by the parent only)
 */
#include <errno.h>
#include <mach-o/dyld.h>
#include <mach/mach.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cph/child.h>
#include <cph/spawn.h>

extern char **environ;

#define ANSWER 42

struct port_msg {
    mach_msg_header_t header;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
};

struct answer_msg {
    mach_msg_header_t header;
    int32_t answer;
};

/* Sends a send right made from port (a receive right) to remote. */
static kern_return_t send_port(mach_port_t remote, mach_port_t port)
{
    struct port_msg msg = {0};

    msg.header.msgh_bits =
        MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    msg.header.msgh_size = sizeof msg;
    msg.header.msgh_remote_port = remote;
    msg.body.msgh_descriptor_count = 1;
    msg.port.name = port;
    msg.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
    msg.port.type = MACH_MSG_PORT_DESCRIPTOR;
    return mach_msg(&msg.header, MACH_SEND_MSG, sizeof msg, 0,
                    MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

/* Receives a send right on local. */
static kern_return_t recv_port(mach_port_t local, mach_port_t *port)
{
    struct {
        struct port_msg msg;
        mach_msg_trailer_t trailer;
    } buf = {0};
    kern_return_t kr = mach_msg(&buf.msg.header, MACH_RCV_MSG, 0, sizeof buf,
                                local, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);

    if (kr != KERN_SUCCESS)
        return kr;
    if (!(buf.msg.header.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        buf.msg.body.msgh_descriptor_count != 1) {
        mach_msg_destroy(&buf.msg.header);
        return KERN_FAILURE;
    }
    *port = buf.msg.port.name;
    return KERN_SUCCESS;
}

static int child(void)
{
    mach_port_t parent = cph_child_take_send_right("parent");
    mach_port_t mine = MACH_PORT_NULL;
    struct {
        struct answer_msg msg;
        mach_msg_trailer_t trailer;
    } buf = {0};
    kern_return_t kr;

    if (parent == MACH_PORT_NULL) {
        fprintf(stderr, "child: no port from the parent: %s\n",
                strerror(cph_child_status()));
        return 1;
    }
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &mine);
    if (kr == KERN_SUCCESS)
        kr = send_port(parent, mine);
    if (kr == KERN_SUCCESS)
        kr = mach_msg(&buf.msg.header, MACH_RCV_MSG, 0, sizeof buf, mine,
                      MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "child: %s\n", mach_error_string(kr));
        return 1;
    }
    printf("child: on my own port: %d\n", (int)buf.msg.answer);
    return 0;
}

static int parent(void)
{
    char *argv[] = {"port_dance", "child", NULL};
    char self[4096];
    uint32_t size = sizeof self;
    cph_attachments_t *list;
    mach_port_t port = MACH_PORT_NULL, theirs = MACH_PORT_NULL;
    struct answer_msg answer = {0};
    kern_return_t kr;
    int err, status;
    pid_t pid;

    if (_NSGetExecutablePath(self, &size) != 0 ||
        mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
                           &port) != KERN_SUCCESS)
        return 1;
    err = cph_attachments_init(&list);
    /* MAKE_SEND: the list owns nothing; the receive right stays ours. */
    if (!err)
        err = cph_attachments_add_port(list, "parent", port,
                                       MACH_MSG_TYPE_MAKE_SEND);
    if (!err)
        err = cph_spawn(&pid, self, NULL, NULL, argv, environ, list);
    cph_attachments_destroy(list);
    if (err) {
        fprintf(stderr, "parent: cph_spawn: %s\n", strerror(err));
        return 1;
    }
    kr = recv_port(port, &theirs);
    if (kr == KERN_SUCCESS) {
        answer.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
        answer.header.msgh_size = sizeof answer;
        answer.header.msgh_remote_port = theirs;
        answer.answer = ANSWER;
        kr = mach_msg(&answer.header, MACH_SEND_MSG, sizeof answer, 0,
                      MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    }
    if (kr == KERN_SUCCESS)
        printf("parent: answered on the child's port\n");
    else
        fprintf(stderr, "parent: %s\n", mach_error_string(kr));
    fflush(stdout);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                   kr == KERN_SUCCESS
               ? 0 : 1;
}

int main(int argc, char **argv)
{
    return argc == 2 && strcmp(argv[1], "child") == 0 ? child() : parent();
}
