#include <errno.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#elif defined(__APPLE__)
#include <stdlib.h>
#endif

#include "cph_core.h"

int cph__token_new(uint8_t token[CPH__TOKEN_SIZE])
{
#if defined(__APPLE__)
    arc4random_buf(token, CPH__TOKEN_SIZE);
    return 0;
#else
    /* getrandom blocks only until the kernel's pool is first seeded. */
    size_t got = 0;
    while (got < CPH__TOKEN_SIZE) {
        ssize_t n = getrandom(token + got, CPH__TOKEN_SIZE - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        got += (size_t)n;
    }
    return 0;
#endif
}

/* Constant time: the loop never stops early, so timing tells nothing of
 * how many bytes matched. */
bool cph__token_equal(const uint8_t *a, const uint8_t *b)
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < CPH__TOKEN_SIZE; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}
