"""Seccomp child: ``seccomp_denied_errnos.py``.

Runs the scenario of test_each_denied_syscall_returns_its_errno (it shows that each
denied syscall returns its errno) and prints the outcome as JSON.
"""
import json
import sys

from seccomp_prelude import lock, sc

from sdk_guard import _guard

sys.path[0] = ""  # what `python -c` puts there: the working directory

built = _guard.SeccompProgram("errno")
lock()
res = {}
for name, nr, kind, _ in built.denied:
    if kind == "ns_flags":
        args = [0x10000000]          # CLONE_NEWUSER
    elif kind == "personality":
        args = [0x0400000]           # READ_IMPLIES_EXEC
    elif kind == "ioctl_tiocsti":
        args = [0, 0x5412, 0]        # TIOCSTI
    elif kind == "socket_mptcp":
        args = [2, 1, 262]           # AF_INET, SOCK_STREAM, IPPROTO_MPTCP
    else:
        args = [0] * 6 if name not in ("reboot",) else [0xfee1dead, 0, 0]
    res[name] = sc(nr, *args)
print(json.dumps({k: list(v) for k, v in res.items()}))
