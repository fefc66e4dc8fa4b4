/*
 * A child linked with libcph_child, for what a caller of posix_spawn
 * would notice. h_twin MODE OUT [ARG] writes to the file OUT, opened only
 * after everything was looked at (fds 0-2 may be closed):
 *
 *   status N, count N       always first
 *   std       "fdN open|closed" for N = 0..2, then takes every key:
 *             "KEY FD"; then writes "stdout" to fd 1
 *   errno     "errno N": errno as main() found it
 *   fd N      "fd N TEXT" (what one nonblocking read of fd N gives) or
 *             "fd N closed"
 *   long N    takes the N handles under the 64-byte keys long_key(i) in
 *             order, each a file holding "i": "bad B" mismatches
 *   read      takes every handle: "KEY=first line"
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cph/child.h>

static char text[1 << 16];
static size_t used;

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (used < sizeof text)
        used += (size_t)vsnprintf(text + used, sizeof text - used, fmt, ap);
    va_end(ap);
}

/* The key of the i-th handle: 64 characters. */
static void long_key(char key[65], long i)
{
    snprintf(key, 65, "key.%060ld", i);
}

static void std_fds(void)
{
    char key[65];

    for (int fd = 0; fd < 3; fd++)
        say("fd%d %s\n", fd, fcntl(fd, F_GETFD) >= 0 ? "open" : "closed");
    for (size_t i = 0; i < cph_child_count(); i++) {
        snprintf(key, sizeof key, "%s", cph_child_key(i));
        say("%s %d\n", key, cph_child_take_fd(key));
    }
    if (write(1, "stdout\n", 7) < 0)
        say("stdout-errno %d\n", errno);
}

static void read_fd(long fd)
{
    char buf[256];
    ssize_t n;

    if (fcntl((int)fd, F_GETFL) < 0) {
        say("fd %ld closed\n", fd);
        return;
    }
    fcntl((int)fd, F_SETFL, fcntl((int)fd, F_GETFL) | O_NONBLOCK);
    n = read((int)fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    say("fd %ld %s\n", fd, buf);
}

static void long_keys(long n)
{
    char key[65], want[32], got[32];
    long bad = 0;

    for (long i = 0; i < n; i++) {
        int fd;
        ssize_t len;

        long_key(key, i);
        snprintf(want, sizeof want, "%ld", i);
        fd = cph_child_take_fd(key);
        len = fd < 0 ? -1 : pread(fd, got, sizeof got - 1, 0);
        got[len > 0 ? len : 0] = '\0';
        bad += fd < 3 || strcmp(got, want) != 0;
        if (fd >= 0)
            close(fd);
    }
    say("bad %ld\n", bad);
}

static void read_all(void)
{
    char key[65], buf[256];

    for (size_t i = 0; i < cph_child_count(); i++) {
        int fd;
        ssize_t n;

        snprintf(key, sizeof key, "%s", cph_child_key(i));
        fd = cph_child_take_fd(key);
        n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        say("%s=%s\n", key, buf);
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int entry_errno = errno;
    const char *mode = argc > 2 ? argv[1] : "";
    long arg = argc > 3 ? atol(argv[3]) : 0;
    FILE *out;

    say("status %d\ncount %zu\n", cph_child_status(), cph_child_count());
    if (strcmp(mode, "std") == 0)
        std_fds();
    else if (strcmp(mode, "errno") == 0)
        say("errno %d\n", entry_errno);
    else if (strcmp(mode, "fd") == 0)
        read_fd(arg);
    else if (strcmp(mode, "long") == 0)
        long_keys(arg);
    else if (strcmp(mode, "read") == 0)
        read_all();
    else
        return 101;
    if (!(out = fopen(argv[2], "we")))
        return 100;
    fputs(text, out);
    return fclose(out) == 0 ? 0 : 102;
}
