"""Landlock child: ``landlock_tcp_connect_and_bind.py PARAMS_JSON``.

Runs the scenario of test_tcp_connect_and_bind_only_to_allowed_loopback_ports (it
shows that tcp connect and bind only to allowed loopback ports) and prints the outcome
as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402

la, lb = socket.socket(), socket.socket()
la.bind(("127.0.0.1", 0))
la.listen()
lb.bind(("127.0.0.1", 0))
lb.listen()
pa, pb = la.getsockname()[1], lb.getsockname()[1]
r = sg.lockdown(spec={"net": {"connect_tcp": [pa], "bind_tcp": [P["bind_ok"]]},
                      "seccomp": "off"})
def connect(port, family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family) as s:
        s.settimeout(5)
        s.connect((host, port))
def bind(port):
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
def udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", port))
done(connect_allowed=attempt(connect, pa), connect_denied=attempt(connect, pb),
     bind_allowed=attempt(bind, P["bind_ok"]), bind_denied=attempt(bind, P["bind_no"]),
     udp_unrestricted=attempt(udp, pb),
     rules=sorted((x["port"], x["access"][0]) for x in r.as_dict()["landlock"]["rules"]
                  if x["type"] == "port"), pa=pa,
     mptcp_warned=any(w.get("target") == "net.mptcp" for w in r.landlock["warnings"]))
