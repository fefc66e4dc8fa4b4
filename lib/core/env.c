#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cph_core.h"

#define PREFIX CPH__ENV_NAME "="
#define VERSION "1:"

/* Writes "CPH_HANDSHAKE=1:<fd>:<service>" into buf. */
int cph__env_format(char *buf, size_t size, int fd, const char *service)
{
    int n = snprintf(buf, size, PREFIX VERSION "%d:%s", fd, service);

    return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/* Parses the value of CPH_HANDSHAKE, strictly: "1:<fd>:<service>". */
int cph__env_parse(const char *value, int *fd,
                   char service[CPH__SERVICE_MAX + 1])
{
    const char *p;
    long n = 0;

    if (strncmp(value, VERSION, strlen(VERSION)) != 0)
        return EINVAL;
    p = value + strlen(VERSION);
    if (*p < '0' || *p > '9')
        return EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > INT_MAX)
            return EINVAL;
    }
    if (*p++ != ':' || !cph__name_valid(p, CPH__SERVICE_MAX) ||
        strlen(p) > CPH__SERVICE_MAX)
        return EINVAL;
    *fd = (int)n;
    strcpy(service, p);
    return 0;
}

/* *out: envp without any CPH_HANDSHAKE, then entry. Only the array is
 * allocated; its strings are envp's and entry. */
int cph__env_with_handshake(char *const envp[], const char *entry,
                            char ***out)
{
    size_t n = 0, k = 0;
    char **env;

    while (envp && envp[n])
        n++;
    env = malloc((n + 2) * sizeof *env);
    if (!env)
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], PREFIX, strlen(PREFIX)) != 0)
            env[k++] = envp[i];
    env[k++] = (char *)entry;
    env[k] = NULL;
    *out = env;
    return 0;
}
