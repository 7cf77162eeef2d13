"""Lockdown child: ``lockdown_dns_without_net.py PARAMS_JSON``.

Locks down with no network and prints the DNS rules, whether /etc/hosts opens and
whether localhost resolves.
"""
import sys

from lockdown_prelude import attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402

r = sg.lockdown(spec={"seccomp": "off"})
dns = [x["path"] for x in r.landlock["rules"] if "name resolution" in x["source"]]
try:
    socket.getaddrinfo("localhost", 80)
    resolved = "ok"
except socket.gaierror:
    resolved = "failed"
done(dns=dns, hosts=attempt(open, "/etc/hosts"), resolved=resolved)
