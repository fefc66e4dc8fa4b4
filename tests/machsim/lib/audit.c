/*
 * Reading an audit token, as Apple's libbsm does (bsm_wrappers.c
 * audit_token_to_*): the kernel lays a token out as xnu bsd/kern/kern_prot.c
 * proc_calc_audit_token does: auid, euid, egid, ruid, rgid, pid, asid, pid
 * version.
 */
#include <bsm/libbsm.h>

au_id_t audit_token_to_auid(audit_token_t atoken)
{
    return (au_id_t)atoken.val[0];
}

uid_t audit_token_to_euid(audit_token_t atoken)
{
    return (uid_t)atoken.val[1];
}

gid_t audit_token_to_egid(audit_token_t atoken)
{
    return (gid_t)atoken.val[2];
}

uid_t audit_token_to_ruid(audit_token_t atoken)
{
    return (uid_t)atoken.val[3];
}

gid_t audit_token_to_rgid(audit_token_t atoken)
{
    return (gid_t)atoken.val[4];
}

pid_t audit_token_to_pid(audit_token_t atoken) { return (pid_t)atoken.val[5]; }

au_asid_t audit_token_to_asid(audit_token_t atoken)
{
    return (au_asid_t)atoken.val[6];
}

int audit_token_to_pidversion(audit_token_t atoken)
{
    return (int)atoken.val[7];
}
