/*
 * A child that loads libcph_child late and lets it go: h_dlopen LIBRARY
 * dlopens LIBRARY (its constructor checks in), keeps the string
 * cph_child_key(0) returns, dlcloses it, loads and uses another library
 * in its place, then exits 0 if the string still reads as it did
 * (child.h: it stays valid for the life of the process), 1 if not, 2 if
 * LIBRARY could not be used.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *(*key_of)(size_t);
    const char *key;
    char copy[65];
    void *lib, *other;

    if (argc < 2 || !(lib = dlopen(argv[1], RTLD_NOW)))
        return 2;
    *(void **)&key_of = dlsym(lib, "cph_child_key");
    if (!key_of || !(key = key_of(0)))
        return 2;
    strncpy(copy, key, sizeof copy - 1);
    copy[sizeof copy - 1] = '\0';
    dlclose(lib);
    other = dlopen("libm.so.6", RTLD_NOW);
    if (other)
        free(calloc(1, 1 << 16));
    return strcmp(copy, key) == 0 ? 0 : 1;
}
