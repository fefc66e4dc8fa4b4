/*
 * What only the direct delivery does: the child's end is its own
 * capability, wrappers hand the handles on, and the spawned process's
 * exit releases what nobody read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
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
