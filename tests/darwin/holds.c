#include "holds.h"

#ifdef CPH_SIMULATED_MACH
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../machsim/machsim.h"
#include "common.h"

#define MAX_RIGHTS 256

static struct machsim_right before[MAX_RIGHTS];
static int before_n;
static mach_port_t own[MAX_RIGHTS];
static int own_n;

static int rights_of_mine(struct machsim_right *out)
{
    int n = machsim_rights(getpid(), out, MAX_RIGHTS);

    cr_assert(n >= 0 && n <= MAX_RIGHTS, "machsim_rights: %d", n);
    return n;
}

void holds_before(void)
{
    before_n = rights_of_mine(before);
}

void holds_own(mach_port_t name)
{
    cr_assert_lt(own_n, MAX_RIGHTS);
    own[own_n++] = name;
}

static bool held_before(const struct machsim_right *r)
{
    for (int i = 0; i < before_n; i++)
        if (before[i].name == r->name)
            return before[i].type == r->type && before[i].urefs == r->urefs;
    return false;
}

static bool owned(mach_port_name_t name)
{
    for (int i = 0; i < own_n; i++)
        if (own[i] == name)
            return true;
    return false;
}

/* A receive right in a port set, nothing else under its name: cph's
 * service, give and nameless ports. Or one the server destroyed since. */
static bool servers(const struct machsim_right *r)
{
    mach_port_status_t status;
    mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;
    kern_return_t kr;

    if (r->type == MACH_PORT_TYPE_PORT_SET)
        return true;
    if (r->type != MACH_PORT_TYPE_RECEIVE)
        return false;
    kr = mach_port_get_attributes(mach_task_self(), r->name,
                                  MACH_PORT_RECEIVE_STATUS,
                                  (mach_port_info_t)&status, &count);
    return kr == KERN_SUCCESS ? status.mps_pset > 0
                              : kr == KERN_INVALID_NAME ||
                                    kr == KERN_INVALID_RIGHT;
}

/* The first right that is none of the above, if any, into *stray. */
static bool finds_stray(struct machsim_right *stray)
{
    struct machsim_right now[MAX_RIGHTS];
    int n = rights_of_mine(now);

    for (int i = 0; i < n; i++)
        if (!held_before(&now[i]) && !owned(now[i].name) &&
            !servers(&now[i])) {
            *stray = now[i];
            return true;
        }
    return false;
}

/* cph's server thread may still be destroying what a finished child left:
 * the bound is a liveness bound. */
void holds_nothing_more(void)
{
    struct machsim_right stray;
    bool found;
    int waited = 0;

    while ((found = finds_stray(&stray)) && waited++ < LIVENESS_MS)
        usleep(1000);
    cr_assert_not(found,
                  "a right held at the end: name %#x type %#x urefs %u",
                  stray.name, stray.type, stray.urefs);
}
#else
void holds_before(void)
{
}

void holds_own(mach_port_t name)
{
    (void)name;
}

void holds_nothing_more(void)
{
}
#endif
