/* C types of mig/cph.defs, imported by the generated stubs. */
#ifndef CPH_MIG_TYPES_H
#define CPH_MIG_TYPES_H

#include <mach/message.h>
#include <stdint.h>

/* Laid out like audit_token_t, which MIG declares the same way. */
typedef struct {
    uint32_t val[4];
} cph_token_t;

#endif
