/*
 * A simulated program test_spawn_ports spawns, to show which ports its task
 * got: special W     sends a message (id 77) on its special port W registered
 * sends a message (id 100 + i) on each registered port i that is valid
 */
#include <stdlib.h>
#include <string.h>

#include <mach/mach.h>

static int send_id(mach_port_t port, mach_msg_id_t id)
{
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
        .msgh_size = sizeof h,
        .msgh_remote_port = port,
        .msgh_id = id,
    };

    return mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL) != MACH_MSG_SUCCESS;
}

static int registered(void)
{
    mach_port_array_t ports;
    mach_msg_type_number_t n;

    if (mach_ports_lookup(mach_task_self(), &ports, &n) != KERN_SUCCESS)
        return 3;
    for (mach_msg_type_number_t i = 0; i < n; i++)
        if (MACH_PORT_VALID(ports[i]) && send_id(ports[i], 100 + (int)i))
            return 4;
    return 0;
}

int main(int argc, char **argv)
{
    mach_port_t port;

    if (argc == 3 && strcmp(argv[1], "special") == 0)
        return task_get_special_port(mach_task_self(), atoi(argv[2]), &port) !=
                   KERN_SUCCESS ||
               send_id(port, 77);
    if (argc == 2 && strcmp(argv[1], "registered") == 0)
        return registered();
    return 2;
}
