"""Seccomp child: ``seccomp_trap_records.py``.

Runs the scenario of test_trap_mode_records_one_audit_event_per_denial (it shows that
trap mode records one audit event per denial) and prints the outcome as JSON.
"""
import json
import os
import sys

from seccomp_prelude import lock, sc

from sdk_guard import _guard, seccomp

sys.path[0] = ""  # what `python -c` puts there: the working directory

recs = []
_guard.set_audit_dispatcher(recs.append)
lock("trap")
res = [sc(101, 0, 0, 0, 0), sc(272, 0x10000000), sc(105, 0), sc(101, 0, 0, 0, 0)]
try:
    os.execv("/bin/true", ["true"])
except PermissionError:
    res.append("execv EPERM")
n = seccomp.drain()
got = recs + _guard.take_undelivered()
got = [r for r in got if r.get("layer") == "seccomp"]
print(json.dumps({"res": res, "n": n, "caps": [r["capability"] for r in got],
                  "decisions": sorted({r["decision"] for r in got}),
                  "active": _guard.seccomp_trap_active()}))
