/* machsim: Apple SDK <mach-o/dyld.h>, the one call cph's examples use. */
#ifndef _MACH_O_DYLD_H_
#define _MACH_O_DYLD_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies the main executable's path into buf; -1 and *bufsize set to the
 * size needed when it does not fit. */
int _NSGetExecutablePath(char *buf, uint32_t *bufsize);

#ifdef __cplusplus
}
#endif

#endif
