/* Rule tests of fileports (kernel/task.c makeport, makefd): xnu-11417 bsd/kern/kern_descrip.c
 * sys_fileport_makeport, sys_fileport_makefd, fg_sendable. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/fileport.h>

#include "rules.h"

Test(fileport, roundtrip)
{
	int p[2];
	fileport_t fp;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fileport_makeport(p[1], &fp), 0);
	cr_assert_eq(type_of(fp), MACH_PORT_TYPE_SEND);
	int fd = fileport_makefd(fp);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "x", 1), 1);
	char c;
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(c, 'x');
}

/* fileport_makefd: fdalloc(p, 0, &fd) takes the lowest free fd, and FP_CLOEXEC */
Test(fileport, makefd_lowest_fd_cloexec)
{
	int p[2];
	fileport_t fp;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fileport_makeport(p[1], &fp), 0);
	int saved = dup(0);
	close(0);
	int fd = fileport_makefd(fp);
	cr_assert_eq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	dup2(saved, 0);
}

/* fg_sendable: a kqueue (epoll here), eventfd or pidfd is EINVAL */
Test(fileport, unsendable_files)
{
	fileport_t fp;
	int fds[3] = {epoll_create1(0), eventfd(0, 0), (int)syscall(SYS_pidfd_open, getpid(), 0)};
	for (int i = 0; i < 3; i++) {
		cr_assert_geq(fds[i], 0);
		errno = 0;
		cr_assert_eq(fileport_makeport(fds[i], &fp), -1, "fd %d", i);
		cr_assert_eq(errno, EINVAL, "fd %d", i);
	}
}

/* the fileport holds the file until its last send right goes */
Test(fileport, holds_file_until_last_send)
{
	int p[2];
	fileport_t fp;
	char c;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fileport_makeport(p[1], &fp), 0);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	cr_assert_eq(read(p[0], &c, 1), -1);
	cr_assert_eq(errno, EAGAIN, "the writer is still open in the fileport");
	cr_assert_eq(mach_port_deallocate(TASK, fp), 0);
	int r = -1;
	for (int i = 0; i < 500 && r != 0; i++) {
		r = (int)read(p[0], &c, 1);
		if (r) usleep(1000);
	}
	cr_assert_eq(r, 0, "EOF once the fileport is gone");
}

/* sys_fileport_makeport: EAGAIN when fileport_alloc makes no port; EINVAL when the send
 * right finds no name in the space (ipc_port_copyout_send); neither leaves a name */
Test(fileport, makeport_failures)
{
	int p[2];
	fileport_t fp;
	cr_assert_eq(pipe(p), 0);
	machsim_fail_fileports(true);
	errno = 0;
	cr_assert_eq(fileport_makeport(p[1], &fp), -1);
	cr_assert_eq(errno, EAGAIN);
	machsim_fail_fileports(false);
	struct machsim_right r[64];
	uint32_t used = (uint32_t)machsim_rights(getpid(), r, 64);
	machsim_set_name_limit(used);
	errno = 0;
	cr_assert_eq(fileport_makeport(p[1], &fp), -1);
	cr_assert_eq(errno, EINVAL);
	machsim_set_name_limit(0);
	cr_assert_eq((uint32_t)machsim_rights(getpid(), r, 64), used);
}

Test(fileport, makefd_needs_a_fileport)
{
	mach_port_t p = rcv_send_port();
	errno = 0;
	cr_assert_eq(fileport_makefd(p), -1);
	cr_assert_eq(errno, EINVAL);
}
