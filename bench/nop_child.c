/* The benchmark's child: checks in (before main) and exits. */
#include <cph/child.h>

int main(void)
{
    return cph_child_status();
}
