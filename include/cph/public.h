/* CPH_PUBLIC marks the functions libcph and libcph_child export; every
 * other symbol of theirs is hidden. */
#ifndef CPH_PUBLIC_H
#define CPH_PUBLIC_H

#include <cph/version.h>

#if defined(__GNUC__) || defined(__clang__)
#define CPH_PUBLIC __attribute__((visibility("default")))
#else
#define CPH_PUBLIC
#endif

#endif
