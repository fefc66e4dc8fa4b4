/*
 * A child NOT linked with libcph_child, as the adapter leaves it.
 * h_placed OUT [VAR]: writes to OUT, one per line,
 *
 *   pid P
 *   fd N TEXT C   every open fd but OUT's: what pread finds at offset 0
 *                 (up to 32 bytes, "-" if none) and 1 if close-on-exec
 *   env NAME=VALUE  LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, CPH_HANDSHAKE
 *                 and VAR, those that are set
 *   blocked S     each of SIGUSR1, SIGUSR2 that is blocked
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report_fd(FILE *out, int fd)
{
    char text[33];
    ssize_t n;
    int flags = fcntl(fd, F_GETFD);

    if (flags < 0)
        return;
    n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0)
        strcpy(text, "-");
    else
        text[n] = '\0';
    fprintf(out, "fd %d %s %d\n", fd, text, (flags & FD_CLOEXEC) != 0);
}

static void report_env(FILE *out, const char *name)
{
    const char *value = name ? getenv(name) : NULL;

    if (value)
        fprintf(out, "env %s=%s\n", name, value);
}

int main(int argc, char **argv)
{
    const char *vars[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                          "CPH_HANDSHAKE"};
    sigset_t mask;
    FILE *out;

    if (argc < 2 || !(out = fopen(argv[1], "we")))
        return 100;
    fprintf(out, "pid %ld\n", (long)getpid());
    for (int fd = 0; fd < 1024; fd++)
        if (fd != fileno(out))
            report_fd(out, fd);
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        report_env(out, vars[i]);
    report_env(out, argc > 2 ? argv[2] : NULL);
    sigprocmask(SIG_SETMASK, NULL, &mask);
    if (sigismember(&mask, SIGUSR1))
        fputs("blocked SIGUSR1\n", out);
    if (sigismember(&mask, SIGUSR2))
        fputs("blocked SIGUSR2\n", out);
    return fclose(out) == 0 ? 0 : 101;
}
