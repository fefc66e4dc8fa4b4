/* libmachsim's line to machsim-kernel: one connection per thread that makes Mach calls, the
 * task hello of a new image (constructor, priority 101), the fork child's new task, and
 * starting the kernel when nobody has. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <mach/mach.h>

#include "conn.h"
#include "internal.h"

mach_port_t mach_task_self_;
mach_port_t bootstrap_port;

static uint64_t task_id;
static __thread int thread_fd = -1;
static pthread_key_t thread_key;
static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static int *all_fds;
static int nall, capall;

_Noreturn void machsim__guard(const char *rule, const char *xnu_source)
{
	dprintf(2, "machsim: EXC_GUARD %s (xnu %s)\n", rule, xnu_source);
	kill(getpid(), SIGKILL);
	_exit(137);
}

static _Noreturn void lost(const char *what)
{
	dprintf(2, "machsim: lost the kernel (%s: %s)\n", what, strerror(errno));
	abort();
}

static char sock_name[64];

/* FNV-1a of the kernel's path: each build talks to its own kernel */
static void socket_name(void)
{
	uint32_t h = 2166136261u;
	for (const char *p = MACHSIM_KERNEL_PATH; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(sock_name, sizeof sock_name, MACHSIM_SOCKET, (unsigned)getuid(), (unsigned)h);
}

static long raw_fork(void)
{
	return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

/* double fork + setsid + exec, so the kernel is nobody's child; no atfork handler runs and no
 * fd of ours stays open in it */
static void start_kernel(void)
{
	long pid = raw_fork();
	if (pid == 0) {
		setsid();
		if (raw_fork() == 0) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, 0);
			dup2(null, 1);
			syscall(SYS_close_range, 3, ~0U, 0);
			execl(MACHSIM_KERNEL_PATH, "machsim-kernel", sock_name, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR) {}
}

static int try_connect(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "%s", sock_name);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) lost("socket");
	if (!connect(fd, (struct sockaddr *)&a,
	             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)))
		return fd;
	close(fd);
	return -1;
}

static int kernel_connect(void)
{
	int fd = try_connect();
	for (int i = 0; fd < 0 && i < 500; i++) {
		if (i % 100 == 0) start_kernel();
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		fd = try_connect();
	}
	if (fd < 0) lost("connect");
	pthread_mutex_lock(&fds_lock);
	if (nall == capall) {
		int *n = realloc(all_fds, (size_t)(capall ? capall * 2 : 16) * sizeof *n);
		if (!n) lost("realloc");
		all_fds = n;
		capall = capall ? capall * 2 : 16;
	}
	all_fds[nall++] = fd;
	pthread_mutex_unlock(&fds_lock);
	return fd;
}

static void forget_fd(int fd)
{
	pthread_mutex_lock(&fds_lock);
	for (int i = 0; i < nall; i++)
		if (all_fds[i] == fd) all_fds[i] = all_fds[--nall];
	pthread_mutex_unlock(&fds_lock);
	close(fd);
}

static void thread_gone(void *p)
{
	forget_fd((int)(intptr_t)p - 1);
}

/* Waits for a mach_msg's answer. A caught signal ends xnu's wait in mach_msg whatever its
 * SA_RESTART (osfmk/ipc/ipc_mqueue.c ipc_mqueue_send_locked and
 * ipc_mqueue_receive_on_thread_and_unlock wait THREAD_ABORTSAFE); poll(2), never restarted
 * after a handler (signal(7)), sees it, and the kernel is told once: a call still waiting is
 * answered as interrupted (kernel/kmsg.c msg_interrupt). */
static void await_msg(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct ms_req stop = {.op = MS_MSG_INTERRUPT};
	bool told = false;
	while (poll(&p, 1, -1) < 0) {
		if (errno != EINTR) lost("poll");
		if (told) continue;
		while (send(fd, &stop, sizeof stop, MSG_NOSIGNAL) < 0)
			if (errno != EINTR) lost("send");
		told = true;
	}
}

static kern_return_t exchange(int fd, const struct ms_req *q, const void *pl, const int *fds,
                              int nfds, struct machsim__answer *a)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MACHSIM_MAX_FDS)];
	struct iovec iov[2] = {{(void *)q, sizeof *q}, {(void *)pl, q->n}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = q->n ? 2 : 1};
	if (nfds) {
		memset(cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR) lost("sendmsg");
	if (q->op == MS_MSG) await_msg(fd);
	struct iovec riov[2] = {{&a->rep, sizeof a->rep}, {a->buf, a->cap}};
	struct msghdr rh = {.msg_iov = riov, .msg_iovlen = a->buf ? 2 : 1, .msg_control = cbuf,
	                    .msg_controllen = sizeof cbuf};
	ssize_t n;
	while ((n = recvmsg(fd, &rh, MSG_CMSG_CLOEXEC)) < 0)
		if (errno != EINTR) lost("recvmsg");
	if (n < (ssize_t)sizeof a->rep) {
		errno = EPIPE;
		lost("recvmsg");
	}
	a->nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&rh); c; c = CMSG_NXTHDR(&rh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(a->fds + a->nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
			a->nfds += k;
		}
	if (a->rep.kr == MS_GUARD) {
		char *rule = a->buf ? (char *)a->buf : "?";
		machsim__guard(rule, a->buf ? rule + strlen(rule) + 1 : "?");
	}
	return a->rep.kr;
}

static int thread_conn(void)
{
	if (thread_fd >= 0) return thread_fd;
	int fd = kernel_connect();
	struct ms_req q = {.op = MS_HELLO_THREAD, .a = {task_id}};
	struct machsim__answer a = {0};
	if (exchange(fd, &q, NULL, NULL, 0, &a)) {
		errno = ESRCH;
		lost("thread hello");
	}
	thread_fd = fd;
	pthread_setspecific(thread_key, (void *)(intptr_t)(fd + 1));
	return fd;
}

kern_return_t machsim__call(struct ms_req *q, const void *pl, const int *fds, int nfds,
                            struct machsim__answer *a)
{
	char guard_buf[512];
	if (!a->buf) {
		a->buf = guard_buf;
		a->cap = sizeof guard_buf;
	}
	kern_return_t kr = exchange(thread_conn(), q, pl, fds, nfds, a);
	if (a->buf == guard_buf) a->buf = NULL;
	return kr;
}

kern_return_t machsim__call_simple(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2,
                                   uint64_t *v0)
{
	struct ms_req q = {.op = op, .a = {a0, a1, a2, 0, 0, 0, mach_task_self_}};
	struct machsim__answer a = {0};
	kern_return_t kr = machsim__call(&q, NULL, NULL, 0, &a);
	if (v0) *v0 = a.rep.v[0];
	return kr;
}

static void hello(uint32_t op, uint64_t arg)
{
	int fd = kernel_connect();
	struct ms_req q = {.op = op, .a = {arg}};
	struct machsim__answer a = {0};
	if (exchange(fd, &q, NULL, NULL, 0, &a)) {
		errno = ESRCH;
		lost("hello");
	}
	task_id = a.rep.v[0];
	mach_task_self_ = (mach_port_t)a.rep.v[1];
	bootstrap_port = (mach_port_t)a.rep.v[2];
	thread_fd = fd;
	pthread_setspecific(thread_key, (void *)(intptr_t)(fd + 1));
}

/* fork() returns in the parent only once the child's task exists, created from the parent's as
 * it was at fork (xnu-11417 bsd/kern/kern_fork.c fork1 → cloneproc → task_create_internal →
 * osfmk/kern/ipc_tt.c ipc_task_init), not as the parent changed it since: the parent waits for
 * EOF on a pipe whose write end the child closes once its task is made (or fork failed). */
static __thread int fork_pipe[2] = {-1, -1};

static void atfork_prepare(void)
{
	if (pipe2(fork_pipe, O_CLOEXEC) < 0) fork_pipe[0] = fork_pipe[1] = -1;
}

static void atfork_parent(void)
{
	char c;
	if (fork_pipe[0] < 0) return;
	close(fork_pipe[1]);
	while (read(fork_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	close(fork_pipe[0]);
	fork_pipe[0] = fork_pipe[1] = -1;
}

/* fork: the child holds none of the parent's connections, and a task of its own created from
 * the parent's (no names carry over: libsystem's mach_init runs again in the child) */
static void atfork_child(void)
{
	uint64_t parent = task_id;
	for (int i = 0; i < nall; i++) close(all_fds[i]);
	nall = 0;
	thread_fd = -1;
	pthread_mutex_init(&fds_lock, NULL);
	hello(MS_FORKED, parent);
	if (fork_pipe[0] >= 0) {
		close(fork_pipe[0]);
		close(fork_pipe[1]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
}

__attribute__((constructor(101))) static void machsim_init(void)
{
	socket_name();
	pthread_key_create(&thread_key, thread_gone);
	hello(MS_HELLO_IMAGE, (uint64_t)getpid());
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
