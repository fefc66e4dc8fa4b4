/*
 * What every libFuzzer harness in fuzz/ shares. Harnesses include the
 * library's internal headers (lib/ is on their include path); nothing
 * here is installed.
 */
#ifndef CPH_FUZZ_H
#define CPH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a malloc'd C string of exactly size + 1 bytes, so that a
 * read past its NUL is caught; aborts when out of memory. */
char *fuzz_string(const uint8_t *data, size_t size);

#endif
