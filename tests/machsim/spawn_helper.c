/*
 * The program test_spawn spawns, with its stdout on a pipe: it says one thing
 * about itself and exits 0. fds           the open fds, ascending ("0 1 2")
 *   cwd           the working directory
 *   blocked N     1 if signal N is blocked, else 0
 *   disposition N dfl, ign or caught
 *   pgid / sid    leader if this process leads its process group / session,
 * else member exit N        says nothing, exits N
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char seen[1024] = {0};
    const char *sep = "";

    if (!d)
        exit(2);
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) &&
            atoi(e->d_name) < 1024)
            seen[atoi(e->d_name)] = 1;
    closedir(d);
    for (int i = 0; i < 1024; i++)
        if (seen[i]) {
            printf("%s%d", sep, i);
            sep = " ";
        }
    putchar('\n');
}

static void disposition(int sig)
{
    struct sigaction sa;

    if (sigaction(sig, NULL, &sa) < 0)
        exit(2);
    puts(sa.sa_handler == SIG_DFL   ? "dfl"
         : sa.sa_handler == SIG_IGN ? "ign"
                                    : "caught");
}

static int leads(pid_t id)
{
    return puts(id == getpid() ? "leader" : "member");
}

int main(int argc, char **argv)
{
    char buf[4096];
    sigset_t mask;

    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "fds") == 0)
        fds();
    else if (strcmp(argv[1], "cwd") == 0)
        puts(getcwd(buf, sizeof buf) ? buf : "?");
    else if (strcmp(argv[1], "blocked") == 0 && argc == 3 &&
             sigprocmask(SIG_SETMASK, NULL, &mask) == 0)
        printf("%d\n", sigismember(&mask, atoi(argv[2])));
    else if (strcmp(argv[1], "disposition") == 0 && argc == 3)
        disposition(atoi(argv[2]));
    else if (strcmp(argv[1], "pgid") == 0)
        leads(getpgid(0));
    else if (strcmp(argv[1], "sid") == 0)
        leads(getsid(0));
    else if (strcmp(argv[1], "exit") == 0 && argc == 3)
        return atoi(argv[2]);
    else
        return 2;
    return 0;
}
