/*
 * mach_error_string, mach_error_type, mach_error: the text of a Mach error
 * code, "(system/subsystem) what", for the codes the simulator returns
 * (kern_return_t, mach_msg's send and receive codes, MIG's). Codes split
 * as xnu-11417 osfmk/mach/error.h does; libsyscall/mach/mach_error_string.c
 * also maps MIG's negative codes onto the ipc/mig subsystem (do_compat).
 * Texts are ours, shorter than libsyscall's tables.
 */
#include <stdio.h>
#include <mach/mach_error.h>
#include <mach/message.h>
#include <mach/mig_errors.h>

struct subsystem {
    const char *name;
    const char *const *codes;
    int count;
};

static const char *const kern_codes[] = {
    "success", "invalid address", "protection failure", "no space available",
    "invalid argument", "failure", "resource shortage", "not receiver",
    "no access", "memory failure", "memory error", "already in set",
    "not in set", "name exists", "aborted", "invalid name", "invalid task",
    "invalid right", "invalid value", "urefs overflow", "invalid capability",
    "right exists", "invalid host", "memory present", "memory data moved",
    "memory restart copy", "invalid processor set", "policy limit",
    "invalid policy", "invalid object", "already waiting", "default set",
    "exception protected", "invalid ledger", "invalid memory control",
    "invalid security", "not depressed", "terminated", "lock set destroyed",
    "lock unstable", "lock owned", "lock owned self", "semaphore destroyed",
    "rpc server terminated", "rpc terminate orphan", "rpc continue orphan",
    "not supported", "node down", "not waiting", "operation timed out",
    "code signing error", "policy is static", "insufficient buffer size",
    "denied", "missing kernel collection", "invalid kernel collection",
    "not found",
};

static const char *const send_codes[] = {
    "success", "send in progress", "invalid data", "invalid destination",
    "timed out", "invalid voucher", "unknown", "interrupted",
    "message too small", "invalid reply port", "invalid right",
    "invalid notify port", "invalid memory", "no buffer", "message too large",
    "invalid type", "invalid header", "invalid trailer", "invalid context",
    "invalid options", "unknown", "invalid real-time OOL size",
    "no grant destination", "message filtered", "aux data too small",
    "aux data too large",
};

static const char *const rcv_codes[] = {
    "success", "receive in progress", "invalid name", "timed out",
    "message too large", "interrupted", "port changed", "invalid notify port",
    "invalid data", "port died", "port in set", "header error", "body error",
    "invalid type", "scatter list too small", "invalid trailer", "unknown",
    "timed receive in progress", "invalid reply port", "invalid arguments",
};

static const char *const mig_codes[] = {
    "type error", "reply mismatch", "remote error", "bad request id",
    "bad arguments", "no reply", "exception", "array too large",
    "server died", "trailer error",
};

#define SUBSYSTEM(n, t) {n, t, (int)(sizeof t / sizeof *t)}

static const struct subsystem kern = SUBSYSTEM("(os/kern)", kern_codes);
static const struct subsystem send = SUBSYSTEM("(ipc/send)", send_codes);
static const struct subsystem rcv = SUBSYSTEM("(ipc/rcv)", rcv_codes);
static const struct subsystem mig = SUBSYSTEM("(ipc/mig)", mig_codes);

static const struct subsystem *subsystem_of(mach_error_t err, int *code)
{
    if (err <= MIG_TYPE_ERROR && err > MIG_TYPE_ERROR - 100) {
        *code = MIG_TYPE_ERROR - err;
        return &mig;
    }
    *code = err_get_code(err);
    if ((err & (system_emask | sub_emask)) == err_kern)
        return &kern;
    if ((err & (system_emask | sub_emask)) == (err_mach_ipc | err_sub(0)))
        return &send;
    if ((err & (system_emask | sub_emask)) == (err_mach_ipc | err_sub(1)))
        return &rcv;
    return NULL;
}

char *mach_error_type(mach_error_t err)
{
    int code;
    const struct subsystem *s = subsystem_of(err, &code);

    return (char *)(s ? s->name : "(?/?)");
}

char *mach_error_string(mach_error_t err)
{
    static __thread char text[96];
    int code;
    const struct subsystem *s = subsystem_of(err & ~MACH_MSG_MASK, &code);

    if (!s || code >= s->count)
        snprintf(text, sizeof text, "%s unknown error code",
                 s ? s->name : "(?/?)");
    else
        snprintf(text, sizeof text, "%s %s", s->name, s->codes[code]);
    return text;
}

void mach_error(const char *str, mach_error_t err)
{
    fprintf(stderr, "%s %s (0x%x)\n", str, mach_error_string(err),
            (unsigned)err);
}
