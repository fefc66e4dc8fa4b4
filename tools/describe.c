/*
 * What an fd is, in one line: for a regular file its path, size and first
 * line; for a socket its kind and address. cph-show prints it for each
 * handle it takes, cph-run --expect for each handle given back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "describe.h"

#define FIRST_LINE_MAX 200

/* Prints n bytes of s, escaping what would break a line or a quote. */
static void put_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void print_first_line(int fd)
{
    char buf[FIRST_LINE_MAX];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    char *nl;

    if (n < 0) {
        printf("(unreadable: %s)", strerror(errno));
        return;
    }
    if (n == 0) {
        printf("(empty)");
        return;
    }
    nl = memchr(buf, '\n', (size_t)n);
    putchar('"');
    put_escaped(buf, nl ? (size_t)(nl - buf) : (size_t)n);
    putchar('"');
}

static void print_file(int fd, const struct stat *st)
{
    char link[32], path[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path);
    printf("file ");
    if (n > 0) {
        put_escaped(path, (size_t)n);
        putchar(' ');
    }
    printf("(%lld bytes)  ", (long long)st->st_size);
    print_first_line(fd);
}

static void print_address(const struct sockaddr_storage *ss, socklen_t len)
{
    const struct sockaddr_in *in = (const void *)ss;
    const struct sockaddr_in6 *in6 = (const void *)ss;
    const struct sockaddr_un *un = (const void *)ss;
    size_t path = offsetof(struct sockaddr_un, sun_path);
    char host[INET6_ADDRSTRLEN];

    switch (ss->ss_family) {
    case AF_INET:
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        printf(" %s:%u", host, ntohs(in->sin_port));
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        printf(" [%s]:%u", host, ntohs(in6->sin6_port));
        break;
    case AF_UNIX:
        path = len > path ? len - path : 0;
        if (path == 0) {
            printf(" (unnamed)");
        } else if (un->sun_path[0] == '\0') {
            printf(" @");
            put_escaped(un->sun_path + 1, path - 1);
        } else {
            putchar(' ');
            put_escaped(un->sun_path, strnlen(un->sun_path, path));
        }
        break;
    }
}

static const char *socket_kind(int family, int type)
{
    if (family == AF_INET || family == AF_INET6)
        return type == SOCK_STREAM ? "tcp" : type == SOCK_DGRAM ? "udp" : "ip";
    if (family != AF_UNIX)
        return NULL;
    switch (type) {
    case SOCK_STREAM:
        return "unix stream";
    case SOCK_DGRAM:
        return "unix dgram";
    case SOCK_SEQPACKET:
        return "unix seqpacket";
    default:
        return "unix";
    }
}

static void print_socket(int fd)
{
    struct sockaddr_storage ss = {.ss_family = AF_UNSPEC};
    socklen_t len = sizeof ss, optlen;
    int type = 0, listening = 0;
    const char *kind;

    optlen = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen);
    optlen = sizeof listening;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        ss.ss_family = AF_UNSPEC;
    kind = socket_kind(ss.ss_family, type);
    if (kind)
        printf("%s socket", kind);
    else
        printf("socket (family %d)", ss.ss_family);
    if (listening)
        printf(" listening");
    print_address(&ss, len);
}

void describe(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        printf("unknown (%s)", strerror(errno));
        return;
    }
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        print_file(fd, &st);
        break;
    case S_IFDIR:
        printf("directory");
        break;
    case S_IFIFO:
        printf("pipe");
        break;
    case S_IFCHR:
        printf("character device");
        break;
    case S_IFBLK:
        printf("block device");
        break;
    case S_IFSOCK:
        print_socket(fd);
        break;
    default:
        printf("other");
    }
}
