/* The real child of fuzz_server: exits 0 if it received its one fd. */
#include <cph/child.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (cph_child_status() == 0 && cph_child_count() == 1)
        return 0;
    fprintf(stderr, "fuzz_child: status %s, %zu handles\n",
            strerror(cph_child_status()), cph_child_count());
    return 1;
}
