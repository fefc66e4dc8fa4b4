#include <errno.h>
#include <string.h>

#include "cph_core.h"

size_t cph__wire_size(const struct cph__handle *h)
{
    return 2 + strlen(h->key);
}

size_t cph__wire_put(uint8_t *buf, const struct cph__handle *h)
{
    size_t len = strlen(h->key);

    buf[0] = h->kind;
    buf[1] = (uint8_t)len;
    memcpy(buf + 2, h->key, len);
    return 2 + len;
}

int cph__wire_get(const uint8_t *buf, size_t len, size_t *off,
                  struct cph__handle *h)
{
    size_t at = *off, keylen;

    if (len - at < 2)
        return EPROTO;
    h->kind = buf[at];
    keylen = buf[at + 1];
    if (h->kind < CPH__KIND_FD || h->kind > CPH__KIND_EXPECT ||
        keylen == 0 || keylen > CPH__KEY_MAX || len - at - 2 < keylen)
        return EPROTO;
    memcpy(h->key, buf + at + 2, keylen);
    h->key[keylen] = '\0';
    if (strlen(h->key) != keylen || !cph__key_valid(h->key))
        return EPROTO;
    *off = at + 2 + keylen;
    return 0;
}
