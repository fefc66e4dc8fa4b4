/* The real child of fuzz_server: exits 0 if it received its one fd. */
#include <cph/child.h>

int main(void)
{
    return cph_child_status() == 0 && cph_child_count() == 1 ? 0 : 1;
}
