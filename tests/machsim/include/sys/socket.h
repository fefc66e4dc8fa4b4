/*
 * machsim: glibc's <sys/socket.h> plus what Apple's adds that cph uses:
 * SO_NOSIGPIPE (xnu-11417 bsd/sys/socket.h). setsockopt is renamed onto
 * libmachsim's, which handles SO_NOSIGPIPE and forwards the rest.
 */
/* #include_next is a GCC extension: pedantic accepts it in a system header. */
#pragma GCC system_header
#include_next <sys/socket.h>

#ifndef MACHSIM_SYS_SOCKET_H
#define MACHSIM_SYS_SOCKET_H

#define SO_NOSIGPIPE 0x1022

#define setsockopt machsim_setsockopt

#ifdef __cplusplus
extern "C" {
#endif

int setsockopt(int fd, int level, int optname, const void *optval,
               socklen_t optlen);

#ifdef __cplusplus
}
#endif

#endif
