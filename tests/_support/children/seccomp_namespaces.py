"""Seccomp child: ``seccomp_namespaces.py``.

Runs the scenario of test_namespaces_cannot_be_created (it shows that namespaces
cannot be created) and prints the outcome as JSON.
"""
import ctypes
import json
import os
import sys

from seccomp_prelude import libc, lock, sc

sys.path[0] = ""  # what `python -c` puts there: the working directory

lock()
res = {}
if hasattr(os, "unshare"):          # Python >= 3.12
    try:
        os.unshare(os.CLONE_NEWUSER)
        res["unshare"] = "ok"
    except PermissionError:
        res["unshare"] = "EPERM"
else:
    ctypes.set_errno(0)
    rc = libc.unshare(0x10000000)
    res["unshare"] = "EPERM" if rc == -1 and ctypes.get_errno() == 1 else f"{rc}"
# raw clone(CLONE_NEWUSER|SIGCHLD): must fail before creating anything
r, e = sc(56, 0x10000000 | 17, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
res["clone"] = [r, e]
res["clone_newnet"] = list(sc(56, 0x40000000 | 17, 0, 0, 0, 0))
print(json.dumps(res))
