/* Apple's <sys/socket.h> is glibc's plus SO_NOSIGPIPE (xnu bsd/sys/socket.h), which
 * machsim_setsockopt handles (tests/machsim/lib/socket.c); every other option reaches Linux. */
#pragma GCC system_header
#include_next <sys/socket.h>

#ifndef MACHSIM_SYS_SOCKET_H
#define MACHSIM_SYS_SOCKET_H

#define SO_NOSIGPIPE 0x1022

#ifdef __cplusplus
extern "C" {
#endif
int machsim_setsockopt(int fd, int level, int name, const void *value, socklen_t len);
#ifdef __cplusplus
}
#endif
#define setsockopt machsim_setsockopt

#endif
