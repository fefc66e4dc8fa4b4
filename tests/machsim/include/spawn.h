/*
 * machsim: Apple SDK <spawn.h> (xnu-11417 libsyscall/wrappers/spawn/
 * spawn.h, bsd/sys/spawn.h): Apple's posix_spawn, its opaque attribute and
 * file-action types, its flag values and its _np extensions.
 *
 * glibc has its own posix_spawn with other types and flags, which
 * libcriterion and glibc itself call. So that nothing else in the process
 * is affected, this header takes glibc's place (_SPAWN_H keeps glibc's
 * spawn.h out) and every function it declares is renamed onto
 * libmachsim's machsim_ implementation.
 */
#ifndef _SPAWN_H_
#define _SPAWN_H_
#define _SPAWN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <Availability.h>
#include <mach/exception_types.h>
#include <mach/machine.h>
#include <mach/port.h>

typedef void *posix_spawnattr_t;
typedef void *posix_spawn_file_actions_t;

/* bsd/sys/spawn.h */
#define POSIX_SPAWN_RESETIDS 0x0001
#define POSIX_SPAWN_SETPGROUP 0x0002
#define POSIX_SPAWN_SETSIGDEF 0x0004
#define POSIX_SPAWN_SETSIGMASK 0x0008
#define POSIX_SPAWN_SETSCHEDPARAM 0x0010
#define POSIX_SPAWN_SETSCHEDULER 0x0020
#define POSIX_SPAWN_SETEXEC 0x0040
#define POSIX_SPAWN_START_SUSPENDED 0x0080
#define _POSIX_SPAWN_DISABLE_ASLR 0x0100
#define _POSIX_SPAWN_NANO_ALLOCATOR 0x0200
#define POSIX_SPAWN_SETSID 0x0400
#define _POSIX_SPAWN_RESLIDE 0x0800
#define _POSIX_SPAWN_FORCE_4K_PAGES 0x1000
#define _POSIX_SPAWN_ALLOW_DATA_EXEC 0x2000
#define POSIX_SPAWN_CLOEXEC_DEFAULT 0x4000
#define _POSIX_SPAWN_HIGH_BITS_ASLR 0x8000

#define POSIX_SPAWN_PCONTROL_NONE 0x0000
#define POSIX_SPAWN_PCONTROL_THROTTLE 0x0001
#define POSIX_SPAWN_PCONTROL_SUSPEND 0x0002
#define POSIX_SPAWN_PCONTROL_KILL 0x0003

#define POSIX_SPAWN_PANIC_ON_CRASH 0x1
#define POSIX_SPAWN_PANIC_ON_NON_ZERO_EXIT 0x2
#define POSIX_SPAWN_PANIC_ON_EXIT 0x4
#define POSIX_SPAWN_PANIC_ON_SPAWN_FAIL 0x8

#define POSIX_SPAWN_NP_CSM_ALL 0x0001
#define POSIX_SPAWN_NP_CSM_NOSMT 0x0002
#define POSIX_SPAWN_NP_CSM_TECS 0x0004

#define posix_spawn machsim_posix_spawn
#define posix_spawnp machsim_posix_spawnp
#define posix_spawn_file_actions_addclose machsim_posix_spawn_file_actions_addclose
#define posix_spawn_file_actions_adddup2 machsim_posix_spawn_file_actions_adddup2
#define posix_spawn_file_actions_addopen machsim_posix_spawn_file_actions_addopen
#define posix_spawn_file_actions_destroy machsim_posix_spawn_file_actions_destroy
#define posix_spawn_file_actions_init machsim_posix_spawn_file_actions_init
#define posix_spawn_file_actions_addinherit_np machsim_posix_spawn_file_actions_addinherit_np
#define posix_spawn_file_actions_addchdir_np machsim_posix_spawn_file_actions_addchdir_np
#define posix_spawn_file_actions_addfchdir_np machsim_posix_spawn_file_actions_addfchdir_np
#define posix_spawnattr_destroy machsim_posix_spawnattr_destroy
#define posix_spawnattr_init machsim_posix_spawnattr_init
#define posix_spawnattr_getsigdefault machsim_posix_spawnattr_getsigdefault
#define posix_spawnattr_getflags machsim_posix_spawnattr_getflags
#define posix_spawnattr_getpgroup machsim_posix_spawnattr_getpgroup
#define posix_spawnattr_getsigmask machsim_posix_spawnattr_getsigmask
#define posix_spawnattr_setsigdefault machsim_posix_spawnattr_setsigdefault
#define posix_spawnattr_setflags machsim_posix_spawnattr_setflags
#define posix_spawnattr_setpgroup machsim_posix_spawnattr_setpgroup
#define posix_spawnattr_setsigmask machsim_posix_spawnattr_setsigmask
#define posix_spawnattr_getbinpref_np machsim_posix_spawnattr_getbinpref_np
#define posix_spawnattr_getarchpref_np machsim_posix_spawnattr_getarchpref_np
#define posix_spawnattr_setauditsessionport_np machsim_posix_spawnattr_setauditsessionport_np
#define posix_spawnattr_setbinpref_np machsim_posix_spawnattr_setbinpref_np
#define posix_spawnattr_setarchpref_np machsim_posix_spawnattr_setarchpref_np
#define posix_spawnattr_setexceptionports_np machsim_posix_spawnattr_setexceptionports_np
#define posix_spawnattr_setspecialport_np machsim_posix_spawnattr_setspecialport_np

#ifdef __cplusplus
extern "C" {
#endif

int posix_spawn(pid_t *__restrict, const char *__restrict,
    const posix_spawn_file_actions_t *, const posix_spawnattr_t *__restrict,
    char *const __argv[__restrict], char *const __envp[__restrict]);
int posix_spawnp(pid_t *__restrict, const char *__restrict,
    const posix_spawn_file_actions_t *, const posix_spawnattr_t *__restrict,
    char *const __argv[__restrict], char *const __envp[__restrict]);

int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *, int);
int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *, int, int);
int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *__restrict,
    int, const char *__restrict, int, mode_t);
int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *);
int posix_spawn_file_actions_init(posix_spawn_file_actions_t *);

int posix_spawnattr_destroy(posix_spawnattr_t *);
int posix_spawnattr_getsigdefault(const posix_spawnattr_t *__restrict,
    sigset_t *__restrict);
int posix_spawnattr_getflags(const posix_spawnattr_t *__restrict,
    short *__restrict);
int posix_spawnattr_getpgroup(const posix_spawnattr_t *__restrict,
    pid_t *__restrict);
int posix_spawnattr_getsigmask(const posix_spawnattr_t *__restrict,
    sigset_t *__restrict);
int posix_spawnattr_init(posix_spawnattr_t *);
int posix_spawnattr_setsigdefault(posix_spawnattr_t *__restrict,
    const sigset_t *__restrict);
int posix_spawnattr_setflags(posix_spawnattr_t *, short);
int posix_spawnattr_setpgroup(posix_spawnattr_t *, pid_t);
int posix_spawnattr_setsigmask(posix_spawnattr_t *__restrict,
    const sigset_t *__restrict);

int posix_spawnattr_getbinpref_np(const posix_spawnattr_t *__restrict,
    size_t, cpu_type_t *__restrict, size_t *__restrict);
int posix_spawnattr_getarchpref_np(const posix_spawnattr_t *__restrict,
    size_t, cpu_type_t *__restrict, cpu_subtype_t *__restrict,
    size_t *__restrict);
int posix_spawnattr_setauditsessionport_np(posix_spawnattr_t *__restrict,
    mach_port_t);
int posix_spawnattr_setbinpref_np(posix_spawnattr_t *__restrict, size_t,
    cpu_type_t *__restrict, size_t *__restrict);
int posix_spawnattr_setarchpref_np(posix_spawnattr_t *__restrict, size_t,
    cpu_type_t *__restrict, cpu_subtype_t *__restrict, size_t *__restrict);
int posix_spawnattr_setexceptionports_np(posix_spawnattr_t *__restrict,
    exception_mask_t, mach_port_t, exception_behavior_t,
    thread_state_flavor_t);
int posix_spawnattr_setspecialport_np(posix_spawnattr_t *__restrict,
    mach_port_t, int);

int posix_spawn_file_actions_addinherit_np(posix_spawn_file_actions_t *,
    int);
int posix_spawn_file_actions_addchdir_np(
    posix_spawn_file_actions_t *__restrict, const char *__restrict);
int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *,
    int);

#ifdef __cplusplus
}
#endif

#endif
