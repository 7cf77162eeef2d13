"""Landlock child: ``landlock_require_landlock_refuses_a.py PARAMS_JSON``.

Runs the scenario of test_require_landlock_refuses_a_missing_path_before_applying (it
shows that require landlock refuses a missing path before applying) with the tree spec
(fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg
from sdk_guard import audit

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
spec["fs"]["read"].append(P["base"] + "/missing")
sink = audit.add_sink(audit.MemorySink())
try:
    sg.lockdown(spec=spec, require=["landlock"])
    res = {"raised": False}
except sg.GuardError as e:
    res = {"raised": True, "msg": str(e)}
res["nnp"] = sg._guard.get_no_new_privs()
res["read_out"] = attempt(open, P["out"] + "/f.txt")
res["decisions"] = [x["decision"] for x in audit.records() if x["layer"] == "landlock"]
done(**res)
