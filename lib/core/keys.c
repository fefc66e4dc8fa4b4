#include <string.h>

#include "cph_core.h"

/* 1 to max bytes of [A-Za-z0-9._-]: keys, and service names. */
bool cph__name_valid(const char *s, size_t max)
{
    size_t len;

    if (!s)
        return false;
    len = strnlen(s, max + 1);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool cph__key_valid(const char *key)
{
    return cph__name_valid(key, CPH__KEY_MAX);
}
