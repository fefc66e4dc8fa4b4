/* _NSGetExecutablePath (Apple's dyld, <mach-o/dyld.h>): the main
 * executable's path, from /proc/self/exe. dyld gives the path the
 * program was started by, not always resolved; cph's examples only
 * re-execute it, which either serves. */
#include <string.h>
#include <unistd.h>
#include <mach-o/dyld.h>

int _NSGetExecutablePath(char *buf, uint32_t *bufsize)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);

    if (n < 0)
        return -1;
    if ((uint32_t)n + 1 > *bufsize) {
        *bufsize = (uint32_t)n + 1;
        return -1;
    }
    memcpy(buf, path, (size_t)n);
    buf[n] = '\0';
    return 0;
}
