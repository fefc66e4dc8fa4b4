/*
 * A main for harnesses built without libFuzzer (the macOS cross-build,
 * whose zig has none, and the Mach simulator's corpus replays): runs
 * LLVMFuzzerTestOneInput once over each file named, and over each file
 * of each directory named, as a libFuzzer harness does when given them.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Larger than any input a harness looks at. */
#define INPUT_MAX (1 << 20)

static int run_file(const char *path, uint8_t *data)
{
    FILE *f = fopen(path, "rb");
    size_t size;

    if (!f) {
        perror(path);
        return 1;
    }
    size = fread(data, 1, INPUT_MAX, f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    printf("%s: ok\n", path);
    return 0;
}

static int run_dir(const char *path, DIR *d, uint8_t *data)
{
    struct dirent *e;
    char file[4096];

    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (run_file(file, data) != 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t *data = malloc(INPUT_MAX);
    int err = 0;

    if (!data)
        return 1;
    for (int i = 1; i < argc && err == 0; i++) {
        DIR *d = opendir(argv[i]);

        if (d) {
            err = run_dir(argv[i], d, data);
            closedir(d);
        } else {
            err = run_file(argv[i], data);
        }
    }
    free(data);
    return err;
}
