/*
 * Placement: where a list's fds land for a program that does not link
 * libcph_child. The list records it; a spawn goes through the adapter
 * (spawn/placed.c), which checks in, places and execs the program.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/spawn.h>

#include "attachments.h"

/* The list's fd under key: 0, ENOENT (no such key) or EINVAL (a port). */
static int fd_key(const cph_attachments_t *list, const char *key)
{
    long i;

    if (!cph__key_valid(key))
        return EINVAL;
    i = cph__keyset_find(&list->keys, list->items, sizeof *list->items, key);
    if (i < 0)
        return ENOENT;
    return list->items[i].h.kind == CPH__KIND_FD ? 0 : EINVAL;
}

static bool fd_placed(const cph_attachments_t *list, int fd)
{
    for (size_t i = 0; i < list->nplaces; i++)
        if (list->places[i].fd == fd)
            return true;
    return false;
}

/* A portable environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static bool var_valid(const char *var)
{
    if (!var || !*var || (*var >= '0' && *var <= '9'))
        return false;
    for (const char *c = var; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

static int add_place(cph_attachments_t *list, const char *key, int fd,
                     const char *var)
{
    struct cph__place *grown, *p;
    char *copy = NULL;

    if (var && !(copy = strdup(var)))
        return ENOMEM;
    grown = realloc(list->places, (list->nplaces + 1) * sizeof *grown);
    if (!grown) {
        free(copy);
        return ENOMEM;
    }
    list->places = grown;
    p = &list->places[list->nplaces++];
    strcpy(p->key, key);
    p->fd = fd;
    p->var = copy;
    return 0;
}

int cph_attachments_place_fd(cph_attachments_t *list, const char *key,
                             int fd)
{
    int err;

    if (!list)
        return EINVAL;
    err = fd_key(list, key);
    if (err)
        return err;
    /* As posix_spawn_file_actions_adddup2 checks its target. */
    if (fd < 0 || fd >= getdtablesize())
        return EBADF;
    if (fd_placed(list, fd))
        return EEXIST;
    return add_place(list, key, fd, NULL);
}

int cph_attachments_place_env(cph_attachments_t *list, const char *key,
                              const char *var)
{
    int err;

    if (!list || !var_valid(var))
        return EINVAL;
    err = fd_key(list, key);
    if (err)
        return err;
    for (size_t i = 0; i < list->nplaces; i++)
        if (list->places[i].var && strcmp(list->places[i].var, var) == 0)
            return EEXIST;
    return add_place(list, key, -1, var);
}

/* Names as systemd's LISTEN_FDNAMES holds them: printable ASCII, at
 * most 255 bytes each, ':' between them. */
static bool fdnames_valid(const char *names)
{
    size_t len = 0;

    for (const char *c = names; *c; c++) {
        if (*c < 0x20 || *c > 0x7e)
            return false;
        len = *c == ':' ? 0 : len + 1;
        if (len > 255)
            return false;
    }
    return true;
}

int cph_attachments_place_systemd(cph_attachments_t *list,
                                  const char *fdnames, int flags)
{
    char *copy = NULL;

    if (!list || (flags & ~CPH_SYSTEMD_NO_PID) ||
        (fdnames && !fdnames_valid(fdnames)))
        return EINVAL;
    if (fdnames && !(copy = strdup(fdnames)))
        return ENOMEM;
    free(list->fdnames);
    list->fdnames = copy;
    list->systemd = true;
    list->systemd_pid = !(flags & CPH_SYSTEMD_NO_PID);
    return 0;
}

int cph_attachments_set_adapter(cph_attachments_t *list, const char *path)
{
    char *copy;

    if (!list || !path || !*path)
        return EINVAL;
    copy = strdup(path);
    if (!copy)
        return ENOMEM;
    free(list->adapter);
    list->adapter = copy;
    return 0;
}

static bool key_placed(const cph_attachments_t *list, const char *key)
{
    for (size_t i = 0; i < list->nplaces; i++)
        if (strcmp(list->places[i].key, key) == 0)
            return true;
    return false;
}

/* Whether a placement collides with the systemd layout of laid_out fds:
 * a number among 3.., or a variable the layout sets. */
static bool on_layout(const struct cph__place *p, size_t laid_out)
{
    if (p->var)
        return strcmp(p->var, "LISTEN_FDS") == 0 ||
               strcmp(p->var, "LISTEN_PID") == 0 ||
               strcmp(p->var, "LISTEN_FDNAMES") == 0;
    return p->fd >= 3 && (size_t)p->fd < 3 + laid_out;
}

/* The names fdnames gives. */
static size_t names_given(const char *fdnames)
{
    size_t n = 1;

    for (const char *c = fdnames; *c; c++)
        n += *c == ':';
    return n;
}

/*
 * What a spawn with placements refuses (EINVAL): a key given back (the
 * program cannot give), an fd placed nowhere without the systemd layout,
 * a port (the adapter hands on fds only), a placement the layout would
 * overwrite, more names than the layout has fds (sd_listen_fds_with_names
 * refuses them).
 */
int cph__place_check(const cph_attachments_t *list)
{
    size_t laid_out = 0;

    if (list->nexpects > 0)
        return EINVAL;
    for (size_t i = 0; i < list->count; i++) {
        if (key_placed(list, list->items[i].h.key))
            continue;
        if (!list->systemd || list->items[i].h.kind != CPH__KIND_FD)
            return EINVAL;
        laid_out++;
    }
    for (size_t i = 0; list->systemd && i < list->nplaces; i++)
        if (on_layout(&list->places[i], laid_out))
            return EINVAL;
    if (list->systemd && list->fdnames &&
        names_given(list->fdnames) > laid_out)
        return EINVAL;
    return 0;
}

void cph__place_free(cph_attachments_t *list)
{
    for (size_t i = 0; i < list->nplaces; i++)
        free(list->places[i].var);
    free(list->places);
    free(list->fdnames);
    free(list->adapter);
}
