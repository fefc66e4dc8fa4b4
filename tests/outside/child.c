/* A program outside the tree, built with `pkg-config --cflags --libs
 * cph_child`: prints the first line of the file it was handed. */
#include <stdio.h>
#include <string.h>

#include <cph/child.h>

int main(void)
{
    char line[256] = "";
    int fd = cph_child_take_fd("file");
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

    if (!f || !fgets(line, sizeof line, f)) {
        fprintf(stderr, "child: status %s\n", strerror(cph_child_status()));
        return 1;
    }
    line[strcspn(line, "\n")] = '\0';
    printf("child read: %s\n", line);
    fclose(f);
    return 0;
}
