/*
 * cph-run: launch a program with named handles, supervise it (signals,
 * restarts, workers, one child per connection), exit with its status.
 * This file reads the options and opens the handles; run-listen.c makes
 * the sockets, run-supervise.c runs the children.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "run.h"

#define WARN_AFTER_MS 3000
#define FIRST_LISTEN_FD 3

extern char **environ;

static const char usage[] =
    "usage: cph-run [OPTION]... [--] PROGRAM [ARG]...\n"
    "\n"
    "Runs PROGRAM (searched in PATH) with named handles, which it takes by\n"
    "key if it is linked with libcph_child:\n"
    "  --fd KEY=N              cph-run's open fd N\n"
    "  --file KEY=PATH         PATH, opened read-only\n"
    "  --listen KEY=ADDRESS    a stream socket listening on ADDRESS:\n"
    "                            PORT         [::]:PORT, IPv6 and IPv4\n"
    "                            HOST:PORT    e.g. 127.0.0.1:8080 (port 0 picks one)\n"
    "                            [V6]:PORT    e.g. [::1]:8080\n"
    "                            unix:PATH    a Unix socket at PATH (a stale one\n"
    "                                         is replaced; removed at exit)\n"
    "                            @NAME        an abstract Unix socket (Linux)\n"
    "  --datagram KEY=ADDRESS  a UDP or Unix datagram socket bound to ADDRESS\n"
    "  --seqpacket KEY=ADDRESS a listening Unix seqpacket socket (unix:, @)\n"
    "  --backlog N             listen backlog (default SOMAXCONN)\n"
    "Fds cph-run inherits by socket activation (LISTEN_FDS) are handed on\n"
    "under their LISTEN_FDNAMES names.\n"
    "\n"
    "  --systemd               hand the handles as systemd socket activation\n"
    "                          does: fds 3.. in order, LISTEN_FDS, LISTEN_PID,\n"
    "                          LISTEN_FDNAMES (PROGRAM needs no libcph_child)\n"
    "  --fdname NAME[:NAME]... with --systemd: LISTEN_FDNAMES, in order\n"
    "  --no-pid                with --systemd: no LISTEN_PID\n"
    "  --at N=KEY              KEY's handle at fd N (PROGRAM needs no libcph_child)\n"
    "  --env-fd VAR=KEY        KEY's handle at some fd, its number in VAR\n"
    "  --stdin KEY             KEY's handle on stdin (as --at 0=KEY)\n"
    "                          (without --systemd, every handle must be placed)\n"
    "  --accept                one child per connection on the listening socket\n"
    "  --inetd                 the socket (with --accept, the connection) on\n"
    "                          PROGRAM's stdin and stdout\n"
    "  --restart               a new PROGRAM when it exits, or on SIGHUP; the\n"
    "                          sockets stay open in between\n"
    "  --workers N             N PROGRAMs at once, each replaced when it exits\n"
    "  --pid-bound             the pid-bound delivery (only PROGRAM's process)\n"
    "  --expect KEY            print on stdout what PROGRAM gives back as KEY\n"
    "  -E, --setenv VAR=VALUE  set VAR in PROGRAM's environment\n"
    "  --warn-after MS         warn when PROGRAM has not taken its handles\n"
    "                          after MS milliseconds (default 3000)\n"
    "  -q, --quiet             no warnings\n"
    "  -h, --help              this text\n"
    "  --version               cph-run's version\n"
    "A KEY is 1 to 64 of [A-Za-z0-9._-]. --opt=VALUE works too.\n"
    "\n"
    "Forwards every signal it gets to PROGRAM, but those the terminal sent\n"
    "to both; PROGRAM is killed if cph-run dies (Linux). Exits with\n"
    "PROGRAM's status, or 128+N if signal N killed it; 125 when cph-run\n"
    "itself fails (a usage error, a file not found, an address in use), 126\n"
    "when PROGRAM cannot be run, 127 when it is not found.\n";

int fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("cph-run: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

enum kind { HANDLE, NUMBER, STRING, FLAG, PLACE };

static const struct option_def {
    const char *name;
    const char *alias;
    enum kind kind;
    int type;           /* HANDLE: the socket type, 0 for --fd, --file */
} known[] = {
    {"--fd", NULL, HANDLE, 0},
    {"--file", NULL, HANDLE, 0},
    {"--listen", NULL, HANDLE, SOCK_STREAM},
    {"--datagram", NULL, HANDLE, SOCK_DGRAM},
    {"--seqpacket", NULL, HANDLE, SOCK_SEQPACKET},
    {"--backlog", NULL, NUMBER, 0},
    {"--workers", NULL, NUMBER, 0},
    {"--warn-after", NULL, NUMBER, 0},
    {"--at", NULL, PLACE, 0},
    {"--env-fd", NULL, PLACE, 0},
    {"--stdin", NULL, PLACE, 0},
    {"--fdname", NULL, STRING, 0},
    {"--setenv", "-E", STRING, 0},
    {"--expect", NULL, STRING, 0},
    {"--systemd", NULL, FLAG, 0},
    {"--no-pid", NULL, FLAG, 0},
    {"--accept", NULL, FLAG, 0},
    {"--inetd", NULL, FLAG, 0},
    {"--restart", NULL, FLAG, 0},
    {"--pid-bound", NULL, FLAG, 0},
    {"--quiet", "-q", FLAG, 0},
};

/* The option arg names (as NAME or NAME=VALUE), or NULL. */
static const struct option_def *find_option(const char *arg)
{
    size_t len = strcspn(arg, "=");

    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if ((strncmp(known[i].name, arg, len) == 0 &&
             known[i].name[len] == '\0') ||
            (known[i].alias && strcmp(known[i].alias, arg) == 0))
            return &known[i];
    return NULL;
}

static int parse_number(const char *name, const char *value, int min,
                        int *out)
{
    char *end;
    long n = strtol(value, &end, 10);

    if (*value < '0' || *value > '9' || *end != '\0' || n < min ||
        n > INT_MAX)
        return fail(EXIT_CPH_RUN, "%s %s: not a number (%d or more)", name,
                    value, min);
    *out = (int)n;
    return 0;
}

static void set_flag(struct options *o, const char *name)
{
    bool *flags[] = {&o->systemd, &o->no_pid, &o->accept, &o->inetd,
                     &o->restart, &o->pid_bound, &o->quiet};
    const char *names[] = {"--systemd", "--no-pid", "--accept", "--inetd",
                           "--restart", "--pid-bound", "--quiet"};

    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            *flags[i] = true;
}

static int parse_string(struct options *o, const char *name, char *value)
{
    if (strcmp(name, "--fdname") == 0) {
        o->fdnames = value;
    } else if (strcmp(name, "--expect") == 0) {
        o->expect[o->expect_count++] = value;
    } else {
        char *eq = strchr(value, '=');

        if (!eq || eq == value)
            return fail(EXIT_CPH_RUN, "-E %s: VAR=VALUE expected (cph-run "
                        "passes on its whole environment already)", value);
        o->setenv[o->setenv_count++] = value;
    }
    return 0;
}

/* --at N=KEY, --env-fd VAR=KEY, --stdin KEY. */
static int parse_place(struct options *o, const char *name, char *value)
{
    struct place_option *p = &o->places[o->place_count];
    char *eq = strchr(value, '=');
    const char *var = NULL;

    p->at = 0;
    if (strcmp(name, "--stdin") == 0) {
        p->key = value;
    } else if (!eq || eq == value || !eq[1]) {
        return fail(EXIT_CPH_RUN, "%s needs %s=KEY, not '%s'", name,
                    name[2] == 'a' ? "N" : "VAR", value);
    } else {
        *eq = '\0';
        p->key = eq + 1;
        if (name[2] == 'e')
            var = value;
        else if (parse_number(name, value, 0, &p->at) != 0)
            return EXIT_CPH_RUN;
    }
    p->at = var ? -1 : p->at;
    p->var = var;
    p->arg = malloc(strlen(p->key) + (var ? strlen(var) : 12) + 16);
    if (!p->arg)
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    if (var)
        sprintf(p->arg, "--env-fd=%s=%s", var, p->key);
    else
        sprintf(p->arg, "--at=%d=%s", p->at, p->key);
    o->place_count++;
    return 0;
}

static int parse_value(struct options *o, const struct option_def *d,
                       char *value)
{
    struct handle_option *opt;
    char *eq;

    switch (d->kind) {
    case NUMBER:
        if (strcmp(d->name, "--backlog") == 0)
            return parse_number(d->name, value, 1, &o->backlog);
        if (strcmp(d->name, "--workers") == 0)
            return parse_number(d->name, value, 1, &o->workers);
        return parse_number(d->name, value, 1, &o->warn_after_ms);
    case STRING:
        return parse_string(o, d->name, value);
    case PLACE:
        return parse_place(o, d->name, value);
    default:
        break;
    }
    eq = strchr(value, '=');
    if (!eq || eq == value)
        return fail(EXIT_CPH_RUN, "%s needs KEY=VALUE, not '%s'", d->name,
                    value);
    opt = &o->handles[o->count++];
    opt->name = d->name;
    opt->key = value;
    *eq = '\0';
    opt->value = eq + 1;
    opt->type = d->type;
    return 0;
}

static int parse_arg(int argc, char **argv, int *i, struct options *o)
{
    char *arg = argv[*i], *eq = strchr(arg, '=');
    const struct option_def *d = find_option(arg);

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(usage, stdout);
        return -1;
    }
    if (strcmp(arg, "--version") == 0) {
        puts("cph-run " CPH_VERSION_STRING);
        return -1;
    }
    if (!d)
        return fail(EXIT_CPH_RUN, "unknown option '%s' (see --help)", arg);
    if (d->kind == FLAG) {
        if (eq)
            return fail(EXIT_CPH_RUN, "%s takes no value", d->name);
        set_flag(o, d->name);
        return 0;
    }
    if (d->alias && strcmp(arg, d->alias) == 0)
        eq = NULL;
    if (!eq && *i + 1 == argc)
        return fail(EXIT_CPH_RUN, "%s needs a value (see --help)", d->name);
    return parse_value(o, d, eq ? eq + 1 : argv[++*i]);
}

/* An option that would configure nothing is a mistake: said, not
 * ignored. 0 or an exit code. */
static int check_combination(const struct options *o)
{
    size_t streams = 0;

    for (size_t i = 0; i < o->count; i++)
        streams += o->handles[i].type == SOCK_STREAM ||
                   o->handles[i].type == SOCK_SEQPACKET;
    if (o->backlog && streams == 0)
        return fail(EXIT_CPH_RUN, "--backlog without --listen or --seqpacket "
                    "configures nothing");
    if ((o->no_pid || o->fdnames) && !o->systemd)
        return fail(EXIT_CPH_RUN, "%s only applies with --systemd",
                    o->no_pid ? "--no-pid" : "--fdname");
    if (o->accept && (o->restart || o->workers))
        return fail(EXIT_CPH_RUN, "--accept starts a child per connection: "
                    "not with --restart or --workers");
    if (o->quiet && o->warn_after_ms)
        return fail(EXIT_CPH_RUN, "--warn-after with --quiet configures "
                    "nothing");
    return 0;
}

/*
 * Fills o from argv. Returns 0, -1 after --help or --version (done), or
 * an exit code for a usage error (already reported). PROGRAM is after
 * "--", or the first argument that is not an option.
 */
static int parse(int argc, char **argv, struct options *o)
{
    o->handles = calloc((size_t)argc, sizeof *o->handles);
    o->setenv = calloc((size_t)argc, sizeof *o->setenv);
    o->expect = calloc((size_t)argc, sizeof *o->expect);
    o->places = calloc((size_t)argc, sizeof *o->places);
    if (!o->handles || !o->setenv || !o->expect || !o->places)
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    for (int i = 1; i < argc; i++) {
        int err;

        if (strcmp(argv[i], "--") == 0 || argv[i][0] != '-') {
            i += argv[i][0] == '-';
            if (i == argc)
                return fail(EXIT_CPH_RUN, "no PROGRAM after -- (see --help)");
            o->program = i;
            return check_combination(o);
        }
        err = parse_arg(argc, argv, &i, o);
        if (err)
            return err;
    }
    return fail(EXIT_CPH_RUN, "missing PROGRAM (see --help)");
}

static bool is_listener(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

/*
 * Fds cph-run was handed by socket activation (LISTEN_PID its pid),
 * appended to handles under their names: systemd names the nameless
 * "unknown". Their variables leave the environment PROGRAM gets. 0 or an
 * exit code.
 */
static int inherit_listen_fds(struct handle *handles, size_t *count,
                              char **names)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    char *save = NULL, *name;
    int n;

    *names = NULL;
    if (!pid || !fds || atol(pid) != (long)getpid())
        return 0;
    if (parse_number("LISTEN_FDS", fds, 0, &n) != 0)
        return EXIT_CPH_RUN;
    if (getenv("LISTEN_FDNAMES") && !(*names = strdup(getenv("LISTEN_FDNAMES"))))
        return fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    name = *names ? strtok_r(*names, ":", &save) : NULL;
    for (int i = 0; i < n; i++) {
        struct handle *h = &handles[(*count)++];

        h->key = name ? name : "unknown";
        h->fd = FIRST_LISTEN_FD + i;
        h->listener = is_listener(h->fd);
        if (fcntl(h->fd, F_SETFD, FD_CLOEXEC) < 0)
            return fail(EXIT_CPH_RUN, "LISTEN_FDS: fd %d is not open",
                        h->fd);
        name = name ? strtok_r(NULL, ":", &save) : NULL;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return 0;
}

static int open_handle(const struct handle_option *opt,
                       const struct options *o, struct handle *h)
{
    char *end;
    long n;

    h->key = opt->key;
    if (opt->type) {
        int code = open_listener(opt, o, &h->fd);

        h->listener = opt->type != SOCK_DGRAM;
        return code ? code : (fcntl(h->fd, F_SETFD, FD_CLOEXEC), 0);
    }
    if (strcmp(opt->name, "--file") == 0) {
        h->fd = open(opt->value, O_RDONLY | O_CLOEXEC);
        return h->fd < 0 ? fail(EXIT_CPH_RUN, "--file %s=%s: %s", opt->key,
                                opt->value, strerror(errno))
                         : 0;
    }
    n = strtol(opt->value, &end, 10);
    if (*opt->value < '0' || *opt->value > '9' || *end != '\0' || n > INT_MAX)
        return fail(EXIT_CPH_RUN, "--fd %s=%s: not an fd number", opt->key,
                    opt->value);
    h->fd = (int)n;
    if (fcntl(h->fd, F_GETFD) < 0)
        return fail(EXIT_CPH_RUN, "--fd %s=%s: fd %d is not open", opt->key,
                    opt->value, h->fd);
    /* The child gets it by key only; stdio stays as it is. */
    if (h->fd > 2)
        fcntl(h->fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

static const struct place_option *place_of(const struct options *o,
                                          const char *key)
{
    for (size_t i = 0; i < o->place_count; i++)
        if (strcmp(o->places[i].key, key) == 0)
            return &o->places[i];
    return NULL;
}

/*
 * --at, --env-fd and --stdin: each names a handle; without --systemd every
 * handle but --inetd's is placed (the adapter takes them all: one placed nowhere would
 * be lost); no two land on one number, nor on --systemd's 3.. or --inetd's
 * stdin and stdout.
 */
static int check_places(const struct options *o, const struct handle *h,
                        size_t count)
{
    size_t rest = 0;

    for (size_t i = 0; i < count; i++)
        if (o->inetd && h[i].listener)
            continue;   /* on stdin and stdout */
        else if (!place_of(o, h[i].key) && !o->systemd)
            return fail(EXIT_CPH_RUN, "handle '%s' is placed nowhere: add "
                        "--at, --env-fd or --stdin for it, or --systemd",
                        h[i].key);
        else if (!place_of(o, h[i].key))
            rest++;
    for (size_t i = 0; i < o->place_count; i++) {
        const struct place_option *p = &o->places[i];
        size_t k = 0;

        while (k < count && strcmp(h[k].key, p->key) != 0)
            k++;
        if (k == count)
            return fail(EXIT_CPH_RUN, "%s: no handle '%s'", p->arg, p->key);
        if (p->at >= 3 && (size_t)p->at < 3 + rest && o->systemd)
            return fail(EXIT_CPH_RUN, "%s: fd %d is --systemd's", p->arg,
                        p->at);
        if (o->inetd && (p->at == 0 || p->at == 1))
            return fail(EXIT_CPH_RUN, "%s: --inetd's stdin and stdout",
                        p->arg);
        for (size_t j = 0; j < i; j++)
            if (p->at >= 0 && o->places[j].at == p->at)
                return fail(EXIT_CPH_RUN, "%s and %s: one fd %d", p->arg,
                            o->places[j].arg, p->at);
    }
    return 0;
}

/* What --accept, --inetd, --fdname and the placements need of the
 * handles. */
static int check_handles(const struct options *o, const struct handle *h,
                         size_t count)
{
    size_t listeners = 0, names = 1, laid_out = 0;
    int code;

    for (size_t i = 0; i < count; i++) {
        listeners += h[i].listener;
        laid_out += !place_of(o, h[i].key);
    }
    if ((o->accept || o->inetd) && listeners != 1)
        return fail(EXIT_CPH_RUN, "%s needs exactly one listening socket "
                    "(--listen, --seqpacket or inherited), not %zu",
                    o->accept ? "--accept" : "--inetd", listeners);
    for (const char *c = o->fdnames; c && *c; c++)
        names += *c == ':';
    if (o->fdnames && names > laid_out)
        return fail(EXIT_CPH_RUN, "--fdname: %zu names for the %zu handles "
                    "--systemd lays out", names, laid_out);
    if (o->place_count > 0 && (code = check_places(o, h, count)) != 0)
        return code;
    if ((o->pid_bound || o->warn_after_ms) && count + o->expect_count == 0)
        return fail(EXIT_CPH_RUN, "%s without a handle configures nothing",
                    o->pid_bound ? "--pid-bound" : "--warn-after");
    return 0;
}

static int set_environment(const struct options *o)
{
    for (size_t i = 0; i < o->setenv_count; i++) {
        char *eq = strchr(o->setenv[i], '=');
        int err;

        *eq = '\0';
        err = setenv(o->setenv[i], eq + 1, 1);
        *eq = '=';
        if (err < 0)
            return fail(EXIT_CPH_RUN, "-E %s: %s", o->setenv[i],
                        strerror(errno));
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct handle *handles = NULL;
    char *inherited_names = NULL;
    size_t count = 0;
    int code, max_inherited = 0;
    const char *fds = getenv("LISTEN_FDS");

    if (argc > 4 && strcmp(argv[1], EXEC_HELPER) == 0)
        return exec_helper(argv);
    code = parse(argc, argv, &o);
    if (fds)
        max_inherited = atoi(fds) > 0 && atoi(fds) < 65536 ? atoi(fds) : 0;
    if (!code && !(handles = calloc(o.count + (size_t)max_inherited + 1,
                                    sizeof *handles)))
        code = fail(EXIT_CPH_RUN, "%s", strerror(ENOMEM));
    if (!code)
        code = inherit_listen_fds(handles, &count, &inherited_names);
    for (size_t i = 0; !code && i < o.count; i++)
        code = open_handle(&o.handles[i], &o, &handles[count++]);
    if (!code)
        code = check_handles(&o, handles, count);
    if (!code)
        code = set_environment(&o);
    if (!code) {
        if (!o.quiet && !o.warn_after_ms)
            o.warn_after_ms = WARN_AFTER_MS;
        code = supervise(argv, &o, handles, count, environ);
    }
    remove_bound_paths();
    free(inherited_names);
    free(handles);
    free(o.handles);
    free(o.setenv);
    free(o.expect);
    for (size_t i = 0; i < o.place_count; i++)
        free(o.places[i].arg);
    free(o.places);
    return code < 0 ? 0 : code;
}
