#!/bin/sh
# Launches examples/systemd/server.py with cph-run --systemd on a
# dual-stack port, connects to it over IPv4, and checks its answer.
#   run.sh CPH-RUN SERVER.PY
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$1" --systemd --listen web=0 -- /usr/bin/python3 "$2" >"$tmp/out" &
run=$!
n=0
while ! grep -q "listening on port" "$tmp/out" && [ $n -lt 300 ]; do
    sleep 0.1
    n=$((n + 1))
done
cat "$tmp/out"
port=$(sed -n 's/.*listening on port \([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { kill "$run"; echo "run.sh: no server" >&2; exit 1; }
/usr/bin/python3 -c '
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
    print("client:", s.makefile().readline().strip())
' "$port" | tee "$tmp/reply"
wait "$run"
grep -q "^client: hello from pid [0-9]*$" "$tmp/reply"
