#include <stdio.h>
#include <unistd.h>

#include "cph_core.h"

/* "cph.<pid>.<32 hex digits>": unguessable, so nobody can take the name
 * before we do. It is no secret once in use (/proc/net/unix lists
 * abstract names, a child's environment shows it): the token and the pid
 * check are what authenticate a check-in. The pid only helps a person. */
int cph__service_name(char name[CPH__SERVICE_MAX + 1])
{
    uint8_t random[CPH__TOKEN_SIZE];
    int err = cph__token_new(random);
    int n;

    if (err)
        return err;
    n = snprintf(name, CPH__SERVICE_MAX + 1, "cph.%ld.", (long)getpid());
    for (size_t i = 0; i < sizeof random; i++)
        n += snprintf(name + n, CPH__SERVICE_MAX + 1 - (size_t)n, "%02x",
                      random[i]);
    return 0;
}
