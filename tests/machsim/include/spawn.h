/* Apple's <spawn.h> (libsyscall wrappers/spawn/spawn.h, bsd/sys/spawn.h): opaque attribute and
 * file-action objects, Apple's flags and the _np extensions. Every function is a macro onto
 * libmachsim's machsim_ one, so that glibc's posix_spawn, used by other libraries in the same
 * process, stays glibc's. Defining _SPAWN_H keeps glibc's <spawn.h> out. */
#ifndef _SPAWN_H_
#define _SPAWN_H_
#define _SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/exception_types.h>
#include <mach/port.h>

typedef void *posix_spawnattr_t;
typedef void *posix_spawn_file_actions_t;

#define POSIX_SPAWN_RESETIDS 0x0001
#define POSIX_SPAWN_SETPGROUP 0x0002
#define POSIX_SPAWN_SETSIGDEF 0x0004
#define POSIX_SPAWN_SETSIGMASK 0x0008
#define POSIX_SPAWN_SETEXEC 0x0040
#define POSIX_SPAWN_START_SUSPENDED 0x0080
#define POSIX_SPAWN_SETSID 0x0400
#define POSIX_SPAWN_CLOEXEC_DEFAULT 0x4000

#define posix_spawn machsim_posix_spawn
#define posix_spawnp machsim_posix_spawnp
#define posix_spawnattr_init machsim_posix_spawnattr_init
#define posix_spawnattr_destroy machsim_posix_spawnattr_destroy
#define posix_spawnattr_setflags machsim_posix_spawnattr_setflags
#define posix_spawnattr_getflags machsim_posix_spawnattr_getflags
#define posix_spawnattr_setpgroup machsim_posix_spawnattr_setpgroup
#define posix_spawnattr_getpgroup machsim_posix_spawnattr_getpgroup
#define posix_spawnattr_setsigmask machsim_posix_spawnattr_setsigmask
#define posix_spawnattr_getsigmask machsim_posix_spawnattr_getsigmask
#define posix_spawnattr_setsigdefault machsim_posix_spawnattr_setsigdefault
#define posix_spawnattr_getsigdefault machsim_posix_spawnattr_getsigdefault
#define posix_spawnattr_setspecialport_np machsim_posix_spawnattr_setspecialport_np
#define posix_spawnattr_set_registered_ports_np machsim_posix_spawnattr_set_registered_ports_np
#define posix_spawnattr_setexceptionports_np machsim_posix_spawnattr_setexceptionports_np
#define posix_spawn_file_actions_init machsim_posix_spawn_file_actions_init
#define posix_spawn_file_actions_destroy machsim_posix_spawn_file_actions_destroy
#define posix_spawn_file_actions_addopen machsim_posix_spawn_file_actions_addopen
#define posix_spawn_file_actions_addclose machsim_posix_spawn_file_actions_addclose
#define posix_spawn_file_actions_adddup2 machsim_posix_spawn_file_actions_adddup2
#define posix_spawn_file_actions_addinherit_np machsim_posix_spawn_file_actions_addinherit_np
#define posix_spawn_file_actions_addchdir_np machsim_posix_spawn_file_actions_addchdir_np
#define posix_spawn_file_actions_addfchdir_np machsim_posix_spawn_file_actions_addfchdir_np

#ifdef __cplusplus
extern "C" {
#endif

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions,
                const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *file_actions,
                 const posix_spawnattr_t *attrp, char *const argv[], char *const envp[]);

int posix_spawnattr_init(posix_spawnattr_t *attr);
int posix_spawnattr_destroy(posix_spawnattr_t *attr);
int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
int posix_spawnattr_getflags(const posix_spawnattr_t *attr, short *flags);
int posix_spawnattr_setpgroup(posix_spawnattr_t *attr, pid_t pgroup);
int posix_spawnattr_getpgroup(const posix_spawnattr_t *attr, pid_t *pgroup);
int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *mask);
int posix_spawnattr_getsigmask(const posix_spawnattr_t *attr, sigset_t *mask);
int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *set);
int posix_spawnattr_getsigdefault(const posix_spawnattr_t *attr, sigset_t *set);
int posix_spawnattr_setspecialport_np(posix_spawnattr_t *attr, mach_port_t new_port, int which);
/* Private in Apple's SDK (spawn_private.h); at most TASK_PORT_REGISTER_MAX (3) in all. */
int posix_spawnattr_set_registered_ports_np(posix_spawnattr_t *attr, mach_port_t portarray[],
                                            uint32_t count);
int posix_spawnattr_setexceptionports_np(posix_spawnattr_t *attr, exception_mask_t mask,
                                         mach_port_t new_port, exception_behavior_t behavior,
                                         thread_state_flavor_t flavor);

int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions);
int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions);
int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *file_actions, int filedes,
                                     const char *path, int oflag, mode_t mode);
int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *file_actions, int filedes);
int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions, int filedes,
                                     int newfiledes);
int posix_spawn_file_actions_addinherit_np(posix_spawn_file_actions_t *file_actions,
                                           int filedes);
int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *file_actions,
                                         const char *path);
int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *file_actions, int filedes);

#ifdef __cplusplus
}
#endif

#endif
