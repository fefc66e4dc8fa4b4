/*
 * A wrapper NOT linked with libcph_child that execs the real program, so
 * that the channel and the pid carry over to it.
 * h_exec [-n NOFILE] [-g GATE] PROG ARGS...:
 *
 *   -n NOFILE  sets RLIMIT_NOFILE (soft) to NOFILE first
 *   -g GATE    waits until the file GATE exists (at most 20 s)
 *
 * Exit status 100+ for misuse or a failed exec.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void wait_for(const char *gate)
{
    struct timespec ms5 = {0, 5000000};

    for (int i = 0; i < 4000 && access(gate, F_OK) != 0; i++)
        nanosleep(&ms5, NULL);
}

int main(int argc, char **argv)
{
    int i = 1;

    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-n") == 0) {
            struct rlimit rl;
            if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
                return 100;
            rl.rlim_cur = (rlim_t)atol(argv[i + 1]);
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                return 101;
        } else if (strcmp(argv[i], "-g") == 0) {
            wait_for(argv[i + 1]);
        } else {
            return 102;
        }
    }
    if (i >= argc)
        return 103;
    execv(argv[i], argv + i);
    return 104;
}
