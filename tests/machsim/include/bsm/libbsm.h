/* The part of Apple's <bsm/libbsm.h> cph uses: reading an audit token (a trailer's
 * msgh_audit). libmachsim's tests/machsim/lib/audit.c. */
#ifndef _LIBBSM_H_
#define _LIBBSM_H_

#include <sys/types.h>
#include <mach/message.h>

#ifdef __cplusplus
extern "C" {
#endif
pid_t audit_token_to_pid(audit_token_t atoken);
int audit_token_to_pidversion(audit_token_t atoken);
#ifdef __cplusplus
}
#endif

#endif
