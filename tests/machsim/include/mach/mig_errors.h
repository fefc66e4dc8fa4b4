/* machsim: Apple SDK <mach/mig_errors.h> (xnu-11417
 * osfmk/mach/mig_errors.h): MIG's return codes and its error reply. */
#ifndef _MACH_MIG_ERRORS_H_
#define _MACH_MIG_ERRORS_H_

#include <mach/mig.h>
#include <mach/ndr.h>
#include <mach/message.h>
#include <mach/kern_return.h>

#define MIG_TYPE_ERROR -300      /* client: reply of the wrong type */
#define MIG_REPLY_MISMATCH -301  /* client: reply of the wrong id */
#define MIG_REMOTE_ERROR -302    /* server reported an error */
#define MIG_BAD_ID -303          /* server: unknown request id */
#define MIG_BAD_ARGUMENTS -304   /* server: request of the wrong type */
#define MIG_NO_REPLY -305        /* server: send no reply */
#define MIG_EXCEPTION -306
#define MIG_ARRAY_TOO_LARGE -307
#define MIG_SERVER_DIED -308
#define MIG_TRAILER_ERROR -309   /* trailer of an unknown format */

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} mig_reply_error_t;
#pragma pack(pop)

#define __NDR_convert__mig_reply_error_t__defined
static __inline__ void __NDR_convert__mig_reply_error_t(mig_reply_error_t *x)
{
    (void)x;
}

#endif
