#!/bin/sh
# cph-run and cph-show as a user runs them: the README's demo, exit
# statuses passed through, and usage errors.
set -u
tools=$1
fail() { echo "tools: $*" >&2; exit 1; }

out=$("$tools/cph-run" --file release=/etc/os-release --listen web=127.0.0.1:0 \
    --fd err=2 -- "$tools/cph-show") || fail "demo exited $?"
echo "$out"
echo "$out" | grep -q "^cph-show: 3 handles$" || fail "no handle count"
echo "$out" | grep -q "^release  fd [0-9]*  file /.*os-release ([0-9]* bytes)  \"" ||
    fail "no file line"
echo "$out" | grep -q "^web  fd [0-9]*  tcp socket listening 127.0.0.1:[0-9]*$" ||
    fail "no socket line"

"$tools/cph-run" -- sh -c 'exit 7'
[ $? -eq 7 ] || fail "exit status not passed through"
"$tools/cph-run" -- sh -c 'kill -TERM $$'
[ $? -eq 143 ] || fail "signal not reported as 128+N"
msg=$("$tools/cph-run" --file a=/etc/hostname -- true 2>&1)
echo "$msg" | grep -q "exited without taking its handles" || fail "no warning: $msg"
"$tools/cph-run" --fd 'bad key=1' -- true 2>/dev/null
[ $? -eq 2 ] || fail "bad key accepted"
"$tools/cph-run" --bogus 2>/dev/null
[ $? -eq 2 ] || fail "unknown option accepted"
"$tools/cph-run" -- no-such-program-cph 2>/dev/null
[ $? -eq 127 ] || fail "missing program not 127"
"$tools/cph-show" 2>/dev/null
[ $? -eq 1 ] || fail "cph-show outside cph did not fail"
echo "tools: demo, statuses and usage errors as documented"
