#!/bin/sh
# Runs the command given (mig and its arguments) and fails when it printed
# anything: mig exits 0 after a warning, and with werror a warning of mig
# must fail the build as the compiler's do.
err=$(mktemp) || exit 1
"$@" 2>"$err"
status=$?
cat "$err" >&2
if [ "$status" -eq 0 ] && [ -s "$err" ]; then
    status=1
fi
rm -f "$err"
exit "$status"
