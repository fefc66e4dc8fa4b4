/*
 * The reply's key list as the child reads it: entries from any bytes,
 * until the first one cph__wire_get rejects. A rejected entry moves
 * nothing; an accepted one has a valid key, and cph__wire_put writes it
 * back byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cph_core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t back[2 + CPH__KEY_MAX];
    size_t off = 0;

    for (;;) {
        struct cph__handle h;
        size_t at = off;

        if (cph__wire_get(data, size, &off, &h) != 0) {
            if (off != at)
                abort();
            return 0;
        }
        if (off <= at || off > size || !cph__key_valid(h.key) ||
            cph__wire_size(&h) != off - at ||
            cph__wire_put(back, &h) != off - at ||
            memcmp(back, data + at, off - at) != 0)
            abort();
    }
}
