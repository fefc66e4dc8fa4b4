/*
 * Preloaded into a child (LD_PRELOAD): the Nth call to malloc, calloc or
 * realloc of the process fails with ENOMEM, N from CPH_TEST_FAIL_ALLOC;
 * every other call goes to glibc's allocator.
 */
#include <errno.h>
#include <stdlib.h>

extern char **environ;
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);

static long calls, fail_at = -1;

static int fail_now(void)
{
    if (fail_at < 0) {
        const char *v;
        if (!environ)
            return 0; /* the loader's own, before the environment */
        v = getenv("CPH_TEST_FAIL_ALLOC");
        fail_at = v ? atol(v) : 0;
    }
    if (++calls != fail_at)
        return 0;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t size)
{
    return fail_now() ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    return fail_now() ? NULL : __libc_realloc(p, size);
}
