/*
 * cph-show: a child that prints each handle it received from its cph
 * parent: key, fd number, and what the fd is; for a regular file, its
 * first line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cph/child.h>

/* The first line of the file at fd (from offset 0), quoted. */
static void print_first_line(int fd)
{
    char buf[201];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

    if (n <= 0) {
        printf("  (empty)");
        return;
    }
    printf("  \"");
    for (ssize_t i = 0; i < n && buf[i] != '\n'; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (isprint(c))
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    putchar('"');
}

static void print_address(const struct sockaddr_storage *ss, socklen_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        printf(" %s:%u", host, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        printf(" [%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t path = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (path == 0)
            printf(" (unnamed)");
        else if (un->sun_path[0] == '\0')
            printf(" @%.*s", (int)path - 1, un->sun_path + 1);
        else
            printf(" %s", un->sun_path);
    }
}

static void print_socket(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type = 0, listening = 0;
    socklen_t optlen = sizeof type;
    const char *kind = "socket";

    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen);
    optlen = sizeof listening;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        ss.ss_family = AF_UNSPEC;
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
        kind = type == SOCK_STREAM ? "tcp socket" : type == SOCK_DGRAM
                                                        ? "udp socket"
                                                        : "ip socket";
    else if (ss.ss_family == AF_UNIX)
        kind = type == SOCK_STREAM      ? "unix stream socket"
               : type == SOCK_DGRAM     ? "unix datagram socket"
               : type == SOCK_SEQPACKET ? "unix seqpacket socket"
                                        : "unix socket";
    printf("%s%s", kind, listening ? " listening" : "");
    print_address(&ss, len);
}

static void describe(int fd)
{
    struct stat st;
    char link[64], path[PATH_MAX];
    ssize_t n;

    if (fstat(fd, &st) < 0) {
        printf("unknown (%s)", strerror(errno));
        return;
    }
    switch (st.st_mode & S_IFMT) {
    case S_IFREG:
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof path - 1);
        path[n > 0 ? n : 0] = '\0';
        printf("file %s%s(%lld bytes)", path, n > 0 ? " " : "",
               (long long)st.st_size);
        print_first_line(fd);
        break;
    case S_IFDIR:
        printf("directory");
        break;
    case S_IFIFO:
        printf("pipe");
        break;
    case S_IFSOCK:
        print_socket(fd);
        break;
    case S_IFCHR:
        printf("character device");
        break;
    case S_IFBLK:
        printf("block device");
        break;
    default:
        printf("other");
    }
}

int main(void)
{
    int status = cph_child_status();
    size_t count = cph_child_count();
    char **keys;

    if (status == ENOENT) {
        fprintf(stderr, "cph-show: not launched by cph (no CPH_HANDSHAKE)\n");
        return 1;
    }
    if (status != 0) {
        fprintf(stderr, "cph-show: no handles: %s\n", strerror(status));
        return 1;
    }
    /* Taking a handle shifts the indices: collect the keys first. */
    keys = calloc(count + 1, sizeof *keys);
    for (size_t i = 0; keys && i < count; i++)
        keys[i] = strdup(cph_child_key(i));
    printf("cph-show: %zu handle%s\n", count, count == 1 ? "" : "s");
    for (size_t i = 0; keys && i < count; i++) {
        int fd = cph_child_take_fd(keys[i]);
        printf("%s  fd %d  ", keys[i], fd);
        describe(fd);
        putchar('\n');
    }
    return 0;
}
