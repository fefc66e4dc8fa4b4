#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "../transport.h"
#include "attachments.h"
#if CPH__MACH
#include "../darwin/ports.h"
#endif

int cph_attachments_init(cph_attachments_t **list)
{
    if (!list)
        return EINVAL;
    *list = calloc(1, sizeof **list);
    if (!*list)
        return ENOMEM;
    (*list)->delivery = CPH__DELIVERY_DEFAULT;
    return 0;
}

int cph_attachments_set_delivery(cph_attachments_t *list, int delivery)
{
    if (!list || (delivery != CPH_DELIVERY_DIRECT &&
                  delivery != CPH_DELIVERY_PID_BOUND &&
                  delivery != CPH_DELIVERY_NAMELESS))
        return EINVAL;
    if ((delivery == CPH_DELIVERY_DIRECT && !CPH__HAS_DIRECT) ||
        (delivery == CPH_DELIVERY_NAMELESS && !CPH__MACH))
        return ENOTSUP;
    list->delivery = delivery;
    return 0;
}

void cph_attachments_destroy(cph_attachments_t *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        if (!list->items[i].given)
            cph__handle_release(&list->items[i].h);
    cph__keyset_free(&list->keys);
    cph__keyset_free(&list->expect_keys);
    free(list->items);
    free(list->expects);
    cph__place_free(list);
    free(list);
}

/* Checks key against the keys of array (count elements of size bytes)
 * and makes room for one more. */
static int reserve(void **array, size_t size, size_t count, size_t *cap,
                   struct cph__keyset *keys, const char *key)
{
    size_t grown_cap;
    void *grown;
    int err;

    if (!cph__key_valid(key))
        return EINVAL;
    if (cph__keyset_find(keys, *array, size, key) >= 0)
        return EEXIST;
    if (count < *cap)
        return 0;
    grown_cap = *cap ? *cap * 2 : 8;
    err = cph__keyset_reserve(keys, *array, size, count, grown_cap);
    if (err)
        return err;
    grown = realloc(*array, grown_cap * size);
    if (!grown)
        return ENOMEM;
    *array = grown;
    *cap = grown_cap;
    return 0;
}

/* Checks key and makes room for one more item. */
int cph__attachments_reserve(cph_attachments_t *list, const char *key)
{
    if (!list)
        return EINVAL;
    return reserve((void **)&list->items, sizeof *list->items, list->count,
                   &list->cap, &list->keys, key);
}

/* Appends h; cph__attachments_reserve() made room. */
void cph__attachments_append(cph_attachments_t *list,
                             const struct cph__handle *h)
{
    struct cph__item *item = &list->items[list->count++];

    memset(item, 0, sizeof *item);
    item->h = *h;
    cph__keyset_put(&list->keys, list->items, sizeof *item, list->count - 1);
}

int cph_attachments_add_fd(cph_attachments_t *list, const char *key, int fd)
{
    struct cph__handle h = {.kind = CPH__KIND_FD};
    int err = cph__attachments_reserve(list, key);

    if (err)
        return err;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return EBADF;
    err = cph__fd_sendable(fd);
    if (err)
        return err;
    h.fd = cph__dup_from(fd, 3);
    if (h.fd < 0)
        return errno;
    strcpy(h.key, key);
    cph__attachments_append(list, &h);
    return 0;
}

/* The expected keys are their own namespace: a key may be both attached
 * (parent to child) and expected (child to parent). */
int cph_attachments_expect(cph_attachments_t *list, const char *key)
{
    struct cph__handle *h;
    int err;

    if (!list)
        return EINVAL;
    err = reserve((void **)&list->expects, sizeof *list->expects,
                  list->nexpects, &list->expects_cap, &list->expect_keys, key);
    if (err)
        return err;
    h = &list->expects[list->nexpects];
    memset(h, 0, sizeof *h);
    h->kind = CPH__KIND_EXPECT;
    h->fd = -1;
    strcpy(h->key, key);
    cph__keyset_put(&list->expect_keys, list->expects, sizeof *h,
                    list->nexpects++);
    return 0;
}

static int hold_one(struct cph__item *item, struct cph__handle *held)
{
    *held = item->h;
    if (item->h.kind == CPH__KIND_FD) {
        held->fd = cph__dup_from(item->h.fd, 3);
        return held->fd < 0 ? errno : 0;
    }
#if CPH__MACH
    return cph__port_hold(&item->h, &item->given, held);
#else
    return EINVAL;
#endif
}

/* Gives a spawn its own copy of every handle in list. The list is
 * logically unchanged; only MOVE rights leave it (see spawn.h). */
int cph__attachments_hold(const cph_attachments_t *list,
                          struct cph__handle **held, size_t *count)
{
    struct cph__handle *h;
    size_t i;
    int err = 0;

    h = calloc(list->count, sizeof *h);
    if (!h)
        return ENOMEM;
    for (i = 0; i < list->count; i++) {
        err = hold_one(&list->items[i], &h[i]);
        if (err)
            goto fail;
    }
    *held = h;
    *count = list->count;
    return 0;
fail:
    cph__handles_release(h, i);
    free(h);
    return err;
}
