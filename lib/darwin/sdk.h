/*
 * The bootstrap and fileport calls cph needs. servers/bootstrap.h and
 * sys/fileport.h are not in every SDK (zig's bundled one has neither,
 * though libSystem exports the functions); where the SDK has them, they
 * win.
 */
#ifndef CPH_SDK_H
#define CPH_SDK_H

#include <mach/mach.h>

#if __has_include(<servers/bootstrap.h>)
#include <servers/bootstrap.h>
#else
#define BOOTSTRAP_MAX_NAME_LEN 128
#define BOOTSTRAP_SUCCESS 0
#define BOOTSTRAP_NOT_PRIVILEGED 1100
#define BOOTSTRAP_NAME_IN_USE 1101
#define BOOTSTRAP_UNKNOWN_SERVICE 1102
#define BOOTSTRAP_SERVICE_ACTIVE 1103

typedef char name_t[BOOTSTRAP_MAX_NAME_LEN];

extern mach_port_t bootstrap_port;

kern_return_t bootstrap_check_in(mach_port_t bp, const name_t service_name,
                                 mach_port_t *sp);
kern_return_t bootstrap_look_up(mach_port_t bp, const name_t service_name,
                                mach_port_t *sp);
#endif

#if __has_include(<sys/fileport.h>)
#include <sys/fileport.h>
#else
typedef mach_port_t fileport_t;

int fileport_makeport(int fd, fileport_t *port);
int fileport_makefd(fileport_t port);
#endif

#endif
