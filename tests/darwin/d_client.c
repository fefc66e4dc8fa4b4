/*
 * Speaks the Mach check-in by hand (not linked with libcph_child's
 * constructor, only its internals). d_client MODE OUT:
 *
 *   exit            never checks in
 *   readpipe        reads the token, closes the pipe, exits
 *   wrongthenright  a wrong token, then the right one
 *   late            reads the token, waits for its parent to die, then
 *                   tries to check in
 */
#include <mach/mach.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cph_core.h"
#include "darwin/mig_glue.h"
#include "darwin/sdk.h"

static FILE *out;
static char service[CPH__SERVICE_MAX + 1];
static cph_token_t token;

static int read_token(void)
{
    const char *value = getenv("CPH_HANDSHAKE");
    size_t have = 0;
    int fd;

    if (!value || cph__env_parse(value, &fd, service) != 0)
        return -1;
    while (have < sizeof token.val) {
        ssize_t n = read(fd, (char *)token.val + have, sizeof token.val - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    close(fd);
    return 0;
}

/* One check-in with t; reports "NAME refused", "NAME accepted N" or
 * "NAME failed KR". */
static void attempt(const char *name, cph_token_t t)
{
    mach_port_t server, reply;
    struct {
        mach_msg_header_t header;
        uint8_t rest[16384];
    } msg;
    kern_return_t kr = bootstrap_look_up(bootstrap_port, service, &server);

    if (kr != KERN_SUCCESS || !MACH_PORT_VALID(server)) {
        fprintf(out, "%s lookup-failed\n", name);
        return;
    }
    mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply);
    kr = cph__client_check_in(server, reply, t);
    mach_port_deallocate(mach_task_self(), server);
    if (kr == KERN_SUCCESS)
        kr = mach_msg(&msg.header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                      sizeof msg, reply, 5000, MACH_PORT_NULL);
    if (kr != KERN_SUCCESS)
        fprintf(out, "%s failed %d\n", name, kr);
    else if (msg.header.msgh_id == MACH_NOTIFY_SEND_ONCE)
        fprintf(out, "%s refused\n", name);
    else {
        fprintf(out, "%s accepted %u\n", name,
                ((mach_msg_body_t *)(&msg.header + 1))->msgh_descriptor_count);
        mach_msg_destroy(&msg.header);
    }
    fflush(out);
    mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
}

int main(int argc, char **argv)
{
    pid_t parent = getppid();

    if (argc < 3 || !(out = fopen(argv[2], "w")))
        return 100;
    if (strcmp(argv[1], "exit") == 0)
        return 0;
    if (read_token() != 0)
        return 102;
    if (strcmp(argv[1], "wrongthenright") == 0) {
        cph_token_t wrong = token;
        wrong.val[0] ^= 1;
        attempt("wrong", wrong);
        attempt("right", token);
    } else if (strcmp(argv[1], "late") == 0) {
        for (int i = 0; i < 500 && getppid() == parent; i++)
            usleep(10000);
        attempt("late", token);
    } else if (strcmp(argv[1], "readpipe") != 0) {
        return 101;
    }
    return fclose(out) == 0 ? 0 : 103;
}
