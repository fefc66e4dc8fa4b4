#!/usr/bin/python3
"""A server that knows nothing of cph. It takes its listening socket the
systemd way (sd_listen_fds: fds from 3, LISTEN_FDS, LISTEN_PID,
LISTEN_FDNAMES), which is how `cph-run --systemd` hands it over:

    cph-run --systemd --listen web=8080 -- /usr/bin/python3 server.py

It answers one connection, then exits."""
import os
import socket
import sys

from systemd import daemon

names = os.environ.get("LISTEN_FDNAMES", "").split(":")
fds = daemon.listen_fds()
if len(fds) != 1:
    sys.exit("server: expected one socket, got %d" % len(fds))
server = socket.socket(fileno=fds[0])
print("server: %s listening on port %d" % (names[0], server.getsockname()[1]),
      flush=True)
conn, _ = server.accept()
with conn:
    conn.sendall(b"hello from pid %d\n" % os.getpid())
