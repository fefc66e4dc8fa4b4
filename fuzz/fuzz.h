/*
 * What every libFuzzer harness in fuzz/ shares. Harnesses include the
 * library's internal headers (lib/ is on their include path); nothing
 * here is installed.
 */
#ifndef CPH_FUZZ_H
#define CPH_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a malloc'd C string of exactly size + 1 bytes, so that a
 * read past its NUL is caught; aborts when out of memory. */
char *fuzz_string(const uint8_t *data, size_t size);

/* An input read as a script, one byte at a time: 0 past its end. */
struct fuzz_script {
    const uint8_t *data;
    size_t size, at;
};

static inline uint8_t fuzz_byte(struct fuzz_script *s)
{
    return s->at < s->size ? s->data[s->at++] : 0;
}

/* fds.c (Linux): how many fds the process has open; and sending bytes
 * with nfds copies of fd by SCM_RIGHTS without blocking (true if the
 * kernel queued it). Up to FUZZ_FDS_MAX fds: past the kernel's 253 the
 * send fails, which a harness may want to try. */
#define FUZZ_FDS_MAX (255 + 2)
int fuzz_count_fds(void);
bool fuzz_send(int sock, const uint8_t *bytes, size_t len, int fd,
               size_t nfds);

#endif
