/*
 * What a newcomer runs into, under the suite's delivery: file actions
 * that close every fd from 3 up (cph's channel among them: documented in
 * cph_spawn(3)), the constructor's trace under CPH_DEBUG=1, the version
 * macros.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"

extern char **environ;

/*
 * Spawns "h_report show" with a list holding "a", its stdout (the
 * report) and stderr (the trace) on pipes, and extra_env added to the
 * environment; closefrom adds addclosefrom_np(fa, 3). Returns the
 * check-in's outcome; *out and *err get what it wrote.
 */
static int spawn_show(const char *extra_env, bool closefrom, char **out,
                      char **err)
{
    cph_attachments_t *list = list_new();
    posix_spawn_file_actions_t fa;
    char *argv[] = {"h_report", "show", NULL}, **envp;
    int out_pipe[2], err_pipe[2], outcome;
    size_t n = 0;
    pid_t pid;

    list_add(list, "a", memfd_text("a"));
    cr_assert_eq(pipe2(out_pipe, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err_pipe, O_CLOEXEC), 0);
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1), 0);
    cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2), 0);
    if (closefrom)
        cr_assert_eq(posix_spawn_file_actions_addclosefrom_np(&fa, 3), 0);
    while (environ[n])
        n++;
    envp = calloc(n + 2, sizeof *envp);
    cr_assert_not_null(envp);
    memcpy(envp, environ, n * sizeof *envp);
    envp[n] = (char *)extra_env;
    cr_assert_eq(cph_spawn(&pid, helper_path("h_report"), &fa, NULL, argv,
                           envp, list), 0);
    free(envp);
    posix_spawn_file_actions_destroy(&fa);
    cph_attachments_destroy(list);
    close(out_pipe[1]);
    close(err_pipe[1]);
    outcome = cph_checkin_wait(pid, LIVENESS_MS);
    cr_assert_eq(wait_exit(pid), 0);
    *out = read_all(out_pipe[0]);
    *err = read_all(err_pipe[0]);
    return outcome;
}

/* addclosefrom_np(fa, 3), what launchers do for hygiene, closes the
 * channel too: cph cannot read the caller's file actions to see it coming,
 * so the spawn succeeds, the child finds no channel (EBADF) and the parent
 * learns at once that the handles were not taken. */
Test(newcomer, closefrom_closes_the_channel)
{
    char *out, *err;

    cr_assert_eq(spawn_show("CPH_DEBUG=1", true, &out, &err), ENOTCONN);
    cr_assert(strncmp(out, "status 9\n", 9) == 0, "%s", out);
    cr_assert(strstr(err, "check-in failed: the fd it names is not cph's "
                          "channel: the launcher closed it"), "%s", err);
    free(out);
    free(err);
}

Test(newcomer, debug_trace_only_when_asked)
{
    char *out, *err;

    cr_assert_eq(spawn_show("CPH_DEBUG=1", false, &out, &err), 0);
    cr_assert(strstr(err, ": checked in, 1 handle: a\n"), "%s", err);
    cr_assert(strncmp(err, "cph[", 4) == 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(spawn_show("CPH_DEBUG=0", false, &out, &err), 0);
    cr_assert_str_empty(err);
    free(out);
    free(err);
}

Test(newcomer, version_macros)
{
    char text[32];

#if CPH_VERSION_NUMBER < 0x000100
#error "CPH_VERSION_NUMBER is not 0xMMmmpp"
#endif
    snprintf(text, sizeof text, "%d.%d.%d", CPH_VERSION_MAJOR,
             CPH_VERSION_MINOR, CPH_VERSION_PATCH);
    cr_assert_str_eq(text, CPH_VERSION_STRING);
    cr_assert_str_eq(CPH_VERSION_STRING, CPH_TEST_PROJECT_VERSION);
}
