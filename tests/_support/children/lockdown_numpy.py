"""Lockdown child: ``lockdown_numpy.py PARAMS_JSON``.

Imports numpy before lockdown when P["first"] is "numpy" (so OpenBLAS may have
started its threads), locks down with seccomp errno and prints the status and thread
report or the refusal, the grace period used, how long it took and, when locked
down, the result of a numpy computation done afterwards.
"""
import sys
import time

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

if P["first"] == "numpy":
    import numpy as np
t0 = time.monotonic()
try:
    r = sg.lockdown(spec={"seccomp": "errno"})
    res = {"status": r.status, "threads": r.landlock["threads"]}
except sg.GuardError as e:
    res = {"refused": str(e)}
res["grace_ms"] = sg.landlock._last_grace_ms
res["seconds"] = round(time.monotonic() - t0, 3)
if "status" in res:
    import numpy as np
    a = np.arange(16.0).reshape(4, 4) + np.eye(4)
    res["numpy"] = float(np.linalg.det(a @ np.linalg.inv(a)))
done(**res)
