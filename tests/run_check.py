#!/usr/bin/env python3
"""cph-run as a supervisor: Ctrl-C at a terminal (a pty) is one SIGINT,
every signal a shell can send reaches the child, the child dies with
cph-run (even by SIGKILL), stale Unix sockets, --restart without a refused
connection, --workers, --accept, --inetd, inherited LISTEN_FDS, --expect,
the adapter missing.

    run_check.py TOOLS_DIR EXAMPLES_DIR [CHECK]...

Every wait is bounded (liveness only); each check prints one line."""
import os
import pty
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOOLS, EXAMPLES = sys.argv[1], sys.argv[2]
RUN = os.path.join(TOOLS, "cph-run")
TMP = tempfile.mkdtemp()
BOUND = 30.0


STARTED = []


def default_signals():
    """In a child before exec: every signal as at a terminal. cph-run keeps
    ignored what it was started ignoring (under nohup, in a shell's
    background job), and the checks send it signals."""
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass


def start(args):
    """subprocess.Popen, killed when a check fails (a cph-run left running
    would hold meson's pipe open until its timeout)."""
    p = subprocess.Popen(args, preexec_fn=default_signals)
    STARTED.append(p)
    return p


def fail(msg):
    print("run: " + msg, file=sys.stderr)
    for p in STARTED:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


def wait_for(cond, what):
    end = time.monotonic() + BOUND
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    fail(what + ": never happened")


def listening(sock):
    """Whether a Unix socket listens at sock: cph-run binds (the file
    appears) before it listens. /proc/net/unix flags 0x10000 is
    __SO_ACCEPTCON."""
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if len(cols) >= 8 and cols[7] == sock and int(cols[3], 16) & 0x10000:
                return True
    return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent may be gone: then init reaps it).
    return state(pid) != "Z"


def path(name):
    return os.path.join(TMP, name)


# A child that counts SIGINTs; on SIGUSR1 (sent by itself to cph-run, so
# forwarded back after any SIGINT cph-run forwarded first) it writes the
# count and exits.
COUNTER = r"""
import os, signal, sys, time
count = 0
def on_int(sig, frame):
    global count
    count += 1
    if count == 1:
        os.kill(os.getppid(), signal.SIGUSR1)
def on_usr1(sig, frame):
    open(sys.argv[1], "w").write(str(count))
    sys.exit(0)
signal.signal(signal.SIGINT, on_int)
signal.signal(signal.SIGUSR1, on_usr1)
open(sys.argv[2], "w").write("ready")
while True:
    time.sleep(1)
"""


def ctrl_c_once():
    out, ready = path("count"), path("ready")
    pid, master = pty.fork()
    if pid == 0:
        default_signals()
        os.execv(RUN, [RUN, "--", sys.executable, "-c", COUNTER, out, ready])
    wait_for(lambda: read(ready) == "ready", "the child's start")
    os.write(master, b"\x03")
    wait_for(lambda: read(out) != "", "the child's count")
    _, status = os.waitpid(pid, 0)
    os.close(master)
    if read(out) != "1":
        fail("one Ctrl-C gave the child %s SIGINTs" % read(out))
    if os.waitstatus_to_exitcode(status) != 0:
        fail("cph-run exited %d after the child's 0" % status)
    print("run: one Ctrl-C at a terminal is one SIGINT")


# Records the first signal it gets, then exits 3.
RECORDER = r"""
import os, signal, sys, time
def on(sig, frame):
    open(sys.argv[1], "w").write(str(sig))
    os._exit(3)
for s in range(1, signal.NSIG):
    try:
        signal.signal(s, on)
    except (OSError, ValueError, RuntimeError):
        pass
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
open(sys.argv[2], "w").write(str(os.getpid()))
while True:
    time.sleep(1)
"""


def every_signal_forwarded():
    sigs = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
            signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGPIPE,
            signal.SIGVTALRM, signal.SIGPROF, signal.SIGXCPU,
            signal.SIGXFSZ, signal.SIGPWR, signal.SIGIO, signal.SIGSEGV,
            signal.SIGBUS, signal.SIGSYS, signal.SIGTRAP, signal.SIGABRT,
            signal.SIGWINCH, signal.SIGURG, signal.SIGCONT, signal.SIGTSTP,
            signal.SIGRTMIN + 2,
            signal.SIGRTMAX]
    for sig in sigs:
        got, ready = path("got%d" % sig), path("ready%d" % sig)
        p = start([RUN, sys.executable, "-c", RECORDER, got, ready])
        wait_for(lambda: read(ready) != "", "the child's start")
        p.send_signal(sig)
        if sig == signal.SIGTSTP:
            # Forwarded, then cph-run stops itself, as a job does.
            wait_for(lambda: read(got) != "", "SIGTSTP forwarded")
            wait_for(lambda: state(p.pid) == "T", "cph-run stopped")
            p.send_signal(signal.SIGCONT)
        code = p.wait(BOUND)
        if read(got) != str(int(sig)) or code != 3:
            fail("signal %d: cph-run exited %d, the child got '%s'"
                 % (sig, code, read(got)))
    print("run: %d signals sent to cph-run alone reach the child" % len(sigs))


def child_dies_with_cph_run():
    sock, pidfile = path("dies.sock"), path("dies.pid")
    p = start([RUN, "--listen", "s=unix:" + sock, "--", "sh", "-c",
               "echo $$ >%s; exec sleep 60" % pidfile])
    wait_for(lambda: read(pidfile).strip() != "", "the child's start")
    child = int(read(pidfile))
    p.kill()
    p.wait(BOUND)
    wait_for(lambda: not alive(child), "the child's death with cph-run")
    if not os.path.exists(sock):
        fail("SIGKILL left no socket file to test the stale case with")
    # The stale socket is replaced.
    r = subprocess.run([RUN, "--listen", "s=unix:" + sock, "--",
                        os.path.join(TOOLS, "cph-show")],
                       capture_output=True, text=True)
    if r.returncode != 0 or "unix stream socket listening " + sock not in r.stdout:
        fail("stale socket not replaced: %d %s" % (r.returncode, r.stderr))
    print("run: the child dies with cph-run (SIGKILL); its stale socket is replaced")


def unix_path_errors():
    busy = path("busy.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(busy)
    s.listen()
    r = subprocess.run([RUN, "--listen", "s=unix:" + busy, "true"],
                       capture_output=True, text=True)
    if r.returncode != 125 or "in use: another process listens" not in r.stderr:
        fail("live socket: %d %s" % (r.returncode, r.stderr))
    if not os.path.exists(busy):
        fail("removed a socket someone listens on")
    s.close()
    for what in ("file", "dir"):
        p = path(what)
        if what == "file":
            open(p, "w").close()
        else:
            os.mkdir(p)
        r = subprocess.run([RUN, "--listen", "s=unix:" + p, "true"],
                           capture_output=True, text=True)
        if r.returncode != 125 or p + " exists and is not a socket" not in r.stderr:
            fail("%s at the path: %d %s" % (what, r.returncode, r.stderr))
    print("run: a live socket, a file, a directory at unix:PATH are left and named")


# Serves one connection on fd 3 (its pid), then exits.
ONE_SHOT = r"""
import os, socket
s = socket.socket(fileno=3)
c, _ = s.accept()
c.sendall(str(os.getpid()).encode())
c.close()
"""


def connect_and_read(sock):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.settimeout(BOUND)
        c.connect(sock)
        return c.recv(64).decode()
    finally:
        c.close()


def restart_refuses_nothing():
    sock = path("restart.sock")
    p = start([RUN, "--restart", "--systemd", "--listen",
               "s=unix:" + sock, "--", sys.executable, "-c",
               ONE_SHOT])
    wait_for(lambda: listening(sock), "the socket listening")
    pids = set()
    for _ in range(21):
        try:
            pids.add(connect_and_read(sock))
        except ConnectionRefusedError:
            fail("a connection refused during the restarts")
    if len(pids) != 21:
        fail("21 connections served by %d children, not 21" % len(pids))
    p.send_signal(signal.SIGTERM)
    code = p.wait(BOUND)
    if code != 128 + signal.SIGTERM:
        fail("--restart stopped by SIGTERM exited %d" % code)
    print("run: --restart: 21 children in turn, no connection refused")


# Writes its pid into a directory, then waits for SIGTERM.
WORKER = r"""
import os, sys, time
open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
while True:
    time.sleep(1)
"""


def workers_and_reload():
    d = path("workers")
    os.mkdir(d)
    p = start([RUN, "--workers", "3", "--listen", "s=127.0.0.1:0",
               "-q", "--", sys.executable, "-c", WORKER, d])
    wait_for(lambda: len(os.listdir(d)) == 3, "3 workers")
    first = set(int(x) for x in os.listdir(d))
    os.kill(min(first), signal.SIGKILL)
    wait_for(lambda: len(os.listdir(d)) == 4, "a worker replaced")
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: len(os.listdir(d)) == 7, "3 new workers on SIGHUP")
    wait_for(lambda: not any(alive(x) for x in first),
             "the old workers stopped")
    p.send_signal(signal.SIGTERM)
    p.wait(BOUND)
    left = [int(x) for x in os.listdir(d) if alive(int(x))]
    if left:
        fail("workers left after cph-run: %s" % left)
    print("run: --workers 3 replaced one by one and all on SIGHUP")


def accept_and_inetd():
    sock = path("accept.sock")
    p = start([RUN, "--accept", "--inetd", "--listen",
               "s=unix:" + sock, "--", "sh", "-c", "echo hi $$"])
    wait_for(lambda: listening(sock), "the socket listening")
    got = {connect_and_read(sock) for _ in range(3)}
    if len(got) != 3 or not all(g.startswith("hi ") for g in got):
        fail("--accept --inetd: %s" % got)
    p.send_signal(signal.SIGTERM)
    if p.wait(BOUND) != 128 + signal.SIGTERM:
        fail("--accept stopped by SIGTERM")
    r = subprocess.run([RUN, "--inetd", "--listen", "s=127.0.0.1:0", "--",
                        sys.executable, "-c",
                        "import socket, sys\n"
                        "s = socket.socket(fileno=0)\n"
                        "print(s.getsockopt(socket.SOL_SOCKET,"
                        " socket.SO_ACCEPTCONN), file=sys.stderr)\n"],
                       capture_output=True, text=True, timeout=BOUND)
    if r.returncode != 0 or r.stderr != "1\n":
        fail("--inetd: the listener is not on stdin: %s" % r.stderr)
    sock = path("accept2.sock")
    p = start([RUN, "--accept", "--systemd", "--listen",
               "conn=unix:" + sock, "--", sys.executable, "-c",
               "import os, socket\n"
               "c = socket.socket(fileno=3)\n"
               "c.sendall((os.environ['LISTEN_FDNAMES'] + ' '"
               " + str(c.getsockopt(socket.SOL_SOCKET,"
               " socket.SO_ACCEPTCONN))).encode())\n"])
    wait_for(lambda: listening(sock), "the socket listening")
    got = connect_and_read(sock)
    p.send_signal(signal.SIGINT)
    p.wait(BOUND)
    if got != "conn 0":
        fail("--accept --systemd: the child got '%s'" % got)
    cfg = path("inetd.cfg")
    with open(cfg, "w") as f:
        f.write("config")
    sock = path("accept3.sock")
    p = start([RUN, "--accept", "--inetd", "--listen", "s=unix:" + sock,
               "--file", "cfg=" + cfg, "--at", "5=cfg", "--", "sh", "-c",
               "cat <&5"])
    wait_for(lambda: listening(sock), "the socket listening")
    got = connect_and_read(sock)
    p.send_signal(signal.SIGTERM)
    p.wait(BOUND)
    if got != "config":
        fail("--accept --inetd --at: the child got '%s'" % got)
    print("run: --inetd, --accept with --inetd (and a placement) and with "
          "--systemd")


def every_number_placed():
    """No number a placement names is lost to cph-run's own fds."""
    numbers = range(3, 16)
    args = [RUN, "--file", "a=/etc/hostname"]
    for n in numbers:
        args += ["--at", "%d=a" % n]
    script = " ".join("readlink /proc/$$/fd/%d;" % n for n in numbers)
    r = subprocess.run(args + ["--", "sh", "-c", script],
                       capture_output=True, text=True, timeout=BOUND)
    want = "/etc/hostname\n" * len(numbers)
    if r.returncode != 0 or r.stdout != want:
        fail("--at 3..15: %d '%s' %s" % (r.returncode, r.stdout, r.stderr))
    print("run: --at lands on every number asked, cph-run's own fds aside")


def inherited_listen_fds():
    """As systemd-socket-activate -l PATH --fdname=web runs cph-run."""
    sock, out = path("activated.sock"), path("activated.out")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    s.listen()
    pid = os.fork()
    if pid == 0:
        os.dup2(s.fileno(), 3)
        os.set_inheritable(3, True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd, 1)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                   LISTEN_FDNAMES="web")
        os.execve(RUN, [RUN, os.path.join(TOOLS, "cph-show")], env)
    _, status = os.waitpid(pid, 0)
    s.close()
    if status != 0 or "web  fd" not in read(out) or \
            "unix stream socket listening " + sock not in read(out):
        fail("inherited LISTEN_FDS: %d %s" % (status, read(out)))
    print("run: fds inherited by socket activation go on under their names")


def expect_prints_given():
    r = subprocess.run([RUN, "--expect", "handler", "--",
                        os.path.join(EXAMPLES, "crashpad-handler", "crashpad-handler")],
                       capture_output=True, text=True, timeout=BOUND)
    if r.returncode != 0 or r.stdout != "handler  unix seqpacket socket (unnamed)\n":
        fail("--expect: %d '%s' %s" % (r.returncode, r.stdout, r.stderr))
    # A child that gives and exits at once: cph-run still prints it.
    give = os.path.join(TOOLS, "..", "tests", "helpers", "h_give")
    for _ in range(5):
        r = subprocess.run([RUN, "--expect", "k", give, "k=hello"],
                           capture_output=True, text=True, timeout=BOUND)
        if r.returncode != 0 or "k 0\n" not in r.stdout or \
                '(5 bytes)  "hello"' not in r.stdout:
            fail("--expect, child gone: %d '%s' %s"
                 % (r.returncode, r.stdout, r.stderr))
    print("run: --expect prints what the child gave back, even as it exits")


def missing_adapter():
    d = path("alone")
    os.mkdir(d)
    os.symlink(os.path.abspath(RUN), os.path.join(d, "cph-run"))
    r = subprocess.run([os.path.join(d, "cph-run"), "--systemd", "--file",
                        "a=/etc/hostname", "true"], capture_output=True,
                       text=True)
    if r.returncode != 125 or "adapter" not in r.stderr:
        fail("adapter missing: %d %s" % (r.returncode, r.stderr))
    print("run: the adapter missing is cph-run's failure (125), not 127")


only = sys.argv[3:]
for check in (ctrl_c_once, every_signal_forwarded, child_dies_with_cph_run,
              unix_path_errors, restart_refuses_nothing, workers_and_reload,
              accept_and_inetd, every_number_placed, inherited_listen_fds,
              expect_prints_given, missing_adapter):
    if not only or check.__name__ in only:
        try:
            check()
        except Exception as e:
            fail("%s: %r" % (check.__name__, e))
subprocess.run(["rm", "-rf", TMP])
