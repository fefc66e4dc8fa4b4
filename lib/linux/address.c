#include <stddef.h>
#include <string.h>

#include "protocol.h"

/* Abstract namespace: a leading NUL, no file, gone with the socket. */
socklen_t cph__service_addr(const char *service, struct sockaddr_un *addr)
{
    size_t len = strlen(service);

    if (len + 1 > sizeof addr->sun_path)
        return 0;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path + 1, service, len);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}
