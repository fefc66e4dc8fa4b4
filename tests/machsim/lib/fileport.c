/* fileport_makeport / fileport_makefd (bsd/kern/kern_descrip.c sys_fileport_makeport,
 * sys_fileport_makefd): the file travels to and from machsim-kernel by SCM_RIGHTS. */
#include <errno.h>

#include <mach/mach.h>
#include <sys/fileport.h>

#include "conn.h"

int fileport_makeport(int fd, fileport_t *port)
{
	struct ms_req q = {.op = MS_FILEPORT_MAKEPORT};
	struct machsim__answer a = {0};
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	machsim__call(&q, NULL, &fd, 1, &a);
	if (a.rep.v[0]) {
		errno = (int)a.rep.v[0];
		return -1;
	}
	*port = (fileport_t)a.rep.v[1];
	return 0;
}

/* The fd arrives through recvmsg(MSG_CMSG_CLOEXEC), which installs it at the lowest free
 * number, as fdalloc(p, 0, &fd) does. */
int fileport_makefd(fileport_t port)
{
	struct ms_req q = {.op = MS_FILEPORT_MAKEFD, .a = {port}};
	struct machsim__answer a = {0};
	machsim__call(&q, NULL, NULL, 0, &a);
	if (a.rep.v[0] || a.nfds != 1) {
		errno = a.rep.v[0] ? (int)a.rep.v[0] : EINVAL;
		return -1;
	}
	return a.fds[0];
}
