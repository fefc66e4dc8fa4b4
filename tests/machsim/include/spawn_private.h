/* machsim: Apple's <spawn_private.h> (xnu-11417
 * libsyscall/wrappers/spawn/spawn_private.h), the part cph's tests use;
 * renamed onto libmachsim as <spawn.h> does. */
#ifndef _SPAWN_PRIVATE_H_
#define _SPAWN_PRIVATE_H_

#include <stdint.h>
#include <spawn.h>

#define posix_spawnattr_set_registered_ports_np \
    machsim_posix_spawnattr_set_registered_ports_np

#ifdef __cplusplus
extern "C" {
#endif

int posix_spawnattr_set_registered_ports_np(posix_spawnattr_t *__restrict attr,
    mach_port_t portarray[], uint32_t count);

#ifdef __cplusplus
}
#endif

#endif
