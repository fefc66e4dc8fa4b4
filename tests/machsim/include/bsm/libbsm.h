/* machsim: Apple SDK <bsm/libbsm.h>, the audit-token accessors
 * (OpenBSM as Apple ships it; the token's layout is xnu-11417's,
 * bsd/kern/kern_prot.c set_security_token_task_internal). */
#ifndef _LIBBSM_H_
#define _LIBBSM_H_

#include <sys/types.h>
#include <mach/message.h>

typedef uid_t au_id_t;
typedef pid_t au_asid_t;

#ifdef __cplusplus
extern "C" {
#endif

au_id_t audit_token_to_auid(audit_token_t atoken);
uid_t audit_token_to_euid(audit_token_t atoken);
gid_t audit_token_to_egid(audit_token_t atoken);
uid_t audit_token_to_ruid(audit_token_t atoken);
gid_t audit_token_to_rgid(audit_token_t atoken);
pid_t audit_token_to_pid(audit_token_t atoken);
au_asid_t audit_token_to_asid(audit_token_t atoken);
int audit_token_to_pidversion(audit_token_t atoken);

#ifdef __cplusplus
}
#endif

#endif
