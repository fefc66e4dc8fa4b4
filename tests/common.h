/*
 * What the suites share: finding helper programs, launching them, reading
 * what they report, and counting this process's fds.
 */
#ifndef CPH_TEST_COMMON_H
#define CPH_TEST_COMMON_H

#include <stddef.h>
#include <sys/types.h>

#include <cph/spawn.h>

/* The path of helper program name (built in tests/helpers/). */
const char *helper_path(const char *name);

/* Open fds of this process. */
int count_fds(void);

/* cph_spawn of helper name with argv {name, args..., NULL} and this
 * process's environment; fails the test if the spawn fails. */
pid_t spawn_helper(const char *name, char *const args[],
                   const cph_attachments_t *list);

/* waitpid: the exit status, or 128 + the signal that ended it. */
int wait_exit(pid_t pid);

/* Reads fd to EOF into a NUL-terminated malloc'd string; closes fd. */
char *read_all(int fd);

/* A pipe whose write end is attached to list under key "report" (and
 * closed here); returns the read end. Helpers write their findings to
 * the fd they take under "report". */
int attach_report(cph_attachments_t *list);

#endif

/* A fresh path in a per-process scratch directory (not created). */
const char *scratch_path(const char *name);

/* The whole content of path (NULL if it does not exist), malloc'd. */
char *slurp(const char *path);

/* spawn_helper with args {mode, out, extra...}, then wait_exit; returns
 * the exit status and leaves the helper's report in *report (or NULL). */
int run_helper(const char *name, const char *mode, const char *extra,
               const cph_attachments_t *list, char **report);

/* Starts libcph's server (its socket and epoll fds stay for the life of
 * the process), so that counting fds around a test sees only the test. */
void start_server(void);
