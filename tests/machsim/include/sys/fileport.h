/* machsim: Apple SDK <sys/fileport.h> (xnu-11417 bsd/sys/fileport.h): a
 * send right that stands for an open file. */
#ifndef _SYS_FILEPORT_H_
#define _SYS_FILEPORT_H_

#include <mach/port.h>

typedef mach_port_t fileport_t;

#define FILEPORT_NULL ((fileport_t)0)

#ifdef __cplusplus
extern "C" {
#endif

int fileport_makeport(int fd, fileport_t *port);
int fileport_makefd(fileport_t port);

#ifdef __cplusplus
}
#endif

#endif
