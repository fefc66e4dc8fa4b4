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

/* Where a handle lands for a program that does not link libcph_child:
 * at fd, or (fd -1) where the adapter has it, its number in var. */
struct cph__place {
    char key[CPH__KEY_MAX + 1];
    int fd;
    char *var;
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
    /* Placement (place.c): a list with any is spawned through the
     * adapter. */
    struct cph__place *places;
    size_t nplaces;
    bool systemd, systemd_pid;
    char *fdnames, *adapter;
};

int cph__attachments_reserve(struct cph_attachments *list, const char *key);
void cph__attachments_append(struct cph_attachments *list,
                             const struct cph__handle *h);

int cph__place_check(const struct cph_attachments *list);
void cph__place_free(struct cph_attachments *list);

#endif
