/*
 * The README's child, complete: takes the fd its parent attached under
 * "config" (libcph_child received it before main) and prints its first
 * line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cph/child.h>

int main(void)
{
    char line[256];
    int fd = cph_child_take_fd("config");
    FILE *config;

    if (fd < 0) {
        /* cph_child_status() says why nothing arrived. */
        fprintf(stderr, "child: no config: %s (check-in: %s)\n",
                strerror(errno), strerror(cph_child_status()));
        return 1;
    }
    config = fdopen(fd, "r");
    if (!config || !fgets(line, sizeof line, config)) {
        fprintf(stderr, "child: cannot read the config\n");
        return 1;
    }
    printf("child: config says: %s", line);
    fclose(config);
    return 0;
}
