"""Landlock child: ``landlock_tcp_connect_over_ipv6.py PARAMS_JSON``.

Runs the scenario of test_tcp_connect_over_ipv6_loopback_is_denied_too (it shows that
tcp connect over ipv6 loopback is denied too) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402

try:
    srv = socket.socket(socket.AF_INET6)
    srv.bind(("::1", 0))
    srv.listen()
except OSError as e:
    done(skip=str(e))
    raise SystemExit from None
port = srv.getsockname()[1]
sg.lockdown(spec={"seccomp": "off"})
def connect():
    with socket.socket(socket.AF_INET6) as s:
        s.settimeout(5)
        s.connect(("::1", port))
done(connect=attempt(connect))
