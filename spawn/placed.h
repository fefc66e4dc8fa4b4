#ifndef CPH_PLACED_H
#define CPH_PLACED_H

#include <stdbool.h>

#include <cph/spawn.h>

int cph__placed_argv(const cph_attachments_t *list, const char *file,
                     bool search_path, bool same_dir, char *const argv[],
                     char ***out);
void cph__placed_free(char **args);

#endif
