/*
 * The CPH_HANDSHAKE value as the child parses it, from any string: a thin
 * call, so that it follows the parser's format wherever it goes.
 */
#include <stdlib.h>
#include <string.h>

#include <cph/spawn.h>

#include "core/cph_core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_string(data, size);
    char back[CPH__ENV_ENTRY_MAX];
    struct cph__env e;

    /* What it accepts is sane, and written back it reads the same. */
    if (cph__env_parse(value, &e) == 0 &&
        ((e.delivery == CPH_DELIVERY_NAMELESS
              ? e.slot < 0 || e.slot >= CPH__SLOTS
              : e.fd < 3) ||
         e.pid < 1 ||
         (e.delivery == CPH_DELIVERY_PID_BOUND &&
          !cph__name_valid(e.service, CPH__SERVICE_MAX)) ||
         cph__env_format(back, sizeof back, &e) != 0 ||
         strcmp(back + sizeof CPH__ENV_NAME, value) != 0))
        abort();
    free(value);
    return 0;
}
