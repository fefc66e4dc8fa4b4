#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cph/spawn.h>

#include "cph_core.h"

#define PREFIX CPH__ENV_NAME "="

/* Writes "CPH_HANDSHAKE=<value>" into buf (see cph_core.h). */
int cph__env_format(char *buf, size_t size, const struct cph__env *e)
{
    int n;

    if (e->delivery == CPH_DELIVERY_NAMELESS)
        n = snprintf(buf, size, PREFIX "n:%d:%ld", e->slot, (long)e->pid);
    else if (e->delivery == CPH_DELIVERY_DIRECT)
        n = snprintf(buf, size, PREFIX "d:%d:%llu:%ld", e->fd,
                     (unsigned long long)e->inode, (long)e->pid);
    else
        n = snprintf(buf, size, PREFIX "p:%d:%llu:%ld:%s", e->fd,
                     (unsigned long long)e->inode, (long)e->pid, e->service);
    return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/* A decimal number up to max in its one spelling (no sign, no leading
 * zero), then sep; advances *p past both. */
static int number(const char **p, unsigned long long max, char sep,
                  unsigned long long *out)
{
    unsigned long long n = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (digit > max || n > (max - digit) / 10)
            return EINVAL;
        n = n * 10 + digit;
    }
    if (*s != sep)
        return EINVAL;
    *p = sep ? s + 1 : s;
    *out = n;
    return 0;
}

/* "n:<slot>:<pid>", the rest of it at p. */
static int parse_nameless(const char *p, struct cph__env *e)
{
    unsigned long long slot, pid;

    if (number(&p, CPH__SLOTS - 1, ':', &slot) ||
        number(&p, INT_MAX, '\0', &pid) || pid < 1)
        return EINVAL;
    e->delivery = CPH_DELIVERY_NAMELESS;
    e->fd = -1;
    e->inode = 0;
    e->slot = (int)slot;
    e->pid = (pid_t)pid;
    e->service[0] = '\0';
    return 0;
}

/* Parses the value of CPH_HANDSHAKE, strictly. The fd is never 0, 1 or 2:
 * cph never puts the channel there, and a stale value naming stdin must
 * not make a program read it. */
int cph__env_parse(const char *value, struct cph__env *e)
{
    unsigned long long fd, inode, pid;
    const char *p = value + 2;
    bool direct = value[0] == 'd';

    if (value[0] == 'n' && value[1] == ':')
        return parse_nameless(p, e);
    if ((!direct && value[0] != 'p') || value[1] != ':')
        return EINVAL;
    if (number(&p, INT_MAX, ':', &fd) || fd < 3 ||
        number(&p, UINT64_MAX, ':', &inode) ||
        number(&p, INT_MAX, direct ? '\0' : ':', &pid) || pid < 1)
        return EINVAL;
    if (!direct && (!cph__name_valid(p, CPH__SERVICE_MAX) ||
                    strlen(p) > CPH__SERVICE_MAX))
        return EINVAL;
    e->delivery = direct ? CPH_DELIVERY_DIRECT : CPH_DELIVERY_PID_BOUND;
    e->fd = (int)fd;
    e->slot = -1;
    e->inode = inode;
    e->pid = (pid_t)pid;
    strcpy(e->service, direct ? "" : p);
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
