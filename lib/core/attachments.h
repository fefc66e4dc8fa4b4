#ifndef CPH_ATTACHMENTS_H
#define CPH_ATTACHMENTS_H

#include <stdbool.h>

#include "cph_core.h"

struct cph__item {
    struct cph__handle h; /* first: the keyset reads the key there */
    /* A MOVE right that a spawn has taken: the list no longer owns it.
     * Changed from spawning threads through a const list, atomically. */
    bool given;
};

struct cph_attachments {
    struct cph__item *items;
    size_t count, cap;
    struct cph__keyset keys;
    /* Keys children may give back: entries of kind CPH__KIND_EXPECT. */
    struct cph__handle *expects;
    size_t nexpects, expects_cap;
    struct cph__keyset expect_keys;
    int delivery;
};

int cph__attachments_reserve(struct cph_attachments *list, const char *key);
void cph__attachments_append(struct cph_attachments *list,
                             const struct cph__handle *h);

#endif
