/*
 * cph__key_valid on any string, against the rule written out plainly:
 * 1 to CPH__KEY_MAX bytes of [A-Za-z0-9._-].
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cph_core.h"
#include "fuzz.h"

static const char key_bytes[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *key = fuzz_string(data, size);
    size_t len = strlen(key);
    bool valid = len >= 1 && len <= CPH__KEY_MAX &&
                 strspn(key, key_bytes) == len;

    if (cph__key_valid(key) != valid)
        abort();
    free(key);
    return 0;
}
