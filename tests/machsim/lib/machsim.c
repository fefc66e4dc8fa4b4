/* machsim.h: the test API */
#include "../machsim.h"
#include "conn.h"

static int rights_call(uint32_t op, pid_t pid, struct machsim_right *out, int max)
{
	static __thread struct ms_right buf[8192];
	struct ms_req q = {.op = op, .a = {(uint64_t)pid}};
	struct machsim__answer a = {.buf = buf, .cap = sizeof buf};
	if (machsim__call(&q, NULL, NULL, 0, &a)) return -1;
	int n = (int)a.rep.v[0];
	for (int i = 0; i < n && i < max; i++)
		out[i] = (struct machsim_right){buf[i].name, buf[i].type, buf[i].urefs};
	return n;
}

int machsim_rights(pid_t pid, struct machsim_right *out, int max)
{
	return rights_call(MS_TEST_RIGHTS, pid, out, max);
}

int machsim_start_rights(pid_t pid, struct machsim_right *out, int max)
{
	return rights_call(MS_TEST_START_RIGHTS, pid, out, max);
}

void machsim_deny_register(bool deny)
{
	machsim__call_simple(MS_TEST_SANDBOX, deny, 0, 0, NULL);
}

void machsim_set_name_limit(uint32_t limit)
{
	machsim__call_simple(MS_TEST_NAME_LIMIT, limit, 0, 0, NULL);
}

void machsim_fail_fileports(bool fail)
{
	machsim__call_simple(MS_TEST_FAIL_FILEPORTS, fail, 0, 0, NULL);
}

uint32_t machsim_pid_version(pid_t pid)
{
	uint64_t v = 0;
	if (machsim__call_simple(MS_TEST_PID_VERSION, (uint64_t)pid, 0, 0, &v)) return 0;
	return (uint32_t)v;
}
