/* machsim-kernel: one process per user holding every port, space and queue. Each libmachsim
 * thread talks to it over its own SOCK_SEQPACKET connection to @machsim-v1-<uid>; each task's
 * process is watched with a pidfd. It exits after 3 s with no task and no connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "kern.h"

#undef setsockopt /* the kernel is no simulated process: plain Linux sockets */

#define IDLE_EXIT_MS 3000

struct conn {
	bool open;
	bool named; /* has said which task it is */
	struct task *task;
	struct ucred cr;
};

static int ep, lfd;
static struct conn *conns;
static struct task **pidfds;
static int nslots;
static int nconns;

static void fatal(const char *what)
{
	perror(what);
	exit(1);
}

void reply(int conn, kern_return_t kr, const uint64_t *v, int nv, const void *pl, uint32_t n,
           const int *fds, int nfds)
{
	struct ms_rep r = {kr, n, {0}};
	for (int i = 0; i < nv && i < 7; i++) r.v[i] = v[i];
	struct iovec iov[2] = {{&r, sizeof r}, {(void *)pl, n}};
	char cbuf[CMSG_SPACE(sizeof(int) * MACHSIM_MAX_FDS)];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
	int k = 0;
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) k++;
	if (k) {
		memset(cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * k);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * k);
		int *out = (int *)CMSG_DATA(c);
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0) *out++ = fds[i];
	}
	while (sendmsg(conn, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

void guard_reply(int conn, const char *rule, const char *source)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "%s%c%s", rule, 0, source);
	reply(conn, MS_GUARD, NULL, 0, buf, (uint32_t)n + 1, NULL, 0);
}

void conn_set_task(int conn, struct task *t)
{
	conns[conn].task = t;
	conns[conn].named = true;
}

/* a terminated task's remaining connections get nothing more (its process exec'd or died) */
void conns_forget_task(struct task *t)
{
	for (int i = 0; i < nslots; i++)
		if (conns[i].open && conns[i].task == t) {
			waiters_drop_conn(i);
			conns[i].task = NULL;
		}
}

void watch_pidfd(int pidfd, struct task *t)
{
	if (pidfd < 0 || pidfd >= nslots) return;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = pidfd};
	if (t && !pidfds[pidfd]) epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev);
	if (!t && pidfds[pidfd]) epoll_ctl(ep, EPOLL_CTL_DEL, pidfd, NULL);
	pidfds[pidfd] = t;
}

static void conn_close(int fd)
{
	waiters_drop_conn(fd);
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	conns[fd] = (struct conn){0};
	nconns--;
}

static void conn_accept(void)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) return;
	socklen_t len = sizeof(struct ucred);
	int size = MACHSIM_MAX_DATAGRAM * 2;
	if (fd >= nslots || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &conns[fd].cr, &len)) {
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	conns[fd].open = true;
	nconns++;
}

/* A call's `task` argument: MIG sends the request to that task port; only the caller's own
 * port is modelled (task_for_pid is not), anything else fails the send. */
static bool task_arg_ok(struct task *t, const struct ms_req *q)
{
	bool takes = (q->op >= MS_PORT_ALLOCATE && q->op <= MS_PORT_SET_CONTEXT) ||
	             (q->op >= MS_PORTS_REGISTER && q->op <= MS_SET_SPECIAL_PORT);
	if (!takes) return true;
	struct entry *e = entry_check(t, (mach_port_name_t)q->a[6]);
	return e && (e->type & MACH_PORT_TYPE_SEND) && e->port == t->self;
}

static void dispatch(int fd, const struct ms_req *q, const uint8_t *pl, int *fds, int nfds)
{
	struct conn *c = &conns[fd];
	if (!c->named) {
		if (!hello_call(fd, q, &c->cr)) reply(fd, KERN_INVALID_TASK, NULL, 0, NULL, 0, NULL, 0);
	} else if (!c->task) {
		reply(fd, KERN_INVALID_TASK, NULL, 0, NULL, 0, NULL, 0);
	} else if (!task_arg_ok(c->task, q)) {
		reply(fd, MACH_SEND_INVALID_DEST, NULL, 0, NULL, 0, NULL, 0);
	} else if (q->op == MS_MSG) {
		msg_call(c->task, fd, q, pl, fds, nfds);
	} else if (q->op == MS_MSG_INTERRUPT) {
		msg_interrupt(fd);
	} else if (!port_call(c->task, fd, q, pl) &&
	           !task_call(c->task, fd, q, pl, fds, nfds)) {
		reply(fd, KERN_INVALID_ARGUMENT, NULL, 0, NULL, 0, NULL, 0);
	}
	if (q->op != MS_FILEPORT_MAKEPORT)
		for (int i = 0; i < nfds; i++) close(fds[i]);
}

static void conn_read(int fd)
{
	static uint8_t buf[MACHSIM_MAX_DATAGRAM];
	char cbuf[CMSG_SPACE(sizeof(int) * MACHSIM_MAX_FDS)];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	                    .msg_controllen = sizeof cbuf};
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (n < (ssize_t)sizeof(struct ms_req)) {
		conn_close(fd);
		return;
	}
	int fds[MACHSIM_MAX_FDS], nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds + nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
			nfds += k;
		}
	struct ms_req q;
	memcpy(&q, buf, sizeof q);
	if (q.n > (size_t)n - sizeof q) q.n = (uint32_t)((size_t)n - sizeof q);
	dispatch(fd, &q, buf + sizeof q, fds, nfds);
}

/* argv[1]: the abstract socket name the starter computed (lib/conn.c) */
static void listen_socket(const char *name)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "%s", name);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0) fatal("machsim-kernel: socket");
	if (bind(lfd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	                                                  (size_t)len))) {
		if (errno == EADDRINUSE) exit(0); /* another starter's kernel won */
		fatal("machsim-kernel: bind");
	}
	if (listen(lfd, 128)) fatal("machsim-kernel: listen");
}

static void setup(const char *name)
{
	struct rlimit rl;
	signal(SIGPIPE, SIG_IGN);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max > (1 << 20) ? (1 << 20) : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	nslots = (int)rl.rlim_cur;
	conns = calloc((size_t)nslots, sizeof *conns);
	pidfds = calloc((size_t)nslots, sizeof *pidfds);
	if (!conns || !pidfds) fatal("machsim-kernel: calloc");
	listen_socket(name);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) fatal("machsim-kernel: epoll");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: machsim-kernel SOCKET-NAME\n");
		return 2;
	}
	setup(argv[1]);
	uint64_t idle_since = now_ms();
	for (;;) {
		uint64_t now = now_ms(), d = waiters_next_deadline();
		int timeout = 1000;
		if (d) timeout = d <= now ? 0 : (int)(d - now < 1000 ? d - now : 1000);
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) conn_accept();
			else if (fd < nslots && pidfds[fd]) task_end(pidfds[fd]);
			else if (fd < nslots && conns[fd].open) conn_read(fd);
		}
		now = now_ms();
		waiters_timeout(now);
		if (tasks || nconns) idle_since = now;
		else if (now - idle_since >= IDLE_EXIT_MS) return 0;
	}
}
