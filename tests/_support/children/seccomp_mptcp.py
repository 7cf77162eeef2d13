"""Seccomp child: ``seccomp_mptcp.py``.

Runs the scenario of test_mptcp_sockets_cannot_get_around_landlock_tcp_rules (it shows
that mptcp sockets cannot get around landlock tcp rules) and prints the outcome as
JSON.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402

import sdk_guard as sg  # noqa: E402

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(5)
port = srv.getsockname()[1]
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()
    mptcp = True
except OSError:
    mptcp = False                   # MPTCP disabled here: nothing to get around
sg.lockdown(spec={"seccomp": "errno"})
res = {"mptcp": mptcp}
for name, proto in (("tcp", 0), ("mptcp_v4", 262)):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        s.connect(("127.0.0.1", port))
        res[name] = "connected"
    except OSError as e:
        res[name] = e.errno
print(json.dumps(res))
