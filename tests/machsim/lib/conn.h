/* libmachsim's calls into machsim-kernel (lib/conn.c) */
#ifndef MACHSIM_CONN_H
#define MACHSIM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <mach/kern_return.h>

#include "../kernel/proto.h"

struct machsim__answer {
	struct ms_rep rep;
	void *buf; /* payload back, up to cap bytes */
	uint32_t cap;
	int fds[MACHSIM_MAX_FDS];
	int nfds;
};

/* One request on this thread's connection; a guard answer kills the process. q->a[6] is the
 * `task` argument of calls that take one. */
kern_return_t machsim__call(struct ms_req *q, const void *pl, const int *fds, int nfds,
                            struct machsim__answer *a);
/* The same without payload; *v0 = the first value back (v0 may be NULL). */
kern_return_t machsim__call_simple(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2,
                                   uint64_t *v0);

#endif
