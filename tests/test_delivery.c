/* fds of each kind arrive with their content; many fds; many children. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

static cph_attachments_t *new_list(void)
{
    cph_attachments_t *list;

    cr_assert_eq(cph_attachments_init(&list), 0);
    return list;
}

static void add(cph_attachments_t *list, const char *key, int fd)
{
    cr_assert_eq(cph_attachments_add_fd(list, key, fd), 0, "%s", key);
    close(fd);
}

static int memfd_with(const char *text)
{
    int fd = memfd_create("cph-test", MFD_CLOEXEC);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void assert_line(const char *report, const char *line)
{
    cr_assert_not_null(strstr(report, line), "missing \"%s\" in:\n%s", line,
                       report);
}

Test(delivery, each_kind_with_its_content)
{
    cph_attachments_t *list = new_list();
    int p[2], sp[2], ev = eventfd(7, EFD_CLOEXEC);
    char *report, path[256];
    FILE *f;

    snprintf(path, sizeof path, "%s", scratch_path("file"));
    f = fopen(path, "w");
    fputs("regular file\n", f);
    fclose(f);
    add(list, "file", open(path, O_RDONLY | O_CLOEXEC));
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(write(p[1], "pipe data\n", 10), 10);
    add(list, "pipe", p[0]);
    close(p[1]);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(write(sp[0], "socket data\n", 12), 12);
    add(list, "sock", sp[1]);
    add(list, "memfd", memfd_with("memory\n"));
    add(list, "null", open("/dev/null", O_RDONLY | O_CLOEXEC));
    add(list, "zero", open("/dev/zero", O_RDONLY | O_CLOEXEC));
    add(list, "eventfd", ev);
    cr_assert_eq(run_helper("h_child", "read", NULL, list, &report), 0);
    assert_line(report, "file=regular file\n");
    assert_line(report, "pipe=pipe data\n");
    assert_line(report, "sock=socket data\n");
    assert_line(report, "memfd=memory\n");
    assert_line(report, "null=\n");
    assert_line(report, "zero=\n");
    /* Reading an eventfd gives its 8-byte counter: 7, little endian. */
    assert_line(report, "eventfd=\x07\n");
    close(sp[0]);
    unlink(path);
    free(report);
    cph_attachments_destroy(list);
}

Test(delivery, same_open_file_description)
{
    cph_attachments_t *list = new_list();
    int fd = memfd_with("skip this|read this\n");
    char *report;

    cr_assert_eq(lseek(fd, 10, SEEK_SET), 10);
    cr_assert_eq(cph_attachments_add_fd(list, "f", fd), 0);
    cr_assert_eq(run_helper("h_child", "read", NULL, list, &report), 0);
    assert_line(report, "f=read this\n");
    /* The child's read moved the offset we share. */
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 20);
    close(fd);
    free(report);
    cph_attachments_destroy(list);
}

Test(delivery, listening_socket_and_socketpair)
{
    cph_attachments_t *list = new_list();
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), conn;
    char out[256], *args[] = {"accept", out, NULL}, buf[8] = "";
    char *report;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("accept"));
    cr_assert_eq(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(listen(lfd, 1), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    add(list, "listen", lfd);
    pid = spawn_helper("h_child", args, list);
    conn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(conn, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(read(conn, buf, 5), 5);
    cr_assert_str_eq(buf, "hello");
    close(conn);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    assert_line(report, "accepted 1\n");
    free(report);
    cph_attachments_destroy(list);
}

Test(delivery, echo_over_socketpair)
{
    cph_attachments_t *list = new_list();
    char out[256], *args[] = {"echo", out, NULL}, buf[8] = "";
    int sp[2];
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("echo"));
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    add(list, "sock", sp[1]);
    pid = spawn_helper("h_child", args, list);
    cr_assert_eq(write(sp[0], "ping", 4), 4);
    cr_assert_eq(read(sp[0], buf, 4), 4);
    cr_assert_str_eq(buf, "ping");
    cr_assert_eq(wait_exit(pid), 0);
    close(sp[0]);
    cph_attachments_destroy(list);
}

/* A list of n memfds, key kNNN holding "vNNN". */
static cph_attachments_t *numbered_list(int n)
{
    cph_attachments_t *list = new_list();

    for (int i = 0; i < n; i++) {
        char key[16], text[16];
        snprintf(key, sizeof key, "k%03d", i);
        snprintf(text, sizeof text, "v%03d\n", i);
        add(list, key, memfd_with(text));
    }
    return list;
}

static void assert_numbered(const char *report, int n)
{
    for (int i = 0; i < n; i++) {
        char line[32];
        snprintf(line, sizeof line, "k%03d=v%03d\n", i, i);
        assert_line(report, line);
    }
}

Test(delivery, three_hundred_fds_in_one_spawn)
{
    cph_attachments_t *list = numbered_list(300);
    char *report;

    cr_assert_eq(run_helper("h_child", "read", NULL, list, &report), 0);
    assert_line(report, "status 0\n");
    assert_numbered(report, 300);
    free(report);
    cph_attachments_destroy(list);
}

Test(delivery, sixty_four_children_in_flight)
{
    cph_attachments_t *list = numbered_list(4);
    char outs[64][256];
    pid_t pids[64];

    for (int i = 0; i < 64; i++) {
        char *args[] = {"show", outs[i], NULL};
        snprintf(outs[i], sizeof outs[i], "%s", scratch_path("flight"));
        pids[i] = spawn_helper("h_child", args, list);
    }
    for (int i = 0; i < 64; i++) {
        char *report;
        cr_assert_eq(cph_checkin_wait(pids[i], 10000), 0, "child %d", i);
        cr_assert_eq(wait_exit(pids[i]), 0);
        report = slurp(outs[i]);
        cr_assert_not_null(report);
        assert_line(report, "status 0\n");
        assert_line(report, "count 4\nkey k000\nkey k001\nkey k002\nkey k003\n");
        free(report);
    }
    cph_attachments_destroy(list);
}

Test(delivery, list_reused_and_destroyed_early)
{
    cph_attachments_t *list = new_list();
    char *report;
    pid_t pid;
    char out[256], *args[] = {"show", out, NULL};

    add(list, "a", open("/dev/null", O_RDONLY | O_CLOEXEC));
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(run_helper("h_child", "show", NULL, list, &report), 0);
        assert_line(report, "status 0\n");
        assert_line(report, "key a\n");
        free(report);
    }
    snprintf(out, sizeof out, "%s", scratch_path("early"));
    pid = spawn_helper("h_child", args, list);
    cph_attachments_destroy(list);
    cr_assert_eq(cph_checkin_wait(pid, 10000), 0);
    cr_assert_eq(wait_exit(pid), 0);
    report = slurp(out);
    assert_line(report, "key a\n");
    free(report);
}

static void *spawn_twice(void *list)
{
    for (int i = 0; i < 2; i++) {
        char *report;
        cr_assert_eq(run_helper("h_child", "show", NULL, list, &report), 0);
        assert_line(report, "status 0\n");
        free(report);
    }
    return NULL;
}

Test(delivery, list_shared_by_threads)
{
    cph_attachments_t *list = new_list();
    pthread_t threads[4];

    add(list, "a", open("/dev/null", O_RDONLY | O_CLOEXEC));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, spawn_twice, list), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    cph_attachments_destroy(list);
}

Test(delivery, static_child)
{
    cph_attachments_t *list = new_list();
    char *report;

    add(list, "m", memfd_with("static\n"));
    cr_assert_eq(run_helper("h_child_static", "read", NULL, list, &report),
                 0);
    assert_line(report, "status 0\n");
    assert_line(report, "m=static\n");
    free(report);
    cph_attachments_destroy(list);
}
