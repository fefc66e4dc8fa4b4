/* fds of each kind arrive with their content; many fds; many children. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

/* Runs h_report with args and list (a report is attached) and returns
 * the report. */
static char *run(cph_attachments_t *list, char *const args[])
{
    return report_of("h_report", args, list);
}

/* Starts h_report with args and a report pipe; *report is its read end. */
static pid_t start(cph_attachments_t *list, char *const args[], int *report)
{
    *report = attach_report(list);
    return spawn_helper("h_report", args, list);
}

/* A file in the scratch directory holding text, opened with flags. */
static int file_with(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fd = open(path, flags | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    return fd;
}

/* A loopback socket of type, bound to a free port; *addr is its address. */
static int loopback_socket(int type, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

static void read_exactly(int fd, char *buf, size_t len)
{
    cr_assert_eq(read(fd, buf, len), (ssize_t)len, "read: %s",
                 strerror(errno));
    buf[len] = '\0';
}

Test(delivery, regular_file)
{
    cph_attachments_t *list = list_new();
    const char *path = scratch_path("file");
    char *args[] = {"read", NULL};

    list_add(list, "file", file_with(path, "regular file\nline 2\n",
                                     O_RDONLY));
    assert_text(run(list, args), "file=regular file\n");
    unlink(path);
    cph_attachments_destroy(list);
}

Test(delivery, pipe_read_end_written_after_spawn)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL};
    int p[2], report;
    pid_t pid;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    list_add(list, "pipe", p[0]);
    pid = start(list, args, &report);
    cr_assert_eq(write(p[1], "late data\n", 10), 10);
    close(p[1]);
    assert_text(finish_report(pid, report), "pipe=late data\n");
    cph_attachments_destroy(list);
}

Test(delivery, pipe_write_end)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"write", "pipe", "from the child", NULL}, buf[32];
    int p[2];

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    list_add(list, "pipe", p[1]);
    assert_text(run(list, args), "wrote 14\n");
    read_exactly(p[0], buf, 14);
    cr_assert_str_eq(buf, "from the child");
    close(p[0]);
    cph_attachments_destroy(list);
}

Test(delivery, unix_socketpair_end)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"echo", "sock", NULL}, buf[8];
    int sp[2], report;
    pid_t pid;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    list_add(list, "sock", sp[1]);
    pid = start(list, args, &report);
    cr_assert_eq(write(sp[0], "ping", 4), 4);
    read_exactly(sp[0], buf, 4);
    cr_assert_str_eq(buf, "ping");
    assert_text(finish_report(pid, report), "echoed 1\n");
    close(sp[0]);
    cph_attachments_destroy(list);
}

Test(delivery, listening_tcp_socket)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"accept", "listen", NULL}, buf[2];
    struct sockaddr_in addr;
    int lfd = loopback_socket(SOCK_STREAM, &addr), conn, report;
    pid_t pid;

    cr_assert_eq(listen(lfd, 1), 0);
    list_add(list, "listen", lfd);
    pid = start(list, args, &report);
    conn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(conn, (struct sockaddr *)&addr, sizeof addr), 0);
    read_exactly(conn, buf, 1);
    cr_assert_str_eq(buf, "x");
    close(conn);
    assert_text(finish_report(pid, report), "accepted 1\n");
    cph_attachments_destroy(list);
}

Test(delivery, udp_socket)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"udp", "udp", NULL}, buf[8];
    struct sockaddr_in addr, mine;
    int ufd = loopback_socket(SOCK_DGRAM, &addr), report;
    int me = loopback_socket(SOCK_DGRAM, &mine);
    pid_t pid;

    list_add(list, "udp", ufd);
    pid = start(list, args, &report);
    cr_assert_eq(sendto(me, "dgram", 5, 0, (struct sockaddr *)&addr,
                        sizeof addr), 5);
    read_exactly(me, buf, 5);
    cr_assert_str_eq(buf, "dgram");
    assert_text(finish_report(pid, report), "returned 1\n");
    close(me);
    cph_attachments_destroy(list);
}

Test(delivery, directory)
{
    cph_attachments_t *list = list_new();
    char dir[256], file[300];
    char *args[] = {"openat", "dir", "inside", NULL};

    snprintf(dir, sizeof dir, "%s", scratch_path("dir"));
    snprintf(file, sizeof file, "%s/inside", dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    close(file_with(file, "found it\n", O_RDONLY));
    list_add(list, "dir", open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    assert_text(run(list, args), "inside=found it\n");
    unlink(file);
    rmdir(dir);
    cph_attachments_destroy(list);
}

Test(delivery, char_device_and_memfd)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL};

    list_add(list, "null", open("/dev/null", O_RDWR | O_CLOEXEC));
    list_add(list, "zero", open("/dev/zero", O_RDONLY | O_CLOEXEC));
    list_add(list, "memfd", memfd_text("in memory\n"));
    /* /dev/zero gives NULs: an empty first line. */
    assert_text(run(list, args), "null=\nzero=\nmemfd=in memory\n");
    cph_attachments_destroy(list);
}

Test(delivery, eventfd)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"counter", "ev", NULL};
    int ev = eventfd(41, EFD_CLOEXEC);
    uint64_t back = 0;

    cr_assert_geq(ev, 0);
    cr_assert_eq(cph_attachments_add_fd(list, "ev", ev), 0);
    assert_text(run(list, args), "counter 41 wrote 1\n");
    cr_assert_eq(read(ev, &back, sizeof back), (ssize_t)sizeof back);
    cr_assert_eq(back, 42, "got %" PRIu64, back);
    close(ev);
    cph_attachments_destroy(list);
}

/* What the child's fstat of each fd says is the very file we attached:
 * the same device and inode, whatever the kind. */
Test(delivery, each_kind_is_the_same_file)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"ino", NULL}, want[1024] = "", *report;
    int p[2], sp[2], fds[6];
    const char *keys[] = {"pipe", "sock", "memfd", "null", "dir", "event"};
    size_t len = 0;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    fds[0] = p[0];
    fds[1] = sp[1];
    fds[2] = memfd_text("m");
    fds[3] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fds[4] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    fds[5] = eventfd(0, EFD_CLOEXEC);
    for (size_t i = 0; i < 6; i++) {
        struct stat st;

        cr_assert_eq(fstat(fds[i], &st), 0, "%s", keys[i]);
        len += (size_t)snprintf(want + len, sizeof want - len,
                                "%s %ju %ju %o\n", keys[i],
                                (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
                                (unsigned)(st.st_mode & S_IFMT));
        list_add(list, keys[i], fds[i]);
    }
    report = run(list, args);
    cr_assert_str_eq(report, want);
    free(report);
    close(p[1]);
    close(sp[0]);
    cph_attachments_destroy(list);
}

Test(delivery, same_open_file_description)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL};
    int fd = memfd_text("skip this|read this\n");

    cr_assert_eq(lseek(fd, 10, SEEK_SET), 10);
    cr_assert_eq(cph_attachments_add_fd(list, "f", fd), 0);
    assert_text(run(list, args), "f=read this\n");
    /* The child's read moved the offset we share. */
    cr_assert_eq(lseek(fd, 0, SEEK_CUR), 20);
    close(fd);
    cph_attachments_destroy(list);
}

/* Keys k000... each a pipe or memfd (alternately) holding its number. */
static cph_attachments_t *numbered_list(int n)
{
    cph_attachments_t *list = list_new();

    for (int i = 0; i < n; i++) {
        char key[16], text[16];
        int p[2];

        snprintf(key, sizeof key, "k%03d", i);
        snprintf(text, sizeof text, "%03d", i);
        if (i % 2) {
            list_add(list, key, memfd_text(text));
            continue;
        }
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        cr_assert_eq(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
        close(p[1]);
        list_add(list, key, p[0]);
    }
    return list;
}

/* 300 fds need two replies of at most 253. */
Test(delivery, three_hundred_fds_in_one_spawn)
{
    cph_attachments_t *list = numbered_list(300);
    char *args[] = {"numbered", "300", NULL};

    assert_text(run(list, args), "numbered 300 bad 0 count 301\n");
    cph_attachments_destroy(list);
}

#define IN_FLIGHT 64

/* Every child spawned before any is waited for; each has its own list
 * and must get its own content, not another child's. */
Test(delivery, sixty_four_children_in_flight)
{
    cph_attachments_t *lists[IN_FLIGHT];
    int reports[IN_FLIGHT];
    pid_t pids[IN_FLIGHT];
    char *args[] = {"read", NULL};

    for (int i = 0; i < IN_FLIGHT; i++) {
        char text[32];

        snprintf(text, sizeof text, "child %d\n", i);
        lists[i] = list_new();
        list_add(lists[i], "id", memfd_text(text));
        pids[i] = start(lists[i], args, &reports[i]);
    }
    for (int i = 0; i < IN_FLIGHT; i++) {
        char want[32];

        snprintf(want, sizeof want, "id=child %d\n", i);
        assert_text(finish_report(pids[i], reports[i]), want);
        cph_attachments_destroy(lists[i]);
    }
}

Test(delivery, list_reused_for_sequential_spawns)
{
    cph_attachments_t *list = shared_list();

    for (int i = 0; i < 10; i++) {
        const char *failed = spawn_expecting_shared(list);
        cr_assert_null(failed, "spawn %d: %s", i, failed);
    }
    cph_attachments_destroy(list);
}

#define THREADS 4

struct shared_run {
    const cph_attachments_t *list;
    pthread_barrier_t *start;
    const char *failed;
};

/* Two spawns with the shared list (no assertions off the main thread). */
static void *spawn_twice(void *arg)
{
    struct shared_run *run = arg;

    pthread_barrier_wait(run->start);
    for (int i = 0; i < 2 && !run->failed; i++)
        run->failed = spawn_expecting_shared(run->list);
    return NULL;
}

Test(delivery, list_shared_by_threads)
{
    cph_attachments_t *list = shared_list();
    struct shared_run runs[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;

    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        runs[i] = (struct shared_run){.list = list, .start = &start};
        cr_assert_eq(pthread_create(&threads[i], NULL, spawn_twice, &runs[i]),
                     0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++)
        cr_assert_null(runs[i].failed, "thread %d: %s", i, runs[i].failed);
    pthread_barrier_destroy(&start);
    cph_attachments_destroy(list);
}

Test(delivery, list_destroyed_right_after_spawn)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL};
    int report;
    pid_t pid;

    list_add(list, "a", memfd_text("first\n"));
    list_add(list, "b", memfd_text("second\n"));
    pid = start(list, args, &report);
    cph_attachments_destroy(list);
    assert_text(finish_report(pid, report), "a=first\nb=second\n");
}

Test(delivery, static_child)
{
    cph_attachments_t *list = list_new();
    char *args[] = {"read", NULL};

    list_add(list, "m", memfd_text("static\n"));
    assert_text(report_of("h_report_static", args, list), "m=static\n");
    cph_attachments_destroy(list);
}
