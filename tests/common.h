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

/* Asserts that text (malloc'd) is want, then frees it. */
void assert_text(char *text, const char *want);

/* A pipe whose write end is attached to list under key "report" (and
 * closed here); returns the read end. Helpers write their findings to
 * the fd they take under "report". */
int attach_report(cph_attachments_t *list);

/* A fresh path in a per-process scratch directory (not created). */
const char *scratch_path(const char *name);

/* The whole content of path (NULL if it does not exist), malloc'd. */
char *slurp(const char *path);

/* spawn_helper with args {mode, out, extra...}, then wait_exit; returns
 * the exit status and leaves the helper's report in *report (or NULL). */
int run_helper(const char *name, const char *mode, const char *extra,
               const cph_attachments_t *list, char **report);

/* Starts libcph's server, thread and quiet set (their fds stay for the
 * life of the process), so that counting fds around a test sees only the
 * test. */
void start_server(void);

/* The bound for anything that should happen soon: a liveness check, not a
 * performance one. */
#define LIVENESS_MS 10000

/* The delivery a suite runs with: CPH_TEST_DELIVERY=direct (the
 * default) or pid-bound; meson runs api, delivery and lifecycle with
 * each. */
int suite_delivery(void);

/* A new empty list with the suite's delivery, or with delivery; fails
 * the test if it cannot be made. */
cph_attachments_t *list_new(void);
cph_attachments_t *list_for(int delivery);

/* Adds fd under key (which must succeed), then closes fd: the list keeps
 * its own duplicate. */
void list_add(cph_attachments_t *list, const char *key, int fd);

/* A close-on-exec memfd holding text, its offset at 0. */
int memfd_text(const char *text);

/* Reads what fd holds now, without waiting for EOF (a list may still hold
 * a writer), into a NUL-terminated malloc'd string; closes fd. */
char *read_now(int fd);

/* Waits until helper pid has checked in (which must succeed) and exited
 * with status 0; returns what it wrote to report (the read end returned by
 * attach_report, closed here). */
char *finish_report(pid_t pid, int report);

/* attach_report, spawn_helper and finish_report: runs helper name with
 * args and list, and returns its report. */
char *report_of(const char *name, char *const args[], cph_attachments_t *list);

/* A list holding "m": a memfd with "shared", for many spawns. */
cph_attachments_t *shared_list(void);

/* cph_spawn of "h_report expect m shared" with a list from shared_list();
 * waits for the check-in and the exit. Asserts nothing, so it serves off
 * the main thread and in forked children: NULL when the child checked in
 * and found "shared" under m, else what went wrong. */
const char *spawn_expecting_shared(const cph_attachments_t *list);

/* Sets FD_CLOEXEC on every fd of this process above 2, so that no child
 * inherits an fd the test did not mean to give it. */
void cloexec_all(void);

#endif
