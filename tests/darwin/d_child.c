/*
 * A macOS child linked with libcph_child. d_child MODE OUT:
 *
 *   receive   takes the receive right "port", waits for one message on it
 *   send      takes the send right "port", sends message 4321 on it
 *   sendonce  takes the send-once right "port", sends message 5555
 *   fd        takes the fd "file" and reads its first line
 *   show      status and count
 */
#include <fcntl.h>
#include <mach/mach.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

static FILE *out;

static void receive(void)
{
    mach_port_t port = cph_child_take_receive_right("port");
    struct {
        mach_msg_header_t header;
        mach_msg_trailer_t trailer;
    } msg;
    kern_return_t kr = mach_msg(&msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                0, sizeof msg, port, 5000, MACH_PORT_NULL);

    fprintf(out, "received %d\n", kr == KERN_SUCCESS ? msg.header.msgh_id
                                                     : -1);
}

static void send_on(mach_msg_type_name_t disposition, int id)
{
    mach_port_t port = cph_child_take_send_right("port");
    mach_msg_header_t msg = {
        .msgh_bits = MACH_MSGH_BITS(disposition, 0),
        .msgh_size = sizeof msg,
        .msgh_remote_port = port,
        .msgh_id = id,
    };

    fprintf(out, "sent %d\n",
            mach_msg(&msg, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof msg, 0,
                     MACH_PORT_NULL, 5000, MACH_PORT_NULL));
}

static void read_fd(void)
{
    int fd = cph_child_take_fd("file");
    char buf[64] = "";
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    fprintf(out, "file=%s\ncloexec %d\n", buf,
            fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
}

int main(int argc, char **argv)
{
    if (argc < 3 || !(out = fopen(argv[2], "w")))
        return 100;
    fprintf(out, "status %d\n", cph_child_status());
    if (strcmp(argv[1], "receive") == 0)
        receive();
    else if (strcmp(argv[1], "send") == 0)
        send_on(MACH_MSG_TYPE_MOVE_SEND, 4321);
    else if (strcmp(argv[1], "sendonce") == 0)
        send_on(MACH_MSG_TYPE_MOVE_SEND_ONCE, 5555);
    else if (strcmp(argv[1], "fd") == 0)
        read_fd();
    else if (strcmp(argv[1], "show") == 0)
        fprintf(out, "count %zu\n", cph_child_count());
    else
        return 101;
    return fclose(out) == 0 ? 0 : 102;
}
