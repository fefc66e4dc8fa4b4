#!/bin/sh
# cph-run and cph-show as a user runs them: the README's demo, every
# --listen form, exit statuses passed through, signals forwarded, the
# warning about handles never taken, --systemd with real sd_listen_fds
# consumers, and usage errors.
set -u
tools=$1
tmp=$(mktemp -d)
# A child left running by a failure must not hold meson's pipes open.
trap '[ -s "$tmp/pid" ] && kill -KILL "$(cat "$tmp/pid")" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "tools: $*" >&2; exit 1; }
run() { "$tools/cph-run" "$@"; }
# expect STATUS COMMAND...: COMMAND exits with STATUS.
expect() {
    want=$1
    shift
    "$@" 2>"$tmp/err" >/dev/null
    got=$?
    [ "$got" -eq "$want" ] || fail "$* exited $got, not $want: $(cat "$tmp/err")"
}
# Waits (bounded) until file $1 is not empty.
wait_for() {
    n=0
    while [ ! -s "$1" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    [ -s "$1" ] || fail "$1 never written"
}

out=$(run --file release=/etc/os-release --listen web=127.0.0.1:0 \
    --fd err=2 -- "$tools/cph-show") || fail "demo exited $?"
echo "$out"
echo "$out" | grep -q "^cph-show: 3 handles$" || fail "no handle count"
echo "$out" | grep -q "^release  fd [0-9]*  file /.*os-release ([0-9]* bytes)  \"" ||
    fail "no file line"
echo "$out" | grep -q "^web  fd [0-9]*  tcp socket listening 127.0.0.1:[0-9]*$" ||
    fail "no socket line"

# Every --listen form, with --opt=value spellings.
out=$(run --listen=any=0 --listen 'v6=[::1]:0' --listen "path=unix:$tmp/sock" \
    --listen "abstract=@cph-tools-$$" --backlog=4 -- "$tools/cph-show") ||
    fail "listen forms exited $?"
echo "$out"
echo "$out" | grep -q "^any  fd [0-9]*  tcp socket listening \[::\]:[0-9]*$" ||
    fail "PORT is not [::]:PORT"
echo "$out" | grep -q "^v6  fd [0-9]*  tcp socket listening \[::1\]:[0-9]*$" ||
    fail "no [::1] line"
echo "$out" | grep -q "^path  fd [0-9]*  unix stream socket listening $tmp/sock$" ||
    fail "no unix:PATH line"
echo "$out" | grep -q "^abstract  fd [0-9]*  unix stream socket listening @cph-tools-$$$" ||
    fail "no @NAME line"
[ -e "$tmp/sock" ] && fail "unix:PATH not removed at exit"
out=$(run --datagram udp=127.0.0.1:0 --datagram "u=@cph-tools-d$$" \
    --listen tcp=127.0.0.1:0 --seqpacket "sp=unix:$tmp/sp" -- "$tools/cph-show") ||
    fail "--datagram exited $?"
echo "$out" | grep -q "^udp  fd [0-9]*  udp socket 127.0.0.1:[0-9]*$" ||
    fail "--datagram: no udp line: $out"
echo "$out" | grep -q "^u  fd [0-9]*  unix dgram socket @cph-tools-d$$$" ||
    fail "--datagram: no unix dgram line: $out"
echo "$out" | grep -q "^tcp  fd [0-9]*  tcp socket listening 127.0.0.1:[0-9]*$" ||
    fail "--datagram turned --listen into a datagram socket: $out"
echo "$out" | grep -q "^sp  fd [0-9]*  unix seqpacket socket listening $tmp/sp$" ||
    fail "--seqpacket: $out"

# Help, version, statuses.
run -h | grep -q "^usage: cph-run" || fail "-h: no usage on stdout"
expect 0 run --help
run --version | grep -q "^cph-run [0-9]" || fail "no --version"
"$tools/cph-show" --help | grep -q "^usage: cph-show" || fail "cph-show --help"
expect 7 run -- sh -c 'exit 7'
expect 143 run -- sh -c 'kill -TERM $$'
# cph-run's own failures are 125, usage errors included (as env's).
expect 125 run --fd 'bad key=1' -- true
expect 125 run --bogus
expect 125 run --listen web=host:port -- true
expect 125 run --backlog 0 -- true
expect 125 run --datagram=yes -- true
expect 125 run --seqpacket a=127.0.0.1:0 -- true
expect 125 run --file
expect 125 run --file a=/nonexistent/cph -- true
: >"$tmp/taken"
expect 125 run --listen "a=unix:$tmp/taken" -- true
grep -q "$tmp/taken exists and is not a socket" "$tmp/err" || fail "not a socket: $(cat "$tmp/err")"
[ -e "$tmp/taken" ] || fail "removed a file cph-run did not create"
# Options that configure nothing are errors.
for opts in "--backlog 4 --file a=/etc/hostname" "--no-pid --file a=/etc/hostname" \
    "--fdname x --file a=/etc/hostname" "--systemd --fdname x:y --file a=/etc/hostname" \
    "--pid-bound" "--warn-after 10" "--quiet --warn-after 10 --file a=/etc/hostname" \
    "--accept --file a=/etc/hostname" "--accept --restart --listen a=127.0.0.1:0" \
    "--inetd --listen a=127.0.0.1:0 --listen b=127.0.0.1:0" "-E NOVALUE"; do
    # shellcheck disable=SC2086
    expect 125 run $opts -- true
done
expect 127 run -- no-such-program-cph
expect 127 run no-such-program-cph
expect 126 run /
# PROGRAM without --, options in every spelling, the environment.
[ "$(run -E A=1 --setenv=B=2 sh -c 'echo $A$B')" = 12 ] || fail "-E, --setenv"
[ "$(run --file a=/etc/hostname --quiet true 2>&1)" = "" ] || fail "--quiet warned"
run --pid-bound --file a=/etc/hostname "$tools/cph-show" | grep -q "^a  fd" ||
    fail "--pid-bound"
expect 1 "$tools/cph-show"
grep -q "not launched by cph" "$tmp/err" || fail "cph-show outside cph"
expect 2 "$tools/cph-show" --bogus

# A child that never takes its handles: said once, at exit...
msg=$(run --file a=/etc/hostname -- true 2>&1)
echo "$msg" | grep -q "exited without checking in" || fail "no warning: $msg"
# ... and while it still runs: the child waits for the warning to appear.
run --warn-after 100 --file a=/etc/hostname -- sh -c "
    n=0; while [ ! -s '$tmp/warned' ] && [ \$n -lt 300 ]; do sleep 0.1; n=\$((n+1)); done
    [ -s '$tmp/warned' ]" 2>"$tmp/warned" || fail "no warning while running"
grep -q "has not taken its handles after 100 ms" "$tmp/warned" || fail "$(cat "$tmp/warned")"
[ "$(wc -l <"$tmp/warned")" -eq 1 ] || fail "warned more than once: $(cat "$tmp/warned")"

# Signals reach the child: SIGTERM kills it (not only cph-run), SIGUSR1
# runs its trap.
"$tools/cph-run" -- sh -c "echo \$\$ >'$tmp/pid'; exec sleep 60" &
wait_for "$tmp/pid"
kill -TERM $!
wait $!
[ $? -eq 143 ] || fail "SIGTERM: not 143"
kill -0 "$(cat "$tmp/pid")" 2>/dev/null && fail "SIGTERM not forwarded: child left running"
rm "$tmp/pid"
"$tools/cph-run" -- sh -c "trap 'exit 5' USR1; echo \$\$ >'$tmp/pid'; while :; do sleep 0.1; done" &
wait_for "$tmp/pid"
kill -USR1 $!
wait $!
[ $? -eq 5 ] || fail "SIGUSR1 not forwarded"

# --systemd: a program that knows nothing of cph gets fds 3.., as
# sd_listen_fds wants them (python3's socket module and python3-systemd).
out=$(run --systemd --listen web=127.0.0.1:0 --file cfg=/etc/hostname -- \
    /usr/bin/python3 -c '
import os, socket, systemd.daemon
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID"
print(os.environ["LISTEN_FDNAMES"], systemd.daemon.listen_fds())
s = socket.socket(fileno=3)
print(s.type == socket.SOCK_STREAM, s.getsockname()[0], os.readlink("/proc/self/fd/4"))
') || fail "--systemd exited $?"
[ "$out" = "web:cfg [3, 4]
True 127.0.0.1 /etc/hostname" ] || fail "--systemd: $out"
expect 127 run --systemd --file a=/etc/hostname -- no-such-program-cph
out=$(run --systemd --no-pid --fdname 'www:config file' --listen web=127.0.0.1:0 \
    --file cfg=/etc/hostname --file more=/etc/hostname -- \
    sh -c 'echo "$LISTEN_FDS ${LISTEN_PID-none} $LISTEN_FDNAMES"') ||
    fail "--no-pid --fdname exited $?"
[ "$out" = "3 none www:config file:more" ] || fail "--no-pid --fdname: $out"
# --at, --env-fd, --stdin: handles where a program without libcph_child
# reads them, nothing else inherited; alone or beside --systemd's 3...
out=$(run --file a=/etc/hostname --listen s=127.0.0.1:0 --file b=/etc/os-release \
    --at 7=a --env-fd SOCK_FD=s --stdin b -- sh -c '
    readlink /proc/$$/fd/7; readlink /proc/$$/fd/0; [ -S /proc/$$/fd/$SOCK_FD ] && echo socket
    ls -l /proc/$$/fd | grep -c -e socket -e /etc/hostname -e os-release') ||
    fail "--at --env-fd --stdin exited $?"
[ "$out" = "/etc/hostname
/usr/lib/os-release
socket
3" ] || fail "--at --env-fd --stdin: $out"
out=$(run --systemd --file a=/etc/hostname --file b=/etc/os-release --at 9=a -- \
    sh -c 'echo $LISTEN_FDS $LISTEN_FDNAMES; readlink /proc/$$/fd/3 /proc/$$/fd/9') ||
    fail "--systemd --at exited $?"
[ "$out" = "1 b
/usr/lib/os-release
/etc/hostname" ] || fail "--systemd --at: $out"
expect 125 run --file a=/etc/hostname --file b=/etc/hostname --at 9=a -- true
grep -q "handle 'b' is placed nowhere" "$tmp/err" || fail "$(cat "$tmp/err")"
expect 125 run --systemd --file a=/etc/hostname --file b=/etc/hostname --at 3=a -- true
expect 125 run --file a=/etc/hostname --at 5=a --at 5=a -- true
expect 125 run --file a=/etc/hostname --at 5=zz --systemd -- true

# A child that loads libcph_child late (Python's ctypes) checks in then;
# os.environ, copied at Python's start, keeps CPH_HANDSHAKE until popped
# (cph_child_status(3)). A sanitizer build's library cannot be loaded by a
# python3 built without the sanitizer's runtime: the plain build runs it.
if [ "${CPH_SANITIZED:-none}" = none ]; then
out=$(run --quiet --file a=/etc/hostname -- /usr/bin/python3 -c '
import ctypes, os, subprocess, sys
lib = ctypes.CDLL(sys.argv[1])
print(lib.cph_child_status(), lib.cph_child_count(), "CPH_HANDSHAKE" in os.environ)
os.environ.pop("CPH_HANDSHAKE", None)
print(subprocess.run(["env"], capture_output=True, text=True).stdout.count("CPH_HANDSHAKE"))
' "$tools/../lib/libcph_child.so") || fail "late load exited $?"
[ "$out" = "0 1 True
0" ] || fail "late load: $out"
fi
# Errors that name their cause.
CPH_HANDSHAKE=x expect 1 "$tools/cph-show"
grep -q "CPH_HANDSHAKE is stale or malformed" "$tmp/err" || fail "$(cat "$tmp/err")"
echo "tools: demo, listen forms, statuses, signals, warnings, --systemd as documented"
