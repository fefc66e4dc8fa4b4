/*
 * cph's own posix_spawn, for the spawns whose only file action is cph's
 * dup2 of the child's end and that have no attributes (spawn.c decides).
 * It does what glibc's does for them (sysdeps/unix/sysv/linux/spawni.c,
 * __spawnix and __spawni_child), with less work on the way:
 *  - the child's stack is mapped once per spawning thread and kept until
 *    the thread exits (glibc maps and unmaps one per spawn; the caller's
 *    own stack may be too small to lend a part of it);
 *  - the child resets only the handlers that are functions: a handler
 *    set back to SIG_DFL or left alone looks the same after execve,
 *    which clears every flag and mask (kernel/signal.c,
 *    flush_signal_handlers); glibc gets and sets each signal;
 *  - the pidfd comes with the child (CLONE_PIDFD, Linux 5.2): no
 *    pidfd_open after, and none that could find the child reaped.
 * The child shares the caller's memory and its thread's TLS: it calls
 * nothing but system calls, on memory nobody else writes meanwhile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../transport.h"

/* What the child of a spawn that could not exec exits with (POSIX). */
#define SPAWN_ERROR 127
/* The kernel's sigset: 64 signals. */
#define KERNEL_SIGNALS 64
/* glibc's size (32 KiB and the slack it keeps for argv): compilers'
 * stack checking may want 24. */
#define CHILD_STACK (36 * 1024)

/* The kernel's struct sigaction on x86_64 and aarch64. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

struct child_args {
    const char *path;
    char *const *argv, *const *envp;
    int end, child_fd;
    uint64_t mask;      /* the caller's, restored before execve */
    int err;            /* written by a child that could not exec */
};

static bool glibc_internal(int sig)
{
    /* SIGCANCEL and SIGSETXID, which glibc's child ignores. */
    return sig == 32 || sig == 33;
}

/* As __spawni_child: every signal but KILL and STOP is blocked here; the
 * ones glibc keeps for itself are ignored, a handler that is a function
 * becomes SIG_DFL, so that no handler of the caller's runs in the child. */
static void reset_handlers(void)
{
    struct kernel_sigaction sa;

    for (int sig = 1; sig <= KERNEL_SIGNALS; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (glibc_internal(sig)) {
            sa = (struct kernel_sigaction){.handler = SIG_IGN};
            syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
            continue;
        }
        if (syscall(SYS_rt_sigaction, sig, NULL, &sa, sizeof sa.mask) != 0 ||
            sa.handler == SIG_IGN || sa.handler == SIG_DFL)
            continue;
        sa.handler = SIG_DFL;
        syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof sa.mask);
    }
}

static int child_main(void *arg)
{
    struct child_args *a = arg;

    reset_handlers();
    if (syscall(SYS_dup3, a->end, a->child_fd, 0) >= 0) {
        syscall(SYS_rt_sigprocmask, SIG_SETMASK, &a->mask, NULL,
                sizeof a->mask);
        syscall(SYS_execve, a->path, a->argv, a->envp);
    }
    a->err = errno ? errno : ECHILD;
    _exit(SPAWN_ERROR);
}

static pthread_once_t stack_once = PTHREAD_ONCE_INIT;
static pthread_key_t stack_key;
static bool stack_keyed;

static void unmap_stack(void *stack)
{
    munmap(stack, CHILD_STACK);
}

static void make_stack_key(void)
{
    stack_keyed = pthread_key_create(&stack_key, unmap_stack) == 0;
}

/* This thread's child stack, mapped on its first spawn; NULL if none
 * could be. */
static char *thread_stack(void)
{
    void *stack;

    pthread_once(&stack_once, make_stack_key);
    if (!stack_keyed)
        return NULL;
    stack = pthread_getspecific(stack_key);
    if (stack)
        return stack;
    stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return NULL;
    if (pthread_setspecific(stack_key, stack) != 0) {
        munmap(stack, CHILD_STACK);
        return NULL;
    }
    return stack;
}

static bool no_clone_pidfd;

int cph__spawn_own(pid_t *pid, const char *path, int end, int child_fd,
                   char *const argv[], char *const envp[], int *pidfd)
{
    struct child_args a = {path, argv, envp, end, child_fd, 0, 0};
    uint64_t all = ~(uint64_t)0;
    char *stack;
    pid_t child;
    int err, fd = -1;

    if (__atomic_load_n(&no_clone_pidfd, __ATOMIC_RELAXED) ||
        !(stack = thread_stack()))
        return ENOSYS;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &a.mask, sizeof all);
    /* A kernel before 5.2 ignores CLONE_PIDFD (a bit it once had another
     * use for): fd stays -1 there, and cph__child_pidfd opens one if it
     * can. */
    child = clone(child_main, stack + CHILD_STACK,
                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &fd);
    err = child < 0 ? errno : a.err;
    if (child > 0 && err) {
        /* It exited: reap it, as glibc does. */
        waitpid(child, NULL, 0);
        close(fd);
    }
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &a.mask, NULL, sizeof a.mask);
    if (child < 0 && (err == EINVAL || err == ENOSYS || err == EPERM)) {
        /* A filter (seccomp) that refuses this clone. */
        __atomic_store_n(&no_clone_pidfd, true, __ATOMIC_RELAXED);
        return ENOSYS;
    }
    /* No fd for the pidfd: posix_spawn needs none. */
    if (child < 0 && (err == EMFILE || err == ENFILE))
        return ENOSYS;
    if (err) {
        errno = err;
        return err;
    }
    *pid = child;
    *pidfd = fd;
    return 0;
}
