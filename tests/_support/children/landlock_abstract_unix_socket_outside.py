"""Landlock child: ``landlock_abstract_unix_socket_outside.py PARAMS_JSON``.

Runs the scenario of test_abstract_unix_socket_outside_the_domain_is_unreachable (it
shows that abstract unix socket outside the domain is unreachable) and prints the
outcome as JSON.
"""
import os
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402

outer = socket.socket(socket.AF_UNIX)
outer.bind(b"\0sdk_guard_test_outer_%d" % os.getpid())
outer.listen()
r = sg.lockdown(spec={"scope": ["abstract_unix_socket"], "seccomp": "off"})
inner = socket.socket(socket.AF_UNIX)
inner.bind(b"\0sdk_guard_test_inner_%d" % os.getpid())
inner.listen()
def connect(name):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(name)
done(outer=attempt(connect, outer.getsockname()), inner=attempt(connect, inner.getsockname()),
     scopes=r.as_dict()["landlock"]["scopes"])
