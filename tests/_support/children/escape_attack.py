"""Escape corpus child: ``escape_attack.py PARAMS_JSON`` (see _support/escape_tree.py).

Installs the guard with the policy in PARAMS, optionally locks the process down,
imports the hostile extension ``evil``, calls ``run_<name>()`` for each name in
``calls`` and prints one JSON dict: per call, "ok" (with a short repr of the value),
"denied" (with capability and target) or "error".
"""
import json
import os  # noqa: F401  (host_setup and host_after code uses it)
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
P = json.loads(sys.argv[1])
sys.path.insert(0, P["host_dir"])

import sdk_guard as sg  # noqa: E402
from sdk_guard.errors import VIOLATIONS  # noqa: E402


def outcome(fn):
    try:
        r = fn()
        return {"outcome": "ok", "value": repr(r)[:300]}
    except VIOLATIONS as e:
        return {"outcome": "denied", "type": type(e).__name__, "capability": e.capability,
                "target": e.target, "msg": str(e)[:300]}
    except BaseException as e:
        return {"outcome": "error", "type": type(e).__name__, "msg": str(e)[:300],
                "errno": getattr(e, "errno", None)}


import hostapp  # noqa: E402,F401  (the host application, imported before install)

policy = sg.Policy.from_dict(P["policy"])
exec(P["host_setup"])
guard = sg.install(policy)
if P["lockdown"] is not None:
    LOCKDOWN_REPORT = sg.lockdown(spec=P["lockdown"]).as_dict()
out = {}
holder = {}
out["import"] = outcome(lambda: holder.setdefault("ext", guard.import_extension("evil")))
for name in P["calls"]:
    if "ext" not in holder:
        break
    out[name] = outcome(getattr(holder["ext"], "run_" + name))
exec(P["host_after"])
print(json.dumps(out))
