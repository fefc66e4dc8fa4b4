/*
 * A main for harnesses built without libFuzzer (the macOS cross-build,
 * whose zig has none): runs LLVMFuzzerTestOneInput once over each file
 * named, as a libFuzzer harness does when given files.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

/* Larger than any input a harness looks at. */
#define INPUT_MAX (1 << 20)

int main(int argc, char **argv)
{
    uint8_t *data = malloc(INPUT_MAX);

    if (!data)
        return 1;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        size_t size;

        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size = fread(data, 1, INPUT_MAX, f);
        fclose(f);
        LLVMFuzzerTestOneInput(data, size);
        printf("%s: ok\n", argv[i]);
    }
    free(data);
    return 0;
}
