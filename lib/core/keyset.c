#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cph_core.h"

/* FNV-1a: keys are short and chosen by the program, not by an attacker
 * who could aim for collisions (a reply's keys are the parent's). */
static size_t hash(const char *key)
{
    uint32_t h = 2166136261u;

    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 16777619u;
    return h;
}

static const char *key_at(const void *base, size_t stride, size_t index)
{
    const struct cph__handle *h =
        (const void *)((const char *)base + index * stride);

    return h->key;
}

static size_t slot_of(const struct cph__keyset *s, const void *base,
                      size_t stride, const char *key)
{
    size_t at = hash(key) & s->mask;

    while (s->slots[at] &&
           strcmp(key_at(base, stride, s->slots[at] - 1), key) != 0)
        at = (at + 1) & s->mask;
    return at;
}

/* At most half full, so probes stay short. */
int cph__keyset_reserve(struct cph__keyset *s, const void *base,
                        size_t stride, size_t count, size_t want)
{
    struct cph__keyset grown;
    size_t cap = 16;

    if (s->slots && want * 2 <= s->mask + 1)
        return 0;
    while (cap < want * 2)
        cap *= 2;
    if (want > UINT32_MAX / 2)
        return ENOMEM;
    grown.slots = calloc(cap, sizeof *grown.slots);
    if (!grown.slots)
        return ENOMEM;
    grown.mask = cap - 1;
    for (size_t i = 0; i < count; i++)
        cph__keyset_put(&grown, base, stride, i);
    free(s->slots);
    *s = grown;
    return 0;
}

long cph__keyset_find(const struct cph__keyset *s, const void *base,
                      size_t stride, const char *key)
{
    size_t at;

    if (!s->slots)
        return -1;
    at = slot_of(s, base, stride, key);
    return s->slots[at] ? (long)s->slots[at] - 1 : -1;
}

long cph__keyset_put(struct cph__keyset *s, const void *base, size_t stride,
                     size_t index)
{
    size_t at = slot_of(s, base, stride, key_at(base, stride, index));

    if (s->slots[at])
        return (long)s->slots[at] - 1;
    s->slots[at] = (uint32_t)index + 1;
    return -1;
}

void cph__keyset_free(struct cph__keyset *s)
{
    free(s->slots);
    s->slots = NULL;
    s->mask = 0;
}
