/* machsim: Apple SDK <mach/mach_error.h> (xnu-11417
 * libsyscall/mach/mach/mach_error.h). */
#ifndef _MACH_ERROR_
#define _MACH_ERROR_ 1

#include <mach/error.h>

#ifdef __cplusplus
extern "C" {
#endif

char *mach_error_string(mach_error_t error_value);
void mach_error(const char *str, mach_error_t error_value);
char *mach_error_type(mach_error_t error_value);

#ifdef __cplusplus
}
#endif

#endif
