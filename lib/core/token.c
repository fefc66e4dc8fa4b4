#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cph_core.h"
#if !CPH__MACH
#include <sys/random.h>
#endif

int cph__token_new(uint8_t token[CPH__TOKEN_SIZE])
{
#if CPH__MACH
    /* glibc has had arc4random_buf since 2.36: the simulated build calls
     * it too. */
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
