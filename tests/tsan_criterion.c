/*
 * Linked into the suites of a -fsanitize=thread build only: lets
 * Criterion start under ThreadSanitizer (Criterion issue #274).
 *
 * Criterion's sandbox library (BoxFort) maps each of its shared arenas at
 * 0x200000000000 + (rand_r() & 0x3fffff) * 16 MiB, skips an address that
 * mincore() says is mapped, and gives up after 10 draws. ThreadSanitizer
 * owns nearly all of that range (its shadow, its metadata and the gaps it
 * reserves); the only application memory in it is
 * [0x550000000000, 0x568000000000). So about four starts in five end with
 * "Could not initialize inheritable arena", and the rest crash on the
 * sandbox's arena that failed next.
 *
 * Criterion calls rand_r() for nothing else, and neither do the suites:
 * this one draws only in that window, so every arena lands in memory
 * ThreadSanitizer lets a program map.
 */
#include <stdlib.h>

#define ARENA_STEPS_FIRST 0x350000u /* 0x550000000000 */
#define ARENA_STEPS 0x18000u        /* up to 0x568000000000 */

int rand_r(unsigned int *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (int)(ARENA_STEPS_FIRST + (*seed >> 8) % ARENA_STEPS);
}
