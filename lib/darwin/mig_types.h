/* C types of mig/cph.defs, imported by the generated stubs. */
#ifndef CPH_MIG_TYPES_H
#define CPH_MIG_TYPES_H

#include <mach/message.h>
#include <stdint.h>

/* Laid out like audit_token_t, which MIG declares the same way. */
typedef struct {
    uint32_t val[4];
} cph_token_t;

/* The user stub's send timeout (WaitTime in cph.defs), set by the child
 * from its deadline. */
extern mach_msg_timeout_t cph__checkin_send_timeout;

#endif
