/* The protocol under attack: the server must reject, hand out nothing,
 * keep waiting for the real child, and never crash; the child must never
 * hang or keep what a broken parent sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <cph/spawn.h>

#include "common.h"
#include "core/cph_core.h"
#include "transport.h"

static cph_attachments_t *two_fds(void)
{
    cph_attachments_t *list;

    cr_assert_eq(cph_attachments_init(&list), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "a", 0), 0);
    cr_assert_eq(cph_attachments_add_fd(list, "b", 1), 0);
    return list;
}

/* Runs x_client MODE as a cph child; returns its report. */
static char *client(const char *mode, int *outcome)
{
    cph_attachments_t *list = two_fds();
    char out[256], *args[] = {(char *)mode, out, NULL};
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("client"));
    pid = spawn_helper("x_client", args, list);
    cr_assert_eq(wait_exit(pid), 0);
    *outcome = cph_checkin_wait(pid, 10000);
    cph_attachments_destroy(list);
    return slurp(out);
}

Test(hostile, wrong_token_then_right)
{
    int outcome;
    char *report = client("wrongthenright", &outcome);

    cr_assert_str_eq(report, "wrong rejected\nright accepted 2\n");
    cr_assert_eq(outcome, 0);
    free(report);
}

Test(hostile, right_token_from_wrong_pid)
{
    int outcome;
    char *report = client("forked", &outcome);

    cr_assert_str_eq(report, "grandchild rejected\nchild accepted 2\n");
    cr_assert_eq(outcome, 0);
    free(report);
}

Test(hostile, malformed_requests)
{
    int outcome;
    char *report = client("malformed", &outcome);

    cr_assert_str_eq(report, "one-byte rejected\n"
                             "short rejected\n"
                             "long rejected\n"
                             "oversized rejected\n"
                             "magic rejected\n"
                             "empty rejected\n"
                             "with-fd rejected\n"
                             "fd-released 1\n"
                             "right accepted 2\n");
    cr_assert_eq(outcome, 0);
    free(report);
    /* The server still serves a normal child. */
    free(client("wrongthenright", &outcome));
    cr_assert_eq(outcome, 0);
}

Test(hostile, outsider_is_rejected_and_real_child_served)
{
    char service[CPH__SERVICE_MAX + 1], out[256], *report;
    char *args[] = {"outsider", out, service, NULL};
    int outcome;

    /* Start our server and learn its name, as an outsider could from a
     * child's environment. */
    cph__lock();
    cr_assert_eq(cph__server_start(service), 0);
    cph__unlock();
    snprintf(out, sizeof out, "%s", scratch_path("outsider"));
    cr_assert_eq(wait_exit(spawn_helper("x_client", args, NULL)), 0);
    report = slurp(out);
    cr_assert_str_eq(report, "outsider rejected\n");
    free(report);
    free(client("wrongthenright", &outcome));
    cr_assert_eq(outcome, 0);
}

/* Runs x_fakeparent MODE and waits for its child's report; then ends
 * the fake parent (if it is not dead already). */
static char *fake_parent(const char *mode, char **parent)
{
    char out[256], child_out[256];
    char *args[] = {(char *)mode, out, child_out, NULL};
    char *report = NULL;
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("fakeparent"));
    snprintf(child_out, sizeof child_out, "%s", scratch_path("orphan"));
    pid = spawn_helper("x_fakeparent", args, NULL);
    /* The child may outlive its parent: give it up to 15 s to report. */
    for (int i = 0; i < 1500; i++) {
        free(report);
        report = slurp(child_out);
        /* h_child writes its whole report at once, when it ends. */
        if (report && (strstr(report, "started") || strstr(report, "count")))
            break;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    wait_exit(pid);
    *parent = slurp(out);
    return report;
}

static long long field(const char *text, const char *name)
{
    const char *at = text ? strstr(text, name) : NULL;

    cr_assert_not_null(at, "no %s in %s", name, text ? text : "(null)");
    return atoll(at + strlen(name) + 1);
}

Test(hostile, parent_killed_mid_handshake)
{
    char *parent, *child = fake_parent("die-after-request", &parent);

    cr_assert_eq(field(child, "status"), ECONNRESET, "%s", child);
    cr_assert_leq(field(child, "started") - field(parent, "killed"), 1000,
                  "main started more than a second after the parent died");
    free(child);
    free(parent);
}

Test(hostile, parent_gone_before_connect)
{
    char *parent, *child = fake_parent("die-before-connect", &parent);

    cr_assert_eq(field(child, "status"), ECONNREFUSED, "%s", child);
    free(child);
    free(parent);
}

/* The child of x_fakeparent MODE ends with status and keeps nothing. */
static void assert_child_keeps_nothing(const char *mode, int status)
{
    char *parent, *child = fake_parent(mode, &parent);

    cr_assert_eq(field(child, "status"), status, "%s: %s", mode, child);
    cr_assert_eq(field(child, "count"), 0, "%s kept a handle", mode);
    free(child);
    free(parent);
}

Test(hostile, parent_killed_after_half_the_reply)
{
    assert_child_keeps_nothing("half-reply", ECONNRESET);
}

Test(hostile, unresponsive_parent_times_out, .timeout = 30)
{
    char *parent, *child = fake_parent("hang", &parent);
    long long waited = field(child, "started") - field(parent, "spawned");

    cr_assert_eq(field(child, "status"), ETIMEDOUT, "%s", child);
    cr_assert_geq(waited, 4000);
    cr_assert_leq(waited, 10000);
    free(child);
    free(parent);
}

Test(hostile, impostor_server_is_refused)
{
    assert_child_keeps_nothing("impostor", EPERM);
}

Test(hostile, malformed_replies)
{
    const char *modes[] = {"bad-magic", "bad-count", "bad-key",
                           "bad-kind",  "trailing",  "truncated"};

    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        assert_child_keeps_nothing(modes[i], EPROTO);
}

/* h_child launched by hand with CPH_HANDSHAKE=value; returns its report. */
static char *child_with_handshake(const char *value)
{
    char out[256], entry[512], *envp[] = {entry, NULL};
    char *argv[] = {"h_child", "show", out, NULL};
    pid_t pid;

    snprintf(out, sizeof out, "%s", scratch_path("env"));
    snprintf(entry, sizeof entry, "CPH_HANDSHAKE=%s", value);
    cr_assert_eq(posix_spawn(&pid, helper_path("h_child"), NULL, NULL, argv,
                             envp), 0);
    cr_assert_eq(wait_exit(pid), 0);
    return slurp(out);
}

static void assert_child_status(const char *value, int status)
{
    char *report = child_with_handshake(value), expect[64];

    snprintf(expect, sizeof expect, "status %d\nenv unset\ncount 0\n",
             status);
    cr_assert_str_eq(report, expect, "CPH_HANDSHAKE=%.40s", value);
    free(report);
}

Test(hostile, broken_handshake_variable)
{
    char longest[301];

    memset(longest, 'x', 300);
    longest[300] = '\0';
    assert_child_status("", EINVAL);
    assert_child_status("2:5:cph.x", EINVAL);
    assert_child_status("1:abc:cph.x", EINVAL);
    assert_child_status("1:-1:cph.x", EINVAL);
    assert_child_status("1:99999999999:cph.x", EINVAL);
    assert_child_status("1:5:", EINVAL);
    assert_child_status("1:5:bad/name", EINVAL);
    assert_child_status(longest, EINVAL);
    /* fd 200 is not open in the child. */
    assert_child_status("1:200:cph.x", EBADF);
    /* stdout is not a pipe it may read; the child must leave it open. */
    assert_child_status("1:1:cph.x", EBADF);
}

Test(hostile, pipe_without_token_or_server)
{
    char out[256], entry[128], *envp[] = {entry, NULL};
    char *argv[] = {"h_child", "show", out, NULL};
    posix_spawn_file_actions_t fa;
    int p[2];
    char *report;
    pid_t pid;

    for (int with_token = 0; with_token < 2; with_token++) {
        snprintf(out, sizeof out, "%s", scratch_path("pipe"));
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        if (with_token)
            cr_assert_eq(write(p[1], "0123456789abcdef", 16), 16);
        close(p[1]);
        snprintf(entry, sizeof entry, "CPH_HANDSHAKE=1:70:cph.nobody.%d",
                 getpid());
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[0], 70);
        cr_assert_eq(posix_spawn(&pid, helper_path("h_child"), &fa, NULL,
                                 argv, envp), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(p[0]);
        cr_assert_eq(wait_exit(pid), 0);
        report = slurp(out);
        /* An empty pipe: EPROTO. A token, but nobody listening:
         * ECONNREFUSED. */
        cr_assert_eq(field(report, "status"),
                     with_token ? ECONNREFUSED : EPROTO, "%s", report);
        free(report);
    }
}
