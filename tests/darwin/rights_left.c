#include "rights_left.h"

#include <unistd.h>

#include "../machsim/machsim.h"

#define MAX_RIGHTS 512

static bool held_at_start(const struct machsim_right *r,
                          const struct machsim_right *start, int n)
{
    for (int i = 0; i < n; i++)
        if (start[i].name == r->name)
            return start[i].type == r->type && start[i].urefs == r->urefs;
    return false;
}

bool rights_left_none(FILE *out, int spare_sends)
{
    struct machsim_right start[MAX_RIGHTS], now[MAX_RIGHTS];
    int nstart = machsim_start_rights(getpid(), start, MAX_RIGHTS);
    int nnow = machsim_rights(getpid(), now, MAX_RIGHTS);
    bool clean = true;

    if (nstart < 0 || nstart > MAX_RIGHTS || nnow < 0 || nnow > MAX_RIGHTS) {
        fprintf(out, "machsim_rights: %d %d\n", nstart, nnow);
        return false;
    }
    for (int i = 0; i < nnow; i++) {
        if (held_at_start(&now[i], start, nstart))
            continue;
        if (now[i].type == MACH_PORT_TYPE_SEND && now[i].urefs == 1 &&
            spare_sends-- > 0)
            continue;
        fprintf(out, "left %#x type %#x urefs %u\n", now[i].name,
                now[i].type, now[i].urefs);
        clean = false;
    }
    return clean;
}
