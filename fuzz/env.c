/*
 * The CPH_HANDSHAKE value as the child parses it, from any string: a thin
 * call, so that it follows the parser's format wherever it goes.
 */
#include <stdlib.h>

#include "core/cph_core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_string(data, size);
    char service[CPH__SERVICE_MAX + 1];
    int fd;

    if (cph__env_parse(value, &fd, service) == 0 &&
        (fd < 0 || !cph__name_valid(service, CPH__SERVICE_MAX)))
        abort();
    free(value);
    return 0;
}
