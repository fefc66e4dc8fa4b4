/*
 * What only the direct delivery does: the child's end is its own
 * capability, wrappers hand the handles on, and the spawned process's
 * exit releases what nobody read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

/* A child that never links libcph_child is given up when it exits. */
Test(direct, plain_child_is_given_up_at_exit)
{
    cph_attachments_t *list = list_for(CPH_DELIVERY_DIRECT);
    char out[256], *args[] = {"sleep", out, "0", NULL};
    pid_t pid;
    int got;

    list_add(list, "fd0", memfd_text("fd0"));
    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    pid = spawn_helper("h_plain", args, list);
    wait_exit(pid);
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, ECONNABORTED, "got %s", strerror(got));
    cph_attachments_destroy(list);
}

/* Makes pidfd_open fail with ENOSYS in this process (and the threads it
 * starts from now on), as on Linux < 5.3 or under a strict filter. */
static void forbid_pidfd_open(void)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#endif
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0],
                              .filter = code};

    cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    cr_assert_eq(syscall(SYS_pidfd_open, getpid(), 0), -1);
    cr_assert_eq(errno, ENOSYS);
}

/* Without pidfds the parent keeps its sending end: a child that takes its
 * handles is still handed over, one that never reads is given up when it
 * exits, and nothing is kept after either. */
Test(direct, without_pidfds)
{
    cph_attachments_t *shared, *plain = list_for(CPH_DELIVERY_DIRECT);
    char out[256], *args[] = {"sleep", out, "0", NULL};
    const char *failure;
    int before, got;
    pid_t pid;

    forbid_pidfd_open();
    shared = shared_list();
    cr_assert_eq(cph_attachments_set_delivery(shared, CPH_DELIVERY_DIRECT), 0);
    failure = spawn_expecting_shared(shared); /* starts libcph's thread */
    cr_assert_null(failure, "%s", failure);
    list_add(plain, "fd0", memfd_text("fd0"));
    before = count_fds();
    failure = spawn_expecting_shared(shared);
    cr_assert_null(failure, "%s", failure);
    snprintf(out, sizeof out, "%s", scratch_path("plain"));
    pid = spawn_helper("h_plain", args, plain);
    wait_exit(pid);
    got = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(got, ECONNABORTED, "got %s", strerror(got));
    cr_assert_eq(count_fds(), before, "fds kept");
    cph_attachments_destroy(shared);
    cph_attachments_destroy(plain);
}
